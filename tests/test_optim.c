/* SPDX-License-Identifier: MIT */
/* The optimizer (clmsd_optim_*): bit for bit the host reference on the device under test, for SGD
 * (plain, momentum, Nesterov, weight decay), AdamW, gradient clipping, plain and pooled heads and
 * steps without a bias; a state written back resumes exactly; bad input is refused before
 * anything is enqueued. tests/optim_torch.py checks the reference against PyTorch's optimizers. */
#include "cl/clmsd_math.h"
#include "helpers.h"

enum { C = 5, H = 300, L = 3, STEPS = 5 }; /* C*H + C + L = 1508 elements: more than one pass of the norm's partials */

TestSuite(optim, .timeout = 600);

Test(optim, sqrt_is_correctly_rounded)
{
    for (uint32_t u = 0; u < 0x7f800000u; u += 97) {
        float x = clmsd_as_float(u), got = clmsd_sqrt(x), want = sqrtf(x);
        cr_assert(memcmp(&got, &want, 4) == 0, "clmsd_sqrt(%a) = %a, sqrtf %a", (double)x, (double)got, (double)want);
    }
    cr_assert(isnan(clmsd_sqrt(-1.0f)) && isnan(clmsd_sqrt(NAN)) && clmsd_sqrt(INFINITY) == INFINITY);
    float nz = clmsd_sqrt(-0.0f);
    cr_assert(nz == 0.0f && signbit(nz), "sqrt(-0) is -0");
}

/* a head of C classes over H features, pooled over L layers when layers is set */
static clmsd_head *test_head(clmsd_context *ctx, size_t layers)
{
    clmsd_head_desc d = {.batch = 4,
                         .features = H,
                         .classes = C,
                         .samples = 2,
                         .rate = 0.25,
                         .layers = layers,
                         .layer_rate = 0.1,
                         .engine = CLMSD_ENGINE_FUSED};
    clmsd_head *head = NULL;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    return head;
}

/* the parameters and gradients of a step, on the host and on the device */
typedef struct tensors {
    size_t counts[3];
    float *p[3], *g[3];
    cl_mem dp[3], dg[3];
} tensors;

static void tensors_make(tensors *t, clmsd_context *ctx, size_t layers)
{
    size_t counts[3] = {C * H, C, layers};
    for (int i = 0; i < 3; ++i) {
        t->counts[i] = counts[i];
        t->p[i] = calloc(counts[i] + 1, sizeof(float));
        t->g[i] = calloc(counts[i] + 1, sizeof(float));
        test_fill(t->p[i], counts[i], 11u + (uint32_t)i);
        t->dp[i] = counts[i] ? test_buffer(ctx, t->p[i], counts[i] * sizeof(float)) : NULL;
        t->dg[i] = counts[i] ? test_buffer(ctx, NULL, counts[i] * sizeof(float)) : NULL;
    }
}

static void tensors_free(tensors *t)
{
    for (int i = 0; i < 3; ++i) {
        free(t->p[i]);
        free(t->g[i]);
        if (t->dp[i]) {
            clReleaseMemObject(t->dp[i]);
            clReleaseMemObject(t->dg[i]);
        }
    }
}

/* new gradients for step `step`, the same on the host and the device */
static void tensors_grads(tensors *t, clmsd_context *ctx, uint32_t step)
{
    for (int i = 0; i < 3; ++i) {
        if (!t->counts[i])
            continue;
        test_fill(t->g[i], t->counts[i], 100u * step + 7u * (uint32_t)i);
        cl_int err = clEnqueueWriteBuffer(clmsd_context_queue(ctx), t->dg[i], CL_TRUE, 0, t->counts[i] * sizeof(float),
                                          t->g[i], 0, NULL, NULL);
        cr_assert_eq(err, CL_SUCCESS);
    }
}

static clmsd_head_args tensors_args(const tensors *t, bool bias)
{
    return (clmsd_head_args){.w = t->dp[0],
                             .dw = t->dg[0],
                             .bias = bias ? t->dp[1] : NULL,
                             .dbias = bias ? t->dg[1] : NULL,
                             .layer_weights = t->dp[2],
                             .dlayer_weights = t->dg[2]};
}

