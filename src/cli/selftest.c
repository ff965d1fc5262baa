/* SPDX-License-Identifier: MIT */
/* `clmsd selftest`: on each device, the Philox known answers, the golden stream words, dropout over
 * odd shapes bit for bit against the host reference, and the head against its double reference. */
#include "golden.h"
#include "cli.h"

#include <clmsd.h>
#include <clmsd_ref.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check {
    clmsd_context *ctx;
    int failures;
    char first[512];
    /* the matrix: what each family of checks found */
    bool kat_ok, dropout_ok, fused_ok, optim_ok;
    double clblast_ratio;           /* largest error of the CLBlast engine over its tolerance */
    uint64_t mask_hash, fused_hash; /* FNV-1a of every device output, to compare devices */
    bool denormals;
} check;

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static void fail(check *c, const char *fmt, const char *detail)
{
    if (c->failures++ == 0)
        snprintf(c->first, sizeof c->first, fmt, detail);
}

static cl_mem upload(check *c, const void *data, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(c->ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, &err);
    return err == CL_SUCCESS ? m : NULL;
}

static bool download(check *c, cl_mem m, void *out, size_t bytes)
{
    return clEnqueueReadBuffer(clmsd_context_queue(c->ctx), m, CL_TRUE, 0, bytes, out, 0, NULL, NULL) == CL_SUCCESS;
}

static bool words(check *c, uint64_t seed, uint64_t step, uint32_t k, uint32_t block, uint32_t out[4])
{
    cl_mem m = upload(c, NULL, 16);
    bool ok = m && clmsd_stream_words(c->ctx, seed, step, k, block, 1, m, 0, 0, NULL, NULL) == CLMSD_SUCCESS &&
              download(c, m, out, 16);
    if (m)
        clReleaseMemObject(m);
    return ok;
}

static void check_known_answers(check *c)
{
    int before = c->failures;
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_kats); ++i) {
        const clmsd_golden_kat *g = &clmsd_golden_kats[i];
        uint32_t out[4];
        /* a Philox input is a stream block: ctr = {block, k, step lo, step hi}, key = seed */
        bool ok = words(c, (uint64_t)g->key[1] << 32 | g->key[0], (uint64_t)g->ctr[3] << 32 | g->ctr[2], g->ctr[1],
                        g->ctr[0], out);
        if (!ok || memcmp(out, g->out, sizeof out))
            fail(c, "Philox4x32-10 known answer %s differs", i == 0 ? "0" : i == 1 ? "1" : "2");
    }
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_words); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_words[i];
        uint32_t out[4];
        if (!words(c, g->seed, g->step, g->k, (uint32_t)(g->e >> 2), out) || out[g->e & 3] != g->u)
            fail(c, "%s", "a golden stream word differs");
    }
    c->kat_ok = c->failures == before;
}

typedef struct dropout_case {
    size_t rows, cols, ldx, ldy, x_off, y_off, row_offset;
    uint32_t samples;
    double rate;
    bool per_sample;
} dropout_case;

