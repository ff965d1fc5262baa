/* SPDX-License-Identifier: MIT */
/* The GPU tiling of cl/dropout.cl: one work-item per Philox block of the stream (v1: 4 elements,
 * u8: 16, one Philox call for them all: clmsd_block_words), the blocks first_block .. first_block
 * + blocks - 1 as in the CPU tiling; one division per work-item (the block's first row and
 * column), then the elements step the column; no private arrays indexed at run time (they live in
 * slow memory on a GPU), the same bits. */
#pragma OPENCL FP_CONTRACT OFF

/* One work-item of dropout forward (to_mask false: y_k = keep ? x * s_k : 0, x of x_type, y
 * float) or of the mask (to_mask true: mask_k = keep, dense uint8 [K, rows, cols]): sample k's
 * stream block first_block + i, its elements that lie in the call's rows in order. The kernels
 * pass to_mask as a constant: each compiles to its own path. */
CLMSD_INLINE void clmsd_dropout_block(bool to_mask, __global const float *x, ulong x_off, ulong ldx, uint x_type,
                                      __global float *y, ulong y_off, ulong ldy, __global uchar *mask, ulong mask_off,
                                      __global const uint *params, uint samples, ulong rows, ulong cols,
                                      ulong row_offset, ulong seed, ulong step, ulong first_block, ulong blocks,
                                      uint stream)
{
    ulong i = get_global_id(0);
    uint k = (uint)get_global_id(1);
    if (i >= blocks)
        return;
    ulong b = first_block + i, first = b << clmsd_block_shift(stream);
    uint4 v = clmsd_block_words(seed, step, k, b, stream);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = to_mask ? 0 : y + y_off + (ulong)k * rows * ldy;
    __global uchar *mk = to_mask ? mask + mask_off + (ulong)k * rows * cols : 0;
    for (clmsd_walk w = clmsd_walk_start(first, 1u << clmsd_block_shift(stream), rows, cols, row_offset); w.e < w.stop;
         clmsd_walk_next(&w, cols)) {
        uint value = clmsd_block_value(v, (uint)(w.e - first), stream);
        if (to_mask)
            mk[w.r * cols + w.c] = value >= threshold ? 1 : 0;
        else
            yk[w.r * ldy + w.c] = value >= threshold ? clmsd_load_x(x, x_off + w.r * ldx + w.c, x_type) * scale : 0.0f;
    }
}

CLMSD_DROPOUT_KERNELS(_gpu, clmsd_dropout_block, first_block, blocks)

/* The values of a block's elements from its words (v1: the words; u8: their 16 bytes), the element
 * index of each lane, and N consecutive elements of a row widened from storage type `type` */
CLMSD_INLINE uint4 clmsd_values_of4(uint4 v) { return v; }
CLMSD_INLINE uint16 clmsd_values_of16(uint4 v) { return clmsd_bytes16(v.x, v.y, v.z, v.w); }
#define CLMSD_LANE_IDS4 ((uint4)(0, 1, 2, 3))
#define CLMSD_LANE_IDS16 ((uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define CLMSD_LANE_BITS16                                                                                         \
    ((uint16)(1u << 0, 1u << 1, 1u << 2, 1u << 3, 1u << 4, 1u << 5, 1u << 6, 1u << 7, 1u << 8, 1u << 9, 1u << 10, \
              1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15))
CLMSD_INLINE float4 clmsd_load_row4(__global const float *p, ulong i, uint type)
{
    return clmsd_load_x4(p, i, type, 4);
}
CLMSD_INLINE float16 clmsd_load_row16(__global const float *p, ulong i, uint type)
{
    return clmsd_load_x16(p, i, type);
}
#define CLMSD_LANES4(lane) lane(0, s0) lane(1, s1) lane(2, s2) lane(3, s3)
#define CLMSD_LANES16(lane)                                                                                        \
    CLMSD_LANES4(lane)                                                                                             \
    lane(4, s4) lane(5, s5) lane(6, s6) lane(7, s7) lane(8, s8) lane(9, s9) lane(10, sA) lane(11, sB) lane(12, sC) \
        lane(13, sD) lane(14, sE) lane(15, sF)

/* one column on from offset o at column c of a matrix of leading dimension ld: o by 1, or to the
 * next row's start */
#define CLMSD_NEXT_COLUMN(o, c, ld) \
    ++(o);                          \
    if (++(c) == cols) {            \
        (c) = 0;                    \
        (o) += (ld)-cols;           \
    }

/* store lane j of acc to dx at o when element j lies in the call, then the next column */
#define CLMSD_SUM_STORE(j, lane)                             \
    if ((j) >= j0 && (j) < j1)                               \
        clmsd_store_x(dx, o, dx_type, acc.lane, accumulate); \
    CLMSD_NEXT_COLUMN(o, c, ldx)

