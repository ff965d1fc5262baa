/* SPDX-License-Identifier: MIT */
/* The multi-sample dropout head on the device: both engines against the double reference, the
 * fused engine bit for bit against the exact reference, the identities of docs/architecture.md,
 * ignored class ids, engine choice, and bad input. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#define TAIL 16 /* canary floats after every output */

typedef struct head_case {
    size_t B, H, C;
    uint32_t K;
    const double *rates;
    double rate;
    bool bias;
    int accumulate;
} head_case;

static const double kaggle_rates[64] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3};

/* one output buffer: n floats of `prefill`, then TAIL floats of canary bytes */
typedef struct out_buf {
    cl_mem mem;
    size_t n;
    float *host;
} out_buf;

static out_buf out_make(clmsd_context *ctx, size_t n, uint32_t seed)
{
    out_buf o = {NULL, n, malloc((n + TAIL) * 4)};
    memset(o.host, CANARY, (n + TAIL) * 4);
    test_fill(o.host, n, seed);
    o.mem = test_buffer(ctx, o.host, (n + TAIL) * 4);
    return o;
}

/* reads the device values into `dev` and checks the tail canary */
static void out_read(clmsd_context *ctx, out_buf *o, float *dev, const char *what)
{
    float *all = malloc((o->n + TAIL) * 4);
    test_read(ctx, o->mem, 0, all, (o->n + TAIL) * 4);
    const unsigned char *tail = (const unsigned char *)(all + o->n);
    for (size_t i = 0; i < TAIL * 4; ++i)
        cr_assert_eq(tail[i], CANARY, "%s: wrote past its end", what);
    memcpy(dev, all, o->n * 4);
    free(all);
}

static void out_free(out_buf *o)
{
    clReleaseMemObject(o->mem);
    free(o->host);
}

typedef struct inputs {
    float *x, *w, *bias, *tf;
    int32_t *ti;
    cl_mem bx, bw, bb, bt;
} inputs;

static inputs inputs_make(clmsd_context *ctx, const clmsd_head_desc *d, bool with_bias)
{
    size_t B = d->batch, H = d->features, C = d->classes;
    inputs in = {malloc(B * H * 4),
                 malloc(C * H * 4),
                 with_bias ? malloc(C * 4) : NULL,
                 malloc(B * C * 4),
                 malloc(B * 4),
                 NULL,
                 NULL,
                 NULL,
                 NULL};
    test_fill(in.x, B * H, 21);
    test_fill(in.w, C * H, 22);
    for (size_t i = 0; i < C * H; ++i)
        in.w[i] *= 0.25f;
    if (with_bias)
        test_fill(in.bias, C, 23);
    for (size_t i = 0; i < B * C; ++i)
        in.tf[i] =
            d->loss == CLMSD_LOSS_BCE_WITH_LOGITS ? (float)((i * 7) % 5) / 4.0f : (float)((i * 3) % 7) / 3.0f - 1.0f;
    for (size_t b = 0; b < B; ++b)
        in.ti[b] = (b % 5 == 3) ? -100 : (int32_t)((b * 7 + 1) % C); /* every fifth row ignored */
    in.bx = test_buffer(ctx, in.x, B * H * 4);
    in.bw = test_buffer(ctx, in.w, C * H * 4);
    in.bb = with_bias ? test_buffer(ctx, in.bias, C * 4) : NULL;
    in.bt = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? test_buffer(ctx, in.ti, B * 4)
                                                        : test_buffer(ctx, in.tf, B * C * 4);
    return in;
}

static void inputs_free(inputs *in)
{
    clReleaseMemObject(in->bx), clReleaseMemObject(in->bw), clReleaseMemObject(in->bt);
    if (in->bb)
        clReleaseMemObject(in->bb);
    free(in->x), free(in->w), free(in->bias), free(in->tf), free(in->ti);
}

static const void *host_target(const clmsd_head_desc *d, const inputs *in)
{
    return d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)in->ti : (const void *)in->tf;
}

/* the fused engine's outputs equal the exact host reference's bit for bit */
static void assert_bits(const float *dev, const float *ref, size_t n, const char *what, const head_case *t)
{
    for (size_t i = 0; i < n; ++i)
        cr_assert(memcmp(&dev[i], &ref[i], 4) == 0,
                  "%s[%zu]: fused %.9g, exact reference %.9g (B %zu H %zu C %zu K %u)", what, i, (double)dev[i],
                  (double)ref[i], t->B, t->H, t->C, (unsigned)t->K);
}

/* train_step on the device against clmsd_ref_head_train_step (within size-derived tolerances) and,
 * for the fused engine, against clmsd_ref_head_exact_train_step (bit for bit) */
