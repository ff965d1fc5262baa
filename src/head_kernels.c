/* SPDX-License-Identifier: MIT */
/* The head's engine-independent kernels (cl/head.cl): the loss and its gradient per row, the loss
 * reduction, the mean logits and the bias gradient. Both engines call these around their GEMMs. */
#include "head.h"

clmsd_status clmsd__head_mean_logits(clmsd_head *h, cl_mem bias, size_t bias_off, cl_uint samples, float inv_samples,
                                     cl_mem out, size_t out_off)
{
    const clmsd_head_desc *d = &h->desc;
    return clmsd__run_head_mean_logits(h->ctx, d->batch * d->classes, 0, h->workspace, h->ws_z, d->batch,
                                       (cl_uint)d->classes, samples, inv_samples, bias, bias_off, bias != NULL, out,
                                       out_off);
}

clmsd_status clmsd__head_loss(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, int grad, int counted)
{
    const clmsd_head_desc *d = &h->desc;
    const clmsd_head_shard *shard = a->shard;
    float scale = clmsd__head_scale(d, shard ? shard->global_batch : d->batch), kprime = clmsd__head_kprime(d);
    enum { ONE_GROUP = 1 }; /* a reduction is one work-group, whatever size the device gives it */
    bool ce = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    if (ce && shard) /* the whole batch's count, in place of the shard's */
        CLMSD__TRY(clmsd__fill(h->ctx, h->workspace, h->ws_counter, 1, (uint32_t)shard->valid_ids));
    else if (ce && !counted)
        CLMSD__TRY(clmsd__run_head_count_valid(h->ctx, ONE_GROUP, 0, a->target, a->target_off, d->batch,
                                               (cl_uint)d->classes, h->workspace, h->ws_counter));
    CLMSD__TRY(clmsd__run_head_loss_rows(
        h->ctx, h->rows, 0, h->workspace, h->ws_z, h->rows, d->batch, (cl_uint)d->classes, a->bias, a->bias_off,
        a->bias != NULL, a->target, a->target_off, (cl_int)d->loss, clmsd__head_loss_param(d), scale, h->workspace,
        h->ws_counter, kprime, h->workspace, h->ws_rowloss, h->workspace, h->ws_g, h->ldg, grad));
    if (!a->loss && !a->ignored)
        return CLMSD_SUCCESS;
    return clmsd__run_head_reduce_loss(h->ctx, ONE_GROUP, 0, h->workspace, h->ws_rowloss, h->rows, d->batch,
                                       s->row_offset, h->workspace, h->ws_loss_part, (cl_int)d->loss, scale,
                                       h->workspace, h->ws_counter, kprime, shard != NULL, a->loss, a->loss_off,
                                       a->ignored, a->ignored_off);
}

clmsd_status clmsd__head_bias_grad(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s)
{
    return clmsd__run_head_bias_grad(h->ctx, h->desc.classes, 0, h->workspace, h->ws_g, h->ldg, h->rows, h->desc.batch,
                                     s->row_offset, (cl_uint)h->desc.classes, h->workspace, h->ws_part, a->dbias,
                                     a->dbias_off, a->accumulate);
}

clmsd_status clmsd__head_row_logits(clmsd_head *h, const clmsd_head_args *a)
{
    const clmsd_head_desc *d = &h->desc;
    /* the mean of one sample: fma(z, 1, b) = z + b rounded once */
    return clmsd__run_head_mean_logits(h->ctx, h->rows * d->classes, 0, h->workspace, h->ws_z, h->rows,
                                       (cl_uint)d->classes, 1, 1.0f, a->bias, a->bias_off, a->bias != NULL, a->logits,
                                       a->logits_off);
}

clmsd_status clmsd__head_load_grad(clmsd_head *h, const clmsd_head_args *a)
{
    return clmsd__run_head_load_grad(h->ctx, h->rows * h->ldg, 0, a->dlogits, a->dlogits_off, h->rows,
                                     (cl_uint)h->desc.classes, h->workspace, h->ws_g, h->ldg);
}
