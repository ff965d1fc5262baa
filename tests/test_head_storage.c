/* SPDX-License-Identifier: MIT */
/* The head on the u8 stream and on fp16 / bf16 features (desc.stream, x_type, dx_type): the fused
 * engine equals the exact host reference bit for bit (the reference reads the widened features,
 * and its dx, rounded once, is the device's), the CLBlast engine is within size-derived tolerances
 * of the double reference, in train steps, predict and the layer-pooled head. */
#include "test_head_common.h"

typedef struct variant {
    clmsd_stream stream;
    clmsd_type x_type, dx_type;
} variant;

static const variant variants[] = {
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT32, CLMSD_FLOAT32},
    {CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT16, CLMSD_FLOAT16},
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_BFLOAT16, CLMSD_BFLOAT16},
    {CLMSD_STREAM_PHILOX_V1, CLMSD_BFLOAT16, CLMSD_FLOAT32},
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT16, CLMSD_BFLOAT16},
};
#define VARIANTS (sizeof variants / sizeof variants[0])

/* multiples of 1/256, so that either stream takes them */
static const double u8_rates[64] = {0.1015625, 0.203125, 0.30078125, 0.3984375, 0.5, 0.1015625, 0.203125, 0.30078125};

static const head_case cases[] = {
    /* B  H  C  K  rates rate bias accumulate */
    {1, 5, 1, 1, NULL, 0.5, true, 0},        /* one row, H below a u8 block */
    {4, 13, 2, 5, NULL, 0.25, false, 0},     /* rows not on u8 blocks (row_offset 5), no bias */
    {6, 70, 3, 9, u8_rates, 0.0, true, 1},   /* K past the 8-row tile, per-sample rates, accumulate */
    {32, 131, 30, 8, NULL, 0.5, true, 1},    /* a Kaggle-like head */
    {9, 64, 17, 5, u8_rates, 0.0, false, 0}, /* H a multiple of 16, two class tiles */
    {40, 200, 5, 3, NULL, 0.125, true, 1},   /* passes of 128 elements and a part pass */
};

/* elements of a type's epsilon: the rounding of one store */
static double type_epsilon(clmsd_type t) { return t == CLMSD_FLOAT16 ? 0x1p-11 : t == CLMSD_BFLOAT16 ? 0x1p-8 : 0.0; }

/* n floats narrowed to `type` (returned) and v[] widened back: what the device and the
 * references read */
static void *narrowed(clmsd_type type, float *v, size_t n)
{
    void *t = malloc(n * clmsd_type_size(type) + TAIL * 4);
    memset(t, CANARY, n * clmsd_type_size(type) + TAIL * 4);
    cr_assert_eq(clmsd_ref_from_float(type, v, n, t), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_ref_to_float(type, t, n, v), CLMSD_SUCCESS);
    return t;
}

/* the device's typed dx (and its canary tail) against the exact reference's float dx rounded */
static void assert_dx_bits(clmsd_context *ctx, cl_mem bdx, clmsd_type type, const float *ref, size_t n,
                           const head_case *t)
{
    size_t bytes = n * clmsd_type_size(type);
    unsigned char *dev = malloc(bytes + TAIL * 4), *expect = malloc(bytes);
    test_read(ctx, bdx, 0, dev, bytes + TAIL * 4);
    clmsd_ref_from_float(type, ref, n, expect);
    for (size_t i = 0; i < TAIL * 4; ++i)
        cr_assert_eq(dev[bytes + i], CANARY, "dx: wrote past its end");
    /* widening is exact and one-to-one (but for NaNs), so equal widened bits are equal stored bits;
     * test_same_bits takes +0 == -0 on a device that cannot tell them apart (tests/helpers.h) */
    float *a = malloc(n * 4), *b = malloc(n * 4);
    clmsd_ref_to_float(type, dev, n, a), clmsd_ref_to_float(type, expect, n, b);
    for (size_t i = 0; i < n; ++i)
        cr_assert(test_same_bits(a[i], b[i]), "dx[%zu]: %.9g, expected %.9g (type %d, B %zu H %zu K %u)", i,
                  (double)a[i], (double)b[i], (int)type, t->B, t->H, (unsigned)t->K);
    free(dev), free(expect), free(a), free(b);
}

