/* SPDX-License-Identifier: MIT */
/* clmsd-bench (also `clmsd bench`): per device, the device's own limits, the dropout stream, and
 * the head per engine beside a naive CLBlast baseline, on named shapes; a table on the terminal
 * and JSON lines for bench/report.py. docs/benchmarks.md explains every figure. */
#include "bench.h"
#include "counts.h"

#include <clblast_c.h>
#include <clmsd_ref.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct shape {
    const char *name, *what;
    size_t B, H, C;
    uint32_t K;
    clmsd_loss loss;
    clmsd_combine combine;
    double rate;
    bool kaggle_rates; /* per-sample rates 0.1, 0.2, ... 0.5 */
    bool quick;
    size_t layers; /* the layer-pooled head: L layers of [B, H], their dropout rate */
    double layer_rate;
} shape;

static const double kaggle_rates[5] = {0.1, 0.2, 0.3, 0.4, 0.5};

static const shape shapes[] = {
    {"kaggle-ce", "Kaggle CE head", 32, 768, 30, 8, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 0.5, false,
     true, 0, 0},
    {"quest", "QUEST head, BCE, average logits", 8, 1024, 30, 5, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 0.5,
     false, true, 0, 0},
    {"token", "token classification, rates 0.1-0.5", 4096, 768, 15, 5, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
     CLMSD_AVERAGE_LOSSES, 0, true, false, 0, 0},
    {"cifar", "paper's CIFAR head", 128, 512, 100, 8, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 0.5,
     false, false, 0, 0},
    {"imagenet", "ImageNet-sized head", 256, 2048, 1000, 8, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 0.5,
     false, false, 0, 0},
    {"binary", "binary head", 64, 1024, 2, 16, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 0.5, false, true,
     0, 0},
    /* the QUEST model's whole head: 25 layers' CLS rows pooled (docs/api.md), then 5 samples */
    {"quest-seed", "QUEST model's head, 25 layers pooled", 8, 1024, 30, 5, CLMSD_LOSS_BCE_WITH_LOGITS,
     CLMSD_AVERAGE_LOGITS, 0.5, false, true, 25, 0.1},
};
#define SHAPES (sizeof shapes / sizeof shapes[0])

static const char *op_names[] = {"forward", "train_step", "predict"};

typedef struct options {
    bool quick, all_devices, other_tiling;
    const char *device, *json, *shapes, *engines, *ops;
    int runs;
} options;

static const char bench_usage[] =
    "usage: clmsd-bench [options]   (also: clmsd bench)\n"
    "\n"
    "Measures, per OpenCL device: its own limits (copy and write bandwidth, FMA rate, launch\n"
    "latency, raw Philox words/s); the dropout stream (mask, forward, backward); and the head\n"
    "(forward, train_step, predict) for each engine beside a naive CLBlast baseline (K dropout calls\n"
    "and K CLBlastSgemm calls), on named shapes. Reports minimum and median of the runs after a\n"
    "warm-up, wall-clock around clFinish, as a table and as JSON lines.\n"
    "\n"
    "  --quick          shapes kaggle-ce, quest, binary and smaller limit buffers\n"
    "  --other-tiling   also the fused train_step in the other tiling of the kernels (fused-gpu on a\n"
    "                   CPU, fused-cpu on a GPU: CLMSD_TILING), to measure what the other shape costs\n"
    "  --shapes LIST    any of kaggle-ce, quest, token, cifar, imagenet, binary, quest-seed (default all)\n"
    "  --engines LIST   any of fused, clblast, naive (default all)\n"
    "  --ops LIST       any of forward, train_step, predict (default all)\n"
    "  --runs N         timed runs per figure, at least 10 (default 10)\n"
    "  --device SPEC    one device (\"P:D\" or a name substring); default every device\n"
    "  --json FILE      JSON lines output (default clmsd-bench.jsonl)\n";

static bool listed(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------- */

typedef struct bench_run {
    clmsd_context *ctx;
    clmsd_context *other; /* the same queue with the other tiling of the kernels (CLMSD_TILING) */
    char other_name[16];  /* its fused engine's row: "fused-gpu" or "fused-cpu" */
    cl_command_queue queue;
    FILE *json;
    const options *o;
    bench_limits limits;
    char device[256], driver[128];
    int done, total;
} bench_run;

/* Progress on stderr: one status line redrawn in place on a terminal; in a log (not a terminal),
 * one plain line per figure and no escape codes. */
static bool stderr_is_tty(void)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    return tty;
}

