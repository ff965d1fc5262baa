/* SPDX-License-Identifier: MIT */
/* The device's own limits (clpeak's methods): copy and write bandwidth with float4, FMA throughput
 * from dependent mad chains, the launch latency of an empty kernel, and the raw Philox rate. */
#include "bench.h"

#include <stdlib.h>
#include <time.h>

static const char *limits_source =
    "__kernel void copy4(__global const float4 *a, __global float4 *b) { size_t i = get_global_id(0); b[i] = a[i]; }\n"
    "__kernel void write4(__global float4 *b, float v) { b[get_global_id(0)] = (float4)(v); }\n"
    "__kernel void empty(void) {}\n"
    "/* 8 independent chains of float4 mads per work-item, 128 steps: 4096 mads */\n"
    "__kernel void mad_chains(__global float *out, float a, float b) {\n"
    "    float x = (float)get_global_id(0);\n"
    "    float4 c0 = x, c1 = x + 1, c2 = x + 2, c3 = x + 3, c4 = x + 4, c5 = x + 5, c6 = x + 6, c7 = x + 7;\n"
    "    for (int i = 0; i < 128; ++i) {\n"
    "        c0 = mad(c0, a, b); c1 = mad(c1, a, b); c2 = mad(c2, a, b); c3 = mad(c3, a, b);\n"
    "        c4 = mad(c4, a, b); c5 = mad(c5, a, b); c6 = mad(c6, a, b); c7 = mad(c7, a, b);\n"
    "    }\n"
    "    float4 s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));\n"
    "    out[get_global_id(0)] = s.x + s.y + s.z + s.w;\n"
    "}\n";

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
    cl_kernel empty = clCreateKernel(p, "empty", &err), chains = clCreateKernel(p, "mad_chains", &err);
    float zero = 0.0f, fa = 0.999f, fb = 0.001f;
    clEnqueueFillBuffer(q, a, &zero, 4, 0, floats * 4, 0, NULL, NULL);
    clSetKernelArg(copy, 0, sizeof a, &a), clSetKernelArg(copy, 1, sizeof b, &b);
    clSetKernelArg(write, 0, sizeof b, &b), clSetKernelArg(write, 1, 4, &zero);
    clSetKernelArg(chains, 0, sizeof b, &b), clSetKernelArg(chains, 1, 4, &fa), clSetKernelArg(chains, 2, 4, &fb);

    launch l = {q, copy, floats / 4};
    bench_stats s = bench_time(q, 2, runs, run_launch, &l);
    out->copy_gbps = 2.0 * floats * 4 / (s.min_ms * 1e-3) / 1e9;
    l.k = write;
    s = bench_time(q, 2, runs, run_launch, &l);
    out->write_gbps = floats * 4.0 / (s.min_ms * 1e-3) / 1e9;
    l.k = chains;
    l.global = quick ? 16384 : 65536;
    s = bench_time(q, 2, runs, run_launch, &l);
    out->gflops = l.global * 128.0 * 8 * 4 * 2 / (s.min_ms * 1e-3) / 1e9;
    l.k = empty;
    l.global = 1;
    s = bench_time(q, 5, runs * 10, run_launch, &l);
    out->launch_us = s.median_ms * 1e3;
    words w = {ctx, a, floats / 4};
    s = bench_time(q, 2, runs, run_words, &w);
    out->philox_gwords = floats / (s.min_ms * 1e-3) / 1e9;

    clReleaseKernel(copy), clReleaseKernel(write), clReleaseKernel(empty), clReleaseKernel(chains);
    clReleaseMemObject(a), clReleaseMemObject(b);
    clReleaseProgram(p);
    return 0;
}
