/* SPDX-License-Identifier: MIT */
/* K-sample dropout on the clmsd-philox-v1 stream. One work-item per 8 consecutive Philox blocks
 * (32 elements, one vectorised Philox call per sample); dimension 1 is the sample k where samples
 * are independent. params holds K integer thresholds followed by K scales (float bits), both
 * computed on the host. This is the CPU tiling; cl/dropout_gpu.cl gives one block to a work-item. */
#pragma OPENCL FP_CONTRACT OFF

/* The words of blocks q .. q+7 of sample k: words[j*8 + i] is word j of block q + i. */
inline void clmsd_words32(ulong seed, ulong step, uint k, ulong q, uint *words)
{
    clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, (uint8)((uint)q) + CLMSD_LANES8);
    for (int j = 0; j < 4; ++j)
        vstore8(u.w[j], j, words);
}

#define CLMSD_WORD(words, q, e) (words)[((e)&3) * 8 + ((e) >> 2) - (q)]

/* y_k = keep ? x * s_k : 0 */
__kernel void clmsd_dropout_forward(__global const float *x, ulong x_off, ulong ldx, __global float *y, ulong y_off,
                                    ulong ldy, __global const uint *params, uint samples, ulong rows, ulong cols,
                                    ulong row_offset, ulong seed, ulong step, ulong first_quad, ulong quads)
{
    ulong i = get_global_id(0) * 8;
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    uint words[32];
    clmsd_words32(seed, step, k, q, words);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = y + y_off + (ulong)k * rows * ldy;
    for (clmsd_walk w = clmsd_walk_start(q, 8, rows, cols, row_offset); w.e < w.stop; clmsd_walk_next(&w, cols)) {
        float v = x[x_off + w.r * ldx + w.c];
        yk[w.r * ldy + w.c] = CLMSD_WORD(words, q, w.e) >= threshold ? v * scale : 0.0f;
    }
}

/* mask_k = keep, dense uint8 [K, rows, cols] */
__kernel void clmsd_dropout_mask(__global uchar *mask, ulong mask_off, __global const uint *params, uint samples,
                                 ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step, ulong first_quad,
                                 ulong quads)
{
    ulong i = get_global_id(0) * 8;
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    uint words[32];
    clmsd_words32(seed, step, k, q, words);
    uint threshold = params[k];
    __global uchar *mk = mask + mask_off + (ulong)k * rows * cols;
    for (clmsd_walk w = clmsd_walk_start(q, 8, rows, cols, row_offset); w.e < w.stop; clmsd_walk_next(&w, cols))
        mk[w.r * cols + w.c] = CLMSD_WORD(words, q, w.e) >= threshold ? 1 : 0;
}

/* dx (+)= [scale *] sum_k keep_k s_k dy_k, in canonical order v2: from -0.0f, k = 0, 1, ..., K-1,
 * acc = keep_k ? fma(dy_k, s_k, acc) : acc.
 * dy_k is at dy_off + k * dy_kstride: rows * ldy for dropout backward, 0 to broadcast one
 * matrix to every sample (the head's averaged mask and its gradient). */
__kernel void clmsd_dropout_sum(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, __global float *dx,
                                ulong dx_off, ulong ldx, __global const uint *params, uint samples, ulong rows,
                                ulong cols, ulong row_offset, ulong seed, ulong step, ulong first_quad, ulong quads,
                                float scale, int apply_scale, int accumulate)
{
    ulong i = get_global_id(0) * 8;
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    const clmsd_walk start = clmsd_walk_start(q, 8, rows, cols, row_offset);
    float acc[32];
    for (int j = 0; j < 32; ++j)
        acc[j] = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        uint words[32];
        clmsd_words32(seed, step, k, q, words);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        __global const float *dyk = dy + dy_off + (ulong)k * dy_kstride;
        int j = 0;
        for (clmsd_walk w = start; w.e < w.stop; clmsd_walk_next(&w, cols), ++j) {
            if (CLMSD_WORD(words, q, w.e) >= threshold)
                acc[j] = fma(dyk[w.r * ldy + w.c], s, acc[j]);
        }
    }
    int j = 0;
    for (clmsd_walk w = start; w.e < w.stop; clmsd_walk_next(&w, cols), ++j) {
        float v = apply_scale ? acc[j] * scale : acc[j];
        __global float *out = dx + dx_off + w.r * ldx + w.c;
        *out = accumulate ? *out + v : v;
    }
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
