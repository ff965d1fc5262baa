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
    /* the matrix: what each family of checks found */
    bool kat_ok, dropout_ok, fused_ok;
    double clblast_ratio;    /* largest error of the CLBlast engine over its tolerance */
    uint64_t mask_hash, fused_hash; /* FNV-1a of every device output, to compare devices */
    bool denormals;
} check;

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

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
    int before = c->failures;
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
    c->kat_ok = c->failures == before;
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
        c->dropout_ok = false;
    } else {
        c->mask_hash = fnv(fnv(fnv(c->mask_hash, y, ny * sizeof *y), mask, nm), dx, nx * sizeof *dx);
        int before = c->failures;
        clmsd_ref_dropout_forward(&d, x + t->x_off, t->ldx, yref + t->y_off, t->ldy);
        clmsd_ref_dropout_mask(&d, mref);
        clmsd_ref_dropout_backward(&d, yref + t->y_off, t->ldy, dxref + t->x_off, t->ldx, 1);
        if (memcmp(y, yref, ny * sizeof *y))
            fail(c, "%s", "dropout forward differs from the host reference");
        if (memcmp(mask, mref, nm))
            fail(c, "%s", "dropout mask differs from the host reference");
        if (memcmp(dx, dxref, nx * sizeof *dx))
            fail(c, "%s", "dropout backward differs from the host reference");
        c->dropout_ok &= c->failures == before;
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

/* One train step of `engine`: the CLBlast engine within its size-derived tolerance of the double
 * reference, the fused engine bit for bit equal to the exact reference. */
static void check_head(check *c, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine)
{
    const size_t B = 7, H = 37, C = 5;
    const uint32_t K = 4;
    clmsd_head_desc d = {B, H, C, K, NULL, 0.3, loss, combine, engine, NULL};
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
        if (engine == CLMSD_ENGINE_FUSED)
            c->fused_ok = false;
        else
            c->clblast_ratio = INFINITY;
    } else if (engine == CLMSD_ENGINE_FUSED) {
        float el, elogits[7 * 5], edw[5 * 37], edx[7 * 37], edb[5];
        clmsd_ref_head_exact_args ea = {5, 9, 3, x, w, bias, target, &el, elogits, NULL, edx, edw, edb, 0};
        clmsd_ref_head_exact_train_step(&d, &ea);
        c->fused_hash = fnv(c->fused_hash, out, sizeof out);
        if (memcmp(out, elogits, sizeof elogits) || memcmp(out + B * C, edw, sizeof edw) ||
            memcmp(out + B * C + C * H, edx, sizeof edx) || memcmp(out + B * C + C * H + B * H, edb, sizeof edb) ||
            memcmp(out + B * C + C * H + B * H + C, &el, sizeof el)) {
            c->fused_ok = false;
            fail(c, "%s", "the fused engine differs from the exact reference");
        }
    } else {
        double r[5] = {
            error_ratio(out, rlogits, B * C, H + K),
            error_ratio(out + B * C, rdw, C * H, 4.0 * K * B),
            error_ratio(out + B * C + C * H, rdx, B * H, 4.0 * K * C),
            error_ratio(out + B * C + C * H + B * H, rdb, C, 4.0 * K * B),
            error_ratio(out + B * C + C * H + B * H + C, &rl, 1, 4.0 * K * B * C),
        };
        for (int i = 0; i < 5; ++i) {
            c->clblast_ratio = fmax(c->clblast_ratio, r[i]);
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

static int run_device(const char *spec, const char *label, check *c)
{
    *c = (check){.dropout_ok = true, .fused_ok = true, .mask_hash = UINT64_C(0xcbf29ce484222325),
                 .fused_hash = UINT64_C(0xcbf29ce484222325)};
    if (clmsd_context_create(spec, &c->ctx) != CLMSD_SUCCESS) {
        printf("FAIL  %s: %s\n", label, clmsd_context_last_error(NULL));
        c->failures = 1;
        return 1;
    }
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(c->ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    c->denormals = (fp & CL_FP_DENORM) != 0;
    printf("....  %s: kernels and CLBlast's GEMM compile on first use (tens of seconds on a cold pocl cache)\n",
           clmsd_context_device_name(c->ctx));
    fflush(stdout);
    check_known_answers(c);
    const dropout_case cases[] = {
        {1, 1, 1, 1, 0, 0, 0, 1, 0.5, false},     {3, 7, 7, 7, 0, 0, 0, 5, 0.3, false},
        {5, 13, 16, 15, 3, 2, 11, 8, 0.0, true},  {1, 33, 40, 33, 1, 0, 2, 64, 0.9, false},
        {64, 3, 3, 5, 0, 7, 1000, 3, 0.25, true}, {17, 1, 2, 1, 5, 1, 3, 2, 0.5, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        check_dropout(c, &cases[i]);
    for (int engine = CLMSD_ENGINE_CLBLAST; engine <= CLMSD_ENGINE_FUSED; ++engine)
        for (int loss = 0; loss <= CLMSD_LOSS_MSE; ++loss)
            for (int combine = 0; combine <= CLMSD_AVERAGE_LOGITS; ++combine)
                check_head(c, (clmsd_loss)loss, (clmsd_combine)combine, (clmsd_engine)engine);
    if (c->failures)
        printf("FAIL  %s: %d checks failed; first: %s\n", clmsd_context_device_name(c->ctx), c->failures, c->first);
    else
        printf("PASS  %s: Philox known answers, stream words, dropout and the fused head bit-exact; "
               "CLBlast head within %.2f of its tolerance%s\n",
               clmsd_context_device_name(c->ctx), c->clblast_ratio,
               c->denormals ? "" : " (this device flushes fp32 denormals: fused results can differ where values are denormal)");
    return c->failures ? 1 : 0;
}

/* device by check; "=" compares a device's raw outputs with the first device's */
static void print_matrix(check *checks, char (*labels)[300], size_t count)
{
    printf("\n%-44s %5s %8s %10s %10s %11s %12s %10s\n", "device", "KAT", "dropout", "fused=ref", "masks=#1",
           "fused=#1", "clblast/tol", "denormals");
    for (size_t i = 0; i < count; ++i) {
        const check *c = &checks[i];
        if (!c->ctx) {
            printf("%-44.44s %5s\n", labels[i], "FAIL");
            continue;
        }
        const char *same_masks = i == 0 ? "-" : c->mask_hash == checks[0].mask_hash ? "yes" : "NO";
        const char *same_fused = i == 0 ? "-" : c->fused_hash == checks[0].fused_hash ? "yes" : "NO";
        printf("%-44.44s %5s %8s %10s %10s %11s %12.3g %10s\n", labels[i], c->kat_ok ? "ok" : "FAIL",
               c->dropout_ok ? "ok" : "FAIL", c->fused_ok ? "ok" : "FAIL", same_masks, same_fused, c->clblast_ratio,
               c->denormals ? "kept" : "flushed");
    }
}

int clmsd_cli_selftest(int argc, char **argv)
{
    const char *device = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clmsd selftest [--device SPEC | --all-devices]\n\n"
                   "Checks, on every OpenCL device (the default, --all-devices) or the one SPEC names, the\n"
                   "Philox4x32-10 known answers, the clmsd-philox-v1 golden words, dropout forward, mask and\n"
                   "backward over odd shapes bit for bit against the host reference, the fused head bit for bit\n"
                   "against the exact reference and the CLBlast head against the double reference, for every loss\n"
                   "and combine mode. Prints one PASS/FAIL line per device, then a matrix of device by check that\n"
                   "also compares every device's raw masks and fused results with the first device's. Exits 1 on\n"
                   "any FAIL.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--all-devices"))
            continue;
        fprintf(stderr, "clmsd selftest: unknown option %s (see --help)\n", argv[i]);
        return 2;
    }
    size_t count = 1;
    clmsd_device_info *info = NULL;
    if (!device) {
        if (clmsd_devices_list(NULL, 0, &count) != CLMSD_SUCCESS || count == 0) {
            printf("FAIL  no OpenCL device found: %s\n", clmsd_context_last_error(NULL));
            return 1;
        }
        info = calloc(count, sizeof *info);
        if (!info)
            return 1;
        clmsd_devices_list(info, count, &count);
    }
    check *checks = calloc(count, sizeof *checks);
    char (*labels)[300] = calloc(count, sizeof *labels);
    if (!checks || !labels) {
        free(info), free(checks), free(labels);
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < count; ++i) {
        char spec[32];
        if (device)
            snprintf(spec, sizeof spec, "%s", device);
        else
            snprintf(spec, sizeof spec, "%u:%u", info[i].platform_index, info[i].device_index);
        failed |= run_device(spec, spec, &checks[i]);
        snprintf(labels[i], sizeof labels[i], "%s %s", spec,
                 checks[i].ctx ? clmsd_context_device_name(checks[i].ctx) : "");
    }
    print_matrix(checks, labels, count);
    for (size_t i = 0; i < count; ++i)
        clmsd_context_destroy(checks[i].ctx);
    free(info), free(checks), free(labels);
    return failed;
}
