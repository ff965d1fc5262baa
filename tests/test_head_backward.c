/* SPDX-License-Identifier: MIT */
/* A loss of the caller's own (clmsd_head_logits, clmsd_head_backward): the logits and the
 * gradients from a given dL/dlogits equal the exact host reference's bit for bit (both combines,
 * the u8 stream, fp16 features, a row offset, accumulate, the pooled head); with the gradient of
 * the head's own loss they equal the train step's, on both engines; bad arguments are refused
 * before anything is written. */
#include "test_head_common.h"

#include <math.h>

/* one plain head call pair's case */
typedef struct any_case {
    clmsd_head_desc d;
    size_t row_offset;
    int accumulate;
    bool bias;
} any_case;

static size_t rows_of(const clmsd_head_desc *d)
{
    return d->combine == CLMSD_AVERAGE_LOSSES ? d->samples * d->batch : d->batch;
}

/* the layers' count, 1 for a plain head */
static size_t layers_of(const clmsd_head_desc *d) { return d->layers >= 2 ? d->layers : 1; }

/* x (and dx) of every layer, in x_type's storage, the host keeping the widened values */
static cl_mem typed_x(clmsd_context *ctx, const clmsd_head_desc *d, float *x, size_t n)
{
    test_fill(x, n, 31);
    void *stored = malloc(n * clmsd_type_size(d->x_type));
    cr_assert_eq(clmsd_ref_from_float(d->x_type, x, n, stored), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_ref_to_float(d->x_type, stored, n, x), CLMSD_SUCCESS);
    cl_mem m = test_buffer(ctx, stored, n * clmsd_type_size(d->x_type));
    free(stored);
    return m;
}

