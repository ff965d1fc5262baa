/* SPDX-License-Identifier: MIT */
/* Host reference of the head, accumulating in double: the definition the engines are tested
 * against. Masks and scales are the stream's own (float), the rest is plain mathematics. */
#include "clmsd_ref.h"
#include "../head_desc.h"
#include "../stream_desc.h"
#include "../../cl/clmsd_constants.h"
#include "../../cl/clmsd_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_head {
    const clmsd_head_desc *d;
    const clmsd_ref_head_args *a;
    size_t B, H, C;
    uint32_t K;
    double *keep_scale; /* [K, B, H]: keep_k * s_k */
    double valid;       /* CE: number of ids in [0, C) */
    const double *xin;  /* the pooled head's P [B, H] in double, else NULL: a->x */
} ref_head;

/* loss of one row z [C] for batch row b, and dl/dz into g (unscaled: the caller scales). */
static double row_loss(const ref_head *r, size_t b, const double *z, double *g)
{
    const size_t C = r->C;
    if (r->d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY) {
        int32_t y = ((const int32_t *)r->a->target)[b];
        if (y < 0 || (size_t)y >= C) {
            memset(g, 0, C * sizeof *g);
            return 0.0;
        }
        double m = -INFINITY, sum = 0.0;
        for (size_t c = 0; c < C; ++c)
            m = fmax(m, z[c]);
        for (size_t c = 0; c < C; ++c)
            sum += exp(z[c] - m);
        for (size_t c = 0; c < C; ++c)
            g[c] = exp(z[c] - m) / sum - (c == (size_t)y);
        return m + log(sum) - z[y];
    }
    const float *t = (const float *)r->a->target + b * C;
    double total = 0.0, param = clmsd__head_loss_param(r->d);
    for (size_t c = 0; c < C; ++c)
        total += clmsd_ref_loss((int)r->d->loss, z[c], t[c], param, &g[c]);
    return total;
}

/* Xd_k[b, h] = keep ? x * s_k : 0, the float product the stream defines */
static double dropped(const ref_head *r, size_t k, size_t b, size_t h)
{
    float ks = (float)r->keep_scale[(k * r->B + b) * r->H + h];
    if (r->xin) /* the pooled rows are not a float of the caller's: plain mathematics */
        return r->xin[b * r->H + h] * ks;
    return ks != 0.0f ? (double)(r->a->x[b * r->H + h] * ks) : 0.0;
}

/* z = xrow W^T + bias */
static void logits_row(const ref_head *r, const double *xrow, double *z)
{
    for (size_t c = 0; c < r->C; ++c) {
        double acc = r->a->bias ? r->a->bias[c] : 0.0;
        for (size_t h = 0; h < r->H; ++h)
            acc += xrow[h] * r->a->w[c * r->H + h];
        z[c] = acc;
    }
}

/* The loss and gradient contribution of one dropped (or averaged) feature row xrow, weighted by
 * `weight`: dW += w g^T x, db += w g, dxrow = w g W. Returns the row's loss. */
static double row_step(const ref_head *r, size_t b, const double *xrow, double weight, double *z, double *g,
                       double *dxrow)
{
    const clmsd_ref_head_args *a = r->a;
    logits_row(r, xrow, z);
    double l = row_loss(r, b, z, g);
    for (size_t c = 0; c < r->C; ++c) {
        double gc = g[c] * weight;
        if (a->dbias)
            a->dbias[c] += gc;
        for (size_t h = 0; h < r->H; ++h) {
            if (a->dw)
                a->dw[c * r->H + h] += gc * xrow[h];
            dxrow[h] += gc * a->w[c * r->H + h];
        }
    }
    return l;
}

