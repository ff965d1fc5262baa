/* SPDX-License-Identifier: MIT */
/* K-sample dropout on the device, on both streams and every storage type: bit-exact against the
 * host reference, shard invariance, statistics, backward, identity at p = 0, and bad input. */
#include "helpers.h"

/* a stream and the storage types of x (forward) and dx (backward) */
typedef struct variant {
    clmsd_stream stream;
    clmsd_type x_type, dx_type;
} variant;

static const variant variants[] = {
    {CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT32, CLMSD_FLOAT32},
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT32, CLMSD_FLOAT32},
    {CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT16, CLMSD_FLOAT16},
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_BFLOAT16, CLMSD_BFLOAT16},
    {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT16, CLMSD_BFLOAT16},
    {CLMSD_STREAM_PHILOX_V1, CLMSD_BFLOAT16, CLMSD_FLOAT32},
};
#define VARIANTS (sizeof variants / sizeof variants[0])

/* the nearest rate the stream takes: itself on v1, the nearest multiple of 1/256 on u8 */
static double stream_rate(clmsd_stream stream, double p)
{
    return stream == CLMSD_STREAM_PHILOX_V1_U8 ? fmin(round(p * 256.0), 255.0) / 256.0 : p;
}

typedef struct shape {
    size_t rows, cols, ldx, ldy, x_off, y_off, row_offset;
    uint32_t samples;
    double rate;
    bool per_sample;
} shape;

static const double rates64[64] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 0.9, 0.05}; /* the rest 0 */
static const double rates64_u8[64] = {0.1015625, 0.203125, 0.30078125, 0.3984375, 0.5, 0.0, 0.8984375, 0.05078125};

/* n floats as `type`: typed[] holds them narrowed, and v[] becomes their widened values (what the
 * host reference reads) */
static void *as_type(clmsd_type type, float *v, size_t n)
{
    void *typed = malloc(n * clmsd_type_size(type));
    cr_assert_eq(clmsd_ref_from_float(type, v, n, typed), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_ref_to_float(type, typed, n, v), CLMSD_SUCCESS);
    return typed;
}

