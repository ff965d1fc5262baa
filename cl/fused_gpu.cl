/* SPDX-License-Identifier: MIT */
/* The GPU tiling of the fused engine: the sums of cl/fused.cl in the same canonical order v2, so the
 * same bits, shaped for a GPU: many work-items with a few outputs each, W read in place (no
 * transpose), no private arrays indexed at run time, few registers. Work-items per launch on the
 * token head (K 5, B 4096, H 768, C 15): logits K*B*ceil(C/4) = 81,920, dW blocks*ceil(C/4)*H/4 =
 * 196,608, dX B*H/4 = 786,432; on the u8 stream dW blocks*ceil(C/2)*H/16 = 98,304 and dX B*H/16 =
 * 196,608. Stream values come from one Philox call per block of the stream a work-item covers: the
 * logits walk their row's blocks (4 elements on v1, 16 on u8); on u8, dX takes one u8 block of a
 * row and dW a 16-feature window of each row (one block, or two where the row's window does not
 * start on one); on v1, dW and dX take an element's group of 4 (clmsd_values_at: one or two
 * calls), as dW does on u8 when H < 16. X is read as x_type, dX stored as dx_type. G has
 * ldg >= ceil(C/4)*4 columns, zeros past C. Uses clmsd_load4 of cl/fused.cl and the lane helpers
 * of cl/dropout_gpu.cl. */
#pragma OPENCL FP_CONTRACT OFF

/* lane j (0 .. 7) of lo then hi: a lane4 of the other half is 0, no lane matching */
CLMSD_INLINE uint clmsd_lane_of_pair(uint4 lo, uint4 hi, uint j)
{
    return clmsd_lane4(lo, j) | clmsd_lane4(hi, j - 4u);
}

/* the values of elements e .. e+3 (crossing into the next group of 4 when e is not a multiple of 4) */
CLMSD_INLINE uint4 clmsd_values_at(ulong seed, ulong step, uint k, ulong e, uint stream)
{
    uint4 u0 = clmsd_quad_values(seed, step, k, e >> 2, stream), u1 = u0;
    uint off = (uint)(e & 3);
    if (off)
        u1 = clmsd_quad_values(seed, step, k, (e >> 2) + 1, stream);
    /* lanes by masks (an index by off would live in memory on a GPU; a chain of selects of
     * swizzles, Oclgrind evaluated as its last arm) */
    return (uint4)(clmsd_lane_of_pair(u0, u1, off), clmsd_lane_of_pair(u0, u1, off + 1),
                   clmsd_lane_of_pair(u0, u1, off + 2), clmsd_lane_of_pair(u0, u1, off + 3));
}

/* keep ? v * s : 0.0f per lane */
CLMSD_INLINE float4 clmsd_drop4(float4 v, uint4 words, uint threshold, float s)
{
    return select((float4)0.0f, v * s, words >= (uint4)threshold);
}

/* bit i of the result: lane i of m is set (a compare's all-ones lane) */
CLMSD_INLINE uint clmsd_bits16(int16 m)
{
    uint16 x = as_uint16(m) & CLMSD_LANE_BITS16;
    uint8 a = x.lo | x.hi;
    uint4 b = a.lo | a.hi;
    uint2 c = b.lo | b.hi;
    return c.x | c.y;
}

/* The keep bits of u8 block blk of sample k: bit j is byte j >= threshold */
CLMSD_INLINE uint clmsd_kept16(ulong seed, ulong step, uint k, ulong blk, uint threshold)
{
    uint4 v = clmsd_block_words(seed, step, k, blk, CLMSD_KERNEL_STREAM_U8);
    return clmsd_bits16(clmsd_values_of16(v) >= (uint16)threshold);
}

/* elements i .. i+n-1 (n < 16) of type `type` and zeros, an element at a time into its lane by a
 * select (a row shorter than a vector: reading 16 would pass its end) */
