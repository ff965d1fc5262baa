/* SPDX-License-Identifier: MIT */
/* Work-items per launch, as clEnqueueNDRangeKernel sees them (tests/faults/shim.c, preloaded): on
 * the token head (K 5, B 4096, H 768, C 15) the GPU tiling's fused kernels launch at least 65,536
 * work-items each, enough to fill a GPU (an H200 holds about 270,000 threads), and so do its pooled
 * kernels (the token head pooled from 2 layers); on the QUEST model's head (L 25, B 8, H 1024, C 30)
 * its pooled kernels launch at least 32,768 (the backward a work-item per Philox block and layer,
 * the forward a group of 32 per Philox block). The CPU tiling's counts are logged beside them. A $CLMSD_TILING that is
 * neither cpu nor gpu fails context creation. */
#include "helpers.h"

#include <dlfcn.h>

static size_t (*launch_items)(const char *kernel);

/* one train step of the token head, pooled from 2 layers, with every output, on a context of `tiling` */
static void token_step(const char *tiling)
{
    setenv("CLMSD_TILING", tiling, 1);
    clmsd_context *ctx = test_context();
    unsetenv("CLMSD_TILING");
    cr_assert_str_eq(clmsd_context_tiling(ctx), tiling);
    enum { B = 4096, H = 768, C = 15, K = 5, L = 2 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = K,
                         .rate = 0.5,
                         .combine = CLMSD_AVERAGE_LOSSES,
                         .engine = CLMSD_ENGINE_FUSED,
                         .layers = L,
                         .layer_rate = 0.1};
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    int32_t *target = calloc(B, sizeof *target);
    cl_mem bx = test_buffer(ctx, NULL, (size_t)L * B * H * 4), bw = test_buffer(ctx, NULL, (size_t)C * H * 4);
    cl_mem bt = test_buffer(ctx, target, B * 4), bdx = test_buffer(ctx, NULL, (size_t)L * B * H * 4);
    cl_mem bdw = test_buffer(ctx, NULL, (size_t)C * H * 4), bdb = test_buffer(ctx, NULL, C * 4);
    cl_mem blw = test_buffer(ctx, NULL, L * 4), bdlw = test_buffer(ctx, NULL, L * 4);
    clmsd_head_args a = {.x = bx,
                         .w = bw,
                         .target = bt,
                         .dx = bdx,
                         .dw = bdw,
                         .dbias = bdb,
                         .layer_weights = blw,
                         .dlayer_weights = bdlw};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clFinish(clmsd_context_queue(ctx)), CL_SUCCESS);
    clmsd_head_destroy(head);
    cl_mem all[] = {bx, bw, bt, bdx, bdw, bdb, blw, bdlw};
    for (int i = 0; i < 8; ++i)
        clReleaseMemObject(all[i]);
    free(target);
    clmsd_context_destroy(ctx);
}

Test(launches, gpu_tiling_fills_a_gpu_on_the_token_head, .timeout = 1200)
{
    *(void **)&launch_items = dlsym(RTLD_DEFAULT, "fault_launch_items");
    cr_assert(launch_items, "run with LD_PRELOAD=libclmsd_fault_shim.so (meson test does)");
    token_step("cpu");
    const char *cpu[] = {"clmsd_fused_logits", "clmsd_fused_dw", "clmsd_fused_dx", "clmsd_block_tree_tiled"};
    for (int i = 0; i < 4; ++i)
        cr_log_info("cpu tiling: %s %zu work-items", cpu[i], launch_items(cpu[i]));
    token_step("gpu");
    const char *gpu[] = {"clmsd_fused_logits_gpu", "clmsd_fused_dw_gpu", "clmsd_fused_dx_gpu", "clmsd_layer_pool_gpu",
                         "clmsd_layer_unpool_gpu"};
    for (int i = 0; i < 5; ++i) {
        size_t n = launch_items(gpu[i]);
        cr_log_info("gpu tiling: %s %zu work-items", gpu[i], n);
        cr_assert(n >= 65536, "%s launched %zu work-items on the token head, fewer than 65,536", gpu[i], n);
    }
}

/* one train step of the QUEST model's pooled head (dX and the layers' gradient), on `tiling` */
static void quest_step(const char *tiling)
{
    setenv("CLMSD_TILING", tiling, 1);
    clmsd_context *ctx = test_context();
    unsetenv("CLMSD_TILING");
    enum { L = 25, B = 8, H = 1024, C = 30 };
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = 5,
                         .rate = 0.5,
                         .loss = CLMSD_LOSS_BCE_WITH_LOGITS,
                         .combine = CLMSD_AVERAGE_LOGITS,
                         .engine = CLMSD_ENGINE_FUSED,
                         .layers = L,
                         .layer_rate = 0.1};
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_mem bx = test_buffer(ctx, NULL, (size_t)L * B * H * 4), bw = test_buffer(ctx, NULL, (size_t)C * H * 4);
    cl_mem bt = test_buffer(ctx, NULL, (size_t)B * C * 4), bdx = test_buffer(ctx, NULL, (size_t)L * B * H * 4);
    cl_mem bdw = test_buffer(ctx, NULL, (size_t)C * H * 4), blw = test_buffer(ctx, NULL, L * 4);
    cl_mem bdlw = test_buffer(ctx, NULL, L * 4);
    clmsd_head_args a = {
        .x = bx, .w = bw, .target = bt, .dx = bdx, .dw = bdw, .layer_weights = blw, .dlayer_weights = bdlw};
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cr_assert_eq(clFinish(clmsd_context_queue(ctx)), CL_SUCCESS);
    clmsd_head_destroy(head);
    cl_mem all[] = {bx, bw, bt, bdx, bdw, blw, bdlw};
    for (int i = 0; i < 7; ++i)
        clReleaseMemObject(all[i]);
    clmsd_context_destroy(ctx);
}

Test(launches, gpu_tiling_spreads_the_pooled_kernels_over_layers, .timeout = 1200)
{
    *(void **)&launch_items = dlsym(RTLD_DEFAULT, "fault_launch_items");
    cr_assert(launch_items, "run with LD_PRELOAD=libclmsd_fault_shim.so (meson test does)");
    quest_step("cpu");
    cr_log_info("cpu tiling: clmsd_layer_pool %zu, clmsd_layer_unpool %zu work-items", launch_items("clmsd_layer_pool"),
                launch_items("clmsd_layer_unpool"));
    quest_step("gpu");
    size_t pool = launch_items("clmsd_layer_pool_gpu"), unpool = launch_items("clmsd_layer_unpool_gpu");
    cr_log_info("gpu tiling: clmsd_layer_pool_gpu %zu, clmsd_layer_unpool_gpu %zu work-items", pool, unpool);
    cr_assert(pool >= 32768, "clmsd_layer_pool_gpu launched %zu work-items on the QUEST head, fewer than 32,768", pool);
    cr_assert(unpool >= 32768, "clmsd_layer_unpool_gpu launched %zu work-items on the QUEST head, fewer than 32,768",
              unpool);
}

Test(launches, a_bad_tiling_is_a_clear_error)
{
    setenv("CLMSD_TILING", "fpga", 1);
    clmsd_context *ctx = (clmsd_context *)1;
    clmsd_status st = clmsd_context_create(NULL, &ctx);
    unsetenv("CLMSD_TILING");
    cr_assert_eq(st, CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_null(ctx);
    cr_assert(strstr(clmsd_context_last_error(NULL), "CLMSD_TILING") != NULL, "message: %s",
              clmsd_context_last_error(NULL));
}
