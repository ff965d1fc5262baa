/* The fused engine: the head's GEMMs with the dropout masks regenerated from the stream inside
 * them, so the K dropped copies of X are never written. Every output is one work-item's
 * sequential sum in the canonical order of docs/canonical-order.md, with FP_CONTRACT OFF; vector
 * types only run independent outputs side by side. The result depends on the sizes only, never on
 * the device, the work-group size or the vector width, and equals clmsd_ref_head_exact_* on the
 * host bit for bit.
 *
 * Rows are stacked: row n = k*B + b holds sample k of batch row b. W is read transposed and padded
 * (WT [H, CP]) and G has CP columns, so a tile of classes is one contiguous vector load. CP is a
 * multiple of CLMSD_CLASS_TILE (32), or 16 for heads of up to 16 classes: then only the first half
 * of each tile is computed ("narrow"). */
#pragma OPENCL FP_CONTRACT OFF

#define CLMSD_CLASS_TILE 32

/* WT[h, c] = W[c, h] for c < C, 0 in the padding */
__kernel void clmsd_transpose_pad(__global const float *w, ulong w_off, __global float *wt, ulong wt_off,
                                  ulong features, uint classes, uint cpad)
{
    ulong i = get_global_id(0);
    if (i >= features * cpad)
        return;
    ulong h = i / cpad;
    uint c = (uint)(i % cpad);
    wt[wt_off + i] = c < classes ? w[w_off + (ulong)c * features + h] : 0.0f;
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

#define CLMSD_LOGIT_SAMPLES 4 /* samples of one batch row per work-item: each W^T row loaded once for 4 */

/* Z[k*B + b, c] = sum_h xd_k[b, h] * W[c, h], h ascending from 0.0f, for a tile of classes and up
 * to 4 samples of one batch row; masked = 0: x itself, one sample. */
__kernel void clmsd_fused_logits(__global const float *x, ulong x_off, __global const float *wt, ulong wt_off,
                                 __global float *z, ulong z_off, ulong batch, ulong features, uint classes,
                                 uint cpad, uint samples, int masked, __global const uint *params,
                                 ulong row_offset, ulong seed, ulong step)
{
    bool wide = cpad >= CLMSD_CLASS_TILE;
    uint tiles = wide ? cpad / CLMSD_CLASS_TILE : 1, groups = (samples + CLMSD_LOGIT_SAMPLES - 1) / CLMSD_LOGIT_SAMPLES;
    ulong i = get_global_id(0), b = i / ((ulong)tiles * groups);
    if (b >= batch)
        return;
    uint c0 = (uint)(i % tiles) * CLMSD_CLASS_TILE, k0 = (uint)(i / tiles % groups) * CLMSD_LOGIT_SAMPLES;
    uint nk = min((uint)CLMSD_LOGIT_SAMPLES, samples - k0);
    __global const float *xr = x + x_off + b * features;
    __global const float *wr = wt + wt_off + c0;
    /* four samples' accumulators as named vectors, so they stay in registers */
    float16 a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f, a20 = 0.0f, a21 = 0.0f, a30 = 0.0f, a31 = 0.0f;
    if (!masked) {
        for (ulong h = 0; h < features; ++h) {
            float v = xr[h];
            a00 = a00 + v * vload16(0, wr + h * cpad);
            if (wide)
                a01 = a01 + v * vload16(0, wr + h * cpad + 16);
        }
    } else {
        /* samples past K keep nothing */
#define CLMSD_THRESHOLD(s) ((s) < nk ? params[k0 + (s)] : 0xffffffffu)
#define CLMSD_SCALE(s) ((s) < nk ? as_float(params[samples + k0 + (s)]) : 0.0f)
        uint4 threshold = (uint4)(CLMSD_THRESHOLD(0), CLMSD_THRESHOLD(1), CLMSD_THRESHOLD(2), CLMSD_THRESHOLD(3));
        float4 scale = (float4)(CLMSD_SCALE(0), CLMSD_SCALE(1), CLMSD_SCALE(2), CLMSD_SCALE(3));
#undef CLMSD_THRESHOLD
#undef CLMSD_SCALE
        ulong e0 = (row_offset + b) * features, e1 = e0 + features;
        for (ulong q = e0 >> 2; q <= (e1 - 1) >> 2; q += 8) {
            uint words[CLMSD_LOGIT_SAMPLES][32]; /* words[s][j*8 + i]: word j of block q + i */
            for (uint s = 0; s < CLMSD_LOGIT_SAMPLES; ++s) {
                clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)(k0 + s), (uint8)((uint)q) + CLMSD_LANES8);
                for (int j = 0; j < 4; ++j)
                    vstore8(u.w[j], j, words[s]);
            }
            ulong stop = min(4 * q + 32, e1);
            for (ulong e = max(4 * q, e0); e < stop; ++e) {
                ulong h = e - e0;
                uint at = (uint)((e & 3) * 8 + (e >> 2) - q);
                uint4 word = (uint4)(words[0][at], words[1][at], words[2][at], words[3][at]);
                float4 v = select((float4)0.0f, xr[h] * scale, word >= threshold);
                float16 w0 = vload16(0, wr + h * cpad);
                a00 = a00 + v.s0 * w0, a10 = a10 + v.s1 * w0, a20 = a20 + v.s2 * w0, a30 = a30 + v.s3 * w0;
                if (wide) {
                    float16 w1 = vload16(0, wr + h * cpad + 16);
                    a01 = a01 + v.s0 * w1, a11 = a11 + v.s1 * w1, a21 = a21 + v.s2 * w1, a31 = a31 + v.s3 * w1;
                }
            }
        }
    }
    clmsd_store_tile(z, z_off + ((ulong)k0 * batch + b) * classes + c0, classes - c0, a00, a01);
    if (nk > 1)
        clmsd_store_tile(z, z_off + ((ulong)(k0 + 1) * batch + b) * classes + c0, classes - c0, a10, a11);
    if (nk > 2)
        clmsd_store_tile(z, z_off + ((ulong)(k0 + 2) * batch + b) * classes + c0, classes - c0, a20, a21);
    if (nk > 3)
        clmsd_store_tile(z, z_off + ((ulong)(k0 + 3) * batch + b) * classes + c0, classes - c0, a30, a31);
}

