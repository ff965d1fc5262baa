/* SPDX-License-Identifier: MIT */
/* Results that must not change by a single bit with the work-group size: the stream and the fused
 * engine under forced local sizes 1, 7, 64 and the device maximum ($CLMSD_LOCAL_SIZE). */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <stdio.h>

enum { B = 9, H = 61, C = 37, K = 5, OUT = 1 + B * C + B * H + C * H + C };

/* one fused train step (average losses and average logits) and dropout forward/backward/mask,
 * all outputs in one array */
static void run_all(float *out, uint8_t *mask)
{
    clmsd_context *ctx = test_context();
    float x[B * H], w[C * H], bias[C];
    int32_t y[B];
    test_fill(x, B * H, 1), test_fill(w, C * H, 2), test_fill(bias, C, 3);
    for (int b = 0; b < B; ++b)
        y[b] = (b * 5) % C;
    cl_mem bx = test_buffer(ctx, x, sizeof x), bw = test_buffer(ctx, w, sizeof w),
           bb = test_buffer(ctx, bias, sizeof bias);
    cl_mem by = test_buffer(ctx, y, sizeof y), bo = test_buffer(ctx, NULL, 2 * OUT * 4 + K * B * H * 4 + B * H * 4);
    for (int combine = 0; combine < 2; ++combine) {
        clmsd_head_desc d = {.batch = B,
                             .features = H,
                             .classes = C,
                             .samples = K,
                             .rate = 0.4,
                             .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                             .combine = (clmsd_combine)combine,
                             .engine = CLMSD_ENGINE_FUSED};
        clmsd_head *head;
        cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS);
        size_t o = (size_t)combine * OUT;
        clmsd_head_args a = {.seed = 3,
                             .step = 8,
                             .row_offset = 11,
                             .x = bx,
                             .w = bw,
                             .bias = bb,
                             .target = by,
                             .loss = bo,
                             .loss_off = o,
                             .logits = bo,
                             .logits_off = o + 1,
                             .dx = bo,
                             .dx_off = o + 1 + B * C,
                             .dw = bo,
                             .dw_off = o + 1 + B * C + B * H,
                             .dbias = bo,
                             .dbias_off = o + 1 + B * C + B * H + C * H};
        cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s",
                     clmsd_context_last_error(ctx));
        clmsd_head_destroy(head);
    }
    clmsd_dropout_desc dd = {.seed = 5, .step = 6, .samples = K, .rate = 0.3, .rows = B, .cols = H, .row_offset = 2};
    cr_assert_eq(clmsd_dropout_forward(ctx, &dd, bx, 0, H, bo, 2 * OUT, H, 0, NULL, NULL), CLMSD_SUCCESS);
    cr_assert_eq(clmsd_dropout_backward(ctx, &dd, bo, 2 * OUT, H, bo, 2 * OUT + K * B * H, H, 0, 0, NULL, NULL),
                 CLMSD_SUCCESS);
    test_read(ctx, bo, 0, out, 2 * OUT * 4 + K * B * H * 4 + B * H * 4);
    cl_mem bm = test_buffer(ctx, NULL, K * B * H);
    cr_assert_eq(clmsd_dropout_mask(ctx, &dd, bm, 0, 0, NULL, NULL), CLMSD_SUCCESS);
    test_read(ctx, bm, 0, mask, K * B * H);
    clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(bb), clReleaseMemObject(by);
    clReleaseMemObject(bo), clReleaseMemObject(bm);
    clmsd_context_destroy(ctx);
}

Test(portability, results_do_not_depend_on_the_work_group_size, .timeout = 900)
{
    const size_t floats = 2 * OUT + K * B * H + B * H;
    float *first = malloc(floats * 4), *now = malloc(floats * 4);
    uint8_t first_mask[K * B * H], now_mask[K * B * H];
    unsetenv("CLMSD_LOCAL_SIZE");
    run_all(first, first_mask);
    const char *sizes[] = {"1", "7", "64", "100000"}; /* the last is capped at each kernel's maximum */
    for (int i = 0; i < 4; ++i) {
        setenv("CLMSD_LOCAL_SIZE", sizes[i], 1);
        run_all(now, now_mask);
        cr_assert(memcmp(first, now, floats * 4) == 0, "fused or stream results changed with local size %s", sizes[i]);
        cr_assert(memcmp(first_mask, now_mask, sizeof now_mask) == 0, "masks changed with local size %s", sizes[i]);
    }
    unsetenv("CLMSD_LOCAL_SIZE");
    free(first), free(now);
}

/* The device list's strings are the drivers' own, whole (pocl's version string is 65 bytes), or cut
 * visibly with "..." when longer than their field: never blank, never silently short. */
Test(portability, device_strings_are_whole, .timeout = 300)
{
    size_t count = 0;
    cr_assert_eq(clmsd_devices_list(NULL, 0, &count), CLMSD_SUCCESS, "%s", clmsd_context_last_error(NULL));
    cr_assert(count > 0);
    clmsd_device_info *info = calloc(count, sizeof *info);
    cr_assert_eq(clmsd_devices_list(info, count, &count), CLMSD_SUCCESS);
    cl_platform_id platforms[16];
    cl_uint np = 0;
    clGetPlatformIDs(16, platforms, &np);
    for (size_t i = 0; i < count; ++i) {
        cl_device_id devices[64];
        cl_uint nd = 0;
        clGetDeviceIDs(platforms[info[i].platform_index], CL_DEVICE_TYPE_ALL, 64, devices, &nd);
        cl_device_id d = devices[info[i].device_index];
        const struct {
            cl_device_info what;
            const char *field, *name;
        } strings[] = {{CL_DEVICE_NAME, info[i].device_name, "device_name"},
                       {CL_DEVICE_VENDOR, info[i].vendor, "vendor"},
                       {CL_DRIVER_VERSION, info[i].driver_version, "driver_version"},
                       {CL_DEVICE_VERSION, info[i].opencl_version, "opencl_version"}};
        for (size_t s = 0; s < sizeof strings / sizeof strings[0]; ++s) {
            char whole[4096] = "";
            clGetDeviceInfo(d, strings[s].what, sizeof whole, whole, NULL);
            size_t n = strlen(strings[s].field);
            bool same = strcmp(whole, strings[s].field) == 0;
            bool cut = n == sizeof info[i].opencl_version - 1 && !strcmp(strings[s].field + n - 3, "...") &&
                       !strncmp(whole, strings[s].field, n - 3);
            cr_assert(same || cut, "device %zu, %s: \"%s\", the driver's \"%s\"", i, strings[s].name, strings[s].field,
                      whole);
        }
        cr_assert(!strncmp(info[i].opencl_version, "OpenCL ", 7), "opencl_version \"%s\"", info[i].opencl_version);
    }
    free(info);
}
