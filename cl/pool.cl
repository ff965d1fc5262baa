/* SPDX-License-Identifier: MIT */
/* The layer-pooled head's kernels (docs/api.md, the orders in docs/canonical-order.md): softmax
 * layer weights a, the pooled rows P = sum_l a_l dropout_l(X_l), and backward dX_l and the
 * weights' gradient. Layer l's dropout is stream sample CLMSD_LAYER_SAMPLE + l of [B, H] from
 * global row row_offset: the same bits as the stream everywhere else. The head between them is
 * either engine, run on P. */
#pragma OPENCL FP_CONTRACT OFF

/* The pooled kernels walk the stream's Philox blocks: work-item q holds block q0 + q, the elements
 * e = 4 (q0 + q) + j (j = 0 .. 3) that lie in the call's [row_offset H, (row_offset + B) H), one
 * block per layer for all four. clmsd_layer_block gives element j's local index (b H + h), or -1. */
CLMSD_INLINE long clmsd_layer_element(ulong q, uint j, ulong batch, ulong features, ulong row_offset)
{
    ulong begin = row_offset * features, e = 4 * (begin / 4 + q) + j;
    return e >= begin && e < begin + batch * features ? (long)(e - begin) : -1;
}

/* The block's words for layers l0 .. l0 + 7 at once (clmsd_stream_block8: Philox on vector lanes,
 * eight times the rate of one block at a time on a CPU): lane i of w[j] is element j's word of
 * layer l0 + i. */
CLMSD_INLINE clmsd_philox8 clmsd_layer_words8(ulong seed, ulong step, uint l0, ulong q, ulong features,
                                              ulong row_offset, uint stream)
{
    uint8 k = (uint8)(CLMSD_LAYER_SAMPLE + l0) + (uint8)(0, 1, 2, 3, 4, 5, 6, 7);
    ulong gq = row_offset * features / 4 + q; /* the global group of 4 elements; u8: a quarter block */
    return clmsd_stream_block8(seed, step, k,
                               (uint8)(CLMSD_IS_U8(stream) ? CLMSD_U8_BLOCK_TAG | (uint)(gq >> 2) : (uint)gq));
}

/* word j of element lane i: u.w[j] lane i, by constant selects (an index would put u in slow
 * memory on a GPU) */
CLMSD_INLINE uint clmsd_layer_word(clmsd_philox8 u, uint j, uint i);

/* lane i of v, by constant selects (an index would put v in slow memory on a GPU) */
CLMSD_INLINE uint clmsd_lane8(uint8 v, uint i)
{
    return i == 0   ? v.s0
           : i == 1 ? v.s1
           : i == 2 ? v.s2
           : i == 3 ? v.s3
           : i == 4 ? v.s4
           : i == 5 ? v.s5
           : i == 6 ? v.s6
                    : v.s7;
}

CLMSD_INLINE uint clmsd_layer_word(clmsd_philox8 u, uint j, uint i)
{
    /* lanes first, then a select of scalars: Oclgrind takes a chain of selects of vectors by a
     * run-time j as its last arm */
    uint w0 = clmsd_lane8(u.w[0], i), w1 = clmsd_lane8(u.w[1], i), w2 = clmsd_lane8(u.w[2], i),
         w3 = clmsd_lane8(u.w[3], i);
    return j == 0 ? w0 : j == 1 ? w1 : j == 2 ? w2 : w3;
}

