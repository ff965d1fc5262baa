/* SPDX-License-Identifier: MIT */
/* An OpenCL memory object that is not a buffer (a 2D image) in any buffer argument of any public
 * call is refused before anything is enqueued: CLMSD_ERROR_INVALID_BUFFER, a message naming the
 * argument, every output untouched (docs/errors.md). */
#include "helpers.h"

enum { B = 4, H = 8, C = 3, K = 2, L = 2 };

/* a 16 x 16 single-channel float image of the context: more bytes than any argument needs */
static cl_mem test_image(clmsd_context *ctx)
{
    cl_bool images = CL_FALSE;
    clGetDeviceInfo(clmsd_context_device(ctx), CL_DEVICE_IMAGE_SUPPORT, sizeof images, &images, NULL);
    cr_assert(images, "the test device has no image support: this test needs one to pass an image");
    cl_image_format format = {CL_R, CL_FLOAT};
    cl_image_desc desc = {.image_type = CL_MEM_OBJECT_IMAGE2D, .image_width = 16, .image_height = 16};
    cl_int err;
    cl_mem image = clCreateImage(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE, &format, &desc, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateImage: %d", (int)err);
    return image;
}

static void assert_refused(clmsd_context *ctx, clmsd_status st, const char *call, const char *arg)
{
    cr_assert_eq(st, CLMSD_ERROR_INVALID_BUFFER, "%s with an image as %s: %s", call, arg, clmsd_status_string(st));
    const char *message = clmsd_context_last_error(ctx);
    cr_assert(strstr(message, arg) && strstr(message, "not a buffer"), "%s, %s: the message \"%s\"", call, arg,
              message);
}

/* The head's arguments, a buffer each, by name: outputs canaried. */
typedef enum slot {
    X,
    W,
    BIAS,
    TARGET,
    LOSS,
    LOGITS,
    IGNORED,
    DX,
    DW,
    DBIAS,
    LAYER_WEIGHTS,
    DLAYER_WEIGHTS,
    SLOTS
} slot;
static const char *const names[SLOTS] = {"x",       "w",  "bias", "target", "loss",          "logits",
                                         "ignored", "dx", "dw",   "dbias",  "layer_weights", "dlayer_weights"};
static const bool outputs[SLOTS] = {[LOSS] = true, [LOGITS] = true, [IGNORED] = true,       [DX] = true,
                                    [DW] = true,   [DBIAS] = true,  [DLAYER_WEIGHTS] = true};

static size_t slot_bytes(slot s)
{
    static const size_t bytes[SLOTS] = {
        [X] = L * B * H * 4, [W] = C * H * 4,      [BIAS] = C * 4,          [TARGET] = B * 4,
        [LOSS] = 4,          [LOGITS] = B * C * 4, [IGNORED] = 4,           [DX] = L * B * H * 4,
        [DW] = C * H * 4,    [DBIAS] = C * 4,      [LAYER_WEIGHTS] = L * 4, [DLAYER_WEIGHTS] = L * 4};
    return bytes[s];
}

static clmsd_head_args args_of(cl_mem *m, bool pooled)
{
    return (clmsd_head_args){.x = m[X],
                             .w = m[W],
                             .bias = m[BIAS],
                             .target = m[TARGET],
                             .loss = m[LOSS],
                             .logits = m[LOGITS],
                             .ignored = m[IGNORED],
                             .dx = m[DX],
                             .dw = m[DW],
                             .dbias = m[DBIAS],
                             .layer_weights = pooled ? m[LAYER_WEIGHTS] : NULL,
                             .dlayer_weights = pooled ? m[DLAYER_WEIGHTS] : NULL};
}

/* every slot a call reads, as an image in turn, on the plain and the layer-pooled head */
static void check_head_calls(bool pooled)
{
    clmsd_context *ctx = test_context();
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.5,
                         .engine = CLMSD_ENGINE_FUSED,
                         .layers = pooled ? L : 0,
                         .layer_rate = 0.25};
    cl_mem m[SLOTS], image = test_image(ctx);
    float inputs[L * B * H] = {0};
    for (int s = 0; s < SLOTS; ++s)
        m[s] =
            outputs[s] ? test_canary_buffer(ctx, slot_bytes((slot)s)) : test_buffer(ctx, inputs, slot_bytes((slot)s));
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    static const char *const calls[] = {"forward", "train_step", "predict"};
    /* what each call reads: forward not the gradients, predict neither target nor loss outputs */
    static const bool reads[3][SLOTS] = {
        {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0},
    };
    for (int call = 0; call < 3; ++call)
        for (int s = 0; s < SLOTS; ++s) {
            if (!reads[call][s] || (!pooled && (s == LAYER_WEIGHTS || s == DLAYER_WEIGHTS)))
                continue;
            cl_mem keep = m[s];
            m[s] = image;
            clmsd_head_args a = args_of(m, pooled);
            if (call == 2) { /* predict takes no target and writes only logits */
                a.target = a.loss = a.ignored = NULL;
                a.dx = a.dw = a.dbias = a.dlayer_weights = NULL;
            }
            clmsd_status st = call == 0   ? clmsd_head_forward(head, &a, 0, NULL, NULL)
                              : call == 1 ? clmsd_head_train_step(head, &a, 0, NULL, NULL)
                                          : clmsd_head_predict(head, &a, 0, NULL, NULL);
            m[s] = keep;
            assert_refused(ctx, st, calls[call], names[s]);
            for (int o = 0; o < SLOTS; ++o)
                if (outputs[o])
                    test_assert_canary(ctx, m[o], slot_bytes((slot)o), names[o]);
        }
    clmsd_head_destroy(head);
    /* a workspace that is an image */
    d.workspace = image;
    head = NULL;
    assert_refused(ctx, clmsd_head_create(ctx, &d, &head), "head_create", "workspace");
    cr_assert_null(head);
    for (int s = 0; s < SLOTS; ++s)
        clReleaseMemObject(m[s]);
    clReleaseMemObject(image);
    clmsd_context_destroy(ctx);
}