CLMSD_INLINE float16 clmsd_load_short16(__global const float *p, ulong i, uint type, uint n)
{
    float16 v = 0.0f;
    for (uint j = 0; j < n; ++j)
        v = select(v, (float16)clmsd_load_x(p, i + j, type), CLMSD_LANE_IDS16 == (uint16)j);
    return v;
}

/* Z[n, c] = fma chain over h ascending from -0.0f of xd[n, h] W[c, h] for 4 classes of one stacked
 * row n = k*B + b; masked = 0: x itself (predict, Xbar) with samples = 1. */
__kernel void clmsd_fused_logits_gpu(__global const float *x, ulong x_off, uint x_type, __global const float *w,
                                     ulong w_off, __global float *z, ulong z_off, ulong batch, ulong features,
                                     uint classes, uint samples, int masked, __global const uint *params,
                                     ulong row_offset, ulong seed, ulong step, uint stream)
{
    uint quads = (classes + 3) / 4;
    ulong i = get_global_id(0), n = i / quads;
    if (n >= (ulong)samples * batch)
        return;
    uint c0 = (uint)(i % quads) * 4, k = (uint)(n / batch);
    ulong b = n % batch;
    /* the rows of classes past C repeat the last class: loads stay in bounds, nothing is stored */
    ulong xr = x_off + b * features;
    __global const float *wr = w + w_off;
    __global const float *w0 = wr + (ulong)c0 * features, *w1 = wr + (ulong)min(c0 + 1, classes - 1) * features;
    __global const float *w2 = wr + (ulong)min(c0 + 2, classes - 1) * features;
    __global const float *w3 = wr + (ulong)min(c0 + 3, classes - 1) * features;
    uint threshold = masked ? params[k] : 0;
    float s = masked ? as_float(params[samples + k]) : 1.0f;
    float4 acc = -0.0f;
    /* the stream's blocks of the row in order (one Philox call per 4 elements on v1, per 16 on u8),
     * each block's elements in order, those of the row: h ascending; a row need not start on a
     * block */
    uint shift = clmsd_block_shift(stream), per = 1u << shift;
    ulong e0 = (row_offset + b) * features, e1 = e0 + features;
    for (ulong blk = e0 >> shift; blk << shift < e1; ++blk) {
        uint4 u = masked ? clmsd_block_words(seed, step, k, blk, stream) : (uint4)0;
        for (uint j = 0; j < per; ++j) {
            ulong e = (blk << shift) + j, h = e - e0;
            if (e < e0 || e >= e1)
                continue;
            float v = clmsd_load_x(x, xr + h, x_type);
            if (masked)
                v = clmsd_block_value(u, j, stream) >= threshold ? v * s : 0.0f;
            acc = fma((float4)v, (float4)(w0[h], w1[h], w2[h], w3[h]), acc);
        }
    }
    __global float *zr = z + z_off + n * classes + c0;
    zr[0] = acc.s0;
    if (c0 + 1 < classes)
        zr[1] = acc.s1;
    if (c0 + 2 < classes)
        zr[2] = acc.s2;
    if (c0 + 3 < classes)
        zr[3] = acc.s3;
}

/* clmsd_fused_dw_gpu on the u8 stream with H >= 16: a work-item per 2 classes by a window of 16
 * features of a row block, lane i feature ws + i (ws = min(h0, H - 16) for the window from h0 = 16 m, so that X's
 * rows load as whole vectors inside the row; its features from h0 are the lanes stored). Per row
 * and sample one Philox call for the window's 16 elements, two where the row's window does not
 * start on a u8 block (one call in a loop: a second inline copy of Philox costs registers). Four
 * classes by 16 features would take 64 accumulators: 159 registers on sm_90, 3 waves on gfx90a. */
