/* SPDX-License-Identifier: MIT */
/* The head on the device, every loss and combine mode over six shapes: both engines within
 * size-derived tolerances of the double reference, the fused engine bit for bit equal to the exact
 * reference (docs/canonical-order.md). */
#include "test_head_common.h"

/* the case's outputs on the device, canaried (out_make): loss, logits, dx, dw, dbias, ignored */
typedef struct outputs {
    out_buf loss, logits, dx, dw, dbias, ignored;
} outputs;

/* the device against clmsd_ref_head_train_step, within size-derived tolerances (accumulate: the
 * expectation is the prefill plus the reference) */
static void check_double(clmsd_context *ctx, const clmsd_head_desc *d, const inputs *in, outputs *o, const head_case *t)
{
    const size_t B = t->B, H = t->H, C = t->C, K = t->K;
    double rl, *rlogits = malloc(B * C * 8), *rdx = malloc(B * H * 8), *rdw = malloc(C * H * 8), *rdb = malloc(C * 8);
    uint32_t rignored, ignored;
    clmsd_ref_head_args ra = {.seed = 17,
                              .step = 3,
                              .row_offset = 5,
                              .x = in->x,
                              .w = in->w,
                              .bias = in->bias,
                              .target = host_target(d, in),
                              .loss = &rl,
                              .logits = rlogits,
                              .ignored = &rignored,
                              .dx = rdx,
                              .dw = rdw,
                              .dbias = rdb};
    cr_assert_eq(clmsd_ref_head_train_step(d, &ra), CLMSD_SUCCESS);
    float *dev = malloc((B * H + C * H + B * C + 8) * 4);
    double *expect = malloc((B * H + C * H + B * C + 8) * 8);
    const struct {
        out_buf *o;
        const double *ref;
        size_t n;
        double terms;
        bool accumulated;
        const char *name;
    } checks[] = {
        {&o->loss, &rl, 1, (double)K * B * C + H, false, "loss"},
        {&o->logits, rlogits, B * C, (double)H + K, false, "logits"},
        {&o->dx, rdx, B * H, (double)K * C + H + 4, true, "dx"},
        {&o->dw, rdw, C * H, (double)K * B + H + C + 4, true, "dw"},
        {&o->dbias, rdb, C, (double)K * B + H + C + 4, true, "dbias"},
    };
    for (size_t j = 0; j < sizeof checks / sizeof checks[0]; ++j) {
        out_read(ctx, checks[j].o, dev, checks[j].name);
        bool add = checks[j].accumulated && t->accumulate;
        for (size_t i = 0; i < checks[j].n; ++i)
            expect[i] = checks[j].ref[i] + (add ? (double)checks[j].o->host[i] : 0.0);
        test_assert_close(dev, expect, checks[j].n, checks[j].terms, checks[j].name);
    }
    out_read(ctx, &o->ignored, (float *)&ignored, "ignored");
    cr_assert_eq(ignored, rignored, "ignored ids: %u, expected %u", ignored, rignored);
    free(rlogits);
    free(rdx);
    free(rdw);
    free(rdb);
    free(dev);
    free(expect);
}

/* the fused engine against clmsd_ref_head_exact_train_step, bit for bit (accumulate: onto the
 * same prefill) */
static void check_exact(clmsd_context *ctx, const clmsd_head_desc *d, const inputs *in, outputs *o, const head_case *t)
{
    const size_t B = t->B, H = t->H, C = t->C;
    float el, *elogits = malloc(B * C * 4), *edx = malloc(B * H * 4), *edw = malloc(C * H * 4), *edb = malloc(C * 4);
    float *dev = malloc((B * H + C * H + B * C + 8) * 4);
    uint32_t eignored, ignored;
    memcpy(edx, o->dx.host, B * H * 4);
    memcpy(edw, o->dw.host, C * H * 4);
    memcpy(edb, o->dbias.host, C * 4);
    clmsd_ref_head_exact_args ea = {.seed = 17,
                                    .step = 3,
                                    .row_offset = 5,
                                    .x = in->x,
                                    .w = in->w,
                                    .bias = in->bias,
                                    .target = host_target(d, in),
                                    .loss = &el,
                                    .logits = elogits,
                                    .ignored = &eignored,
                                    .dx = edx,
                                    .dw = edw,
                                    .dbias = edb,
                                    .accumulate = t->accumulate};
    cr_assert_eq(clmsd_ref_head_exact_train_step(d, &ea), CLMSD_SUCCESS);
    const struct {
        out_buf *o;
        const float *ref;
        size_t n;
        const char *name;
    } checks[] = {{&o->loss, &el, 1, "loss"},
                  {&o->logits, elogits, B * C, "logits"},
                  {&o->dx, edx, B * H, "dx"},
                  {&o->dw, edw, C * H, "dw"},
                  {&o->dbias, edb, C, "dbias"}};
    for (size_t j = 0; j < sizeof checks / sizeof checks[0]; ++j) {
        out_read(ctx, checks[j].o, dev, checks[j].name);
        assert_bits(dev, checks[j].ref, checks[j].n, checks[j].name, t);
    }
    out_read(ctx, &o->ignored, (float *)&ignored, "ignored");
    cr_assert_eq(ignored, eignored, "ignored ids: %u, the exact reference %u", ignored, eignored);
    free(elogits);
    free(edx);
    free(edw);
    free(edb);
    free(dev);
}