static void check_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine,
                       const head_case *t)
{
    const size_t B = t->B, H = t->H, C = t->C, K = t->K;
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = t->K,
                         .rates = t->rates,
                         .rate = t->rate,
                         .loss = loss,
                         .combine = combine,
                         .engine = engine};
    inputs in = inputs_make(ctx, &d, t->bias);
    double rl, *rlogits = malloc(B * C * 8), *rdx = malloc(B * H * 8), *rdw = malloc(C * H * 8), *rdb = malloc(C * 8);
    uint32_t rignored;
    clmsd_ref_head_args ra = {.seed = 17,
                              .step = 3,
                              .row_offset = 5,
                              .x = in.x,
                              .w = in.w,
                              .bias = in.bias,
                              .target = host_target(&d, &in),
                              .loss = &rl,
                              .logits = rlogits,
                              .ignored = &rignored,
                              .dx = rdx,
                              .dw = rdw,
                              .dbias = rdb};
    cr_assert_eq(clmsd_ref_head_train_step(&d, &ra), CLMSD_SUCCESS);

    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clmsd_head_engine(head), engine);
    out_buf ol = out_make(ctx, 1, 31), og = out_make(ctx, B * C, 32), ox = out_make(ctx, B * H, 33);
    out_buf ow = out_make(ctx, C * H, 34), ob = out_make(ctx, C, 35), oi = out_make(ctx, 1, 36);
    clmsd_head_args a = {.seed = 17,
                         .step = 3,
                         .row_offset = 5,
                         .x = in.bx,
                         .w = in.bw,
                         .bias = in.bb,
                         .target = in.bt,
                         .loss = ol.mem,
                         .logits = og.mem,
                         .ignored = oi.mem,
                         .dx = ox.mem,
                         .dw = ow.mem,
                         .dbias = ob.mem,
                         .accumulate = t->accumulate};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));

    float *dev = malloc((B * H + C * H + B * C + 8) * 4);
    /* accumulate adds into the prefilled values: the expectation is prefill + reference */
    double *expect = malloc((B * H + C * H + B * C + 8) * 8);
#define EXPECT(o, ref, n)            \
    for (size_t i = 0; i < (n); ++i) \
        expect[i] = (ref)[i] + ((o).host && t->accumulate ? (double)(o).host[i] : 0.0);
    out_read(ctx, &ol, dev, "loss");
    test_assert_close(dev, &rl, 1, (double)K * B * C + H, "loss");
    out_read(ctx, &og, dev, "logits");
    test_assert_close(dev, rlogits, B * C, (double)H + K, "logits");
    out_read(ctx, &ox, dev, "dx");
    EXPECT(ox, rdx, B * H);
    test_assert_close(dev, expect, B * H, (double)K * C + H + 4, "dx");
    out_read(ctx, &ow, dev, "dw");
    EXPECT(ow, rdw, C * H);
    test_assert_close(dev, expect, C * H, (double)K * B + H + C + 4, "dw");
    out_read(ctx, &ob, dev, "dbias");
    EXPECT(ob, rdb, C);
    test_assert_close(dev, expect, C, (double)K * B + H + C + 4, "dbias");
    uint32_t ignored;
    out_read(ctx, &oi, (float *)&ignored, "ignored");
    cr_assert_eq(ignored, rignored, "ignored ids: %u, expected %u", ignored, rignored);
#undef EXPECT
    if (engine == CLMSD_ENGINE_FUSED) {
        float el, *elogits = malloc(B * C * 4), *edx = malloc(B * H * 4), *edw = malloc(C * H * 4),
                  *edb = malloc(C * 4);
        memcpy(edx, ox.host, B * H * 4), memcpy(edw, ow.host, C * H * 4), memcpy(edb, ob.host, C * 4);
        uint32_t eignored;
        clmsd_ref_head_exact_args ea = {.seed = 17,
                                        .step = 3,
                                        .row_offset = 5,
                                        .x = in.x,
                                        .w = in.w,
                                        .bias = in.bias,
                                        .target = host_target(&d, &in),
                                        .loss = &el,
                                        .logits = elogits,
                                        .ignored = &eignored,
                                        .dx = edx,
                                        .dw = edw,
                                        .dbias = edb,
                                        .accumulate = t->accumulate};
        cr_assert_eq(clmsd_ref_head_exact_train_step(&d, &ea), CLMSD_SUCCESS);
        out_read(ctx, &ol, dev, "loss");
        assert_bits(dev, &el, 1, "loss", t);
        out_read(ctx, &og, dev, "logits");
        assert_bits(dev, elogits, B * C, "logits", t);
        out_read(ctx, &ox, dev, "dx");
        assert_bits(dev, edx, B * H, "dx", t);
        out_read(ctx, &ow, dev, "dw");
        assert_bits(dev, edw, C * H, "dw", t);
        out_read(ctx, &ob, dev, "dbias");
        assert_bits(dev, edb, C, "dbias", t);
        cr_assert_eq(eignored, rignored);
        free(elogits), free(edx), free(edw), free(edb);
    }
    clmsd_head_destroy(head);
    out_free(&ol), out_free(&og), out_free(&ox), out_free(&ow), out_free(&ob), out_free(&oi);
    inputs_free(&in);
    free(rlogits), free(rdx), free(rdw), free(rdb), free(dev), free(expect);
}

static const head_case cases[] = {
    /* B  H  C  K  rates rate bias accumulate */
    {1, 5, 1, 1, NULL, 0.5, true, 0},           /* B = 1, C = 1, K = 1 */
    {4, 13, 2, 5, NULL, 0.3, false, 0},         /* C = 2, H not a multiple of 4, no bias */
    {6, 70, 3, 8, kaggle_rates, 0.0, true, 1},  /* per-sample rates, accumulate */
    {3, 9, 4, 64, NULL, 0.5, true, 0},          /* K = 64 */
    {32, 131, 30, 8, NULL, 0.5, true, 1},       /* a Kaggle-like head, H not a multiple of 64 */
    {5, 64, 7, 5, kaggle_rates, 0.0, false, 1}, /* per-sample rates, no bias, accumulate */
};

static void check_all(clmsd_loss loss, clmsd_combine combine, clmsd_engine engine)
{
    clmsd_context *ctx = test_context();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        check_case(ctx, loss, combine, engine, &cases[i]);
    clmsd_context_destroy(ctx);
}

