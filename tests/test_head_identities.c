/* SPDX-License-Identifier: MIT */
/* The head's identities (docs/api.md): predict and p = 0, K = 1 as dropout then linear,
 * average losses as the stacked batch, average logits as one GEMM on the averaged mask, ignored
 * class ids, and outputs that overwrite what was there. */
#include "test_head_common.h"

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
    for (int loss = 0; clmsd_loss_name((clmsd_loss)loss); ++loss) {
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

/* Huber with a delta above every |v - t| is MSE / 2, bit for bit, on both engines and in both
 * combine modes: its term fma((v - t) / 2, v - t, total) is MSE's fma(v - t, v - t, total) halved
 * (a power of two scales a correctly rounded result exactly), its derivative v - t half of MSE's,
 * and everything after is linear in them. */
Test(head, huber_below_its_delta_is_half_mse, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    enum { B = 9, H = 19, C = 6, K = 3, OUT = 1 + C * H + C + B * H };
    for (int engine = CLMSD_ENGINE_CLBLAST; engine <= CLMSD_ENGINE_FUSED; ++engine)
        for (int combine = 0; combine <= CLMSD_AVERAGE_LOGITS; ++combine) {
            float got[2][OUT];
            for (int i = 0; i < 2; ++i) {
                clmsd_head_desc d = {.batch = B,
                                     .features = H,
                                     .classes = C,
                                     .samples = K,
                                     .rate = 0.25,
                                     .loss = i ? CLMSD_LOSS_HUBER : CLMSD_LOSS_MSE,
                                     .combine = (clmsd_combine)combine,
                                     .engine = (clmsd_engine)engine,
                                     .huber_delta = 1e30};
                inputs in = inputs_make(ctx, &d, true);
                cl_mem out = test_buffer(ctx, NULL, OUT * 4);
                clmsd_head *head;
                cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
                clmsd_head_args a = {.seed = 3,
                                     .step = 1,
                                     .x = in.bx,
                                     .w = in.bw,
                                     .bias = in.bb,
                                     .target = in.bt,
                                     .loss = out,
                                     .dw = out,
                                     .dw_off = 1,
                                     .dbias = out,
                                     .dbias_off = 1 + C * H,
                                     .dx = out,
                                     .dx_off = 1 + C * H + C};
                cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s",
                             clmsd_context_last_error(ctx));
                read_floats(ctx, out, got[i], OUT);
                clmsd_head_destroy(head);
                clReleaseMemObject(out);
                inputs_free(&in);
            }
            int zeros = 0;
            for (int j = 0; j < OUT; ++j) {
                cr_assert(got[1][j] * 2.0f == got[0][j], "engine %d, combine %d: [%d] %a vs MSE %a", engine, combine, j,
                          got[1][j], got[0][j]);
                zeros += got[0][j] == 0.0f; /* (dX of a feature every sample drops) */
            }
            cr_assert(zeros < OUT / 8, "%d of %d outputs are 0", zeros, OUT);
        }
    clmsd_context_destroy(ctx);
}
