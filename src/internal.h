/* Internal declarations shared by clmsd's source files (prefix clmsd__). */
#ifndef CLMSD_INTERNAL_H
#define CLMSD_INTERNAL_H

#include "clmsd.h"
#include "../cl/clmsd_constants.h"

#include <stdbool.h>

/* Kernels of the embedded program; the names match the kernels in cl/. */
typedef enum clmsd__kernel_id {
    CLMSD__K_DROPOUT_FORWARD,
    CLMSD__K_DROPOUT_MASK,
    CLMSD__K_DROPOUT_SUM,
    CLMSD__K_STREAM_WORDS,
    CLMSD__K_HEAD_COUNT_VALID,
    CLMSD__K_HEAD_LOSS_ROWS,
    CLMSD__K_HEAD_REDUCE_LOSS,
    CLMSD__K_HEAD_MEAN_LOGITS,
    CLMSD__K_HEAD_BIAS_GRAD,
    CLMSD__K_TRANSPOSE_PAD,
    CLMSD__K_FUSED_LOGITS,
    CLMSD__K_FUSED_DW,
    CLMSD__K_FUSED_DX,
    CLMSD__K_COUNT
} clmsd__kernel_id;

struct clmsd_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    bool out_of_order;
    char device_name[256];
    cl_program program;
    cl_kernel kernels[CLMSD__K_COUNT];
    size_t local_size[CLMSD__K_COUNT]; /* 1-D work-group size chosen for each kernel */
    size_t local_multiple[CLMSD__K_COUNT]; /* its preferred work-group size multiple */
    cl_uint num_args[CLMSD__K_COUNT];  /* CL_KERNEL_NUM_ARGS of each kernel */
    cl_uint compute_units;
    bool used_clblast;                 /* CLBlast has programs of this context in its cache */
    char *error;                       /* last error message (heap; may hold a build log) */
};

