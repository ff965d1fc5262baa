/* SPDX-License-Identifier: MIT */
/* Contexts: create on a device or attach to a caller's queue, the tiling chosen once; the checks
 * of a call's wait list and buffers. */
#include "blas.h"
#include "context.h"
#include "tiling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clmsd_context *context_alloc(void)
{
    clmsd_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory allocating a context");
    return ctx;
}

/* The kernels' tiling: $CLMSD_TILING (cpu or gpu) when set, else the GPU tiling on GPUs and on
 * Mesa's rusticl, whose llvmpipe CPU device runs work-items in SIMD lanes as a GPU does (the GPU
 * tiling measured 1.5-5x faster there), and the CPU tiling elsewhere (pocl: 2-20x faster than the GPU
 * tiling; docs/benchmarks.md). Either gives the same bits (canonical order v2); the choice is only
 * about speed. */
const clmsd__tiling *const clmsd__tilings[] = {&clmsd__tiling_cpu, &clmsd__tiling_gpu};
const size_t clmsd__tiling_count = sizeof clmsd__tilings / sizeof *clmsd__tilings;

static clmsd_status choose_tiling(cl_device_id device, const clmsd__tiling **out)
{
    const char *env = getenv("CLMSD_TILING");
    if (env && *env) {
        for (size_t i = 0; i < clmsd__tiling_count; ++i)
            if (!strcmp(env, clmsd__tilings[i]->name)) {
                *out = clmsd__tilings[i];
                return CLMSD_SUCCESS;
            }
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "$CLMSD_TILING is \"%s\": use cpu or gpu", env);
    }
    cl_device_type type = 0;
    cl_platform_id platform = NULL;
    char name[64] = "";
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    if (clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL) == CL_SUCCESS)
        clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof name, name, NULL);
    name[sizeof name - 1] = '\0';
    bool gpu = (type & CL_DEVICE_TYPE_GPU) != 0 || strcmp(name, "rusticl") == 0;
    *out = gpu ? &clmsd__tiling_gpu : &clmsd__tiling_cpu;
    return CLMSD_SUCCESS;
}

static void read_device(clmsd_context *ctx)
{
    char name[128] = "", platform[128] = "";
    clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof name, name, NULL);
    clGetPlatformInfo(ctx->platform, CL_PLATFORM_NAME, sizeof platform, platform, NULL);
    name[sizeof name - 1] = platform[sizeof platform - 1] = '\0';
    snprintf(ctx->device_name, sizeof ctx->device_name, "%s / %s", platform, name);
}

/* Context creation failures have no context to hold their message: move it to the thread's. */
static clmsd_status fail_create(clmsd_context *ctx, clmsd_status st)
{
    snprintf(clmsd__thread_error, sizeof clmsd__thread_error, "%s", clmsd_context_last_error(ctx));
    clmsd_context_destroy(ctx);
    return st;
}

clmsd_status clmsd_context_create(const char *device, clmsd_context **out)
{
    if (!out)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_context_create: out is NULL");
    *out = NULL;
    cl_platform_id platform;
    cl_device_id dev;
    const clmsd__tiling *tiling;
    CLMSD__TRY(clmsd__find_device(device, &platform, &dev));
    CLMSD__TRY(choose_tiling(dev, &tiling));
    clmsd_context *ctx = context_alloc();
    if (!ctx)
        return CLMSD_ERROR_OUT_OF_MEMORY;
    ctx->tiling = tiling;
    ctx->platform = platform;
    ctx->device = dev;
    read_device(ctx);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
    cl_int err;
    ctx->context = clCreateContext(props, 1, &dev, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        ctx->context = NULL;
        return fail_create(ctx, clmsd__fail_cl(ctx, err, "clCreateContext"));
    }
    ctx->queue = clCreateCommandQueue(ctx->context, dev, 0, &err);
    if (err != CL_SUCCESS) {
        ctx->queue = NULL;
        return fail_create(ctx, clmsd__fail_cl(ctx, err, "clCreateCommandQueue"));
    }
    *out = ctx;
    return CLMSD_SUCCESS;
}

