/* SPDX-License-Identifier: MIT */
/* The GPU tiling of cl/dropout.cl: one work-item per Philox block (4 elements) of one sample, no
 * private arrays indexed at run time (they live in slow memory on a GPU), the same bits. */
#pragma OPENCL FP_CONTRACT OFF

/* word j (0 .. 3) of a block, by constant selects */
inline uint clmsd_word4(philox4x32_ctr_t u, uint j)
{
    return j == 0 ? u.v[0] : j == 1 ? u.v[1] : j == 2 ? u.v[2] : u.v[3];
}

/* word j (0 .. 7) of two consecutive blocks */
inline uint clmsd_word8(philox4x32_ctr_t u0, philox4x32_ctr_t u1, uint j)
{
    return j < 4 ? clmsd_word4(u0, j) : clmsd_word4(u1, j - 4);
}

/* Element 4q + j of the stream lies in the matrix's rows [row_offset, row_offset + rows): its local
 * row *r and column *c. */
inline bool clmsd_block_element(ulong q, uint j, ulong rows, ulong cols, ulong row_offset, ulong *r, ulong *c)
{
    ulong e = 4 * q + j, begin = row_offset * cols;
    if (e < begin || e >= begin + rows * cols)
        return false;
    *r = e / cols - row_offset;
    *c = e % cols;
    return true;
}

__kernel void clmsd_dropout_forward_gpu(__global const float *x, ulong x_off, ulong ldx, __global float *y, ulong y_off,
                                        ulong ldy, __global const uint *params, uint samples, ulong rows, ulong cols,
                                        ulong row_offset, ulong seed, ulong step, ulong first_quad, ulong quads)
{
    ulong i = get_global_id(0), r, c;
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = y + y_off + (ulong)k * rows * ldy;
    for (uint j = 0; j < 4; ++j)
        if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c))
            yk[r * ldy + c] = clmsd_word4(u, j) >= threshold ? x[x_off + r * ldx + c] * scale : 0.0f;
}

__kernel void clmsd_dropout_mask_gpu(__global uchar *mask, ulong mask_off, __global const uint *params, uint samples,
                                     ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step, ulong first_quad,
                                     ulong quads)
{
    ulong i = get_global_id(0), r, c;
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
    __global uchar *mk = mask + mask_off + (ulong)k * rows * cols;
    for (uint j = 0; j < 4; ++j)
        if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c))
            mk[r * cols + c] = clmsd_word4(u, j) >= params[k] ? 1 : 0;
}

/* clmsd_dropout_sum's order: from -0.0f, k ascending, acc = keep_k ? fma(dy_k, s_k, acc) : acc */
__kernel void clmsd_dropout_sum_gpu(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy,
                                    __global float *dx, ulong dx_off, ulong ldx, __global const uint *params,
                                    uint samples, ulong rows, ulong cols, ulong row_offset, ulong seed, ulong step,
                                    ulong first_quad, ulong quads, float scale, int apply_scale, int accumulate)
{
    ulong i = get_global_id(0);
    if (i >= quads)
        return;
    ulong q = first_quad + i, r, c;
    float4 acc = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        __global const float *dyk = dy + dy_off + (ulong)k * dy_kstride;
#define CLMSD_SUM_LANE(j, lane)                                                                      \
    if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c) && clmsd_word4(u, j) >= threshold) \
        acc.lane = fma(dyk[r * ldy + c], s, acc.lane);
        CLMSD_SUM_LANE(0, s0) CLMSD_SUM_LANE(1, s1) CLMSD_SUM_LANE(2, s2) CLMSD_SUM_LANE(3, s3)
#undef CLMSD_SUM_LANE
    }
    if (apply_scale)
        acc = acc * scale;
#define CLMSD_STORE_LANE(j, lane)                                    \
    if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c)) { \
        __global float *out = dx + dx_off + r * ldx + c;             \
        *out = accumulate ? *out + acc.lane : acc.lane;              \
    }
    CLMSD_STORE_LANE(0, s0) CLMSD_STORE_LANE(1, s1) CLMSD_STORE_LANE(2, s2) CLMSD_STORE_LANE(3, s3)
#undef CLMSD_STORE_LANE
}
