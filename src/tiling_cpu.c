/* SPDX-License-Identifier: MIT */
/* The CPU tiling (cl/dropout.cl, cl/fused.cl): few work-items, each with wide vectors. A dropout
 * work-item takes 8 of the stream's Philox blocks; the fused GEMMs work on register tiles of 8
 * rows by 32 classes (CLMSD_TILE_ROWS, CLMSD_CLASS_TILE) against W transposed and padded, and
 * write dW's block sums tiled [C/32][H/4][4][32]. */
#include "head.h"
#include "tiling.h"

#include "../cl/clmsd_tree.h"

/* G's and WT's columns: 16 for up to 16 classes (a narrow tile), else C rounded up to the tile */
static size_t ldg(const clmsd_head_desc *d)
{
    if (d->classes <= CLMSD_CLASS_TILE / 2)
        return CLMSD_CLASS_TILE / 2;
    return (d->classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE * CLMSD_CLASS_TILE;
}

/* the tiled dW layout's sums: C padded to the class tile by H padded to 4 (a multiple of 128) */
static bool dw_sums(const clmsd_head_desc *d, size_t *out)
{
    size_t c = (d->classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE * CLMSD_CLASS_TILE;
    return clmsd__mul(c, (d->features + 3) / 4 * 4, out);
}

static bool space(const clmsd_head_desc *d, clmsd__engine_space *out)
{
    out->ldg = ldg(d);
    return dw_sums(d, &out->block_sums) && clmsd__add(out->block_sums, d->classes, &out->block_sums) &&
           clmsd__mul(d->features, out->ldg, &out->wt);
}

/* the dropout kernels' work-items: 8 of the stream's blocks each */
static size_t dropout_items(const clmsd__stream *s) { return (s->blocks + 7) / 8; }

static clmsd_status dropout_forward(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem x, size_t x_off,
                                    size_t ldx, clmsd_type x_type, cl_mem y, size_t y_off, size_t ldy)
{
    return clmsd__run_dropout_forward(ctx, dropout_items(s), s->samples, x, x_off, ldx, x_type, y, y_off, ldy, params,
                                      s->samples, s->rows, s->cols, s->row_offset, s->seed, s->step, s->first_block,
                                      s->blocks, s->stream);
}

static clmsd_status dropout_sum(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem dy, size_t dy_off,
                                size_t dy_kstride, size_t ldy, clmsd_type dy_type, cl_mem dx, size_t dx_off, size_t ldx,
                                clmsd_type dx_type, float scale, int apply_scale, int accumulate)
{
    return clmsd__run_dropout_sum(ctx, dropout_items(s), 0, dy, dy_off, dy_kstride, ldy, dy_type, dx, dx_off, ldx,
                                  dx_type, params, s->samples, s->rows, s->cols, s->row_offset, s->seed, s->step,
                                  s->first_block, s->blocks, s->stream, scale, apply_scale, accumulate);
}

static clmsd_status dropout_mask(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem mask,
                                 size_t mask_off)
{
    return clmsd__run_dropout_mask(ctx, dropout_items(s), s->samples, mask, mask_off, params, s->samples, s->rows,
                                   s->cols, s->row_offset, s->seed, s->step, s->first_block, s->blocks, s->stream);
}

/* the class tiles of G and WT: one narrow tile of 16 classes, or ldg / 32 tiles of 32 */
static size_t class_tiles(const clmsd_head *h) { return h->ldg < CLMSD_CLASS_TILE ? 1 : h->ldg / CLMSD_CLASS_TILE; }

/* WT = W^T, padded; with a CE target, the count of valid ids too (one launch fewer) */
static clmsd_status fused_begin(clmsd_head *h, const clmsd_head_args *a, bool count, bool *counted)
{
    const clmsd_head_desc *d = &h->desc;
    *counted = count;
    return clmsd__run_transpose_pad(h->ctx, class_tiles(h) * ((d->features + 15) / 16), 0, a->w, a->w_off, h->workspace,
                                    h->ws_wt, d->features, (cl_uint)d->classes, (cl_uint)h->ldg,
                                    count ? a->target : NULL, a->target_off, d->batch, count ? h->workspace : NULL,
                                    h->ws_counter);
}

static clmsd_status fused_logits(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x,
                                 size_t x_off, clmsd_type x_type, cl_uint samples, cl_int masked)
{
    (void)a;
    const clmsd_head_desc *d = &h->desc;
    /* a work-item's 8 rows: 8 samples of a batch row for every class tile (masked), or 8 batch
     * rows for one class tile (plain) */
    size_t work_items = masked ? (samples + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS * d->batch
                               : (d->batch + CLMSD_TILE_ROWS - 1) / CLMSD_TILE_ROWS * class_tiles(h);
    return clmsd__run_fused_logits(h->ctx, work_items, 0, x, x_off, x_type, h->workspace, h->ws_wt, h->workspace,
                                   h->ws_z, d->batch, d->features, (cl_uint)d->classes, (cl_uint)h->ldg, samples,
                                   masked, h->params, s->row_offset, s->seed, s->step, s->stream);
}

static clmsd_status fused_dw(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x, size_t x_off,
                             clmsd_type x_type, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    size_t blocks = clmsd_block_count(s->row_offset, d->batch), ch, count;
    dw_sums(d, &ch); /* (no overflow: the head's workspace holds them) */
    count = ch + d->classes;
    /* a work-item per 8 features of a row block, every class */
    CLMSD__TRY(clmsd__run_fused_dw(h->ctx, blocks * ((d->features + 7) / 8), 0, h->workspace, h->ws_g, h->ldg, x, x_off,
                                   x_type, h->workspace, h->ws_part, count, d->batch, d->features, (cl_uint)d->classes,
                                   d->samples, averaged, h->params, s->row_offset, s->seed, s->step, s->stream,
                                   a->dbias != NULL));
    size_t n_db = a->dbias ? d->classes : 0;
    /* the tree: one work-item per 16 sums of dW, one per db */
    return clmsd__run_block_tree_tiled(h->ctx, ch / 16 + n_db, 0, h->workspace, h->ws_part, count,
                                       clmsd_first_block(s->row_offset), blocks, a->dw, a->dw_off, ch, a->dbias,
                                       a->dbias_off, n_db, (cl_uint)d->classes, d->features, a->accumulate);
}

/* Runs of 32 stream elements per row: 8 v1 blocks of 4 elements, or 2 u8 blocks of 16. With H a
 * multiple of the block every row starts on a block boundary and spans H / block blocks;
 * otherwise a row may touch a part block at each end. */
static size_t runs_per_row(const clmsd_head_desc *d, const clmsd__stream *s)
{
    size_t n = s->stream == CLMSD_STREAM_PHILOX_V1_U8 ? 16 : 4, per_run = 32 / n, h = d->features;
    size_t blocks = h % n == 0 ? h / n : (h + n - 2) / n + 1;
    return (blocks + per_run - 1) / per_run;
}

static clmsd_status fused_dx(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    size_t runs = runs_per_row(d, s);
    return clmsd__run_fused_dx(h->ctx, d->batch * runs, 0, h->workspace, h->ws_g, h->ldg, a->w, a->w_off, a->dx,
                               a->dx_off, s->dx_type, d->batch, d->features, (cl_uint)d->classes, d->samples, averaged,
                               clmsd__head_inv_samples(d), h->params, s->row_offset, s->seed, s->step, s->stream,
                               a->accumulate, runs);
}

const clmsd__tiling clmsd__tiling_cpu =
    CLMSD__TILING_TABLE("cpu", clmsd__run_layer_pool, clmsd__run_layer_unpool, false, false);
