/* SPDX-License-Identifier: MIT */
/* Host reference of the fused engine: the sums of cl/fused.cl (and cl/fused_gpu.cl), cl/head.cl
 * and the dropout sum replayed in fp32 in canonical order v2 (docs/canonical-order.md: explicit
 * fmaf, row blocks and their tree), with the same math (cl/clmsd_math.h), so the outputs are
 * bit-identical to CLMSD_ENGINE_FUSED's under either tiling. Built without floating-point
 * contraction (meson.build); needs FLT_EVAL_METHOD 0 (SSE, NEON: not x87). */
#include "clmsd_ref.h"
#include "../head_desc.h"
#include "../stream_desc.h"

#include "../../cl/clmsd_constants.h"
#include "../../cl/clmsd_loss.h"
#include "../../cl/clmsd_math.h"
#include "../../cl/clmsd_tree.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#if FLT_EVAL_METHOD != 0
#error "the exact reference needs fp32 evaluated in fp32 (FLT_EVAL_METHOD 0)"
#endif

#define CE CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY

/* what a call computes: the device's head modes (src/head.h) */
typedef enum mode { PREDICT, TRAIN, LOGITS, BACKWARD } mode;

typedef struct exact {
    const clmsd_head_desc *d;
    const clmsd_ref_head_exact_args *a;
    size_t B, H, C, N; /* N: stacked rows */
    uint32_t K, *params;
    float *xd, *z, *g, *rowloss, *part; /* part: one column's block sums */
    bool logits_mode;
} exact;

static float scale_of(const exact *x, uint32_t k)
{
    union {
        uint32_t u;
        float f;
    } bits = {x->params[x->K + k]};
    return bits.f;
}

static bool keep(const exact *x, uint32_t k, size_t b, size_t h)
{
    uint64_t e = (uint64_t)(x->a->row_offset + b) * x->H + h;
    return clmsd_ref_stream_value(x->d->stream, x->a->seed, x->a->step, k, e) >= x->params[k];
}

/* the dropped (or averaged) feature rows the GEMMs read */
static void dropped_rows(exact *x)
{
    const float *in = x->a->x;
    for (size_t b = 0; b < x->B; ++b)
        for (size_t h = 0; h < x->H; ++h) {
            float v = in[b * x->H + h], acc = -0.0f;
            for (uint32_t k = 0; k < x->K; ++k) {
                bool kept = keep(x, k, b, h);
                if (x->logits_mode) /* clmsd_dropout_sum with a broadcast x */
                    acc = kept ? fmaf(v, scale_of(x, k), acc) : acc;
                else
                    x->xd[((size_t)k * x->B + b) * x->H + h] = kept ? v * scale_of(x, k) : 0.0f;
            }
            if (x->logits_mode)
                x->xd[b * x->H + h] = acc * (float)(1.0 / x->K);
        }
}

/* clmsd_fused_logits: Z[n, c] = sum_h xd[n, h] w[c, h] */
static void logits(exact *x, const float *rows)
{
    for (size_t n = 0; n < x->N; ++n)
        for (size_t c = 0; c < x->C; ++c) {
            float acc = -0.0f;
            for (size_t h = 0; h < x->H; ++h)
                acc = fmaf(rows[n * x->H + h], x->a->w[c * x->H + h], acc);
            x->z[n * x->C + c] = acc;
        }
}

static float logit(const exact *x, size_t n, size_t c)
{
    float v = x->z[n * x->C + c];
    return x->a->bias ? v + x->a->bias[c] : v;
}

