/* SPDX-License-Identifier: MIT */
/* The fused engine (cl/fused.cl, cl/fused_gpu.cl): masks regenerated inside our own GEMM kernels,
 * Xd never written. Every sum runs in canonical order v2 (docs/canonical-order.md), so results
 * equal clmsd_ref_head_exact_* bit for bit under either tiling: the CPU tiling (wide vectors, few
 * work-items; W transposed and padded first) or the GPU tiling (many work-items, W in place).
 *
 * Average losses: (WT = W^T and the CE valid-id count) -> fused logits on the K*B stacked rows ->
 * loss rows -> loss -> fused dW and db block sums -> their tree, fused dX. Average logits: Xbar =
 * X (1/K) sum_k keep_k s_k (the dropout-sum kernel) -> plain logits on Xbar -> loss -> dW on
 * Xbar, dX with the averaged mask. Small jobs ride on the big kernels where they fit, to save
 * launches. */
#include "dropout.h"
#include "head.h"
#include "../cl/clmsd_tree.h"

/* the CPU tiling's class tiles: one narrow tile of 16 classes, or ldg / 32 tiles of 32 */
static size_t class_tiles(const clmsd_head *h) { return h->ldg < CLMSD_CLASS_TILE ? 1 : h->ldg / CLMSD_CLASS_TILE; }

/* WT = W^T, padded; with a CE target, the count of valid ids too (one launch fewer) */
static clmsd_status transpose_w(clmsd_head *h, const clmsd_head_args *a, bool count)
{
    const clmsd_head_desc *d = &h->desc;
    size_t tiles = class_tiles(h);
    return CLMSD__RUN(h->ctx, CLMSD__K_TRANSPOSE_PAD, tiles * ((d->features + 15) / 16), CLMSD__MEM(a->w),
                      CLMSD__U64(a->w_off), CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_wt), CLMSD__U64(d->features),
                      CLMSD__U32(d->classes), CLMSD__U32(h->ldg), CLMSD__MEM(count ? a->target : NULL),
                      CLMSD__U64(a->target_off), CLMSD__U64(d->batch), CLMSD__MEM(count ? h->workspace : NULL),
                      CLMSD__U64(h->ws_counter));
}

/* Z = xd W^T into the workspace, x of x_type; masked = 0: no masks (predict, Xbar). */
static clmsd_status logits(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x, size_t x_off,
                           clmsd_type x_type, cl_uint samples, cl_int masked)
{
    const clmsd_head_desc *d = &h->desc;
    if (h->ctx->gpu_tiling)
        return CLMSD__RUN(h->ctx, CLMSD__K_FUSED_LOGITS_GPU, samples * d->batch * ((d->classes + 3) / 4), CLMSD__MEM(x),
                          CLMSD__U64(x_off), CLMSD__U32(x_type), CLMSD__MEM(a->w), CLMSD__U64(a->w_off),
                          CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_z), CLMSD__U64(d->batch), CLMSD__U64(d->features),
                          CLMSD__U32(d->classes), CLMSD__U32(samples), CLMSD__I32(masked), CLMSD__MEM(h->params),
                          CLMSD__U64(s->row_offset), CLMSD__U64(s->seed), CLMSD__U64(s->step), CLMSD__I32(s->stream));
    size_t tiles = class_tiles(h);
    /* a work-item's 8 rows: 8 samples of a batch row for every class tile (masked), or 8 batch
     * rows for one class tile (plain) */
    size_t work_items = masked ? (samples + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS * d->batch
                               : (d->batch + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS * tiles;
    return CLMSD__RUN(h->ctx, CLMSD__K_FUSED_LOGITS, work_items, CLMSD__MEM(x), CLMSD__U64(x_off), CLMSD__U32(x_type),
                      CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_wt), CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_z),
                      CLMSD__U64(d->batch), CLMSD__U64(d->features), CLMSD__U32(d->classes), CLMSD__U32(h->ldg),
                      CLMSD__U32(samples), CLMSD__I32(masked), CLMSD__MEM(h->params), CLMSD__U64(s->row_offset),
                      CLMSD__U64(s->seed), CLMSD__U64(s->step), CLMSD__I32(s->stream));
}