/* status.c: error messages */
clmsd_status clmsd__fail(clmsd_context *ctx, clmsd_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
clmsd_status clmsd__fail_cl(clmsd_context *ctx, cl_int err, const char *what);
void clmsd__clear_error(clmsd_context *ctx);
const char *clmsd__cl_error_name(cl_int err);
const char *clmsd__clblast_status_name(int status);

/* program.c: the embedded kernel program, built once per context */
clmsd_status clmsd__build_program(clmsd_context *ctx);
const char *clmsd__kernel_name(clmsd__kernel_id id);
void clmsd__release_program(clmsd_context *ctx);

/* device.c: resolve a device spec (NULL: $CLMSD_DEVICE, else first GPU, else CPU) */
clmsd_status clmsd__find_device(const char *spec, cl_platform_id *platform, cl_device_id *device);

/* context.c: enqueue helpers and buffer checks */

/* One kernel argument, typed where it is written: CLMSD__MEM(buf), CLMSD__U64(n), ... The count of a
 * launch's arguments follows from the list (CLMSD__ARGS) and is checked against the kernel's
 * CL_KERNEL_NUM_ARGS, read when the program is built, so a signature change in cl/ cannot go
 * unnoticed. */
typedef struct clmsd__arg {
    size_t size;
    const void *value;
} clmsd__arg;
#define CLMSD__MEM(m) ((clmsd__arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define CLMSD__U64(v) ((clmsd__arg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})
#define CLMSD__U32(v) ((clmsd__arg){sizeof(cl_uint), &(cl_uint){(cl_uint)(v)}})
#define CLMSD__I32(v) ((clmsd__arg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define CLMSD__F32(v) ((clmsd__arg){sizeof(cl_float), &(cl_float){(v)}})
#define CLMSD__ARGS(...) (const clmsd__arg[]){__VA_ARGS__}, sizeof((const clmsd__arg[]){__VA_ARGS__}) / sizeof(clmsd__arg)

/* Builds the program when needed and sets every argument of kernel `id`. */
clmsd_status clmsd__set_args(clmsd_context *ctx, clmsd__kernel_id id, const clmsd__arg *args, size_t count);
/* Enqueues `work_items` of kernel `id` (times dim1 in a second dimension when not 0). */
clmsd_status clmsd__launch(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, size_t dim1);
/* Sets the arguments of kernel `id`, launches `work_items` of it, and orders what follows after it. */
clmsd_status clmsd__run_kernel(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, const clmsd__arg *args,
                               size_t count);
#define CLMSD__RUN(ctx, id, work_items, ...) clmsd__run_kernel(ctx, id, work_items, CLMSD__ARGS(__VA_ARGS__))
#define CLMSD__SET_ARGS(ctx, id, ...) clmsd__set_args(ctx, id, CLMSD__ARGS(__VA_ARGS__))
clmsd_status clmsd__begin(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
clmsd_status clmsd__finish(clmsd_context *ctx, cl_event *event);
clmsd_status clmsd__order(clmsd_context *ctx);
clmsd_status clmsd__check_wait_list(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
/* Checks that buf belongs to ctx and holds `count` elements of `elem` bytes after `offset`. */
clmsd_status clmsd__check_buffer(clmsd_context *ctx, const char *name, cl_mem buf, size_t offset,
                                 size_t count, size_t elem);

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool clmsd__mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool clmsd__add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* dropout.c: validated stream parameters, shared by the dropout API and the head */
typedef struct clmsd__stream {
    uint64_t seed, step;
    uint32_t samples;
    size_t rows, cols, row_offset;
    uint64_t first_quad, quads; /* Philox blocks covering elements [row_offset*cols, +rows*cols) */
} clmsd__stream;

clmsd_status clmsd__check_rates(clmsd_context *ctx, uint32_t samples, const double *rates, double rate);
/* Writes K thresholds then K scales (as float bits) into params[2K]. */
void clmsd__rate_table(uint32_t samples, const double *rates, double rate, uint32_t *params);
clmsd_status clmsd__check_stream(clmsd_context *ctx, const clmsd_dropout_desc *desc, clmsd__stream *out);
/* Enqueue the dropout kernels with a params buffer of 2K words (clmsd__rate_table). */
clmsd_status clmsd__enqueue_dropout_forward(clmsd_context *ctx, const clmsd__stream *s, cl_mem params,
                                            cl_mem x, size_t x_off, size_t ldx,
                                            cl_mem y, size_t y_off, size_t ldy);
/* dx (+)= scale * sum_k keep_k s_k dy_k with dy_k at dy_off + k * dy_kstride. */
clmsd_status clmsd__enqueue_dropout_sum(clmsd_context *ctx, const clmsd__stream *s, cl_mem params,
                                        cl_mem dy, size_t dy_off, size_t dy_kstride, size_t ldy,
                                        cl_mem dx, size_t dx_off, size_t ldx,
                                        float scale, int apply_scale, int accumulate);

/* head.c: a planned head */
typedef enum clmsd__head_mode { CLMSD__FORWARD, CLMSD__TRAIN, CLMSD__PREDICT } clmsd__head_mode;

struct clmsd_head {
    clmsd_context *ctx;
    clmsd_head_desc desc; /* desc.rates points to `rates` */
    double *rates;
    clmsd_engine engine;
    size_t rows;          /* stacked logit rows N: K*B (average losses) or B (average logits) */
    cl_mem params;        /* K thresholds, then K scales (float bits) */
    cl_mem workspace;
    bool owns_workspace;
    size_t ws_xd, ws_z, ws_g, ws_rowloss, ws_counter, ws_wt; /* element offsets into the workspace */
    size_t ldg;           /* columns of G: C (CLBlast), C padded to CLMSD_CLASS_TILE (fused) */
};

clmsd_status clmsd__check_head_desc(clmsd_context *ctx, const clmsd_head_desc *desc);
/* engine_auto.c: the engine AUTO picks for a device and shape */
clmsd_engine clmsd__auto_engine(const clmsd_context *ctx, const clmsd_head_desc *desc);
/* Host-side constants of a head: 1/K, the BCE/MSE loss and gradient scale 1 / (K' B C), and K' itself
 * (K for average losses, 1 for average logits), from which CE makes clmsd_ce_scale on the device. */
float clmsd__head_inv_samples(const clmsd_head_desc *desc);
float clmsd__head_scale(const clmsd_head_desc *desc);
float clmsd__head_kprime(const clmsd_head_desc *desc);

/* head_kernels.c: the engine-independent kernels around the GEMMs */
/* counted: the valid-id count is already in the workspace (the fused engine's transpose makes it) */
clmsd_status clmsd__head_loss(clmsd_head *head, const clmsd_head_args *args, int grad, int counted);
clmsd_status clmsd__head_mean_logits(clmsd_head *head, cl_mem bias, size_t bias_off, cl_uint samples,
                                     float inv_samples, cl_mem out, size_t out_off);
clmsd_status clmsd__head_bias_grad(clmsd_head *head, const clmsd_head_args *args);

/* engine_clblast.c and engine_fused.c: enqueue a forward, train step or predict */
clmsd_status clmsd__clblast_run(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s,
                                clmsd__head_mode mode);
clmsd_status clmsd__clblast_warmup(clmsd_context *ctx);
/* Drops CLBlast's cached programs, so that nothing of the context outlives clmsd_context_destroy. */
void clmsd__clblast_release(clmsd_context *ctx);
clmsd_status clmsd__fused_run(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s,
                              clmsd__head_mode mode);

/* Thread-local message for failures without a context. */
extern _Thread_local char clmsd__thread_error[1024];

#endif