CLMSD_INLINE void clmsd_fused_dw_u8(__global const float *g, ulong g_off, ulong ldg, __global const float *x,
                                    ulong x_off, uint x_type, __global float *part, ulong part_off, ulong count,
                                    ulong batch, ulong features, uint classes, uint samples, int averaged,
                                    __global const uint *params, ulong row_offset, ulong seed, ulong step, int with_db)
{
    ulong hw = (features + 15) / 16, cp = (classes + 1) / 2, i = get_global_id(0), blk = i / (hw * cp);
    if (blk >= clmsd_block_count(row_offset, batch))
        return;
    uint c0 = (uint)(i / hw % cp) * 2;
    ulong h0 = i % hw * 16, ws = min(h0, features - 16), lo, hi;
    uint l0 = (uint)(h0 - ws), valid = 0xFFFFu >> l0 << l0;
    clmsd_block_rows(row_offset, batch, blk, &lo, &hi);
    uint kn = averaged ? 1 : samples;
    float16 a0 = -0.0f, a1 = -0.0f; /* a_c lane j: class c0 + c, feature ws + j */
    float2 db = -0.0f;
    for (ulong b = lo; b < hi; ++b) {
        ulong xr = x_off + b * features + ws, e = (row_offset + b) * features + ws;
        float16 xv = clmsd_load_x16(x, xr, x_type);
        uint sh = (uint)(e & 15);
        for (uint k = 0; k < kn; ++k) {
            float16 d = xv;
            if (!averaged) { /* bit i of kept: element e + i, from the blocks of e and e + 15 */
                uint kept = 0;
                for (uint t = 0; t < (sh ? 2u : 1u); ++t)
                    kept |= clmsd_kept16(seed, step, k, (e >> 4) + t, params[k]) << (16 * t);
                int16 keep = ((uint16)(kept >> sh) & CLMSD_LANE_BITS16) != (uint16)0;
                d = select((float16)0.0f, xv * as_float(params[samples + k]), keep);
            }
            float2 gv = vload2(0, g + g_off + ((ulong)k * batch + b) * ldg + c0);
            a0 = fma((float16)gv.s0, d, a0);
            a1 = fma((float16)gv.s1, d, a1);
            db = db + gv;
        }
    }
    __global float *pb = part + part_off + blk * count;
#define CLMSD_DW_LANE(j, lane) \
    if ((valid >> (j)) & 1u)   \
        o[j] = av.lane;
#define CLMSD_DW_STORE(c, a)                                        \
    if (c0 + (c) < classes) {                                       \
        __global float *o = pb + (ulong)(c0 + (c)) * features + ws; \
        float16 av = (a);                                           \
        CLMSD_LANES16(CLMSD_DW_LANE)                                \
        if (with_db && h0 == 0)                                     \
            pb[(ulong)classes * features + c0 + (c)] = db.s##c;     \
    }
    CLMSD_DW_STORE(0, a0) CLMSD_DW_STORE(1, a1)
#undef CLMSD_DW_STORE
#undef CLMSD_DW_LANE
}

/* clmsd_fused_dw's block sums (and db's with them), 4 classes by 4 features per work-item on v1
 * and on u8 with H < 16 (else clmsd_fused_dw_u8): part[s * count + c*H + h], part[s * count + C*H + c]. */
