/* SPDX-License-Identifier: MIT */
/* The GPU tiling of cl/dropout.cl: one work-item per 4 elements of one sample (a v1 block, a
 * quarter of a u8 block: clmsd_quad_values), no private arrays indexed at run time (they live in
 * slow memory on a GPU), the same bits. */
#pragma OPENCL FP_CONTRACT OFF

/* Element 4q + j of the stream lies in the matrix's rows [row_offset, row_offset + rows): its local
 * row *r and column *c. */
CLMSD_INLINE bool clmsd_block_element(ulong q, uint j, ulong rows, ulong cols, ulong row_offset, ulong *r, ulong *c)
{
    ulong e = 4 * q + j, begin = row_offset * cols;
    if (e < begin || e >= begin + rows * cols)
        return false;
    *r = e / cols - row_offset;
    *c = e % cols;
    return true;
}

/* One work-item of dropout forward (to_mask false: y_k = keep ? x * s_k : 0, x of x_type, y
 * float) or of the mask (to_mask true: mask_k = keep, dense uint8 [K, rows, cols]): sample k's
 * group of 4 elements q. The kernels pass to_mask as a constant: each compiles to its own path. */
CLMSD_INLINE void clmsd_dropout_quad(bool to_mask, __global const float *x, ulong x_off, ulong ldx, uint x_type,
                                     __global float *y, ulong y_off, ulong ldy, __global uchar *mask, ulong mask_off,
                                     __global const uint *params, uint samples, ulong rows, ulong cols,
                                     ulong row_offset, ulong seed, ulong step, ulong first_quad, ulong quads,
                                     uint stream)
{
    ulong i = get_global_id(0), r, c;
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    uint4 u = clmsd_quad_values(seed, step, k, q, stream);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = to_mask ? 0 : y + y_off + (ulong)k * rows * ldy;
    __global uchar *mk = to_mask ? mask + mask_off + (ulong)k * rows * cols : 0;
    for (uint j = 0; j < 4; ++j) {
        if (!clmsd_block_element(q, j, rows, cols, row_offset, &r, &c))
            continue;
        if (to_mask) /* (params[k] read here, not the threshold: 32 registers on sm_90, not 34) */
            mk[r * cols + c] = clmsd_lane4(u, j) >= params[k] ? 1 : 0;
        else
            yk[r * ldy + c] =
                clmsd_lane4(u, j) >= threshold ? clmsd_load_x(x, x_off + r * ldx + c, x_type) * scale : 0.0f;
    }
}

CLMSD_DROPOUT_KERNELS(_gpu, clmsd_dropout_quad, first_quad, quads)

/* clmsd_dropout_sum's order: from -0.0f, k ascending, acc = keep_k ? fma(dy_k, s_k, acc) : acc */
__kernel void clmsd_dropout_sum_gpu(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy, uint dy_type,
                                    __global float *dx, ulong dx_off, ulong ldx, uint dx_type,
                                    __global const uint *params, uint samples, ulong rows, ulong cols, ulong row_offset,
                                    ulong seed, ulong step, ulong first_quad, ulong quads, uint stream, float scale,
                                    int apply_scale, int accumulate)
{
    ulong i = get_global_id(0);
    if (i >= quads)
        return;
    ulong q = first_quad + i, r, c;
    float4 acc = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        uint4 u = clmsd_quad_values(seed, step, k, q, stream);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        ulong dyk = dy_off + (ulong)k * dy_kstride;
#define CLMSD_SUM_LANE(j, lane)                                                           \
    if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c) && u.lane >= threshold) \
        acc.lane = fma(clmsd_load_x(dy, dyk + r * ldy + c, dy_type), s, acc.lane);
        CLMSD_SUM_LANE(0, s0) CLMSD_SUM_LANE(1, s1) CLMSD_SUM_LANE(2, s2) CLMSD_SUM_LANE(3, s3)
#undef CLMSD_SUM_LANE
    }
    if (apply_scale)
        acc = acc * scale;
#define CLMSD_STORE_LANE(j, lane)                                  \
    if (clmsd_block_element(q, j, rows, cols, row_offset, &r, &c)) \
        clmsd_store_x(dx, dx_off + r * ldx + c, dx_type, acc.lane, accumulate);
    CLMSD_STORE_LANE(0, s0) CLMSD_STORE_LANE(1, s1) CLMSD_STORE_LANE(2, s2) CLMSD_STORE_LANE(3, s3)
#undef CLMSD_STORE_LANE
}
