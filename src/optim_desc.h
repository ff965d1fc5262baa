/* SPDX-License-Identifier: MIT */
/* The optimizer's descriptor and what follows from it alone (optim_desc.c): shared by the device
 * optimizer (optim.c) and its host reference (ref/optim.c), so that both take the same floats. */
#ifndef CLMSD_OPTIM_DESC_H
#define CLMSD_OPTIM_DESC_H

#include "../cl/clmsd_constants.h"
#include "status.h"

clmsd_status clmsd__check_optim_desc(clmsd_context *ctx, const clmsd_optim_desc *desc);
clmsd_status clmsd__check_learning_rate(clmsd_context *ctx, double lr);

/* The moments per parameter slot: AdamW 2 (m, v), SGD with momentum 1, plain SGD 0. */
size_t clmsd__optim_moments(const clmsd_optim_desc *desc);

/* The scalars of step number steps + 1, each rounded to float once from double. */
typedef struct clmsd__optim_scalars {
    float max_norm;                              /* clipping, when > 0 */
    float momentum, weight_decay, lr;            /* SGD */
    int first;                                   /* SGD: the first step (its buffer starts at g) */
    float one_minus_b1, b2, one_minus_b2, decay; /* AdamW: decay = lr wd */
    float step_size, inv_sqrt_bc2, eps;          /* AdamW: lr / (1 - b1^t), 1 / sqrt(1 - b2^t) */
} clmsd__optim_scalars;
clmsd__optim_scalars clmsd__optim_scalars_of(const clmsd_optim_desc *desc, uint64_t steps, double lr);

#endif