static clmsd_status run(const clmsd_head_desc *d, const clmsd_ref_head_args *a, bool dropout, const double *xin)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, d));
    if (!a || !a->x || !a->w || (dropout && !a->target))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the reference needs x, w and (with dropout) target");
    ref_head r = {d, a, d->batch, d->features, d->classes, dropout ? d->samples : 1, NULL, 0, xin};
    size_t B = r.B, H = r.H, C = r.C, K = r.K;
    clmsd__stream s;
    clmsd_dropout_desc dd = clmsd__head_stream(d, a->seed, a->step, a->row_offset);
    CLMSD__TRY(clmsd__check_stream(NULL, &dd, &s));
    clmsd_status st = CLMSD_SUCCESS;
    r.keep_scale = malloc(K * B * H * sizeof *r.keep_scale);
    double *xrow = malloc(H * sizeof *xrow), *dxrow = malloc(H * sizeof *dxrow);
    double *z = malloc(C * sizeof *z), *g = malloc(C * sizeof *g);
    float *ones = malloc(B * H * sizeof *ones), *ks = malloc(K * B * H * sizeof *ks);
    if (!r.keep_scale || !xrow || !dxrow || !z || !g || !ones || !ks) {
        st = clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < B * H; ++i)
        ones[i] = 1.0f;
    if (dropout) /* keep_k * s_k, as dropout of a matrix of ones */
        clmsd_ref_dropout_forward(&dd, ones, H, ks, H);
    for (size_t i = 0; i < K * B * H; ++i)
        r.keep_scale[i] = dropout ? ks[i] : 1.0;
    if (a->dw)
        memset(a->dw, 0, C * H * sizeof *a->dw);
    if (a->dbias)
        memset(a->dbias, 0, C * sizeof *a->dbias);
    if (a->dx)
        memset(a->dx, 0, B * H * sizeof *a->dx);
    if (d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && dropout)
        for (size_t b = 0; b < B; ++b) {
            int32_t y = ((const int32_t *)a->target)[b];
            r.valid += y >= 0 && (size_t)y < C;
        }
    /* loss normalisation: mean over valid rows (CE) or over B*C (BCE, MSE), and over K samples */
    double per = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? r.valid : (double)B * (double)C;
    double norm = per > 0 ? 1.0 / per : 0.0;
    bool average_logits = d->combine == CLMSD_AVERAGE_LOGITS || !dropout;
    double total = 0.0;
    if (a->logits)
        memset(a->logits, 0, B * C * sizeof *a->logits);
    for (size_t b = 0; b < B; ++b) {
        if (average_logits) {
            for (size_t h = 0; h < H; ++h) { /* Xbar = mean_k Xd_k */
                double acc = 0.0;
                for (size_t k = 0; k < K; ++k)
                    acc += dropped(&r, k, b, h);
                xrow[h] = acc / (double)K;
            }
            memset(dxrow, 0, H * sizeof *dxrow);
            if (dropout)
                total += row_step(&r, b, xrow, norm, z, g, dxrow);
            else
                logits_row(&r, xrow, z);
            if (a->logits)
                memcpy(a->logits + b * C, z, C * sizeof *z);
            if (a->dx) /* dX = dXbar * (1/K) sum_k keep_k s_k */
                for (size_t h = 0; h < H; ++h) {
                    double m = 0.0;
                    for (size_t k = 0; k < K; ++k)
                        m += r.keep_scale[(k * B + b) * H + h];
                    a->dx[b * H + h] = dxrow[h] * m / (double)K;
                }
            continue;
        }
        for (size_t k = 0; k < K; ++k) {
            for (size_t h = 0; h < H; ++h)
                xrow[h] = dropped(&r, k, b, h);
            memset(dxrow, 0, H * sizeof *dxrow);
            total += row_step(&r, b, xrow, norm / (double)K, z, g, dxrow);
            if (a->logits)
                for (size_t c = 0; c < C; ++c)
                    a->logits[b * C + c] += z[c] / (double)K;
            if (a->dx)
                for (size_t h = 0; h < H; ++h)
                    a->dx[b * H + h] += dxrow[h] * r.keep_scale[(k * B + b) * H + h];
        }
    }
    if (a->loss)
        *a->loss = average_logits ? total * norm : total * norm / (double)K;
    if (a->ignored)
        *a->ignored = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (uint32_t)(B - (size_t)r.valid) : 0;
