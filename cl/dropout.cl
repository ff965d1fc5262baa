/* SPDX-License-Identifier: MIT */
/* K-sample dropout on either stream. One work-item per 8 consecutive Philox blocks of the stream
 * (v1: 32 elements, u8: 128; one vectorised Philox call per sample), in chunks of 16 elements
 * that load, compare and store as vectors; dimension 1 is the sample k where samples are
 * independent. params holds K integer thresholds followed by K scales (float bits), both computed
 * on the host. The work-items' blocks are first_block .. first_block + blocks - 1 of the stream.
 * This is the CPU tiling; cl/dropout_gpu.cl gives one Philox block to a work-item. */
#pragma OPENCL FP_CONTRACT OFF

/* log2 of a stream block's elements */
CLMSD_INLINE uint clmsd_block_shift(uint stream) { return CLMSD_IS_U8(stream) ? 4 : 2; }

/* A work-item's run of 8 << shift elements from first = q << shift goes in chunks of 16: v1
 * elements 4q + 16m .. 4q + 16m + 15 (blocks q + 4m .. q + 4m + 3), u8 block q + m. A chunk that
 * lies inside one row of the matrix is loaded, compared and stored as vectors; one that crosses a
 * row's end or the matrix's edge walks its elements one by one. */
CLMSD_INLINE uint clmsd_chunks(uint stream) { return CLMSD_IS_U8(stream) ? 8 : 2; }

/* the values of chunk m's 16 elements from clmsd_words32's words: words[j*8 + i] is word j of
 * block q + i */
CLMSD_INLINE uint16 clmsd_chunk16(const uint *words, int m, uint stream)
{
    if (CLMSD_IS_U8(stream))
        return clmsd_bytes16(words[m], words[8 + m], words[16 + m], words[24 + m]);
    const uint *w = words + 4 * m;
    return (uint16)(w[0], w[8], w[16], w[24], w[1], w[9], w[17], w[25], w[2], w[10], w[18], w[26], w[3], w[11], w[19],
                    w[27]);
}

/* keep bits (1 or 0) of 16 values: the compare's all-ones lanes narrowed, then masked (Oclgrind
 * widens a compare's lanes converted straight to uchar as all ones: 255, not 1) */
CLMSD_INLINE uchar16 clmsd_keep16(uint16 v, uint threshold)
{
    return as_uchar16(convert_char16(v >= (uint16)threshold)) & (uchar16)1;
}

/* Where the current chunk starts: element e, global row gr, column c (one division for the run,
 * then additions). */
typedef struct clmsd_chunk {
    ulong e, gr, c;
} clmsd_chunk;

CLMSD_INLINE clmsd_chunk clmsd_chunk_start(ulong first, ulong cols)
{
    clmsd_chunk h;
    h.e = first;
    h.gr = first / cols;
    h.c = first - h.gr * cols;
    return h;
}

CLMSD_INLINE void clmsd_chunk_next(clmsd_chunk *h, ulong cols)
{
    h->e += 16;
    h->c += 16;
    while (h->c >= cols) {
        h->c -= cols;
        ++h->gr;
    }
}

/* the whole chunk lies in one row of the matrix (local row gr - row_offset) */
CLMSD_INLINE int clmsd_chunk_whole(clmsd_chunk h, ulong rows, ulong cols, ulong row_offset)
{
    return h.gr >= row_offset && h.gr - row_offset < rows && h.c + 16 <= cols;
}

/* One work-item of dropout forward (to_mask false: y_k = keep ? x * s_k : 0, x of x_type, y
 * float) or of the mask (to_mask true: mask_k = keep, dense uint8 [K, rows, cols]): sample k's 8
 * blocks from first_block + 8 i. The kernels pass to_mask as a constant: each compiles to its own
 * path. */
CLMSD_INLINE void clmsd_dropout_run(bool to_mask, __global const float *x, ulong x_off, ulong ldx, uint x_type,
                                    __global float *y, ulong y_off, ulong ldy, __global uchar *mask, ulong mask_off,
                                    __global const uint *params, uint samples, ulong rows, ulong cols, ulong row_offset,
                                    ulong seed, ulong step, ulong first_block, ulong blocks, uint stream)
{
    ulong i = get_global_id(0) * 8;
    uint k = (uint)get_global_id(1);
    if (i >= blocks)
        return;
    ulong q = first_block + i;
    uint words[32];
    clmsd_words32(seed, step, k, q, stream, words);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = to_mask ? 0 : y + y_off + (ulong)k * rows * ldy;
    __global uchar *mk = to_mask ? mask + mask_off + (ulong)k * rows * cols : 0;
    clmsd_chunk h = clmsd_chunk_start(q << clmsd_block_shift(stream), cols);
    for (int m = 0; m < clmsd_chunks(stream); ++m, clmsd_chunk_next(&h, cols)) {
        uint16 v = clmsd_chunk16(words, m, stream);
        if (clmsd_chunk_whole(h, rows, cols, row_offset)) {
            ulong r = h.gr - row_offset;
            if (to_mask) {
                vstore16(clmsd_keep16(v, threshold), 0, mk + r * cols + h.c);
            } else {
                float16 xv = clmsd_load_x16(x, x_off + r * ldx + h.c, x_type);
                vstore16(select((float16)0.0f, xv * scale, v >= (uint16)threshold), 0, yk + r * ldy + h.c);
            }
            continue;
        }
        uint vals[16];
        vstore16(v, 0, vals);
        for (clmsd_walk w = clmsd_walk_start(h.e, 16, rows, cols, row_offset); w.e < w.stop;
             clmsd_walk_next(&w, cols)) {
            bool keep = vals[w.e - h.e] >= threshold;
            if (to_mask)
                mk[w.r * cols + w.c] = keep ? 1 : 0;
            else
                yk[w.r * ldy + w.c] = keep ? clmsd_load_x(x, x_off + w.r * ldx + w.c, x_type) * scale : 0.0f;
        }
    }
}

