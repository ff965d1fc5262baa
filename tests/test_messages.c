/* SPDX-License-Identifier: MIT */
/* Every failing call of the public API sets a message that names what is wrong: the context's
 * (clmsd_context_last_error(ctx)) when the call has one, else the calling thread's
 * (clmsd_context_last_error(NULL)). Each case first leaves a sentinel message where its own must
 * go, so a call that fails silently (keeping the previous call's message) is caught. */
#include "helpers.h"

enum { B = 3, H = 4, C = 2 };

typedef struct fixture {
    clmsd_context *ctx;
    clmsd_head *head;
    cl_mem buf;
} fixture;

/* one failing call per case; returns its status */
typedef clmsd_status (*failing_call)(fixture *f);

static clmsd_status devices_no_count(fixture *f)
{
    (void)f;
    return clmsd_devices_list(NULL, 0, NULL);
}
static clmsd_status create_no_out(fixture *f)
{
    (void)f;
    return clmsd_context_create(NULL, NULL);
}
static clmsd_status create_no_device(fixture *f)
{
    (void)f;
    clmsd_context *c = NULL;
    return clmsd_context_create("no-such-device-at-all", &c);
}
static clmsd_status from_queue_null(fixture *f)
{
    (void)f;
    clmsd_context *c = NULL;
    return clmsd_context_create_from_queue(NULL, &c);
}
static clmsd_status warmup_null(fixture *f)
{
    (void)f;
    return clmsd_context_warmup(NULL);
}
static clmsd_status dropout_null_ctx(fixture *f)
{
    clmsd_dropout_desc d = {.samples = 1, .rate = 0.5, .rows = B, .cols = H};
    return clmsd_dropout_forward(NULL, &d, f->buf, 0, H, f->buf, 0, H, 0, NULL, NULL);
}
static clmsd_status dropout_null_desc(fixture *f) { return clmsd_dropout_mask(f->ctx, NULL, f->buf, 0, 0, NULL, NULL); }
static clmsd_status dropout_bad_rate(fixture *f)
{
    clmsd_dropout_desc d = {.samples = 1, .rate = 1.5, .rows = B, .cols = H};
    return clmsd_dropout_backward(f->ctx, &d, f->buf, 0, H, f->buf, 0, H, 0, 0, NULL, NULL);
}
static clmsd_status dropout_bad_wait(fixture *f)
{
    clmsd_dropout_desc d = {.samples = 1, .rate = 0.5, .rows = B, .cols = H};
    return clmsd_dropout_mask(f->ctx, &d, f->buf, 0, 1, NULL, NULL);
}
static clmsd_status words_no_blocks(fixture *f)
{
    return clmsd_stream_words(f->ctx, 1, 2, 0, 0, 0, f->buf, 0, 0, NULL, NULL);
}
static clmsd_status rate_nan(fixture *f)
{
    (void)f;
    return clmsd_rate_params(NAN, NULL, NULL);
}
static clmsd_status u8_rate_off_grid(fixture *f)
{
    (void)f;
    return clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1_U8, 0.1, NULL, NULL);
}
static clmsd_status stream_unknown(fixture *f)
{
    (void)f;
    return clmsd_stream_rate_params((clmsd_stream)7, 0.5, NULL, NULL);
}
static clmsd_status workspace_no_desc(fixture *f)
{
    (void)f;
    size_t bytes;
    return clmsd_head_workspace_size(NULL, &bytes);
}
static clmsd_status workspace_no_bytes(fixture *f)
{
    (void)f;
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5};
    return clmsd_head_workspace_size(&d, NULL);
}
static clmsd_status head_bad_loss(fixture *f)
{
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5, .loss = (clmsd_loss)9};
    clmsd_head *h = NULL;
    return clmsd_head_create(f->ctx, &d, &h);
}
static clmsd_status head_bad_huber_delta(fixture *f)
{
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = 1,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_HUBER,
                         .huber_delta = -1.0};
    clmsd_head *h = NULL;
    return clmsd_head_create(f->ctx, &d, &h);
}
static clmsd_status forward_null_head(fixture *f)
{
    clmsd_head_args a = {.x = f->buf, .w = f->buf};
    return clmsd_head_forward(NULL, &a, 0, NULL, NULL);
}
static clmsd_status train_no_args(fixture *f) { return clmsd_head_train_step(f->head, NULL, 0, NULL, NULL); }
static clmsd_status check_no_w(fixture *f)
{
    clmsd_head_args a = {.x = f->buf};
    return clmsd_head_check_train_step(f->head, &a);
}
static clmsd_status predict_no_logits(fixture *f)
{
    clmsd_head_args a = {.x = f->buf, .w = f->buf};
    return clmsd_head_predict(f->head, &a, 0, NULL, NULL);
}
static clmsd_status scale_no_shard(fixture *f)
{
    (void)f;
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5};
    float scale;
    return clmsd_head_loss_scale(&d, NULL, &scale);
}
static clmsd_status scale_empty_batch(fixture *f)
{
    (void)f;
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5, .loss = CLMSD_LOSS_MSE};
    clmsd_head_shard shard = {0, 0};
    float scale;
    return clmsd_head_loss_scale(&d, &shard, &scale);
}
static clmsd_status ref_dropout_no_desc(fixture *f)
{
    (void)f;
    float x[1] = {0}, y[1];
    return clmsd_ref_dropout_forward(NULL, x, 1, y, 1);
}
static clmsd_status ref_dropout_no_array(fixture *f)
{
    (void)f;
    clmsd_dropout_desc d = {.samples = 1, .rate = 0.5, .rows = 1, .cols = 1};
    return clmsd_ref_dropout_mask(&d, NULL);
}
static clmsd_status ref_bad_type(fixture *f)
{
    (void)f;
    float x[1] = {0};
    uint16_t y[1];
    return clmsd_ref_from_float((clmsd_type)5, x, 1, y);
}
static clmsd_status ref_head_no_args(fixture *f)
{
    (void)f;
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5};
    return clmsd_ref_head_train_step(&d, NULL);
}
static clmsd_status ref_exact_bad_desc(fixture *f)
{
    (void)f;
    clmsd_head_desc d = {.batch = 0, .features = H, .classes = C, .samples = 1};
    clmsd_ref_head_exact_args a = {0};
    return clmsd_ref_head_exact_predict(&d, &a);
}

