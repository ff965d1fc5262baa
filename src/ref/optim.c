/* SPDX-License-Identifier: MIT */
/* The optimizer's host reference: cl/clmsd_optim.h's update over the same elements in the same
 * order as the kernels, the norm's sum of squares by the same partials and tree. */
#include "clmsd_ref.h"

#include "../../cl/clmsd_optim.h"
#include "../../cl/clmsd_tree.h"
#include "../optim_desc.h"

#include <stdlib.h>

/* the gradient of element i of the present tensors, in W, b, layer-weight order */
static float grad_at(const float *const grads[3], const size_t counts[3], size_t i)
{
    for (int t = 0; t < 3; ++t) {
        size_t n = grads[t] ? counts[t] : 0;
        if (i < n)
            return grads[t][i];
        i -= n;
    }
    return 0.0f;
}

static clmsd_status sum_squares(const float *const grads[3], const size_t counts[3], float *out)
{
    size_t n = 0;
    for (int t = 0; t < 3; ++t)
        n += grads[t] ? counts[t] : 0;
    size_t parts = n < CLMSD_OPTIM_PARTS ? n : CLMSD_OPTIM_PARTS;
    *out = 0.0f;
    if (parts == 0)
        return CLMSD_SUCCESS;
    float *part = calloc(parts, sizeof *part);
    if (!part)
        return clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "the norm's partial sums");
    for (size_t p = 0; p < parts; ++p)
        for (size_t i = p; i < n; i += parts) {
            float g = grad_at(grads, counts, i);
            part[p] = CLMSD_FMA(g, g, part[p]);
        }
    *out = clmsd_tree_sum(part, 1, 0, parts);
    free(part);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_ref_optim_step(const clmsd_optim_desc *desc, uint64_t steps, double lr, float *const params[3],
                                  const float *const grads[3], const size_t counts[3], float *moments)
{
    CLMSD__TRY(clmsd__check_optim_desc(NULL, desc));
    CLMSD__TRY(clmsd__check_learning_rate(NULL, lr));
    if (!params || !grads || !counts || !params[0] || !grads[0])
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "params, grads, counts and W's are required");
    size_t n = counts[0] + counts[1] + counts[2], moments_per = clmsd__optim_moments(desc);
    if (moments_per && !moments)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "moments is NULL");
    clmsd__optim_scalars s = clmsd__optim_scalars_of(desc, steps, lr);
    float factor = 1.0f;
    if (s.max_norm > 0.0f) {
        float sum;
        CLMSD__TRY(sum_squares(grads, counts, &sum));
        factor = clmsd_clip_factor(sum, s.max_norm);
    }
    size_t slot = 0;
    for (int t = 0; t < 3; slot += counts[t], ++t) {
        if (!grads[t])
            continue;
        for (size_t j = 0; j < counts[t]; ++j) {
            float g = grads[t][j], *p = &params[t][j];
            if (factor < 1.0f)
                g = g * factor;
            if (desc->kind == CLMSD_OPTIM_ADAMW) {
                float *m = &moments[slot + j], *v = &moments[n + slot + j];
                *p = clmsd_adamw(*p, g, m, v, s.one_minus_b1, s.b2, s.one_minus_b2, s.decay, s.step_size,
                                 s.inv_sqrt_bc2, s.eps);
            } else {
                float unused = 0.0f, *b = moments_per ? &moments[slot + j] : &unused;
                *p = clmsd_sgd(*p, g, b, s.momentum, s.first, desc->nesterov != 0, s.weight_decay, s.lr);
            }
        }
    }
    return CLMSD_SUCCESS;
}
