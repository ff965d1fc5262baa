/* SPDX-License-Identifier: MIT */
/* The optimizers' update of one element, written once for the kernels (cl/optim.cl) and the host
 * reference (src/ref/optim.c), so that both take the same fp32 operations in the same order: a
 * parameter's new value depends on its own old value, gradient and state only, and the per-step
 * scalars are rounded to float once, on the host (clmsd_optim_scalars_of). Compiled as OpenCL C
 * (embedded after clmsd_math.h) and as C11, without floating-point contraction. */
#ifndef CLMSD_OPTIM_H
#define CLMSD_OPTIM_H

#ifndef __OPENCL_VERSION__ /* (embedded, it follows them) */
#include "clmsd_constants.h"
#include "clmsd_math.h"
#endif

/* torch.nn.utils.clip_grad_norm_'s factor: min(1, max_norm / (norm + 1e-6)). A NaN norm leaves
 * the gradients as they are (they already hold the NaN). */
CLMSD_FN float clmsd_clip_factor(float sum_squares, float max_norm)
{
    float c = max_norm * clmsd_recip(clmsd_sqrt(sum_squares) + 1e-6f);
    return c < 1.0f ? c : 1.0f;
}

/* AdamW (torch.optim.AdamW, amsgrad off) on one element, t the step being taken (1, 2, ...):
 *   p = p - lr wd p                                     (decoupled weight decay: decay = lr wd)
 *   m = m + (1 - b1) (g - m)                            (torch's lerp)
 *   v = b2 v + (1 - b2) g g
 *   p = p - step_size m / (sqrt(v) inv_sqrt_bc2 + eps)  (step_size = lr / (1 - b1^t),
 *                                                        inv_sqrt_bc2 = 1 / sqrt(1 - b2^t))
 * as fma(-decay, p, p); fma(1 - b1, g - m, m); fma((1 - b2) g, g, b2 v); the denominator
 * fma(clmsd_sqrt(v), inv_sqrt_bc2, eps); and fma(-step_size, m clmsd_recip(denominator), p). */
CLMSD_FN float clmsd_adamw(float p, float g, float *m, float *v, float one_minus_b1, float b2, float one_minus_b2,
                           float decay, float step_size, float inv_sqrt_bc2, float eps)
{
    p = CLMSD_FMA(-decay, p, p);
    *m = CLMSD_FMA(one_minus_b1, g - *m, *m);
    *v = CLMSD_FMA(one_minus_b2 * g, g, b2 * *v);
    float denominator = CLMSD_FMA(clmsd_sqrt(*v), inv_sqrt_bc2, eps);
    return CLMSD_FMA(-step_size, *m * clmsd_recip(denominator), p);
}

/* SGD (torch.optim.SGD, dampening 0) on one element:
 *   g = g + wd p                                 fma(wd, p, g)
 *   with momentum: b = g on the first step, else momentum b + g      fma(momentum, b, g)
 *                  d = g + momentum b (Nesterov) fma(momentum, b, g), else d = b
 *   p = p - lr d                                 fma(-lr, d, p) */
CLMSD_FN float clmsd_sgd(float p, float g, float *b, float momentum, int first, int nesterov, float weight_decay,
                         float lr)
{
    g = CLMSD_FMA(weight_decay, p, g);
    if (momentum != 0.0f) {
        *b = first ? g : CLMSD_FMA(momentum, *b, g);
        g = nesterov ? CLMSD_FMA(momentum, *b, g) : *b;
    }
    return CLMSD_FMA(-lr, g, p);
}

#endif