/* One case's train step on typed buffers: its head, inputs (x narrowed into bx; dX prefilled with
 * dx0, narrowed into bdx) and canaried float outputs. */
typedef struct typed_step {
    clmsd_context *ctx;
    const clmsd_head_desc *d;
    const head_case *t;
    const variant *v;
    inputs in;
    cl_mem bx, bdx;
    float *dx0, *dev;
    out_buf loss, logits, dw, dbias;
} typed_step;

/* the fused engine against the exact reference, bit for bit, dX in its type */
static void check_exact(typed_step *s)
{
    const head_case *t = s->t;
    const size_t B = t->B, H = t->H, C = t->C;
    float el, *elogits = malloc(B * C * 4), *edx = malloc(B * H * 4), *edw = malloc(C * H * 4), *edb = malloc(C * 4);
    memcpy(edx, s->dx0, B * H * 4);
    memcpy(edw, s->dw.host, C * H * 4);
    memcpy(edb, s->dbias.host, C * 4);
    clmsd_ref_head_exact_args ea = {.seed = 17,
                                    .step = 3,
                                    .row_offset = 5,
                                    .x = s->in.x,
                                    .w = s->in.w,
                                    .bias = s->in.bias,
                                    .target = host_target(s->d, &s->in),
                                    .loss = &el,
                                    .logits = elogits,
                                    .dx = edx,
                                    .dw = edw,
                                    .dbias = edb,
                                    .accumulate = t->accumulate};
    cr_assert_eq(clmsd_ref_head_exact_train_step(s->d, &ea), CLMSD_SUCCESS);
    const struct {
        out_buf *o;
        const float *ref;
        size_t n;
        const char *name;
    } checks[] = {{&s->loss, &el, 1, "loss"},
                  {&s->logits, elogits, B * C, "logits"},
                  {&s->dw, edw, C * H, "dw"},
                  {&s->dbias, edb, C, "dbias"}};
    for (size_t j = 0; j < sizeof checks / sizeof checks[0]; ++j) {
        out_read(s->ctx, checks[j].o, s->dev, checks[j].name);
        assert_bits(s->dev, checks[j].ref, checks[j].n, checks[j].name, t);
    }
    assert_dx_bits(s->ctx, s->bdx, s->v->dx_type, edx, B * H, t);
    free(elogits);
    free(edx);
    free(edw);
    free(edb);
}

/* the CLBlast engine against the double reference, within size-derived tolerances; dX's plus one
 * rounding to its type */