/* The dropout forward and mask kernels of a tiling around its work-item function `run`, whose
 * units are the stream's blocks first .. first + count - 1 (8 to a work-item here, one in the GPU
 * tiling: cl/dropout_gpu.cl). */
#define CLMSD_DROPOUT_KERNELS(suffix, run, first, count)                                                             \
    __kernel void clmsd_dropout_forward##suffix(                                                                     \
        __global const float *x, ulong x_off, ulong ldx, uint x_type, __global float *y, ulong y_off, ulong ldy,     \
        __global const uint *params, uint samples, ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step, \
        ulong first, ulong count, uint stream)                                                                       \
    {                                                                                                                \
        run(false, x, x_off, ldx, x_type, y, y_off, ldy, 0, 0, params, samples, rows, cols, row_offset, seed, step,  \
            first, count, stream);                                                                                   \
    }                                                                                                                \
    __kernel void clmsd_dropout_mask##suffix(__global uchar *mask, ulong mask_off, __global const uint *params,      \
                                             uint samples, ulong rows, ulong cols, ulong row_offset, ulong seed,     \
                                             ulong step, ulong first, ulong count, uint stream)                      \
    {                                                                                                                \
        run(true, 0, 0, 0, 0, 0, 0, 0, mask, mask_off, params, samples, rows, cols, row_offset, seed, step, first,   \
            count, stream);                                                                                          \
    }

/* y_k = keep ? x * s_k : 0 (x of x_type, y float); mask_k = keep, dense uint8 [K, rows, cols] */
CLMSD_DROPOUT_KERNELS(, clmsd_dropout_run, first_block, blocks)

/* dx (+)= [scale *] sum_k keep_k s_k dy_k, in canonical order v2: from -0.0f, k = 0, 1, ..., K-1,
 * acc = keep_k ? fma(dy_k, s_k, acc) : acc; dx stored as dx_type (accumulate: dx + that, in fp32,
 * rounded once). dy_k is at dy_off + k * dy_kstride: rows * ldy for dropout backward, 0 to
 * broadcast one matrix to every sample (the head's averaged mask, on X of dy_type). */
__kernel void clmsd_dropout_sum(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, uint dy_type,
                                __global float *dx, ulong dx_off, ulong ldx, uint dx_type, __global const uint *params,
                                uint samples, ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step,
                                ulong first_block, ulong blocks, uint stream, float scale, int apply_scale,
                                int accumulate)
{
    ulong i = get_global_id(0) * 8;
    uint shift = clmsd_block_shift(stream);
    if (i >= blocks)
        return;
    ulong q = first_block + i, first = q << shift;
    float acc[128]; /* element first + j */
    for (int j = 0; j < (8 << shift); ++j)
        acc[j] = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        uint words[32];
        clmsd_words32(seed, step, k, q, stream, words);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        ulong dyk = dy_off + (ulong)k * dy_kstride;
        clmsd_chunk h = clmsd_chunk_start(first, cols);
        for (int m = 0; m < clmsd_chunks(stream); ++m, clmsd_chunk_next(&h, cols)) {
            uint16 v = clmsd_chunk16(words, m, stream);
            if (clmsd_chunk_whole(h, rows, cols, row_offset)) {
                float16 a = vload16(m, acc);
                float16 d = clmsd_load_x16(dy, dyk + (h.gr - row_offset) * ldy + h.c, dy_type);
                vstore16(select(a, fma(d, (float16)s, a), v >= (uint16)threshold), m, acc);
                continue;
            }
            uint vals[16];
            vstore16(v, 0, vals);
            for (clmsd_walk w = clmsd_walk_start(h.e, 16, rows, cols, row_offset); w.e < w.stop;
                 clmsd_walk_next(&w, cols))
                if (vals[w.e - h.e] >= threshold)
                    acc[w.e - first] = fma(clmsd_load_x(dy, dyk + w.r * ldy + w.c, dy_type), s, acc[w.e - first]);
        }
    }
    clmsd_chunk h = clmsd_chunk_start(first, cols);
    for (int m = 0; m < clmsd_chunks(stream); ++m, clmsd_chunk_next(&h, cols)) {
        if (clmsd_chunk_whole(h, rows, cols, row_offset)) {
            ulong at = dx_off + (h.gr - row_offset) * ldx + h.c;
            float16 a = vload16(m, acc);
            if (apply_scale)
                a *= scale;
            if (accumulate)
                a = clmsd_load_x16(dx, at, dx_type) + a;
            clmsd_store_x16(dx, at, dx_type, a);
            continue;
        }
        for (clmsd_walk w = clmsd_walk_start(h.e, 16, rows, cols, row_offset); w.e < w.stop; clmsd_walk_next(&w, cols))
            clmsd_store_x(dx, dx_off + w.r * ldx + w.c, dx_type,
                          apply_scale ? acc[w.e - first] * scale : acc[w.e - first], accumulate);
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
