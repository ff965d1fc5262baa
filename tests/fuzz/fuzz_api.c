/* SPDX-License-Identifier: MIT */
/* libFuzzer harness over clmsd's argument validation and device-spec parsing: every input is
 * decoded into a call (context creation with a device spec, dropout forward, backward or mask,
 * head creation and a head call) with arbitrary sizes, offsets, rates, enums and buffers (NULL,
 * too small, another context's). Every call must return a status with a string, and a successful
 * one must run; AddressSanitizer and UBSan watch every byte. Built and run by fuzz.sh. */
#include <clmsd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
        v = v << 8 | (r->n ? *r->p : 0);
        if (r->n)
            ++r->p, --r->n;
    }
    return v;
}

/* sizes mostly small (so successful calls stay cheap), sometimes huge or zero */
static size_t size_of(reader *r)
{
    uint8_t kind = (uint8_t)take(r, 1);
    if (kind < 200)
        return kind % 40;
    if (kind < 250)
        return (size_t)take(r, 2);
    return (size_t)take(r, 8);
}

static double rate_of(reader *r)
{
    static const double special[] = {0.0, 0.5, 0.999999, 1.0, -0.0, -1e-300, 1e300, 0.1};
    uint8_t kind = (uint8_t)take(r, 1);
    if (kind < 8)
        return special[kind];
    if (kind == 8)
        return __builtin_nan("");
    return (kind - 9) / 247.0;
}

static clmsd_context *ctx, *other;
static cl_mem buffers[4]; /* 0: NULL, 1: small, 2: large, 3: another context's */

static void setup(void)
{
    if (ctx)
        return;
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS || clmsd_context_create(NULL, &other) != CLMSD_SUCCESS) {
        fprintf(stderr, "no OpenCL device: %s\n", clmsd_context_last_error(NULL));
        exit(1);
    }
    static float zeros[1 << 16];
    buffers[1] = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_COPY_HOST_PTR, 64, zeros, NULL);
    buffers[2] = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_COPY_HOST_PTR, sizeof zeros, zeros, NULL);
    buffers[3] = clCreateBuffer(clmsd_context_cl_context(other), CL_MEM_COPY_HOST_PTR, sizeof zeros, zeros, NULL);
}

static cl_mem buffer_of(reader *r) { return buffers[take(r, 1) % 4]; }

static void check(clmsd_status st)
{
    if (strlen(clmsd_status_string(st)) == 0 || !strcmp(clmsd_status_string(st), "unknown status"))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    reader r = {data, size};
    uint8_t what = (uint8_t)take(&r, 1) % 4;
    if (what == 0) { /* device spec parsing */
        char spec[32];
        size_t n = r.n < sizeof spec - 1 ? r.n : sizeof spec - 1;
        memcpy(spec, r.p, n);
        spec[n] = '\0';
        clmsd_context *c = NULL;
        clmsd_status st = clmsd_context_create(spec, &c);
        check(st);
        if ((st == CLMSD_SUCCESS) != (c != NULL))
            abort();
        clmsd_context_destroy(c);
        return 0;
    }
    double rates[8];
    for (int i = 0; i < 8; ++i)
        rates[i] = rate_of(&r);
    if (what == 1) { /* dropout */
        clmsd_dropout_desc d = {.seed = take(&r, 8),
                                .step = take(&r, 8),
                                .samples = (uint32_t)(take(&r, 1) % 9),
                                .rates = take(&r, 1) & 1 ? rates : NULL,
                                .rate = rates[0],
                                .rows = size_of(&r),
                                .cols = size_of(&r),
                                .row_offset = size_of(&r)};
        cl_mem a = buffer_of(&r), b = buffer_of(&r);
        size_t ao = size_of(&r), lda = size_of(&r), bo = size_of(&r), ldb = size_of(&r);
        switch (take(&r, 1) % 3) {
        case 0: check(clmsd_dropout_forward(ctx, &d, a, ao, lda, b, bo, ldb, 0, NULL, NULL)); break;
        case 1:
            check(clmsd_dropout_backward(ctx, &d, a, ao, lda, b, bo, ldb, (int)take(&r, 1) & 1, 0, NULL, NULL));
            break;
        default: check(clmsd_dropout_mask(ctx, &d, b, bo, 0, NULL, NULL)); break;
        }
        clFinish(clmsd_context_queue(ctx));
        return 0;
    }
    clmsd_head_desc d = {.batch = size_of(&r),
                         .features = size_of(&r),
                         .classes = size_of(&r),
                         .samples = (uint32_t)(take(&r, 1) % 9),
                         .rates = take(&r, 1) & 1 ? rates : NULL,
                         .rate = rates[1],
                         .loss = (clmsd_loss)(take(&r, 1) % 5),
                         .combine = (clmsd_combine)(take(&r, 1) % 3),
                         .engine = (clmsd_engine)(take(&r, 1) % 4),
                         .huber_delta = rates[2] * 4.0 - 1.0}; /* NaN, +-inf, negative, tiny, 0 */
    size_t bytes;
    check(clmsd_head_workspace_size(&d, &bytes));
    clmsd_head *head = NULL;
    clmsd_status st = clmsd_head_create(ctx, &d, &head);
    check(st);
    if (st != CLMSD_SUCCESS)
        return 0;
    clmsd_head_args a = {.seed = take(&r, 8), .step = take(&r, 8), .row_offset = size_of(&r)};
    cl_mem *fields[] = {&a.x, &a.w, &a.bias, &a.target, &a.loss, &a.logits, &a.ignored, &a.dx, &a.dw, &a.dbias};
    size_t *offsets[] = {&a.x_off,      &a.w_off,       &a.bias_off, &a.target_off, &a.loss_off,
                         &a.logits_off, &a.ignored_off, &a.dx_off,   &a.dw_off,     &a.dbias_off};
    for (int i = 0; i < 10; ++i) {
        *fields[i] = buffer_of(&r);
        *offsets[i] = take(&r, 1) < 200 ? 0 : size_of(&r);
    }
    a.accumulate = (int)take(&r, 1) & 1;
    switch (what == 2 ? take(&r, 1) % 3 : 1) {
    case 0: check(clmsd_head_forward(head, &a, 0, NULL, NULL)); break;
    case 1: check(clmsd_head_train_step(head, &a, 0, NULL, NULL)); break;
    default: check(clmsd_head_predict(head, &a, 0, NULL, NULL)); break;
    }
    clmsd_head_destroy(head);
    return 0;
}
