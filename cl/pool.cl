/* SPDX-License-Identifier: MIT */
/* The layer-pooled head's kernels (docs/api.md, the orders in docs/canonical-order.md): softmax
 * layer weights a, the pooled rows P = sum_l a_l dropout_l(X_l), and backward dX_l and the
 * weights' gradient. Layer l's dropout is stream sample CLMSD_LAYER_SAMPLE + l of [B, H] from
 * global row row_offset: the same bits as the stream everywhere else. The head between them is
 * either engine, run on P. */
#pragma OPENCL FP_CONTRACT OFF

/* keep_l for element (b, h): the stream word of sample CLMSD_LAYER_SAMPLE + l, element e */
inline bool clmsd_layer_keep(ulong seed, ulong step, uint l, ulong row_offset, ulong b, ulong h, ulong features,
                             uint threshold)
{
    ulong e = (row_offset + b) * features + h;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, CLMSD_LAYER_SAMPLE + l, e >> 2);
    return clmsd_word4(u, (uint)(e & 3)) >= threshold; /* (selects: an index would put u in slow memory) */
}

/* a = softmax(w): m = fmax from -inf, l ascending; s = sum of clmsd_exp(w_l - m) from -0.0f,
 * l ascending; a_l = clmsd_exp(w_l - m) * clmsd_recip(s). One work-item. */
__kernel void clmsd_layer_softmax(__global const float *w, ulong w_off, uint layers, __global float *a, ulong a_off)
{
    if (get_global_id(0) != 0)
        return;
    float m = -INFINITY, s = -0.0f;
    for (uint l = 0; l < layers; ++l)
        m = fmax(m, w[w_off + l]);
    for (uint l = 0; l < layers; ++l) {
        float e = clmsd_exp(w[w_off + l] - m);
        a[a_off + l] = e;
        s = s + e;
    }
    float r = clmsd_recip(s);
    for (uint l = 0; l < layers; ++l)
        a[a_off + l] = a[a_off + l] * r;
}

/* P[b, h] = from -0.0f, l ascending: keep_l ? fma(a_l, x_l[b, h] * scale, acc) : acc; without
 * dropout (predict) fma(a_l, x_l[b, h], acc). One work-item per element. */
__kernel void clmsd_layer_pool(__global const float *x, ulong x_off, ulong layer_stride, ulong row_stride,
                               __global const float *a, ulong a_off, __global float *p, ulong p_off, ulong batch,
                               ulong features, uint layers, int masked, uint threshold, float scale, ulong row_offset,
                               ulong seed, ulong step)
{
    ulong i = get_global_id(0);
    if (i >= batch * features)
        return;
    ulong b = i / features, h = i - b * features;
    float acc = -0.0f;
    for (uint l = 0; l < layers; ++l) {
        float v = x[x_off + l * layer_stride + b * row_stride + h];
        if (!masked)
            acc = fma(a[a_off + l], v, acc);
        else if (clmsd_layer_keep(seed, step, l, row_offset, b, h, features, threshold))
            acc = fma(a[a_off + l], v * scale, acc);
    }
    p[p_off + i] = acc;
}

/* dX_l[b, h] = keep_l ? (dP[b, h] * a_l) * scale : 0.0f (accumulate: dx + that, a dropped
 * element left as it is). One work-item per element of [B, H], every layer. */
__kernel void clmsd_layer_unpool(__global const float *dp, ulong dp_off, __global const float *a, ulong a_off,
                                 __global float *dx, ulong dx_off, ulong layer_stride, ulong row_stride, ulong batch,
                                 ulong features, uint layers, uint threshold, float scale, ulong row_offset, ulong seed,
                                 ulong step, int accumulate)
{
    ulong i = get_global_id(0);
    if (i >= batch * features)
        return;
    ulong b = i / features, h = i - b * features;
    float g = dp[dp_off + i];
    for (uint l = 0; l < layers; ++l) {
        __global float *out = dx + dx_off + l * layer_stride + b * row_stride + h;
        bool keep = clmsd_layer_keep(seed, step, l, row_offset, b, h, features, threshold);
        float v = keep ? (g * a[a_off + l]) * scale : 0.0f;
        if (!accumulate)
            *out = v;
        else if (keep)
            *out = *out + v;
    }
}

/* dA_l's columns: col[l H + h] = the tree over the call's row blocks of the block chains of
 * keep_l ? fma(dP[b, h], x_l[b, h] * scale, acc) : acc, rows b ascending, from -0.0f. The block
 * sums go to part[s * L H + l H + h]. One work-item per (l, h). */
__kernel void clmsd_layer_grad_columns(__global const float *dp, ulong dp_off, __global const float *x, ulong x_off,
                                       ulong layer_stride, ulong row_stride, __global float *part, ulong part_off,
                                       __global float *col, ulong col_off, ulong batch, ulong features, uint layers,
                                       uint threshold, float scale, ulong row_offset, ulong seed, ulong step)
{
    ulong i = get_global_id(0), lh = (ulong)layers * features;
    if (i >= lh)
        return;
    uint l = (uint)(i / features);
    ulong h = i - (ulong)l * features, blocks = clmsd_block_count(row_offset, batch);
    for (ulong s = 0; s < blocks; ++s) {
        ulong lo, hi;
        clmsd_block_rows(row_offset, batch, s, &lo, &hi);
        float acc = -0.0f;
        for (ulong b = lo; b < hi; ++b)
            if (clmsd_layer_keep(seed, step, l, row_offset, b, h, features, threshold))
                acc = fma(dp[dp_off + b * features + h], x[x_off + l * layer_stride + b * row_stride + h] * scale, acc);
        part[part_off + s * lh + i] = acc;
    }
    col[col_off + i] = clmsd_tree_sum(part + part_off + i, lh, clmsd_first_block(row_offset), blocks);
}

/* dA_l = the columns summed h ascending from -0.0f; dot = from -0.0f, l ascending, fma(a_l, dA_l,
 * dot); dw_l = a_l * (dA_l - dot) (accumulate: dw + that). One work-item. */
__kernel void clmsd_layer_weight_grad(__global const float *col, ulong col_off, __global const float *a, ulong a_off,
                                      __global float *da, ulong da_off, ulong features, uint layers, __global float *dw,
                                      ulong dw_off, int accumulate)
{
    if (get_global_id(0) != 0)
        return;
    float dot = -0.0f;
    for (uint l = 0; l < layers; ++l) {
        float acc = -0.0f;
        for (ulong h = 0; h < features; ++h)
            acc = acc + col[col_off + (ulong)l * features + h];
        da[da_off + l] = acc;
        dot = fma(a[a_off + l], acc, dot);
    }
    for (uint l = 0; l < layers; ++l) {
        float v = a[a_off + l] * (da[da_off + l] - dot);
        dw[dw_off + l] = accumulate ? dw[dw_off + l] + v : v;
    }
}