__kernel void clmsd_fused_dw_gpu(__global const float *g, ulong g_off, ulong ldg, __global const float *x, ulong x_off,
                                 uint x_type, __global float *part, ulong part_off, ulong count, ulong batch,
                                 ulong features, uint classes, uint samples, int averaged, __global const uint *params,
                                 ulong row_offset, ulong seed, ulong step, uint stream, int with_db)
{
    if (CLMSD_IS_U8(stream) && features >= 16) {
        clmsd_fused_dw_u8(g, g_off, ldg, x, x_off, x_type, part, part_off, count, batch, features, classes, samples,
                          averaged, params, row_offset, seed, step, with_db);
        return;
    }
    ulong hq = (features + 3) / 4, cq = (classes + 3) / 4, i = get_global_id(0), blk = i / (hq * cq);
    if (blk >= clmsd_block_count(row_offset, batch))
        return;
    uint c0 = (uint)(i / hq % cq) * 4;
    ulong h0 = i % hq * 4, nh = min((ulong)4, features - h0), lo, hi;
    clmsd_block_rows(row_offset, batch, blk, &lo, &hi);
    uint kn = averaged ? 1 : samples;
    float4 a0 = -0.0f, a1 = -0.0f, a2 = -0.0f, a3 = -0.0f, db = -0.0f; /* a_c lane j: class c0 + c, feature h0 + j */
    for (ulong b = lo; b < hi; ++b) {
        float4 xv = clmsd_load_x4(x, x_off + b * features + h0, x_type, (uint)nh);
        ulong e = (row_offset + b) * features + h0;
        for (uint k = 0; k < kn; ++k) {
            float4 d = averaged ? xv
                                : clmsd_drop4(xv, clmsd_values_at(seed, step, k, e, stream), params[k],
                                              as_float(params[samples + k]));
            float4 gv = vload4(0, g + g_off + ((ulong)k * batch + b) * ldg + c0);
            a0 = fma((float4)gv.s0, d, a0);
            a1 = fma((float4)gv.s1, d, a1);
            a2 = fma((float4)gv.s2, d, a2);
            a3 = fma((float4)gv.s3, d, a3);
            db = db + gv;
        }
    }
    __global float *pb = part + part_off + blk * count;
#define CLMSD_DW_STORE(c, a)                                        \
    if (c0 + (c) < classes) {                                       \
        __global float *o = pb + (ulong)(c0 + (c)) * features + h0; \
        o[0] = (a).s0;                                              \
        if (nh > 1)                                                 \
            o[1] = (a).s1;                                          \
        if (nh > 2)                                                 \
            o[2] = (a).s2;                                          \
        if (nh > 3)                                                 \
            o[3] = (a).s3;                                          \
        if (with_db && h0 == 0)                                     \
            pb[(ulong)classes * features + c0 + (c)] = db.s##c;     \
    }
    CLMSD_DW_STORE(0, a0) CLMSD_DW_STORE(1, a1) CLMSD_DW_STORE(2, a2) CLMSD_DW_STORE(3, a3)
#undef CLMSD_DW_STORE
}

/* Row blocks of clmsd_fused_dx_gpu on the u8 stream: the most u8 blocks a row of H features spans,
 * H / 16 when rows start on a block, else (H + 14) / 16 + 1 (tiling_gpu.c launches B times it) */
CLMSD_INLINE ulong clmsd_dx_row_blocks(ulong features)
{
    return features % 16 == 0 ? features / 16 : (features + 14) / 16 + 1;
}

/* clmsd_fused_dx_gpu on the u8 stream: a work-item per u8 block of a batch row, one Philox call
 * per sample for the block's features of the row: n <= 16 of them (all 16 but where the row starts
 * or ends inside the block) from feature h0, byte j0 of the block. The lanes are a window of 16
 * features of the row from ws = min(h0, H - 16), so that W's rows load as whole vectors inside the
 * row (a row of H < 16: its H features from 0); the block's features are lanes lo = h0 - ws ..
 * lo + n - 1, and lane i's keep bit is the block's byte i + j0 - lo, shifted there as a 16-bit
 * mask. */