static void check_double(typed_step *s)
{
    const head_case *t = s->t;
    const size_t B = t->B, H = t->H, C = t->C, K = t->K;
    double rl, *rlogits = malloc(B * C * 8), *rdx = malloc(B * H * 8), *rdw = malloc(C * H * 8), *rdb = malloc(C * 8),
               *expect = malloc((B * H + C * H) * 8);
    clmsd_ref_head_args ra = {.seed = 17,
                              .step = 3,
                              .row_offset = 5,
                              .x = s->in.x,
                              .w = s->in.w,
                              .bias = s->in.bias,
                              .target = host_target(s->d, &s->in),
                              .loss = &rl,
                              .logits = rlogits,
                              .dx = rdx,
                              .dw = rdw,
                              .dbias = rdb};
    cr_assert_eq(clmsd_ref_head_train_step(s->d, &ra), CLMSD_SUCCESS);
    out_read(s->ctx, &s->loss, s->dev, "loss");
    test_assert_close(s->dev, &rl, 1, (double)K * B * C + H, "loss");
    out_read(s->ctx, &s->logits, s->dev, "logits");
    test_assert_close(s->dev, rlogits, B * C, (double)H + K, "logits");
    out_read(s->ctx, &s->dw, s->dev, "dw");
    for (size_t i = 0; i < C * H; ++i)
        expect[i] = rdw[i] + (t->accumulate ? (double)s->dw.host[i] : 0.0);
    test_assert_close(s->dev, expect, C * H, (double)K * B + H + C + 4, "dw");
    size_t bytes = B * H * clmsd_type_size(s->v->dx_type);
    unsigned char *raw = malloc(bytes);
    test_read(s->ctx, s->bdx, 0, raw, bytes);
    clmsd_ref_to_float(s->v->dx_type, raw, B * H, s->dev);
    double mag = 0.0;
    for (size_t i = 0; i < B * H; ++i) {
        expect[i] = rdx[i] + (t->accumulate ? (double)s->dx0[i] : 0.0);
        mag = fmax(mag, fabs(expect[i]));
    }
    double tol = (2.0 * ((double)K * C + H + 4) * FLT_EPSILON + type_epsilon(s->v->dx_type)) * mag;
    for (size_t i = 0; i < B * H; ++i)
        cr_assert(fabs(s->dev[i] - expect[i]) <= tol, "dx[%zu]: device %.9g, reference %.9g, tolerance %.3g", i,
                  (double)s->dev[i], expect[i], tol);
    free(raw);
    free(rlogits);
    free(rdx);
    free(rdw);
    free(rdb);
    free(expect);
}

/* predict reads the typed features too: bit for bit (fused) or within tolerance (CLBlast) */
static void check_predict(typed_step *s, clmsd_head *head)
{
    const size_t B = s->t->B, H = s->t->H, C = s->t->C;
    out_buf op = out_make(s->ctx, B * C, 36);
    clmsd_head_args pa = {.x = s->bx, .w = s->in.bw, .bias = s->in.bb, .logits = op.mem};
    cr_assert_eq(clmsd_head_predict(head, &pa, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(s->ctx));
    out_read(s->ctx, &op, s->dev, "predict");
    if (s->d->engine == CLMSD_ENGINE_FUSED) {
        float *plogits = malloc(B * C * 4);
        clmsd_ref_head_exact_args pe = {.x = s->in.x, .w = s->in.w, .bias = s->in.bias, .logits = plogits};
        cr_assert_eq(clmsd_ref_head_exact_predict(s->d, &pe), CLMSD_SUCCESS);
        assert_bits(s->dev, plogits, B * C, "predict", s->t);
        free(plogits);
    } else {
        double *plogits = malloc(B * C * 8);
        clmsd_ref_head_args pr = {.x = s->in.x, .w = s->in.w, .bias = s->in.bias, .logits = plogits};
        cr_assert_eq(clmsd_ref_head_predict(s->d, &pr), CLMSD_SUCCESS);
        test_assert_close(s->dev, plogits, B * C, (double)H + 1, "predict");
        free(plogits);
    }
    out_free(&op);
}

static void check_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine,
                       const head_case *t, const variant *v)
{
    const size_t B = t->B, H = t->H, C = t->C;
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = t->K,
                         .rates = t->rates,
                         .rate = t->rate,
                         .loss = loss,
                         .combine = combine,
                         .engine = engine,
                         .stream = v->stream,
                         .x_type = v->x_type,
                         .dx_type = v->dx_type};
    typed_step s = {.ctx = ctx, .d = &d, .t = t, .v = v, .in = inputs_make(ctx, &d, t->bias)};
    void *xt = narrowed(v->x_type, s.in.x, B * H); /* in.x: the widened features */
    s.bx = test_buffer(ctx, xt, B * H * clmsd_type_size(v->x_type));
    s.dx0 = malloc(B * H * 4);
    test_fill(s.dx0, B * H, 33);
    void *dxt = narrowed(v->dx_type, s.dx0, B * H); /* dx0: the widened prefill */
    s.bdx = test_buffer(ctx, dxt, B * H * clmsd_type_size(v->dx_type) + TAIL * 4);
    s.dev = malloc((B * H + C * H + B * C + 8) * 4);
    s.loss = out_make(ctx, 1, 31);
    s.logits = out_make(ctx, B * C, 32);
    s.dw = out_make(ctx, C * H, 34);
    s.dbias = out_make(ctx, C, 35);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    clmsd_head_args a = {.seed = 17,
                         .step = 3,
                         .row_offset = 5,
                         .x = s.bx,
                         .w = s.in.bw,
                         .bias = s.in.bb,
                         .target = s.in.bt,
                         .loss = s.loss.mem,
                         .logits = s.logits.mem,
                         .dx = s.bdx,
                         .dw = s.dw.mem,
                         .dbias = s.dbias.mem,
                         .accumulate = t->accumulate};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    if (engine == CLMSD_ENGINE_FUSED)
        check_exact(&s);
    else
        check_double(&s);
    check_predict(&s, head);
    clmsd_head_destroy(head);
    out_buf *all[] = {&s.loss, &s.logits, &s.dw, &s.dbias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        out_free(all[i]);
    clReleaseMemObject(s.bx);
    clReleaseMemObject(s.bdx);
    inputs_free(&s.in);
    free(xt);
    free(dxt);
    free(s.dx0);
    free(s.dev);
}