/* clmsd_head_loss_rows */
static void loss_rows(exact *x, uint32_t valid, bool grad)
{
    const clmsd_head_desc *d = x->d;
    float scale = clmsd__head_scale(d, d->batch), param = clmsd__head_loss_param(d);
    for (size_t n = 0; n < x->N; ++n) {
        size_t b = n % x->B;
        float *gr = x->g + n * x->C;
        if (d->loss == CE) {
            int32_t y = ((const int32_t *)x->a->target)[b];
            if (y < 0 || (size_t)y >= x->C) {
                x->rowloss[n] = 0.0f;
                for (size_t c = 0; c < x->C; ++c)
                    gr[c] = 0.0f;
                continue;
            }
            float m = -INFINITY, sum = -0.0f;
            for (size_t c = 0; c < x->C; ++c)
                m = fmaxf(m, logit(x, n, c));
            for (size_t c = 0; c < x->C; ++c)
                sum = sum + clmsd_exp(logit(x, n, c) - m);
            x->rowloss[n] = (m + clmsd_log(sum)) - logit(x, n, (size_t)y);
            if (grad) {
                float g_scale = clmsd_ce_scale(valid, clmsd__head_kprime(d)), inv_sum = clmsd_recip(sum);
                for (size_t c = 0; c < x->C; ++c) {
                    float p = clmsd_exp(logit(x, n, c) - m) * inv_sum;
                    gr[c] = (c == (size_t)y ? p - 1.0f : p) * g_scale;
                }
            }
            continue;
        }
        float total = -0.0f;
        for (size_t c = 0; c < x->C; ++c) {
            float v = logit(x, n, c), t = ((const float *)x->a->target)[b * x->C + c], dl;
            total = clmsd_loss_add((int)d->loss, total, v, t, param, &dl);
            gr[c] = dl * scale;
        }
        x->rowloss[n] = total;
    }
}

/* The v2 sum over the stacked rows of a column: block sums (batch rows ascending, then k), then
 * the tree over the call's blocks. m[n * ld] is row n's value; part has room for the blocks. */
static float block_tree_sum(const exact *x, const float *m, size_t ld, float *part)
{
    uint64_t off = x->a->row_offset, blocks = clmsd_block_count(off, x->B), samples = x->N / x->B;
    for (uint64_t s = 0; s < blocks; ++s) {
        uint64_t lo, hi;
        clmsd_block_rows(off, x->B, s, &lo, &hi);
        float acc = -0.0f;
        for (uint64_t b = lo; b < hi; ++b)
            for (uint64_t k = 0; k < samples; ++k)
                acc = acc + m[(k * x->B + b) * ld];
        part[s] = acc;
    }
    return clmsd_tree_sum(part, 1, clmsd_first_block(off), blocks);
}

/* clmsd_head_reduce_loss */
static float reduce_loss(const exact *x, uint32_t valid, float *part)
{
    float sum = block_tree_sum(x, x->rowloss, 1, part);
    return sum *
           (x->d->loss == CE ? clmsd_ce_scale(valid, clmsd__head_kprime(x->d)) : clmsd__head_scale(x->d, x->d->batch));
}

/* clmsd_head_mean_logits */
static void mean_logits(const exact *x, uint32_t samples, float inv, float *out, size_t rows)
{
    for (size_t i = 0; i < rows * x->C; ++i) {
        float acc = x->z[i];
        for (uint32_t k = 1; k < samples; ++k)
            acc = acc + x->z[(size_t)k * rows * x->C + i];
        out[i] = x->a->bias ? fmaf(acc, inv, x->a->bias[i % x->C]) : acc * inv;
    }
}

static void store(float *out, float v, int accumulate) { *out = accumulate ? *out + v : v; }

