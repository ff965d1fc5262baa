/* SPDX-License-Identifier: MIT */
/* Failure injection (tests/faults/shim.c, preloaded by meson test): for every N that a training
 * scenario reaches, the N-th OpenCL context or queue creation, buffer allocation, program build,
 * kernel creation or enqueue fails, once. Every clmsd call must then return a clean status with a
 * message, never crash; the same call repeated on the same context must succeed, and the run must
 * end with the results of a run without faults, bit for bit; and once everything is destroyed, no
 * OpenCL context, queue, buffer, program or kernel may be left alive, CLBlast's cached programs
 * included (clmsd_context_destroy clears them). */
#include "helpers.h"

#include <dlfcn.h>

enum { B = 5, H = 19, C = 6, K = 3, OUT = 1 + C * H + B * H + B * C, ALL = 2 * OUT + K * B * H };

typedef struct shim {
    void (*arm)(long);
    long (*calls)(void);
    long (*live)(void);
} shim;

static bool injected_status(clmsd_status st)
{
    return st == CLMSD_ERROR_OPENCL || st == CLMSD_ERROR_BUILD || st == CLMSD_ERROR_CLBLAST ||
           st == CLMSD_ERROR_OUT_OF_MEMORY;
}

/* call under test: success, or a clean status with a message, then success when repeated */
#define TRY(ctx, call)                                                                                     \
    do {                                                                                                   \
        clmsd_status st_ = (call);                                                                         \
        if (st_ != CLMSD_SUCCESS) {                                                                        \
            cr_assert(injected_status(st_), "%s returned %s", #call, clmsd_status_string(st_));            \
            cr_assert_str_neq(clmsd_context_last_error(ctx), "", "%s failed without a message", #call);    \
            clFinish(clmsd_context_queue(ctx));                                                            \
            st_ = (call);                                                                                  \
            cr_assert_eq(st_, CLMSD_SUCCESS, "%s failed again: %s", #call, clmsd_context_last_error(ctx)); \
        }                                                                                                  \
    } while (0)

/* the test's own buffers: a fault may hit them too, so try twice (a fault fires once) */
static cl_mem buffer(clmsd_context *ctx, size_t bytes, void *host)
{
    cl_mem_flags flags = CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(ctx), flags, bytes, host, NULL);
    if (!m)
        m = clCreateBuffer(clmsd_context_cl_context(ctx), flags, bytes, host, NULL);
    cr_assert_not_null(m);
    return m;
}

static void scenario(float *out)
{
    clmsd_context *ctx = NULL;
    clmsd_status st = clmsd_context_create(NULL, &ctx);
    if (st != CLMSD_SUCCESS) {
        cr_assert(injected_status(st), "context creation returned %s", clmsd_status_string(st));
        cr_assert_str_neq(clmsd_context_last_error(NULL), "");
        cr_assert_null(ctx);
        cr_assert_eq(clmsd_context_create(NULL, &ctx), CLMSD_SUCCESS);
    }
    TRY(ctx, clmsd_context_warmup(ctx));
    float x[B * H], w[C * H];
    int32_t y[B] = {0, 1, 2, 5, -100};
    test_fill(x, B * H, 1), test_fill(w, C * H, 2);
    cl_mem bx = buffer(ctx, sizeof x, x), bw = buffer(ctx, sizeof w, w), by = buffer(ctx, sizeof y, y);
    cl_mem bo = buffer(ctx, ALL * 4, NULL);
    for (int e = 0; e < 2; ++e) {
        clmsd_head_desc d = {.batch = B,
                             .features = H,
                             .classes = C,
                             .samples = K,
                             .rate = 0.5,
                             .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                             .combine = CLMSD_AVERAGE_LOSSES,
                             .engine = e ? CLMSD_ENGINE_FUSED : CLMSD_ENGINE_CLBLAST};
        clmsd_head *head = NULL;
        TRY(ctx, clmsd_head_create(ctx, &d, &head));
        size_t o = (size_t)e * OUT;
        clmsd_head_args a = {.seed = 1,
                             .step = 2,
                             .x = bx,
                             .w = bw,
                             .target = by,
                             .loss = bo,
                             .loss_off = o,
                             .dw = bo,
                             .dw_off = o + 1,
                             .dx = bo,
                             .dx_off = o + 1 + C * H};
        TRY(ctx, clmsd_head_train_step(head, &a, 0, NULL, NULL));
        clmsd_head_args p = {.x = bx, .w = bw, .logits = bo, .logits_off = o + 1 + C * H + B * H};
        TRY(ctx, clmsd_head_predict(head, &p, 0, NULL, NULL));
        clmsd_head_destroy(head);
    }
    clmsd_dropout_desc dd = {.seed = 3, .step = 4, .samples = K, .rate = 0.3, .rows = B, .cols = H};
    TRY(ctx, clmsd_dropout_forward(ctx, &dd, bx, 0, H, bo, 2 * OUT, H, 0, NULL, NULL));
    cr_assert_eq(clEnqueueReadBuffer(clmsd_context_queue(ctx), bo, CL_TRUE, 0, ALL * 4, out, 0, NULL, NULL),
                 CL_SUCCESS);
    clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(by), clReleaseMemObject(bo);
    clmsd_context_destroy(ctx);
}

Test(faults, every_injected_failure_is_clean, .timeout = 1800)
{
    shim s;
    *(void **)&s.arm = dlsym(RTLD_DEFAULT, "fault_arm");
    *(void **)&s.calls = dlsym(RTLD_DEFAULT, "fault_calls");
    *(void **)&s.live = dlsym(RTLD_DEFAULT, "fault_live");
    cr_assert(s.arm && s.calls && s.live, "run with LD_PRELOAD=libclmsd_fault_shim.so (meson test does)");
    static float ref[ALL], out[ALL];
    s.arm(0);
    scenario(ref);
    long total = s.calls();
    long live = s.live();
    cr_assert_eq(live, 0, "%ld OpenCL objects left alive after a clean run", live);
    for (long n = 1; n <= total; ++n) {
        s.arm(n);
        scenario(out);
        cr_assert_eq(s.live(), 0, "fault at call %ld: %ld OpenCL objects left alive", n, s.live());
        cr_assert(memcmp(out, ref, sizeof out) == 0, "fault at call %ld: the results differ from a clean run", n);
    }
    cr_log_info("%ld injected failures, each clean", total);
}
