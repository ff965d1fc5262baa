/* SPDX-License-Identifier: MIT */
/* The GPU tiling (cl/dropout_gpu.cl, cl/fused_gpu.cl): many work-items, each with few registers.
 * A dropout work-item takes one Philox block of the stream (v1: 4 elements, u8: 16); the fused
 * GEMMs give a work-item 4 classes (logits, dW) or 4 features (dX) of one row, read W in place,
 * and write dW's block sums dense [C, H]. */
#include "head.h"
#include "tiling.h"

#include "../cl/clmsd_tree.h"

static bool space(const clmsd_head_desc *d, clmsd__engine_space *out)
{
    out->ldg = (d->classes + 3) / 4 * 4; /* C rounded up to the 4-class vectors */
    out->wt = 0;                         /* W is read in place */
    return clmsd__mul(d->classes, d->features, &out->block_sums) &&
           clmsd__add(out->block_sums, d->classes, &out->block_sums);
}

static clmsd_status dropout_forward(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem x, size_t x_off,
                                    size_t ldx, clmsd_type x_type, cl_mem y, size_t y_off, size_t ldy)
{
    return clmsd__run_dropout_forward_gpu(ctx, s->blocks, s->samples, x, x_off, ldx, x_type, y, y_off, ldy, params,
                                          s->samples, s->rows, s->cols, s->row_offset, s->seed, s->step, s->first_block,
                                          s->blocks, s->stream);
}

static clmsd_status dropout_sum(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem dy, size_t dy_off,
                                size_t dy_kstride, size_t ldy, clmsd_type dy_type, cl_mem dx, size_t dx_off, size_t ldx,
                                clmsd_type dx_type, float scale, int apply_scale, int accumulate)
{
    return clmsd__run_dropout_sum_gpu(ctx, s->blocks, 0, dy, dy_off, dy_kstride, ldy, dy_type, dx, dx_off, ldx, dx_type,
                                      params, s->samples, s->rows, s->cols, s->row_offset, s->seed, s->step,
                                      s->first_block, s->blocks, s->stream, scale, apply_scale, accumulate);
}

static clmsd_status dropout_mask(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem mask,
                                 size_t mask_off)
{
    return clmsd__run_dropout_mask_gpu(ctx, s->blocks, s->samples, mask, mask_off, params, s->samples, s->rows, s->cols,
                                       s->row_offset, s->seed, s->step, s->first_block, s->blocks, s->stream);
}

/* W is read in place, and the loss kernels count CE's valid ids */
static clmsd_status fused_begin(clmsd_head *h, const clmsd_head_args *a, bool count, bool *counted)
{
    (void)h;
    (void)a;
    (void)count;
    *counted = false;
    return CLMSD_SUCCESS;
}

static clmsd_status fused_logits(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x,
                                 size_t x_off, clmsd_type x_type, cl_uint samples, cl_int masked)
{
    const clmsd_head_desc *d = &h->desc;
    return clmsd__run_fused_logits_gpu(h->ctx, samples * d->batch * ((d->classes + 3) / 4), 0, x, x_off, x_type, a->w,
                                       a->w_off, h->workspace, h->ws_z, d->batch, d->features, (cl_uint)d->classes,
                                       samples, masked, h->params, s->row_offset, s->seed, s->step, s->stream);
}

static clmsd_status fused_dw(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_mem x, size_t x_off,
                             clmsd_type x_type, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    size_t blocks = clmsd_block_count(s->row_offset, d->batch), ch = d->classes * d->features, count = ch + d->classes;
    /* a work-item per 4 classes by 4 features of a row block (v1), per 2 classes by 16 features
     * (u8, H >= 16: cl/fused_gpu.cl's clmsd_fused_dw_u8) */
    size_t items = blocks * ((d->classes + 3) / 4) * ((d->features + 3) / 4);
    if (s->stream != CLMSD_STREAM_PHILOX_V1 && d->features >= 16)
        items = blocks * ((d->classes + 1) / 2) * ((d->features + 15) / 16);
    CLMSD__TRY(clmsd__run_fused_dw_gpu(h->ctx, items, 0, h->workspace, h->ws_g, h->ldg, x, x_off, x_type, h->workspace,
                                       h->ws_part, count, d->batch, d->features, (cl_uint)d->classes, d->samples,
                                       averaged, h->params, s->row_offset, s->seed, s->step, s->stream,
                                       a->dbias != NULL));
    size_t n_db = a->dbias ? d->classes : 0;
    return clmsd__run_block_tree(h->ctx, ch + n_db, 0, h->workspace, h->ws_part, count,
                                 clmsd_first_block(s->row_offset), blocks, a->dw, a->dw_off, ch, a->dbias, a->dbias_off,
                                 n_db, a->accumulate);
}

static clmsd_status fused_dx(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, cl_int averaged)
{
    const clmsd_head_desc *d = &h->desc;
    /* v1: a work-item per 4 features of a row; u8: per u8 block a row spans (cl/fused_gpu.cl's
     * clmsd_dx_row_blocks) */
    size_t f = d->features, per_row = (f + 3) / 4;
    if (s->stream != CLMSD_STREAM_PHILOX_V1)
        per_row = f % 16 == 0 ? f / 16 : (f + 14) / 16 + 1;
    return clmsd__run_fused_dx_gpu(h->ctx, d->batch * per_row, 0, h->workspace, h->ws_g, h->ldg, a->w, a->w_off, a->dx,
                                   a->dx_off, s->dx_type, d->batch, d->features, (cl_uint)d->classes, d->samples,
                                   averaged, clmsd__head_inv_samples(d), h->params, s->row_offset, s->seed, s->step,
                                   s->stream, a->accumulate);
}

const clmsd__tiling clmsd__tiling_gpu =
    CLMSD__TILING_TABLE("gpu", clmsd__run_layer_pool_gpu, clmsd__run_layer_unpool_gpu, true, true);
