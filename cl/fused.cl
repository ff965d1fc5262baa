/* The fused engine: the head's GEMMs with the dropout masks regenerated from the stream inside
 * them, so the K dropped copies of X are never written. Every output is one work-item's
 * sequential sum in the canonical order of docs/canonical-order.md, with FP_CONTRACT OFF: the
 * result depends on the sizes only, never on the device, the work-group size or the tiling, and
 * equals clmsd_ref_head_exact_* on the host bit for bit.
 *
 * Rows are stacked: row n = k*B + b holds sample k of batch row b. With masked = 0 the same
 * kernels are plain GEMMs on one unmasked matrix (the averaged mask's Xbar, or predict's X). */
#pragma OPENCL FP_CONTRACT OFF

#define CLMSD_LOGIT_TILE 16 /* classes per work-item in the logits kernel */
#define CLMSD_DW_TILE 8     /* classes per work-item in the dW kernel */

/* Stream words of elements e .. e+3 that straddle at most two Philox blocks. */
typedef struct clmsd_words4 {
    philox4x32_ctr_t first, second;
    ulong first_block;
} clmsd_words4;

inline clmsd_words4 clmsd_words4_at(ulong seed, ulong step, uint k, ulong e, uint count)
{
    clmsd_words4 w;
    w.first_block = e >> 2;
    w.first = clmsd_stream_block(seed, step, k, w.first_block);
    w.second = ((e + count - 1) >> 2) != w.first_block ? clmsd_stream_block(seed, step, k, w.first_block + 1) : w.first;
    return w;
}

inline uint clmsd_words4_get(const clmsd_words4 *w, ulong e)
{
    return (e >> 2) == w->first_block ? w->first.v[e & 3] : w->second.v[e & 3];
}

/* Z[n, c] = sum_h xd_k[b, h] * W[c, h], h ascending from 0.0f. */
__kernel void clmsd_fused_logits(__global const float *x, ulong x_off, ulong ldx,
                                 __global const float *w, ulong w_off, __global float *z, ulong z_off,
                                 ulong batch, ulong features, uint classes, uint samples, int masked,
                                 __global const uint *params, ulong row_offset, ulong seed, ulong step)
{
    uint tiles = (classes + CLMSD_LOGIT_TILE - 1) / CLMSD_LOGIT_TILE;
    ulong i = get_global_id(0), n = i / tiles;
    if (n >= (ulong)samples * batch)
        return;
    uint c0 = (uint)(i % tiles) * CLMSD_LOGIT_TILE, count = min((uint)CLMSD_LOGIT_TILE, classes - c0);
    uint k = (uint)(n / batch);
    ulong b = n % batch;
    uint threshold = masked ? params[k] : 0u;
    float scale = masked ? as_float(params[samples + k]) : 1.0f;
    float acc[CLMSD_LOGIT_TILE];
    for (uint j = 0; j < CLMSD_LOGIT_TILE; ++j)
        acc[j] = 0.0f;
    __global const float *xr = x + x_off + b * ldx;
    __global const float *wt = w + w_off + (ulong)c0 * features;
    ulong e = (row_offset + b) * features;
    philox4x32_ctr_t u;
    for (ulong h = 0; h < features; ++h, ++e) {
        float v = xr[h];
        if (masked) {
            if (h == 0 || (e & 3) == 0)
                u = clmsd_stream_block(seed, step, k, e >> 2);
            v = u.v[e & 3] >= threshold ? v * scale : 0.0f;
        }
        for (uint j = 0; j < count; ++j)
            acc[j] = acc[j] + v * wt[j * features + h];
    }
    for (uint j = 0; j < count; ++j)
        z[z_off + n * classes + c0 + j] = acc[j];
}

/* dW[c, h] (+)= sum_n G[n, c] * xd_k[b, h], n = k*B + b ascending from 0.0f. One work-item owns
 * CLMSD_DW_TILE classes by 4 consecutive features. */
