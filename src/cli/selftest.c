/* `clmsd selftest`: on each device, the Philox known answers, the golden stream words, dropout over
 * odd shapes bit for bit against the host reference, and the head against its double reference. */
#include "../golden.h"
#include "cli.h"

#include <clmsd.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check {
    clmsd_context *ctx;
    int failures;
    char first[512];
} check;

static void fail(check *c, const char *fmt, const char *detail)
{
    if (c->failures++ == 0)
        snprintf(c->first, sizeof c->first, fmt, detail);
}

static cl_mem upload(check *c, const void *data, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(c->ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, &err);
    return err == CL_SUCCESS ? m : NULL;
}

static bool download(check *c, cl_mem m, void *out, size_t bytes)
{
    return clEnqueueReadBuffer(clmsd_context_queue(c->ctx), m, CL_TRUE, 0, bytes, out, 0, NULL, NULL) == CL_SUCCESS;
}

static bool words(check *c, uint64_t seed, uint64_t step, uint32_t k, uint32_t block, uint32_t out[4])
{
    cl_mem m = upload(c, NULL, 16);
    bool ok = m && clmsd_stream_words(c->ctx, seed, step, k, block, 1, m, 0, 0, NULL, NULL) == CLMSD_SUCCESS &&
              download(c, m, out, 16);
    if (m)
        clReleaseMemObject(m);
    return ok;
}

static void check_known_answers(check *c)
{
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_kats); ++i) {
        const clmsd_golden_kat *g = &clmsd_golden_kats[i];
        uint32_t out[4];
        /* a Philox input is a stream block: ctr = {block, k, step lo, step hi}, key = seed */
        bool ok = words(c, (uint64_t)g->key[1] << 32 | g->key[0], (uint64_t)g->ctr[3] << 32 | g->ctr[2], g->ctr[1],
                        g->ctr[0], out);
        if (!ok || memcmp(out, g->out, sizeof out))
            fail(c, "Philox4x32-10 known answer %s differs", i == 0 ? "0" : i == 1 ? "1" : "2");
    }
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_words); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_words[i];
        uint32_t out[4];
        if (!words(c, g->seed, g->step, g->k, (uint32_t)(g->e >> 2), out) || out[g->e & 3] != g->u)
            fail(c, "%s", "a golden stream word differs");
    }
}

typedef struct dropout_case {
    size_t rows, cols, ldx, ldy, x_off, y_off, row_offset;
    uint32_t samples;
    double rate;
    bool per_sample;
} dropout_case;

