/* SPDX-License-Identifier: MIT */
/* clmsd-bench: shared pieces of the benchmark program. */
#ifndef CLMSD_BENCH_H
#define CLMSD_BENCH_H

#include <clmsd.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct bench_stats {
    double min_ms, median_ms;
    int runs;
} bench_stats;

/* The device's own limits, measured in the same run. */
typedef struct bench_limits {
    double copy_gbps;     /* float4 read + write, bytes moved per second */
    double write_gbps;    /* float4 writes */
    double gflops;        /* the best of the explicit-fma chain kernels: 2 FLOP per fma */
    char fma_kernel[32];  /* which: "float16 x 8 chains" */
    double launch_us;     /* an empty kernel, enqueue to clFinish */
    double philox_gwords; /* raw clmsd-philox-v1 words per second (clmsd_stream_words) */
} bench_limits;

double bench_now(void);
/* Runs fn(arg) `warmup` times, then `runs` times timed with clFinish around each. */
bench_stats bench_time(cl_command_queue q, int warmup, int runs, int (*fn)(void *), void *arg);
int bench_limits_measure(clmsd_context *ctx, bool quick, int runs, bench_limits *out);

int clmsd_bench_main(int argc, char **argv);

#endif