static void check_dropout(check *c, const dropout_case *t)
{
    double rates[64];
    for (uint32_t k = 0; k < t->samples && k < 64; ++k)
        rates[k] = 0.1 * (double)(k % 5 + 1);
    clmsd_dropout_desc d = {.seed = 1234567,
                            .step = 89,
                            .samples = t->samples,
                            .rates = t->per_sample ? rates : NULL,
                            .rate = t->rate,
                            .rows = t->rows,
                            .cols = t->cols,
                            .row_offset = t->row_offset};
    size_t nx = t->x_off + t->rows * t->ldx, ny = t->y_off + t->samples * t->rows * t->ldy;
    float *x = malloc(nx * sizeof *x), *y = calloc(ny, sizeof *y), *yref = calloc(ny, sizeof *y);
    float *dx = malloc(nx * sizeof *dx), *dxref = malloc(nx * sizeof *dx);
    size_t nm = t->samples * t->rows * t->cols;
    uint8_t *mask = malloc(nm), *mref = malloc(nm);
    for (size_t i = 0; i < nx; ++i)
        x[i] = dx[i] = dxref[i] = (float)((i * 2654435761u) % 1000) / 250.0f - 2.0f;
    memcpy(yref, y, ny * sizeof *y);
    cl_mem bx = upload(c, x, nx * sizeof *x), by = upload(c, y, ny * sizeof *y), bdx = upload(c, dx, nx * sizeof *dx);
    cl_mem bm = upload(c, NULL, nm);
    bool ok = bx && by && bdx && bm;
    ok = ok && clmsd_dropout_forward(c->ctx, &d, bx, t->x_off, t->ldx, by, t->y_off, t->ldy, 0, NULL, NULL) == 0;
    ok = ok && clmsd_dropout_mask(c->ctx, &d, bm, 0, 0, NULL, NULL) == 0;
    ok = ok && clmsd_dropout_backward(c->ctx, &d, by, t->y_off, t->ldy, bdx, t->x_off, t->ldx, 1, 0, NULL, NULL) == 0;
    ok = ok && download(c, by, y, ny * sizeof *y) && download(c, bm, mask, nm) && download(c, bdx, dx, nx * sizeof *dx);
    if (!ok) {
        fail(c, "dropout call failed: %s", clmsd_context_last_error(c->ctx));
        c->dropout_ok = false;
    } else {
        c->mask_hash = fnv(fnv(fnv(c->mask_hash, y, ny * sizeof *y), mask, nm), dx, nx * sizeof *dx);
        int before = c->failures;
        clmsd_ref_dropout_forward(&d, x + t->x_off, t->ldx, yref + t->y_off, t->ldy);
        clmsd_ref_dropout_mask(&d, mref);
        clmsd_ref_dropout_backward(&d, yref + t->y_off, t->ldy, dxref + t->x_off, t->ldx, 1);
        if (memcmp(y, yref, ny * sizeof *y))
            fail(c, "%s", "dropout forward differs from the host reference");
        if (memcmp(mask, mref, nm))
            fail(c, "%s", "dropout mask differs from the host reference");
        if (memcmp(dx, dxref, nx * sizeof *dx))
            fail(c, "%s", "dropout backward differs from the host reference");
        c->dropout_ok &= c->failures == before;
    }
    cl_mem all[] = {bx, by, bdx, bm};
    for (int i = 0; i < 4; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
    free(x);
    free(y);
    free(yref);
    free(dx);
    free(dxref);
    free(mask);
    free(mref);
}

/* Largest |device - reference| / (n * FLT_EPSILON * max|reference|) over an array: <= 1 passes. */
static double error_ratio(const float *dev, const double *ref, size_t count, double terms)
{
    double mag = 1e-30, err = 0.0;
    for (size_t i = 0; i < count; ++i)
        mag = fmax(mag, fabs(ref[i]));
    for (size_t i = 0; i < count; ++i)
        err = fmax(err, isnan(dev[i]) ? INFINITY : fabs(dev[i] - ref[i]));
    return err / (2.0 * terms * FLT_EPSILON * mag);
}

/* The same bits; on a device without fma in hardware (no CL_FP_FMA: Mesa's llvmpipe, whose software
 * fma gives fma(+0, -x, +0) = -0) +0 and -0 count as equal. */
static bool same_floats(const float *a, const float *b, size_t n, bool zero_sign_free)
{
    for (size_t i = 0; i < n; ++i)
        if (memcmp(&a[i], &b[i], 4) && !(zero_sign_free && a[i] == 0.0f && b[i] == 0.0f))
            return false;
    return true;
}

/* One head call: its host inputs (x holds L layers of B rows of H at row_stride; dense_x the same
 * rows packed, for the exact reference), and where its outputs go in one float array, the
 * device's (out) and the exact reference's (ref) alike. */
typedef struct head_call {
    const clmsd_head_desc *d;
    uint64_t seed, step;
    size_t row_offset, row_stride, x_floats;
    float *x, *dense_x, *w, *bias, *layer_weights, *tf, *out, *ref;
    int32_t *ids;
    size_t loss, logits, dw, dbias, dlayer, dx, floats; /* offsets in out and ref */
} head_call;

static void head_call_free(head_call *t)
{
    float *all[] = {t->x, t->dense_x, t->w, t->bias, t->layer_weights, t->tf, t->out, t->ref};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        free(all[i]);
    free(t->ids);
}

/* A call of head d with inputs smooth and of both signs (x, W), a ramp (b), float targets in
 * [0, 1] and class ids with every fourth ignored; x's rows row_stride apart (0: H). */
static bool head_call_make(head_call *t, const clmsd_head_desc *d, uint64_t seed, uint64_t step, size_t row_offset,
                           size_t row_stride)
{
    size_t B = d->batch, H = d->features, C = d->classes, L = d->layers >= 2 ? d->layers : 1;
    size_t stride = row_stride ? row_stride : H;
    *t = (head_call){.d = d, .seed = seed, .step = step, .row_offset = row_offset, .row_stride = row_stride};
    t->x_floats = L * B * stride;
    t->loss = 0;
    t->logits = 1;
    t->dw = t->logits + B * C;
    t->dbias = t->dw + C * H;
    t->dlayer = t->dbias + C;
    t->dx = t->dlayer + (L > 1 ? L : 0);
    t->floats = t->dx + L * B * H;
    t->x = malloc(t->x_floats * sizeof *t->x);
    t->dense_x = malloc(L * B * H * sizeof *t->dense_x);
    t->w = malloc(C * H * sizeof *t->w);
    t->bias = malloc(C * sizeof *t->bias);
    t->layer_weights = malloc(L * sizeof *t->layer_weights);
    t->tf = malloc(B * C * sizeof *t->tf);
    t->ids = malloc(B * sizeof *t->ids);
    t->out = malloc(t->floats * sizeof *t->out);
    t->ref = malloc(t->floats * sizeof *t->ref);
    if (!t->x || !t->dense_x || !t->w || !t->bias || !t->layer_weights || !t->tf || !t->ids || !t->out || !t->ref) {
        head_call_free(t);
        return false;
    }
    for (size_t i = 0; i < t->x_floats; ++i)
        t->x[i] = sinf((float)i);
    for (size_t i = 0; i < L * B; ++i)
        memcpy(t->dense_x + i * H, t->x + i * stride, H * sizeof *t->x);
    for (size_t i = 0; i < C * H; ++i)
        t->w[i] = 0.2f * cosf((float)i * 0.7f);
    for (size_t i = 0; i < C; ++i)
        t->bias[i] = 0.1f * (float)i;
    for (size_t l = 0; l < L; ++l)
        t->layer_weights[l] = 0.4f * sinf((float)l + 1.0f);
    for (size_t i = 0; i < B * C; ++i)
        t->tf[i] = (float)(i % 3) / 2.0f;
    for (size_t b = 0; b < B; ++b)
        t->ids[b] = b % 4 == 3 ? -100 : (int32_t)((b * 3 + 1) % C);
    return true;
}

static const void *call_target(const head_call *t)
{
    return t->d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)t->ids : (const void *)t->tf;
}