/* dW's (and db's) block sums into the workspace, then their tree into the caller's buffers */
static clmsd_status dw(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x, size_t x_off,
                       clmsd_type x_type, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    bool gpu = h->ctx->gpu_tiling, with_db = a->dbias != NULL;
    size_t quads = (d->features + 3) / 4, blocks = clmsd_block_count(s->row_offset, d->batch);
    size_t class_groups = gpu ? (d->classes + 3) / 4 : (d->classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE;
    /* the block sums' layout: dense [C, H] (GPU tiling) or tiled [C/32][H/4][4][32] (CPU tiling) */
    size_t ch = gpu ? d->classes * d->features : class_groups * CLMSD_CLASS_TILE * quads * 4;
    size_t count = ch + d->classes;
    clmsd_status st =
        CLMSD__RUN(h->ctx, gpu ? CLMSD__K_FUSED_DW_GPU : CLMSD__K_FUSED_DW,
                   blocks * (gpu ? class_groups * quads : (d->features + 7) / 8), /* CPU: 8 features, every class */
                   CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_g), CLMSD__U64(h->ldg), CLMSD__MEM(x), CLMSD__U64(x_off),
                   CLMSD__U32(x_type), CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_part), CLMSD__U64(count),
                   CLMSD__U64(d->batch), CLMSD__U64(d->features), CLMSD__U32(d->classes), CLMSD__U32(d->samples),
                   CLMSD__I32(averaged), CLMSD__MEM(h->params), CLMSD__U64(s->row_offset), CLMSD__U64(s->seed),
                   CLMSD__U64(s->step), CLMSD__I32(s->stream), CLMSD__I32(with_db));
    if (st != CLMSD_SUCCESS)
        return st;
    size_t n_db = with_db ? d->classes : 0;
    cl_ulong first = clmsd_first_block(s->row_offset);
    if (gpu)
        return CLMSD__RUN(h->ctx, CLMSD__K_BLOCK_TREE, ch + n_db, CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_part),
                          CLMSD__U64(count), CLMSD__U64(first), CLMSD__U64(blocks), CLMSD__MEM(a->dw),
                          CLMSD__U64(a->dw_off), CLMSD__U64(ch), CLMSD__MEM(a->dbias), CLMSD__U64(a->dbias_off),
                          CLMSD__U64(n_db), CLMSD__I32(a->accumulate));
    /* the tiled layout: one work-item per 16 sums of dW (ch is a multiple of 128), one per db */
    return CLMSD__RUN(h->ctx, CLMSD__K_BLOCK_TREE_TILED, ch / 16 + n_db, CLMSD__MEM(h->workspace),
                      CLMSD__U64(h->ws_part), CLMSD__U64(count), CLMSD__U64(first), CLMSD__U64(blocks),
                      CLMSD__MEM(a->dw), CLMSD__U64(a->dw_off), CLMSD__U64(ch), CLMSD__MEM(a->dbias),
                      CLMSD__U64(a->dbias_off), CLMSD__U64(n_db), CLMSD__U32(d->classes), CLMSD__U64(d->features),
                      CLMSD__I32(a->accumulate));
}

/* Runs of 32 stream elements per row, CPU tiling: 8 v1 blocks of 4 elements, or 2 u8 blocks of
 * 16. With H a multiple of the block every row starts on a block boundary and spans H / block
 * blocks; otherwise a row may touch a part block at each end. */
static size_t runs_per_row(const clmsd_head_desc *d, const clmsd__stream *s)
{
    size_t n = s->stream == CLMSD_STREAM_PHILOX_V1_U8 ? 16 : 4, per_run = 32 / n, h = d->features;
    size_t blocks = h % n == 0 ? h / n : (h + n - 2) / n + 1;
    return (blocks + per_run - 1) / per_run;
}

