/* SPDX-License-Identifier: MIT */
/* One call into clmsd: the operands staged, the library call, the outputs copied back and the
 * queue waited for, all with the GIL released and the context's lock held; the failure raised
 * afterwards, with the GIL, as clmsd.Error (or ValueError for a context closed meanwhile). */
#include "clmsdpy.h"

#include <stdio.h>

void clmsdpy_fail(clmsd_context *ctx, clmsd_status status, const char *call, clmsdpy_outcome *out)
{
    const char *msg = clmsd_context_last_error(ctx);
    out->status = status;
    snprintf(out->message, sizeof out->message, "%s: %s", call, msg && *msg ? msg : clmsd_status_string(status));
}

static const char *cl_error_name(cl_int err)
{
    switch (err) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    default: return "an OpenCL error";
    }
}

void clmsdpy_fail_cl(cl_int err, const char *call, const char *name, clmsdpy_outcome *out)
{
    out->status = err == CL_OUT_OF_HOST_MEMORY ? CLMSD_ERROR_OUT_OF_MEMORY : CLMSD_ERROR_OPENCL;
    snprintf(out->message, sizeof out->message, "%s (%s) failed: %s (%d)", call, name, cl_error_name(err), (int)err);
}

/* Device buffers for the staged operands (a copy of the input's data, or room for an output) and
 * the uploads into a clmsd.Array's buffer. */
static void stage(clmsd_context *ctx, clmsdpy_operand *ops, size_t n, clmsdpy_outcome *out)
{
    cl_context context = clmsd_context_cl_context(ctx);
    cl_command_queue queue = clmsd_context_queue(ctx);
    for (size_t i = 0; i < n && out->status == CLMSD_SUCCESS; ++i) {
        clmsdpy_operand *op = &ops[i];
        cl_int err = CL_SUCCESS;
        if (op->staged) {
            cl_mem_flags flags = CL_MEM_READ_WRITE | (op->upload ? CL_MEM_COPY_HOST_PTR : 0);
            op->mem = clCreateBuffer(context, flags, (size_t)op->view.len, op->upload ? op->view.buf : NULL, &err);
            if (err != CL_SUCCESS) {
                op->mem = NULL;
                clmsdpy_fail_cl(err, "clCreateBuffer", op->name, out);
            }
        } else if (op->upload) {
            err = clEnqueueWriteBuffer(queue, op->mem, CL_TRUE, 0, (size_t)op->view.len, op->view.buf, 0, NULL, NULL);
            if (err != CL_SUCCESS)
                clmsdpy_fail_cl(err, "clEnqueueWriteBuffer", op->name, out);
        }
    }
}

static void download(clmsd_context *ctx, clmsdpy_operand *ops, size_t n, clmsdpy_outcome *out)
{
    cl_command_queue queue = clmsd_context_queue(ctx);
    for (size_t i = 0; i < n && out->status == CLMSD_SUCCESS; ++i) {
        clmsdpy_operand *op = &ops[i];
        if (!op->download)
            continue;
        cl_int err = clEnqueueReadBuffer(queue, op->mem, CL_TRUE, 0, (size_t)op->view.len, op->view.buf, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            clmsdpy_fail_cl(err, "clEnqueueReadBuffer", op->name, out);
    }
}

static void unstage(clmsdpy_operand *ops, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (ops[i].staged && ops[i].mem) {
            clReleaseMemObject(ops[i].mem);
            ops[i].mem = NULL;
        }
}

int clmsdpy_run(clmsdpy_context *ctx, clmsdpy_operand *ops, size_t n, clmsdpy_body body, void *data)
{
    if (!ctx->ctx) {
        clmsdpy_raise_closed();
        return -1;
    }
    clmsdpy_outcome out = {.closed = false, .status = CLMSD_SUCCESS};
    Py_BEGIN_ALLOW_THREADS;
    PyThread_acquire_lock(ctx->lock, WAIT_LOCK);
    if (!ctx->ctx) { /* closed by another thread since: the Arrays' buffers are gone */
        out.closed = true;
    } else {
        stage(ctx->ctx, ops, n, &out);
        if (out.status == CLMSD_SUCCESS && body)
            body(ctx->ctx, ops, data, &out);
        download(ctx->ctx, ops, n, &out);
        cl_int err = clFinish(clmsd_context_queue(ctx->ctx));
        if (err != CL_SUCCESS && out.status == CLMSD_SUCCESS)
            clmsdpy_fail_cl(err, "clFinish", "the context's queue", &out);
        unstage(ops, n);
    }
    PyThread_release_lock(ctx->lock);
    Py_END_ALLOW_THREADS;
    if (out.closed) {
        clmsdpy_raise_closed();
        return -1;
    }
    if (out.status != CLMSD_SUCCESS) {
        clmsdpy_raise(out.status, out.message);
        return -1;
    }
    return 0;
}
