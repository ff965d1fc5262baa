/* SPDX-License-Identifier: MIT */
/* Shard calls (clmsd_head_args.shard, what data-parallel training is built on; docs/api.md): a
 * batch run as shards that are nodes of the canonical tree, their nodes combined with
 * clmsd_tree_combine and the loss scaled by clmsd_head_loss_scale, gives the whole-batch call's
 * bits; and a shard's bad input. No MPI here: the shards run one after another on one device. */
#include "../cl/clmsd_constants.h"
#include "../cl/clmsd_math.h"
#include "../cl/clmsd_tree.h"
#include "test_head_common.h"

/* global rows 16 .. 87 (a batch at row offset 16): blocks 1 .. 5, the last one half; the shards
 * [16, 32), [32, 64), [64, 88) are the tree's nodes (1, 0), (1, 1) and (1, 2) */
enum { OFFSET = 16, B = 72, H = 36, C = 11, K = 3, SHARDS = 3 };
static const size_t shard_rows[SHARDS + 1] = {0, 16, 48, 72}; /* from the batch's first row */

static void run_whole_and_shards(clmsd_loss loss, clmsd_combine combine)
{
    clmsd_context *ctx = test_context();
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rates = kaggle_rates,
                         .loss = loss,
                         .combine = combine,
                         .engine = CLMSD_ENGINE_FUSED};
    inputs in = inputs_make(ctx, &d, true);
    bool ce = loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    size_t per_row = ce ? 1 : C, ch = C * H;
    /* the whole batch */
    clmsd_head *whole;
    cr_assert_eq(clmsd_head_create(ctx, &d, &whole), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_mem out = test_buffer(ctx, NULL, (1 + B * C + B * H + ch + C) * 4);
    clmsd_head_args a = {.seed = 9,
                         .step = 4,
                         .row_offset = OFFSET,
                         .x = in.bx,
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
                         .dbias_off = 1 + B * C + B * H + ch};
    cr_assert_eq(clmsd_head_train_step(whole, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    float *want = malloc((1 + B * C + B * H + ch + C) * 4);
    read_floats(ctx, out, want, 1 + B * C + B * H + ch + C);
    /* the shards, each with the whole batch's normaliser */
    uint64_t valid = 0;
    for (size_t b = 0; b < B; ++b)
        valid += in.ti[b] >= 0 && in.ti[b] < C;
    clmsd_head_shard shard = {.global_batch = B, .valid_ids = ce ? valid : 0};
    float *nodes[SHARDS], *rows_out = malloc((B * C + B * H) * 4);
    uint64_t first_rows[SHARDS], scratch[2 * SHARDS];
    for (int s = 0; s < SHARDS; ++s) {
        size_t lo = shard_rows[s], n = shard_rows[s + 1] - lo;
        clmsd_head_desc sd = d;
        sd.batch = n;
        clmsd_head *head;
        cr_assert_eq(clmsd_head_create(ctx, &sd, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
        cl_mem node = test_buffer(ctx, NULL, (1 + ch + C) * 4), part = test_buffer(ctx, NULL, (n * C + n * H) * 4);
        clmsd_head_args sa = {.seed = 9,
                              .step = 4,
                              .row_offset = OFFSET + lo,
                              .x = in.bx,
                              .x_off = lo * H,
                              .w = in.bw,
                              .bias = in.bb,
                              .target = in.bt,
                              .target_off = lo * per_row,
                              .loss = node,
                              .logits = part,
                              .dx = part,
                              .dx_off = n * C,
                              .dw = node,
                              .dw_off = 1,
                              .dbias = node,
                              .dbias_off = 1 + ch,
                              .shard = &shard};
        cr_assert_eq(clmsd_head_check_train_step(head, &sa), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
        cr_assert_eq(clmsd_head_train_step(head, &sa, 0, NULL, NULL), CLMSD_SUCCESS, "%s",
                     clmsd_context_last_error(ctx));
        nodes[s] = malloc((1 + ch + C) * 4);
        read_floats(ctx, node, nodes[s], 1 + ch + C);
        float *p = malloc((n * C + n * H) * 4);
        read_floats(ctx, part, p, n * C + n * H);
        memcpy(rows_out + lo * C, p, n * C * 4);
        memcpy(rows_out + B * C + lo * H, p + n * C, n * H * 4);
        free(p);
        first_rows[s] = OFFSET + lo;
        clReleaseMemObject(node), clReleaseMemObject(part);
        clmsd_head_destroy(head);
    }
    clmsd_tree_combine(nodes, 1 + ch + C, first_rows, scratch, SHARDS);
    float scale;
    cr_assert_eq(clmsd_head_loss_scale(&d, &shard, &scale), CLMSD_SUCCESS);
    float loss_value = nodes[0][0] * scale;
    head_case t = {B, H, C, K, kaggle_rates, 0.0, true, 0};
    assert_bits(&loss_value, want, 1, "loss", &t);
    assert_bits(rows_out, want + 1, B * C, "logits", &t);
    assert_bits(rows_out + B * C, want + 1 + B * C, B * H, "dx", &t);
    assert_bits(nodes[0] + 1, want + 1 + B * C + B * H, ch, "dw", &t);
    assert_bits(nodes[0] + 1 + ch, want + 1 + B * C + B * H + ch, C, "dbias", &t);
    for (int s = 0; s < SHARDS; ++s)
        free(nodes[s]);
    free(want), free(rows_out);
    clReleaseMemObject(out);
    clmsd_head_destroy(whole);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}

Test(shard, cross_entropy_average_losses, .timeout = 900)
{
    run_whole_and_shards(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES);
}
Test(shard, cross_entropy_average_logits, .timeout = 900)
{
    run_whole_and_shards(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS);
}
Test(shard, bce_average_losses, .timeout = 900)
{
    run_whole_and_shards(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES);
}
Test(shard, bce_average_logits, .timeout = 900)
{
    run_whole_and_shards(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS);
}
Test(shard, mse_average_losses, .timeout = 900) { run_whole_and_shards(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES); }

/* A shard's bad input: a specific status, and no output written; a check enqueues nothing. */
Test(shard, bad_input, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    clmsd_head_desc d = {.batch = 20,
                         .features = 8,
                         .classes = 3,
                         .samples = 2,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .engine = CLMSD_ENGINE_FUSED};
    inputs in = inputs_make(ctx, &d, false);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
    size_t bytes = (1 + 20 * 8 + 3 * 8) * 4;
    cl_mem out = test_canary_buffer(ctx, bytes), count = test_canary_buffer(ctx, 4);
    clmsd_head_args a = {
        .x = in.bx, .w = in.bw, .target = in.bt, .loss = out, .dx = out, .dx_off = 1, .dw = out, .dw_off = 1 + 20 * 8};
    struct {
        clmsd_head_shard shard;
        bool ignored;
        clmsd_status want;
        const char *says;
    } cases[] = {
        {{19, 0}, false, CLMSD_ERROR_INVALID_SIZE, "global_batch 19"},
        {{(size_t)1 << 32, 0}, false, CLMSD_ERROR_INVALID_SIZE, "2^32"},
        {{40, 41}, false, CLMSD_ERROR_INVALID_SIZE, "valid_ids 41"},
        {{40, 10}, true, CLMSD_ERROR_INVALID_ARGUMENT, "ignored must be NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        a.shard = &cases[i].shard;
        a.ignored = cases[i].ignored ? count : NULL;
        cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), cases[i].want, "case %zu", i);
        cr_assert(strstr(clmsd_context_last_error(ctx), cases[i].says), "case %zu: \"%s\"", i,
                  clmsd_context_last_error(ctx));
        cr_assert_eq(clmsd_head_check_train_step(head, &a), cases[i].want, "case %zu (check)", i);
    }
    clmsd_head_shard fine = {40, 12};
    a.shard = &fine, a.ignored = NULL;
    cr_assert_eq(clmsd_head_check_train_step(head, &a), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    test_assert_canary(ctx, out, bytes, "a shard call's outputs");
    test_assert_canary(ctx, count, 4, "ignored");
    float scale = 0.0f;
    cr_assert_eq(clmsd_head_loss_scale(&d, NULL, &scale), CLMSD_ERROR_INVALID_ARGUMENT, "CE needs the count");
    cr_assert_eq(clmsd_head_loss_scale(&d, &fine, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_loss_scale(NULL, &fine, &scale), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_loss_scale(&d, &fine, &scale), CLMSD_SUCCESS);
    cr_assert_eq(scale, clmsd_ce_scale(12, 2.0f), "CE, K 2, 12 valid ids: the device's 1/24, got %.9g", (double)scale);
    d.loss = CLMSD_LOSS_MSE;
    cr_assert_eq(clmsd_head_loss_scale(&d, &fine, &scale), CLMSD_SUCCESS);
    cr_assert_eq(scale, (float)(1.0 / (2.0 * 40 * 3)), "MSE over the global batch: got %.9g", (double)scale);
    /* shards the header forbids: a whole batch of 0 rows (an infinite scale) or fewer than the
     * head's; more valid ids than rows */
    clmsd_head_shard none = {0, 0}, fewer = {d.batch - 1, 0}, too_many = {40, 41};
    cr_assert_eq(clmsd_head_loss_scale(&d, &none, &scale), CLMSD_ERROR_INVALID_SIZE);
    cr_assert(strstr(clmsd_context_last_error(NULL), "global_batch"), "%s", clmsd_context_last_error(NULL));
    cr_assert_eq(clmsd_head_loss_scale(&d, &fewer, &scale), CLMSD_ERROR_INVALID_SIZE);
    d.loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    cr_assert_eq(clmsd_head_loss_scale(&d, &too_many, &scale), CLMSD_ERROR_INVALID_SIZE);
    cr_assert(strstr(clmsd_context_last_error(NULL), "valid_ids"), "%s", clmsd_context_last_error(NULL));
    cr_assert_eq(clmsd_head_check_train_step(NULL, &a), CLMSD_ERROR_INVALID_ARGUMENT);
    clReleaseMemObject(out), clReleaseMemObject(count);
    clmsd_head_destroy(head);
    inputs_free(&in);
    clmsd_context_destroy(ctx);
}
