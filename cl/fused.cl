/* SPDX-License-Identifier: MIT */
/* The fused engine: the head's GEMMs with the dropout masks regenerated from the stream inside
 * them, so the K dropped copies of X are never written. Every output is one work-item's
 * sum in canonical order v2 of docs/canonical-order.md (explicit fma, FP_CONTRACT OFF); vector
 * types only run independent outputs side by side. The result depends on the sizes only, never on
 * the device, the work-group size or the vector width, and equals clmsd_ref_head_exact_* on the
 * host bit for bit.
 *
 * This is the CPU tiling (pocl: wide vectors, few work-items, long loops); cl/fused_gpu.cl is the
 * GPU tiling of the same sums, to the same bits.
 *
 * Rows are stacked: row n = k*B + b holds sample k of batch row b. W is read transposed and padded
 * (WT [H, CP]) and G has CP columns, so a tile of classes is one contiguous vector load. CP is a
 * multiple of CLMSD_CLASS_TILE (32), or 16 for heads of up to 16 classes: then only the first half
 * of each tile is computed ("narrow"). */
#pragma OPENCL FP_CONTRACT OFF

/* WT[h, c] = W[c, h] for c < C, 0 in the padding; with a counter, the CE head's valid ids too */
__kernel void clmsd_transpose_pad(__global const float *w, ulong w_off, __global float *wt, ulong wt_off,
                                  ulong features, uint classes, uint cpad, __global const uint *target,
                                  ulong target_off, ulong batch, __global uint *counter, ulong counter_off)
{
    ulong i = get_global_id(0);
    if (counter && i == 0) /* the count of valid class ids, rather than a launch of its own */
        counter[counter_off] = clmsd_count_valid_ids(target + target_off, batch, classes);
    if (i >= features)
        return;
    /* one row of WT per work-item: no division per element */
    __global float *row = wt + wt_off + i * cpad;
    for (uint c = 0; c < cpad; ++c)
        row[c] = c < classes ? w[w_off + (ulong)c * features + i] : 0.0f;
}

/* the first `count` (at most 32) classes of a tile, held in two float16 */
inline void clmsd_store_tile(__global float *z, ulong at, uint count, float16 lo, float16 hi)
{
    float out[CLMSD_CLASS_TILE];
    vstore16(lo, 0, out);
    vstore16(hi, 1, out);
    for (uint j = 0; j < CLMSD_CLASS_TILE && j < count; ++j)
        z[at + j] = out[j];
}

/* 32 floats as two named vectors (pocl keeps arrays of vectors in memory) */
typedef struct clmsd_float32 {
    float16 lo, hi;
} clmsd_float32;

/* y[at - first + t] for the elements at + t of [first, stop), zeros for the others */
inline clmsd_float32 clmsd_load_run32(__global const float *y, ulong at, ulong first, ulong stop)
{
    clmsd_float32 r;
    if (at >= first && at + 32 <= stop) {
        r.lo = vload16(0, y + at - first);
        r.hi = vload16(1, y + at - first);
        return r;
    }
    float v[32];
    for (uint t = 0; t < 32; ++t)
        v[t] = at + t >= first && at + t < stop ? y[at + t - first] : 0.0f;
    r.lo = vload16(0, v);
    r.hi = vload16(1, v);
    return r;
}

/* y[at - first + t] (+)= v[t] for the elements at + t of [first, stop) */
inline void clmsd_store_run32(__global float *y, ulong at, ulong first, ulong stop, clmsd_float32 v, int accumulate)
{
    if (at >= first && at + 32 <= stop && !accumulate) {
        vstore16(v.lo, 0, y + at - first);
        vstore16(v.hi, 1, y + at - first);
        return;
    }
    float out[32];
    vstore16(v.lo, 0, out);
    vstore16(v.hi, 1, out);
    for (ulong e = max(at, first); e < min(at + 32, stop); ++e) {
        __global float *o = y + e - first;
        *o = accumulate ? *o + out[e - at] : out[e - at];
    }
}