done:
    free(r.keep_scale);
    free(xrow);
    free(dxrow);
    free(z);
    free(g);
    free(ones);
    free(ks);
    return st;
}

/* The pooled head: a = softmax(layer weights), P = sum_l a_l xd_l (xd_l = keep_l ? x_l * s : 0,
 * the stream's float product), the head on P, then dX_l = keep_l s a_l dP and
 * dw_l = a_l (dA_l - sum_j a_j dA_j) with dA_l = sum_{b,h} dP xd_l. Outputs in double. */
static clmsd_status run_pooled(const clmsd_head_desc *d, const clmsd_ref_head_args *a, bool dropout)
{
    if (!a || !a->x || !a->layer_weights)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the pooled reference needs x and layer_weights");
    size_t L = d->layers, B = d->batch, H = d->features, bh = B * H;
    uint32_t threshold;
    float scale;
    clmsd_stream_rate_params(d->stream, dropout ? d->layer_rate : 0.0, &threshold, &scale);
    double *w = malloc(L * sizeof *w), *da = malloc(L * sizeof *da), *p = calloc(bh, sizeof *p);
    double *dp = malloc(bh * sizeof *dp);
    float *xd = malloc(L * bh * sizeof *xd);
    unsigned char *kept = malloc(L * bh);
    clmsd_status st = CLMSD_SUCCESS;
    if (!w || !da || !p || !dp || !xd || !kept) {
        st = clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    double m = -INFINITY, sum = 0.0;
    for (size_t l = 0; l < L; ++l)
        m = fmax(m, a->layer_weights[l]);
    for (size_t l = 0; l < L; ++l)
        sum += w[l] = exp(a->layer_weights[l] - m);
    for (size_t l = 0; l < L; ++l)
        w[l] /= sum;
    for (size_t l = 0; l < L; ++l)
        for (size_t b = 0; b < B; ++b)
            for (size_t h = 0; h < H; ++h) {
                uint64_t e = (uint64_t)(a->row_offset + b) * H + h;
                size_t i = (l * B + b) * H + h;
                kept[i] = clmsd_ref_stream_value(d->stream, a->seed, a->step, CLMSD_LAYER_SAMPLE + (uint32_t)l, e) >=
                          threshold;
                xd[i] = kept[i] ? a->x[i] * scale : 0.0f;
                p[b * H + h] += w[l] * xd[i];
            }
    clmsd_head_desc inner = *d;
    inner.layers = 0;
    clmsd_ref_head_args e = *a;
    e.dx = dp;
    CLMSD__TRY_GOTO(st, run(&inner, &e, dropout, p), done);
    if (!dropout)
        goto done;
    double dot = 0.0;
    for (size_t l = 0; l < L; ++l) {
        da[l] = 0.0;
        for (size_t i = 0; i < bh; ++i) {
            da[l] += dp[i] * xd[l * bh + i];
            if (a->dx) /* keep_l s a_l dP */
                a->dx[l * bh + i] = kept[l * bh + i] ? dp[i] * w[l] * scale : 0.0;
        }
        dot += w[l] * da[l];
    }
    for (size_t l = 0; a->dlayer_weights && l < L; ++l)
        a->dlayer_weights[l] = w[l] * (da[l] - dot);
done:
    free(w);
    free(da);
    free(p);
    free(dp);
    free(xd);
    free(kept);
    return st;
}

clmsd_status clmsd_ref_head_train_step(const clmsd_head_desc *desc, const clmsd_ref_head_args *args)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, desc));
    return desc->layers >= 2 ? run_pooled(desc, args, true) : run(desc, args, true, NULL);
}

clmsd_status clmsd_ref_head_predict(const clmsd_head_desc *desc, const clmsd_ref_head_args *args)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, desc));
    return desc->layers >= 2 ? run_pooled(desc, args, false) : run(desc, args, false, NULL);
}