static size_t call_target_bytes(const head_call *t)
{
    return t->d->batch * (t->d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? sizeof(int32_t) : t->d->classes * 4);
}

/* The inputs every reference and the device take alike, as designated initializers */
#define CALL_INPUTS(t)                                                                                   \
    .seed = (t)->seed, .step = (t)->step, .row_offset = (t)->row_offset, .w = (t)->w, .bias = (t)->bias, \
    .target = call_target(t)

/* The exact reference of the call into ref [floats]. */
static void exact_reference(const head_call *t)
{
    float *ref = t->ref;
    bool pooled = t->d->layers >= 2;
    clmsd_ref_head_exact_args ea = {CALL_INPUTS(t),
                                    .x = t->dense_x,
                                    .loss = ref + t->loss,
                                    .logits = ref + t->logits,
                                    .dw = ref + t->dw,
                                    .dbias = ref + t->dbias,
                                    .dx = ref + t->dx,
                                    .layer_weights = pooled ? t->layer_weights : NULL,
                                    .dlayer_weights = pooled ? ref + t->dlayer : NULL};
    clmsd_ref_head_exact_train_step(t->d, &ea);
}

/* The call's train step on the device into out [floats]; false (and a failure noted) when any
 * part of it fails. */
static bool device_step(check *c, const head_call *t)
{
    const clmsd_head_desc *d = t->d;
    bool pooled = d->layers >= 2;
    size_t l = pooled ? d->layers : 1;
    cl_mem b[6] = {upload(c, t->x, t->x_floats * 4),   upload(c, t->w, d->classes * d->features * 4),
                   upload(c, t->bias, d->classes * 4), upload(c, call_target(t), call_target_bytes(t)),
                   upload(c, NULL, t->floats * 4),     upload(c, t->layer_weights, l * 4)};
    clmsd_head *head = NULL;
    bool ok = b[0] && b[1] && b[2] && b[3] && b[4] && b[5] && clmsd_head_create(c->ctx, d, &head) == CLMSD_SUCCESS;
    clmsd_head_args a = {.seed = t->seed,
                         .step = t->step,
                         .row_offset = t->row_offset,
                         .x = b[0],
                         .x_row_stride = t->row_stride,
                         .w = b[1],
                         .bias = b[2],
                         .target = b[3],
                         .loss = b[4],
                         .loss_off = t->loss,
                         .logits = b[4],
                         .logits_off = t->logits,
                         .dw = b[4],
                         .dw_off = t->dw,
                         .dbias = b[4],
                         .dbias_off = t->dbias,
                         .dx = b[4],
                         .dx_off = t->dx,
                         .layer_weights = pooled ? b[5] : NULL,
                         .dlayer_weights = pooled ? b[4] : NULL,
                         .dlayer_weights_off = t->dlayer};
    ok = ok && clmsd_head_train_step(head, &a, 0, NULL, NULL) == CLMSD_SUCCESS &&
         download(c, b[4], t->out, t->floats * 4);
    if (!ok)
        fail(c, "head call failed: %s", clmsd_context_last_error(c->ctx));
    clmsd_head_destroy(head);
    for (int i = 0; i < 6; ++i)
        if (b[i])
            clReleaseMemObject(b[i]);
    return ok;
}

/* A device's outputs against their exact host reference, bit for bit (else *ok cleared and the
 * failure fmt with detail), then into the hash: the fused engine's and the optimizers'. */