/* keep ? v * scale : 0.0f, lane by lane, keep = word >= threshold */
inline clmsd_float32 clmsd_drop_run32(clmsd_float32 v, clmsd_run32 u, uint threshold, float scale)
{
    clmsd_float32 r;
    r.lo = select((float16)0.0f, v.lo * scale, u.lo >= (uint16)threshold);
    r.hi = select((float16)0.0f, v.hi * scale, u.hi >= (uint16)threshold);
    return r;
}

/* Z[k*B + b, c] = sum_h xd_k[b, h] * W[c, h], an fma chain h ascending from -0.0f, for a tile of classes and up
 * to 2 samples of one batch row; masked = 0: x itself, one sample. The masked path works in runs
 * of 32 elements: the dropped values of both samples are made with 8-wide compares and selects
 * first, so the inner loop is only broadcasts and multiply-adds, and its 8 accumulators and 4
 * W^T vectors fit in 16 AVX registers. */
__kernel void clmsd_fused_logits(__global const float *x, ulong x_off, __global const float *wt, ulong wt_off,
                                 __global float *z, ulong z_off, ulong batch, ulong features, uint classes, uint cpad,
                                 uint samples, int masked, __global const uint *params, ulong row_offset, ulong seed,
                                 ulong step)
{
    bool wide = cpad >= CLMSD_CLASS_TILE;
    uint tiles = wide ? cpad / CLMSD_CLASS_TILE : 1, groups = (samples + CLMSD_LOGIT_SAMPLES - 1) / CLMSD_LOGIT_SAMPLES;
    /* the class tile is the slowest index: consecutive work-items (one core's) share a W^T tile,
     * H x 32 floats, which then stays in its cache (imagenet's whole W^T is 8 MB) */
    ulong i = get_global_id(0), ct = i / ((ulong)batch * groups), b = i % batch;
    if (ct >= tiles)
        return;
    uint c0 = (uint)ct * CLMSD_CLASS_TILE, k0 = (uint)(i / batch % groups) * CLMSD_LOGIT_SAMPLES;
    uint nk = min((uint)CLMSD_LOGIT_SAMPLES, samples - k0);
    __global const float *xr = x + x_off + b * features;
    __global const float *wr = wt + wt_off + c0;
    float16 a00 = -0.0f, a01 = -0.0f, a10 = -0.0f, a11 = -0.0f;
    if (!masked) {
        for (ulong h = 0; h < features; ++h) {
            float v = xr[h];
            a00 = fma((float16)v, vload16(0, wr + h * cpad), a00);
            if (wide)
                a01 = fma((float16)v, vload16(0, wr + h * cpad + 16), a01);
        }
    } else {
        uint t0 = params[k0], t1 = nk > 1 ? params[k0 + 1] : 0xffffffffu;
        float s0 = as_float(params[samples + k0]), s1 = nk > 1 ? as_float(params[samples + k0 + 1]) : 0.0f;
        ulong e0 = (row_offset + b) * features, e1 = e0 + features;
        for (ulong q = e0 >> 2; q <= (e1 - 1) >> 2; q += 8) {
            clmsd_float32 xv = clmsd_load_run32(xr, 4 * q, e0, e1);
            clmsd_float32 d0 = clmsd_drop_run32(xv, clmsd_stream_run32(seed, step, k0, (uint)q), t0, s0);
            clmsd_float32 d1; /* a second sample past K is never stored: no Philox drawn for it */
            d1.lo = d1.hi = 0.0f;
            if (nk > 1)
                d1 = clmsd_drop_run32(xv, clmsd_stream_run32(seed, step, k0 + 1, (uint)q), t1, s1);
            float xd[2][32];
            vstore16(d0.lo, 0, xd[0]), vstore16(d0.hi, 1, xd[0]);
            vstore16(d1.lo, 0, xd[1]), vstore16(d1.hi, 1, xd[1]);
            ulong first = max(4 * q, e0), stop = min(4 * q + 32, e1);
            for (ulong e = first; e < stop; ++e) {
                ulong h = e - e0;
                uint t = (uint)(e - 4 * q);
                float v0 = xd[0][t], v1 = xd[1][t];
                float16 w0 = vload16(0, wr + h * cpad);
                a00 = fma((float16)v0, w0, a00);
                a10 = fma((float16)v1, w0, a10);
                if (wide) {
                    float16 w1 = vload16(0, wr + h * cpad + 16);
                    a01 = fma((float16)v0, w1, a01);
                    a11 = fma((float16)v1, w1, a11);
                }
            }
        }
    }
    clmsd_store_tile(z, z_off + ((ulong)k0 * batch + b) * classes + c0, classes - c0, a00, a01);
    if (nk > 1)
        clmsd_store_tile(z, z_off + ((ulong)(k0 + 1) * batch + b) * classes + c0, classes - c0, a10, a11);
}