/* layer l's element i (local b H + h) of x at its strides */
CLMSD_INLINE ulong clmsd_layer_at(ulong i, uint l, ulong features, ulong layer_stride, ulong row_stride)
{
    ulong b = i / features;
    return l * layer_stride + b * row_stride + (i - b * features);
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

/* The keep bits of layer l0 + n for the four elements of global group gq, from the eight layers'
 * words (clmsd_layer_words8: the CPU kernels) */
CLMSD_INLINE uint4 clmsd_layer_keep4(clmsd_philox8 w8, uint n, ulong gq, uint threshold, uint stream)
{
    uint4 v;
    if (CLMSD_IS_U8(stream)) { /* the bytes of word gq % 4 of the u8 block */
        uint w = clmsd_layer_word(w8, (uint)(gq & 3), n);
        v = (uint4)(w, w >> 8, w >> 16, w >> 24) & (uint4)0xFFu;
    } else {
        v = (uint4)(clmsd_layer_word(w8, 0, n), clmsd_layer_word(w8, 1, n), clmsd_layer_word(w8, 2, n),
                    clmsd_layer_word(w8, 3, n));
    }
    return select((uint4)0, (uint4)1, v >= (uint4)threshold);
}

CLMSD_INLINE uint clmsd_select4(uint4 v, uint j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

/* P[i] = from -0.0f, l ascending: keep_l ? fma(a_l, x_l[i] * scale, acc) : acc; without dropout
 * (predict) fma(a_l, x_l[i], acc). The CPU tiling: one work-item per Philox block, eight layers'
 * blocks at once on vector lanes. */
__kernel void clmsd_layer_pool(__global const float *x, ulong x_off, uint x_type, ulong layer_stride, ulong row_stride,
                               __global const float *a, ulong a_off, __global float *p, ulong p_off, ulong batch,
                               ulong features, uint layers, int masked, uint threshold, float scale, ulong row_offset,
                               ulong seed, ulong step, ulong blocks, uint stream)
{
    ulong q = get_global_id(0);
    if (q >= blocks)
        return;
    long i[4];
    float acc[4] = {-0.0f, -0.0f, -0.0f, -0.0f};
    for (uint j = 0; j < 4; ++j)
        i[j] = clmsd_layer_element(q, j, batch, features, row_offset);
    for (uint l0 = 0; l0 < layers; l0 += 8) {
        clmsd_philox8 w8 = {{(uint8)(0), (uint8)(0), (uint8)(0), (uint8)(0)}};
        if (masked)
            w8 = clmsd_layer_words8(seed, step, l0, q, features, row_offset, stream);
        for (uint n = 0; n < 8 && l0 + n < layers; ++n) {
            uint l = l0 + n;
            uint4 keep =
                masked ? clmsd_layer_keep4(w8, n, row_offset * features / 4 + q, threshold, stream) : (uint4)(1);
            float al = a[a_off + l];
            for (uint j = 0; j < 4; ++j) {
                if (i[j] < 0 || !clmsd_select4(keep, j))
                    continue;
                float v =
                    clmsd_load_x(x, x_off + clmsd_layer_at((ulong)i[j], l, features, layer_stride, row_stride), x_type);
                acc[j] = fma(al, masked ? v * scale : v, acc[j]);
            }
        }
    }
    for (uint j = 0; j < 4; ++j)
        if (i[j] >= 0)
            p[p_off + (ulong)i[j]] = acc[j];
}

/* The GPU tiling's P, the same chains: a work-group of CLMSD_POOL_LANES work-items per Philox
 * block (its 4 elements; the u8 stream's 16, one Philox call for them all). Lane n draws layer
 * l0 + n's block and loads its elements (the layers' loads and Philox spread over B H L / 4
 * work-items, not B H / 4), leaving keep_l ? x_l[i] * scale : - in local memory; then element j's
 * lane continues j's chain over those layers, l ascending. `blocks` is the CPU kernel's: the
 * group's elements outside the call are skipped one by one. */
__attribute__((reqd_work_group_size(CLMSD_POOL_LANES, 1, 1))) __kernel void clmsd_layer_pool_gpu(
    __global const float *x, ulong x_off, uint x_type, ulong layer_stride, ulong row_stride, __global const float *a,
    ulong a_off, __global float *p, ulong p_off, ulong batch, ulong features, uint layers, int masked, uint threshold,
    float scale, ulong row_offset, ulong seed, ulong step, ulong blocks, uint stream)
{
    /* element j of lane n at j (LANES + 1) + n: the chain's lanes read a column without bank
     * conflicts; bit j of kept[n]: lane n's layer keeps element j and j lies in the call */
    __local float term[16 * (CLMSD_POOL_LANES + 1)];
    __local uint kept[CLMSD_POOL_LANES];
    uint n = (uint)get_local_id(0), per = CLMSD_IS_U8(stream) ? 16 : 4;
    ulong begin = row_offset * features, end = begin + batch * features;
    ulong first = (begin / per + get_group_id(0)) * per; /* the group's first element */
    bool chain = n < per && first + n >= begin && first + n < end;
    float acc = -0.0f;
    for (uint l0 = 0; l0 < layers; l0 += CLMSD_POOL_LANES) {
        uint l = l0 + n;
        if (l < layers) {
            uint4 v = masked ? clmsd_block_words(seed, step, CLMSD_LAYER_SAMPLE + l, first / per, stream) : (uint4)0;
            uint bits = 0;
            for (uint j = 0; j < per; ++j) {
                ulong e = first + j;
                uint value = clmsd_block_value(v, j, stream);
                if (e < begin || e >= end || (masked && value < threshold))
                    continue;
                float xv =
                    clmsd_load_x(x, x_off + clmsd_layer_at(e - begin, l, features, layer_stride, row_stride), x_type);
                term[j * (CLMSD_POOL_LANES + 1) + n] = masked ? xv * scale : xv;
                bits |= 1u << j;
            }
            kept[n] = bits;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint m = 0; chain && m < CLMSD_POOL_LANES && l0 + m < layers; ++m)
            if (kept[m] >> n & 1u)
                acc = fma(a[a_off + l0 + m], term[n * (CLMSD_POOL_LANES + 1) + m], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (chain)
        p[p_off + (first + n - begin)] = acc;
}

/* dX_l[i] = keep_l ? (dP[i] * a_l) * scale : 0.0f (accumulate: dx + that, a dropped element left
 * as it is); and dA_l's part of this block, part[q L + l] = from -0.0f, the block's elements
 * ascending: keep_l ? fma(dP[i], x_l[i] * scale, acc) : acc (when part is given). The CPU tiling:
 * one work-item per Philox block walks every layer, eight layers' blocks at once. */
#define CLMSD_LAYER_UNPOOL_ARGS                                                                                      \
    __global const float *dp, ulong dp_off, __global const float *a, ulong a_off, __global const float *x,           \
        ulong x_off, uint x_type, ulong x_layer_stride, ulong x_row_stride, __global float *dx, ulong dx_off,        \
        uint dx_type, ulong dx_layer_stride, ulong dx_row_stride, __global float *part, ulong part_off, ulong batch, \
        ulong features, uint layers, uint threshold, float scale, ulong row_offset, ulong seed, ulong step,          \
        ulong blocks, uint stream, int accumulate
__kernel void clmsd_layer_unpool(CLMSD_LAYER_UNPOOL_ARGS)
{
    ulong q = get_global_id(0);
    if (q >= blocks)
        return;
    long i[4];
    float g[4];
    for (uint j = 0; j < 4; ++j) {
        i[j] = clmsd_layer_element(q, j, batch, features, row_offset);
        g[j] = i[j] >= 0 ? dp[dp_off + (ulong)i[j]] : 0.0f;
    }
    for (uint l0 = 0; l0 < layers; l0 += 8) {
        clmsd_philox8 w8 = clmsd_layer_words8(seed, step, l0, q, features, row_offset, stream);
        for (uint n = 0; n < 8 && l0 + n < layers; ++n) {
            uint l = l0 + n;
            uint4 keep = clmsd_layer_keep4(w8, n, row_offset * features / 4 + q, threshold, stream);
            float al = a[a_off + l], acc = -0.0f;
            for (uint j = 0; j < 4; ++j) {
                if (i[j] < 0)
                    continue;
                bool kept = clmsd_select4(keep, j);
                if (dx && (kept || !accumulate))
                    clmsd_store_x(dx, dx_off + clmsd_layer_at((ulong)i[j], l, features, dx_layer_stride, dx_row_stride),
                                  dx_type, kept ? (g[j] * al) * scale : 0.0f, accumulate);
                if (part && kept)
                    acc = fma(
                        g[j],
                        clmsd_load_x(x, x_off + clmsd_layer_at((ulong)i[j], l, features, x_layer_stride, x_row_stride),
                                     x_type) *
                            scale,
                        acc);
            }
            if (part)
                part[part_off + q * layers + l] = acc;
        }
    }
}

/* The GPU tiling's dX_l and dA_l parts, the same sums: a work-item per Philox block and layer (the
 * NDRange's second dimension), the block v1's 4 elements or the u8 stream's 16 from one Philox
 * call, whose groups of 4 each end their own dA part (parts are per 4 elements on both streams).
 * `blocks` is the CPU kernel's; the launch covers the stream's blocks of the call. */
__kernel void clmsd_layer_unpool_gpu(CLMSD_LAYER_UNPOOL_ARGS)
{
    uint per = CLMSD_IS_U8(stream) ? 16 : 4, l = (uint)get_global_id(1);
    ulong begin = row_offset * features, end = begin + batch * features;
    ulong first = (begin / per + get_global_id(0)) * per; /* the block's first element */
    if (first >= end || l >= layers)
        return;
    uint4 v = clmsd_block_words(seed, step, CLMSD_LAYER_SAMPLE + l, first / per, stream);
    float al = a[a_off + l], acc = -0.0f;
    for (uint j = 0; j < per; ++j) {
        ulong e = first + j;
        if (e >= begin && e < end) {
            ulong i = e - begin;
            uint value = clmsd_block_value(v, j, stream);
            bool kept = value >= threshold;
            float g = dp[dp_off + i];
            if (dx && (kept || !accumulate))
                clmsd_store_x(dx, dx_off + clmsd_layer_at(i, l, features, dx_layer_stride, dx_row_stride), dx_type,
                              kept ? (g * al) * scale : 0.0f, accumulate);
            if (part && kept)
                acc =
                    fma(g,
                        clmsd_load_x(x, x_off + clmsd_layer_at(i, l, features, x_layer_stride, x_row_stride), x_type) *
                            scale,
                        acc);
        }
        if ((j & 3) == 3) { /* a group of 4 ends: its part, when the group lies in the call */
            ulong g4 = e >> 2;
            if (part && g4 >= begin / 4 && g4 <= (end - 1) / 4)
                part[part_off + (g4 - begin / 4) * layers + l] = acc;
            acc = -0.0f;
        }
    }
}

/* dA_l = from -0.0f, blocks q ascending: acc + part[q L + l]. A work-item per layer: the layers'
 * chains side by side (one work-item walking all L of them was the pooled step's longest
 * chain on a GPU: L times the blocks' adds in a row). */
__kernel void clmsd_layer_part_sum(__global const float *part, ulong part_off, ulong blocks, uint layers,
                                   __global float *da, ulong da_off)
{
    uint l = (uint)get_global_id(0);
    if (l >= layers)
        return;
    float acc = -0.0f;
    for (ulong q = 0; q < blocks; ++q)
        acc = acc + part[part_off + q * layers + l];
    da[da_off + l] = acc;
}

/* dot = from -0.0f, l ascending, fma(a_l, dA_l, dot); dw_l = a_l * (dA_l - dot) (accumulate:
 * dw + that). One work-item. */
__kernel void clmsd_layer_weight_grad(__global const float *a, ulong a_off, __global const float *da, ulong da_off,
                                      uint layers, __global float *dw, ulong dw_off, int accumulate)
{
    if (get_global_id(0) != 0)
        return;
    float dot = -0.0f;
    for (uint l = 0; l < layers; ++l)
        dot = fma(a[a_off + l], da[da_off + l], dot);
    for (uint l = 0; l < layers; ++l) {
        float v = a[a_off + l] * (da[da_off + l] - dot);
        dw[dw_off + l] = accumulate ? dw[dw_off + l] + v : v;
    }
}
