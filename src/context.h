/* SPDX-License-Identifier: MIT */
/* A context: its device, queue and embedded program, and the helpers that enqueue kernels on it. */
#ifndef CLMSD_CONTEXT_H
#define CLMSD_CONTEXT_H

#include "../cl/clmsd_constants.h"
#include "status.h"

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
    CLMSD__K_BLOCK_TREE_TILED,
    CLMSD__K_BLOCK_TREE,
    CLMSD__K_DROPOUT_FORWARD_GPU,
    CLMSD__K_DROPOUT_MASK_GPU,
    CLMSD__K_DROPOUT_SUM_GPU,
    CLMSD__K_FUSED_LOGITS_GPU,
    CLMSD__K_FUSED_DW_GPU,
    CLMSD__K_FUSED_DX_GPU,
    CLMSD__K_LAYER_SOFTMAX,
    CLMSD__K_LAYER_POOL,
    CLMSD__K_LAYER_UNPOOL,
    CLMSD__K_LAYER_POOL_GPU,
    CLMSD__K_LAYER_UNPOOL_GPU,
    CLMSD__K_LAYER_WEIGHT_GRAD,
    CLMSD__K_WIDEN,
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
    size_t local_size[CLMSD__K_COUNT];     /* 1-D work-group size chosen for each kernel */
    size_t local_multiple[CLMSD__K_COUNT]; /* its preferred work-group size multiple */
    cl_uint num_args[CLMSD__K_COUNT];      /* CL_KERNEL_NUM_ARGS of each kernel */
    cl_uint compute_units;
    bool gpu_tiling;   /* the kernels' shape: GPU tiling on GPUs, CPU tiling elsewhere; $CLMSD_TILING forces */
    bool used_clblast; /* CLBlast has programs of this context in its cache */
    char *error;       /* last error message (heap; may hold a build log) */
};

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
#define CLMSD__ARGS(...) \
    (const clmsd__arg[]){__VA_ARGS__}, sizeof((const clmsd__arg[]){__VA_ARGS__}) / sizeof(clmsd__arg)

/* Builds the program when needed and sets every argument of kernel `id`. */
clmsd_status clmsd__set_args(clmsd_context *ctx, clmsd__kernel_id id, const clmsd__arg *args, size_t count);
/* Enqueues `work_items` of kernel `id` (times dim1 in a second dimension when not 0). */
clmsd_status clmsd__launch(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, size_t dim1);
/* Sets the arguments of kernel `id`, launches `work_items` of it, and orders what follows after it. */
clmsd_status clmsd__run_kernel(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, const clmsd__arg *args,
                               size_t count);
#define CLMSD__RUN(ctx, id, work_items, ...) clmsd__run_kernel(ctx, id, work_items, CLMSD__ARGS(__VA_ARGS__))
#define CLMSD__SET_ARGS(ctx, id, ...) clmsd__set_args(ctx, id, CLMSD__ARGS(__VA_ARGS__))
/* Fills `count` 4-byte elements of buf from element `offset` with the bits `pattern`, ordered
 * before what follows. */
clmsd_status clmsd__fill(clmsd_context *ctx, cl_mem buf, size_t offset, size_t count, uint32_t pattern);
clmsd_status clmsd__begin(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
clmsd_status clmsd__finish(clmsd_context *ctx, cl_event *event);
clmsd_status clmsd__order(clmsd_context *ctx);
clmsd_status clmsd__check_wait_list(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
/* Checks that buf belongs to ctx and holds `count` elements of `elem` bytes after `offset`. */
clmsd_status clmsd__check_buffer(clmsd_context *ctx, const char *name, cl_mem buf, size_t offset, size_t count,
                                 size_t elem);

#endif