static const struct {
    const char *what;
    failing_call call;
    bool on_ctx;       /* the message goes to the fixture's context, else to the thread's */
    const char *names; /* what the message must contain */
} cases[] = {
    {"devices_list without count", devices_no_count, false, "count"},
    {"context_create without out", create_no_out, false, "out"},
    {"context_create of no device", create_no_device, false, "no-such-device-at-all"},
    {"context_create_from_queue(NULL)", from_queue_null, false, "queue"},
    {"context_warmup(NULL)", warmup_null, false, "context"},
    {"dropout_forward(NULL context)", dropout_null_ctx, false, "context"},
    {"dropout_mask(NULL desc)", dropout_null_desc, true, "descriptor"},
    {"dropout_backward(rate 1.5)", dropout_bad_rate, true, "1.5"},
    {"dropout_mask(num_wait 1, wait NULL)", dropout_bad_wait, true, "wait"},
    {"stream_words(0 blocks)", words_no_blocks, true, "blocks"},
    {"rate_params(NaN)", rate_nan, false, "rate"},
    {"stream_rate_params(u8, 0.1)", u8_rate_off_grid, false, "1/256"},
    {"stream_rate_params(stream 7)", stream_unknown, false, "stream"},
    {"head_workspace_size(NULL desc)", workspace_no_desc, false, "descriptor"},
    {"head_workspace_size(NULL bytes)", workspace_no_bytes, false, "bytes"},
    {"head_create(loss 9)", head_bad_loss, true, "loss"},
    {"head_create(huber_delta -1)", head_bad_huber_delta, true, "huber_delta"},
    {"head_forward(NULL head)", forward_null_head, false, "head"},
    {"head_train_step(NULL args)", train_no_args, true, "arguments"},
    {"head_check_train_step(no w)", check_no_w, true, "w"},
    {"head_predict(no logits)", predict_no_logits, true, "logits"},
    {"head_loss_scale(CE, no shard)", scale_no_shard, false, "shard"},
    {"head_loss_scale(global_batch 0)", scale_empty_batch, false, "global_batch"},
    {"ref_dropout_forward(NULL desc)", ref_dropout_no_desc, false, "descriptor"},
    {"ref_dropout_mask(NULL mask)", ref_dropout_no_array, false, "array"},
    {"ref_from_float(type 5)", ref_bad_type, false, "type"},
    {"ref_head_train_step(NULL args)", ref_head_no_args, false, "x, w"},
    {"ref_head_exact_predict(B 0)", ref_exact_bad_desc, false, "batch"},
};

/* a message of an earlier failing call, where the case's own must replace it */
static void leave_sentinel(fixture *f, bool on_ctx)
{
    if (on_ctx) {
        clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5, .combine = 77};
        clmsd_head *h = NULL;
        cr_assert_neq(clmsd_head_create(f->ctx, &d, &h), CLMSD_SUCCESS);
        cr_assert(strstr(clmsd_context_last_error(f->ctx), "77"), "%s", clmsd_context_last_error(f->ctx));
    } else {
        clmsd_context *c = NULL;
        cr_assert_neq(clmsd_context_create("sentinel-device-77", &c), CLMSD_SUCCESS);
        cr_assert(strstr(clmsd_context_last_error(NULL), "sentinel-device-77"), "%s", clmsd_context_last_error(NULL));
    }
}

Test(messages, every_failure_names_what_is_wrong, .timeout = 600)
{
    fixture f = {.ctx = test_context()};
    float zeros[64] = {0};
    f.buf = test_buffer(f.ctx, zeros, sizeof zeros);
    clmsd_head_desc d = {.batch = B, .features = H, .classes = C, .samples = 1, .rate = 0.5};
    cr_assert_eq(clmsd_head_create(f.ctx, &d, &f.head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(f.ctx));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        leave_sentinel(&f, cases[i].on_ctx);
        clmsd_status st = cases[i].call(&f);
        const char *message = clmsd_context_last_error(cases[i].on_ctx ? f.ctx : NULL);
        cr_assert_neq(st, CLMSD_SUCCESS, "%s succeeded", cases[i].what);
        cr_assert(!strstr(message, "77"), "%s (%s) kept the previous call's message: \"%s\"", cases[i].what,
                  clmsd_status_string(st), message);
        cr_assert(strstr(message, cases[i].names), "%s: the message \"%s\" does not name \"%s\"", cases[i].what,
                  message, cases[i].names);
    }
    clmsd_head_destroy(f.head);
    clReleaseMemObject(f.buf);
    clmsd_context_destroy(f.ctx);
}
