/* K-sample dropout on the clmsd-philox-v1 stream. One work-item per Philox block (4 elements),
 * dimension 1 is the sample k where samples are independent. params holds K integer thresholds
 * followed by K scales (float bits), both computed on the host. */
#pragma OPENCL FP_CONTRACT OFF

/* y_k = keep ? x * s_k : 0 */
__kernel void clmsd_dropout_forward(__global const float *x, ulong x_off, ulong ldx,
                                    __global float *y, ulong y_off, ulong ldy,
                                    __global const uint *params, uint samples,
                                    ulong rows, ulong cols, ulong row_offset,
                                    ulong seed, ulong step, ulong first_quad, ulong quads)
{
    ulong i = get_global_id(0);
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
    uint threshold = params[k];
    float scale = as_float(params[samples + k]);
    __global float *yk = y + y_off + (ulong)k * rows * ldy;
    for (clmsd_walk w = clmsd_walk_start(q, rows, cols, row_offset); w.e < w.stop; clmsd_walk_next(&w, cols)) {
        float v = x[x_off + w.r * ldx + w.c];
        yk[w.r * ldy + w.c] = u.v[w.e & 3] >= threshold ? v * scale : 0.0f;
    }
}

/* mask_k = keep, dense uint8 [K, rows, cols] */
__kernel void clmsd_dropout_mask(__global uchar *mask, ulong mask_off,
                                 __global const uint *params, uint samples,
                                 ulong rows, ulong cols, ulong row_offset,
                                 ulong seed, ulong step, ulong first_quad, ulong quads)
{
    ulong i = get_global_id(0);
    uint k = (uint)get_global_id(1);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
    uint threshold = params[k];
    __global uchar *mk = mask + mask_off + (ulong)k * rows * cols;
    for (clmsd_walk w = clmsd_walk_start(q, rows, cols, row_offset); w.e < w.stop; clmsd_walk_next(&w, cols))
        mk[w.r * cols + w.c] = u.v[w.e & 3] >= threshold ? 1 : 0;
}

/* dx (+)= [scale *] sum_k keep_k s_k dy_k, summed in the canonical order k = 0, 1, ..., K-1.
 * dy_k is at dy_off + k * dy_kstride: rows * ldy for dropout backward, 0 to broadcast one
 * matrix to every sample (the head's averaged mask and its gradient). */
__kernel void clmsd_dropout_sum(__global const float *dy, ulong dy_off, ulong dy_kstride, ulong ldy,
                                __global float *dx, ulong dx_off, ulong ldx,
                                __global const uint *params, uint samples,
                                ulong rows, ulong cols, ulong row_offset,
                                ulong seed, ulong step, ulong first_quad, ulong quads,
                                float scale, int apply_scale, int accumulate)
{
    ulong i = get_global_id(0);
    if (i >= quads)
        return;
    ulong q = first_quad + i;
    const clmsd_walk start = clmsd_walk_start(q, rows, cols, row_offset);
    float acc[4];
    for (uint k = 0; k < samples; ++k) {
        philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, q);
        uint threshold = params[k];
        float s = as_float(params[samples + k]);
        __global const float *dyk = dy + dy_off + (ulong)k * dy_kstride;
        int j = 0;
        for (clmsd_walk w = start; w.e < w.stop; clmsd_walk_next(&w, cols), ++j) {
            float t = u.v[w.e & 3] >= threshold ? dyk[w.r * ldy + w.c] * s : 0.0f;
            acc[j] = k == 0 ? t : acc[j] + t;
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
 * the raw Philox rate in the benchmark). */
__kernel void clmsd_stream_words(__global uint *out, ulong out_off, ulong seed, ulong step, uint k,
                                 ulong first_quad, ulong quads)
{
    ulong i = get_global_id(0);
    if (i >= quads)
        return;
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, first_quad + i);
    vstore4((uint4)(u.v[0], u.v[1], u.v[2], u.v[3]), 0, out + out_off + 4 * i);
}