/* forward, mask and backward (both accumulate modes) equal the host reference bit for bit */
static void check_shape(clmsd_context *ctx, const shape *t, const variant *v)
{
    const double *rates = v->stream == CLMSD_STREAM_PHILOX_V1_U8 ? rates64_u8 : rates64;
    clmsd_dropout_desc d = {.seed = 987654321,
                            .step = 3,
                            .samples = t->samples,
                            .rates = t->per_sample ? rates : NULL,
                            .rate = stream_rate(v->stream, t->rate),
                            .rows = t->rows,
                            .cols = t->cols,
                            .row_offset = t->row_offset,
                            .stream = v->stream,
                            .x_type = v->x_type,
                            .dx_type = v->dx_type};
    size_t nx = t->x_off + t->rows * t->ldx, ny = t->y_off + t->samples * t->rows * t->ldy;
    size_t nm = (size_t)t->samples * t->rows * t->cols;
    size_t xs = clmsd_type_size(v->x_type), dxs = clmsd_type_size(v->dx_type);
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *yref = malloc(ny * 4), *dxref = malloc(nx * 4);
    uint8_t *m = malloc(nm + 3), *mref = malloc(nm);
    test_fill(x, nx, 1);
    void *xt = as_type(v->x_type, x, nx);
    test_fill(y, ny, 2); /* elements outside the matrix must keep these values */
    memcpy(yref, y, ny * 4);
    cl_mem bx = test_buffer(ctx, xt, nx * xs), by = test_buffer(ctx, y, ny * 4), bm = test_canary_buffer(ctx, nm + 3);
    cr_assert_eq(clmsd_dropout_forward(ctx, &d, bx, t->x_off, t->ldx, by, t->y_off, t->ldy, 0, NULL, NULL),
                 CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clmsd_dropout_mask(ctx, &d, bm, 3, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    test_read(ctx, by, 0, y, ny * 4);
    test_read(ctx, bm, 0, m, nm + 3);
    clmsd_ref_dropout_forward(&d, x + t->x_off, t->ldx, yref + t->y_off, t->ldy);
    clmsd_ref_dropout_mask(&d, mref);
    cr_assert(memcmp(y, yref, ny * 4) == 0,
              "forward differs from the reference (rows %zu cols %zu K %u, stream %d x %d)", t->rows, t->cols,
              t->samples, (int)v->stream, (int)v->x_type);
    cr_assert(m[0] == CANARY && m[1] == CANARY && m[2] == CANARY, "mask wrote before its offset");
    cr_assert(memcmp(m + 3, mref, nm) == 0, "mask differs from the reference (rows %zu cols %zu K %u, stream %d)",
              t->rows, t->cols, t->samples, (int)v->stream);
    unsigned char *dx = malloc(nx * dxs), *dxref_t = malloc(nx * dxs);
    for (int accumulate = 0; accumulate <= 1; ++accumulate) {
        test_fill(dxref, nx, 3);
        void *dx0 = as_type(v->dx_type, dxref, nx); /* dxref: the widened initial dx */
        cl_mem bdx = test_buffer(ctx, dx0, nx * dxs);
        cr_assert_eq(
            clmsd_dropout_backward(ctx, &d, by, t->y_off, t->ldy, bdx, t->x_off, t->ldx, accumulate, 0, NULL, NULL),
            CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
        test_read(ctx, bdx, 0, dx, nx * dxs);
        clmsd_ref_dropout_backward(&d, yref + t->y_off, t->ldy, dxref + t->x_off, t->ldx, accumulate);
        clmsd_ref_from_float(v->dx_type, dxref, nx, dxref_t); /* one rounding of the fp32 result */
        cr_assert(memcmp(dx, dxref_t, nx * dxs) == 0,
                  "backward (accumulate %d, stream %d, dx type %d) differs from the reference", accumulate,
                  (int)v->stream, (int)v->dx_type);
        clReleaseMemObject(bdx);
        free(dx0);
    }
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bm);
    free(x), free(xt), free(y), free(yref), free(dx), free(dxref), free(dxref_t), free(m), free(mref);
}

Test(dropout, equals_host_reference, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    const shape shapes[] = {
        /* rows cols ldx ldy x_off y_off row_offset K rate per_sample */
        {1, 1, 1, 1, 0, 0, 0, 1, 0.5f, false},        /* one element */
        {1, 37, 37, 37, 0, 0, 0, 3, 0.3f, false},     /* one row, cols not a multiple of 4 */
        {29, 1, 1, 1, 0, 0, 0, 2, 0.5f, false},       /* one column */
        {7, 13, 16, 20, 5, 9, 0, 4, 0.25f, false},    /* ld > cols, offsets */
        {6, 11, 11, 11, 0, 0, 33, 5, 0.5f, true},     /* row_offset, per-sample rates */
        {9, 10, 12, 10, 1, 2, 3, 1, 0.9f, false},     /* K = 1 */
        {5, 21, 23, 21, 0, 3, 7, 64, 0.2f, true},     /* K = 64, per-sample rates */
        {64, 769, 769, 770, 0, 0, 0, 8, 0.5f, false}, /* a Kaggle-sized feature matrix */
        {40, 64, 70, 72, 3, 5, 10, 3, 0.5f, true},    /* whole vector chunks: shard, ld > cols, offsets */
    };
    for (size_t v = 0; v < VARIANTS; ++v)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i)
            check_shape(ctx, &shapes[i], &variants[v]);
    clmsd_context_destroy(ctx);
}

static void check_shards(clmsd_context *ctx, clmsd_stream stream)
{
    const size_t cols = 30;
    clmsd_dropout_desc whole = {.seed = 11,
                                .step = 5,
                                .samples = 3,
                                .rate = stream_rate(stream, 0.4),
                                .rows = 64,
                                .cols = cols,
                                .stream = stream};
    float *x = malloc(64 * cols * 4), *y = malloc(3 * 64 * cols * 4), *ya = malloc(3 * 32 * cols * 4),
          *yb = malloc(3 * 32 * cols * 4);
    test_fill(x, 64 * cols, 4);
    cl_mem bx = test_buffer(ctx, x, 64 * cols * 4), by = test_buffer(ctx, NULL, 3 * 64 * cols * 4);
    cl_mem ba = test_buffer(ctx, NULL, 3 * 32 * cols * 4), bb = test_buffer(ctx, NULL, 3 * 32 * cols * 4);
    cr_assert_eq(clmsd_dropout_forward(ctx, &whole, bx, 0, cols, by, 0, cols, 0, NULL, NULL), CLMSD_SUCCESS);
    clmsd_dropout_desc half = whole;
    half.rows = 32;
    cr_assert_eq(clmsd_dropout_forward(ctx, &half, bx, 0, cols, ba, 0, cols, 0, NULL, NULL), CLMSD_SUCCESS);
    half.row_offset = 32;
    cr_assert_eq(clmsd_dropout_forward(ctx, &half, bx, 32 * cols, cols, bb, 0, cols, 0, NULL, NULL), CLMSD_SUCCESS);
    test_read(ctx, by, 0, y, 3 * 64 * cols * 4);
    test_read(ctx, ba, 0, ya, 3 * 32 * cols * 4);
    test_read(ctx, bb, 0, yb, 3 * 32 * cols * 4);
    for (int k = 0; k < 3; ++k) {
        cr_assert(memcmp(y + k * 64 * cols, ya + k * 32 * cols, 32 * cols * 4) == 0, "rows [0, 32) of sample %d", k);
        cr_assert(memcmp(y + (k * 64 + 32) * cols, yb + k * 32 * cols, 32 * cols * 4) == 0,
                  "rows [32, 64) of sample %d", k);
    }
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(ba), clReleaseMemObject(bb);
    free(x), free(y), free(ya), free(yb);
}

Test(dropout, shard_invariance, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    check_shards(ctx, CLMSD_STREAM_PHILOX_V1);
    check_shards(ctx, CLMSD_STREAM_PHILOX_V1_U8); /* 32 rows of 30: shards that split u8 blocks */
    clmsd_context_destroy(ctx);
}

static uint8_t *device_mask(clmsd_context *ctx, const clmsd_dropout_desc *d)
{
    size_t n = (size_t)d->samples * d->rows * d->cols;
    cl_mem b = test_buffer(ctx, NULL, n);
    cr_assert_eq(clmsd_dropout_mask(ctx, d, b, 0, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    uint8_t *m = malloc(n);
    test_read(ctx, b, 0, m, n);
    clReleaseMemObject(b);
    return m;
}

/* |count - n q| <= 6 sqrt(n q (1 - q)) */
static void assert_binomial(size_t count, size_t n, double q, const char *what)
{
    double sigma = sqrt(n * q * (1 - q));
    cr_assert(fabs(count - n * q) <= 6 * sigma, "%s: %zu of %zu, expected %.0f +- %.0f", what, count, n, n * q,
              6 * sigma);
}

Test(dropout, statistics, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    const double ps[] = {0.1, 0.5, 0.9, 0.1015625, 0.5, 0.8984375, 1.0 / 256, 255.0 / 256};
    const size_t n = 1000 * 1000;
    for (int i = 0; i < 8; ++i) {
        clmsd_stream stream = i < 3 ? CLMSD_STREAM_PHILOX_V1 : CLMSD_STREAM_PHILOX_V1_U8;
        clmsd_dropout_desc d = {
            .seed = 2026, .step = 1, .samples = 2, .rate = ps[i], .rows = 1000, .cols = 1000, .stream = stream};
        uint8_t *m = device_mask(ctx, &d);
        d.step = 2;
        uint8_t *m2 = device_mask(ctx, &d);
        size_t kept = 0, same_k = 0, same_step = 0;
        for (size_t e = 0; e < n; ++e) {
            kept += m[e];
            same_k += m[e] == m[n + e];
            same_step += m[e] == m2[e];
        }
        double q = 1.0 - ps[i], agree = q * q + (1 - q) * (1 - q);
        assert_binomial(kept, n, q, "kept fraction");
        assert_binomial(same_k, n, agree, "agreement of samples 0 and 1");
        assert_binomial(same_step, n, agree, "agreement of steps 1 and 2");
        free(m), free(m2);
    }
    clmsd_context_destroy(ctx);
}

/* Backward is canonical order v2's sum over the samples of what forward makes of dy_k: from -0,
 * k ascending, acc = fmaf(dy_k, s_k, acc) where sample k keeps, and forward of dy_k is that keep's
 * dy_k * s_k or 0 (the masks from clmsd_dropout_mask, the scale from clmsd_rate_params). */
Test(dropout, backward_is_forward_of_dy, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    enum { R = 9, C = 19, K = 3 };
    clmsd_dropout_desc d = {.seed = 77, .step = 4, .samples = K, .rate = 0.35f, .rows = R, .cols = C, .row_offset = 2};
    float dy[K * R * C], fwd[K * K * R * C], dx[R * C], expect[R * C], scale;
    uint8_t mask[K * R * C];
    uint32_t threshold;
    clmsd_rate_params(d.rate, &threshold, &scale);
    test_fill(dy, K * R * C, 5);
    cl_mem bdy = test_buffer(ctx, dy, sizeof dy), bf = test_buffer(ctx, NULL, sizeof fwd),
           bdx = test_buffer(ctx, NULL, sizeof dx), bm = test_buffer(ctx, NULL, sizeof mask);
    /* forward of each dy_k gives every sample's mask applied to it; keep sample k's */
    for (int k = 0; k < K; ++k) {
        cr_assert_eq(
            clmsd_dropout_forward(ctx, &d, bdy, (size_t)k * R * C, C, bf, (size_t)k * K * R * C, C, 0, NULL, NULL),
            CLMSD_SUCCESS);
    }
    cr_assert_eq(clmsd_dropout_backward(ctx, &d, bdy, 0, C, bdx, 0, C, 0, 0, NULL, NULL), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_dropout_mask(ctx, &d, bm, 0, 0, NULL, NULL), CLMSD_SUCCESS);
    test_read(ctx, bf, 0, fwd, sizeof fwd);
    test_read(ctx, bdx, 0, dx, sizeof dx);
    test_read(ctx, bm, 0, mask, sizeof mask);
    for (int i = 0; i < R * C; ++i) {
        expect[i] = -0.0f; /* v2 sums start from -0.0f */
        for (int k = 0; k < K; ++k) {
            float v = dy[k * R * C + i], f = mask[k * R * C + i] ? v * scale : 0.0f;
            cr_assert(memcmp(&fwd[(k * K + k) * R * C + i], &f, 4) == 0, "forward of dy_%d[%d] is not its keep * s", k,
                      i);
            if (mask[k * R * C + i])
                expect[i] = fmaf(v, scale, expect[i]);
        }
    }
    for (int i = 0; i < R * C; ++i)
        cr_assert(test_same_bits(dx[i], expect[i]),
                  "backward[%d] %.9g is not the v2 sum of dy_k s_k over the kept samples %.9g", i, (double)dx[i],
                  (double)expect[i]);
    clReleaseMemObject(bdy), clReleaseMemObject(bf), clReleaseMemObject(bdx), clReleaseMemObject(bm);
    clmsd_context_destroy(ctx);
}

Test(dropout, rate_zero_is_identity, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    enum { R = 5, C = 13, K = 4 };
    clmsd_dropout_desc d = {.seed = 1, .step = 2, .samples = K, .rate = 0.0f, .rows = R, .cols = C};
    float x[R * C], y[K * R * C], dx[R * C];
    test_fill(x, R * C, 6);
    cl_mem bx = test_buffer(ctx, x, sizeof x), by = test_buffer(ctx, NULL, sizeof y),
           bdx = test_buffer(ctx, NULL, sizeof dx);
    cr_assert_eq(clmsd_dropout_forward(ctx, &d, bx, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_SUCCESS);
    d.samples = 1;
    cr_assert_eq(clmsd_dropout_backward(ctx, &d, bx, 0, C, bdx, 0, C, 0, 0, NULL, NULL), CLMSD_SUCCESS);
    test_read(ctx, by, 0, y, sizeof y);
    test_read(ctx, bdx, 0, dx, sizeof dx);
    for (int k = 0; k < K; ++k)
        cr_assert(memcmp(y + k * R * C, x, sizeof x) == 0, "sample %d is not x", k);
    cr_assert(memcmp(dx, x, sizeof x) == 0, "backward at p = 0 is not the identity");
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bdx);
    clmsd_context_destroy(ctx);
}

Test(dropout, events_and_wait_lists, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    test_skip_user_events_on_pocl_basic(ctx);
    clmsd_dropout_desc d = {.seed = 3, .samples = 2, .rate = 0.5f, .rows = 4, .cols = 6};
    float x[24], y[48], yref[48];
    test_fill(x, 24, 7);
    cl_mem bx = test_buffer(ctx, x, sizeof x), by = test_buffer(ctx, NULL, sizeof y);
    cl_int err;
    cl_event user = clCreateUserEvent(clmsd_context_cl_context(ctx), &err), done = NULL;
    cr_assert_eq(err, CL_SUCCESS);
    cr_assert_eq(clmsd_dropout_forward(ctx, &d, bx, 0, 6, by, 0, 6, 1, &user, &done), CLMSD_SUCCESS);
    cl_int state;
    clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state, NULL);
    cr_assert_neq(state, CL_COMPLETE, "the call ran before its wait list completed");
    clSetUserEventStatus(user, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    test_read(ctx, by, 0, y, sizeof y);
    clmsd_ref_dropout_forward(&d, x, 6, yref, 6);
    cr_assert(memcmp(y, yref, sizeof y) == 0);
    clReleaseEvent(user), clReleaseEvent(done);
    clReleaseMemObject(bx), clReleaseMemObject(by);
    clmsd_context_destroy(ctx);
}

Test(dropout, bad_input, .timeout = 600)
{
    clmsd_context *ctx = test_context(), *other = test_context();
    enum { R = 4, C = 6, K = 2 };
    const size_t ybytes = K * R * C * 4;
    float x[R * C];
    test_fill(x, R * C, 8);
    cl_mem bx = test_buffer(ctx, x, sizeof x), by = test_canary_buffer(ctx, ybytes);
    cl_mem foreign = test_buffer(other, x, sizeof x);
    const clmsd_dropout_desc good = {.seed = 1, .step = 1, .samples = K, .rate = 0.5f, .rows = R, .cols = C};
/* (each case overrides the defaults of DESC) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
    struct {
        clmsd_dropout_desc d;
        const char *what;
        clmsd_status expect;
    } descs[] = {
#define DESC(...) {.seed = 1, .step = 1, .samples = K, .rate = 0.5, .rows = R, .cols = C, __VA_ARGS__}
        {DESC(.samples = 0), "zero samples", CLMSD_ERROR_INVALID_SIZE},
        {DESC(.rows = 0), "zero rows", CLMSD_ERROR_INVALID_SIZE},
        {DESC(.cols = 0), "zero cols", CLMSD_ERROR_INVALID_SIZE},
        {DESC(.rate = NAN), "NaN rate", CLMSD_ERROR_INVALID_RATE},
        {DESC(.rate = -0.25), "negative rate", CLMSD_ERROR_INVALID_RATE},
        {DESC(.rate = 1.0), "rate 1", CLMSD_ERROR_INVALID_RATE},
        {DESC(.rates = (const double[]){0.5, 1.5}), "rates[1] 1.5", CLMSD_ERROR_INVALID_RATE},
        {DESC(.rates = (const double[]){NAN, 0.5}), "rates[0] NaN", CLMSD_ERROR_INVALID_RATE},
        {DESC(.row_offset = (size_t)1 << 32), "element count past 2^34", CLMSD_ERROR_INVALID_SIZE},
        {DESC(.cols = SIZE_MAX), "overflowing size", CLMSD_ERROR_INVALID_SIZE},
        {DESC(.stream = CLMSD_STREAM_PHILOX_V1_U8, .rate = 0.1), "u8 rate 0.1", CLMSD_ERROR_INVALID_RATE},
        {DESC(.stream = CLMSD_STREAM_PHILOX_V1_U8, .rate = 255.5 / 256), "u8 rate 255.5/256", CLMSD_ERROR_INVALID_RATE},
        {DESC(.stream = CLMSD_STREAM_PHILOX_V1_U8, .rates = (const double[]){0.5, 0.3}), "u8 rates[1] 0.3",
         CLMSD_ERROR_INVALID_RATE},
        {DESC(.stream = (clmsd_stream)2), "stream 2", CLMSD_ERROR_INVALID_ARGUMENT},
        {DESC(.x_type = (clmsd_type)3), "x_type 3", CLMSD_ERROR_INVALID_ARGUMENT},
        {DESC(.dx_type = (clmsd_type)-1), "dx_type -1", CLMSD_ERROR_INVALID_ARGUMENT},
#undef DESC
    };
#pragma GCC diagnostic pop
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; ++i) {
        clmsd_status st = clmsd_dropout_forward(ctx, &descs[i].d, bx, 0, C, by, 0, C, 0, NULL, NULL);
        cr_assert_eq(st, descs[i].expect, "%s: got %s", descs[i].what, clmsd_status_string(st));
        cr_assert_str_neq(clmsd_context_last_error(ctx), "", "%s: no message", descs[i].what);
        st = clmsd_dropout_mask(ctx, &descs[i].d, by, 0, 0, NULL, NULL);
        cr_assert_eq(st, descs[i].expect, "mask, %s", descs[i].what);
        st = clmsd_dropout_backward(ctx, &descs[i].d, bx, 0, C, by, 0, C, 0, 0, NULL, NULL);
        cr_assert_eq(st, descs[i].expect, "backward, %s", descs[i].what);
    }
    cl_event ev = NULL;
    cr_assert_eq(clmsd_dropout_forward(NULL, &good, bx, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_str_neq(clmsd_context_last_error(NULL), "");
    cr_assert_eq(clmsd_dropout_forward(ctx, NULL, bx, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, NULL, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C, NULL, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C - 1, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C, by, 0, C - 1, 0, NULL, NULL), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 1, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C, by, 1, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C + 1, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, SIZE_MAX, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, foreign, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, bx, 0, C, by, 0, C, 1, NULL, &ev), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_null(ev, "an event was returned on error");
    cr_assert_eq(clmsd_dropout_mask(ctx, &good, by, ybytes - K * R * C + 1, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_backward(ctx, &good, bx, 0, C, by, 0, C, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER,
                 "dy of [R, C] is too small for K samples");
    /* the u8 stream's message names the nearest rates it takes */
    clmsd_dropout_desc u8 = good;
    u8.stream = CLMSD_STREAM_PHILOX_V1_U8, u8.rate = 0.1;
    cr_assert_eq(clmsd_dropout_mask(ctx, &u8, by, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_RATE);
    cr_assert(strstr(clmsd_context_last_error(ctx), "0.09765625") && strstr(clmsd_context_last_error(ctx), "0.1015625"),
              "%s", clmsd_context_last_error(ctx));
    /* a storage type on a buffer sized for another: 2-byte x is R C 2 bytes, fp32 needs twice that */
    cl_mem half_x = test_buffer(ctx, NULL, R * C * 2);
    clmsd_dropout_desc f16 = good;
    f16.x_type = CLMSD_FLOAT16, f16.dx_type = CLMSD_BFLOAT16;
    cr_assert_eq(clmsd_dropout_forward(ctx, &good, half_x, 0, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_forward(ctx, &f16, half_x, 1, C, by, 0, C, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_dropout_backward(ctx, &good, by, 0, C, half_x, 0, C, 0, 0, NULL, NULL),
                 CLMSD_ERROR_INVALID_BUFFER);
    clReleaseMemObject(half_x);
    test_assert_canary(ctx, by, ybytes, "dropout bad input");
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(foreign);
    clmsd_context_destroy(other);
    clmsd_context_destroy(ctx);
}

Test(dropout, device_specs)
{
    clmsd_context *ctx = NULL;
    cr_assert_eq(clmsd_context_create("no such device anywhere", &ctx), CLMSD_ERROR_DEVICE_NOT_FOUND);
    cr_assert_null(ctx);
    cr_assert(strstr(clmsd_context_last_error(NULL), "no such device anywhere") != NULL);
    cr_assert_eq(clmsd_context_create("99:0", &ctx), CLMSD_ERROR_DEVICE_NOT_FOUND);
    cr_assert_eq(clmsd_context_create(NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_context_create("0:0", &ctx), CLMSD_SUCCESS, "%s", clmsd_context_last_error(NULL));
    clmsd_context_destroy(ctx);
    clmsd_context_destroy(NULL);
    cr_assert_str_eq(clmsd_status_string(CLMSD_ERROR_INVALID_RATE), "invalid drop rate");
    for (int s = 0; s <= CLMSD_ERROR_UNSUPPORTED; ++s)
        cr_assert_str_neq(clmsd_status_string((clmsd_status)s), "unknown status");
}

Test(dropout, attach_to_a_callers_queue, .timeout = 600)
{
    clmsd_context *owner = test_context();
    cl_command_queue q = clmsd_context_queue(owner);
    clmsd_context *ctx = NULL;
    cr_assert_eq(clmsd_context_create_from_queue(q, &ctx), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_context_queue(ctx), q);
    clmsd_dropout_desc d = {.seed = 9, .step = 9, .samples = 1, .rate = 0.5f, .rows = 2, .cols = 3};
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6], yref[6];
    cl_mem bx = test_buffer(owner, x, sizeof x), by = test_buffer(owner, NULL, sizeof y);
    cr_assert_eq(clmsd_dropout_forward(ctx, &d, bx, 0, 3, by, 0, 3, 0, NULL, NULL), CLMSD_SUCCESS);
    clmsd_context_destroy(ctx); /* releases only what it retained: the owner's queue still works */
    test_read(owner, by, 0, y, sizeof y);
    clmsd_ref_dropout_forward(&d, x, 3, yref, 3);
    cr_assert(memcmp(y, yref, sizeof y) == 0);
    cr_assert_eq(clmsd_context_create_from_queue(NULL, &ctx), CLMSD_ERROR_INVALID_ARGUMENT);
    clReleaseMemObject(bx), clReleaseMemObject(by);
    clmsd_context_destroy(owner);
}

/* Every fp16 and bf16 value widens on the device as on the host (forward at p = 0 is the
 * identity), and fp32 values at, around and between neighbouring fp16 / bf16 values round to the
 * same bits (backward at p = 0, K = 1, is one rounding of dy): ties to even, subnormals, overflow. */
Test(dropout, storage_conversions_match_the_host, .timeout = 600)
{
    clmsd_context *ctx = test_context();
    bool denormals = test_device_keeps_denormals(ctx);
    enum { N = 65536, M = 3 * 65536 };
    uint16_t *bits = malloc(N * 2), *got16 = malloc(M * 2), *ref16 = malloc(M * 2);
    float *y = malloc(N * 4), *ref = malloc(N * 4), *dy = malloc(M * 4);
    for (uint32_t i = 0; i < N; ++i)
        bits[i] = (uint16_t)i;
    const clmsd_type types[] = {CLMSD_FLOAT16, CLMSD_BFLOAT16};
    /* rows of 256 take the CPU tiling's 16-wide loads and stores, rows of 1 its one-element ones
     * (the GPU tiling converts one element at a time at any width: once is enough) */
    const size_t widths[] = {256, 1};
    int runs = strcmp(clmsd_context_tiling(ctx), "cpu") ? 2 : 4;
    for (int t = 0; t < runs; ++t) {
        size_t cols = widths[t / 2];
        clmsd_dropout_desc d = {
            .seed = 1, .samples = 1, .rate = 0.0, .rows = N / cols, .cols = cols, .x_type = types[t % 2]};
        cl_mem bx = test_buffer(ctx, bits, N * 2), by = test_buffer(ctx, NULL, N * 4);
        cr_assert_eq(clmsd_dropout_forward(ctx, &d, bx, 0, cols, by, 0, cols, 0, NULL, NULL), CLMSD_SUCCESS);
        test_read(ctx, by, 0, y, N * 4);
        clmsd_ref_to_float(types[t % 2], bits, N, ref);
        for (uint32_t i = 0; i < N; ++i) {
            if (isnan(ref[i])) {
                cr_assert(isnan(y[i]), "type %d: %04x widens to a NaN", (int)types[t % 2], i);
                continue;
            }
            if (!denormals && fabsf(ref[i]) < FLT_MIN)
                continue; /* (an fp32 subnormal: this device flushes it) */
            cr_assert(test_same_bits(y[i], ref[i]), "type %d, cols %zu: %04x widens to %a, the host to %a",
                      (int)types[t % 2], cols, i, (double)y[i], (double)ref[i]);
        }
        /* each value, the midpoint to the next, and one fp32 ulp either side of that midpoint */
        for (uint32_t i = 0; i < N; ++i) {
            float v = ref[i], next = ref[(i + 1) & 0xFFFF], mid = v + (next - v) * 0.5f;
            if (!isfinite(mid) || (i & 0x7FFF) == 0x7FFF)
                mid = v;
            dy[3 * i] = v;
            dy[3 * i + 1] = mid;
            dy[3 * i + 2] = nextafterf(mid, (i & 1) ? INFINITY : -INFINITY);
            for (int j = 0; j < 3; ++j)
                if (isnan(dy[3 * i + j]) || (!denormals && fabsf(dy[3 * i + j]) < FLT_MIN))
                    dy[3 * i + j] = 1.0f;
        }
        dy[0] = 65519.99f, dy[1] = 65520.0f, dy[2] = 1e30f; /* fp16: 65504, infinity, infinity */
        d.rows = M / cols, d.dx_type = types[t % 2];
        cl_mem bdy = test_buffer(ctx, dy, M * 4), bdx = test_buffer(ctx, NULL, M * 2);
        cr_assert_eq(clmsd_dropout_backward(ctx, &d, bdy, 0, cols, bdx, 0, cols, 0, 0, NULL, NULL), CLMSD_SUCCESS);
        test_read(ctx, bdx, 0, got16, M * 2);
        clmsd_ref_from_float(types[t % 2], dy, M, ref16);
        for (uint32_t i = 0; i < M; ++i)
            cr_assert_eq(got16[i], ref16[i], "type %d, cols %zu: %a rounds to %04x on the device, %04x on the host",
                         (int)types[t % 2], cols, (double)dy[i], got16[i], ref16[i]);
        clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bdy), clReleaseMemObject(bdx);
    }
    free(bits), free(got16), free(ref16), free(y), free(ref), free(dy);
    clmsd_context_destroy(ctx);
}
