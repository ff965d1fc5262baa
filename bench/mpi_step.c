/* SPDX-License-Identifier: MIT */
/* clmsd-bench-mpi: the data-parallel train step (clmsd_mpi.h) against the single-process step on
 * the same shapes as clmsd-bench, under mpirun. The single-process step runs on rank 0 alone while
 * the other ranks sleep; then every rank runs the data-parallel step on its shard
 * (clmsd_mpi_split): a timed step starts after an MPI_Barrier and lasts until the slowest rank
 * returns. Prints a table and, with --json FILE, one JSON row per shape.
 * Usage: mpirun -np P clmsd-bench-mpi [--runs N] [--shapes LIST] [--json FILE] */
#include <clmsd_mpi.h>

#include "bench.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *name;
    size_t B, H, C;
    uint32_t K;
    clmsd_loss loss;
    clmsd_combine combine;
} shape;

/* clmsd-bench's shapes (bench/bench.c), less imagenet: its dW of 8 MB per rank and step is a
 * communication test of its own */
static const shape shapes[] = {
    {"kaggle-ce", 32, 768, 30, 8, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES},
    {"quest", 8, 1024, 30, 5, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS},
    {"token", 4096, 768, 15, 5, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES},
    {"cifar", 128, 512, 100, 8, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES},
    {"binary", 64, 1024, 2, 16, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES},
};

static int rank, ranks;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static cl_mem buffer(clmsd_context *ctx, size_t floats, float value)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE, (floats ? floats : 1) * 4, NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "rank %d: clCreateBuffer of %zu floats failed (%d)\n", rank, floats, (int)err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (floats)
        clEnqueueFillBuffer(clmsd_context_queue(ctx), m, &value, 4, 0, floats * 4, 0, NULL, NULL);
    return m;
}

/* the buffers of one step over `rows` rows: inputs filled with small values, all outputs asked for */
typedef struct step_buffers {
    cl_mem x, w, bias, target, loss, logits, dx, dw, db;
} step_buffers;

static step_buffers make_buffers(clmsd_context *ctx, const shape *s, size_t rows)
{
    bool ce = s->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    step_buffers b = {buffer(ctx, rows * s->H, 0.5f), buffer(ctx, s->C * s->H, 0.01f),
                      buffer(ctx, s->C, 0.0f),        buffer(ctx, ce ? rows : rows * s->C, 0.0f),
                      buffer(ctx, 1, 0.0f),           buffer(ctx, rows * s->C, 0.0f),
                      buffer(ctx, rows * s->H, 0.0f), buffer(ctx, s->C * s->H, 0.0f),
                      buffer(ctx, s->C, 0.0f)};
    clFinish(clmsd_context_queue(ctx)); /* (class id 0 everywhere: float 0.0f has int bits 0) */
    return b;
}

