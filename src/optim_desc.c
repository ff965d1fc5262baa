/* SPDX-License-Identifier: MIT */
#include "optim_desc.h"

#include <float.h>
#include <math.h>

static clmsd_status check_unit(clmsd_context *ctx, const char *name, double v)
{
    if (!(v >= 0.0 && v < 1.0) || (float)v >= 1.0f)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "desc.%s is %g: it must lie in [0, 1) as a float", name,
                           v);
    return CLMSD_SUCCESS;
}

static clmsd_status check_nonnegative(clmsd_context *ctx, const char *name, double v)
{
    if (!(v >= 0.0) || !isfinite((float)v))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "desc.%s is %g: it must be finite and >= 0", name, v);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_optim_desc(clmsd_context *ctx, const clmsd_optim_desc *d)
{
    if (!d)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "desc is NULL");
    if (d->kind != CLMSD_OPTIM_SGD && d->kind != CLMSD_OPTIM_ADAMW)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT,
                           "desc.kind is %d: CLMSD_OPTIM_SGD (1) or CLMSD_OPTIM_ADAMW (2)", (int)d->kind);
    CLMSD__TRY(check_nonnegative(ctx, "weight_decay", d->weight_decay));
    CLMSD__TRY(check_nonnegative(ctx, "max_grad_norm", d->max_grad_norm));
    if (d->kind == CLMSD_OPTIM_SGD) {
        CLMSD__TRY(check_unit(ctx, "momentum", d->momentum));
        if (d->nesterov && !((float)d->momentum > 0.0f))
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "desc.nesterov needs desc.momentum > 0 (it is %g)",
                               d->momentum);
        return CLMSD_SUCCESS;
    }
    CLMSD__TRY(check_unit(ctx, "beta1", d->beta1));
    CLMSD__TRY(check_unit(ctx, "beta2", d->beta2));
    /* 1 / (sqrt(v) / sqrt(1 - b2^t) + eps) stays within clmsd_recip's range (exponents -125..125) */
    if (!(d->eps >= 1e-30 && d->eps <= 1.0))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "desc.eps is %g: it must lie in [1e-30, 1]", d->eps);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_learning_rate(clmsd_context *ctx, double lr)
{
    if (!(lr >= 0.0) || !isfinite((float)lr))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "lr is %g: the learning rate must be finite and >= 0",
                           lr);
    return CLMSD_SUCCESS;
}

size_t clmsd__optim_moments(const clmsd_optim_desc *d)
{
    if (d->kind == CLMSD_OPTIM_ADAMW)
        return 2;
    return (float)d->momentum != 0.0f ? 1 : 0;
}

clmsd__optim_scalars clmsd__optim_scalars_of(const clmsd_optim_desc *d, uint64_t steps, double lr)
{
    double t = (double)steps + 1.0;
    double bc1 = 1.0 - pow(d->beta1, t), bc2 = 1.0 - pow(d->beta2, t);
    clmsd__optim_scalars s = {
        .max_norm = (float)d->max_grad_norm,
        .momentum = (float)d->momentum,
        .weight_decay = (float)d->weight_decay,
        .lr = (float)lr,
        .first = steps == 0,
        .one_minus_b1 = (float)(1.0 - d->beta1),
        .b2 = (float)d->beta2,
        .one_minus_b2 = (float)(1.0 - d->beta2),
        .decay = (float)(lr * d->weight_decay),
    };
    if (d->kind == CLMSD_OPTIM_ADAMW) {
        /* bc1 > 0 for beta1 < 1, though it may round to 0 in double for beta1 near 1 at t = 1:
         * then beta1 itself is 1 as a float, which the check refuses */
        s.step_size = (float)(lr / bc1);
        s.inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
        s.eps = (float)d->eps;
    }
    return s;
}