/* One work-item of clmsd_dropout_sum_gpu for a stream of N-element blocks (N = 4: v1, 16: u8):
 * block blk's elements of every sample, an accumulator each in a lane of a vector. Element j of
 * the block (first + j) lies in the call when j0 <= j < j1. A block inside one row (whole) loads
 * its N elements of dy_k at once; one that is not walks its elements from the block's first
 * (global row gr0, column c0: the work-item's one division), stepping the column. Every lane
 * computes fma(dy_k, s_k, acc); a select keeps it where the element is kept and in the call. */
#define CLMSD_DROPOUT_SUM_BLOCK(N, stream)                                                                          \
    CLMSD_INLINE float##N clmsd_gather##N(__global const float *p, ulong o, ulong ld, ulong c, ulong cols, uint j0, \
                                          uint j1, uint type)                                                       \
    {                                                                                                               \
        float##N d = 0.0f;                                                                                          \
        for (uint j = 0; j < j1; ++j) {                                                                             \
            if (j >= j0)                                                                                            \
                d = select(d, (float##N)clmsd_load_x(p, o, type), CLMSD_LANE_IDS##N == (uint##N)j);                 \
            CLMSD_NEXT_COLUMN(o, c, ld)                                                                             \
        }                                                                                                           \
        return d;                                                                                                   \
    }                                                                                                               \
    CLMSD_INLINE void clmsd_dropout_sum_block##N(                                                                   \
        __global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, uint dy_type, __global float *dx,      \
        ulong dx_off, ulong ldx, uint dx_type, __global const uint *params, uint samples, ulong rows, ulong cols,   \
        ulong row_offset, ulong seed, ulong step, ulong blk, float scale, int apply_scale, int accumulate)          \
    {                                                                                                               \
        ulong first = blk * N, begin = row_offset * cols, end = begin + rows * cols;                                \
        ulong gr0 = first / cols, c0 = first - gr0 * cols, r0 = gr0 - row_offset; /* r0 wraps below row_offset */   \
        uint j0 = first < begin ? (uint)(begin - first) : 0, j1 = (uint)(min(first + N, end) - first);              \
        bool whole = j0 == 0 && j1 == N && c0 + N <= cols;                                                          \
        int##N in = CLMSD_LANE_IDS##N >= (uint##N)j0 & CLMSD_LANE_IDS##N < (uint##N)j1;                             \
        float##N acc = -0.0f;                                                                                       \
        for (uint k = 0; k < samples; ++k) {                                                                        \
            int##N keep =                                                                                           \
                in & clmsd_values_of##N(clmsd_block_words(seed, step, k, blk, stream)) >= (uint##N)params[k];       \
            ulong o = dy_off + (ulong)k * dy_kstride + r0 * ldy + c0;                                               \
            float##N d =                                                                                            \
                whole ? clmsd_load_row##N(dy, o, dy_type) : clmsd_gather##N(dy, o, ldy, c0, cols, j0, j1, dy_type); \
            acc = select(acc, fma(d, (float##N)as_float(params[samples + k]), acc), keep);                          \
        }                                                                                                           \
        if (apply_scale)                                                                                            \
            acc = acc * scale;                                                                                      \
        ulong o = dx_off + r0 * ldx + c0, c = c0;                                                                   \
        CLMSD_LANES##N(CLMSD_SUM_STORE)                                                                             \
    }
CLMSD_DROPOUT_SUM_BLOCK(4, CLMSD_KERNEL_STREAM_V1)
CLMSD_DROPOUT_SUM_BLOCK(16, CLMSD_KERNEL_STREAM_U8)

/* clmsd_dropout_sum's order: from -0.0f, k ascending, acc = keep_k ? fma(dy_k, s_k, acc) : acc; a
 * work-item per stream block, a path per stream */
__kernel void clmsd_dropout_sum_gpu(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, uint dy_type,
                                    __global float *dx, ulong dx_off, ulong ldx, uint dx_type,
                                    __global const uint *params, uint samples, ulong rows, ulong cols, ulong row_offset,
                                    ulong seed, ulong step, ulong first_block, ulong blocks, uint stream, float scale,
                                    int apply_scale, int accumulate)
{
    ulong i = get_global_id(0);
    if (i >= blocks)
        return;
    if (CLMSD_IS_U8(stream))
        clmsd_dropout_sum_block16(dy, dy_off, dy_kstride, ldy, dy_type, dx, dx_off, ldx, dx_type, params, samples, rows,
                                  cols, row_offset, seed, step, first_block + i, scale, apply_scale, accumulate);
    else
        clmsd_dropout_sum_block4(dy, dy_off, dy_kstride, ldy, dy_type, dx, dx_off, ldx, dx_type, params, samples, rows,
                                 cols, row_offset, seed, step, first_block + i, scale, apply_scale, accumulate);
}