/* clmsd_fused_dw's block sums and clmsd_block_tree (and clmsd_head_bias_grad's db) */
static void weight_grads(const exact *x, float *part)
{
    const clmsd_ref_head_exact_args *a = x->a;
    uint64_t off = a->row_offset, blocks = clmsd_block_count(off, x->B), samples = x->N / x->B;
    for (size_t c = 0; c < x->C; ++c) {
        if (a->dbias)
            store(&a->dbias[c], block_tree_sum(x, x->g + c, x->C, part), a->accumulate);
        for (size_t h = 0; a->dw && h < x->H; ++h) {
            for (uint64_t s = 0; s < blocks; ++s) {
                uint64_t lo, hi;
                clmsd_block_rows(off, x->B, s, &lo, &hi);
                float acc = -0.0f; /* batch rows ascending, then k: the stacked row n = k*B + b */
                for (uint64_t b = lo; b < hi; ++b)
                    for (uint64_t k = 0; k < samples; ++k) {
                        size_t n = k * x->B + b;
                        acc = fmaf(x->g[n * x->C + c], x->xd[n * x->H + h], acc);
                    }
                part[s] = acc;
            }
            store(&a->dw[c * x->H + h], clmsd_tree_sum(part, 1, clmsd_first_block(off), blocks), a->accumulate);
        }
    }
}

/* clmsd_fused_backward's dX */
static void input_grad(const exact *x)
{
    const clmsd_ref_head_exact_args *a = x->a;
    for (size_t b = 0; b < x->B; ++b)
        for (size_t h = 0; h < x->H; ++h) {
            float t = -0.0f, acc = -0.0f;
            for (uint32_t k = 0; k < x->K; ++k) {
                if (k == 0 || !x->logits_mode) {
                    const float *gr = x->g + ((x->logits_mode ? 0 : (size_t)k * x->B) + b) * x->C;
                    t = -0.0f;
                    for (size_t c = 0; c < x->C; ++c)
                        t = fmaf(gr[c], a->w[c * x->H + h], t);
                }
                if (keep(x, k, b, h))
                    acc = fmaf(t, scale_of(x, k), acc);
            }
            store(&a->dx[b * x->H + h], x->logits_mode ? acc * (float)(1.0 / x->K) : acc, a->accumulate);
        }
}

static clmsd_status run(const clmsd_head_desc *d, const clmsd_ref_head_exact_args *a, mode m)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, d));
    bool train = m != PREDICT;
    if (!a || !a->x || !a->w || (m == TRAIN && !a->target && (a->loss || a->ignored || a->dx || a->dw || a->dbias)))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the exact reference needs x, w and target");
    if (m == BACKWARD && !a->dlogits)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the exact reference's backward needs dlogits");
    clmsd__stream s;
    clmsd_dropout_desc dd = clmsd__head_stream(d, a->seed, a->step, a->row_offset);
    CLMSD__TRY(clmsd__check_stream(NULL, &dd, &s));
    exact x = {.d = d,
               .a = a,
               .B = d->batch,
               .H = d->features,
               .C = d->classes,
               .K = d->samples,
               .logits_mode = d->combine == CLMSD_AVERAGE_LOGITS};
    x.N = train && !x.logits_mode ? (size_t)x.K * x.B : x.B;
    clmsd_status st = CLMSD_SUCCESS;
    x.params = malloc(2 * (size_t)x.K * sizeof *x.params);
    x.xd = malloc(x.N * x.H * sizeof *x.xd);
    x.z = malloc(x.N * x.C * sizeof *x.z);
    x.g = malloc(x.N * x.C * sizeof *x.g);
    x.rowloss = malloc(x.N * sizeof *x.rowloss);
    x.part = malloc(clmsd__head_max_blocks(d) * sizeof *x.part);
    if (!x.params || !x.xd || !x.z || !x.g || !x.rowloss || !x.part) {
        st = clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    clmsd__rate_table(d->stream, x.K, d->rates, d->rate, x.params);
    if (!train) { /* predict: X W^T + b */
        logits(&x, a->x);
        if (a->logits)
            mean_logits(&x, 1, 1.0f, a->logits, x.B);
        goto done;
    }
    dropped_rows(&x);
    if (m == BACKWARD) { /* G = the caller's dL/dZ, then the gradients as a train step's */
        memcpy(x.g, a->dlogits, x.N * x.C * sizeof *x.g);
        weight_grads(&x, x.part);
        if (a->dx)
            input_grad(&x);
        goto done;
    }
    logits(&x, x.xd);
    if (m == LOGITS) { /* every stacked row's Z + b, or the mean logits */
        if (a->logits)
            mean_logits(&x, 1, 1.0f, a->logits, x.N);
        goto done;
    }
    uint32_t valid = (uint32_t)x.B;
    if (d->loss == CE) {
        valid = 0;
        for (size_t b = 0; b < x.B; ++b) {
            int32_t y = ((const int32_t *)a->target)[b];
            valid += y >= 0 && (size_t)y < x.C;
        }
    }
    if (a->target) {
        loss_rows(&x, valid, true);
        if (a->loss)
            *a->loss = reduce_loss(&x, valid, x.part);
        if (a->ignored)
            *a->ignored = (uint32_t)x.B - valid;
    }
    if (a->logits)
        mean_logits(&x, x.logits_mode ? 1 : x.K, x.logits_mode ? 1.0f : (float)(1.0 / x.K), a->logits, x.B);
    if (a->target)
        weight_grads(&x, x.part);
    if (a->target && a->dx)
        input_grad(&x);
done:
    free(x.params);
    free(x.xd);
    free(x.z);
    free(x.g);
    free(x.rowloss);
    free(x.part);
    return st;
}

