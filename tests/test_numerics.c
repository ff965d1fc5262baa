/* SPDX-License-Identifier: MIT */
/* Numerics at the edges, for both engines: logits of magnitude 1e30, NaN and infinity in the input,
 * every class id ignored, C = 1 with cross-entropy. Each result is the documented one
 * (docs/errors.md): finite loss from finite inputs (CE, BCE), NaN propagates, never a crash. */
#include "helpers.h"

enum { B = 3, H = 4, K = 2 };

/* one train step (p = 0, so every element is kept); returns the loss, dw in dw_out */
static float step(clmsd_context *ctx, clmsd_engine engine, clmsd_loss loss, size_t classes, const float *x,
                  const float *w, const void *target, size_t target_bytes, float *dw_out)
{
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = classes,
                         .samples = K,
                         .rate = 0.0,
                         .loss = loss,
                         .combine = CLMSD_AVERAGE_LOSSES,
                         .engine = engine};
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_mem bx = test_buffer(ctx, x, B * H * 4), bw = test_buffer(ctx, w, classes * H * 4);
    cl_mem bt = test_buffer(ctx, target, target_bytes), out = test_buffer(ctx, NULL, (1 + classes * H) * 4);
    clmsd_head_args a = {.x = bx, .w = bw, .target = bt, .loss = out, .dw = out, .dw_off = 1};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS);
    float l;
    test_read(ctx, out, 0, &l, 4);
    if (dw_out)
        test_read(ctx, out, 4, dw_out, classes * H * 4);
    clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(bt), clReleaseMemObject(out);
    clmsd_head_destroy(head);
    return l;
}

static void each_engine(void (*check)(clmsd_context *, clmsd_engine))
{
    clmsd_context *ctx = test_context();
    check(ctx, CLMSD_ENGINE_CLBLAST);
    check(ctx, CLMSD_ENGINE_FUSED);
    clmsd_context_destroy(ctx);
}

static void huge_logits(clmsd_context *ctx, clmsd_engine e)
{
    enum { C = 3 };
    float x[B * H], w[C * H];
    for (int i = 0; i < B * H; ++i)
        x[i] = 1.0f;
    for (int i = 0; i < C * H; ++i)
        w[i] = (i / H == 1 ? -1.0f : 1.0f) * 2.5e29f; /* logits +-1e30 */
    int32_t ids[B] = {0, 1, 2};
    float t[B * C] = {0, 0.5f, 1, 1, 0.5f, 0, 0.25f, 0.75f, 1};
    float ce = step(ctx, e, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, C, x, w, ids, sizeof ids, NULL);
    float bce = step(ctx, e, CLMSD_LOSS_BCE_WITH_LOGITS, C, x, w, t, sizeof t, NULL);
    float mse = step(ctx, e, CLMSD_LOSS_MSE, C, x, w, t, sizeof t, NULL);
    /* CE: rows with id 0 or 2 lose 0, the row with id 1 loses 2e30: mean 2e30 / 3 */
    cr_assert(isfinite(ce) && fabs(ce - 2e30 / 3) <= 1e24, "CE with 1e30 logits: %g", (double)ce);
    cr_assert(isfinite(bce) && bce > 1e29f, "BCE with 1e30 logits: %g", (double)bce);
    cr_assert(isinf(mse) && mse > 0, "MSE with 1e30 logits overflows fp32 to +inf, got %g", (double)mse);
}

static void nan_and_inf(clmsd_context *ctx, clmsd_engine e)
{
    enum { C = 3 };
    float x[B * H], w[C * H], dw[C * H];
    test_fill(x, B * H, 1), test_fill(w, C * H, 2);
    int32_t ids[B] = {0, 1, 2};
    x[0] = NAN;
    float l = step(ctx, e, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, C, x, w, ids, sizeof ids, dw);
    cr_assert(isnan(l), "a NaN input gives a NaN loss, got %g", (double)l);
    x[0] = INFINITY;
    l = step(ctx, e, CLMSD_LOSS_MSE, C, x, w, (float[B * C]){0}, B * C * 4, NULL);
    cr_assert(isnan(l) || isinf(l), "an infinite input gives a non-finite loss, got %g", (double)l);
}

static void all_ignored(clmsd_context *ctx, clmsd_engine e)
{
    enum { C = 4 };
    float x[B * H], w[C * H], dw[C * H];
    test_fill(x, B * H, 3), test_fill(w, C * H, 4);
    int32_t ids[B] = {-100, C, INT32_MIN};
    float l = step(ctx, e, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, C, x, w, ids, sizeof ids, dw);
    cr_assert_eq(l, 0.0f, "all ids ignored: loss 0, got %g", (double)l);
    for (int i = 0; i < C * H; ++i)
        cr_assert_eq(dw[i], 0.0f, "all ids ignored: dw[%d] = %g", i, (double)dw[i]);
}

static void one_class(clmsd_context *ctx, clmsd_engine e)
{
    float x[B * H], w[H], dw[H];
    test_fill(x, B * H, 5), test_fill(w, H, 6);
    int32_t ids[B] = {0, 0, 0};
    float l = step(ctx, e, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, 1, x, w, ids, sizeof ids, dw);
    cr_assert_eq(l, 0.0f, "C = 1: log-sum-exp of one logit minus itself is 0, got %g", (double)l);
    for (int i = 0; i < H; ++i)
        cr_assert_eq(dw[i], 0.0f, "C = 1: softmax is 1, the gradient 0; dw[%d] = %g", i, (double)dw[i]);
}

Test(numerics, logits_of_magnitude_1e30, .timeout = 600) { each_engine(huge_logits); }
Test(numerics, nan_and_infinity_propagate, .timeout = 600) { each_engine(nan_and_inf); }
Test(numerics, all_class_ids_ignored, .timeout = 600) { each_engine(all_ignored); }
Test(numerics, one_class_cross_entropy, .timeout = 600) { each_engine(one_class); }