__kernel void clmsd_fused_dw(__global const float *g, ulong g_off, __global const float *x, ulong x_off, ulong ldx,
                             __global float *dw, ulong dw_off, ulong batch, ulong features, uint classes,
                             uint samples, int masked, __global const uint *params, ulong row_offset,
                             ulong seed, ulong step, int accumulate)
{
    ulong quads = (features + 3) / 4, i = get_global_id(0), ct = i / quads;
    uint tiles = (classes + CLMSD_DW_TILE - 1) / CLMSD_DW_TILE;
    if (ct >= tiles)
        return;
    ulong h0 = (i % quads) * 4;
    uint c0 = (uint)ct * CLMSD_DW_TILE, nc = min((uint)CLMSD_DW_TILE, classes - c0);
    uint nh = (uint)min((ulong)4, features - h0);
    float acc[CLMSD_DW_TILE][4];
    for (uint c = 0; c < CLMSD_DW_TILE; ++c)
        for (uint j = 0; j < 4; ++j)
            acc[c][j] = 0.0f;
    ulong rows = (ulong)samples * batch;
    for (ulong n = 0; n < rows; ++n) {
        uint k = (uint)(n / batch);
        ulong b = n % batch;
        float v[4];
        __global const float *xr = x + x_off + b * ldx + h0;
        if (masked) {
            ulong e = (row_offset + b) * features + h0;
            clmsd_words4 words = clmsd_words4_at(seed, step, k, e, nh);
            uint threshold = params[k];
            float scale = as_float(params[samples + k]);
            for (uint j = 0; j < nh; ++j)
                v[j] = clmsd_words4_get(&words, e + j) >= threshold ? xr[j] * scale : 0.0f;
        } else {
            for (uint j = 0; j < nh; ++j)
                v[j] = xr[j];
        }
        __global const float *gr = g + g_off + n * classes + c0;
        for (uint c = 0; c < nc; ++c) {
            float gc = gr[c];
            for (uint j = 0; j < nh; ++j)
                acc[c][j] = acc[c][j] + gc * v[j];
        }
    }
    for (uint c = 0; c < nc; ++c)
        for (uint j = 0; j < nh; ++j) {
            __global float *out = dw + dw_off + (ulong)(c0 + c) * features + h0 + j;
            *out = accumulate ? *out + acc[c][j] : acc[c][j];
        }
}

/* dX[b, h] (+)= sum_k keep_k s_k t_k[b, h], t_k = sum_c G[k*B + b, c] W[c, h] (c ascending from
 * 0.0f), k ascending from the k = 0 term. broadcast: one t from G[b] for every k, and the sum is
 * scaled by inv_samples (the averaged mask's gradient). */
__kernel void clmsd_fused_dx(__global const float *g, ulong g_off, __global const float *w, ulong w_off,
                             __global float *dx, ulong dx_off, ulong batch, ulong features, uint classes,
                             uint samples, int broadcast, float inv_samples, __global const uint *params,
                             ulong row_offset, ulong seed, ulong step, int accumulate)
{
    ulong quads = (features + 3) / 4, i = get_global_id(0), b = i / quads;
    if (b >= batch)
        return;
    ulong h0 = (i % quads) * 4;
    uint nh = (uint)min((ulong)4, features - h0);
    ulong e = (row_offset + b) * features + h0;
    float t[4], acc[4];
    for (uint k = 0; k < samples; ++k) {
        if (k == 0 || !broadcast) {
            __global const float *gr = g + g_off + ((broadcast ? 0 : (ulong)k * batch) + b) * classes;
            for (uint j = 0; j < nh; ++j)
                t[j] = 0.0f;
            for (uint c = 0; c < classes; ++c) {
                float gc = gr[c];
                __global const float *wr = w + w_off + (ulong)c * features + h0;
                for (uint j = 0; j < nh; ++j)
                    t[j] = t[j] + gc * wr[j];
            }
        }
        clmsd_words4 words = clmsd_words4_at(seed, step, k, e, nh);
        uint threshold = params[k];
        float scale = as_float(params[samples + k]);
        for (uint j = 0; j < nh; ++j) {
            float term = clmsd_words4_get(&words, e + j) >= threshold ? t[j] * scale : 0.0f;
            acc[j] = k == 0 ? term : acc[j] + term;
        }
    }
    for (uint j = 0; j < nh; ++j) {
        float v = broadcast ? acc[j] * inv_samples : acc[j];
        __global float *out = dx + dx_off + b * features + h0 + j;
        *out = accumulate ? *out + v : v;
    }
}
