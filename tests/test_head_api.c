/* SPDX-License-Identifier: MIT */
/* The head's API: bad input leaves every buffer untouched, a caller's workspace and events, and
 * the engine AUTO picks and the environment that overrides it. */
#define _POSIX_C_SOURCE 200809L
#include "test_head_common.h"

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
        {{0, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "B = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, 0, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "H = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, 0, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "C = 0", CLMSD_ERROR_INVALID_SIZE},
        {{B, H, C, 0, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "K = 0", CLMSD_ERROR_INVALID_SIZE},
        {{SIZE_MAX / 2, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "overflowing B * H",
         CLMSD_ERROR_INVALID_SIZE},
        {{B, (size_t)1 << 33, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "B * H past 2^34",
         CLMSD_ERROR_INVALID_SIZE},
        {{B, H, (size_t)1 << 40, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "C past 2^31",
         CLMSD_ERROR_INVALID_SIZE},
        {{B, H, C, K, NULL, 1.0, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "rate 1", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, NAN, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0}, "rate NaN", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, (const double[]){0.1, -0.1}, 0.0, 0, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "rates[1] < 0",
         CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, (clmsd_loss)7, 0, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "loss 7",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, (clmsd_combine)-1, 0, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "combine -1",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 2, 1.0, 0, 0, 0, 0.0}, "layer_rate 1", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 3, NAN, 0, 0, 0, 0.0}, "layer_rate NaN", CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, (size_t)1 << 31, 0.1, 0, 0, 0, 0.0},
         "2^31 layers",
         CLMSD_ERROR_INVALID_SIZE},
        {{B, H, C, K, NULL, 0.5, 0, 0, (clmsd_engine)9, NULL, 0, 0.0, 0, 0, 0, 0.0},
         "engine 9",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.1, 0, 0, 0, NULL, 0, 0.0, CLMSD_STREAM_PHILOX_V1_U8, 0, 0, 0.0},
         "u8 rate 0.1",
         CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 2, 0.1, CLMSD_STREAM_PHILOX_V1_U8, 0, 0, 0.0},
         "u8 layer_rate 0.1",
         CLMSD_ERROR_INVALID_RATE},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, (clmsd_stream)5, 0, 0, 0.0},
         "stream 5",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, (clmsd_type)3, 0, 0.0},
         "x_type 3",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, 0, 0, 0, NULL, 0, 0.0, 0, 0, (clmsd_type)9, 0.0},
         "dx_type 9",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, CLMSD_LOSS_HUBER, 0, 0, NULL, 0, 0.0, 0, 0, 0, NAN},
         "huber_delta NaN",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, CLMSD_LOSS_HUBER, 0, 0, NULL, 0, 0.0, 0, 0, 0, -1.0},
         "huber_delta -1",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, CLMSD_LOSS_HUBER, 0, 0, NULL, 0, 0.0, 0, 0, 0, 1e-50},
         "huber_delta 0 as a float",
         CLMSD_ERROR_INVALID_ARGUMENT},
        {{B, H, C, K, NULL, 0.5, CLMSD_LOSS_HUBER, 0, 0, NULL, 0, 0.0, 0, 0, 0, 1e300},
         "huber_delta infinite as a float",
         CLMSD_ERROR_INVALID_ARGUMENT},
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
    /* a workspace 4 bytes short of what clmsd_head_workspace_size() asks for, on every device and
     * for every engine, AUTO included (whichever engine and tiling this device would take) */
    for (int engine = CLMSD_ENGINE_AUTO; engine <= CLMSD_ENGINE_FUSED; ++engine) {
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