static void check_dropout(check *c, const dropout_case *t)
{
    double rates[64];
    for (uint32_t k = 0; k < t->samples && k < 64; ++k)
        rates[k] = 0.1 * (double)(k % 5 + 1);
    clmsd_dropout_desc d = {1234567, 89, t->samples, t->per_sample ? rates : NULL, t->rate, t->rows, t->cols,
                            t->row_offset};
    size_t nx = t->x_off + t->rows * t->ldx, ny = t->y_off + t->samples * t->rows * t->ldy;
    float *x = malloc(nx * sizeof *x), *y = calloc(ny, sizeof *y), *yref = calloc(ny, sizeof *y);
    float *dx = malloc(nx * sizeof *dx), *dxref = malloc(nx * sizeof *dx);
    size_t nm = t->samples * t->rows * t->cols;
    uint8_t *mask = malloc(nm), *mref = malloc(nm);
    for (size_t i = 0; i < nx; ++i)
        x[i] = dx[i] = dxref[i] = (float)((i * 2654435761u) % 1000) / 250.0f - 2.0f;
    memcpy(yref, y, ny * sizeof *y);
    cl_mem bx = upload(c, x, nx * sizeof *x), by = upload(c, y, ny * sizeof *y), bdx = upload(c, dx, nx * sizeof *dx);
    cl_mem bm = upload(c, NULL, nm);
    bool ok = bx && by && bdx && bm;
    ok = ok && clmsd_dropout_forward(c->ctx, &d, bx, t->x_off, t->ldx, by, t->y_off, t->ldy, 0, NULL, NULL) == 0;
    ok = ok && clmsd_dropout_mask(c->ctx, &d, bm, 0, 0, NULL, NULL) == 0;
    ok = ok && clmsd_dropout_backward(c->ctx, &d, by, t->y_off, t->ldy, bdx, t->x_off, t->ldx, 1, 0, NULL, NULL) == 0;
    ok = ok && download(c, by, y, ny * sizeof *y) && download(c, bm, mask, nm) && download(c, bdx, dx, nx * sizeof *dx);
    if (!ok) {
        fail(c, "dropout call failed: %s", clmsd_context_last_error(c->ctx));
    } else {
        clmsd_ref_dropout_forward(&d, x + t->x_off, t->ldx, yref + t->y_off, t->ldy);
        clmsd_ref_dropout_mask(&d, mref);
        clmsd_ref_dropout_backward(&d, yref + t->y_off, t->ldy, dxref + t->x_off, t->ldx, 1);
        if (memcmp(y, yref, ny * sizeof *y))
            fail(c, "%s", "dropout forward differs from the host reference");
        if (memcmp(mask, mref, nm))
            fail(c, "%s", "dropout mask differs from the host reference");
        if (memcmp(dx, dxref, nx * sizeof *dx))
            fail(c, "%s", "dropout backward differs from the host reference");
    }
    cl_mem all[] = {bx, by, bdx, bm};
    for (int i = 0; i < 4; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
    free(x), free(y), free(yref), free(dx), free(dxref), free(mask), free(mref);
}

/* Largest |device - reference| / (n * FLT_EPSILON * max|reference|) over an array: <= 1 passes. */
static double error_ratio(const float *dev, const double *ref, size_t count, double terms)
{
    double mag = 1e-30, err = 0.0;
    for (size_t i = 0; i < count; ++i)
        mag = fmax(mag, fabs(ref[i]));
    for (size_t i = 0; i < count; ++i)
        err = fmax(err, isnan(dev[i]) ? INFINITY : fabs(dev[i] - ref[i]));
    return err / (2.0 * terms * FLT_EPSILON * mag);
}

static void check_head(check *c, clmsd_loss loss, clmsd_combine combine, double *worst)
{
    const size_t B = 7, H = 37, C = 5;
    const uint32_t K = 4;
    clmsd_head_desc d = {B, H, C, K, NULL, 0.3f, loss, combine, CLMSD_ENGINE_AUTO, NULL};
    float x[7 * 37], w[5 * 37], bias[5], tf[7 * 5], out[7 * 5 + 5 * 37 + 7 * 37 + 5 + 1];
    int32_t ti[7] = {0, 4, 2, -100, 1, 3, 4};
    for (size_t i = 0; i < B * H; ++i)
        x[i] = sinf((float)i);
    for (size_t i = 0; i < C * H; ++i)
        w[i] = 0.2f * cosf((float)i * 0.7f);
    for (size_t i = 0; i < C; ++i)
        bias[i] = 0.1f * (float)i;
    for (size_t i = 0; i < B * C; ++i)
        tf[i] = (float)(i % 3) / 2.0f;
    const void *target = loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)ti : (const void *)tf;
    size_t tbytes = loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? sizeof ti : sizeof tf;
    double rl, rlogits[7 * 5], rdw[5 * 37], rdx[7 * 37], rdb[5];
    clmsd_ref_head_args ra = {5, 9, 3, x, w, bias, target, &rl, rlogits, NULL, rdx, rdw, rdb};
    clmsd_ref_head_train_step(&d, &ra);

    clmsd_head *head = NULL;
    cl_mem bx = upload(c, x, sizeof x), bw = upload(c, w, sizeof w), bb = upload(c, bias, sizeof bias);
    cl_mem bt = upload(c, target, tbytes), bo = upload(c, NULL, sizeof out);
    bool ok = bx && bw && bb && bt && bo && clmsd_head_create(c->ctx, &d, &head) == CLMSD_SUCCESS;
    clmsd_head_args a = {.seed = 5, .step = 9, .row_offset = 3, .x = bx, .w = bw, .bias = bb, .target = bt,
                         .logits = bo, .logits_off = 0, .dw = bo, .dw_off = B * C, .dx = bo, .dx_off = B * C + C * H,
                         .dbias = bo, .dbias_off = B * C + C * H + B * H, .loss = bo,
                         .loss_off = B * C + C * H + B * H + C};
    ok = ok && clmsd_head_train_step(head, &a, 0, NULL, NULL) == CLMSD_SUCCESS && download(c, bo, out, sizeof out);
    if (!ok) {
        fail(c, "head call failed: %s", clmsd_context_last_error(c->ctx));
    } else {
        double r[5] = {
            error_ratio(out, rlogits, B * C, H + K),
            error_ratio(out + B * C, rdw, C * H, 4.0 * K * B),
            error_ratio(out + B * C + C * H, rdx, B * H, 4.0 * K * C),
            error_ratio(out + B * C + C * H + B * H, rdb, C, 4.0 * K * B),
            error_ratio(out + B * C + C * H + B * H + C, &rl, 1, 4.0 * K * B * C),
        };
        for (int i = 0; i < 5; ++i) {
            *worst = fmax(*worst, r[i]);
            if (!(r[i] <= 1.0))
                fail(c, "head %s differs from the double reference beyond its size-derived tolerance",
                     (const char *[]){"logits", "dW", "dX", "db", "loss"}[i]);
        }
    }
    clmsd_head_destroy(head);
    cl_mem all[] = {bx, bw, bb, bt, bo};
    for (int i = 0; i < 5; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
}

static int run_device(const char *spec, const char *label)
{
    check c = {0};
    if (clmsd_context_create(spec, &c.ctx) != CLMSD_SUCCESS) {
        printf("FAIL  %s: %s\n", label, clmsd_context_last_error(NULL));
        return 1;
    }
    printf("....  %s: compiling kernels and CLBlast's GEMM (tens of seconds on a cold pocl cache)\n",
           clmsd_context_device_name(c.ctx));
    fflush(stdout);
    if (clmsd_context_warmup(c.ctx) != CLMSD_SUCCESS) {
        printf("FAIL  %s: %s\n", clmsd_context_device_name(c.ctx), clmsd_context_last_error(c.ctx));
        clmsd_context_destroy(c.ctx);
        return 1;
    }
    check_known_answers(&c);
    const dropout_case cases[] = {
        {1, 1, 1, 1, 0, 0, 0, 1, 0.5f, false},     {3, 7, 7, 7, 0, 0, 0, 5, 0.3f, false},
        {5, 13, 16, 15, 3, 2, 11, 8, 0.0f, true},  {1, 33, 40, 33, 1, 0, 2, 64, 0.9f, false},
        {64, 3, 3, 5, 0, 7, 1000, 3, 0.25f, true}, {17, 1, 2, 1, 5, 1, 3, 2, 0.5f, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        check_dropout(&c, &cases[i]);
    double worst = 0.0;
    for (int loss = 0; loss <= CLMSD_LOSS_MSE; ++loss)
        for (int combine = 0; combine <= CLMSD_AVERAGE_LOGITS; ++combine)
            check_head(&c, (clmsd_loss)loss, (clmsd_combine)combine, &worst);
    if (c.failures)
        printf("FAIL  %s: %d checks failed; first: %s\n", clmsd_context_device_name(c.ctx), c.failures, c.first);
    else
        printf("PASS  %s: Philox known answers, stream words, dropout bit-exact; head within %.2f of its tolerance\n",
               clmsd_context_device_name(c.ctx), worst);
    clmsd_context_destroy(c.ctx);
    return c.failures ? 1 : 0;
}

int clmsd_cli_selftest(int argc, char **argv)
{
    const char *device = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clmsd selftest [--device SPEC]\n\n"
                   "Checks, on every OpenCL device (or the one SPEC names), the Philox4x32-10 known answers,\n"
                   "the clmsd-philox-v1 golden words, dropout forward, mask and backward over odd shapes bit for\n"
                   "bit against the host reference, and the head (every loss and combine mode) against its\n"
                   "double-precision reference. Prints one PASS/FAIL line per device; exits 1 on any FAIL.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
            continue;
        }
        fprintf(stderr, "clmsd selftest: unknown option %s (see --help)\n", argv[i]);
        return 2;
    }
    if (device)
        return run_device(device, device);
    size_t count = 0;
    if (clmsd_devices_list(NULL, 0, &count) != CLMSD_SUCCESS || count == 0) {
        printf("FAIL  no OpenCL device found: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    clmsd_device_info *info = calloc(count, sizeof *info);
    if (!info)
        return 1;
    clmsd_devices_list(info, count, &count);
    int failed = 0;
    for (size_t i = 0; i < count; ++i) {
        char spec[32];
        snprintf(spec, sizeof spec, "%u:%u", info[i].platform_index, info[i].device_index);
        failed |= run_device(spec, spec);
    }
    free(info);
    return failed;
}