Test(mem_objects, head_calls_refuse_images, .timeout = 600) { check_head_calls(false); }
Test(mem_objects, pooled_head_calls_refuse_images, .timeout = 600) { check_head_calls(true); }

Test(mem_objects, dropout_calls_refuse_images, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    cl_mem image = test_image(ctx);
    float zeros[K * B * H] = {0};
    cl_mem in = test_buffer(ctx, zeros, sizeof zeros), out = test_canary_buffer(ctx, sizeof zeros);
    clmsd_dropout_desc d = {.samples = K, .rate = 0.5, .rows = B, .cols = H};
    assert_refused(ctx, clmsd_dropout_forward(ctx, &d, image, 0, H, out, 0, H, 0, NULL, NULL), "dropout_forward", "x");
    assert_refused(ctx, clmsd_dropout_forward(ctx, &d, in, 0, H, image, 0, H, 0, NULL, NULL), "dropout_forward", "y");
    assert_refused(ctx, clmsd_dropout_backward(ctx, &d, image, 0, H, out, 0, H, 0, 0, NULL, NULL), "dropout_backward",
                   "dy");
    assert_refused(ctx, clmsd_dropout_backward(ctx, &d, in, 0, H, image, 0, H, 0, 0, NULL, NULL), "dropout_backward",
                   "dx");
    assert_refused(ctx, clmsd_dropout_mask(ctx, &d, image, 0, 0, NULL, NULL), "dropout_mask", "mask");
    assert_refused(ctx, clmsd_stream_words(ctx, 1, 2, 0, 0, 4, image, 0, 0, NULL, NULL), "stream_words", "out");
    test_assert_canary(ctx, out, sizeof zeros, "out");
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clReleaseMemObject(image);
    clmsd_context_destroy(ctx);
}