static void free_buffers(step_buffers *b)
{
    cl_mem all[] = {b->x, b->w, b->bias, b->target, b->loss, b->logits, b->dx, b->dw, b->db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        clReleaseMemObject(all[i]);
}

static clmsd_head_args args_of(const step_buffers *b, uint64_t step)
{
    return (clmsd_head_args){.seed = 1,
                             .step = step,
                             .x = b->x,
                             .w = b->w,
                             .bias = b->bias,
                             .target = b->target,
                             .loss = b->loss,
                             .logits = b->logits,
                             .dx = b->dx,
                             .dw = b->dw,
                             .dbias = b->db};
}

/* every rank but 0 waits for rank 0 asleep: Open MPI's blocking calls poll, and would take a core
 * from the single-process step */
static void wait_asleep(void)
{
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    for (int done = 0; !done;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static void fail_step(clmsd_context *ctx, clmsd_mpi_head *mh)
{
    fprintf(stderr, "rank %d: the train step failed: %s\n", rank,
            mh ? clmsd_mpi_last_error(mh) : clmsd_context_last_error(ctx));
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* min and median ms of `runs` steps after 3 untimed ones: rank 0's single-process head alone
 * (mh NULL; the other ranks asleep), or the data-parallel step, each run from an MPI_Barrier to
 * the slowest rank's return */
static void time_steps(clmsd_context *ctx, clmsd_head *single, clmsd_mpi_head *mh, const step_buffers *b, int runs,
                       double *min_ms, double *median_ms)
{
    double *ms = calloc((size_t)runs, sizeof *ms);
    if (!mh && rank != 0) {
        wait_asleep();
    } else {
        for (int i = -3; i < runs; ++i) {
            if (mh)
                MPI_Barrier(MPI_COMM_WORLD);
            double start = bench_now();
            clmsd_head_args a = args_of(b, (uint64_t)(i + 3));
            if (mh ? clmsd_mpi_head_train_step(mh, &a) != CLMSD_SUCCESS
                   : clmsd_head_train_step(single, &a, 0, NULL, NULL) != CLMSD_SUCCESS ||
                         clFinish(clmsd_context_queue(ctx)) != CL_SUCCESS)
                fail_step(ctx, mh);
            double mine = 1e3 * (bench_now() - start), slowest = mine;
            if (mh)
                MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (i >= 0)
                ms[i] = slowest;
        }
        if (!mh)
            wait_asleep();
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    *min_ms = ms[0];
    *median_ms = ms[runs / 2];
    free(ms);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int runs = 20;
    const char *json = NULL, *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[i + 1];
        else if (!strcmp(argv[i], "--shapes"))
            only = argv[i + 1];
    }
    if (runs < 1 || (argc - 1) % 2) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np P clmsd-bench-mpi [--runs N] [--shapes LIST] [--json FILE]\n");
        MPI_Finalize();
        return 2;
    }
    clmsd_context *ctx = NULL;
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "rank %d: %s\n", rank, clmsd_context_last_error(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    FILE *out = json && rank == 0 ? fopen(json, "a") : NULL;
    if (rank == 0) {
        printf("clmsd-bench-mpi: %d ranks, rank 0 on %s; fused engine, min / median of %d steps\n", ranks,
               clmsd_context_device_name(ctx), runs);
        printf("%-10s %12s %12s %12s %12s %8s %14s\n", "shape", "single min", "single med", "parallel min",
               "parallel med", "ratio", "bytes/rank");
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const shape *s = &shapes[i];
        if (only && !strstr(only, s->name))
            continue;
        clmsd_head_desc d = {.batch = s->B,
                             .features = s->H,
                             .classes = s->C,
                             .samples = s->K,
                             .rate = 0.5,
                             .loss = s->loss,
                             .combine = s->combine,
                             .engine = CLMSD_ENGINE_FUSED};
        clmsd_head *single = NULL;
        clmsd_mpi_head *mh = NULL;
        size_t lo, rows;
        clmsd_mpi_split(0, s->B, ranks, rank, &lo, &rows);
        if ((rank == 0 && clmsd_head_create(ctx, &d, &single) != CLMSD_SUCCESS) ||
            clmsd_mpi_head_create(ctx, &d, lo, rows, MPI_COMM_WORLD, &mh) != CLMSD_SUCCESS) {
            fprintf(stderr, "rank %d: planning %s failed: %s / %s\n", rank, s->name, clmsd_context_last_error(ctx),
                    clmsd_mpi_last_error(NULL));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        step_buffers whole = make_buffers(ctx, s, rank == 0 ? s->B : 0), part = make_buffers(ctx, s, rows);
        double smin, smed, pmin, pmed;
        time_steps(ctx, single, NULL, &whole, runs, &smin, &smed);
        time_steps(ctx, NULL, mh, &part, runs, &pmin, &pmed);
        size_t bytes = CLMSD_MPI_STEP_BYTES(s->C, s->H);
        if (rank == 0) {
            printf("%-10s %12.3f %12.3f %12.3f %12.3f %7.2fx %14zu\n", s->name, smin, smed, pmin, pmed, smin / pmin,
                   bytes);
            if (out)
                fprintf(out,
                        "{\"bench\": \"mpi_train_step\", \"shape\": \"%s\", \"ranks\": %d, \"device\": \"%s\", "
                        "\"single_min_ms\": %.4f, \"single_median_ms\": %.4f, \"parallel_min_ms\": %.4f, "
                        "\"parallel_median_ms\": %.4f, \"bytes_per_rank\": %zu, \"runs\": %d}\n",
                        s->name, ranks, clmsd_context_device_name(ctx), smin, smed, pmin, pmed, bytes, runs);
        }
        free_buffers(&whole);
        free_buffers(&part);
        clmsd_head_destroy(single);
        clmsd_mpi_head_destroy(mh);
    }
    if (out)
        fclose(out);
    clmsd_context_destroy(ctx);
    MPI_Finalize();
    return 0;
}
