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

/* The register tile of the fused GEMMs: 8 rows by 32 classes (or features), 16 float16
 * accumulators, which with the two vectors of the other operand and 8 broadcasts fit the 32
 * vector registers of AVX-512 (a GEMM micro-kernel: 16 fma per 2 vector loads). Row j of a tile
 * is sample k0 + j of one batch row (masked) or batch row b0 + j (plain); rows past the end
 * compute on a copy of the last row and are never stored. */
#define CLMSD_TILE_ROWS CLMSD_LOGIT_SAMPLES
/* (named variables, not an array: pocl keeps arrays of vectors in memory) */
#define CLMSD_TILE_DECLARE(a)                                                                                        \
    float16 a##0l = -0.0f, a##0h = -0.0f, a##1l = -0.0f, a##1h = -0.0f, a##2l = -0.0f, a##2h = -0.0f, a##3l = -0.0f, \
            a##3h = -0.0f, a##4l = -0.0f, a##4h = -0.0f, a##5l = -0.0f, a##5h = -0.0f, a##6l = -0.0f, a##6h = -0.0f, \
            a##7l = -0.0f, a##7h = -0.0f
#define CLMSD_TILE_EACH(m, a) m(a, 0) m(a, 1) m(a, 2) m(a, 3) m(a, 4) m(a, 5) m(a, 6) m(a, 7)

/* one step of every row's chain: acc_j = fma(v(j), w, acc_j); the high half only when wide */
#define CLMSD_ROW_FMA(a, j)                            \
    {                                                  \
        float16 b_ = (float16)(CLMSD_TILE_V(j));       \
        a##j##l = fma(b_, CLMSD_TILE_W0, a##j##l);     \
        if (CLMSD_TILE_WIDE)                           \
            a##j##h = fma(b_, CLMSD_TILE_W1, a##j##h); \
    }

/* Z[k*B + b, c] = sum_h xd_k[b, h] * W[c, h], an fma chain h ascending from -0.0f, for a tile of
 * classes and 8 rows: 8 samples of one batch row (masked), or 8 batch rows of x itself (one
 * sample). The masked path works in runs of 32 elements: the dropped values of the 8 samples are
 * made with 16-wide compares and selects into a private tile first, so the inner loop is only W^T
 * loads, broadcasts and multiply-adds. */