static void check_exact(check *c, float *out, const float *ref, size_t n, bool *ok, const char *fmt, const char *detail)
{
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(c->ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (!same_floats(out, ref, n, (fp & CL_FP_FMA) == 0)) {
        *ok = false;
        fail(c, fmt, detail);
    }
    for (size_t i = 0; i < n; ++i)
        out[i] = out[i] == 0.0f ? 0.0f : out[i]; /* the hash takes -0 as +0 (see same_floats) */
    c->fused_hash = fnv(c->fused_hash, out, n * sizeof *out);
}

/* The CLBlast engine's outputs against the double reference, within size-derived tolerances. */
static void check_clblast(check *c, const head_call *t)
{
    const float *out = t->out;
    const clmsd_head_desc *d = t->d;
    size_t B = d->batch, H = d->features, C = d->classes, K = d->samples;
    double rl, *rlogits = malloc(B * C * 8), *rdw = malloc(C * H * 8), *rdx = malloc(B * H * 8), *rdb = malloc(C * 8);
    clmsd_ref_head_args ra = {CALL_INPUTS(t), .x = t->x, .loss = &rl, .logits = rlogits,
                              .dx = rdx,      .dw = rdw, .dbias = rdb};
    if (!rlogits || !rdw || !rdx || !rdb || clmsd_ref_head_train_step(d, &ra) != CLMSD_SUCCESS) {
        fail(c, "%s", "the double reference failed");
        c->clblast_ratio = INFINITY;
    } else {
        double r[5] = {
            error_ratio(out + t->logits, rlogits, B * C, (double)(H + K)),
            error_ratio(out + t->dw, rdw, C * H, 4.0 * (double)(K * B)),
            error_ratio(out + t->dx, rdx, B * H, 4.0 * (double)(K * C)),
            error_ratio(out + t->dbias, rdb, C, 4.0 * (double)(K * B)),
            error_ratio(out + t->loss, &rl, 1, 4.0 * (double)(K * B * C)),
        };
        for (int i = 0; i < 5; ++i) {
            c->clblast_ratio = fmax(c->clblast_ratio, r[i]);
            if (!(r[i] <= 1.0))
                fail(c, "head %s differs from the double reference beyond its size-derived tolerance",
                     (const char *[]){"logits", "dW", "dX", "db", "loss"}[i]);
        }
    }
    free(rlogits);
    free(rdw);
    free(rdx);
    free(rdb);
}

/* One train step of `engine`: the CLBlast engine within its size-derived tolerance of the double
 * reference, the fused engine bit for bit equal to the exact reference. With layers (L >= 2), the
 * layer-pooled head, strided in place (the CLS rows of [B, 2, H]). */
static void check_head(check *c, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine, size_t layers)
{
    bool pooled = layers >= 2;
    clmsd_head_desc d = {.batch = pooled ? 6 : 7,
                         .features = pooled ? 21 : 37,
                         .classes = pooled ? 4 : 5,
                         .samples = pooled ? 3 : 4,
                         .rate = pooled ? 0.4 : 0.3,
                         .loss = loss,
                         .combine = combine,
                         .engine = engine,
                         .layers = layers,
                         .layer_rate = 0.2,
                         .huber_delta = 0.5}; /* (Huber: both branches on these logits) */
    head_call t;
    if (!head_call_make(&t, &d, pooled ? 3 : 5, pooled ? 1 : 9, pooled ? 9 : 3, pooled ? 2 * d.features : 0)) {
        fail(c, "%s", "out of host memory");
        return;
    }
    if (!device_step(c, &t)) {
        if (engine == CLMSD_ENGINE_FUSED)
            c->fused_ok = false;
        else
            c->clblast_ratio = INFINITY;
    } else if (engine == CLMSD_ENGINE_FUSED) {
        exact_reference(&t);
        check_exact(c, t.out, t.ref, t.floats, &c->fused_ok, "the fused engine differs from the exact reference (%s)",
                    pooled ? "pooled head" : clmsd_loss_name(loss));
    } else {
        check_clblast(c, &t);
    }
    head_call_free(&t);
}

/* A loss of the caller's own on the fused engine: clmsd_head_logits, then clmsd_head_backward from a
 * fixed dL/dlogits (pooled: strided in place, as check_head), bit for bit equal to the exact
 * reference's logits and gradients. */
static void check_any_loss(check *c, clmsd_combine combine, size_t layers)
{
    bool pooled = layers >= 2;
    clmsd_head_desc d = {.batch = 6,
                         .features = pooled ? 21 : 37,
                         .classes = 5,
                         .samples = 3,
                         .rate = 0.4,
                         .loss = CLMSD_LOSS_MSE,
                         .combine = combine,
                         .engine = CLMSD_ENGINE_FUSED,
                         .layers = layers,
                         .layer_rate = 0.2};
    head_call t;
    if (!head_call_make(&t, &d, 11, 4, 5, pooled ? 2 * d.features : 0)) {
        fail(c, "%s", "out of host memory");
        return;
    }
    size_t B = d.batch, H = d.features, C = d.classes, L = pooled ? layers : 1;
    size_t N = combine == CLMSD_AVERAGE_LOSSES ? d.samples * B : B;
    size_t dw = N * C, db = dw + C * H, dlw = db + C, dx = dlw + L, n = dx + L * B * H; /* logits at 0 */
    float *out = malloc(n * sizeof *out), *ref = malloc(n * sizeof *ref), *dl = malloc(N * C * sizeof *dl);
    cl_mem b[6] = {NULL};
    clmsd_head *head = NULL;
    bool ok = out && ref && dl;
    for (size_t i = 0; ok && i < N * C; ++i)
        dl[i] = 0.05f * sinf(0.3f * (float)i + 1.0f);
    if (ok) {
        b[0] = upload(c, t.x, t.x_floats * 4), b[1] = upload(c, t.w, C * H * 4), b[2] = upload(c, t.bias, C * 4);
        b[3] = upload(c, t.layer_weights, L * 4), b[4] = upload(c, dl, N * C * 4), b[5] = upload(c, NULL, n * 4);
        ok = b[0] && b[1] && b[2] && b[3] && b[4] && b[5] && clmsd_head_create(c->ctx, &d, &head) == CLMSD_SUCCESS;
    }
    clmsd_head_args a = {.seed = t.seed,
                         .step = t.step,
                         .row_offset = t.row_offset,
                         .x = b[0],
                         .x_row_stride = t.row_stride,
                         .w = b[1],
                         .bias = b[2],
                         .logits = b[5],
                         .dw = b[5],
                         .dw_off = dw,
                         .dbias = b[5],
                         .dbias_off = db,
                         .dx = b[5],
                         .dx_off = dx,
                         .layer_weights = pooled ? b[3] : NULL,
                         .dlayer_weights = pooled ? b[5] : NULL,
                         .dlayer_weights_off = dlw,
                         .dlogits = b[4]};
    ok = ok && clmsd_head_logits(head, &a, 0, NULL, NULL) == CLMSD_SUCCESS &&
         clmsd_head_backward(head, &a, 0, NULL, NULL) == CLMSD_SUCCESS && download(c, b[5], out, n * 4);
    if (!ok) {
        fail(c, "a loss of the caller's own failed: %s", clmsd_context_last_error(c->ctx));
        c->fused_ok = false;
    } else {
        memset(ref, 0, n * sizeof *ref); /* (a plain head has no layer weights' slot to fill) */
        clmsd_ref_head_exact_args ea = {CALL_INPUTS(&t),
                                        .x = t.dense_x,
                                        .logits = ref,
                                        .dw = ref + dw,
                                        .dbias = ref + db,
                                        .dx = ref + dx,
                                        .layer_weights = pooled ? t.layer_weights : NULL,
                                        .dlayer_weights = pooled ? ref + dlw : NULL,
                                        .dlogits = dl};
        clmsd_ref_head_exact_logits(&d, &ea);
        clmsd_ref_head_exact_backward(&d, &ea);
        if (!pooled)
            out[dlw] = 0.0f;
        check_exact(c, out, ref, n, &c->fused_ok, "the fused engine differs from the exact reference (%s)",
                    "logits and backward of a caller's loss");
    }
    clmsd_head_destroy(head);
    for (int i = 0; i < 6; ++i)
        if (b[i])
            clReleaseMemObject(b[i]);
    free(out), free(ref), free(dl);
    head_call_free(&t);
}

/* values in [-2, 2) on a 2^-10 grid */
static void fill(float *v, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((int)(s >> 20) - 2048) / 1024.0f;
    }
}