static void progress(bench_run *r, const char *what)
{
    if (stderr_is_tty())
        fprintf(stderr, "\r\033[K[%d/%d] %s", ++r->done, r->total, what);
    else
        fprintf(stderr, "[%d/%d] %s\n", ++r->done, r->total, what);
    fflush(stderr);
}

/* clears the status line before a result goes to stdout */
static void progress_clear(void)
{
    if (stderr_is_tty())
        fprintf(stderr, "\r\033[K");
}

static void json_string(FILE *f, const char *key, const char *value)
{
    fprintf(f, "\"%s\": \"", key);
    for (const char *c = value; *c; ++c)
        fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    fprintf(f, "\"");
}

static void json_begin(bench_run *r, const char *kind)
{
    fprintf(r->json, "{");
    json_string(r->json, "device", r->device);
    fprintf(r->json, ", ");
    json_string(r->json, "driver", r->driver);
    fprintf(r->json, ", ");
    json_string(r->json, "kind", kind);
}

/* ---------------------------------------------------------------------------------------------- */
/* the dropout stream */

typedef struct dropout_job {
    clmsd_context *ctx;
    clmsd_dropout_desc d;
    cl_mem x, y;
    int which;
} dropout_job;

static int run_dropout(void *arg)
{
    dropout_job *j = arg;
    size_t c = j->d.cols;
    if (j->which == 0)
        return clmsd_dropout_mask(j->ctx, &j->d, j->y, 0, 0, NULL, NULL) != CLMSD_SUCCESS;
    if (j->which == 1)
        return clmsd_dropout_forward(j->ctx, &j->d, j->x, 0, c, j->y, 0, c, 0, NULL, NULL) != CLMSD_SUCCESS;
    return clmsd_dropout_backward(j->ctx, &j->d, j->y, 0, c, j->x, 0, c, 0, 0, NULL, NULL) != CLMSD_SUCCESS;
}

static const char *type_name(clmsd_type t) { return t == CLMSD_FLOAT16 ? "f16" : t == CLMSD_BFLOAT16 ? "bf16" : "f32"; }
static const char *stream_name(clmsd_stream s) { return s == CLMSD_STREAM_PHILOX_V1_U8 ? "u8" : "v1"; }

/* What the stream and the storage type buy, beside the default (v1 masks, fp32 features). */
typedef struct variant {
    clmsd_stream stream;
    clmsd_type type; /* x_type and dx_type */
} variant;
static const variant variants[] = {{CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT32},
                                   {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT32},
                                   {CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT16},
                                   {CLMSD_STREAM_PHILOX_V1, CLMSD_BFLOAT16},
                                   {CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT16}};
#define VARIANTS (sizeof variants / sizeof variants[0])

static void json_variant(FILE *f, variant v)
{
    fprintf(f, ", \"stream\": \"%s\", \"x_type\": \"%s\"", stream_name(v.stream), type_name(v.type));
}

