/* SPDX-License-Identifier: MIT */
/* The device's own limits (clpeak's methods): copy and write bandwidth with float4, the FMA rate
 * (the best of explicit-fma chains over vector widths and chain counts), the launch latency of an
 * empty kernel, and the raw Philox rate. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *limits_source =
    "__kernel void copy4(__global const float4 *a, __global float4 *b) { size_t i = get_global_id(0); b[i] = a[i]; }\n"
    "__kernel void write4(__global float4 *b, float v) { b[get_global_id(0)] = (float4)(v); }\n"
    "__kernel void empty(void) {}\n"
    /* CHAINS independent chains of FMA_STEPS explicit fma on floatW per work-item: enough
     * independent work to cover the FMA latency, wide enough for the widest vector unit (mad()
     * may be a multiply and an add, float4 fills half of an AVX2 and a quarter of an AVX-512
     * unit, and without the unroll pocl keeps the chains in memory: the old kernel's figure was
     * about 3 times too low on pocl) */
    "#define FMA_STEPS 256\n"
    "#define FMA_CHAINS(W, CHAINS)                                                          \\\n"
    "__kernel void fma_w##W##_c##CHAINS(__global float *out, float a, float b) {            \\\n"
    "    float##W c[CHAINS];                                                                 \\\n"
    "    for (int j = 0; j < CHAINS; ++j) c[j] = (float##W)((float)get_global_id(0) + j);  \\\n"
    "    for (int i = 0; i < FMA_STEPS; ++i)                                                 \\\n"
    "        _Pragma(\"unroll\") for (int j = 0; j < CHAINS; ++j)                               \\\n"
    "            c[j] = fma(c[j], (float##W)(a), (float##W)(b));                             \\\n"
    "    float##W s = c[0];                                                                  \\\n"
    "    for (int j = 1; j < CHAINS; ++j) s += c[j];                                         \\\n"
    "    vstore##W(s, get_global_id(0), out); /* every lane is used: none folds away */      \\\n"
    "}\n"
    "FMA_CHAINS(4, 8) FMA_CHAINS(8, 8) FMA_CHAINS(8, 16) FMA_CHAINS(16, 4) FMA_CHAINS(16, 8) FMA_CHAINS(16, 16)\n";

/* the variants of the FMA kernel: vector width and chains each */
static const struct {
    const char *name;
    int width, chains;
} fma_variants[] = {
    {"fma_w4_c8", 4, 8},   {"fma_w8_c8", 8, 8},   {"fma_w8_c16", 8, 16},
    {"fma_w16_c4", 16, 4}, {"fma_w16_c8", 16, 8}, {"fma_w16_c16", 16, 16},
};
enum { FMA_STEPS = 256 };

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_time(cl_command_queue q, int warmup, int runs, int (*fn)(void *), void *arg)
{
    bench_stats s = {0, 0, 0};
    for (int i = 0; i < warmup; ++i)
        if (fn(arg) || clFinish(q) != CL_SUCCESS)
            return s;
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t)
        return s;
    for (int i = 0; i < runs; ++i) {
        double start = bench_now();
        if (fn(arg) || clFinish(q) != CL_SUCCESS) {
            free(t);
            return s;
        }
        t[i] = (bench_now() - start) * 1e3;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    s.min_ms = t[0];
    s.median_ms = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    s.runs = runs;
    free(t);
    return s;
}

typedef struct launch {
    cl_command_queue q;
    cl_kernel k;
    size_t global;
} launch;

static int run_launch(void *arg)
{
    launch *l = arg;
    return clEnqueueNDRangeKernel(l->q, l->k, 1, NULL, &l->global, NULL, 0, NULL, NULL) != CL_SUCCESS;
}

typedef struct words {
    clmsd_context *ctx;
    cl_mem out;
    size_t blocks;
} words;

static int run_words(void *arg)
{
    words *w = arg;
    return clmsd_stream_words(w->ctx, 1, 2, 0, 0, w->blocks, w->out, 0, 0, NULL, NULL) != CLMSD_SUCCESS;
}

int bench_limits_measure(clmsd_context *ctx, bool quick, int runs, bench_limits *out)
{
    cl_context cc = clmsd_context_cl_context(ctx);
    cl_device_id dev = clmsd_context_device(ctx);
    cl_command_queue q = clmsd_context_queue(ctx);
    cl_int err;
    cl_program p = clCreateProgramWithSource(cc, 1, &limits_source, NULL, &err);
    if (err != CL_SUCCESS || clBuildProgram(p, 1, &dev, "", NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "clmsd-bench: the limits kernels did not build\n");
        return -1;
    }
    size_t floats = (quick ? 4u : 16u) << 20; /* 16 or 64 MiB per buffer */
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    while (max_alloc && floats * 4 > max_alloc)
        floats /= 2;
    cl_mem a = clCreateBuffer(cc, CL_MEM_READ_WRITE, floats * 4, NULL, &err);
    cl_mem b = clCreateBuffer(cc, CL_MEM_READ_WRITE, floats * 4, NULL, &err);
    cl_kernel copy = clCreateKernel(p, "copy4", &err), write = clCreateKernel(p, "write4", &err);
    cl_kernel empty = clCreateKernel(p, "empty", &err);
    float zero = 0.0f, fa = 0.999f, fb = 0.001f;
    clEnqueueFillBuffer(q, a, &zero, 4, 0, floats * 4, 0, NULL, NULL);
    clSetKernelArg(copy, 0, sizeof a, &a);
    clSetKernelArg(copy, 1, sizeof b, &b);
    clSetKernelArg(write, 0, sizeof b, &b);
    clSetKernelArg(write, 1, 4, &zero);

    launch l = {q, copy, floats / 4};
    bench_stats s = bench_time(q, 2, runs, run_launch, &l);
    out->copy_gbps = 2.0 * floats * 4 / (s.min_ms * 1e-3) / 1e9;
    l.k = write;
    s = bench_time(q, 2, runs, run_launch, &l);
    out->write_gbps = floats * 4.0 / (s.min_ms * 1e-3) / 1e9;
    out->gflops = 0;
    for (size_t v = 0; v < sizeof fma_variants / sizeof fma_variants[0]; ++v) {
        l.k = clCreateKernel(p, fma_variants[v].name, &err);
        clSetKernelArg(l.k, 0, sizeof b, &b);
        clSetKernelArg(l.k, 1, 4, &fa);
        clSetKernelArg(l.k, 2, 4, &fb);
        l.global = (quick ? 16384 : 65536) * 4 / (size_t)fma_variants[v].width;
        s = bench_time(q, 2, runs, run_launch, &l);
        double flops = (double)l.global * FMA_STEPS * fma_variants[v].chains * fma_variants[v].width * 2;
        if (s.runs && flops / (s.min_ms * 1e-3) / 1e9 > out->gflops) {
            out->gflops = flops / (s.min_ms * 1e-3) / 1e9;
            snprintf(out->fma_kernel, sizeof out->fma_kernel, "float%d x %d chains", fma_variants[v].width,
                     fma_variants[v].chains);
        }
        clReleaseKernel(l.k);
    }
    l.k = empty;
    l.global = 1;
    s = bench_time(q, 5, runs * 10, run_launch, &l);
    out->launch_us = s.median_ms * 1e3;
    words w = {ctx, a, floats / 4};
    s = bench_time(q, 2, runs, run_words, &w);
    out->philox_gwords = floats / (s.min_ms * 1e-3) / 1e9;

    clReleaseKernel(copy);
    clReleaseKernel(write);
    clReleaseKernel(empty);
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseProgram(p);
    return 0;
}