#define ENGINE_TESTS(engine, ENGINE)                                                                              \
    Test(engine, cross_entropy_average_losses, .timeout = 900)                                                    \
    {                                                                                                             \
        check_all(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, ENGINE);                                \
    }                                                                                                             \
    Test(engine, cross_entropy_average_logits, .timeout = 900)                                                    \
    {                                                                                                             \
        check_all(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS, ENGINE);                                \
    }                                                                                                             \
    Test(engine, bce_average_losses, .timeout = 900)                                                              \
    {                                                                                                             \
        check_all(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES, ENGINE);                                      \
    }                                                                                                             \
    Test(engine, bce_average_logits, .timeout = 900)                                                              \
    {                                                                                                             \
        check_all(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, ENGINE);                                      \
    }                                                                                                             \
    Test(engine, mse_average_losses, .timeout = 900) { check_all(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES, ENGINE); } \
    Test(engine, mse_average_logits, .timeout = 900) { check_all(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOGITS, ENGINE); }

ENGINE_TESTS(clblast, CLMSD_ENGINE_CLBLAST)
ENGINE_TESTS(fused, CLMSD_ENGINE_FUSED)

static void read_floats(clmsd_context *ctx, cl_mem m, float *out, size_t n) { test_read(ctx, m, 0, out, n * 4); }