static void bench_dropout(bench_run *r)
{
    static const char *names[] = {"mask", "forward", "backward"};
    dropout_job j = {r->ctx,
                     {.seed = 7, .step = 1, .samples = 8, .rate = 0.5, .rows = r->o->quick ? 512 : 4096, .cols = 768},
                     NULL,
                     NULL,
                     0};
    size_t elements = (size_t)j.d.samples * j.d.rows * j.d.cols;
    cl_int err;
    j.x = clCreateBuffer(clmsd_context_cl_context(r->ctx), CL_MEM_READ_WRITE, j.d.rows * j.d.cols * 4, NULL, &err);
    j.y = clCreateBuffer(clmsd_context_cl_context(r->ctx), CL_MEM_READ_WRITE, elements * 4, NULL, &err);
    float zero = 0;
    clEnqueueFillBuffer(r->queue, j.x, &zero, 4, 0, j.d.rows * j.d.cols * 4, 0, NULL, NULL);
    clEnqueueFillBuffer(r->queue, j.y, &zero, 4, 0, elements * 4, 0, NULL, NULL);
    printf("\n  dropout stream, K %u x %zu x %zu (%.1f M elements), rate %g\n", (unsigned)j.d.samples, j.d.rows,
           j.d.cols, elements / 1e6, j.d.rate);
    printf("    %-9s %-6s %-4s %9s %9s %12s %12s %14s %10s\n", "call", "stream", "x", "min ms", "median", "G elem/s",
           "vs write bw", "vs raw Philox", "vs v1 f32");
    for (int which = 0; which < 3; ++which) {
        double base_ms = 0; /* of the first variant: v1, fp32 */
        for (size_t v = 0; v < VARIANTS; ++v) {
            if (which == 0 && variants[v].type != CLMSD_FLOAT32) /* a mask has no storage type */
                continue;
            char what[64];
            snprintf(what, sizeof what, "dropout %s %s %s", names[which], stream_name(variants[v].stream),
                     type_name(variants[v].type));
            progress(r, what);
            j.which = which;
            j.d.stream = variants[v].stream;
            j.d.x_type = j.d.dx_type = variants[v].type;
            bench_stats s = bench_time(r->queue, 2, r->o->runs, run_dropout, &j);
            if (s.runs == 0) {
                progress_clear();
                printf("    %-9s %-6s %-4s failed: %s\n", names[which], stream_name(variants[v].stream),
                       type_name(variants[v].type), clmsd_context_last_error(r->ctx));
                continue;
            }
            double rate = elements / (s.min_ms * 1e-3);
            /* bytes written per element: 1 (mask), 4 (forward y), size(dx)/K (backward dx) */
            double written = which == 0   ? 1.0
                             : which == 1 ? 4.0
                                          : (double)clmsd_type_size(variants[v].type) / j.d.samples;
            double vs_write = rate * written / (r->limits.write_gbps * 1e9),
                   vs_philox = rate / (r->limits.philox_gwords * 1e9);
            if (v == 0)
                base_ms = s.min_ms;
            char ratio[32] = "";
            if (v > 0 && base_ms > 0)
                snprintf(ratio, sizeof ratio, "%.2fx", base_ms / s.min_ms);
            progress_clear();
            printf("    %-9s %-6s %-4s %9.3f %9.3f %12.3f %11.1f%% %13.1f%% %10s\n", names[which],
                   stream_name(variants[v].stream), type_name(variants[v].type), s.min_ms, s.median_ms, rate / 1e9,
                   100 * vs_write, 100 * vs_philox, ratio);
            json_begin(r, "dropout");
            json_variant(r->json, variants[v]);
            fprintf(r->json,
                    ", \"op\": \"%s\", \"samples\": %u, \"rows\": %zu, \"cols\": %zu, \"runs\": %d, \"min_ms\": %.6f, "
                    "\"median_ms\": %.6f, \"elements_per_s\": %.6g, \"fraction_of_write_bw\": %.4f, "
                    "\"fraction_of_philox\": %.4f, \"vs_v1_f32\": %.4f}\n",
                    names[which], (unsigned)j.d.samples, j.d.rows, j.d.cols, s.runs, s.min_ms, s.median_ms, rate,
                    vs_write, vs_philox, base_ms > 0 ? base_ms / s.min_ms : 0.0);
        }
    }
    clReleaseMemObject(j.x);
    clReleaseMemObject(j.y);
}

/* ---------------------------------------------------------------------------------------------- */
/* the head */

typedef struct head_job {
    clmsd_context *ctx;
    cl_command_queue queue;
    clmsd_head *head;
    clmsd_head_args args;
    bench_op op;
    clmsd_head_desc d;
    cl_mem xd, z; /* naive baseline */
} head_job;

