/* SPDX-License-Identifier: MIT */
/* Enqueueing on a context's queue: kernel launches (the one entry of the generated
 * clmsd__run_<kernel>() functions, tools/kernel_list.py), fills, and the barrier and marker that
 * begin and finish a call. Below the tilings and the head's kernels, above the program. */
#include "context.h"

static clmsd_status set_args(clmsd_context *ctx, clmsd__kernel_id id, const clmsd__arg *args, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        cl_int err = clSetKernelArg(ctx->kernels[id], (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return clmsd__fail(ctx, CLMSD_ERROR_OPENCL, "clSetKernelArg(%s, %zu) failed: %s (%d)",
                               clmsd__kernel_name(id), i, clmsd__cl_error_name(err), (int)err);
    }
    return CLMSD_SUCCESS;
}

static clmsd_status launch(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, size_t dim1)
{
    size_t local[2] = {ctx->local_size[id], 1};
    /* small launches: smaller groups (down to the preferred multiple) so every compute unit gets
     * work; a reduction's multiple is its whole group (program.c), so its canonical tree stays */
    while (local[0] % 2 == 0 && local[0] / 2 >= ctx->local_multiple[id] &&
           (work_items + local[0] - 1) / local[0] * (dim1 ? dim1 : 1) < 2 * (size_t)ctx->compute_units)
        local[0] /= 2;
    size_t global[2] = {(work_items + local[0] - 1) / local[0] * local[0], dim1 ? dim1 : 1};
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, ctx->kernels[id], dim1 ? 2 : 1, NULL, global, local, 0, NULL, NULL);
    CLMSD__TRY_CL(ctx, err, "clEnqueueNDRangeKernel");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__run_kernel(clmsd_context *ctx, clmsd__kernel_id id, size_t work_items, size_t dim1,
                               const clmsd__arg *args, size_t count)
{
    CLMSD__TRY(clmsd__build_program(ctx));
    CLMSD__TRY(set_args(ctx, id, args, count));
    CLMSD__TRY(launch(ctx, id, work_items, dim1));
    return clmsd__order(ctx);
}

clmsd_status clmsd__fill(clmsd_context *ctx, cl_mem buf, size_t offset, size_t count, uint32_t pattern)
{
    cl_int err = clEnqueueFillBuffer(ctx->queue, buf, &pattern, sizeof pattern, offset * sizeof pattern,
                                     count * sizeof pattern, 0, NULL, NULL);
    CLMSD__TRY_CL(ctx, err, "clEnqueueFillBuffer");
    return clmsd__order(ctx);
}

clmsd_status clmsd__begin(clmsd_context *ctx, cl_uint num_wait, const cl_event *wait)
{
    if (num_wait == 0)
        return CLMSD_SUCCESS;
    /* a barrier carries the wait list to every command after it, CLBlast's included */
    CLMSD__TRY_CL(ctx, clEnqueueBarrierWithWaitList(ctx->queue, num_wait, wait, NULL), "clEnqueueBarrierWithWaitList");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__order(clmsd_context *ctx)
{
    if (!ctx->out_of_order)
        return CLMSD_SUCCESS;
    CLMSD__TRY_CL(ctx, clEnqueueBarrierWithWaitList(ctx->queue, 0, NULL, NULL), "clEnqueueBarrierWithWaitList");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__finish(clmsd_context *ctx, cl_event *event)
{
    if (!event)
        return CLMSD_SUCCESS;
    /* a marker with no wait list completes after everything before it, whatever enqueued it */
    CLMSD__TRY_CL(ctx, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, event), "clEnqueueMarkerWithWaitList");
    return CLMSD_SUCCESS;
}
