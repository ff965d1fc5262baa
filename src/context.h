/* SPDX-License-Identifier: MIT */
/* A context: its device, queue and embedded program, and the helpers that enqueue kernels on it. */
#ifndef CLMSD_CONTEXT_H
#define CLMSD_CONTEXT_H

#include "../cl/clmsd_constants.h"
#include "status.h"

#include "clmsd_kernel_list.h" /* generated from cl/ by tools/kernel_list.py */

/* Kernels of the embedded program, one per `__kernel` in cl/. */
typedef enum clmsd__kernel_id {
#define CLMSD__KERNEL_ID(id, name) CLMSD__K_##id,
    CLMSD__KERNEL_MAP(CLMSD__KERNEL_ID)
#undef CLMSD__KERNEL_ID
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
    cl_uint compute_units;
    const struct clmsd__tiling *tiling; /* the kernels' shape (tiling.h), chosen once: context.c */
    bool used_clblast;                  /* CLBlast has programs of this context in its cache */
    char *error;                        /* last error message (heap; may hold a build log) */
};

/* program.c: the embedded kernel program, built once per context */
clmsd_status clmsd__build_program(clmsd_context *ctx);
const char *clmsd__kernel_name(clmsd__kernel_id id);
void clmsd__release_program(clmsd_context *ctx);

/* device.c: resolve a device spec (NULL: $CLMSD_DEVICE, else first GPU, else CPU) */
clmsd_status clmsd__find_device(const char *spec, cl_platform_id *platform, cl_device_id *device);

/* launch.c: enqueueing on the context's queue */

/* One kernel argument. Launches go through the generated clmsd__run_<kernel>() functions, typed
 * from the kernels' own signatures, so a wrong count, order or type is a compile error here. */
typedef struct clmsd__arg {
    size_t size;
    const void *value;
} clmsd__arg;

/* Builds the program when needed, sets the `count` arguments of kernel `id`, enqueues `work_items`
 * of it (times dim1 in a second dimension when not 0) and orders what follows after it. */
clmsd_status clmsd__run_kernel(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, size_t dim1,
                               const clmsd__arg *args, size_t count);
#define CLMSD__KERNEL_LAUNCHERS
#include "clmsd_kernel_list.h"

/* Fills `count` 4-byte elements of buf from element `offset` with the bits `pattern`, ordered
 * before what follows. */
clmsd_status clmsd__fill(clmsd_context *ctx, cl_mem buf, size_t offset, size_t count, uint32_t pattern);
/* A call's first command: a barrier with the caller's wait list (none when it is empty). */
clmsd_status clmsd__begin(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
/* A call's last: a marker event for the caller, when event is not NULL. */
clmsd_status clmsd__finish(clmsd_context *ctx, cl_event *event);
/* On an out-of-order queue, a barrier between two commands; nothing on an in-order one. */
clmsd_status clmsd__order(clmsd_context *ctx);

/* context.c: the checks of a call's wait list and buffers */
clmsd_status clmsd__check_wait_list(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait);
/* Checks that buf belongs to ctx and holds `count` elements of `elem` bytes after `offset`. */
clmsd_status clmsd__check_buffer(clmsd_context *ctx, const char *name, cl_mem buf, size_t offset, size_t count,
                                 size_t elem);

#endif