/* Three optimizer steps on the device against clmsd_ref_optim_step, bit for bit: a pooled head's
 * W, b and layer weights (a step without b among them), clipped; the results join fused_hash. */
static void check_optim(check *c, const clmsd_optim_desc *desc)
{
    enum { C = 5, H = 300, L = 3, N = C * H + C + L };
    clmsd_head_desc hd = {
        .batch = 2, .features = H, .classes = C, .samples = 2, .rate = 0.5, .layers = L, .engine = CLMSD_ENGINE_FUSED};
    clmsd_head *head = NULL;
    clmsd_optim *opt = NULL;
    static float p[N], g[N], got[N], moments[2 * N];
    fill(p, N, 3);
    memset(moments, 0, sizeof moments);
    cl_mem dp = upload(c, p, sizeof p), dg = upload(c, NULL, sizeof g);
    if (!dp || !dg || clmsd_head_create(c->ctx, &hd, &head) || clmsd_optim_create(head, desc, &opt)) {
        fail(c, "optimizer: %s", clmsd_context_last_error(c->ctx));
        c->optim_ok = false;
    }
    const size_t counts[3] = {C * H, C, L};
    for (uint32_t step = 0; step < 3 && opt; ++step) {
        bool bias = step != 1;
        fill(g, N, 10 + step);
        clmsd_head_args a = {.w = dp,
                             .dw = dg,
                             .bias = bias ? dp : NULL,
                             .bias_off = C * H,
                             .dbias = bias ? dg : NULL,
                             .dbias_off = C * H,
                             .layer_weights = dp,
                             .layer_weights_off = C * H + C,
                             .dlayer_weights = dg,
                             .dlayer_weights_off = C * H + C};
        float *params[3] = {p, p + C * H, p + C * H + C};
        const float *grads[3] = {g, bias ? g + C * H : NULL, g + C * H + C};
        if (clEnqueueWriteBuffer(clmsd_context_queue(c->ctx), dg, CL_TRUE, 0, sizeof g, g, 0, NULL, NULL) ||
            clmsd_optim_step(opt, &a, 0.01 * (step + 1), 0, NULL, NULL) ||
            clmsd_ref_optim_step(desc, step, 0.01 * (step + 1), params, grads, counts, moments)) {
            fail(c, "optimizer step: %s", clmsd_context_last_error(c->ctx));
            c->optim_ok = false;
            break;
        }
    }
    if (opt && download(c, dp, got, sizeof got))
        check_exact(c, got, p, N, &c->optim_ok, "the %s optimizer differs from its host reference",
                    desc->kind == CLMSD_OPTIM_SGD ? "SGD" : "AdamW");
    clmsd_optim_destroy(opt);
    clmsd_head_destroy(head);
    if (dp)
        clReleaseMemObject(dp);
    if (dg)
        clReleaseMemObject(dg);
}

