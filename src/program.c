/* SPDX-License-Identifier: MIT */
/* The embedded kernel program: built once per context on first use, kernels cached in it. */
#include "context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char clmsd__kernel_source[];
extern const size_t clmsd__kernel_source_length;
extern const uint64_t clmsd__kernel_source_hash;

/* The same options on every device: results must not depend on the driver's defaults. */
#define CLMSD__BUILD_OPTIONS "-cl-std=CL1.2"

static const char *const kernel_names[CLMSD__K_COUNT] = {
#define CLMSD__KERNEL_NAME(id, name) [CLMSD__K_##id] = "clmsd_" #name,
    CLMSD__KERNEL_MAP(CLMSD__KERNEL_NAME)
#undef CLMSD__KERNEL_NAME
};

const char *clmsd__kernel_name(clmsd__kernel_id id) { return kernel_names[id]; }

static bool is_reduction(clmsd__kernel_id id)
{
    return id == CLMSD__K_HEAD_COUNT_VALID || id == CLMSD__K_HEAD_REDUCE_LOSS;
}

static clmsd_status build_failure(clmsd_context *ctx, cl_int err)
{
    size_t size = 0;
    clGetProgramBuildInfo(ctx->program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    char *log = malloc(size + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(ctx->program, ctx->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
        log[size] = '\0';
    }
    clmsd_status st = clmsd__fail(ctx, CLMSD_ERROR_BUILD,
                                  "clBuildProgram failed on %s: %s (%d); kernel source %016llx, options \"%s\"\n"
                                  "build log:\n%s",
                                  ctx->device_name, clmsd__cl_error_name(err), (int)err,
                                  (unsigned long long)clmsd__kernel_source_hash, CLMSD__BUILD_OPTIONS,
                                  log ? log : "(no memory for the log)");
    free(log);
    clReleaseProgram(ctx->program);
    ctx->program = NULL;
    return st;
}

/* Work-items per group at most, whatever the device allows: pocl gives every work-item of a group
 * its own copy of a kernel's private arrays (the CPU tiling's 4 KB passes), and 4096 of them
 * overflow a thread's stack. (The default size, 128, is below it.) */
enum { MAX_LOCAL_SIZE = 256 };

/* A 1-D work-group size from the kernel's limits and preferred multiple (32 or 64 on GPUs,
 * the vector width on pocl). Results never depend on it: every kernel's sums are ordered.
 * $CLMSD_LOCAL_SIZE forces one (capped by the kernel's limit), for the tests that prove that. */
static size_t choose_local_size(clmsd_context *ctx, cl_kernel kernel, size_t *multiple)
{
    size_t max_wg = 1;
    *multiple = 1;
    clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    if (max_wg > MAX_LOCAL_SIZE)
        max_wg = MAX_LOCAL_SIZE;
    clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof *multiple,
                             multiple, NULL);
    if (*multiple == 0 || *multiple > max_wg)
        *multiple = 1;
    const char *forced = getenv("CLMSD_LOCAL_SIZE");
    if (forced && atol(forced) > 0) {
        size_t size = (size_t)atol(forced) < max_wg ? (size_t)atol(forced) : max_wg;
        *multiple = size; /* and no shrinking for small launches */
        return size;
    }
    size_t size = max_wg < 128 ? max_wg : 128;
    if (size >= *multiple)
        size -= size % *multiple;
    return size ? size : 1;
}

clmsd_status clmsd__build_program(clmsd_context *ctx)
{
    if (ctx->program)
        return CLMSD_SUCCESS;
    cl_int err;
    const char *src = clmsd__kernel_source;
    size_t len = clmsd__kernel_source_length;
    ctx->program = clCreateProgramWithSource(ctx->context, 1, &src, &len, &err);
    if (err != CL_SUCCESS) {
        ctx->program = NULL;
        return clmsd__fail_cl(ctx, err, "clCreateProgramWithSource");
    }
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof ctx->compute_units, &ctx->compute_units,
                        NULL) != CL_SUCCESS ||
        ctx->compute_units == 0)
        ctx->compute_units = 1;
    err = clBuildProgram(ctx->program, 1, &ctx->device, CLMSD__BUILD_OPTIONS, NULL, NULL);
    if (err != CL_SUCCESS)
        return build_failure(ctx, err);
    for (int id = 0; id < CLMSD__K_COUNT; ++id) {
        ctx->kernels[id] = clCreateKernel(ctx->program, kernel_names[id], &err);
        if (err != CL_SUCCESS) {
            clmsd__release_program(ctx);
            return clmsd__fail_cl(ctx, err, kernel_names[id]);
        }
        ctx->local_size[id] = choose_local_size(ctx, ctx->kernels[id], &ctx->local_multiple[id]);
        if (id == CLMSD__K_LAYER_POOL_GPU) { /* a group per Philox block, a lane per layer */
            ctx->local_size[id] = CLMSD_POOL_LANES;
            ctx->local_multiple[id] = CLMSD_POOL_LANES;
        }
        if (is_reduction((clmsd__kernel_id)id)) {
            /* one work-group computes the whole tree, of any size up to its lanes: never shrunk */
            if (ctx->local_size[id] > CLMSD_REDUCE_GROUP)
                ctx->local_size[id] = CLMSD_REDUCE_GROUP;
            ctx->local_multiple[id] = ctx->local_size[id];
        }
    }
    return CLMSD_SUCCESS;
}

void clmsd__release_program(clmsd_context *ctx)
{
    for (int id = 0; id < CLMSD__K_COUNT; ++id) {
        if (ctx->kernels[id])
            clReleaseKernel(ctx->kernels[id]);
        ctx->kernels[id] = NULL;
    }
    if (ctx->program)
        clReleaseProgram(ctx->program);
    ctx->program = NULL;
}
