/* SPDX-License-Identifier: MIT */
/* K-sample dropout on either stream. One work-item per 8 consecutive Philox blocks of the stream
 * (v1: 32 elements, u8: 128; one vectorised Philox call per sample); dimension 1 is the sample k
 * where samples are independent. params holds K integer thresholds followed by K scales (float
 * bits), both computed on the host. The work-items' blocks are first_block .. first_block +
 * blocks - 1 of the stream. This is the CPU tiling; cl/dropout_gpu.cl gives one 4-element group
 * to a work-item. */
#pragma OPENCL FP_CONTRACT OFF

/* log2 of a stream block's elements */
CLMSD_INLINE uint clmsd_block_shift(int u8) { return u8 ? 4 : 2; }

/* element e's value from the words of blocks q .. q+7: v1 word e % 4 of block e / 4; u8 byte
 * e % 4 of word e / 4 % 4 of block e / 16 */
CLMSD_INLINE uint clmsd_value(const uint *words, ulong q, ulong e, int u8)
{
    if (u8)
        return (words[((e >> 2) & 3) * 8 + (e >> 4) - q] >> (8 * (e & 3))) & 0xFFu;
    return words[(e & 3) * 8 + (e >> 2) - q];
}

/* y_k = keep ? x * s_k : 0 (x of x_type, y float) */
__kernel void clmsd_dropout_forward(__global const float *x, ulong x_off, ulong ldx, uint x_type, __global float *y,
                                    ulong y_off, ulong ldy, __global const uint *params, uint samples, ulong rows,
                                    ulong cols, ulong row_offset, ulong seed, ulong step, ulong first_block,
                                    ulong blocks, int u8)
{
    ulong i = get_global_id(0) * 8;
    uint k = (uint)get_global_id(1), shift = clmsd_block_shift(u8);
    if (i >= blocks)
        return;
    ulong q = first_block + i;
    uint words[32];
    clmsd_words32(seed, step, k, q, u8, words);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = y + y_off + (ulong)k * rows * ldy;
    for (clmsd_walk w = clmsd_walk_start(q << shift, 8ul << shift, rows, cols, row_offset); w.e < w.stop;
         clmsd_walk_next(&w, cols)) {
        float v = clmsd_load_x(x, x_off + w.r * ldx + w.c, x_type);
        yk[w.r * ldy + w.c] = clmsd_value(words, q, w.e, u8) >= threshold ? v * scale : 0.0f;
    }
}

/* mask_k = keep, dense uint8 [K, rows, cols] */
__kernel void clmsd_dropout_mask(__global uchar *mask, ulong mask_off, __global const uint *params, uint samples,
                                 ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step, ulong first_block,
                                 ulong blocks, int u8)
{
    ulong i = get_global_id(0) * 8;
    uint k = (uint)get_global_id(1), shift = clmsd_block_shift(u8);
    if (i >= blocks)
        return;
    ulong q = first_block + i;
    uint words[32];
    clmsd_words32(seed, step, k, q, u8, words);
    uint threshold = params[k];
    __global uchar *mk = mask + mask_off + (ulong)k * rows * cols;
    for (clmsd_walk w = clmsd_walk_start(q << shift, 8ul << shift, rows, cols, row_offset); w.e < w.stop;
         clmsd_walk_next(&w, cols))
        mk[w.r * cols + w.c] = clmsd_value(words, q, w.e, u8) >= threshold ? 1 : 0;
}

/* dx (+)= [scale *] sum_k keep_k s_k dy_k, in canonical order v2: from -0.0f, k = 0, 1, ..., K-1,
 * acc = keep_k ? fma(dy_k, s_k, acc) : acc; dx stored as dx_type (accumulate: dx + that, in fp32,
 * rounded once). dy_k is at dy_off + k * dy_kstride: rows * ldy for dropout backward, 0 to
 * broadcast one matrix to every sample (the head's averaged mask, on X of dy_type). */
__kernel void clmsd_dropout_sum(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, uint dy_type,
                                __global float *dx, ulong dx_off, ulong ldx, uint dx_type, __global const uint *params,
                                uint samples, ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step,
                                ulong first_block, ulong blocks, int u8, float scale, int apply_scale, int accumulate)
{
    ulong i = get_global_id(0) * 8;
    uint shift = clmsd_block_shift(u8);
    if (i >= blocks)
        return;
    ulong q = first_block + i;
    const clmsd_walk start = clmsd_walk_start(q << shift, 8ul << shift, rows, cols, row_offset);
    float acc[128];
    for (int j = 0; j < (8 << shift); ++j)
        acc[j] = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        uint words[32];
        clmsd_words32(seed, step, k, q, u8, words);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        ulong dyk = dy_off + (ulong)k * dy_kstride;
        int j = 0;
        for (clmsd_walk w = start; w.e < w.stop; clmsd_walk_next(&w, cols), ++j) {
            if (clmsd_value(words, q, w.e, u8) >= threshold)
                acc[j] = fma(clmsd_load_x(dy, dyk + w.r * ldy + w.c, dy_type), s, acc[j]);
        }
    }
    int j = 0;
    for (clmsd_walk w = start; w.e < w.stop; clmsd_walk_next(&w, cols), ++j)
        clmsd_store_x(dx, dx_off + w.r * ldx + w.c, dx_type, apply_scale ? acc[j] * scale : acc[j], accumulate);
}

/* The raw stream words of blocks first_quad .. first_quad + quads - 1 of sample k (known answers,
 * the raw Philox rate in the benchmark): out[4*i + j] = word j of block first_quad + i. */
__kernel void clmsd_stream_words(__global uint *out, ulong out_off, ulong seed, ulong step, uint k, ulong first_quad,
                                 ulong quads)
{
    ulong i = get_global_id(0) * 8;
    if (i >= quads)
        return;
    clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, (uint8)((uint)(first_quad + i)) + CLMSD_LANES8);
    uint words[32];
    for (int j = 0; j < 4; ++j)
        vstore8(u.w[j], j, words);
    for (ulong b = 0; b < 8 && i + b < quads; ++b)
        vstore4((uint4)(words[b], words[8 + b], words[16 + b], words[24 + b]), 0, out + out_off + 4 * (i + b));
}
