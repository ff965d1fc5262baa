/* SPDX-License-Identifier: MIT */
/* Failure injection for tests/test_faults.c, loaded with LD_PRELOAD in front of the OpenCL ICD
 * loader: wraps the OpenCL calls that allocate, build or enqueue, makes the N-th of them fail once
 * armed, and counts the contexts, queues, buffers, programs and kernels alive, to find leaks.
 * With $FAULT_ABORT_DEVICE set, creating a context on a device whose name contains it aborts the
 * process (tests/selftest_crash.sh: one implementation that crashes). It also keeps the work-items of
 * each kernel's last launch (tests/test_launches.c: the GPU tiling's launch sizes). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#define SHIM_API __attribute__((visibility("default")))

static long countdown; /* > 0: the countdown-th wrapped call from now fails */
static long calls, live_mem, live_programs, live_kernels, live_contexts, live_queues;

SHIM_API void fault_arm(long n) { countdown = n, calls = 0; }
SHIM_API long fault_calls(void) { return calls; }
SHIM_API long fault_live(void) { return live_mem + live_programs + live_kernels + live_contexts + live_queues; }

static int fail_now(void)
{
    ++calls;
    return countdown > 0 && --countdown == 0;
}

/* the next definition of name: the ICD loader's (POSIX: a function pointer through void *) */
#define REAL(name)                 \
    static __typeof__(name) *real; \
    if (!real)                     \
    *(void **)&real = dlsym(RTLD_NEXT, #name)

/* clRetainX and clReleaseX of a counted type: the count follows every successful call */
#define COUNTED(X, type, live)           \
    SHIM_API cl_int clRetain##X(type o)  \
    {                                    \
        REAL(clRetain##X);               \
        cl_int e = real(o);              \
        live += e == CL_SUCCESS;         \
        return e;                        \
    }                                    \
    SHIM_API cl_int clRelease##X(type o) \
    {                                    \
        REAL(clRelease##X);              \
        cl_int e = real(o);              \
        live -= e == CL_SUCCESS;         \
        return e;                        \
    }

COUNTED(MemObject, cl_mem, live_mem)
COUNTED(Program, cl_program, live_programs)
COUNTED(Kernel, cl_kernel, live_kernels)
COUNTED(Context, cl_context, live_contexts)
COUNTED(CommandQueue, cl_command_queue, live_queues)

SHIM_API cl_mem clCreateBuffer(cl_context c, cl_mem_flags f, size_t size, void *host, cl_int *err)
{
    REAL(clCreateBuffer);
    if (fail_now()) {
        if (err)
            *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return NULL;
    }
    cl_mem m = real(c, f, size, host, err);
    live_mem += m != NULL;
    return m;
}

SHIM_API cl_program clCreateProgramWithSource(cl_context c, cl_uint n, const char **s, const size_t *l, cl_int *err)
{
    REAL(clCreateProgramWithSource);
    if (fail_now()) {
        if (err)
            *err = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    cl_program p = real(c, n, s, l, err);
    live_programs += p != NULL;
    return p;
}

SHIM_API cl_program clCreateProgramWithBinary(cl_context c, cl_uint n, const cl_device_id *d, const size_t *l,
                                              const unsigned char **b, cl_int *status, cl_int *err)
{
    REAL(clCreateProgramWithBinary);
    if (fail_now()) {
        if (err)
            *err = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    cl_program p = real(c, n, d, l, b, status, err);
    live_programs += p != NULL;
    return p;
}

SHIM_API cl_int clBuildProgram(cl_program p, cl_uint n, const cl_device_id *d, const char *o,
                               void(CL_CALLBACK *cb)(cl_program, void *), void *u)
{
    REAL(clBuildProgram);
    return fail_now() ? CL_BUILD_PROGRAM_FAILURE : real(p, n, d, o, cb, u);
}

SHIM_API cl_kernel clCreateKernel(cl_program p, const char *name, cl_int *err)
{
    REAL(clCreateKernel);
    if (fail_now()) {
        if (err)
            *err = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    cl_kernel k = real(p, name, err);
    live_kernels += k != NULL;
    return k;
}

/* the work-items (global size, all dimensions) of the last launch of each kernel name */
static struct {
    char name[64];
    size_t items;
} launches[64];

SHIM_API size_t fault_launch_items(const char *kernel)
{
    for (int i = 0; i < 64 && launches[i].name[0]; ++i)
        if (!strcmp(launches[i].name, kernel))
            return launches[i].items;
    return 0;
}

static void record_launch(cl_kernel k, cl_uint dims, const size_t *global)
{
    char name[64] = "";
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    size_t items = 1;
    for (cl_uint d = 0; d < dims; ++d)
        items *= global[d];
    for (int i = 0; i < 64; ++i)
        if (!launches[i].name[0] || !strcmp(launches[i].name, name)) {
            memcpy(launches[i].name, name, sizeof name);
            launches[i].items = items;
            return;
        }
}

SHIM_API cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                                       const size_t *global, const size_t *local, cl_uint nw, const cl_event *w,
                                       cl_event *ev)
{
    REAL(clEnqueueNDRangeKernel);
    if (fail_now())
        return CL_OUT_OF_RESOURCES;
    cl_int e = real(q, k, dims, off, global, local, nw, w, ev);
    if (e == CL_SUCCESS)
        record_launch(k, dims, global);
    return e;
}

SHIM_API cl_int clEnqueueBarrierWithWaitList(cl_command_queue q, cl_uint nw, const cl_event *w, cl_event *ev)
{
    REAL(clEnqueueBarrierWithWaitList);
    return fail_now() ? CL_OUT_OF_HOST_MEMORY : real(q, nw, w, ev);
}

SHIM_API cl_int clEnqueueMarkerWithWaitList(cl_command_queue q, cl_uint nw, const cl_event *w, cl_event *ev)
{
    REAL(clEnqueueMarkerWithWaitList);
    return fail_now() ? CL_OUT_OF_HOST_MEMORY : real(q, nw, w, ev);
}

SHIM_API cl_context clCreateContext(const cl_context_properties *p, cl_uint n, const cl_device_id *d,
                                    void(CL_CALLBACK *cb)(const char *, const void *, size_t, void *), void *u,
                                    cl_int *err)
{
    REAL(clCreateContext);
    const char *crash = getenv("FAULT_ABORT_DEVICE");
    char name[256] = "";
    if (crash && n > 0 && clGetDeviceInfo(d[0], CL_DEVICE_NAME, sizeof name - 1, name, NULL) == CL_SUCCESS &&
        strstr(name, crash))
        abort();
    if (fail_now()) {
        if (err)
            *err = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    cl_context c = real(p, n, d, cb, u, err);
    live_contexts += c != NULL;
    return c;
}

SHIM_API cl_command_queue clCreateCommandQueue(cl_context c, cl_device_id d, cl_command_queue_properties p, cl_int *err)
{
    REAL(clCreateCommandQueue);
    if (fail_now()) {
        if (err)
            *err = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    cl_command_queue q = real(c, d, p, err);
    live_queues += q != NULL;
    return q;
}
