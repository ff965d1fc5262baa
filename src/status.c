/* SPDX-License-Identifier: MIT */
/* Status strings, OpenCL and CLBlast error names, and the last-error message. */
#include "context.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local char clmsd__thread_error[1024];

const char *clmsd_status_string(clmsd_status status)
{
    switch (status) {
    case CLMSD_SUCCESS: return "success";
    case CLMSD_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CLMSD_ERROR_INVALID_SIZE: return "invalid size";
    case CLMSD_ERROR_INVALID_RATE: return "invalid drop rate";
    case CLMSD_ERROR_INVALID_BUFFER: return "invalid buffer";
    case CLMSD_ERROR_DEVICE_NOT_FOUND: return "device not found";
    case CLMSD_ERROR_OPENCL: return "OpenCL error";
    case CLMSD_ERROR_BUILD: return "kernel build failed";
    case CLMSD_ERROR_CLBLAST: return "CLBlast error";
    case CLMSD_ERROR_OUT_OF_MEMORY: return "out of host memory";
    case CLMSD_ERROR_UNSUPPORTED: return "unsupported";
    case CLMSD_ERROR_MPI: return "MPI error";
    }
    return "unknown status";
}

const char *clmsd_version_string(void) { return CLMSD_VERSION_STRING; }

static void set_message(clmsd_context *ctx, const char *msg)
{
    if (!ctx) {
        snprintf(clmsd__thread_error, sizeof clmsd__thread_error, "%s", msg);
        return;
    }
    char *copy = strdup(msg);
    if (!copy)
        return; /* keep the old message rather than lose the status */
    free(ctx->error);
    ctx->error = copy;
}

clmsd_status clmsd__fail(clmsd_context *ctx, clmsd_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!msg) {
        set_message(ctx, clmsd_status_string(status));
        return status;
    }
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    set_message(ctx, msg);
    free(msg);
    return status;
}

clmsd_status clmsd__fail_cl(clmsd_context *ctx, cl_int err, const char *what)
{
    clmsd_status st = err == CL_OUT_OF_HOST_MEMORY ? CLMSD_ERROR_OUT_OF_MEMORY : CLMSD_ERROR_OPENCL;
    return clmsd__fail(ctx, st, "%s failed: %s (%d)", what, clmsd__cl_error_name(err), (int)err);
}

void clmsd__clear_error(clmsd_context *ctx)
{
    if (ctx && ctx->error)
        ctx->error[0] = '\0';
}

const char *clmsd_context_last_error(const clmsd_context *ctx)
{
    if (!ctx)
        return clmsd__thread_error;
    return ctx->error ? ctx->error : "";
}

const char *clmsd__cl_error_name(cl_int err)
{
    switch (err) {
/* clang-format off */
#define NAME(x) case x: return #x;
    NAME(CL_SUCCESS) NAME(CL_DEVICE_NOT_FOUND) NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE) NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE) NAME(CL_OUT_OF_RESOURCES)
    NAME(CL_OUT_OF_HOST_MEMORY) NAME(CL_PROFILING_INFO_NOT_AVAILABLE) NAME(CL_MEM_COPY_OVERLAP)
    NAME(CL_IMAGE_FORMAT_MISMATCH) NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED) NAME(CL_BUILD_PROGRAM_FAILURE)
    NAME(CL_MAP_FAILURE) NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) NAME(CL_COMPILE_PROGRAM_FAILURE)
    NAME(CL_LINKER_NOT_AVAILABLE) NAME(CL_LINK_PROGRAM_FAILURE) NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) NAME(CL_INVALID_VALUE) NAME(CL_INVALID_DEVICE_TYPE)
    NAME(CL_INVALID_PLATFORM) NAME(CL_INVALID_DEVICE) NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES) NAME(CL_INVALID_COMMAND_QUEUE) NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT) NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) NAME(CL_INVALID_IMAGE_SIZE)
    NAME(CL_INVALID_SAMPLER) NAME(CL_INVALID_BINARY) NAME(CL_INVALID_BUILD_OPTIONS)
    NAME(CL_INVALID_PROGRAM) NAME(CL_INVALID_PROGRAM_EXECUTABLE) NAME(CL_INVALID_KERNEL_NAME)
    NAME(CL_INVALID_KERNEL_DEFINITION) NAME(CL_INVALID_KERNEL) NAME(CL_INVALID_ARG_INDEX)
    NAME(CL_INVALID_ARG_VALUE) NAME(CL_INVALID_ARG_SIZE) NAME(CL_INVALID_KERNEL_ARGS)
    NAME(CL_INVALID_WORK_DIMENSION) NAME(CL_INVALID_WORK_GROUP_SIZE) NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET) NAME(CL_INVALID_EVENT_WAIT_LIST) NAME(CL_INVALID_EVENT)
    NAME(CL_INVALID_OPERATION) NAME(CL_INVALID_GL_OBJECT) NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL) NAME(CL_INVALID_GLOBAL_WORK_SIZE) NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR) NAME(CL_INVALID_COMPILER_OPTIONS) NAME(CL_INVALID_LINKER_OPTIONS)
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
            /* clang-format on */
            case -1001 : return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}