/* p[0 .. n-1] and zeros: the tail of a row never reads past it */
inline float4 clmsd_load4(__global const float *p, uint n)
{
    return n == 4 ? vload4(0, p) : (float4)(p[0], n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}

/* The v2 block sums of G's columns over batch rows [lo, hi) (b ascending, then k) for the `count`
 * classes of one tile, 16 classes per vector, stored to out[0 .. count-1] */
inline void clmsd_bias_block_tile(__global const float *g, ulong ldg, ulong batch, uint samples, ulong lo, ulong hi,
                                  uint count, __global float *out)
{
    float16 s0 = -0.0f, s1 = -0.0f;
    for (ulong b = lo; b < hi; ++b)
        for (uint k = 0; k < samples; ++k) {
            __global const float *gr = g + ((ulong)k * batch + b) * ldg;
            s0 = s0 + vload16(0, gr);
            if (count > 16)
                s1 = s1 + vload16(1, gr);
        }
    float v[CLMSD_CLASS_TILE];
    vstore16(s0, 0, v);
    vstore16(s1, 1, v);
    for (uint c = 0; c < count; ++c)
        out[c] = v[c];
}

/* The v2 block sums of dW: part[s * count + c*H + h] = sum over the block's batch rows b
 * ascending, then k ascending, of G[k*B + b, c] * xd_k[b, h] as an fma chain from -0.0f (averaged:
 * G[b, c] * Xbar[b, h]); with db, part[s * count + C*H + c] likewise of G[k*B + b, c]. The tree
 * (clmsd_block_tree) then combines the blocks. One work-item owns block s, a tile of classes and
 * 4 consecutive features, and draws the stream words of its 4 features for 8 samples at once. */
__kernel void clmsd_fused_dw(__global const float *g, ulong g_off, ulong ldg, __global const float *x, ulong x_off,
                             __global float *part, ulong part_off, ulong count, ulong batch, ulong features,
                             uint classes, uint samples, int averaged, __global const uint *params, ulong row_offset,
                             ulong seed, ulong step, int with_db)
{
    ulong quads = (features + 3) / 4, tiles = (classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE;
    ulong i = get_global_id(0), blk = i / (quads * tiles), ct = i / quads % tiles;
    if (blk >= clmsd_block_count(row_offset, batch))
        return;
    ulong h0 = (i % quads) * 4, lo, hi;
    clmsd_block_rows(row_offset, batch, blk, &lo, &hi);
    uint c0 = (uint)ct * CLMSD_CLASS_TILE, nh = (uint)min((ulong)4, features - h0);
    bool wide = ldg >= CLMSD_CLASS_TILE;
    float16 a00 = -0.0f, a01 = -0.0f, a10 = -0.0f, a11 = -0.0f, a20 = -0.0f, a21 = -0.0f, a30 = -0.0f, a31 = -0.0f;
    /* the 4 features of the quad take G's row gr times the 4 lanes of v (AVX2 spills some of the
     * 16 accumulators; tiles that fit draw each stream word twice: docs/benchmarks.md) */
#define CLMSD_DW_ACCUMULATE(v, gr)                                                        \
    {                                                                                     \
        float16 g0 = vload16(0, (gr) + c0);                                               \
        a00 = fma((float16)((v).s0), g0, a00), a10 = fma((float16)((v).s1), g0, a10);     \
        a20 = fma((float16)((v).s2), g0, a20), a30 = fma((float16)((v).s3), g0, a30);     \
        if (wide) {                                                                       \
            float16 g1 = vload16(1, (gr) + c0);                                           \
            a01 = fma((float16)((v).s0), g1, a01), a11 = fma((float16)((v).s1), g1, a11); \
            a21 = fma((float16)((v).s2), g1, a21), a31 = fma((float16)((v).s3), g1, a31); \
        }                                                                                 \
    }
    for (ulong b = lo; b < hi; ++b) {
        float4 xv = clmsd_load4(x + x_off + b * features + h0, nh);
        if (averaged) {
            CLMSD_DW_ACCUMULATE(xv, g + g_off + b * ldg)
            continue;
        }
        /* feature j of the quad is word (off + j) of blocks q, q + 1 */
        ulong e = (row_offset + b) * features + h0, q = e >> 2;
        uint off = (uint)(e & 3);
        bool straddle = off + nh > 4;
        for (uint kc = 0; kc < samples; kc += 8) {
            uint8 ks = (uint8)kc + CLMSD_LANES8;
            clmsd_philox8 u0 = clmsd_stream_block8(seed, step, ks, (uint8)((uint)q));
            clmsd_philox8 u1 = straddle ? clmsd_stream_block8(seed, step, ks, (uint8)((uint)q + 1)) : u0;
            /* lane i: sample kc + i (past K: keeps nothing, never used) */
            uint8 threshold = 0xffffffffu;
            float8 scale = 0.0f;
/* clang-format off */
#define CLMSD_DW_PARAMS(lane, s)                                                                     \
    if (kc + (lane) < samples)                                                                       \
        threshold.s = params[kc + (lane)], scale.s = as_float(params[samples + kc + (lane)]);
            CLMSD_DW_PARAMS(0, s0) CLMSD_DW_PARAMS(1, s1) CLMSD_DW_PARAMS(2, s2) CLMSD_DW_PARAMS(3, s3)
            CLMSD_DW_PARAMS(4, s4) CLMSD_DW_PARAMS(5, s5) CLMSD_DW_PARAMS(6, s6) CLMSD_DW_PARAMS(7, s7)
#undef CLMSD_DW_PARAMS
            /* dj lane i: xd of feature j for sample kc + i. (The words come from an array, not a
             * chain of ?: on vectors, which Oclgrind 21.10 evaluates wrongly.) */
            uint8 w[8] = {u0.w[0], u0.w[1], u0.w[2], u0.w[3], u1.w[0], u1.w[1], u1.w[2], u1.w[3]};
            float8 d0 = select((float8)0.0f, xv.s0 * scale, w[off] >= threshold);
            float8 d1 = select((float8)0.0f, xv.s1 * scale, w[off + 1] >= threshold);
            float8 d2 = select((float8)0.0f, xv.s2 * scale, w[off + 2] >= threshold);
            float8 d3 = select((float8)0.0f, xv.s3 * scale, w[off + 3] >= threshold);
#define CLMSD_DW_SAMPLE(lane, s)                                                                     \
    if (kc + (lane) < samples)                                                                       \
        CLMSD_DW_ACCUMULATE(((float4)(d0.s, d1.s, d2.s, d3.s)), g + g_off + ((ulong)(kc + (lane)) * batch + b) * ldg)
            CLMSD_DW_SAMPLE(0, s0) CLMSD_DW_SAMPLE(1, s1) CLMSD_DW_SAMPLE(2, s2) CLMSD_DW_SAMPLE(3, s3)
            CLMSD_DW_SAMPLE(4, s4) CLMSD_DW_SAMPLE(5, s5) CLMSD_DW_SAMPLE(6, s6) CLMSD_DW_SAMPLE(7, s7)
#undef CLMSD_DW_SAMPLE
            /* clang-format on */
        }
    }
#undef CLMSD_DW_ACCUMULATE
    /* the tiled layout (clmsd_block_tree): 128 consecutive floats per work-item, feature j of the
     * quad then class lane c at j*32 + c, so the block sums leave in 8 vector stores */
    __global float *pb = part + part_off + blk * count, *pw = pb + (ct * quads + i % quads) * 128;
    vstore16(a00, 0, pw), vstore16(a01, 1, pw), vstore16(a10, 2, pw), vstore16(a11, 3, pw);
    vstore16(a20, 4, pw), vstore16(a21, 5, pw), vstore16(a30, 6, pw), vstore16(a31, 7, pw);
    if (with_db && h0 == 0) /* the bias gradient's block sums of the tile, rather than a launch of their own */
        clmsd_bias_block_tile(g + g_off + c0, ldg, batch, averaged ? 1 : samples, lo, hi,
                              min((uint)CLMSD_CLASS_TILE, classes - c0), pb + tiles * quads * 128 + c0);
}

/* dX[b, h] (+)= sum over k ascending of keep_k s_k t_k, t_k = sum_c G[k*B + b, c] W[c, h] (an
 * fma chain, c ascending from -0.0f); the k sum from -0.0f, acc = keep_k ? fma(t_k, s_k, acc) : acc;
 * averaged: one t from G[b] for every k, and the sum times 1/K. One
 * work-item owns one run of 32 stream elements of one row (runs_per_row of them per row: the
 * first and last may be partial when rows do not start on a block), so each Philox call serves
 * 32 features of one sample, and t, the sum and the W^T loads stay in 12 AVX registers. */
__kernel void clmsd_fused_dx(__global const float *g, ulong g_off, ulong ldg, __global const float *w, ulong w_off,
                             __global float *dx, ulong dx_off, ulong batch, ulong features, uint classes, uint samples,
                             int averaged, float inv_samples, __global const uint *params, ulong row_offset, ulong seed,
                             ulong step, int accumulate, ulong runs_per_row)
{
    /* the run is the slowest index: consecutive work-items share W's columns of the run (C x 32
     * floats) in their cache */
    ulong i = get_global_id(0), run = i / batch, b = i % batch;
    if (run >= runs_per_row)
        return;
    ulong e0 = (row_offset + b) * features, e1 = e0 + features, q = (e0 >> 2) + run * 8, at = 4 * q;
    if (at >= e1)
        return;
    clmsd_float32 t, acc;
    acc.lo = acc.hi = -0.0f;
    for (uint k = 0; k < samples; ++k) {
        if (k == 0 || !averaged) {
            __global const float *gr = g + g_off + ((averaged ? 0 : (ulong)k * batch) + b) * ldg;
            t.lo = t.hi = -0.0f;
            for (uint c = 0; c < classes; ++c) {
                clmsd_float32 wv = clmsd_load_run32(w + w_off + (ulong)c * features, at, e0, e1);
                float gc = gr[c];
                t.lo = fma((float16)gc, wv.lo, t.lo);
                t.hi = fma((float16)gc, wv.hi, t.hi);
            }
        }
        clmsd_run32 u = clmsd_stream_run32(seed, step, k, (uint)q);
        uint threshold = params[k];
        float16 sk = as_float(params[samples + k]);
        acc.lo = select(acc.lo, fma(t.lo, sk, acc.lo), u.lo >= (uint16)threshold);
        acc.hi = select(acc.hi, fma(t.hi, sk, acc.hi), u.hi >= (uint16)threshold);
    }
    if (averaged) {
        acc.lo = acc.lo * inv_samples;
        acc.hi = acc.hi * inv_samples;
    }
    clmsd_store_run32(dx + dx_off + b * features, at, e0, e1, acc, accumulate);
}