CLMSD_INLINE void clmsd_fused_dx_u8(__global const float *g, ulong g_off, ulong ldg, __global const float *w,
                                    ulong w_off, __global float *dx, ulong dx_off, uint dx_type, ulong batch,
                                    ulong features, uint classes, uint samples, int averaged, float inv_samples,
                                    __global const uint *params, ulong row_offset, ulong seed, ulong step,
                                    int accumulate)
{
    ulong nb = clmsd_dx_row_blocks(features), i = get_global_id(0), b = i / nb;
    ulong e0 = (row_offset + b) * features, e1 = e0 + features, blk = (e0 >> 4) + (i - b * nb), first = blk << 4;
    if (b >= batch || first >= e1)
        return;
    uint j0 = first < e0 ? (uint)(e0 - first) : 0, n = (uint)(min(first + 16, e1) - first) - j0;
    ulong h0 = first + j0 - e0, ws = features < 16 ? 0 : min(h0, features - 16);
    uint lo = (uint)(h0 - ws), shift = 16 + j0 - lo, valid = ((1u << n) - 1) << lo;
    float16 t = -0.0f, acc = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        if (k == 0 || !averaged) {
            __global const float *gr = g + g_off + ((averaged ? 0 : (ulong)k * batch) + b) * ldg;
            __global const float *wr = w + w_off + ws;
            t = -0.0f;
            if (features >= 16)
                for (uint c = 0; c < classes; ++c)
                    t = fma((float16)gr[c], vload16(0, wr + (ulong)c * features), t);
            else
                for (uint c = 0; c < classes; ++c)
                    t = fma((float16)gr[c],
                            clmsd_load_short16(wr, (ulong)c * features, CLMSD_KERNEL_F32, (uint)features), t);
        }
        uint kept = clmsd_kept16(seed, step, k, blk, params[k]); /* bit j: byte j is kept */
        int16 keep = ((uint16)((kept << 16 >> shift) & valid) & CLMSD_LANE_BITS16) != (uint16)0;
        acc = select(acc, fma(t, (float16)as_float(params[samples + k]), acc), keep);
    }
    if (averaged)
        acc = acc * inv_samples;
    ulong o = dx_off + b * features + ws;
#define CLMSD_DX_STORE(j, lane) \
    if ((valid >> (j)) & 1u)    \
        clmsd_store_x(dx, o + (j), dx_type, acc.lane, accumulate);
    CLMSD_LANES16(CLMSD_DX_STORE)
#undef CLMSD_DX_STORE
}

/* dX[b, h] (+)= clmsd_fused_dx's sums: on v1 for 4 features of one batch row per work-item (their
 * words from one or two Philox blocks: clmsd_values_at); on u8 for the features of one u8 block
 * of the row (clmsd_fused_dx_u8) */
__kernel void clmsd_fused_dx_gpu(__global const float *g, ulong g_off, ulong ldg, __global const float *w, ulong w_off,
                                 __global float *dx, ulong dx_off, uint dx_type, ulong batch, ulong features,
                                 uint classes, uint samples, int averaged, float inv_samples,
                                 __global const uint *params, ulong row_offset, ulong seed, ulong step, uint stream,
                                 int accumulate)
{
    if (CLMSD_IS_U8(stream)) {
        clmsd_fused_dx_u8(g, g_off, ldg, w, w_off, dx, dx_off, dx_type, batch, features, classes, samples, averaged,
                          inv_samples, params, row_offset, seed, step, accumulate);
        return;
    }
    ulong hq = (features + 3) / 4, i = get_global_id(0), b = i / hq;
    if (b >= batch)
        return;
    ulong h0 = i % hq * 4, nh = min((ulong)4, features - h0), e = (row_offset + b) * features + h0;
    float4 t = -0.0f, acc = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        if (k == 0 || !averaged) {
            __global const float *gr = g + g_off + ((averaged ? 0 : (ulong)k * batch) + b) * ldg;
            t = -0.0f;
            for (uint c = 0; c < classes; ++c)
                t = fma((float4)gr[c], clmsd_load4(w + w_off + (ulong)c * features + h0, (uint)nh), t);
        }
        int4 keep = clmsd_values_at(seed, step, k, e, stream) >= (uint4)params[k];
        acc = select(acc, fma(t, (float4)as_float(params[samples + k]), acc), keep);
    }
    if (averaged)
        acc = acc * inv_samples;
    ulong o = dx_off + b * features + h0;
    clmsd_store_x(dx, o, dx_type, acc.s0, accumulate);
    if (nh > 1)
        clmsd_store_x(dx, o + 1, dx_type, acc.s1, accumulate);
    if (nh > 2)
        clmsd_store_x(dx, o + 2, dx_type, acc.s2, accumulate);
    if (nh > 3)
        clmsd_store_x(dx, o + 3, dx_type, acc.s3, accumulate);
}