static int run_device(const char *spec, const char *label, check *c)
{
    *c = (check){.dropout_ok = true,
                 .fused_ok = true,
                 .optim_ok = true,
                 .mask_hash = UINT64_C(0xcbf29ce484222325),
                 .fused_hash = UINT64_C(0xcbf29ce484222325)};
    if (clmsd_context_create(spec, &c->ctx) != CLMSD_SUCCESS) {
        printf("FAIL  %s: %s\n", label, clmsd_context_last_error(NULL));
        c->failures = 1;
        return 1;
    }
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(c->ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    c->denormals = (fp & CL_FP_DENORM) != 0;
    printf("....  %s: kernels and CLBlast's GEMM compile on first use (tens of seconds on a cold pocl cache)\n",
           clmsd_context_device_name(c->ctx));
    fflush(stdout);
    check_known_answers(c);
    const dropout_case cases[] = {
        {1, 1, 1, 1, 0, 0, 0, 1, 0.5, false},     {3, 7, 7, 7, 0, 0, 0, 5, 0.3, false},
        {5, 13, 16, 15, 3, 2, 11, 8, 0.0, true},  {1, 33, 40, 33, 1, 0, 2, 64, 0.9, false},
        {64, 3, 3, 5, 0, 7, 1000, 3, 0.25, true}, {17, 1, 2, 1, 5, 1, 3, 2, 0.5, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        check_dropout(c, &cases[i]);
    for (int engine = CLMSD_ENGINE_CLBLAST; engine <= CLMSD_ENGINE_FUSED; ++engine)
        for (int loss = 0; clmsd_loss_name((clmsd_loss)loss); ++loss)
            for (int combine = 0; combine <= CLMSD_AVERAGE_LOGITS; ++combine)
                check_head(c, (clmsd_loss)loss, (clmsd_combine)combine, (clmsd_engine)engine, 0);
    check_head(c, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_FUSED, 3);
    check_head(c, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_FUSED, 3);
    check_any_loss(c, CLMSD_AVERAGE_LOSSES, 0);
    check_any_loss(c, CLMSD_AVERAGE_LOGITS, 3);
    const clmsd_optim_desc adamw = {.kind = CLMSD_OPTIM_ADAMW,
                                    .beta1 = 0.9,
                                    .beta2 = 0.999,
                                    .eps = 1e-8,
                                    .weight_decay = 0.01,
                                    .max_grad_norm = 1.0};
    const clmsd_optim_desc nesterov = {
        .kind = CLMSD_OPTIM_SGD, .momentum = 0.9, .nesterov = 1, .weight_decay = 0.01, .max_grad_norm = 1.0};
    check_optim(c, &adamw);
    check_optim(c, &nesterov);
    /* the other tiling on the same device ($CLMSD_TILING at context creation): the same bits */
    char tilings[16];
    snprintf(tilings, sizeof tilings, "%s", clmsd_context_tiling(c->ctx));
    const char *saved = getenv("CLMSD_TILING"), *other = strcmp(tilings, "gpu") ? "gpu" : "cpu";
    char *restore = saved ? strdup(saved) : NULL;
    clmsd_context *first = c->ctx;
    setenv("CLMSD_TILING", other, 1);
    if (clmsd_context_create(spec, &c->ctx) == CLMSD_SUCCESS) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
            check_dropout(c, &cases[i]);
        for (int loss = 0; clmsd_loss_name((clmsd_loss)loss); ++loss)
            for (int combine = 0; combine <= CLMSD_AVERAGE_LOGITS; ++combine)
                check_head(c, (clmsd_loss)loss, (clmsd_combine)combine, CLMSD_ENGINE_FUSED, 0);
        check_head(c, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_FUSED, 3);
        check_head(c, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_FUSED, 3);
        check_any_loss(c, CLMSD_AVERAGE_LOSSES, 0);
        check_any_loss(c, CLMSD_AVERAGE_LOGITS, 3);
        clmsd_context_destroy(c->ctx);
    } else {
        fail(c, "no context with the other tiling: %s", clmsd_context_last_error(NULL));
    }
    c->ctx = first;
    if (restore)
        setenv("CLMSD_TILING", restore, 1);
    else
        unsetenv("CLMSD_TILING");
    free(restore);
    if (c->failures)
        printf("FAIL  %s: %d checks failed; first: %s\n", clmsd_context_device_name(c->ctx), c->failures, c->first);
    else
        printf("PASS  %s: Philox known answers, stream words, dropout and the fused head (plain and layer-pooled, "
               "its own loss and a caller's) bit-exact under the cpu and gpu tilings, and the optimizers (AdamW, SGD); "
               "CLBlast head within %.2f "
               "of its tolerance%s\n",
               clmsd_context_device_name(c->ctx), c->clblast_ratio,
               c->denormals
                   ? ""
                   : " (this device flushes fp32 denormals: fused results can differ where values are denormal)");
    return c->failures ? 1 : 0;
}

/* What one device's run found, as the parent reads it back from the child's last line. */
typedef struct row {
    char label[300];
    bool done;     /* the child printed its results line */
    char why[160]; /* when not: how the child ended */
    bool kat_ok, dropout_ok, fused_ok, optim_ok, denormals;
    double clblast_ratio;
    uint64_t mask_hash, fused_hash;
} row;

#define ROW_TAG "@clmsd-selftest-row"

/* the results line a child ends with: every field of the matrix, then the device's name */
static void print_row(const check *c)
{
    printf(ROW_TAG " %d %d %d %d %d %.17g %016llx %016llx %s\n", c->kat_ok, c->dropout_ok, c->fused_ok, c->optim_ok,
           c->denormals, c->clblast_ratio, (unsigned long long)c->mask_hash, (unsigned long long)c->fused_hash,
           c->ctx ? clmsd_context_device_name(c->ctx) : "");
}

static bool parse_row(const char *line, row *r)
{
    int kat, dropout, fused, optim, denormals, name = 0;
    unsigned long long mask, fh;
    if (sscanf(line, ROW_TAG " %d %d %d %d %d %lf %llx %llx %n", &kat, &dropout, &fused, &optim, &denormals,
               &r->clblast_ratio, &mask, &fh, &name) < 8 ||
        name == 0)
        return false;
    r->kat_ok = kat;
    r->dropout_ok = dropout;
    r->fused_ok = fused;
    r->optim_ok = optim;
    r->denormals = denormals;
    r->mask_hash = mask;
    r->fused_hash = fh;
    size_t len = strlen(r->label);
    snprintf(r->label + len, sizeof r->label - len, " %s", line + name);
    return true;
}

/* device by check; "=" compares a device's raw outputs with the first device's */
static void print_matrix(const row *rows, size_t count)
{
    printf("\n%-44s %5s %8s %10s %10s %10s %11s %12s %10s\n", "device", "KAT", "dropout", "fused=ref", "optim=ref",
           "masks=#1", "fused=#1", "clblast/tol", "denormals");
    for (size_t i = 0; i < count; ++i) {
        const row *r = &rows[i];
        if (!r->done) {
            printf("%-44.44s %5s  %s\n", r->label, "FAIL", r->why);
            continue;
        }
        bool first_done = rows[0].done;
        const char *same_masks = i == 0 || !first_done ? "-" : r->mask_hash == rows[0].mask_hash ? "yes" : "NO";
        const char *same_fused = i == 0 || !first_done ? "-" : r->fused_hash == rows[0].fused_hash ? "yes" : "NO";
        printf("%-44.44s %5s %8s %10s %10s %10s %11s %12.3g %10s\n", r->label, r->kat_ok ? "ok" : "FAIL",
               r->dropout_ok ? "ok" : "FAIL", r->fused_ok ? "ok" : "FAIL", r->optim_ok ? "ok" : "FAIL", same_masks,
               same_fused, r->clblast_ratio, r->denormals ? "kept" : "flushed");
    }
}

/* Runs `clmsd selftest --device SPEC --row` in a process of its own, relays its lines, and reads its
 * results line. A crash, a hang past `timeout` seconds or a failed start becomes r->why. */
static int run_child(const char *spec, double timeout, row *r)
{
    snprintf(r->label, sizeof r->label, "%s", spec);
    fflush(stdout);
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(r->why, sizeof r->why, "pipe: %s", strerror(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->why, sizeof r->why, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        char *const args[] = {"clmsd", "selftest", "--device", (char *)spec, "--row", NULL};
        execv("/proc/self/exe", args);
        printf("FAIL  %s: cannot run /proc/self/exe: %s\n", spec, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char buf[4096];
    size_t used = 0;
    bool timed_out = false;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = timeout - ((double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec));
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int ready = left <= 0 ? 0 : poll(&pfd, 1, (int)(left * 1000.0) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(fds[0], buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        /* whole lines: the results line is kept, the others relayed */
        char *line = buf, *end;
        while ((end = strchr(line, '\n'))) {
            *end = '\0';
            if (!strncmp(line, ROW_TAG, strlen(ROW_TAG)))
                r->done = parse_row(line, r);
            else
                printf("%s\n", line);
            line = end + 1;
        }
        used -= (size_t)(line - buf);
        memmove(buf, line, used);
        if (used == sizeof buf - 1) { /* a line longer than the buffer: relayed in pieces */
            buf[used] = '\0';
            fputs(buf, stdout);
            used = 0;
        }
        fflush(stdout);
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        r->done = false;
        snprintf(r->why, sizeof r->why, "no result after %.0f s: killed", timeout);
    } else if (WIFSIGNALED(status)) {
        r->done = false;
        snprintf(r->why, sizeof r->why, "the process died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else if (!r->done) {
        snprintf(r->why, sizeof r->why, "the process exited %d without a result", WEXITSTATUS(status));
    }
    if (!r->done)
        printf("FAIL  %s: %s\n", spec, r->why);
    return !r->done || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static const char help[] =
    "usage: clmsd selftest [--all-devices | --device SPEC [--row]] [--timeout SECONDS]\n\n"
    "Checks, on every OpenCL device (the default, --all-devices) or the one SPEC names, the\n"
    "Philox4x32-10 known answers, the clmsd-philox-v1 golden words, dropout forward, mask and\n"
    "backward over odd shapes bit for bit against the host reference, the fused head bit for bit\n"
    "against the exact reference and the CLBlast head against the double reference, for every loss\n"
    "and combine mode, and the optimizers (AdamW, SGD with Nesterov momentum, clipped) bit for bit\n"
    "against their host reference. Prints one PASS/FAIL line per device, then a matrix of device by\n"
    "check that also compares every device's raw masks and fused and optimizer results with the\n"
    "first device's. Exits 1 on any FAIL.\n\n"
    "With several devices, each runs in a process of its own, so that an implementation that crashes\n"
    "or hangs (killed after --timeout seconds, default 1800) is one FAIL row, not the end of the run.\n\n"
    "--device SPEC --row ends with one results line instead of the matrix: every check's verdict and\n"
    "the hashes of the raw masks and of the fused and optimizer results, to compare with another\n"
    "machine's (tools/bundle.sh keeps pocl's; bench/device.sh compares a GPU's with it).\n";

int clmsd_cli_selftest(int argc, char **argv)
{
    const char *device = NULL;
    bool row_only = false; /* a child of --all-devices: print the results line */
    double timeout = 1800;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *end;
            timeout = strtod(argv[++i], &end);
            if (*end || !(timeout > 0 && timeout < 1e6)) {
                fprintf(stderr, "clmsd selftest: --timeout needs seconds in (0, 1e6), got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--row")) {
            row_only = true;
        } else if (strcmp(argv[i], "--all-devices")) {
            fprintf(stderr, "clmsd selftest: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (device) {
        check c;
        int failed = run_device(device, device, &c);
        if (row_only) {
            print_row(&c);
        } else {
            row r = {.done = c.ctx != NULL,
                     .kat_ok = c.kat_ok,
                     .dropout_ok = c.dropout_ok,
                     .fused_ok = c.fused_ok,
                     .optim_ok = c.optim_ok,
                     .denormals = c.denormals,
                     .clblast_ratio = c.clblast_ratio};
            snprintf(r.label, sizeof r.label, "%s %s", device, c.ctx ? clmsd_context_device_name(c.ctx) : "");
            snprintf(r.why, sizeof r.why, "no context");
            print_matrix(&r, 1);
        }
        clmsd_context_destroy(c.ctx);
        return failed;
    }
    size_t count = 0;
    if (clmsd_devices_list(NULL, 0, &count) != CLMSD_SUCCESS || count == 0) {
        printf("FAIL  no OpenCL device found: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    clmsd_device_info *info = calloc(count, sizeof *info);
    row *rows = calloc(count, sizeof *rows);
    if (!info || !rows) {
        free(info);
        free(rows);
        return 1;
    }
    clmsd_devices_list(info, count, &count);
    int failed = 0;
    for (size_t i = 0; i < count; ++i) {
        char spec[32];
        snprintf(spec, sizeof spec, "%u:%u", info[i].platform_index, info[i].device_index);
        failed |= run_child(spec, timeout, &rows[i]);
    }
    print_matrix(rows, count);
    free(info);
    free(rows);
    return failed;
}