/* A property of the caller's queue; failing, the queue is not a valid one. */
static clmsd_status queue_info(cl_command_queue queue, cl_command_queue_info param, size_t size, void *value)
{
    cl_int err = clGetCommandQueueInfo(queue, param, size, value, NULL);
    if (err != CL_SUCCESS)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clGetCommandQueueInfo on the queue failed: %s (%d)",
                           clmsd__cl_error_name(err), (int)err);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_context_create_from_queue(cl_command_queue queue, clmsd_context **out)
{
    if (!out || !queue)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_context_create_from_queue: %s is NULL",
                           out ? "queue" : "out");
    *out = NULL;
    cl_context context;
    cl_device_id device;
    cl_command_queue_properties props;
    CLMSD__TRY(queue_info(queue, CL_QUEUE_CONTEXT, sizeof context, &context));
    CLMSD__TRY(queue_info(queue, CL_QUEUE_DEVICE, sizeof device, &device));
    CLMSD__TRY(queue_info(queue, CL_QUEUE_PROPERTIES, sizeof props, &props));
    const clmsd__tiling *tiling;
    CLMSD__TRY(choose_tiling(device, &tiling));
    clmsd_context *ctx = context_alloc();
    if (!ctx)
        return CLMSD_ERROR_OUT_OF_MEMORY;
    ctx->tiling = tiling;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof ctx->platform, &ctx->platform, NULL);
    clRetainCommandQueue(queue);
    clRetainContext(context);
    ctx->queue = queue;
    ctx->context = context;
    ctx->device = device;
    ctx->out_of_order = (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    read_device(ctx);
    *out = ctx;
    return CLMSD_SUCCESS;
}

void clmsd_context_destroy(clmsd_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue); /* kernels still reading our buffers finish before they go */
    clmsd__blas_release(ctx);
    clmsd__release_program(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->context)
        clReleaseContext(ctx->context);
    free(ctx->error);
    free(ctx);
}

cl_context clmsd_context_cl_context(const clmsd_context *ctx) { return ctx ? ctx->context : NULL; }
cl_command_queue clmsd_context_queue(const clmsd_context *ctx) { return ctx ? ctx->queue : NULL; }
cl_device_id clmsd_context_device(const clmsd_context *ctx) { return ctx ? ctx->device : NULL; }
const char *clmsd_context_device_name(const clmsd_context *ctx) { return ctx ? ctx->device_name : ""; }
const char *clmsd_context_tiling(const clmsd_context *ctx) { return ctx ? ctx->tiling->name : ""; }

clmsd_status clmsd__check_wait_list(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait)
{
    if ((num_wait > 0) != (wait != NULL))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "wait list: num_wait is %u but wait is %s",
                           (unsigned)num_wait, wait ? "not NULL" : "NULL");
    return CLMSD_SUCCESS;
}

/* A property of the caller's buffer `name`; failing, it is not a valid buffer. */
static clmsd_status mem_info(clmsd_context *ctx, const char *name, cl_mem buf, cl_mem_info param, size_t size,
                             void *value)
{
    cl_int err = clGetMemObjectInfo(buf, param, size, value, NULL);
    if (err != CL_SUCCESS)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_BUFFER, "%s is not a valid buffer: %s (%d)", name,
                           clmsd__cl_error_name(err), (int)err);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_buffer(clmsd_context *ctx, const char *name, cl_mem buf, size_t offset, size_t count,
                                 size_t elem)
{
    if (!buf)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "%s is NULL", name);
    cl_context owner = NULL;
    cl_mem_object_type type = 0;
    size_t size = 0;
    CLMSD__TRY(mem_info(ctx, name, buf, CL_MEM_TYPE, sizeof type, &type));
    /* an image or a pipe would be written as bytes, or refused only at a later launch */
    if (type != CL_MEM_OBJECT_BUFFER)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_BUFFER, "%s is not a buffer (an image or a pipe: CL_MEM_TYPE 0x%x)",
                           name, (unsigned)type);
    CLMSD__TRY(mem_info(ctx, name, buf, CL_MEM_CONTEXT, sizeof owner, &owner));
    CLMSD__TRY(mem_info(ctx, name, buf, CL_MEM_SIZE, sizeof size, &size));
    if (owner != ctx->context)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_BUFFER, "%s belongs to another OpenCL context", name);
    size_t end, bytes;
    if (!clmsd__add(offset, count, &end) || !clmsd__mul(end, elem, &bytes))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "%s: offset %zu + %zu elements overflows", name, offset,
                           count);
    if (bytes > size)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_BUFFER,
                           "%s holds %zu bytes; offset %zu + %zu elements of %zu bytes need %zu", name, size, offset,
                           count, elem, bytes);
    return CLMSD_SUCCESS;
}