__kernel void clmsd_fused_logits(__global const float *x, ulong x_off, __global const float *wt, ulong wt_off,
                                 __global float *z, ulong z_off, ulong batch, ulong features, uint classes, uint cpad,
                                 uint samples, int masked, __global const uint *params, ulong row_offset, ulong seed,
                                 ulong step)
{
    bool wide = cpad >= CLMSD_CLASS_TILE;
    uint tiles = wide ? cpad / CLMSD_CLASS_TILE : 1;
    /* masked: groups of 8 samples per batch row; plain: groups of 8 batch rows */
    ulong groups = masked ? (samples + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS : 1;
    ulong rows = masked ? batch : (batch + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS;
    /* the class tile is the slowest index: consecutive work-items (one core's) share a W^T tile,
     * H x 32 floats, which then stays in its cache (imagenet's whole W^T is 8 MB) */
    ulong i = get_global_id(0), ct = i / (rows * groups);
    if (ct >= tiles)
        return;
    uint c0 = (uint)ct * CLMSD_CLASS_TILE;
    __global const float *wr = wt + wt_off + c0;
    CLMSD_TILE_DECLARE(acc);
#define CLMSD_TILE_W0 w0
#define CLMSD_TILE_W1 w1
#define CLMSD_TILE_WIDE wide
    ulong b0, zrow, zstride; /* output row j: zrow + j * zstride, for j < n */
    uint n;
    if (!masked) {
        b0 = i % rows * CLMSD_TILE_ROWS;
        n = (uint)min((ulong)CLMSD_TILE_ROWS, batch - b0);
        zrow = b0, zstride = 1;
        __global const float *xr = x + x_off + b0 * features;
        ulong last = (n - 1) * features;
#define CLMSD_TILE_V(j) xr[min((ulong)(j)*features, last) + h]
        for (ulong h = 0; h < features; ++h) {
            float16 w0 = vload16(0, wr + h * cpad), w1 = wide ? vload16(0, wr + h * cpad + 16) : w0;
            CLMSD_TILE_EACH(CLMSD_ROW_FMA, acc)
        }
#undef CLMSD_TILE_V
    } else {
        ulong b = i % batch;
        uint k0 = (uint)(i / batch % groups) * CLMSD_TILE_ROWS;
        n = min((uint)CLMSD_TILE_ROWS, samples - k0);
        zrow = (ulong)k0 * batch + b, zstride = batch;
        __global const float *xr = x + x_off + b * features;
        ulong e0 = (row_offset + b) * features, e1 = e0 + features;
        for (ulong q = e0 >> 2; q <= (e1 - 1) >> 2; q += 8) {
            clmsd_float32 xv = clmsd_load_run32(xr, 4 * q, e0, e1);
            float xd[CLMSD_TILE_ROWS][32];
            for (uint j = 0; j < CLMSD_TILE_ROWS; ++j) {
                /* samples past K are never stored: no Philox drawn for them */
                uint k = k0 + min(j, n - 1);
                clmsd_float32 d = j < n ? clmsd_drop_run32(xv, clmsd_stream_run32(seed, step, k, (uint)q), params[k],
                                                           as_float(params[samples + k]))
                                        : xv;
                vstore16(d.lo, 0, xd[j]);
                vstore16(d.hi, 1, xd[j]);
            }
            ulong first = max(4 * q, e0), stop = min(4 * q + 32, e1);
            for (ulong e = first; e < stop; ++e) {
                ulong h = e - e0;
                uint t = (uint)(e - 4 * q);
                float16 w0 = vload16(0, wr + h * cpad), w1 = wide ? vload16(0, wr + h * cpad + 16) : w0;
#define CLMSD_TILE_V(j) xd[j][t]
                CLMSD_TILE_EACH(CLMSD_ROW_FMA, acc)
#undef CLMSD_TILE_V
            }
        }
    }
#undef CLMSD_TILE_W0
#undef CLMSD_TILE_W1
#undef CLMSD_TILE_WIDE
#define CLMSD_ROW_STORE(a, j) \
    if (j < n)                \
        clmsd_store_tile(z, z_off + (zrow + j * zstride) * classes + c0, classes - c0, a##j##l, a##j##h);
    CLMSD_TILE_EACH(CLMSD_ROW_STORE, acc)
#undef CLMSD_ROW_STORE
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
 * averaged: one t from G[b] for every k, and the sum times 1/K. One work-item owns one run of 32
 * stream elements of one row (runs_per_row of them per row: the first and last may be partial when
 * rows do not start on a block), so each Philox call serves 32 features of one sample. The t_k of 8
 * samples are one register tile (8 rows by 32 features): each W row segment loaded serves 16 fma. */
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
    __global const float *wc = w + w_off;
    clmsd_float32 acc;
    acc.lo = acc.hi = -0.0f;
    /* acc (+)= keep_k ? t * s_k : nothing, for sample k */
#define CLMSD_DX_COMBINE(k, tlo, thi)                                                  \
    {                                                                                  \
        clmsd_run32 u_ = clmsd_stream_run32(seed, step, (k), (uint)q);                 \
        uint threshold_ = params[k];                                                   \
        float16 sk_ = as_float(params[samples + (k)]);                                 \
        acc.lo = select(acc.lo, fma((tlo), sk_, acc.lo), u_.lo >= (uint16)threshold_); \
        acc.hi = select(acc.hi, fma((thi), sk_, acc.hi), u_.hi >= (uint16)threshold_); \
    }
    if (averaged) {
        clmsd_float32 t;
        __global const float *gr = g + g_off + b * ldg;
        t.lo = t.hi = -0.0f;
        for (uint c = 0; c < classes; ++c) {
            clmsd_float32 wv = clmsd_load_run32(wc + (ulong)c * features, at, e0, e1);
            float gc = gr[c];
            t.lo = fma((float16)gc, wv.lo, t.lo);
            t.hi = fma((float16)gc, wv.hi, t.hi);
        }
        for (uint k = 0; k < samples; ++k)
            CLMSD_DX_COMBINE(k, t.lo, t.hi)
        acc.lo = acc.lo * inv_samples;
        acc.hi = acc.hi * inv_samples;
    }
    for (uint k0 = 0; !averaged && k0 < samples; k0 += CLMSD_TILE_ROWS) {
        /* row j of the tile: t of sample k0 + j (past K: a copy of the last, never used) */
        uint n = min((uint)CLMSD_TILE_ROWS, samples - k0);
        ulong gs = batch * ldg, glast = (n - 1) * gs;
        __global const float *g0 = g + g_off + ((ulong)k0 * batch + b) * ldg;
        CLMSD_TILE_DECLARE(t);
        for (uint c = 0; c < classes; ++c) {
            clmsd_float32 wv = clmsd_load_run32(wc + (ulong)c * features, at, e0, e1);
#define CLMSD_TILE_V(j) g0[min((ulong)(j)*gs, glast) + c]
#define CLMSD_TILE_W0 wv.lo
#define CLMSD_TILE_W1 wv.hi
#define CLMSD_TILE_WIDE 1
            CLMSD_TILE_EACH(CLMSD_ROW_FMA, t)
#undef CLMSD_TILE_V
#undef CLMSD_TILE_W0
#undef CLMSD_TILE_W1
#undef CLMSD_TILE_WIDE
        }
#define CLMSD_ROW_COMBINE(a, j) \
    if (j < n)                  \
    CLMSD_DX_COMBINE(k0 + j, a##j##l, a##j##h)
        CLMSD_TILE_EACH(CLMSD_ROW_COMBINE, t)
#undef CLMSD_ROW_COMBINE
    }
#undef CLMSD_DX_COMBINE
    clmsd_store_run32(dx + dx_off + b * features, at, e0, e1, acc, accumulate);
}