/* train_step on the device against clmsd_ref_head_train_step (within size-derived tolerances) and,
 * for the fused engine, against clmsd_ref_head_exact_train_step (bit for bit) */
static void check_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine,
                       const head_case *t)
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
                         .huber_delta = 0.25}; /* (Huber: both branches on these logits) */
    inputs in = inputs_make(ctx, &d, t->bias);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clmsd_head_engine(head), engine);
    outputs o = {out_make(ctx, 1, 31),     out_make(ctx, B * C, 32), out_make(ctx, B * H, 33),
                 out_make(ctx, C * H, 34), out_make(ctx, C, 35),     out_make(ctx, 1, 36)};
    clmsd_head_args a = {.seed = 17,
                         .step = 3,
                         .row_offset = 5,
                         .x = in.bx,
                         .w = in.bw,
                         .bias = in.bb,
                         .target = in.bt,
                         .loss = o.loss.mem,
                         .logits = o.logits.mem,
                         .ignored = o.ignored.mem,
                         .dx = o.dx.mem,
                         .dw = o.dw.mem,
                         .dbias = o.dbias.mem,
                         .accumulate = t->accumulate};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    check_double(ctx, &d, &in, &o, t);
    if (engine == CLMSD_ENGINE_FUSED)
        check_exact(ctx, &d, &in, &o, t);
    clmsd_head_destroy(head);
    out_buf *all[] = {&o.loss, &o.logits, &o.dx, &o.dw, &o.dbias, &o.ignored};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        out_free(all[i]);
    inputs_free(&in);
}

static const head_case cases[] = {
    /* B  H  C  K  rates rate bias accumulate */
    {1, 5, 1, 1, NULL, 0.5, true, 0},           /* B = 1, C = 1, K = 1 */
    {4, 13, 2, 5, NULL, 0.3, false, 0},         /* C = 2, H not a multiple of 4, no bias */
    {6, 70, 3, 8, kaggle_rates, 0.0, true, 1},  /* per-sample rates, accumulate */
    {3, 9, 4, 64, NULL, 0.5, true, 0},          /* K = 64 */
    {32, 131, 30, 8, NULL, 0.5, true, 1},       /* a Kaggle-like head, H not a multiple of 64 */
    {5, 64, 7, 5, kaggle_rates, 0.0, false, 1}, /* per-sample rates, no bias, accumulate */
    {1100, 9, 33, 2, NULL, 0.5, true, 0},       /* 69 row blocks: the dW tree past its private copy */
};

static void check_all(clmsd_loss loss, clmsd_combine combine, clmsd_engine engine)
{
    clmsd_context *ctx = test_context();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        check_case(ctx, loss, combine, engine, &cases[i]);
    clmsd_context_destroy(ctx);
}

/* cross-entropy, then every element-wise loss of the table (cl/clmsd_loss.h), each combine mode */
#define LOSS_TESTS(engine, ENGINE, id, LOSS)                                                             \
    Test(engine, id##_average_losses, .timeout = 900) { check_all(LOSS, CLMSD_AVERAGE_LOSSES, ENGINE); } \
    Test(engine, id##_average_logits, .timeout = 900) { check_all(LOSS, CLMSD_AVERAGE_LOGITS, ENGINE); }
#define CLBLAST_TESTS(ID, id, value, name, unit) LOSS_TESTS(clblast, CLMSD_ENGINE_CLBLAST, id, CLMSD_LOSS_##ID)
#define FUSED_TESTS(ID, id, value, name, unit) LOSS_TESTS(fused, CLMSD_ENGINE_FUSED, id, CLMSD_LOSS_##ID)

LOSS_TESTS(clblast, CLMSD_ENGINE_CLBLAST, cross_entropy, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY)
CLMSD_ELEMENT_LOSSES(CLBLAST_TESTS)
LOSS_TESTS(fused, CLMSD_ENGINE_FUSED, cross_entropy, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY)
CLMSD_ELEMENT_LOSSES(FUSED_TESTS)