/* logits then backward on the device against the exact reference, every output bit for bit */
static void check_against_reference(const any_case *t)
{
    clmsd_context *ctx = test_context();
    const clmsd_head_desc *d = &t->d;
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    size_t L = layers_of(d), B = d->batch, H = d->features, C = d->classes, N = rows_of(d);
    size_t xn = L * B * H, dxs = clmsd_type_size(d->dx_type);
    float *x = malloc(xn * 4), *w = malloc(C * H * 4), *bias = malloc(C * 4), *lw = malloc(L * 4);
    float *dl = malloc(N * C * 4);
    test_fill(w, C * H, 32);
    test_fill(bias, C, 33);
    test_fill(lw, L, 34);
    test_fill(dl, N * C, 35);
    cl_mem bx = typed_x(ctx, d, x, xn), bw = test_buffer(ctx, w, C * H * 4), bb = test_buffer(ctx, bias, C * 4);
    cl_mem blw = test_buffer(ctx, lw, L * 4), bdl = test_buffer(ctx, dl, N * C * 4);
    out_buf logits = out_make(ctx, N * C, 41), dw = out_make(ctx, C * H, 42), db = out_make(ctx, C, 43);
    out_buf dlw = out_make(ctx, L, 44);
    /* dx: prefilled values in dx_type (accumulate adds onto them) */
    float *dx0 = malloc(xn * 4);
    test_fill(dx0, xn, 45);
    void *dx_stored = malloc(xn * dxs + TAIL * 4);
    memset(dx_stored, CANARY, xn * dxs + TAIL * 4);
    clmsd_ref_from_float(d->dx_type, dx0, xn, dx_stored);
    clmsd_ref_to_float(d->dx_type, dx_stored, xn, dx0);
    cl_mem bdx = test_buffer(ctx, dx_stored, xn * dxs + TAIL * 4);
    bool pooled = d->layers >= 2;
    clmsd_head_args a = {.seed = 77,
                         .step = 5,
                         .row_offset = t->row_offset,
                         .x = bx,
                         .w = bw,
                         .bias = t->bias ? bb : NULL,
                         .logits = logits.mem,
                         .dx = bdx,
                         .dw = dw.mem,
                         .dbias = db.mem,
                         .accumulate = t->accumulate,
                         .layer_weights = pooled ? blw : NULL,
                         .dlayer_weights = pooled ? dlw.mem : NULL,
                         .dlogits = bdl};
    cr_assert_eq(clmsd_head_logits(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clmsd_head_backward(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));

    float *rl = malloc(N * C * 4), *rdw = malloc(C * H * 4), *rdb = malloc(C * 4), *rdx = malloc(xn * 4);
    float *rdlw = malloc(L * 4);
    memcpy(rdw, dw.host, C * H * 4);
    memcpy(rdb, db.host, C * 4);
    memcpy(rdlw, dlw.host, L * 4);
    memcpy(rdx, dx0, xn * 4);
    clmsd_ref_head_exact_args r = {.seed = 77,
                                   .step = 5,
                                   .row_offset = t->row_offset,
                                   .x = x,
                                   .w = w,
                                   .bias = t->bias ? bias : NULL,
                                   .logits = rl,
                                   .dx = rdx,
                                   .dw = rdw,
                                   .dbias = rdb,
                                   .accumulate = t->accumulate,
                                   .layer_weights = pooled ? lw : NULL,
                                   .dlayer_weights = pooled ? rdlw : NULL,
                                   .dlogits = dl};
    cr_assert_eq(clmsd_ref_head_exact_logits(d, &r), CLMSD_SUCCESS, "%s", clmsd_context_last_error(NULL));
    cr_assert_eq(clmsd_ref_head_exact_backward(d, &r), CLMSD_SUCCESS, "%s", clmsd_context_last_error(NULL));
    head_case hc = {B, H, C, d->samples, NULL, 0, t->bias, t->accumulate};
    float *dev = malloc(xn * 4 + N * C * 4 + C * H * 4);
    out_read(ctx, &logits, dev, "logits");
    assert_bits(dev, rl, N * C, "logits", &hc);
    out_read(ctx, &dw, dev, "dw");
    assert_bits(dev, rdw, C * H, "dw", &hc);
    out_read(ctx, &db, dev, "dbias");
    assert_bits(dev, rdb, C, "dbias", &hc);
    if (pooled) {
        out_read(ctx, &dlw, dev, "dlayer_weights");
        assert_bits(dev, rdlw, L, "dlayer_weights", &hc);
    }
    void *dx_dev = malloc(xn * dxs + TAIL * 4), *dx_ref = malloc(xn * dxs);
    test_read(ctx, bdx, 0, dx_dev, xn * dxs + TAIL * 4);
    for (size_t i = 0; i < TAIL * 4; ++i)
        cr_assert_eq(((unsigned char *)dx_dev)[xn * dxs + i], CANARY, "dx: wrote past its end");
    clmsd_ref_from_float(d->dx_type, rdx, xn, dx_ref);
    clmsd_ref_to_float(d->dx_type, dx_dev, xn, dev);
    clmsd_ref_to_float(d->dx_type, dx_ref, xn, rdx);
    assert_bits(dev, rdx, xn, "dx", &hc);

    free(dx_dev), free(dx_ref), free(dev), free(rl), free(rdw), free(rdb), free(rdx), free(rdlw);
    free(x), free(w), free(bias), free(lw), free(dl), free(dx0), free(dx_stored);
    out_free(&logits), out_free(&dw), out_free(&db), out_free(&dlw);
    cl_mem all[] = {bx, bw, bb, blw, bdl, bdx};
    for (int i = 0; i < 6; ++i)
        clReleaseMemObject(all[i]);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}

static clmsd_head_desc plain(clmsd_combine combine)
{
    return (clmsd_head_desc){.batch = 19,
                             .features = 37,
                             .classes = 6,
                             .samples = 4,
                             .rate = 0.3,
                             .loss = CLMSD_LOSS_MSE,
                             .combine = combine,
                             .engine = CLMSD_ENGINE_FUSED};
}

Test(any_loss, average_losses_equals_the_reference, .timeout = 1200)
{
    check_against_reference(&(any_case){plain(CLMSD_AVERAGE_LOSSES), 0, 0, true});
}

Test(any_loss, average_logits_accumulated_at_a_row_offset_equals_the_reference, .timeout = 1200)
{
    check_against_reference(&(any_case){plain(CLMSD_AVERAGE_LOGITS), 21, 1, false});
}

Test(any_loss, u8_stream_and_fp16_features_equal_the_reference, .timeout = 1200)
{
    clmsd_head_desc d = plain(CLMSD_AVERAGE_LOSSES);
    d.stream = CLMSD_STREAM_PHILOX_V1_U8;
    d.rate = 0.25;
    d.x_type = CLMSD_FLOAT16;
    d.dx_type = CLMSD_BFLOAT16;
    check_against_reference(&(any_case){d, 3, 1, true});
}

Test(any_loss, pooled_head_equals_the_reference, .timeout = 1200)
{
    clmsd_head_desc d = plain(CLMSD_AVERAGE_LOGITS);
    d.layers = 5;
    d.layer_rate = 0.1;
    check_against_reference(&(any_case){d, 2, 0, true});
    d.combine = CLMSD_AVERAGE_LOSSES;
    check_against_reference(&(any_case){d, 0, 1, false});
}

/* The head's own loss through the caller's door: G from clmsd_head_logits' logits, the element-wise
 * loss's gradient (cl/clmsd_loss.h) times clmsd_head_loss_scale, as the loss kernel computes it;
 * then clmsd_head_backward's dx, dw, db equal clmsd_head_train_step's, bit for bit. */
static void check_own_loss(clmsd_engine engine, clmsd_loss loss, clmsd_combine combine)
{
    clmsd_context *ctx = test_context();
    clmsd_head_desc d = plain(combine);
    d.loss = loss;
    d.engine = engine;
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    size_t B = d.batch, H = d.features, C = d.classes, N = rows_of(&d);
    inputs in = inputs_make(ctx, &d, true);
    cl_mem logits = test_buffer(ctx, NULL, N * C * 4), dl = test_buffer(ctx, NULL, N * C * 4);
    cl_mem g1[3] = {test_buffer(ctx, NULL, B * H * 4), test_buffer(ctx, NULL, C * H * 4),
                    test_buffer(ctx, NULL, C * 4)};
    cl_mem g2[3] = {test_buffer(ctx, NULL, B * H * 4), test_buffer(ctx, NULL, C * H * 4),
                    test_buffer(ctx, NULL, C * 4)};
    clmsd_head_args a = {
        .seed = 9, .step = 2, .x = in.bx, .w = in.bw, .bias = in.bb, .target = in.bt, .logits = logits};
    cr_assert_eq(clmsd_head_logits(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    float *z = malloc(N * C * 4), *g = malloc(N * C * 4), scale;
    read_floats(ctx, logits, z, N * C);
    cr_assert_eq(clmsd_head_loss_scale(&d, &(clmsd_head_shard){B, 0}, &scale), CLMSD_SUCCESS);
    for (size_t n = 0; n < N; ++n)
        for (size_t c = 0; c < C; ++c) {
            float dv;
            clmsd_loss_add((int)loss, 0.0f, z[n * C + c], in.tf[(n % B) * C + c], 1.0f, &dv);
            g[n * C + c] = dv * scale;
        }
    clReleaseMemObject(dl);
    dl = test_buffer(ctx, g, N * C * 4);
    clmsd_head_args t = a;
    t.logits = NULL;
    t.dx = g1[0], t.dw = g1[1], t.dbias = g1[2];
    cr_assert_eq(clmsd_head_train_step(head, &t, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    clmsd_head_args b = t;
    b.dx = g2[0], b.dw = g2[1], b.dbias = g2[2], b.dlogits = dl;
    cr_assert_eq(clmsd_head_backward(head, &b, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    size_t sizes[3] = {B * H, C * H, C};
    const char *names[3] = {"dx", "dw", "dbias"};
    for (int i = 0; i < 3; ++i) {
        float *u = malloc(sizes[i] * 4), *v = malloc(sizes[i] * 4);
        read_floats(ctx, g1[i], u, sizes[i]);
        read_floats(ctx, g2[i], v, sizes[i]);
        for (size_t j = 0; j < sizes[i]; ++j)
            cr_assert(test_same_bits(u[j], v[j]), "%s %s[%zu]: train step %.9g, backward %.9g", clmsd_loss_name(loss),
                      names[i], j, (double)u[j], (double)v[j]);
        free(u), free(v);
        clReleaseMemObject(g1[i]), clReleaseMemObject(g2[i]);
    }
    free(z), free(g);
    clReleaseMemObject(logits), clReleaseMemObject(dl);
    inputs_free(&in);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}

Test(any_loss, the_heads_own_loss_gives_the_train_steps_gradients_fused, .timeout = 1200)
{
    check_own_loss(CLMSD_ENGINE_FUSED, CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES);
    check_own_loss(CLMSD_ENGINE_FUSED, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS);
}

Test(any_loss, the_heads_own_loss_gives_the_train_steps_gradients_clblast, .timeout = 1200)
{
    check_own_loss(CLMSD_ENGINE_CLBLAST, CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES);
    check_own_loss(CLMSD_ENGINE_CLBLAST, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS);
}

/* bad arguments: a specific status, a message naming the argument, and no output written */
Test(any_loss, bad_arguments_are_refused_before_anything_is_written, .timeout = 1200)
{
    clmsd_context *ctx = test_context();
    clmsd_head_desc d = plain(CLMSD_AVERAGE_LOSSES);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    size_t B = d.batch, H = d.features, C = d.classes, N = rows_of(&d);
    inputs in = inputs_make(ctx, &d, true);
    cl_mem small = test_canary_buffer(ctx, B * C * 4), logits = test_canary_buffer(ctx, N * C * 4);
    cl_mem dw = test_canary_buffer(ctx, C * H * 4), dl = test_canary_buffer(ctx, N * C * 4);
    clmsd_head_args ok = {.x = in.bx, .w = in.bw, .logits = logits, .dw = dw, .dlogits = dl};
    clmsd_head_shard shard = {B, 0};
    struct {
        const char *what;
        bool backward;
        clmsd_head_args a;
        clmsd_status status;
        const char *names;
    } cases[] = {
        {"no dlogits", true, {.x = in.bx, .w = in.bw, .dw = dw}, CLMSD_ERROR_INVALID_ARGUMENT, "dlogits"},
        {"dlogits [B, C] for [K, B, C]",
         true,
         {.x = in.bx, .w = in.bw, .dw = dw, .dlogits = small},
         CLMSD_ERROR_INVALID_BUFFER,
         "dlogits"},
        {"no logits", false, {.x = in.bx, .w = in.bw}, CLMSD_ERROR_INVALID_ARGUMENT, "logits"},
        {"logits [B, C] for [K, B, C]",
         false,
         {.x = in.bx, .w = in.bw, .logits = small},
         CLMSD_ERROR_INVALID_BUFFER,
         "logits"},
        {"no w", true, {.x = in.bx, .dw = dw, .dlogits = dl}, CLMSD_ERROR_INVALID_ARGUMENT, "w"},
        {"a shard",
         true,
         {.x = in.bx, .w = in.bw, .dw = dw, .dlogits = dl, .shard = &shard},
         CLMSD_ERROR_UNSUPPORTED,
         "shard"},
        {"a shard",
         false,
         {.x = in.bx, .w = in.bw, .logits = logits, .shard = &shard},
         CLMSD_ERROR_UNSUPPORTED,
         "shard"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
        clmsd_status st = cases[i].backward ? clmsd_head_backward(head, &cases[i].a, 0, NULL, NULL)
                                            : clmsd_head_logits(head, &cases[i].a, 0, NULL, NULL);
        cr_assert_eq(st, cases[i].status, "%s: status %d", cases[i].what, (int)st);
        cr_assert(strstr(clmsd_context_last_error(ctx), cases[i].names), "%s: message \"%s\" does not name %s",
                  cases[i].what, clmsd_context_last_error(ctx), cases[i].names);
    }
    cr_assert_eq(clmsd_head_backward(NULL, &ok, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_logits(head, NULL, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    test_assert_canary(ctx, logits, N * C * 4, "logits");
    test_assert_canary(ctx, dw, C * H * 4, "dw");
    test_assert_canary(ctx, small, B * C * 4, "the small buffer");
    cl_mem all[] = {small, logits, dw, dl};
    for (int i = 0; i < 4; ++i)
        clReleaseMemObject(all[i]);
    inputs_free(&in);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}