static void assert_params_equal(clmsd_context *ctx, const tensors *t, const char *what)
{
    for (int i = 0; i < 3; ++i) {
        if (!t->counts[i])
            continue;
        float *got = malloc(t->counts[i] * sizeof(float));
        test_read(ctx, t->dp[i], 0, got, t->counts[i] * sizeof(float));
        for (size_t j = 0; j < t->counts[i]; ++j)
            cr_assert(test_same_bits(got[j], t->p[i][j]), "%s: tensor %d [%zu]: device %a, reference %a", what, i, j,
                      (double)got[j], (double)t->p[i][j]);
        free(got);
    }
}

/* STEPS steps on the device and on the host with a linear schedule; step 2 passes no bias */
static void check_exact(const clmsd_optim_desc *desc, size_t layers, const char *what)
{
    clmsd_context *ctx = test_context();
    clmsd_head *head = test_head(ctx, layers);
    clmsd_optim *opt = NULL;
    cr_assert_eq(clmsd_optim_create(head, desc, &opt), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    tensors t;
    tensors_make(&t, ctx, layers);
    size_t floats = clmsd_optim_state_floats(opt);
    float *moments = calloc(floats + 1, sizeof(float));
    for (uint32_t step = 0; step < STEPS; ++step) {
        bool bias = step != 2;
        double lr = 0.05 * (step + 1);
        tensors_grads(&t, ctx, step);
        clmsd_head_args a = tensors_args(&t, bias);
        cr_assert_eq(clmsd_optim_step(opt, &a, lr, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
        float *params[3] = {t.p[0], t.p[1], t.p[2]};
        const float *grads[3] = {t.g[0], bias ? t.g[1] : NULL, layers ? t.g[2] : NULL};
        cr_assert_eq(clmsd_ref_optim_step(desc, step, lr, params, grads, t.counts, moments), CLMSD_SUCCESS, "%s",
                     clmsd_context_last_error(NULL));
    }
    assert_params_equal(ctx, &t, what);
    float *got = calloc(floats + 1, sizeof(float));
    uint64_t steps = 0;
    cr_assert_eq(clmsd_optim_read_state(opt, &steps, got, floats), CLMSD_SUCCESS);
    cr_assert_eq(steps, STEPS);
    for (size_t i = 0; i < floats; ++i)
        cr_assert(test_same_bits(got[i], moments[i]), "%s: moment %zu: device %a, reference %a", what, i,
                  (double)got[i], (double)moments[i]);
    free(got);
    free(moments);
    tensors_free(&t);
    clmsd_optim_destroy(opt);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}

static const clmsd_optim_desc sgd = {.kind = CLMSD_OPTIM_SGD};
static const clmsd_optim_desc momentum = {.kind = CLMSD_OPTIM_SGD, .momentum = 0.9, .weight_decay = 0.01};
static const clmsd_optim_desc nesterov = {
    .kind = CLMSD_OPTIM_SGD, .momentum = 0.8, .nesterov = 1, .max_grad_norm = 0.5};
static const clmsd_optim_desc adamw = {
    .kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
static const clmsd_optim_desc adamw_clipped = {
    .kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-3, .weight_decay = 0.1, .max_grad_norm = 1.0};

Test(optim, sgd_equals_host_reference) { check_exact(&sgd, 0, "sgd"); }
Test(optim, momentum_equals_host_reference) { check_exact(&momentum, 0, "momentum"); }
Test(optim, nesterov_clipped_pooled_equals_host_reference) { check_exact(&nesterov, L, "nesterov"); }
Test(optim, adamw_equals_host_reference) { check_exact(&adamw, 0, "adamw"); }
Test(optim, adamw_clipped_pooled_equals_host_reference) { check_exact(&adamw_clipped, L, "adamw clipped"); }

/* 3 steps, the state and the parameters read out into a new optimizer, 2 more steps: the bits of
 * 5 steps in one optimizer (a checkpoint's resume) */
Test(optim, written_state_resumes_exactly)
{
    clmsd_context *ctx = test_context();
    clmsd_head *head = test_head(ctx, L);
    tensors a, b;
    tensors_make(&a, ctx, L);
    tensors_make(&b, ctx, L);
    clmsd_optim *one = NULL, *two = NULL;
    cr_assert_eq(clmsd_optim_create(head, &adamw_clipped, &one), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_optim_create(head, &adamw_clipped, &two), CLMSD_SUCCESS);
    for (uint32_t step = 0; step < STEPS; ++step) {
        if (step == 3) { /* the checkpoint: a's parameters and state into b */
            size_t floats = clmsd_optim_state_floats(one);
            float *state = malloc(floats * sizeof(float));
            uint64_t steps;
            cr_assert_eq(clmsd_optim_read_state(one, &steps, state, floats), CLMSD_SUCCESS);
            cr_assert_eq(clmsd_optim_write_state(two, steps, state, floats), CLMSD_SUCCESS, "%s",
                         clmsd_context_last_error(ctx));
            free(state);
            for (int i = 0; i < 3; ++i) {
                test_read(ctx, a.dp[i], 0, b.p[i], a.counts[i] * sizeof(float));
                clEnqueueWriteBuffer(clmsd_context_queue(ctx), b.dp[i], CL_TRUE, 0, a.counts[i] * sizeof(float), b.p[i],
                                     0, NULL, NULL);
            }
        }
        tensors_grads(&a, ctx, step);
        clmsd_head_args args = tensors_args(&a, true);
        cr_assert_eq(clmsd_optim_step(one, &args, 0.01, 0, NULL, NULL), CLMSD_SUCCESS);
        if (step >= 3) {
            tensors_grads(&b, ctx, step);
            args = tensors_args(&b, true);
            cr_assert_eq(clmsd_optim_step(two, &args, 0.01, 0, NULL, NULL), CLMSD_SUCCESS);
        }
    }
    for (int i = 0; i < 3; ++i) {
        float *x = malloc(a.counts[i] * sizeof(float)), *y = malloc(a.counts[i] * sizeof(float));
        test_read(ctx, a.dp[i], 0, x, a.counts[i] * sizeof(float));
        test_read(ctx, b.dp[i], 0, y, a.counts[i] * sizeof(float));
        cr_assert(memcmp(x, y, a.counts[i] * sizeof(float)) == 0, "tensor %d differs after the resume", i);
        free(x);
        free(y);
    }
    tensors_free(&a);
    tensors_free(&b);
    clmsd_optim_destroy(one);
    clmsd_optim_destroy(two);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}

/* each bad call: its status, a message naming what is wrong, W untouched, no step counted */
static void expect_refused(clmsd_context *ctx, clmsd_optim *opt, clmsd_status st, clmsd_status want, const char *needle,
                           const tensors *t)
{
    cr_assert_eq(st, want, "status %d, want %d (%s)", st, want, clmsd_context_last_error(ctx));
    cr_assert(strstr(clmsd_context_last_error(ctx), needle), "message '%s' lacks '%s'", clmsd_context_last_error(ctx),
              needle);
    float *w = malloc(C * H * sizeof(float));
    test_read(ctx, t->dp[0], 0, w, C * H * sizeof(float));
    cr_assert(memcmp(w, t->p[0], C * H * sizeof(float)) == 0, "W changed on a refused call (%s)", needle);
    free(w);
    uint64_t steps = 1;
    size_t floats = clmsd_optim_state_floats(opt);
    float *state = malloc((floats + 1) * sizeof(float));
    cr_assert_eq(clmsd_optim_read_state(opt, &steps, state, floats), CLMSD_SUCCESS);
    cr_assert_eq(steps, 0, "a refused call counted a step (%s)", needle);
    for (size_t i = 0; i < floats; ++i)
        cr_assert_eq(state[i], 0.0f, "a refused call changed the state (%s)", needle);
    free(state);
}

Test(optim, refuses_bad_input)
{
    clmsd_context *ctx = test_context();
    clmsd_head *head = test_head(ctx, 0);
    clmsd_optim *opt = NULL;
    cr_assert_eq(clmsd_optim_create(head, &adamw, &opt), CLMSD_SUCCESS);
    tensors t;
    tensors_make(&t, ctx, 0);
    clmsd_head_args ok = tensors_args(&t, true);

    /* descriptors */
    struct {
        clmsd_optim_desc desc;
        const char *needle;
    } descs[] = {
        {{.kind = 7}, "desc.kind"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 1.0, .beta2 = 0.999, .eps = 1e-8}, "desc.beta1"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = -0.5, .eps = 1e-8}, "desc.beta2"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = NAN, .eps = 1e-8}, "desc.beta2"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999999999, .eps = 1e-8}, "desc.beta2"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999}, "desc.eps"},
        {{.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = -1},
         "desc.weight_decay"},
        {{.kind = CLMSD_OPTIM_SGD, .max_grad_norm = INFINITY}, "desc.max_grad_norm"},
        {{.kind = CLMSD_OPTIM_SGD, .momentum = 1.0}, "desc.momentum"},
        {{.kind = CLMSD_OPTIM_SGD, .nesterov = 1}, "desc.nesterov"},
    };
    for (size_t i = 0; i < sizeof descs / sizeof *descs; ++i) {
        clmsd_optim *bad = (clmsd_optim *)&t;
        cr_assert_eq(clmsd_optim_create(head, &descs[i].desc, &bad), CLMSD_ERROR_INVALID_ARGUMENT, "desc %zu", i);
        cr_assert_null(bad, "desc %zu: *out not cleared", i);
        cr_assert(strstr(clmsd_context_last_error(ctx), descs[i].needle), "desc %zu: '%s' lacks '%s'", i,
                  clmsd_context_last_error(ctx), descs[i].needle);
    }
    clmsd_optim *none = opt; /* (a failed create clears *out) */
    cr_assert_eq(clmsd_optim_create(head, NULL, &none), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_null(none);
    none = opt;
    cr_assert_eq(clmsd_optim_create(NULL, &adamw, &none), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_null(none);
    cr_assert_eq(clmsd_optim_create(head, &adamw, NULL), CLMSD_ERROR_INVALID_ARGUMENT);

    /* steps: nothing enqueued */
    tensors_grads(&t, ctx, 0);
    expect_refused(ctx, opt, clmsd_optim_step(opt, &ok, -0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "lr", &t);
    expect_refused(ctx, opt, clmsd_optim_step(opt, &ok, NAN, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "lr", &t);
    expect_refused(ctx, opt, clmsd_optim_step(opt, &ok, 1e300, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "lr", &t);
    expect_refused(ctx, opt, clmsd_optim_step(opt, NULL, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "args", &t);
    clmsd_head_args a = ok;
    a.dbias = NULL;
    expect_refused(ctx, opt, clmsd_optim_step(opt, &a, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "args.dbias",
                   &t);
    a = ok;
    a.dw = NULL;
    expect_refused(ctx, opt, clmsd_optim_step(opt, &a, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT, "args.dw",
                   &t);
    a = ok;
    a.dw_off = 1; /* one float past the gradient's end */
    expect_refused(ctx, opt, clmsd_optim_step(opt, &a, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER, "dw", &t);
    a = ok;
    a.dbias = t.dg[0]; /* big enough: accepted below */
    a.bias = t.dg[1];
    a.layer_weights = t.dp[1];
    a.dlayer_weights = t.dg[1];
    expect_refused(ctx, opt, clmsd_optim_step(opt, &a, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT,
                   "without layers", &t);
    clmsd_context *other = test_context();
    cl_mem foreign = test_buffer(other, NULL, C * H * sizeof(float));
    a = ok;
    a.dw = foreign;
    expect_refused(ctx, opt, clmsd_optim_step(opt, &a, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER,
                   "another OpenCL context", &t);
    clReleaseMemObject(foreign);
    clmsd_context_destroy(other);
    cr_assert_eq(clmsd_optim_step(NULL, &ok, 0.1, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);

    /* state */
    size_t floats = clmsd_optim_state_floats(opt);
    cr_assert_eq(floats, 2 * (C * H + C));
    float *state = calloc(floats, sizeof(float));
    state[floats - 1] = -1.0f; /* a negative v */
    expect_refused(ctx, opt, clmsd_optim_write_state(opt, 3, state, floats), CLMSD_ERROR_INVALID_ARGUMENT, "v must be",
                   &t);
    state[floats - 1] = 0.0f;
    state[0] = NAN;
    expect_refused(ctx, opt, clmsd_optim_write_state(opt, 3, state, floats), CLMSD_ERROR_INVALID_ARGUMENT, "moments[0]",
                   &t);
    expect_refused(ctx, opt, clmsd_optim_write_state(opt, 3, state, floats - 1), CLMSD_ERROR_INVALID_SIZE, "floats",
                   &t);
    expect_refused(ctx, opt, clmsd_optim_write_state(opt, 3, NULL, floats), CLMSD_ERROR_INVALID_ARGUMENT, "moments",
                   &t);
    free(state);

    /* and the good call still works afterwards */
    cr_assert_eq(clmsd_optim_step(opt, &ok, 0.1, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    tensors_free(&t);
    clmsd_optim_destroy(opt);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
}