static void check_all(clmsd_loss loss, clmsd_combine combine, clmsd_engine engine)
{
    clmsd_context *ctx = test_context();
    for (size_t v = 0; v < VARIANTS; ++v)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
            check_case(ctx, loss, combine, engine, &cases[i], &variants[v]);
    clmsd_context_destroy(ctx);
}

Test(storage_fused, cross_entropy_average_losses, .timeout = 900)
{
    check_all(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_FUSED);
}
Test(storage_fused, cross_entropy_average_logits, .timeout = 900)
{
    check_all(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_FUSED);
}
Test(storage_fused, bce_average_losses, .timeout = 900)
{
    check_all(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_FUSED);
}
Test(storage_fused, mse_average_logits, .timeout = 900)
{
    check_all(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_FUSED);
}
Test(storage_clblast, cross_entropy_average_losses, .timeout = 900)
{
    check_all(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_CLBLAST);
}
Test(storage_clblast, bce_average_logits, .timeout = 900)
{
    check_all(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_CLBLAST);
}

/* a typed x or dx buffer sized for another type gets CLMSD_ERROR_INVALID_BUFFER, writing nothing */
Test(storage_api, buffer_sizes_follow_the_types, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    enum { B = 4, H = 6, C = 3 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = 2,
                         .rate = 0.5,
                         .engine = CLMSD_ENGINE_FUSED,
                         .x_type = CLMSD_FLOAT16,
                         .dx_type = CLMSD_FLOAT32};
    inputs in = inputs_make(ctx, &d, false);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_mem half = test_canary_buffer(ctx, B * H * 2), logits = test_canary_buffer(ctx, B * C * 4);
    clmsd_head_args a = {.x = half, .w = in.bw, .target = in.bt, .logits = logits, .dx = half};
    /* dx is fp32: [B, H] needs 4 bytes an element, half gives 2 */
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert(strstr(clmsd_context_last_error(ctx), "dx") != NULL, "%s", clmsd_context_last_error(ctx));
    a.dx = NULL, a.x_off = 1; /* an fp16 x one element in no longer fits */
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    test_assert_canary(ctx, half, B * H * 2, "typed x");
    test_assert_canary(ctx, logits, B * C * 4, "logits");
    a.x_off = 0;
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    clmsd_head_destroy(head);
    clReleaseMemObject(half), clReleaseMemObject(logits);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}