static int run_head(void *arg)
{
    head_job *j = arg;
    if (j->head) {
        clmsd_status st = j->op == BENCH_FORWARD      ? clmsd_head_forward(j->head, &j->args, 0, NULL, NULL)
                          : j->op == BENCH_TRAIN_STEP ? clmsd_head_train_step(j->head, &j->args, 0, NULL, NULL)
                                                      : clmsd_head_predict(j->head, &j->args, 0, NULL, NULL);
        return st != CLMSD_SUCCESS;
    }
    /* naive: K dropout calls, K GEMMs into K logit blocks */
    size_t B = j->d.batch, H = j->d.features, C = j->d.classes;
    for (uint32_t k = 0; k < j->d.samples; ++k) {
        clmsd_dropout_desc dd = {.seed = j->args.seed + k,
                                 .step = j->args.step,
                                 .samples = 1,
                                 .rate = j->d.rates ? j->d.rates[k] : j->d.rate,
                                 .rows = B,
                                 .cols = H};
        if (clmsd_dropout_forward(j->ctx, &dd, j->args.x, 0, H, j->xd, 0, H, 0, NULL, NULL) != CLMSD_SUCCESS)
            return 1;
        if (CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, B, C, H, 1.0f, j->xd, 0, H,
                         j->args.w, 0, H, 0.0f, j->z, k * B * C, C, &j->queue, NULL) != CLBlastSuccess)
            return 1;
    }
    return 0;
}

/* n pseudo-random values in [-1/4, 1/4) stored as `type`, or class ids in [0, classes) (int32) */
static cl_mem filled(bench_run *r, size_t n, uint32_t seed, bool labels, size_t classes, clmsd_type type)
{
    float *host = malloc(n * 4);
    for (size_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        if (labels)
            ((int32_t *)host)[i] = (int32_t)((seed >> 8) % classes);
        else
            host[i] = (float)((int)(seed >> 9) - (1 << 22)) / (float)(1 << 24);
    }
    size_t bytes = labels ? n * 4 : n * clmsd_type_size(type);
    void *stored = labels ? NULL : malloc(bytes);
    if (stored)
        clmsd_ref_from_float(type, host, n, stored);
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(r->ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes,
                              stored ? stored : host, &err);
    free(host);
    free(stored);
    return err == CL_SUCCESS ? m : NULL;
}

static const char *engine_name(clmsd_engine e)
{
    return e == CLMSD_ENGINE_FUSED ? "fused" : e == CLMSD_ENGINE_CLBLAST ? "clblast" : "naive";
}

/* The rows of a shape's table: every engine with the defaults (v1 masks, fp32 X and dX), the
 * fused engine in the other tiling, the naive baseline, and the fused train step in each other
 * variant of stream and storage type. */
typedef struct head_row {
    clmsd_engine engine;
    bool other;     /* the other tiling */
    size_t variant; /* of variants[] */
} head_row;
static const head_row head_rows[] = {{CLMSD_ENGINE_CLBLAST, false, 0}, {CLMSD_ENGINE_FUSED, false, 0},
                                     {CLMSD_ENGINE_FUSED, true, 0},    {BENCH_NAIVE, false, 0},
                                     {CLMSD_ENGINE_FUSED, false, 1},   {CLMSD_ENGINE_FUSED, false, 2},
                                     {CLMSD_ENGINE_FUSED, false, 3},   {CLMSD_ENGINE_FUSED, false, 4}};
#define HEAD_ROWS (sizeof head_rows / sizeof head_rows[0])

/* the nearest multiple of 1/256: a rate the u8 stream draws */
static double u8_rate(double p) { return round(p * 256.0) / 256.0; }

/* What every row of a shape's table shares: the head with the defaults, the Kaggle rates as the u8
 * stream draws them, X in each storage type (the same values, rounded), W, b, the layer weights,
 * the targets, and one buffer for every output. */
typedef struct shape_data {
    clmsd_head_desc d;
    double rates_u8[5];
    size_t L; /* the layers, 1 without */
    bool ce;  /* softmax cross-entropy (else BCE) */
    cl_mem xs[3], w, bias, layer_weights, target, out;
} shape_data;

