/* SPDX-License-Identifier: MIT */
/* Test helpers: a context on the default device, buffers, reads, and canary checks. */
#ifndef CLMSD_TEST_HELPERS_H
#define CLMSD_TEST_HELPERS_H

#include <clmsd.h>
#include <clmsd_ref.h>
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CANARY 0xA5 /* byte pattern of output buffers that must stay untouched */

/* A context on $CLMSD_DEVICE or the default device; created inside the test, after the fork. */

/* Whether the device says it keeps fp32 denormals (CL_FP_DENORM in CL_DEVICE_SINGLE_FP_CONFIG). */
static inline bool test_device_keeps_denormals(clmsd_context *ctx)
{
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    return (fp & CL_FP_DENORM) != 0;
}

/* Set by test_context on a device without fma in hardware (no CL_FP_FMA; Mesa's llvmpipe, the only
 * one here): its software fma gives fma(+0, -x, +0) = -0, so a zero output may carry the other sign
 * (docs/portability.md); bit comparisons then take +0 == -0. */
static bool test_zero_sign_free;

/* $CLMSD_TEST_TILING=other (the *_other_tiling tests): every context of the test takes the tiling
 * its device does not get by default (the GPU tiling on pocl, the CPU tiling on rusticl), so both
 * tilings run on every device of every setup. */
static inline void test_choose_other_tiling(void)
{
    const char *want = getenv("CLMSD_TEST_TILING");
    if (!want || strcmp(want, "other") || getenv("CLMSD_TILING"))
        return;
    clmsd_context *probe = NULL;
    clmsd_status st = clmsd_context_create(NULL, &probe);
    cr_assert_eq(st, CLMSD_SUCCESS, "no context: %s", clmsd_context_last_error(NULL));
    setenv("CLMSD_TILING", strcmp(clmsd_context_tiling(probe), "gpu") ? "gpu" : "cpu", 1);
    clmsd_context_destroy(probe);
}

static inline clmsd_context *test_context(void)
{
    test_choose_other_tiling();
    clmsd_context *ctx = NULL;
    clmsd_status st = clmsd_context_create(NULL, &ctx);
    cr_assert_eq(st, CLMSD_SUCCESS, "no context: %s", clmsd_context_last_error(NULL));
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    test_zero_sign_free = (fp & CL_FP_FMA) == 0;
    return ctx;
}

/* a and b have the same bits (or are both zeros, see test_zero_sign_free) */
static inline bool test_same_bits(float a, float b)
{
    return memcmp(&a, &b, 4) == 0 || (test_zero_sign_free && a == 0.0f && b == 0.0f);
}

/* pocl's `basic` device hangs in clSetUserEventStatus while commands wait on the event
 * (pocl/pocl#1177, open): tests of wait lists skip that device. */
static inline void test_skip_user_events_on_pocl_basic(clmsd_context *ctx)
{
    if (strstr(clmsd_context_device_name(ctx), "/ basic"))
        cr_skip_test("pocl's basic device hangs in clSetUserEventStatus (pocl/pocl#1177)");
}

static inline cl_mem test_buffer(clmsd_context *ctx, const void *data, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer(%zu) failed: %d", bytes, err);
    return m;
}

/* A buffer of `bytes` filled with the canary byte. */
static inline cl_mem test_canary_buffer(clmsd_context *ctx, size_t bytes)
{
    void *fill = malloc(bytes);
    memset(fill, CANARY, bytes);
    cl_mem m = test_buffer(ctx, fill, bytes);
    free(fill);
    return m;
}

static inline void test_read(clmsd_context *ctx, cl_mem m, size_t offset, void *out, size_t bytes)
{
    cl_int err = clEnqueueReadBuffer(clmsd_context_queue(ctx), m, CL_TRUE, offset, bytes, out, 0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer failed: %d", err);
}

static inline void test_assert_canary(clmsd_context *ctx, cl_mem m, size_t bytes, const char *what)
{
    clFinish(clmsd_context_queue(ctx));
    unsigned char *got = malloc(bytes);
    test_read(ctx, m, 0, got, bytes);
    for (size_t i = 0; i < bytes; ++i)
        cr_assert_eq(got[i], CANARY, "%s: byte %zu of an output buffer changed on error", what, i);
    free(got);
}

/* Deterministic values in [-2, 2) on a 2^-10 grid (exact in float). */
static inline void test_fill(float *v, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((int)(s >> 20) - 2048) / 1024.0f;
    }
}

/* |dev - ref| <= 2 * terms * FLT_EPSILON * max|ref| for every element: the rounding of sums of
 * `terms` float products, scaled by the output's magnitude. */
static inline void test_assert_close(const float *dev, const double *ref, size_t n, double terms, const char *what)
{
    double mag = 0.0;
    for (size_t i = 0; i < n; ++i)
        mag = fmax(mag, fabs(ref[i]));
    double tol = 2.0 * terms * FLT_EPSILON * (mag > 0 ? mag : FLT_MIN);
    for (size_t i = 0; i < n; ++i)
        cr_assert(fabs(dev[i] - ref[i]) <= tol, "%s[%zu]: device %.9g, reference %.9g, tolerance %.3g", what, i,
                  (double)dev[i], ref[i], tol);
}

#endif
