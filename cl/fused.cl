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
 * Rows are stacked: row n = k*B + b holds sample k of batch row b. W is read transposed, padded
 * and tiled (WT [CP / TW][H][TW], TW = min(CP, 32): a class tile's H rows are one contiguous
 * stream, not H strided rows on as many pages) and G has CP columns, so a tile of classes is one
 * contiguous vector load. CP is a multiple of CLMSD_CLASS_TILE (32), or 16 for heads of up to 16
 * classes: then only the first half of each tile is computed ("narrow"). */
#pragma OPENCL FP_CONTRACT OFF

/* WT[c / TW][h][c % TW] = W[c, h] for c < C, 0 in the padding; with a counter, the CE head's
 * valid ids too. One work-item per class tile and 16 features (no private array: pocl gives every
 * work-item of a group its own copy of one). */
__kernel void clmsd_transpose_pad(__global const float *w, ulong w_off, __global float *wt, ulong wt_off,
                                  ulong features, uint classes, uint cpad, __global const uint *target,
                                  ulong target_off, ulong batch, __global uint *counter, ulong counter_off)
{
    ulong i = get_global_id(0);
    if (counter && i == 0) /* the count of valid class ids, rather than a launch of its own */
        counter[counter_off] = clmsd_count_valid_ids(target + target_off, batch, classes);
    uint tw = min(cpad, (uint)CLMSD_CLASS_TILE);
    ulong groups = (features + 15) / 16, ct = i / groups, h0 = i % groups * 16;
    if (ct >= cpad / tw)
        return;
    uint c0 = (uint)ct * tw, nh = (uint)min((ulong)16, features - h0);
    /* the tile's 16-feature slice of W is tw row segments of 64 bytes: read from cache 16 times */
    __global const float *in = w + w_off + (ulong)c0 * features + h0;
    __global float *out = wt + wt_off + ((ulong)c0 * features + h0 * tw);
    for (uint f = 0; f < nh; ++f)
        for (uint c = 0; c < tw; ++c)
            out[f * tw + c] = c0 + c < classes ? in[(ulong)c * features + f] : 0.0f;
}