static clmsd_status dx(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    if (h->ctx->gpu_tiling)
        return CLMSD__RUN(h->ctx, CLMSD__K_FUSED_DX_GPU, d->batch * ((d->features + 3) / 4), CLMSD__MEM(h->workspace),
                          CLMSD__U64(h->ws_g), CLMSD__U64(h->ldg), CLMSD__MEM(a->w), CLMSD__U64(a->w_off),
                          CLMSD__MEM(a->dx), CLMSD__U64(a->dx_off), CLMSD__U32(s->dx_type), CLMSD__U64(d->batch),
                          CLMSD__U64(d->features), CLMSD__U32(d->classes), CLMSD__U32(d->samples), CLMSD__I32(averaged),
                          CLMSD__F32(clmsd__head_inv_samples(d)), CLMSD__MEM(h->params), CLMSD__U64(s->row_offset),
                          CLMSD__U64(s->seed), CLMSD__U64(s->step), CLMSD__I32(s->stream), CLMSD__I32(a->accumulate));
    size_t runs = runs_per_row(d, s);
    return CLMSD__RUN(
        h->ctx, CLMSD__K_FUSED_DX, d->batch * runs, CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_g), CLMSD__U64(h->ldg),
        CLMSD__MEM(a->w), CLMSD__U64(a->w_off), CLMSD__MEM(a->dx), CLMSD__U64(a->dx_off), CLMSD__U32(s->dx_type),
        CLMSD__U64(d->batch), CLMSD__U64(d->features), CLMSD__U32(d->classes), CLMSD__U32(d->samples),
        CLMSD__I32(averaged), CLMSD__F32(clmsd__head_inv_samples(d)), CLMSD__MEM(h->params), CLMSD__U64(s->row_offset),
        CLMSD__U64(s->seed), CLMSD__U64(s->step), CLMSD__I32(s->stream), CLMSD__I32(a->accumulate), CLMSD__U64(runs));
}

static clmsd_status run(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, clmsd__head_mode mode)
{
    const clmsd_head_desc *d = &h->desc;
    /* (a shard's count is the whole batch's, given) */
    bool ce_count = mode != CLMSD__PREDICT && a->target && d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && !a->shard;
    bool counted = ce_count && !h->ctx->gpu_tiling; /* the CPU tiling's transpose counts the ids */
    clmsd_status st = h->ctx->gpu_tiling ? CLMSD_SUCCESS : transpose_w(h, a, ce_count);
    if (st == CLMSD_SUCCESS && mode == CLMSD__PREDICT)
        st = logits(h, a, s, a->x, a->x_off, s->x_type, 1, 0);
    if (mode == CLMSD__PREDICT)
        return st ? st : clmsd__head_mean_logits(h, a->bias, a->bias_off, 1, 1.0f, a->logits, a->logits_off);
    bool averaged = d->combine == CLMSD_AVERAGE_LOGITS;
    if (st == CLMSD_SUCCESS && averaged) {
        st = clmsd__enqueue_dropout_sum(h->ctx, s, h->params, a->x, a->x_off, 0, d->features, s->x_type, h->workspace,
                                        h->ws_xd, d->features, CLMSD_FLOAT32, clmsd__head_inv_samples(d), 1, 0);
        if (st == CLMSD_SUCCESS)
            st = clmsd__order(h->ctx);
    }
    if (st == CLMSD_SUCCESS)
        st = averaged ? logits(h, a, s, h->workspace, h->ws_xd, CLMSD_FLOAT32, 1, 0)
                      : logits(h, a, s, a->x, a->x_off, s->x_type, d->samples, 1);
    int grad = mode == CLMSD__TRAIN && (a->dx || a->dw || a->dbias);
    if (st == CLMSD_SUCCESS && a->target)
        st = clmsd__head_loss(h, a, s, grad, counted);
    if (st == CLMSD_SUCCESS && a->logits)
        st = clmsd__head_mean_logits(h, a->bias, a->bias_off, averaged ? 1 : d->samples,
                                     averaged ? 1.0f : clmsd__head_inv_samples(d), a->logits, a->logits_off);
    if (st == CLMSD_SUCCESS && grad && a->dw)
        st = averaged ? dw(h, a, s, h->workspace, h->ws_xd, CLMSD_FLOAT32, 1)
                      : dw(h, a, s, a->x, a->x_off, s->x_type, 0);
    if (st == CLMSD_SUCCESS && grad && a->dx)
        st = dx(h, a, s, averaged);
    if (st == CLMSD_SUCCESS && grad && a->dbias && !a->dw) /* else made by the dW kernel */
        st = clmsd__head_bias_grad(h, a, s);
    return st;
}

const clmsd__engine_impl clmsd__engine_fused = {.name = "fused", .run = run, .warmup = NULL};
