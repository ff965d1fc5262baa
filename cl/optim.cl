/* SPDX-License-Identifier: MIT */
/* The optimizers (src/optim.c) over a head's parameters: W's C*H elements, then b's C, then the
 * pooled head's L layer weights, as one index space of the present tensors (n_w, n_b, n_l). An
 * element's state (the moments) sits at its slot: W's at 0, b's at slot_b, the layer weights' at
 * slot_l, fixed when the optimizer is made, whichever tensors a step passes. One work-item per
 * element; the update is clmsd_optim.h's, bit for bit the host reference's. */
#pragma OPENCL FP_CONTRACT OFF

#define CLMSD_OPTIM_TENSORS                                                                                            \
    __global float *w, ulong w_off, __global const float *dw, ulong dw_off, ulong n_w, __global float *b, ulong b_off, \
        __global const float *db, ulong db_off, ulong n_b, __global float *l, ulong l_off, __global const float *dl,   \
        ulong dl_off, ulong n_l, ulong slot_b, ulong slot_l

/* element i of the present tensors: its tensor (0 W, 1 b, 2 layer weights) and index j there */
CLMSD_INLINE uint clmsd_optim_tensor(ulong i, ulong n_w, ulong n_b, ulong *j)
{
    *j = i < n_w ? i : i < n_w + n_b ? i - n_w : i - n_w - n_b;
    return i < n_w ? 0u : i < n_w + n_b ? 1u : 2u;
}

#define CLMSD_OPTIM_GRAD(t, j) ((t) == 0 ? dw[dw_off + (j)] : (t) == 1 ? db[db_off + (j)] : dl[dl_off + (j)])
#define CLMSD_OPTIM_PARAM(t, j) ((t) == 0 ? w + w_off + (j) : (t) == 1 ? b + b_off + (j) : l + l_off + (j))
#define CLMSD_OPTIM_SLOT(t, j) (((t) == 0 ? 0 : (t) == 1 ? slot_b : slot_l) + (j))

/* partial p of the gradients' sum of squares (clmsd_optim.h), into part[part_off + p] */
__kernel void clmsd_optim_sum_squares(CLMSD_OPTIM_TENSORS, __global float *part, ulong part_off, ulong parts)
{
    ulong p = get_global_id(0), n = n_w + n_b + n_l;
    if (p >= parts)
        return;
    float s = 0.0f;
    for (ulong i = p; i < n; i += parts) {
        ulong j;
        uint t = clmsd_optim_tensor(i, n_w, n_b, &j);
        float g = CLMSD_OPTIM_GRAD(t, j);
        s = fma(g, g, s);
    }
    part[part_off + p] = s;
}

/* the gradient of element (t, j), scaled by the clipping factor when clip is set */
#define CLMSD_OPTIM_CLIPPED_GRAD(t, j)                                 \
    float g = CLMSD_OPTIM_GRAD(t, j);                                  \
    if (clip) {                                                        \
        float c = clmsd_clip_factor(state[sum_squares_off], max_norm); \
        if (c < 1.0f)                                                  \
            g = g * c;                                                 \
    }

__kernel void clmsd_optim_adamw(CLMSD_OPTIM_TENSORS, __global float *state, ulong m_off, ulong v_off,
                                ulong sum_squares_off, uint clip, float max_norm, float one_minus_b1, float b2,
                                float one_minus_b2, float decay, float step_size, float inv_sqrt_bc2, float eps)
{
    ulong i = get_global_id(0), j;
    if (i >= n_w + n_b + n_l)
        return;
    uint t = clmsd_optim_tensor(i, n_w, n_b, &j);
    CLMSD_OPTIM_CLIPPED_GRAD(t, j)
    __global float *p = CLMSD_OPTIM_PARAM(t, j);
    ulong slot = CLMSD_OPTIM_SLOT(t, j);
    float m = state[m_off + slot], v = state[v_off + slot];
    *p = clmsd_adamw(*p, g, &m, &v, one_minus_b1, b2, one_minus_b2, decay, step_size, inv_sqrt_bc2, eps);
    state[m_off + slot] = m;
    state[v_off + slot] = v;
}

__kernel void clmsd_optim_sgd(CLMSD_OPTIM_TENSORS, __global float *state, ulong buf_off, ulong sum_squares_off,
                              uint clip, float max_norm, float momentum, uint first, uint nesterov, float weight_decay,
                              float lr)
{
    ulong i = get_global_id(0), j;
    if (i >= n_w + n_b + n_l)
        return;
    uint t = clmsd_optim_tensor(i, n_w, n_b, &j);
    CLMSD_OPTIM_CLIPPED_GRAD(t, j)
    __global float *p = CLMSD_OPTIM_PARAM(t, j);
    ulong slot = CLMSD_OPTIM_SLOT(t, j);
    float buf = momentum != 0.0f ? state[buf_off + slot] : 0.0f;
    *p = clmsd_sgd(*p, g, &buf, momentum, first != 0, nesterov != 0, weight_decay, lr);
    if (momentum != 0.0f)
        state[buf_off + slot] = buf;
}
