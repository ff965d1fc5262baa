/* SPDX-License-Identifier: MIT */
/* Two threads, each with its own context on the same device, running heads concurrently give the
 * results of a serial run, bit for bit; and their first CLBlast calls, made at the same moment in
 * fresh contexts, succeed (clmsd serialises CLBlast, whose 1.5.3 first call can race). */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <pthread.h>

enum { B = 16, H = 100, C = 12, K = 4, STEPS = 5, OUT = 1 + C * H + B * H };

typedef struct job {
    clmsd_engine engine;
    uint64_t seed;
    float out[STEPS][OUT];
    clmsd_status status;
    pthread_barrier_t *start;
} job;

static void *run(void *arg)
{
    job *j = arg;
    clmsd_context *ctx = NULL;
    j->status = clmsd_context_create(NULL, &ctx);
    if (j->start)
        pthread_barrier_wait(j->start); /* the first CLBlast call of both threads at once */
    if (j->status != CLMSD_SUCCESS)
        return NULL;
    float x[B * H], w[C * H];
    int32_t y[B];
    test_fill(x, B * H, (uint32_t)j->seed), test_fill(w, C * H, (uint32_t)j->seed + 1);
    for (int b = 0; b < B; ++b)
        y[b] = (b * 7) % C;
    cl_context cc = clmsd_context_cl_context(ctx);
    cl_mem bx = clCreateBuffer(cc, CL_MEM_COPY_HOST_PTR, sizeof x, x, NULL);
    cl_mem bw = clCreateBuffer(cc, CL_MEM_COPY_HOST_PTR, sizeof w, w, NULL);
    cl_mem by = clCreateBuffer(cc, CL_MEM_COPY_HOST_PTR, sizeof y, y, NULL);
    cl_mem bo = clCreateBuffer(cc, CL_MEM_READ_WRITE, OUT * 4, NULL, NULL);
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES,
                         .engine = j->engine};
    clmsd_head *head = NULL;
    j->status = clmsd_head_create(ctx, &d, &head);
    for (int s = 0; s < STEPS && j->status == CLMSD_SUCCESS; ++s) {
        clmsd_head_args a = {.seed = j->seed,
                             .step = (uint64_t)s,
                             .x = bx,
                             .w = bw,
                             .target = by,
                             .loss = bo,
                             .dw = bo,
                             .dw_off = 1,
                             .dx = bo,
                             .dx_off = 1 + C * H};
        j->status = clmsd_head_train_step(head, &a, 0, NULL, NULL);
        if (j->status == CLMSD_SUCCESS &&
            clEnqueueReadBuffer(clmsd_context_queue(ctx), bo, CL_TRUE, 0, OUT * 4, j->out[s], 0, NULL, NULL))
            j->status = CLMSD_ERROR_OPENCL;
    }
    clmsd_head_destroy(head);
    clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(by), clReleaseMemObject(bo);
    clmsd_context_destroy(ctx);
    return NULL;
}

static void concurrent_equals_serial(clmsd_engine engine)
{
    static job serial[2], parallel[2];
    for (int i = 0; i < 2; ++i) {
        serial[i] = (job){.engine = engine, .seed = 10 + (uint64_t)i};
        run(&serial[i]);
        cr_assert_eq(serial[i].status, CLMSD_SUCCESS);
    }
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    pthread_t t[2];
    for (int i = 0; i < 2; ++i) {
        parallel[i] = (job){.engine = engine, .seed = 10 + (uint64_t)i, .start = &start};
        pthread_create(&t[i], NULL, run, &parallel[i]);
    }
    for (int i = 0; i < 2; ++i)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; ++i) {
        cr_assert_eq(parallel[i].status, CLMSD_SUCCESS, "thread %d: %s", i, clmsd_status_string(parallel[i].status));
        cr_assert(memcmp(parallel[i].out, serial[i].out, sizeof serial[i].out) == 0,
                  "thread %d differs from the serial run", i);
    }
}

Test(threads, clblast_engine_concurrent_equals_serial, .timeout = 900)
{
    concurrent_equals_serial(CLMSD_ENGINE_CLBLAST);
}
Test(threads, fused_engine_concurrent_equals_serial, .timeout = 900) { concurrent_equals_serial(CLMSD_ENGINE_FUSED); }
