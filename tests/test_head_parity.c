/* SPDX-License-Identifier: MIT */
/* The head on the device, every loss and combine mode over six shapes: both engines within
 * size-derived tolerances of the double reference, the fused engine bit for bit equal to the exact
 * reference (docs/canonical-order.md). */
#include "test_head_common.h"

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
                         .engine = engine,
                         .huber_delta = 0.25}; /* (Huber: both branches on these logits) */
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
