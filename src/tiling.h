/* SPDX-License-Identifier: MIT */
/* A tiling: which work-item computes which partial result of the kernels that come in two shapes,
 * chosen once per context (context.c). It never changes the arithmetic (canonical order v2): every
 * tiling gives the same bits, and they differ only in speed (the CPU tiling: wide vectors and few
 * work-items, W transposed first; the GPU tiling: many work-items, W in place). Everything that
 * depends on the tiling is in its table: the launches of those kernels and the workspace they
 * need. Adding a tiling is a file like tiling_cpu.c and a row of clmsd__tilings (context.c). */
#ifndef CLMSD_TILING_H
#define CLMSD_TILING_H

#include "context.h"
#include "head_desc.h"
#include "stream_desc.h"

typedef struct clmsd__tiling {
    const char *name; /* $CLMSD_TILING's value and clmsd_context_tiling()'s */

    /* The fused engine's workspace (out's ldg, block_sums and wt); false when it overflows. */
    bool (*space)(const clmsd_head_desc *desc, clmsd__engine_space *out);

    /* The dropout kernels, params holding 2K words (clmsd__rate_table):
     * y (float) = dropout of x (x_type); dx (+)= scale * sum_k keep_k s_k dy_k with dy_k at
     * dy_off + k * dy_kstride (scale applied when apply_scale); the keep bits as bytes. */
    clmsd_status (*dropout_forward)(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem x, size_t x_off,
                                    size_t ldx, clmsd_type x_type, cl_mem y, size_t y_off, size_t ldy);
    clmsd_status (*dropout_sum)(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem dy, size_t dy_off,
                                size_t dy_kstride, size_t ldy, clmsd_type dy_type, cl_mem dx, size_t dx_off, size_t ldx,
                                clmsd_type dx_type, float scale, int apply_scale, int accumulate);
    clmsd_status (*dropout_mask)(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem mask,
                                 size_t mask_off);

    /* The fused engine's kernels (engine_fused.c): what comes before the logits (W transposed;
     * with count, CE's valid-id count too, and *counted says whether it was made), Z = xd W^T
     * (masked = 0: no masks), dW's and db's block sums and their tree, dX. */
    clmsd_status (*fused_begin)(clmsd_head *h, const clmsd_head_args *a, bool count, bool *counted);
    clmsd_status (*fused_logits)(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x,
                                 size_t x_off, clmsd_type x_type, cl_uint samples, cl_int masked);
    clmsd_status (*fused_dw)(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x, size_t x_off,
                             clmsd_type x_type, cl_int averaged);
    clmsd_status (*fused_dx)(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_int averaged);

    /* The pooled head's kernels (head_pool.c): one signature in every tiling. */
    clmsd__layer_pool_fn *layer_pool;
    clmsd__layer_unpool_fn *layer_unpool;
    bool unpool_by_layer; /* layer_unpool's second dimension is the layer (else one work-item walks all) */
    bool pool_by_group;   /* layer_pool runs a work-group of CLMSD_POOL_LANES per Philox block (else a work-item) */
} clmsd__tiling;

/* The table of a tiling file, whose functions have the table's names */
#define CLMSD__TILING_TABLE(name_, layer_pool_, layer_unpool_, unpool_by_layer_, pool_by_group_)                      \
    {                                                                                                                 \
        .name = name_, .space = space, .dropout_forward = dropout_forward, .dropout_sum = dropout_sum,                \
        .dropout_mask = dropout_mask, .fused_begin = fused_begin, .fused_logits = fused_logits, .fused_dw = fused_dw, \
        .fused_dx = fused_dx, .layer_pool = layer_pool_, .layer_unpool = layer_unpool_,                               \
        .unpool_by_layer = unpool_by_layer_, .pool_by_group = pool_by_group_                                          \
    }

extern const clmsd__tiling clmsd__tiling_cpu; /* tiling_cpu.c */
extern const clmsd__tiling clmsd__tiling_gpu; /* tiling_gpu.c */

/* Every tiling, for what must fit any of them (a workspace sized without a device). */
extern const clmsd__tiling *const clmsd__tilings[];
extern const size_t clmsd__tiling_count;

#endif