/* p[0 .. n-1] and zeros: the tail of a row never reads past it */
inline float4 clmsd_load4(__global const float *p, uint n)
{
    return n == 4 ? vload4(0, p) : (float4)(p[0], n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}

/* dW[c, h] (+)= sum over b ascending, then k ascending, of G[k*B + b, c] * xd_k[b, h]
 * (averaged: sum over b of G[b, c] * Xbar[b, h]). One work-item owns a tile of classes by 4
 * consecutive features, and draws the stream words of its 4 features for 8 samples at once. */
__kernel void clmsd_fused_dw(__global const float *g, ulong g_off, ulong ldg, __global const float *x, ulong x_off,
                             __global float *dw, ulong dw_off, ulong batch, ulong features, uint classes,
                             uint samples, int averaged, __global const uint *params, ulong row_offset,
                             ulong seed, ulong step, int accumulate)
{
    ulong quads = (features + 3) / 4, i = get_global_id(0), ct = i / quads;
    if (ct * CLMSD_CLASS_TILE >= classes)
        return;
    ulong h0 = (i % quads) * 4;
    uint c0 = (uint)ct * CLMSD_CLASS_TILE, nh = (uint)min((ulong)4, features - h0);
    bool wide = ldg >= CLMSD_CLASS_TILE;
    float16 a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f, a20 = 0.0f, a21 = 0.0f, a30 = 0.0f, a31 = 0.0f;
#define CLMSD_DW_ACCUMULATE(v, gr)                                                                     \
    {                                                                                                \
        float16 g0 = vload16(0, (gr) + c0);                                                          \
        a00 = a00 + (v).s0 * g0, a10 = a10 + (v).s1 * g0, a20 = a20 + (v).s2 * g0, a30 = a30 + (v).s3 * g0; \
        if (wide) {                                                                                  \
            float16 g1 = vload16(0, (gr) + c0 + 16);                                                 \
            a01 = a01 + (v).s0 * g1, a11 = a11 + (v).s1 * g1, a21 = a21 + (v).s2 * g1, a31 = a31 + (v).s3 * g1; \
        }                                                                                            \
    }
    for (ulong b = 0; b < batch; ++b) {
        float4 xv = clmsd_load4(x + x_off + b * features + h0, nh);
        if (averaged) {
            CLMSD_DW_ACCUMULATE(xv, g + g_off + b * ldg)
            continue;
        }
        ulong e = (row_offset + b) * features + h0, q = e >> 2;
        bool straddle = ((e + nh - 1) >> 2) != q;
        for (uint kc = 0; kc < samples; kc += 8) {
            uint8 ks = (uint8)kc + CLMSD_LANES8;
            clmsd_philox8 u0 = clmsd_stream_block8(seed, step, ks, (uint8)((uint)q));
            clmsd_philox8 u1 = straddle ? clmsd_stream_block8(seed, step, ks, (uint8)((uint)q + 1)) : u0;
            uint words[2][32]; /* words[block][j*8 + lane] */
            for (int j = 0; j < 4; ++j) {
                vstore8(u0.w[j], j, words[0]);
                vstore8(u1.w[j], j, words[1]);
            }
            for (uint lane = 0; lane < 8 && kc + lane < samples; ++lane) {
                uint k = kc + lane;
                uint4 word = (uint4)(words[(e >> 2) - q][(e & 3) * 8 + lane],
                                     words[((e + 1) >> 2) - q][((e + 1) & 3) * 8 + lane],
                                     words[((e + 2) >> 2) - q][((e + 2) & 3) * 8 + lane],
                                     words[((e + 3) >> 2) - q][((e + 3) & 3) * 8 + lane]);
                float4 xd = select((float4)0.0f, xv * as_float(params[samples + k]), word >= (uint4)params[k]);
                CLMSD_DW_ACCUMULATE(xd, g + g_off + ((ulong)k * batch + b) * ldg)
            }
        }
    }
#undef CLMSD_DW_ACCUMULATE
    float out[4][CLMSD_CLASS_TILE];
    vstore16(a00, 0, out[0]), vstore16(a01, 1, out[0]), vstore16(a10, 0, out[1]), vstore16(a11, 1, out[1]);
    vstore16(a20, 0, out[2]), vstore16(a21, 1, out[2]), vstore16(a30, 0, out[3]), vstore16(a31, 1, out[3]);
    for (uint j = 0; j < nh; ++j)
        for (uint c = 0; c < CLMSD_CLASS_TILE && c0 + c < classes; ++c) {
            __global float *o = dw + dw_off + (ulong)(c0 + c) * features + h0 + j;
            *o = accumulate ? *o + out[j][c] : out[j][c];
        }
}

inline float16 clmsd_load16(__global const float *p, uint n)
{
    if (n == 16)
        return vload16(0, p);
    float v[16];
    for (uint j = 0; j < 16; ++j)
        v[j] = j < n ? p[j] : 0.0f;
    return vload16(0, v);
}

/* dX[b, h] (+)= sum over k ascending of keep_k s_k t_k, t_k = sum_c G[k*B + b, c] W[c, h] (c
 * ascending from 0.0f); averaged: one t from G[b] for every k, and the sum times 1/K. One
 * work-item owns 16 consecutive features of one row; 8 Philox blocks cover them for one sample. */
__kernel void clmsd_fused_dx(__global const float *g, ulong g_off, ulong ldg, __global const float *w, ulong w_off,
                             __global float *dx, ulong dx_off, ulong batch, ulong features, uint classes,
                             uint samples, int averaged, float inv_samples, __global const uint *params,
                             ulong row_offset, ulong seed, ulong step, int accumulate)
{
    ulong groups = (features + 15) / 16, i = get_global_id(0), b = i / groups;
    if (b >= batch)
        return;
    ulong h0 = (i % groups) * 16;
    uint nh = (uint)min((ulong)16, features - h0);
    __global const float *wq = w + w_off + h0;
    ulong e = (row_offset + b) * features + h0, q = e >> 2;
    float16 t = 0.0f, acc = 0.0f;
    for (uint k = 0; k < samples; ++k) {
        if (k == 0 || !averaged) {
            __global const float *gr = g + g_off + ((averaged ? 0 : (ulong)k * batch) + b) * ldg;
            t = 0.0f;
            for (uint c = 0; c < classes; ++c)
                t = t + gr[c] * clmsd_load16(wq + (ulong)c * features, nh);
        }
        clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, (uint8)((uint)q) + CLMSD_LANES8);
        uint words[32]; /* words[j*8 + i]: word j of block q + i */
        for (int j = 0; j < 4; ++j)
            vstore8(u.w[j], j, words);
        uint threshold = params[k];
        int keep[16];
        for (uint j = 0; j < 16; ++j)
            keep[j] = words[((e + j) & 3) * 8 + ((e + j) >> 2) - q] >= threshold ? -1 : 0;
        float16 term = select((float16)0.0f, t * as_float(params[samples + k]), vload16(0, keep));
        acc = k == 0 ? term : acc + term;
    }
    float out[16];
    vstore16(averaged ? acc * inv_samples : acc, 0, out);
    for (uint j = 0; j < nh; ++j) {
        __global float *o = dx + dx_off + b * features + h0 + j;
        *o = accumulate ? *o + out[j] : out[j];
    }
}
