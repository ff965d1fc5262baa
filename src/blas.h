/* SPDX-License-Identifier: MIT */
/* CLBlast as clmsd calls it (blas.c): serialised, its status named in the context's message, and
 * its cached programs released with the context. */
#ifndef CLMSD_BLAS_H
#define CLMSD_BLAS_H

#include "context.h"

#include <clblast_c.h>

typedef struct clmsd__gemm_operand {
    cl_mem buf;
    size_t off, ld;
    CLBlastTranspose trans;
} clmsd__gemm_operand;

/* C = A B + beta C, row-major, [m, k] x [k, n], on the context's queue. */
clmsd_status clmsd__sgemm(clmsd_context *ctx, const char *what, size_t m, size_t n, size_t k, clmsd__gemm_operand a,
                          clmsd__gemm_operand b, float beta, clmsd__gemm_operand c);
/* Drops CLBlast's cached programs, so that nothing of the context outlives clmsd_context_destroy. */
void clmsd__blas_release(clmsd_context *ctx);

#endif
