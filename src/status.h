/* SPDX-License-Identifier: MIT */
/* Errors and overflow-checked sizes: the leaf every other file of the library may call. */
#ifndef CLMSD_STATUS_H
#define CLMSD_STATUS_H

#include "clmsd.h"

#include <stdbool.h>

/* status.c: sets the message of ctx (NULL: of the calling thread) and returns status */
clmsd_status clmsd__fail(clmsd_context *ctx, clmsd_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
clmsd_status clmsd__fail_cl(clmsd_context *ctx, cl_int err, const char *what);
void clmsd__clear_error(clmsd_context *ctx);
const char *clmsd__cl_error_name(cl_int err);
const char *clmsd__clblast_status_name(int status);

/* The one way an error travels up (zstd's FORWARD_IF_ERROR): a failed call's status is returned as
 * it is, its message already set. CLMSD__TRY_CL turns a failed OpenCL call into its status and a
 * message naming `what`. Where something must be released on the way out, CLMSD__TRY_GOTO keeps
 * the status in `st` and jumps to the cleanup label instead. */
#define CLMSD__TRY(expr)                   \
    do {                                   \
        clmsd_status clmsd__try_ = (expr); \
        if (clmsd__try_ != CLMSD_SUCCESS)  \
            return clmsd__try_;            \
    } while (0)
#define CLMSD__TRY_CL(ctx, expr, what)                         \
    do {                                                       \
        cl_int clmsd__err_ = (expr);                           \
        if (clmsd__err_ != CL_SUCCESS)                         \
            return clmsd__fail_cl((ctx), clmsd__err_, (what)); \
    } while (0)
#define CLMSD__TRY_GOTO(st, expr, label)      \
    do {                                      \
        if (((st) = (expr)) != CLMSD_SUCCESS) \
            goto label;                       \
    } while (0)

/* Thread-local message for failures without a context. */
extern _Thread_local char clmsd__thread_error[1024];

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool clmsd__mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool clmsd__add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

#endif