static void shape_data_create(bench_run *r, const shape *sh, shape_data *sd)
{
    sd->d = (clmsd_head_desc){.batch = sh->B,
                              .features = sh->H,
                              .classes = sh->C,
                              .samples = sh->K,
                              .rates = sh->kaggle_rates ? kaggle_rates : NULL,
                              .rate = sh->rate,
                              .loss = sh->loss,
                              .combine = sh->combine,
                              .engine = CLMSD_ENGINE_AUTO,
                              .layers = sh->layers,
                              .layer_rate = sh->layer_rate};
    for (int k = 0; k < 5; ++k)
        sd->rates_u8[k] = u8_rate(kaggle_rates[k]);
    size_t B = sh->B, H = sh->H, C = sh->C, L = sh->layers ? sh->layers : 1;
    sd->L = L;
    sd->ce = sh->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    static const clmsd_type types[3] = {CLMSD_FLOAT32, CLMSD_FLOAT16, CLMSD_BFLOAT16};
    for (int t = 0; t < 3; ++t)
        sd->xs[t] = filled(r, L * B * H, 1, false, 0, types[t]);
    sd->w = filled(r, C * H, 2, false, 0, CLMSD_FLOAT32);
    sd->bias = filled(r, C, 3, false, 0, CLMSD_FLOAT32);
    sd->layer_weights = filled(r, L, 5, false, 0, CLMSD_FLOAT32);
    sd->target = sd->ce ? filled(r, B, 4, true, C, CLMSD_FLOAT32) : filled(r, B * C, 4, false, 0, CLMSD_FLOAT32);
    cl_int err;
    sd->out = clCreateBuffer(clmsd_context_cl_context(r->ctx), CL_MEM_READ_WRITE,
                             (1 + B * C + L * B * H + C * H + C + L) * 4, NULL, &err);
}