/* The pooled head (cl/pool.cl's orders): a = softmax(layer weights), P = sum_l a_l
 * dropout_l(X_l), the head above on P, then dX_l and the weights' gradient from its dP. */
typedef struct pooled {
    const clmsd_head_desc *d;
    const clmsd_ref_head_exact_args *a;
    size_t L, B, H;
    uint32_t threshold;
    float scale, *w, *p, *dp, *da;
} pooled;

static bool layer_keep(const pooled *q, size_t l, size_t b, size_t h)
{
    uint64_t e = (uint64_t)(q->a->row_offset + b) * q->H + h;
    return clmsd_ref_stream_value(q->d->stream, q->a->seed, q->a->step, CLMSD_LAYER_SAMPLE + (uint32_t)l, e) >=
           q->threshold;
}

static float layer_x(const pooled *q, size_t l, size_t b, size_t h) { return q->a->x[(l * q->B + b) * q->H + h]; }

static void layer_softmax(pooled *q)
{
    float m = -INFINITY, s = -0.0f;
    for (size_t l = 0; l < q->L; ++l)
        m = fmaxf(m, q->a->layer_weights[l]);
    for (size_t l = 0; l < q->L; ++l) {
        q->w[l] = clmsd_exp(q->a->layer_weights[l] - m);
        s = s + q->w[l];
    }
    float r = clmsd_recip(s);
    for (size_t l = 0; l < q->L; ++l)
        q->w[l] = q->w[l] * r;
}

static void pool(pooled *q, bool masked)
{
    for (size_t b = 0; b < q->B; ++b)
        for (size_t h = 0; h < q->H; ++h) {
            float acc = -0.0f;
            for (size_t l = 0; l < q->L; ++l) {
                if (!masked)
                    acc = fmaf(q->w[l], layer_x(q, l, b, h), acc);
                else if (layer_keep(q, l, b, h))
                    acc = fmaf(q->w[l], layer_x(q, l, b, h) * q->scale, acc);
            }
            q->p[b * q->H + h] = acc;
        }
}