/* predict equals X W^T + b; p = 0 equals no dropout; forward's loss equals train_step's */
Test(head, predict_and_rate_zero, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 9, H = 45, C = 6, K = 3 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.0,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES};
    inputs in = inputs_make(ctx, &d, true);
    double ref[B * C];
    clmsd_ref_head_args ra = {.x = in.x, .w = in.w, .bias = in.bias, .logits = ref};
    cr_assert_eq(clmsd_ref_head_predict(&d, &ra), CLMSD_SUCCESS);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cl_mem pl = test_buffer(ctx, NULL, B * C * 4), fl = test_buffer(ctx, NULL, B * C * 4);
    cl_mem loss1 = test_buffer(ctx, NULL, 4), loss2 = test_buffer(ctx, NULL, 4);
    clmsd_head_args a = {.x = in.bx, .w = in.bw, .bias = in.bb, .target = in.bt, .logits = pl};
    cr_assert_eq(clmsd_head_predict(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    a.logits = fl, a.loss = loss1, a.seed = 99;
    cr_assert_eq(clmsd_head_forward(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    a.logits = NULL, a.loss = loss2;
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    float p[B * C], f[B * C], l1, l2;
    read_floats(ctx, pl, p, B * C);
    read_floats(ctx, fl, f, B * C);
    read_floats(ctx, loss1, &l1, 1);
    read_floats(ctx, loss2, &l2, 1);
    test_assert_close(p, ref, B * C, H, "predict");
    test_assert_close(f, ref, B * C, H + K, "forward at p = 0");
    cr_assert_eq(l1, l2, "forward and train_step give different losses");
    clmsd_head_destroy(head);
    clReleaseMemObject(pl), clReleaseMemObject(fl), clReleaseMemObject(loss1), clReleaseMemObject(loss2);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* K = 1 equals plain dropout + linear (+ loss): dropout_forward then predict gives the same
 * logits, bit for bit (the same GEMM on the same data). */
Test(head, one_sample_is_dropout_then_linear, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 7, H = 33, C = 5 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = 1,
                         .rate = 0.4,
                         .loss = CLMSD_LOSS_MSE,
                         .combine = CLMSD_AVERAGE_LOSSES};
    inputs in = inputs_make(ctx, &d, true);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cl_mem xd = test_buffer(ctx, NULL, B * H * 4), l1 = test_buffer(ctx, NULL, B * C * 4),
           l2 = test_buffer(ctx, NULL, B * C * 4);
    clmsd_dropout_desc dd = {.seed = 8, .step = 2, .samples = 1, .rate = 0.4, .rows = B, .cols = H};
    cr_assert_eq(clmsd_dropout_forward(ctx, &dd, in.bx, 0, H, xd, 0, H, 0, NULL, NULL), CLMSD_SUCCESS);
    clmsd_head_args a = {.seed = 8, .step = 2, .x = in.bx, .w = in.bw, .bias = in.bb, .logits = l1};
    cr_assert_eq(clmsd_head_forward(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    a.x = xd, a.logits = l2;
    cr_assert_eq(clmsd_head_predict(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    float z1[B * C], z2[B * C];
    read_floats(ctx, l1, z1, B * C);
    read_floats(ctx, l2, z2, B * C);
    cr_assert(memcmp(z1, z2, sizeof z1) == 0, "K = 1 logits differ from dropout + predict");
    clmsd_head_destroy(head);
    clReleaseMemObject(xd), clReleaseMemObject(l1), clReleaseMemObject(l2);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* AVERAGE_LOSSES equals a plain linear + loss over the K*B stacked dropped rows (a K = 1, p = 0
 * head of batch K*B on dropout_forward's output, targets repeated K times). */
Test(head, average_losses_is_the_stacked_batch, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 6, H = 21, C = 4, K = 5 };
    for (int loss = 0; loss <= CLMSD_LOSS_MSE; ++loss) {
        clmsd_head_desc d = {.batch = B,
                             .features = H,
                             .classes = C,
                             .samples = K,
                             .rate = 0.3,
                             .loss = (clmsd_loss)loss,
                             .combine = CLMSD_AVERAGE_LOSSES};
        clmsd_head_desc stacked = {.batch = K * B,
                                   .features = H,
                                   .classes = C,
                                   .samples = 1,
                                   .rate = 0.0,
                                   .loss = (clmsd_loss)loss,
                                   .combine = CLMSD_AVERAGE_LOSSES};
        inputs in = inputs_make(ctx, &d, true);
        size_t tsize = loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? B : B * C;
        cl_mem xd = test_buffer(ctx, NULL, K * B * H * 4), tk = test_buffer(ctx, NULL, K * tsize * 4);
        for (int k = 0; k < K; ++k)
            clEnqueueCopyBuffer(clmsd_context_queue(ctx), in.bt, tk, 0, k * tsize * 4, tsize * 4, 0, NULL, NULL);
        clmsd_dropout_desc dd = {.seed = 4, .step = 6, .samples = K, .rate = 0.3, .rows = B, .cols = H};
        cr_assert_eq(clmsd_dropout_forward(ctx, &dd, in.bx, 0, H, xd, 0, H, 0, NULL, NULL), CLMSD_SUCCESS);
        clmsd_head *h1, *h2;
        cr_assert_eq(clmsd_head_create(ctx, &d, &h1), CLMSD_SUCCESS);
        cr_assert_eq(clmsd_head_create(ctx, &stacked, &h2), CLMSD_SUCCESS);
        cl_mem out1 = test_buffer(ctx, NULL, (1 + C * H + C) * 4), out2 = test_buffer(ctx, NULL, (1 + C * H + C) * 4);
        clmsd_head_args a = {.seed = 4,
                             .step = 6,
                             .x = in.bx,
                             .w = in.bw,
                             .bias = in.bb,
                             .target = in.bt,
                             .loss = out1,
                             .dw = out1,
                             .dw_off = 1,
                             .dbias = out1,
                             .dbias_off = 1 + C * H};
        cr_assert_eq(clmsd_head_train_step(h1, &a, 0, NULL, NULL), CLMSD_SUCCESS);
        a.x = xd, a.target = tk, a.loss = a.dw = a.dbias = out2;
        cr_assert_eq(clmsd_head_train_step(h2, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
        float v1[1 + C * H + C], v2[1 + C * H + C];
        read_floats(ctx, out1, v1, 1 + C * H + C);
        read_floats(ctx, out2, v2, 1 + C * H + C);
        double ref[1 + C * H + C];
        for (int i = 0; i < 1 + C * H + C; ++i)
            ref[i] = v2[i];
        test_assert_close(v1, ref, 1, K * B * C, "loss");
        test_assert_close(v1 + 1, ref + 1, C * H, K * B, "dw");
        test_assert_close(v1 + 1 + C * H, ref + 1 + C * H, C, K * B, "dbias");
        clmsd_head_destroy(h1), clmsd_head_destroy(h2);
        clReleaseMemObject(xd), clReleaseMemObject(tk), clReleaseMemObject(out1), clReleaseMemObject(out2);
        inputs_free(&in);
    }
    clmsd_context_destroy(ctx);
}

/* AVERAGE_LOGITS equals one GEMM on the averaged mask: predict on Xbar = X * mean_k(keep_k s_k). */
Test(head, average_logits_is_one_gemm_on_the_averaged_mask, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 5, H = 27, C = 3, K = 4 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rates = kaggle_rates,
                         .rate = 0.0,
                         .loss = CLMSD_LOSS_BCE_WITH_LOGITS,
                         .combine = CLMSD_AVERAGE_LOGITS};
    inputs in = inputs_make(ctx, &d, true);
    clmsd_dropout_desc dd = {
        .seed = 12, .step = 1, .samples = K, .rates = kaggle_rates, .rate = 0.0, .rows = B, .cols = H};
    float xd[K * B * H], xbar[B * H];
    double ref[B * C];
    clmsd_ref_dropout_forward(&dd, in.x, H, xd, H);
    for (int i = 0; i < B * H; ++i) {
        double acc = 0;
        for (int k = 0; k < K; ++k)
            acc += xd[k * B * H + i];
        xbar[i] = (float)(acc / K);
    }
    for (int b = 0; b < B; ++b)
        for (int c = 0; c < C; ++c) {
            double z = in.bias[c];
            for (int h = 0; h < H; ++h)
                z += (double)xbar[b * H + h] * in.w[c * H + h];
            ref[b * C + c] = z;
        }
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cl_mem lg = test_buffer(ctx, NULL, B * C * 4);
    clmsd_head_args a = {.seed = 12, .step = 1, .x = in.bx, .w = in.bw, .bias = in.bb, .logits = lg};
    cr_assert_eq(clmsd_head_forward(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    float z[B * C];
    read_floats(ctx, lg, z, B * C);
    test_assert_close(z, ref, B * C, H + K, "average-logits logits");
    clmsd_head_destroy(head);
    clReleaseMemObject(lg);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* Class ids outside [0, C) are counted, left out of loss and gradient; all ignored gives 0. */
Test(head, ignored_class_ids, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 6, H = 10, C = 4, K = 3 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES};
    inputs in = inputs_make(ctx, &d, true);
    const int32_t ids[2][B] = {{1, -1, C, INT32_MAX, 0, INT32_MIN}, {-100, C, INT32_MAX, -1, C + 1, INT32_MIN}};
    for (int set = 0; set < 2; ++set) {
        cl_mem bt = test_buffer(ctx, ids[set], sizeof ids[set]);
        cl_mem out = test_buffer(ctx, NULL, (2 + B * H) * 4);
        clmsd_head *head;
        cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
        clmsd_head_args a = {.seed = 1,
                             .x = in.bx,
                             .w = in.bw,
                             .bias = in.bb,
                             .target = bt,
                             .loss = out,
                             .ignored = out,
                             .ignored_off = 1,
                             .dx = out,
                             .dx_off = 2};
        cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
        float v[2 + B * H];
        read_floats(ctx, out, v, 2 + B * H);
        uint32_t ignored;
        memcpy(&ignored, &v[1], 4);
        cr_assert_eq(ignored, set == 0 ? 4u : 6u);
        double rl;
        clmsd_ref_head_args ra = {.seed = 1, .x = in.x, .w = in.w, .bias = in.bias, .target = ids[set], .loss = &rl};
        cr_assert_eq(clmsd_ref_head_train_step(&d, &ra), CLMSD_SUCCESS);
        test_assert_close(v, &rl, 1, K * B * C + H, "loss");
        if (set == 1)
            cr_assert_eq(v[0], 0.0f, "all ids ignored: the loss is 0");
        for (int b = 0; b < B; ++b)
            if (ids[set][b] < 0 || ids[set][b] >= C)
                for (int h = 0; h < H; ++h)
                    cr_assert_eq(v[2 + b * H + h], 0.0f, "row %d has an ignored id but a gradient", b);
        clmsd_head_destroy(head);
        clReleaseMemObject(bt), clReleaseMemObject(out);
    }
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* Outputs holding NaN are overwritten (not scaled by 0) when accumulate is off. */
Test(head, overwrite_ignores_old_contents, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 300, H = 520, C = 40, K = 2 }; /* large enough for CLBlast's indirect GEMM too */
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_MSE,
                         .combine = CLMSD_AVERAGE_LOSSES};
    inputs in = inputs_make(ctx, &d, true);
    float *nan = malloc(B * H * 4);
    for (int i = 0; i < B * H; ++i)
        nan[i] = NAN;
    cl_mem dx = test_buffer(ctx, nan, B * H * 4), dw = test_buffer(ctx, nan, C * H * 4),
           db = test_buffer(ctx, nan, C * 4);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    clmsd_head_args a = {.x = in.bx, .w = in.bw, .bias = in.bb, .target = in.bt, .dx = dx, .dw = dw, .dbias = db};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    read_floats(ctx, dx, nan, B * H);
    for (int i = 0; i < B * H; ++i)
        cr_assert(isfinite(nan[i]), "dx[%d] is not finite", i);
    read_floats(ctx, dw, nan, C * H);
    for (int i = 0; i < C * H; ++i)
        cr_assert(isfinite(nan[i]), "dw[%d] is not finite", i);
    read_floats(ctx, db, nan, C);
    for (int i = 0; i < C; ++i)
        cr_assert(isfinite(nan[i]), "db[%d] is not finite", i);
    clmsd_head_destroy(head);
    clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(db);
    free(nan);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* The CE loss rows take 16 exps at a time (clmsd_exp16): with logits from 0 down to -220, the exps
 * run from 1 through denormal results to the cut to 0 below -104, and loss and gradients still
 * equal the exact host reference (scalar clmsd_exp) bit for bit. On a device that reports flushing
 * fp32 denormals (no CL_FP_DENORM: rusticl's llvmpipe), what stays exact is pinned: the loss and
 * dX, and every dW and db element whose reference is not denormal; a denormal reference element
 * may come out as that value or as a zero of its sign, nothing else. */
Test(fused, cross_entropy_exps_over_their_whole_range, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 3, H = 1, C = 45 };
    float x[B] = {1.0f, 2.0f, 1.5f}, w[C], bias[C] = {0};
    int32_t y[B] = {0, 10, 5};
    for (int c = 0; c < C; ++c)
        w[c] = -2.5f * (float)c; /* logits -2.5 c x[b]: exact */
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = 1,
                         .rate = 0.0,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES,
                         .engine = CLMSD_ENGINE_FUSED};
    float el, edx[B], edw[C], edb[C];
    uint32_t eignored;
    clmsd_ref_head_exact_args ea = {.seed = 1,
                                    .x = x,
                                    .w = w,
                                    .bias = bias,
                                    .target = y,
                                    .loss = &el,
                                    .ignored = &eignored,
                                    .dx = edx,
                                    .dw = edw,
                                    .dbias = edb};
    cr_assert_eq(clmsd_ref_head_exact_train_step(&d, &ea), CLMSD_SUCCESS);
    cl_mem bx = test_buffer(ctx, x, sizeof x), bw = test_buffer(ctx, w, sizeof w),
           bb = test_buffer(ctx, bias, sizeof bias);
    cl_mem by = test_buffer(ctx, y, sizeof y), out = test_buffer(ctx, NULL, (1 + B + 2 * C) * 4);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    clmsd_head_args a = {.seed = 1,
                         .x = bx,
                         .w = bw,
                         .bias = bb,
                         .target = by,
                         .loss = out,
                         .dx = out,
                         .dx_off = 1,
                         .dw = out,
                         .dw_off = 1 + B,
                         .dbias = out,
                         .dbias_off = 1 + B + C};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    float dev[1 + B + 2 * C];
    test_read(ctx, out, 0, dev, sizeof dev);
    head_case t = {B, H, C, 1, NULL, 0.0, true, 0};
    assert_bits(dev, &el, 1, "loss", &t);
    assert_bits(dev + 1, edx, B, "dx", &t);
    if (test_device_keeps_denormals(ctx)) {
        assert_bits(dev + 1 + B, edw, C, "dw", &t);
        assert_bits(dev + 1 + B + C, edb, C, "dbias", &t);
    } else {
        cr_log_info("%s reports flushing fp32 denormals: denormal dW and db elements may be 0",
                    clmsd_context_device_name(ctx));
        const float *refs[2] = {edw, edb}, *devs[2] = {dev + 1 + B, dev + 1 + B + C};
        for (int o = 0; o < 2; ++o)
            for (int c = 0; c < C; ++c) {
                float r = refs[o][c], v = devs[o][c];
                bool denormal = r != 0.0f && fabsf(r) < FLT_MIN, same = memcmp(&r, &v, 4) == 0;
                cr_assert(same || (denormal && v == 0.0f && signbit(v) == signbit(r)),
                          "%s[%d]: fused %.9g, exact reference %.9g", o ? "dbias" : "dw", c, (double)v, (double)r);
            }
    }
    /* db[c] sums the rows' exps (scaled): row 0 alone reaches -87.5 to -102.5 at c = 35 .. 41
     * (denormal exps) and -105 at c = 42 (cut to 0), where the other rows are already 0 */
    cr_assert(edb[42] == 0.0f && edb[38] != 0.0f && fabsf(edb[38]) < FLT_MIN,
              "the case should reach exps that are 0 and denormal: db[42] %g, db[38] %g", (double)edb[42],
              (double)edb[38]);
    clmsd_head_destroy(head);
    clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(bb), clReleaseMemObject(by);
    clReleaseMemObject(out);
    clmsd_context_destroy(ctx);
}

/* The fused engine folds small jobs into its big kernels (the valid-id count into the W
 * transpose, db into the dW kernel) only when those kernels run: any subset of the outputs gives
 * the same bits as the full step. */
Test(fused, any_subset_of_outputs, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 7, H = 45, C = 20, K = 3, OUTS = 1 + 1 + B * C + B * H + C * H + C };
    enum { LOSS = 1, IGNORED = 2, LOGITS = 4, DX = 8, DW = 16, DB = 32 };
    static const int subsets[] = {DB, DW, DX, LOSS, LOSS | IGNORED, LOGITS, DW | DB, DX | DB, LOSS | DX};
    for (int loss = 0; loss < 3; ++loss) {
        clmsd_head_desc d = {.batch = B,
                             .features = H,
                             .classes = C,
                             .samples = K,
                             .rate = 0.4,
                             .loss = (clmsd_loss)loss,
                             .combine = CLMSD_AVERAGE_LOSSES,
                             .engine = CLMSD_ENGINE_FUSED};
        inputs in = inputs_make(ctx, &d, true);
        clmsd_head *head;
        cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
        float *full = malloc(OUTS * 4), *part = malloc(OUTS * 4);
        cl_mem out = test_buffer(ctx, NULL, OUTS * 4);
        for (int run = -1; run < (int)(sizeof subsets / sizeof subsets[0]); ++run) {
            int want = run < 0 ? LOSS | IGNORED | LOGITS | DX | DW | DB : subsets[run];
            memset(part, 0, OUTS * 4);
            cr_assert_eq(clEnqueueWriteBuffer(clmsd_context_queue(ctx), out, CL_TRUE, 0, OUTS * 4, part, 0, NULL, NULL),
                         CL_SUCCESS);
            size_t at_logits = 2, at_dx = at_logits + B * C, at_dw = at_dx + B * H, at_db = at_dw + C * H;
            clmsd_head_args a = {.seed = 9,
                                 .step = 4,
                                 .row_offset = 3,
                                 .x = in.bx,
                                 .w = in.bw,
                                 .bias = in.bb,
                                 .target = in.bt,
                                 .loss = want & LOSS ? out : NULL,
                                 .ignored = want & IGNORED ? out : NULL,
                                 .ignored_off = 1,
                                 .logits = want & LOGITS ? out : NULL,
                                 .logits_off = at_logits,
                                 .dx = want & DX ? out : NULL,
                                 .dx_off = at_dx,
                                 .dw = want & DW ? out : NULL,
                                 .dw_off = at_dw,
                                 .dbias = want & DB ? out : NULL,
                                 .dbias_off = at_db};
            cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s",
                         clmsd_context_last_error(ctx));
            test_read(ctx, out, 0, run < 0 ? full : part, OUTS * 4);
            if (run < 0)
                continue;
            const struct {
                int bit;
                size_t at, n;
                const char *name;
            } parts[] = {{LOSS, 0, 1, "loss"},     {IGNORED, 1, 1, "ignored"}, {LOGITS, at_logits, B * C, "logits"},
                         {DX, at_dx, B * H, "dx"}, {DW, at_dw, C * H, "dw"},   {DB, at_db, C, "dbias"}};
            for (size_t p = 0; p < sizeof parts / sizeof parts[0]; ++p)
                for (size_t i = 0; i < parts[p].n; ++i) {
                    float expect = want & parts[p].bit ? full[parts[p].at + i] : 0.0f;
                    cr_assert(memcmp(&part[parts[p].at + i], &expect, 4) == 0,
                              "loss %d, outputs %#x: %s[%zu] is %.9g, the full step gave %.9g", loss, want,
                              parts[p].name, i, (double)part[parts[p].at + i], (double)expect);
                }
        }
        clReleaseMemObject(out);
        free(full), free(part);
        clmsd_head_destroy(head);
        inputs_free(&in);
    }
    clmsd_context_destroy(ctx);
}

Test(head, bad_input, .timeout = 900)
{
    clmsd_context *ctx = test_context(), *other = test_context();
    enum { B = 4, H = 8, C = 3, K = 2 };
    const clmsd_head_desc good = {.batch = B,
                                  .features = H,
                                  .classes = C,
                                  .samples = K,
                                  .rate = 0.5,
                                  .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                                  .combine = CLMSD_AVERAGE_LOSSES};
    clmsd_head *head = NULL;
    struct {
        clmsd_head_desc d;
        const char *what;
        clmsd_status expect;
    } descs[] = {
        {{0, H, C, K, NULL, 0.5, 0, 0, 0, NULL}, "B = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, 0, C, K, NULL, 0.5, 0, 0, 0, NULL}, "H = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, 0, K, NULL, 0.5, 0, 0, 0, NULL}, "C = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, C, 0, NULL, 0.5, 0, 0, 0, NULL}, "K = 0", CLMSD_ERROR_INVALID_SIZE},
        {{SIZE_MAX / 2, H, C, K, NULL, 0.5, 0, 0, 0, NULL}, "overflowing B * H", CLMSD_ERROR_INVALID_SIZE},
        {{B, (size_t)1 << 33, C, K, NULL, 0.5, 0, 0, 0, NULL}, "B * H past 2^34", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, (size_t)1 << 40, K, NULL, 0.5, 0, 0, 0, NULL}, "C past 2^31", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, C, K, NULL, 1.0, 0, 0, 0, NULL}, "rate 1", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, NAN, 0, 0, 0, NULL}, "rate NaN", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, (const double[]){0.1, -0.1}, 0.0, 0, 0, 0, NULL}, "rates[1] < 0", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, (clmsd_loss)7, 0, 0, NULL}, "loss 7", CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, (clmsd_combine)-1, 0, NULL}, "combine -1", CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, 0, (clmsd_engine)9, NULL}, "engine 9", CLMSD_ERROR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; ++i) {
        clmsd_status st = clmsd_head_create(ctx, &descs[i].d, &head);
        cr_assert_eq(st, descs[i].expect, "%s: got %s", descs[i].what, clmsd_status_string(st));
        cr_assert_null(head);
        cr_assert_str_neq(clmsd_context_last_error(ctx), "");
    }
    cr_assert_eq(clmsd_head_create(NULL, &good, &head), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_create(ctx, NULL, &head), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_create(ctx, &good, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    for (int engine = CLMSD_ENGINE_CLBLAST; engine <= CLMSD_ENGINE_FUSED; ++engine) {
        clmsd_head_desc with_ws = good;
        size_t bytes = 0;
        with_ws.engine = (clmsd_engine)engine;
        cr_assert_eq(clmsd_head_workspace_size(&with_ws, &bytes), CLMSD_SUCCESS);
        cl_mem small_ws = test_buffer(ctx, NULL, bytes - 4);
        with_ws.workspace = small_ws;
        cr_assert_eq(clmsd_head_create(ctx, &with_ws, &head), CLMSD_ERROR_INVALID_BUFFER, "engine %d", engine);
        clReleaseMemObject(small_ws);
    }
    cr_assert_eq(clmsd_head_create(ctx, &good, &head), CLMSD_SUCCESS);

    inputs in = inputs_make(ctx, &good, true);
    cl_mem foreign = test_buffer(other, in.x, B * H * 4), small = test_buffer(ctx, in.x, 4);
    const size_t outs = 1 + B * C + B * H + C * H + C;
    cl_mem out = test_canary_buffer(ctx, outs * 4);
    const clmsd_head_args ok = {.x = in.bx,
                                .w = in.bw,
                                .bias = in.bb,
                                .target = in.bt,
                                .loss = out,
                                .logits = out,
                                .logits_off = 1,
                                .dx = out,
                                .dx_off = 1 + B * C,
                                .dw = out,
                                .dw_off = 1 + B * C + B * H,
                                .dbias = out,
                                .dbias_off = outs - C};
    struct {
        clmsd_head_args a;
        const char *what;
        clmsd_status expect;
    } calls[8];
    int n = 0;
#define CALL(field, value, status) \
    calls[n].a = ok, calls[n].a.field = value, calls[n].what = #field " = " #value, calls[n].expect = status, ++n;
    CALL(x, NULL, CLMSD_ERROR_INVALID_ARGUMENT)
    CALL(w, small, CLMSD_ERROR_INVALID_BUFFER)
    CALL(x, foreign, CLMSD_ERROR_INVALID_BUFFER)
    CALL(target, NULL, CLMSD_ERROR_INVALID_ARGUMENT)
    CALL(dbias_off, outs - C + 1, CLMSD_ERROR_INVALID_BUFFER)
    CALL(x_off, SIZE_MAX, CLMSD_ERROR_INVALID_SIZE)
    CALL(row_offset, (size_t)1 << 34, CLMSD_ERROR_INVALID_SIZE)
    CALL(bias, small, CLMSD_ERROR_INVALID_BUFFER)
#undef CALL
    for (int i = 0; i < n; ++i) {
        clmsd_status st = clmsd_head_train_step(head, &calls[i].a, 0, NULL, NULL);
        cr_assert_eq(st, calls[i].expect, "train_step with %s: got %s", calls[i].what, clmsd_status_string(st));
        cr_assert_str_neq(clmsd_context_last_error(ctx), "");
    }
    cr_assert_eq(clmsd_head_train_step(NULL, &ok, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_train_step(head, NULL, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_train_step(head, &ok, 2, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    clmsd_head_args no_logits = ok;
    no_logits.logits = NULL;
    cr_assert_eq(clmsd_head_predict(head, &no_logits, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    test_assert_canary(ctx, out, outs * 4, "head bad input");
    clmsd_head_destroy(head);
    clmsd_head_destroy(NULL);
    clReleaseMemObject(foreign), clReleaseMemObject(small), clReleaseMemObject(out);
    inputs_free(&in);
    clmsd_context_destroy(other);
    clmsd_context_destroy(ctx);
}

/* A caller-supplied workspace and an event that waits for the whole step (CLBlast's included). */
Test(head, caller_workspace_and_events, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    test_skip_user_events_on_pocl_basic(ctx);
    enum { B = 8, H = 24, C = 5, K = 4 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.25,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES};
    size_t bytes;
    cr_assert_eq(clmsd_head_workspace_size(&d, &bytes), CLMSD_SUCCESS);
    cl_mem ws = test_buffer(ctx, NULL, bytes);
    d.workspace = ws;
    inputs in = inputs_make(ctx, &d, true);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cl_mem loss = test_buffer(ctx, NULL, 4);
    cl_int err;
    cl_event gate = clCreateUserEvent(clmsd_context_cl_context(ctx), &err), done = NULL;
    clmsd_head_args a = {.seed = 2, .x = in.bx, .w = in.bw, .bias = in.bb, .target = in.bt, .loss = loss};
    cr_assert_eq(clmsd_head_train_step(head, &a, 1, &gate, &done), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_int state;
    clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state, NULL);
    cr_assert_neq(state, CL_COMPLETE);
    clSetUserEventStatus(gate, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    float l;
    read_floats(ctx, loss, &l, 1);
    double rl;
    clmsd_ref_head_args ra = {.seed = 2, .x = in.x, .w = in.w, .bias = in.bias, .target = in.ti, .loss = &rl};
    clmsd_ref_head_train_step(&d, &ra);
    test_assert_close(&l, &rl, 1, K * B * C + H, "loss");
    clReleaseEvent(gate), clReleaseEvent(done);
    clmsd_head_destroy(head);
    clReleaseMemObject(loss), clReleaseMemObject(ws);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

/* AUTO picks an engine that exists, gives the results of that engine bit for bit, and
 * $CLMSD_ENGINE forces one; the fused engine's predict equals the exact reference bit for bit,
 * and the two engines agree within the size-derived tolerance. */
Test(head, auto_engine_and_environment, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 6, H = 45, C = 7, K = 3 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.3,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES};
    inputs in = inputs_make(ctx, &d, true);
    float out[3][1 + B * C + C * H];
    for (int e = 0; e < 3; ++e) {
        d.engine = (clmsd_engine)e;
        clmsd_head *head;
        unsetenv("CLMSD_ENGINE");
        cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
        if (e == CLMSD_ENGINE_AUTO)
            cr_assert(clmsd_head_engine(head) == CLMSD_ENGINE_FUSED || clmsd_head_engine(head) == CLMSD_ENGINE_CLBLAST);
        cl_mem o = test_buffer(ctx, NULL, sizeof out[e]);
        clmsd_head_args a = {.seed = 4,
                             .x = in.bx,
                             .w = in.bw,
                             .bias = in.bb,
                             .target = in.bt,
                             .loss = o,
                             .logits = o,
                             .logits_off = 1,
                             .dw = o,
                             .dw_off = 1 + B * C};
        cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
        read_floats(ctx, o, out[e], 1 + B * C + C * H);
        clReleaseMemObject(o);
        clmsd_engine picked = clmsd_head_engine(head);
        clmsd_head_destroy(head);
        if (e == CLMSD_ENGINE_AUTO) {
            /* compare with the engine it picked, made explicitly */
            clmsd_head_desc explicit_desc = d;
            explicit_desc.engine = picked;
            cr_assert_eq(clmsd_head_create(ctx, &explicit_desc, &head), CLMSD_SUCCESS);
            cl_mem o2 = test_buffer(ctx, NULL, sizeof out[e]);
            a.loss = a.logits = a.dw = o2;
            cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
            float again[1 + B * C + C * H];
            read_floats(ctx, o2, again, 1 + B * C + C * H);
            cr_assert(memcmp(again, out[e], sizeof again) == 0, "AUTO differs from the engine it picked");
            clReleaseMemObject(o2);
            clmsd_head_destroy(head);
        }
    }
    double ref[1 + B * C + C * H];
    for (int i = 0; i < 1 + B * C + C * H; ++i)
        ref[i] = out[CLMSD_ENGINE_CLBLAST][i];
    test_assert_close(out[CLMSD_ENGINE_FUSED], ref, 1, K * B * C + H, "fused vs clblast loss");
    test_assert_close(out[CLMSD_ENGINE_FUSED] + 1, ref + 1, B * C, 2 * (H + K), "fused vs clblast logits");
    test_assert_close(out[CLMSD_ENGINE_FUSED] + 1 + B * C, ref + 1 + B * C, C * H, 2 * (K * B + H + C + 4),
                      "fused vs clblast dw");

    setenv("CLMSD_ENGINE", "clblast", 1);
    d.engine = CLMSD_ENGINE_AUTO;
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_head_engine(head), CLMSD_ENGINE_CLBLAST);
    clmsd_head_destroy(head);
    setenv("CLMSD_ENGINE", "fused", 1);
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_head_engine(head), CLMSD_ENGINE_FUSED);
    clmsd_head_destroy(head);
    setenv("CLMSD_ENGINE", "tensorcore", 1);
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_ERROR_INVALID_ARGUMENT);
    unsetenv("CLMSD_ENGINE");

    /* fused predict, bit for bit */
    d.engine = CLMSD_ENGINE_FUSED;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    cl_mem lg = test_buffer(ctx, NULL, B * C * 4);
    clmsd_head_args p = {.x = in.bx, .w = in.bw, .bias = in.bb, .logits = lg};
    cr_assert_eq(clmsd_head_predict(head, &p, 0, NULL, NULL), CLMSD_SUCCESS);
    float dev[B * C], exact[B * C];
    read_floats(ctx, lg, dev, B * C);
    clmsd_ref_head_exact_args ea = {.x = in.x, .w = in.w, .bias = in.bias, .logits = exact};
    cr_assert_eq(clmsd_ref_head_exact_predict(&d, &ea), CLMSD_SUCCESS);
    cr_assert(memcmp(dev, exact, sizeof dev) == 0, "fused predict differs from the exact reference");
    clReleaseMemObject(lg);
    clmsd_head_destroy(head);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}