static void shape_data_release(shape_data *sd)
{
    cl_mem all[] = {sd->xs[0], sd->xs[1], sd->xs[2], sd->w, sd->bias, sd->target, sd->layer_weights, sd->out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        clReleaseMemObject(all[i]);
}

/* a row's name in the table: its engine (or tiling) with the defaults, else its variant */
static void row_name(const bench_run *r, const head_row *row, char *name, size_t size)
{
    variant v = variants[row->variant];
    if (row->variant == 0)
        snprintf(name, size, "%s", row->other ? r->other_name : engine_name(row->engine));
    else if (v.stream == CLMSD_STREAM_PHILOX_V1_U8 && v.type != CLMSD_FLOAT32)
        snprintf(name, size, "fused u8 %s", type_name(v.type));
    else
        snprintf(name, size, "fused %s", v.type != CLMSD_FLOAT32 ? type_name(v.type) : "u8");
}

/* whether a row has a figure for op: the naive baseline a forward without layers only; the other
 * tiling (when there is one) and the variants train_step only, what they cost beside it */
static bool row_runs(const options *o, const shape *sh, const head_row *row, int op, const clmsd_context *ctx)
{
    if (!listed(o->engines, engine_name(row->engine)))
        return false;
    if (row->engine == BENCH_NAIVE && (op != BENCH_FORWARD || sh->layers))
        return false;
    return !((row->other || row->variant) && op != BENCH_TRAIN_STEP) && !(row->other && !ctx);
}

/* A row's job on ctx: the desc in its variant (the rates rounded to multiples of 1/256 for the u8
 * stream), the arguments of op, and its head (or the naive baseline's buffers). false after a
 * message when the head cannot be made. */
static bool row_job(bench_run *r, clmsd_context *ctx, const shape_data *sd, const head_row *row, int op, head_job *j)
{
    variant v = variants[row->variant];
    size_t B = sd->d.batch, H = sd->d.features, C = sd->d.classes, L = sd->L;
    *j = (head_job){ctx, r->queue, NULL, {0}, (bench_op)op, sd->d, NULL, NULL};
    j->d.stream = v.stream;
    j->d.x_type = j->d.dx_type = v.type;
    if (v.stream == CLMSD_STREAM_PHILOX_V1_U8) {
        j->d.rates = sd->d.rates ? sd->rates_u8 : NULL;
        j->d.rate = u8_rate(sd->d.rate);
        j->d.layer_rate = u8_rate(sd->d.layer_rate);
    }
    j->args = (clmsd_head_args){.seed = 1,
                                .step = 1,
                                .x = sd->xs[v.type],
                                .w = sd->w,
                                .bias = sd->bias,
                                .target = sd->target,
                                .loss = sd->out,
                                .logits = sd->out,
                                .logits_off = 1,
                                .layer_weights = sd->d.layers ? sd->layer_weights : NULL};
    if (op == BENCH_TRAIN_STEP) {
        j->args.logits = NULL;
        j->args.dx = j->args.dw = j->args.dbias = sd->out;
        j->args.dx_off = 1 + B * C;
        j->args.dw_off = 1 + B * C + L * B * H;
        j->args.dbias_off = 1 + B * C + L * B * H + C * H;
        if (sd->d.layers) {
            j->args.dlayer_weights = sd->out;
            j->args.dlayer_weights_off = 1 + B * C + L * B * H + C * H + C;
        }
    }
    cl_int err;
    cl_context cc = clmsd_context_cl_context(r->ctx);
    if (row->engine == BENCH_NAIVE) {
        j->xd = clCreateBuffer(cc, CL_MEM_READ_WRITE, B * H * 4, NULL, &err);
        j->z = clCreateBuffer(cc, CL_MEM_READ_WRITE, (size_t)j->d.samples * B * C * 4, NULL, &err);
        return true;
    }
    j->d.engine = row->engine;
    if (clmsd_head_create(ctx, &j->d, &j->head) != CLMSD_SUCCESS) {
        fprintf(stderr, "\nclmsd-bench: %s\n", clmsd_context_last_error(ctx));
        return false;
    }
    return true;
}

/* A row's line of the table and its JSON line. clblast_ms, fused_ms: the CLBlast engine's and the
 * fused engine's (defaults) minimum of this op so far, that later rows compare with. */
static void report_row(bench_run *r, const shape *sh, const shape_data *sd, const head_job *j, const head_row *row,
                       const char *name, bench_stats s, double *clblast_ms, double *fused_ms)
{
    size_t B = sd->d.batch, H = sd->d.features, C = sd->d.classes;
    const char *op = op_names[j->op];
    clmsd_engine engine = row->engine;
    double flops = bench_flops(&j->d, j->op, engine), bytes = bench_bytes(&j->d, j->op, engine);
    double sec = s.min_ms * 1e-3;
    double bound = flops / (r->limits.gflops * 1e9) > bytes / (r->limits.copy_gbps * 1e9)
                       ? flops / (r->limits.gflops * 1e9)
                       : bytes / (r->limits.copy_gbps * 1e9);
    if (engine == CLMSD_ENGINE_CLBLAST)
        *clblast_ms = s.min_ms;
    if (engine == CLMSD_ENGINE_FUSED && !row->other && row->variant == 0)
        *fused_ms = s.min_ms;
    char ratio[32] = "", vs_v1[32] = "";
    if (*clblast_ms > 0 && engine != CLMSD_ENGINE_CLBLAST)
        snprintf(ratio, sizeof ratio, "%.2fx", *clblast_ms / s.min_ms);
    if (*fused_ms > 0 && row->variant)
        snprintf(vs_v1, sizeof vs_v1, "%.2fx", *fused_ms / s.min_ms);
    printf("    %-10s %-12s %10.3f %10.3f %9.2f %8.2f %8.1f%% %10s %10s\n", op, name, s.min_ms, s.median_ms,
           flops / sec / 1e9, bytes / sec / 1e9, 100 * bound / sec, ratio, vs_v1);
    json_begin(r, "head");
    json_variant(r->json, variants[row->variant]);
    fprintf(r->json, ", ");
    json_string(r->json, "shape", sh->name);
    fprintf(r->json,
            ", \"K\": %u, \"B\": %zu, \"H\": %zu, \"C\": %zu, \"L\": %zu, \"loss\": \"%s\", "
            "\"combine\": \"%s\", "
            "\"op\": \"%s\", \"engine\": \"%s\", \"tiling\": \"%s\", \"runs\": %d, \"min_ms\": %.6f, "
            "\"median_ms\": %.6f, "
            "\"flops\": %.6g, \"bytes\": %.6g, \"gflops\": %.6g, \"gbps\": %.6g, \"roofline\": %.6g}\n",
            (unsigned)sh->K, B, H, C, sh->layers, sd->ce ? "ce" : "bce",
            sh->combine == CLMSD_AVERAGE_LOSSES ? "losses" : "logits", op, row->variant ? "fused" : name,
            clmsd_context_tiling(j->ctx), s.runs, s.min_ms, s.median_ms, flops, bytes, flops / sec / 1e9,
            bytes / sec / 1e9, bound / sec);
}

static void bench_shape(bench_run *r, const shape *sh)
{
    const options *o = r->o;
    shape_data sd;
    shape_data_create(r, sh, &sd);
    printf("\n  %s: %s (K %u, B %zu, H %zu, C %zu, %s, %s", sh->name, sh->what, (unsigned)sh->K, sh->B, sh->H, sh->C,
           sd.ce ? "softmax CE" : "BCE", sh->combine == CLMSD_AVERAGE_LOSSES ? "average losses" : "average logits");
    if (sh->layers)
        printf(", L %zu, layer p %g", sh->layers, sh->layer_rate);
    printf(")\n");
    printf("    %-10s %-12s %10s %10s %9s %8s %9s %10s %10s\n", "op", "engine", "min ms", "median", "GFLOP/s", "GB/s",
           "roofline", "vs clblast", "vs v1 f32");
    for (int op = 0; op < 3; ++op) {
        if (!listed(o->ops, op_names[op]))
            continue;
        double clblast_ms = 0, fused_ms = 0;
        for (size_t e = 0; e < HEAD_ROWS; ++e) {
            const head_row *row = &head_rows[e];
            clmsd_context *ctx = row->other ? r->other : r->ctx;
            if (!row_runs(o, sh, row, op, ctx))
                continue;
            char name[32], what[128];
            row_name(r, row, name, sizeof name);
            snprintf(what, sizeof what, "%s %s %s (kernels compile on first use: tens of seconds on a cold pocl cache)",
                     sh->name, op_names[op], name);
            progress(r, what);
            head_job j;
            if (!row_job(r, ctx, &sd, row, op, &j))
                continue;
            bench_stats s = bench_time(r->queue, 2, o->runs, run_head, &j);
            progress_clear();
            if (s.runs == 0)
                printf("    %-10s %-8s failed: %s\n", op_names[op], name, clmsd_context_last_error(ctx));
            else
                report_row(r, sh, &sd, &j, row, name, s, &clblast_ms, &fused_ms);
            clmsd_head_destroy(j.head);
            if (j.xd) {
                clReleaseMemObject(j.xd);
                clReleaseMemObject(j.z);
            }
        }
    }
    shape_data_release(&sd);
}

/* ---------------------------------------------------------------------------------------------- */

static int bench_device(const options *o, const char *spec, FILE *json)
{
    bench_run r = {.o = o, .json = json};
    if (clmsd_context_create(spec, &r.ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd-bench: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    r.queue = clmsd_context_queue(r.ctx);
    /* the other tiling on the same queue: $CLMSD_TILING is read when a context is made */
    const char *saved = getenv("CLMSD_TILING"), *other = strcmp(clmsd_context_tiling(r.ctx), "gpu") ? "gpu" : "cpu";
    char *restore = saved ? strdup(saved) : NULL;
    setenv("CLMSD_TILING", other, 1);
    if (!o->other_tiling || clmsd_context_create_from_queue(r.queue, &r.other) != CLMSD_SUCCESS)
        r.other = NULL;
    snprintf(r.other_name, sizeof r.other_name, "fused-%s", other);
    if (restore)
        setenv("CLMSD_TILING", restore, 1);
    else
        unsetenv("CLMSD_TILING");
    free(restore);
    snprintf(r.device, sizeof r.device, "%s", clmsd_context_device_name(r.ctx));
    clGetDeviceInfo(clmsd_context_device(r.ctx), CL_DRIVER_VERSION, sizeof r.driver, r.driver, NULL);
    r.driver[sizeof r.driver - 1] = '\0';
    printf("\n== %s (driver %s)\n", r.device, r.driver);
    fprintf(stderr, "compiling clmsd's kernels and CLBlast's GEMM (tens of seconds on a cold pocl cache)...\n");
    if (clmsd_context_warmup(r.ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd-bench: %s\n", clmsd_context_last_error(r.ctx));
        clmsd_context_destroy(r.other);
        clmsd_context_destroy(r.ctx);
        return 1;
    }
    for (size_t i = 0; i < SHAPES; ++i)
        if (listed(o->shapes, shapes[i].name) && (!o->quick || shapes[i].quick || o->shapes))
            r.total += 9 + VARIANTS - 1; /* at most: 3 ops x 2 engines, the other tiling, naive forward,
                                            the variants' train steps, + 1 */
    r.total += 1;                        /* the limits */
    for (size_t v = 0; v < VARIANTS; ++v)
        r.total += variants[v].type == CLMSD_FLOAT32 ? 3 : 2; /* the stream's calls (a mask has no type) */
    progress(&r, "device limits");
    if (bench_limits_measure(r.ctx, o->quick, o->runs, &r.limits)) {
        clmsd_context_destroy(r.other);
        clmsd_context_destroy(r.ctx);
        return 1;
    }
    progress_clear();
    printf("  limits: copy %.2f GB/s, write %.2f GB/s, FMA %.2f GFLOP/s (%s), launch %.1f us, Philox %.3f G words/s\n",
           r.limits.copy_gbps, r.limits.write_gbps, r.limits.gflops, r.limits.fma_kernel, r.limits.launch_us,
           r.limits.philox_gwords);
    json_begin(&r, "limits");
    fprintf(
        json,
        ", \"copy_gbps\": %.6g, \"write_gbps\": %.6g, \"gflops\": %.6g, \"fma_kernel\": \"%s\", \"launch_us\": %.6g, "
        "\"philox_gwords\": %.6g}\n",
        r.limits.copy_gbps, r.limits.write_gbps, r.limits.gflops, r.limits.fma_kernel, r.limits.launch_us,
        r.limits.philox_gwords);
    bench_dropout(&r);
    for (size_t i = 0; i < SHAPES; ++i)
        if (listed(o->shapes, shapes[i].name) && (!o->quick || shapes[i].quick || o->shapes))
            bench_shape(&r, &shapes[i]);
    fflush(json);
    clmsd_context_destroy(r.other);
    clmsd_context_destroy(r.ctx);
    return 0;
}

int clmsd_bench_main(int argc, char **argv)
{
    options o = {.runs = 10, .json = "clmsd-bench.jsonl"};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(bench_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            o.quick = true;
        } else if (!strcmp(a, "--other-tiling")) {
            o.other_tiling = true;
        } else if (v && !strcmp(a, "--runs")) {
            o.runs = atoi(v);
            ++i;
            if (o.runs < 10) {
                fprintf(stderr, "clmsd-bench: --runs must be at least 10\n");
                return 2;
            }
        } else if (v && (!strcmp(a, "--shapes") || !strcmp(a, "--engines") || !strcmp(a, "--ops") ||
                         !strcmp(a, "--device") || !strcmp(a, "--json"))) {
            *(!strcmp(a, "--shapes")    ? &o.shapes
              : !strcmp(a, "--engines") ? &o.engines
              : !strcmp(a, "--ops")     ? &o.ops
              : !strcmp(a, "--device")  ? &o.device
                                        : &o.json) = v;
            ++i;
        } else {
            fprintf(stderr, "clmsd-bench: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    FILE *json = fopen(o.json, "w");
    if (!json) {
        fprintf(stderr, "clmsd-bench: cannot write %s\n", o.json);
        return 1;
    }
    printf("clmsd-bench %s: minimum and median of %d runs after 2 warm-up runs, wall-clock around clFinish\n",
           clmsd_version_string(), o.runs);
    int failed = 0;
    if (o.device) {
        failed = bench_device(&o, o.device, json);
    } else {
        size_t count = 0;
        clmsd_devices_list(NULL, 0, &count);
        clmsd_device_info *info = calloc(count ? count : 1, sizeof *info);
        clmsd_devices_list(info, count, &count);
        for (size_t i = 0; i < count; ++i) {
            char spec[32];
            snprintf(spec, sizeof spec, "%u:%u", info[i].platform_index, info[i].device_index);
            failed |= bench_device(&o, spec, json);
        }
        free(info);
        if (count == 0) {
            fprintf(stderr, "clmsd-bench: no OpenCL device\n");
            failed = 1;
        }
    }
    fclose(json);
    printf("\nJSON lines: %s (bench/report.py turns them into tables and plots)\n", o.json);
    return failed;
}
