/* SPDX-License-Identifier: MIT */
/* The head's engine-independent kernels (cl/head.cl): the loss and its gradient per row, the loss
 * reduction, the mean logits and the bias gradient. Both engines call these around their GEMMs. */
#include "head.h"

clmsd_status clmsd__head_mean_logits(clmsd_head *h, cl_mem bias, size_t bias_off, cl_uint samples, float inv_samples,
                                     cl_mem out, size_t out_off)
{
    const clmsd_head_desc *d = &h->desc;
    return CLMSD__RUN(h->ctx, CLMSD__K_HEAD_MEAN_LOGITS, d->batch * d->classes, CLMSD__MEM(h->workspace),
                      CLMSD__U64(h->ws_z), CLMSD__U64(d->batch), CLMSD__U32(d->classes), CLMSD__U32(samples),
                      CLMSD__F32(inv_samples), CLMSD__MEM(bias), CLMSD__U64(bias_off), CLMSD__I32(bias != NULL),
                      CLMSD__MEM(out), CLMSD__U64(out_off));
}

clmsd_status clmsd__head_loss(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, int grad, int counted)
{
    const clmsd_head_desc *d = &h->desc;
    const clmsd_head_shard *shard = a->shard;
    float scale = clmsd__head_scale(d, shard ? shard->global_batch : d->batch), kprime = clmsd__head_kprime(d);
    enum { ONE_GROUP = 1 }; /* a reduction is one work-group, whatever size the device gives it */
    clmsd_status st = CLMSD_SUCCESS;
    bool ce = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    if (ce && shard) /* the whole batch's count, in place of the shard's */
        st = clmsd__fill(h->ctx, h->workspace, h->ws_counter, 1, (uint32_t)shard->valid_ids);
    else if (ce && !counted)
        st = CLMSD__RUN(h->ctx, CLMSD__K_HEAD_COUNT_VALID, ONE_GROUP, CLMSD__MEM(a->target), CLMSD__U64(a->target_off),
                        CLMSD__U64(d->batch), CLMSD__U32(d->classes), CLMSD__MEM(h->workspace),
                        CLMSD__U64(h->ws_counter));
    if (st == CLMSD_SUCCESS)
        st = CLMSD__RUN(h->ctx, CLMSD__K_HEAD_LOSS_ROWS, h->rows, CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_z),
                        CLMSD__U64(h->rows), CLMSD__U64(d->batch), CLMSD__U32(d->classes), CLMSD__MEM(a->bias),
                        CLMSD__U64(a->bias_off), CLMSD__I32(a->bias != NULL), CLMSD__MEM(a->target),
                        CLMSD__U64(a->target_off), CLMSD__I32(d->loss), CLMSD__F32(scale), CLMSD__MEM(h->workspace),
                        CLMSD__U64(h->ws_counter), CLMSD__F32(kprime), CLMSD__MEM(h->workspace),
                        CLMSD__U64(h->ws_rowloss), CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_g), CLMSD__U64(h->ldg),
                        CLMSD__I32(grad));
    if (st == CLMSD_SUCCESS && (a->loss || a->ignored))
        st = CLMSD__RUN(h->ctx, CLMSD__K_HEAD_REDUCE_LOSS, ONE_GROUP, CLMSD__MEM(h->workspace),
                        CLMSD__U64(h->ws_rowloss), CLMSD__U64(h->rows), CLMSD__U64(d->batch), CLMSD__U64(s->row_offset),
                        CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_loss_part), CLMSD__I32(d->loss), CLMSD__F32(scale),
                        CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_counter), CLMSD__F32(kprime),
                        CLMSD__I32(shard != NULL), CLMSD__MEM(a->loss), CLMSD__U64(a->loss_off), CLMSD__MEM(a->ignored),
                        CLMSD__U64(a->ignored_off));
    return st;
}

clmsd_status clmsd__head_bias_grad(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s)
{
    return CLMSD__RUN(h->ctx, CLMSD__K_HEAD_BIAS_GRAD, h->desc.classes, CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_g),
                      CLMSD__U64(h->ldg), CLMSD__U64(h->rows), CLMSD__U64(h->desc.batch), CLMSD__U64(s->row_offset),
                      CLMSD__U32(h->desc.classes), CLMSD__MEM(h->workspace), CLMSD__U64(h->ws_part),
                      CLMSD__MEM(a->dbias), CLMSD__U64(a->dbias_off), CLMSD__I32(a->accumulate));
}