static void pooled_backward(pooled *q)
{
    const clmsd_ref_head_exact_args *a = q->a;
    size_t L = q->L, B = q->B, H = q->H;
    for (size_t l = 0; a->dx && l < L; ++l)
        for (size_t b = 0; b < B; ++b)
            for (size_t h = 0; h < H; ++h) {
                bool kept = layer_keep(q, l, b, h);
                float v = kept ? (q->dp[b * H + h] * q->w[l]) * q->scale : 0.0f, *out = &a->dx[(l * B + b) * H + h];
                *out = !a->accumulate ? v : kept ? *out + v : *out;
            }
    if (!a->dlayer_weights)
        return;
    /* dA_l: per Philox block of the layer's stream (elements ascending, those in the call), a
     * chain from -0.0f; then the blocks' chains added in block order from -0.0f */
    uint64_t begin = (uint64_t)a->row_offset * H, end = begin + (uint64_t)B * H;
    float dot = -0.0f;
    for (size_t l = 0; l < L; ++l) {
        float da = -0.0f;
        for (uint64_t blk = begin / 4; blk <= (end - 1) / 4; ++blk) {
            float acc = -0.0f;
            for (uint64_t e = 4 * blk; e < 4 * blk + 4; ++e) {
                if (e < begin || e >= end)
                    continue;
                size_t b = (size_t)((e - begin) / H), h = (size_t)((e - begin) % H);
                if (layer_keep(q, l, b, h))
                    acc = fmaf(q->dp[b * H + h], layer_x(q, l, b, h) * q->scale, acc);
            }
            da = da + acc;
        }
        q->da[l] = da;
        dot = fmaf(q->w[l], da, dot);
    }
    for (size_t l = 0; l < L; ++l) {
        float v = q->w[l] * (q->da[l] - dot);
        a->dlayer_weights[l] = a->accumulate ? a->dlayer_weights[l] + v : v;
    }
}

static clmsd_status run_pooled(const clmsd_head_desc *d, const clmsd_ref_head_exact_args *a, mode m)
{
    bool train = m != PREDICT;
    if (!a || !a->x || !a->layer_weights)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the pooled exact reference needs x and layer_weights");
    pooled q = {.d = d, .a = a, .L = d->layers, .B = d->batch, .H = d->features};
    clmsd_stream_rate_params(d->stream, d->layer_rate, &q.threshold, &q.scale);
    size_t bh = q.B * q.H;
    bool back = (m == TRAIN || m == BACKWARD) && (a->dx || a->dlayer_weights);
    q.w = malloc(q.L * sizeof *q.w);
    q.p = malloc(bh * sizeof *q.p);
    q.dp = malloc(bh * sizeof *q.dp);
    q.da = malloc(q.L * sizeof *q.da);
    clmsd_status st = CLMSD_SUCCESS;
    if (!q.w || !q.p || !q.dp || !q.da) {
        st = clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    layer_softmax(&q);
    pool(&q, train);
    clmsd_head_desc inner = *d; /* the head on P */
    inner.layers = 0;
    clmsd_ref_head_exact_args e = *a;
    e.x = q.p;
    e.dx = back ? q.dp : NULL;
    for (size_t i = 0; back && a->accumulate && i < bh; ++i)
        q.dp[i] = -0.0f; /* as the device: dP accumulated onto the identity */
    CLMSD__TRY_GOTO(st, run(&inner, &e, m), done);
    if (back)
        pooled_backward(&q);
done:
    free(q.w);
    free(q.p);
    free(q.dp);
    free(q.da);
    return st;
}

/* every entry point: the descriptor checked, then the plain or the pooled head in mode m */
static clmsd_status call(const clmsd_head_desc *desc, const clmsd_ref_head_exact_args *args, mode m)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, desc));
    return desc->layers >= 2 ? run_pooled(desc, args, m) : run(desc, args, m);
}

clmsd_status clmsd_ref_head_exact_train_step(const clmsd_head_desc *desc, const clmsd_ref_head_exact_args *args)
{
    return call(desc, args, TRAIN);
}

clmsd_status clmsd_ref_head_exact_predict(const clmsd_head_desc *desc, const clmsd_ref_head_exact_args *args)
{
    return call(desc, args, PREDICT);
}

clmsd_status clmsd_ref_head_exact_logits(const clmsd_head_desc *desc, const clmsd_ref_head_exact_args *args)
{
    return call(desc, args, LOGITS);
}

clmsd_status clmsd_ref_head_exact_backward(const clmsd_head_desc *desc, const clmsd_ref_head_exact_args *args)
{
    return call(desc, args, BACKWARD);
}