/* the first `count` (at most 32) classes of a tile, held in two float16 */
CLMSD_INLINE void clmsd_store_tile(__global float *z, ulong at, uint count, float16 lo, float16 hi)
{
    if (count >= CLMSD_CLASS_TILE) {
        vstore16(lo, 0, z + at);
        vstore16(hi, 1, z + at);
        return;
    }
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

/* element y0 + at - first + t of y (of type) for the elements at + t of [first, stop), zeros for
 * the others */
CLMSD_INLINE clmsd_float32 clmsd_load_run32(__global const float *y, ulong y0, uint type, ulong at, ulong first,
                                            ulong stop)
{
    clmsd_float32 r;
    if (at >= first && at + 32 <= stop) {
        r.lo = clmsd_load_x16(y, y0 + at - first, type);
        r.hi = clmsd_load_x16(y, y0 + at - first + 16, type);
        return r;
    }
    float v[32];
    for (uint t = 0; t < 32; ++t)
        v[t] = at + t >= first && at + t < stop ? clmsd_load_x(y, y0 + at + t - first, type) : 0.0f;
    r.lo = vload16(0, v);
    r.hi = vload16(1, v);
    return r;
}

/* element y0 + at - first + t of y (of type) (+)= v[t] for the elements at + t of [first, stop) */
CLMSD_INLINE void clmsd_store_run32(__global float *y, ulong y0, uint type, ulong at, ulong first, ulong stop,
                                    clmsd_float32 v, int accumulate)
{
    if (at >= first && at + 32 <= stop && !accumulate) {
        clmsd_store_x16(y, y0 + at - first, type, v.lo);
        clmsd_store_x16(y, y0 + at - first + 16, type, v.hi);
        return;
    }
    float out[32];
    vstore16(v.lo, 0, out);
    vstore16(v.hi, 1, out);
    for (ulong e = max(at, first); e < min(at + 32, stop); ++e)
        clmsd_store_x(y, y0 + e - first, type, out[e - at], accumulate);
}

/* u8: the values of the 32 elements of blocks i and i + 1 of clmsd_words32's 8 */
CLMSD_INLINE clmsd_run32 clmsd_run32_of_words(const uint *words, uint i)
{
    clmsd_run32 r;
    r.lo = clmsd_bytes16(words[i], words[8 + i], words[16 + i], words[24 + i]);
    r.hi = clmsd_bytes16(words[i + 1], words[9 + i], words[17 + i], words[25 + i]);
    return r;
}

/* u8: the values of lane j's (a sample's) blocks in a and b, 16 elements each */
CLMSD_INLINE clmsd_run32 clmsd_run32_lane(clmsd_philox8 a, clmsd_philox8 b, uint j)
{
    clmsd_run32 r;
    r.lo =
        clmsd_bytes16(clmsd_lane8(a.w[0], j), clmsd_lane8(a.w[1], j), clmsd_lane8(a.w[2], j), clmsd_lane8(a.w[3], j));
    r.hi =
        clmsd_bytes16(clmsd_lane8(b.w[0], j), clmsd_lane8(b.w[1], j), clmsd_lane8(b.w[2], j), clmsd_lane8(b.w[3], j));
    return r;
}

/* keep ? v * scale : 0.0f, lane by lane, keep = word >= threshold */
CLMSD_INLINE clmsd_float32 clmsd_drop_run32(clmsd_float32 v, clmsd_run32 u, uint threshold, float scale)
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
/* (named variables, not an array: pocl keeps arrays of vectors in memory) */
#define CLMSD_TILE_DECLARE(a)                                                                                        \
    float16 a##0l = -0.0f, a##0h = -0.0f, a##1l = -0.0f, a##1h = -0.0f, a##2l = -0.0f, a##2h = -0.0f, a##3l = -0.0f, \
            a##3h = -0.0f, a##4l = -0.0f, a##4h = -0.0f, a##5l = -0.0f, a##5h = -0.0f, a##6l = -0.0f, a##6h = -0.0f, \
            a##7l = -0.0f, a##7h = -0.0f
#define CLMSD_TILE_EACH(m, a) m(a, 0) m(a, 1) m(a, 2) m(a, 3) m(a, 4) m(a, 5) m(a, 6) m(a, 7)

/* one step of every row's chain: acc_j = fma(v(j), w, acc_j); the high half only when the tile's
 * second 16 classes hold one */
#define CLMSD_ROW_FMA(a, j)                            \
    {                                                  \
        float16 b_ = (float16)(CLMSD_TILE_V(j));       \
        a##j##l = fma(b_, CLMSD_TILE_W0, a##j##l);     \
        if (CLMSD_TILE_WIDE)                           \
            a##j##h = fma(b_, CLMSD_TILE_W1, a##j##h); \
    }

/* the first `count` (at most 32) classes of a tile into two float16, zeros past them */
CLMSD_INLINE void clmsd_load_tile(__global const float *z, ulong at, uint count, float16 *lo, float16 *hi)
{
    if (count >= CLMSD_CLASS_TILE) {
        *lo = vload16(0, z + at);
        *hi = vload16(1, z + at);
        return;
    }
    float in[CLMSD_CLASS_TILE];
    for (uint j = 0; j < CLMSD_CLASS_TILE; ++j)
        in[j] = j < count ? z[at + j] : 0.0f;
    *lo = vload16(0, in);
    *hi = vload16(1, in);
}

/* Stream runs (of 32 elements) per pass of the masked logits: 8 samples' dropped features of 128
 * elements, 4 KB, made once and used by every class tile */
#define CLMSD_LOGIT_RUNS 4

/* Z[k*B + b, c] = sum_h xd_k[b, h] * W[c, h], an fma chain h ascending from -0.0f, 8 rows at a
 * time: 8 samples of one batch row (masked), or 8 batch rows of x itself (plain, one sample).
 * Plain: one tile of 32 classes per work-item, the class tile the slowest index, so consecutive
 * work-items (one core's) share a W^T tile (H x 32 floats) in their cache. Masked: every class
 * tile per work-item, in passes of 128 elements: the dropped values of the 8 samples are made with
 * 16-wide compares and selects into a private array first, each stream word once (not once per
 * class tile: imagenet has 32), then each class tile runs over them as a register tile, its sums
 * paused in Z between passes (the chain's order is unchanged). */
__kernel void clmsd_fused_logits(__global const float *x, ulong x_off, uint x_type, __global const float *wt,
                                 ulong wt_off, __global float *z, ulong z_off, ulong batch, ulong features,
                                 uint classes, uint cpad, uint samples, int masked, __global const uint *params,
                                 ulong row_offset, ulong seed, ulong step, uint stream)
{
    bool wide = cpad >= CLMSD_CLASS_TILE;
    uint tiles = wide ? cpad / CLMSD_CLASS_TILE : 1, tw = wide ? CLMSD_CLASS_TILE : cpad;
    ulong i = get_global_id(0);
#define CLMSD_TILE_W0 w0
#define CLMSD_TILE_W1 w1
#define CLMSD_TILE_WIDE hi
#define CLMSD_ROW_STORE(a, j) \
    if (j < n)                \
        clmsd_store_tile(z, z_off + (zrow + j * zstride) * classes + c0, classes - c0, a##j##l, a##j##h);
    if (!masked) {
        ulong rows = (batch + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS, ct = i / rows;
        if (ct >= tiles)
            return;
        uint c0 = (uint)ct * CLMSD_CLASS_TILE;
        bool hi = wide && c0 + 16 < classes;                           /* the tile's second half holds a class */
        __global const float *wr = wt + wt_off + (ulong)c0 * features; /* tile ct: c0 = ct * tw */
        ulong b0 = i % rows * CLMSD_TILE_ROWS, zrow = b0, zstride = 1; /* output row j: zrow + j * zstride */
        uint n = (uint)min((ulong)CLMSD_TILE_ROWS, batch - b0);
        ulong xr = x_off + b0 * features, last = (n - 1) * features;
        CLMSD_TILE_DECLARE(acc);
#define CLMSD_TILE_V(j) clmsd_load_x(x, xr + min((ulong)(j)*features, last) + h, x_type)
        for (ulong h = 0; h < features; ++h) {
            float16 w0 = vload16(0, wr + h * tw), w1 = hi ? vload16(1, wr + h * tw) : w0;
            CLMSD_TILE_EACH(CLMSD_ROW_FMA, acc)
        }
#undef CLMSD_TILE_V
        CLMSD_TILE_EACH(CLMSD_ROW_STORE, acc)
        return;
    }
    ulong groups = (samples + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS, b = i % batch;
    if (i >= groups * batch)
        return;
    uint k0 = (uint)(i / batch) * CLMSD_TILE_ROWS, n = min((uint)CLMSD_TILE_ROWS, samples - k0);
    ulong zrow = (ulong)k0 * batch + b, zstride = batch;
    ulong xr = x_off + b * features;
    /* a pass starts on a stream block: 4 elements (v1) or 16 (u8, whose pass is 8 blocks) */
    ulong e0 = (row_offset + b) * features, e1 = e0 + features, qfirst = CLMSD_IS_U8(stream) ? e0 >> 4 << 2 : e0 >> 2;
    float xd[CLMSD_TILE_ROWS][CLMSD_LOGIT_RUNS * 32];
    uint u8w[CLMSD_TILE_ROWS][32]; /* u8: the pass's 8 blocks of each sample (clmsd_words32) */
    for (ulong qp = qfirst; qp <= (e1 - 1) >> 2; qp += 8 * CLMSD_LOGIT_RUNS) {
        for (uint j = 0; CLMSD_IS_U8(stream) && j < n; ++j)
            clmsd_words32(seed, step, k0 + j, qp >> 2, CLMSD_KERNEL_STREAM_U8, u8w[j]);
        for (uint r = 0; r < CLMSD_LOGIT_RUNS && 4 * (qp + 8 * r) < e1; ++r) {
            ulong q = qp + 8 * r;
            clmsd_float32 xv = clmsd_load_run32(x, xr, x_type, 4 * q, e0, e1);
            for (uint j = 0; j < CLMSD_TILE_ROWS; ++j) {
                /* samples past K are never stored: no Philox drawn for them */
                uint k = k0 + min(j, n - 1);
                clmsd_float32 d =
                    j < n ? clmsd_drop_run32(xv,
                                             CLMSD_IS_U8(stream) ? clmsd_run32_of_words(u8w[j], 2 * r)
                                                                 : clmsd_stream_run32(seed, step, k, (uint)q),
                                             params[k], as_float(params[samples + k]))
                          : xv;
                vstore16(d.lo, 2 * r, xd[j]);
                vstore16(d.hi, 2 * r + 1, xd[j]);
            }
        }
        ulong first = max(4 * qp, e0), stop = min(4 * qp + 32 * CLMSD_LOGIT_RUNS, e1);
        for (uint ct = 0; ct < tiles; ++ct) {
            uint c0 = ct * CLMSD_CLASS_TILE;
            bool hi = wide && c0 + 16 < classes;
            __global const float *wr = wt + wt_off + (ulong)c0 * features;
            CLMSD_TILE_DECLARE(acc);
            if (qp != qfirst) { /* the sums so far, paused in Z by the last pass */
#define CLMSD_ROW_LOAD(a, j) \
    if (j < n)               \
        clmsd_load_tile(z, z_off + (zrow + j * zstride) * classes + c0, classes - c0, &a##j##l, &a##j##h);
                CLMSD_TILE_EACH(CLMSD_ROW_LOAD, acc)
#undef CLMSD_ROW_LOAD
            }
            for (ulong e = first; e < stop; ++e) {
                ulong h = e - e0;
                uint t = (uint)(e - 4 * qp);
                float16 w0 = vload16(0, wr + h * tw), w1 = hi ? vload16(1, wr + h * tw) : w0;
#define CLMSD_TILE_V(j) xd[j][t]
                CLMSD_TILE_EACH(CLMSD_ROW_FMA, acc)
#undef CLMSD_TILE_V
            }
            CLMSD_TILE_EACH(CLMSD_ROW_STORE, acc)
        }
    }
#undef CLMSD_ROW_STORE
#undef CLMSD_TILE_W0
#undef CLMSD_TILE_W1
#undef CLMSD_TILE_WIDE
}

/* p[0 .. n-1] and zeros: the tail of a row never reads past it */
CLMSD_INLINE float4 clmsd_load4(__global const float *p, uint n)
{
    return n == 4 ? vload4(0, p) : (float4)(p[0], n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}

/* The v2 block sums of G's columns over batch rows [lo, hi) (b ascending, then k) for the `count`
 * classes of one tile, 16 classes per vector, stored to out[0 .. count-1] */
CLMSD_INLINE void clmsd_bias_block_tile(__global const float *g, ulong ldg, ulong batch, uint samples, ulong lo,
                                        ulong hi, uint count, __global float *out)
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

/* Stacked rows of one pass of the dW kernel: units of 8 samples of one batch row, 16 of them */
#define CLMSD_DW_UNITS 16

/* The v2 block sums of dW and db for block s: at part + s * count, dW's sums of G[k*B + b, c] *
 * xd_k[b, h] (averaged: G[b, c] * Xbar[b, h]) in the tiled layout of clmsd_block_tree_tiled, then
 * db's sums of G[k*B + b, c]; each an fma chain (db: a sum) from -0.0f over the block's batch rows
 * b ascending, then k ascending. The tree (clmsd_block_tree_tiled) then combines the blocks. One
 * work-item owns block s and 8 consecutive features for every class: it makes the dropped
 * features of up to 128 stacked rows once (eight samples' Philox blocks at a time) into a private
 * array, then runs each tile of 32 classes over them as a register tile (8 features by 32
 * classes, 16 fma per row of G loaded), so no stream word is drawn twice. Blocks of more stacked
 * rows take several passes, each tile's sums paused in `part` between them (the chain's order is
 * unchanged). */
__kernel void clmsd_fused_dw(__global const float *g, ulong g_off, ulong ldg, __global const float *x, ulong x_off,
                             uint x_type, __global float *part, ulong part_off, ulong count, ulong batch,
                             ulong features, uint classes, uint samples, int averaged, __global const uint *params,
                             ulong row_offset, ulong seed, ulong step, uint stream, int with_db)
{
    ulong octs = (features + 7) / 8, quads = (features + 3) / 4,
          tiles = (classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE;
    ulong i = get_global_id(0), blk = i / octs, o = i % octs;
    if (blk >= clmsd_block_count(row_offset, batch))
        return;
    ulong h0 = o * 8, lo, hi;
    clmsd_block_rows(row_offset, batch, blk, &lo, &hi);
    uint nh = (uint)min((ulong)8, features - h0), kgroups = averaged ? 1 : (samples + 7) / 8;
    bool wide = ldg >= CLMSD_CLASS_TILE, second = 2 * o + 1 < quads; /* the oct's second quad exists */
    ulong units = (hi - lo) * kgroups, gs = batch * ldg;
    __global float *pb = part + part_off + blk * count;
    /* xd[u][f][j]: feature h0 + f of stacked row j of unit u (sample kc + j of its batch row) */
    float xd[CLMSD_DW_UNITS][8][8];
    for (ulong u0 = 0; u0 < units; u0 += CLMSD_DW_UNITS) {
        uint nu = (uint)min((ulong)CLMSD_DW_UNITS, units - u0);
        for (uint u = 0; u < nu; ++u) {
            ulong b = lo + (u0 + u) / kgroups;
            uint kc = (uint)((u0 + u) % kgroups) * 8;
            ulong xr = x_off + b * features + h0;
            float xv[8];
            for (uint f = 0; f < 8; ++f)
                xv[f] = f < nh ? clmsd_load_x(x, xr + f, x_type) : 0.0f;
            if (averaged) {
                for (uint f = 0; f < 8; ++f)
                    xd[u][f][0] = xv[f];
                continue;
            }
            /* v1: feature f is word (off + f) of blocks q, q + 1, q + 2; u8: byte (off + f) % 4 of
             * word (off + f) / 4 of u8 blocks q, q + 1 */
            ulong e = (row_offset + b) * features + h0, q = CLMSD_IS_U8(stream) ? e >> 4 : e >> 2;
            uint off = (uint)(CLMSD_IS_U8(stream) ? e & 15 : e & 3),
                 nblk = CLMSD_IS_U8(stream) ? (off + nh + 15) / 16 : (off + nh + 3) / 4;
            uint tag = CLMSD_IS_U8(stream) ? CLMSD_U8_BLOCK_TAG : 0u;
            uint8 ks = (uint8)kc + CLMSD_LANES8;
            clmsd_philox8 u0b = clmsd_stream_block8(seed, step, ks, (uint8)(tag | (uint)q));
            clmsd_philox8 u1b = nblk > 1 ? clmsd_stream_block8(seed, step, ks, (uint8)(tag | (uint)(q + 1))) : u0b;
            clmsd_philox8 u2b = nblk > 2 ? clmsd_stream_block8(seed, step, ks, (uint8)((uint)q + 2)) : u1b;
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
            /* (the words come from an array, not a chain of ?: on vectors, which Oclgrind 21.10
             * evaluates wrongly) */
            uint8 w[12] = {u0b.w[0], u0b.w[1], u0b.w[2], u0b.w[3], u1b.w[0], u1b.w[1],
                           u1b.w[2], u1b.w[3], u2b.w[0], u2b.w[1], u2b.w[2], u2b.w[3]};
            /* clang-format on */
            for (uint f = 0; f < 8; ++f) {
                uint o = off + f;
                uint8 v = CLMSD_IS_U8(stream) ? (w[o >> 2] >> (uint8)(8 * (o & 3))) & (uint8)0xFFu : w[o];
                vstore8(select((float8)0.0f, xv[f] * scale, v >= threshold), 0, xd[u][f]);
            }
        }
        for (ulong ct = 0; ct < tiles; ++ct) {
            uint c0 = (uint)ct * CLMSD_CLASS_TILE;
            bool hi = wide && c0 + 16 < classes; /* the tile's second half holds a class */
            /* the tiled layout (clmsd_block_tree_tiled): 128 floats per quad of features, feature j of
             * the quad then class lane c at j*32 + c; the oct's two quads are consecutive */
            __global float *pw = pb + (ct * quads + 2 * o) * 128;
            CLMSD_TILE_DECLARE(a);
            if (u0 > 0) { /* the sums so far, paused here by the last pass */
#define CLMSD_ROW_LOAD(a, j) \
    if (j < 4 || second)     \
        a##j##l = vload16(0, pw + j * 32), a##j##h = vload16(1, pw + j * 32);
                CLMSD_TILE_EACH(CLMSD_ROW_LOAD, a)
#undef CLMSD_ROW_LOAD
            }
            for (uint u = 0; u < nu; ++u) {
                ulong b = lo + (u0 + u) / kgroups;
                uint kc = (uint)((u0 + u) % kgroups) * 8, nk = averaged ? 1 : min(8u, samples - kc);
                __global const float *gr = g + g_off + ((averaged ? 0 : (ulong)kc * batch) + b) * ldg + c0;
                for (uint j = 0; j < nk; ++j, gr += gs) {
                    float16 g0 = vload16(0, gr), g1 = hi ? vload16(1, gr) : g0;
#define CLMSD_TILE_V(f) xd[u][f][j]
#define CLMSD_TILE_W0 g0
#define CLMSD_TILE_W1 g1
#define CLMSD_TILE_WIDE hi
                    CLMSD_TILE_EACH(CLMSD_ROW_FMA, a)
#undef CLMSD_TILE_V
#undef CLMSD_TILE_W0
#undef CLMSD_TILE_W1
#undef CLMSD_TILE_WIDE
                }
            }
#define CLMSD_ROW_STORE(a, j) \
    if (j < 4 || second)      \
        vstore16(a##j##l, 0, pw + j * 32), vstore16(a##j##h, 1, pw + j * 32);
            CLMSD_TILE_EACH(CLMSD_ROW_STORE, a)
#undef CLMSD_ROW_STORE
        }
    }
    if (with_db && o == 0) /* the bias gradient's block sums, rather than a launch of their own */
        for (ulong ct = 0; ct < tiles; ++ct) {
            uint c0 = (uint)ct * CLMSD_CLASS_TILE;
            clmsd_bias_block_tile(g + g_off + c0, ldg, batch, averaged ? 1 : samples, lo, hi,
                                  min((uint)CLMSD_CLASS_TILE, classes - c0), pb + tiles * quads * 128 + c0);
        }
}

/* The v2 tree of the dW kernel's block sums (in place in part: block s of sum o at
 * part[s * stride + o]) into dW [classes, features], then db's n2 sums into db. dW's sums are in
 * the tiled layout [C/32][H/4][4][32]: sum o is class (o / (128 Q)) * 32 + o % 32 and feature
 * (o / 128 % Q) * 4 + o / 32 % 4, Q = ceil(features / 4); padding sums are not stored. One
 * work-item per 16 consecutive sums of dW (n1 / 16 of them: the tree on vectors, on a private
 * copy of up to 64 blocks, since block sums 2^k floats apart share one cache set and would evict
 * each other in place), then one per sum of db. */
__kernel void clmsd_block_tree_tiled(__global float *part, ulong part_off, ulong stride, ulong first_block,
                                     ulong blocks, __global float *dw, ulong dw_off, ulong n1, __global float *db,
                                     ulong db_off, ulong n2, uint classes, ulong features, int accumulate)
{
    ulong o = get_global_id(0), vectors = n1 / 16;
    if (o >= vectors) {
        o = o - vectors + n1;
        if (o >= n1 + n2)
            return;
        float v = clmsd_tree_sum(part + part_off + o, stride, first_block, blocks);
        __global float *out = db + db_off + (o - n1);
        *out = accumulate ? *out + v : v;
        return;
    }
    o *= 16;
    ulong quads = (features + 3) / 4, c0 = o / (128 * quads) * 32 + o % 32, h = o / 128 % quads * 4 + o / 32 % 4;
    if (c0 >= classes || h >= features)
        return;
    float v[16 * 64];
    if (blocks <= 64) {
        for (ulong s = 0; s < blocks; ++s)
            vstore16(vload16(0, part + part_off + o + s * stride), s, v);
        vstore16(clmsd_tree_sum16_private(v, 16, first_block, blocks), 0, v);
    } else {
        vstore16(clmsd_tree_sum16(part + part_off + o, stride, first_block, blocks), 0, v);
    }
    __global float *out = dw + dw_off + c0 * features + h;
    for (uint j = 0; j < 16 && c0 + j < classes; ++j, out += features)
        *out = accumulate ? *out + v[j] : v[j];
}

/* dX[b, h] (+)= sum over k ascending of keep_k s_k t_k, t_k = sum_c G[k*B + b, c] W[c, h] (an
 * fma chain, c ascending from -0.0f); the k sum from -0.0f, acc = keep_k ? fma(t_k, s_k, acc) : acc;
 * averaged: one t from G[b] for every k, and the sum times 1/K. One work-item owns one run of 32
 * stream elements of one row (runs_per_row of them per row: the first and last may be partial when
 * rows do not start on a block), so each Philox call serves 32 features of one sample. The t_k of 8
 * samples are one register tile (8 rows by 32 features): each W row segment loaded serves 16 fma. */
__kernel void clmsd_fused_dx(__global const float *g, ulong g_off, ulong ldg, __global const float *w, ulong w_off,
                             __global float *dx, ulong dx_off, uint dx_type, ulong batch, ulong features, uint classes,
                             uint samples, int averaged, float inv_samples, __global const uint *params,
                             ulong row_offset, ulong seed, ulong step, uint stream, int accumulate, ulong runs_per_row)
{
    /* the run is the slowest index: consecutive work-items share W's columns of the run (C x 32
     * floats) in their cache */
    ulong i = get_global_id(0), run = i / batch, b = i % batch;
    if (run >= runs_per_row)
        return;
    /* a run starts on a stream block: v1 runs are 8 blocks, u8 runs 2 (u8 blocks bu, bu + 1) */
    ulong e0 = (row_offset + b) * features, e1 = e0 + features;
    ulong q = (CLMSD_IS_U8(stream) ? e0 >> 4 << 2 : e0 >> 2) + run * 8, at = 4 * q;
    uint bu = (uint)(q >> 2);
    if (at >= e1)
        return;
    __global const float *wc = w + w_off;
    clmsd_float32 acc;
    acc.lo = acc.hi = -0.0f;
    /* acc (+)= keep_k ? t * s_k : nothing, for sample k */
#define CLMSD_DX_COMBINE(k, tlo, thi)                                                  \
    {                                                                                  \
        clmsd_run32 u_ = CLMSD_DX_RUN(k);                                              \
        uint threshold_ = params[k];                                                   \
        float16 sk_ = as_float(params[samples + (k)]);                                 \
        acc.lo = select(acc.lo, fma((tlo), sk_, acc.lo), u_.lo >= (uint16)threshold_); \
        acc.hi = select(acc.hi, fma((thi), sk_, acc.hi), u_.hi >= (uint16)threshold_); \
    }
#define CLMSD_DX_RUN(k) \
    (CLMSD_IS_U8(stream) ? clmsd_stream_run32_u8(seed, step, (k), bu) : clmsd_stream_run32(seed, step, (k), (uint)q))
    if (averaged) {
        clmsd_float32 t;
        __global const float *gr = g + g_off + b * ldg;
        t.lo = t.hi = -0.0f;
        for (uint c = 0; c < classes; ++c) {
            clmsd_float32 wv = clmsd_load_run32(wc, (ulong)c * features, CLMSD_KERNEL_F32, at, e0, e1);
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
            clmsd_float32 wv = clmsd_load_run32(wc, (ulong)c * features, CLMSD_KERNEL_F32, at, e0, e1);
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
        /* u8: the tile's 8 samples' two blocks in two Philox calls, a sample per lane */
        clmsd_philox8 ua, ub;
        if (CLMSD_IS_U8(stream)) {
            uint8 ks = (uint8)k0 + CLMSD_LANES8;
            ua = clmsd_stream_block8(seed, step, ks, (uint8)(CLMSD_U8_BLOCK_TAG | bu));
            ub = clmsd_stream_block8(seed, step, ks, (uint8)(CLMSD_U8_BLOCK_TAG | (bu + 1)));
        }
#undef CLMSD_DX_RUN
#define CLMSD_DX_RUN(k) \
    (CLMSD_IS_U8(stream) ? clmsd_run32_lane(ua, ub, (k)-k0) : clmsd_stream_run32(seed, step, (k), (uint)q))
#define CLMSD_ROW_COMBINE(a, j) \
    if (j < n)                  \
    CLMSD_DX_COMBINE(k0 + j, a##j##l, a##j##h)
        CLMSD_TILE_EACH(CLMSD_ROW_COMBINE, t)
#undef CLMSD_ROW_COMBINE
    }
#undef CLMSD_DX_RUN
#undef CLMSD_DX_COMBINE
    clmsd_store_run32(dx, dx_off + b * features, dx_type, at, e0, e1, acc, accumulate);
}
