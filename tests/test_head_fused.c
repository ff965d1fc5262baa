/* SPDX-License-Identifier: MIT */
/* What only the fused engine does: exps through denormals and the cut to 0, bit for bit, and the
 * small jobs it folds into its big kernels. */
#include "test_head_common.h"

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
