/* SPDX-License-Identifier: MIT */
/* The fused engine (cl/fused.cl, cl/fused_gpu.cl): masks regenerated inside our own GEMM kernels,
 * Xd never written. Every sum runs in canonical order v2 (docs/canonical-order.md), so results
 * equal clmsd_ref_head_exact_* bit for bit under every tiling (tiling.h: the context's table
 * launches the kernels in its shape; this file only orders them).
 *
 * Average losses: the tiling's begin (the CPU tiling's WT = W^T and CE valid-id count) -> fused
 * logits on the K*B stacked rows -> loss rows -> loss -> fused dW and db block sums -> their
 * tree, fused dX. Average logits: Xbar = X (1/K) sum_k keep_k s_k (the dropout-sum kernel) ->
 * plain logits on Xbar -> loss -> dW on Xbar, dX with the averaged mask. Small jobs ride on the
 * big kernels where they fit, to save launches. A backward of the caller's loss loads G in place
 * of the logits and the loss; a logits call stops after the logits. */
#include "head.h"
#include "tiling.h"

static clmsd_status run(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, clmsd__head_mode mode)
{
    const clmsd_head_desc *d = &h->desc;
    const clmsd__tiling *t = h->ctx->tiling;
    /* (a shard's count is the whole batch's, given) */
    bool ce_count = mode != CLMSD__PREDICT && a->target && d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && !a->shard;
    bool counted;
    CLMSD__TRY(t->fused_begin(h, a, ce_count, &counted));
    if (mode == CLMSD__PREDICT) {
        CLMSD__TRY(t->fused_logits(h, a, s, a->x, a->x_off, s->x_type, 1, 0));
        return clmsd__head_mean_logits(h, a->bias, a->bias_off, 1, 1.0f, a->logits, a->logits_off);
    }
    bool averaged = d->combine == CLMSD_AVERAGE_LOGITS;
    if (averaged) /* Xbar (dW reads it too), then its plain logits */
        CLMSD__TRY(t->dropout_sum(h->ctx, s, h->params, a->x, a->x_off, 0, d->features, s->x_type, h->workspace,
                                  h->ws_xd, d->features, CLMSD_FLOAT32, clmsd__head_inv_samples(d), 1, 0));
    if (mode == CLMSD__BACKWARD) /* G is the caller's: no logits, no loss */
        CLMSD__TRY(clmsd__head_load_grad(h, a));
    else if (averaged)
        CLMSD__TRY(t->fused_logits(h, a, s, h->workspace, h->ws_xd, CLMSD_FLOAT32, 1, 0));
    else
        CLMSD__TRY(t->fused_logits(h, a, s, a->x, a->x_off, s->x_type, d->samples, 1));
    if (mode == CLMSD__LOGITS)
        return clmsd__head_row_logits(h, a);
    int grad = (mode == CLMSD__TRAIN || mode == CLMSD__BACKWARD) && (a->dx || a->dw || a->dbias);
    if (a->target && mode != CLMSD__BACKWARD)
        CLMSD__TRY(clmsd__head_loss(h, a, s, grad, counted));
    if (a->logits && mode != CLMSD__BACKWARD)
        CLMSD__TRY(clmsd__head_mean_logits(h, a->bias, a->bias_off, averaged ? 1 : d->samples,
                                           averaged ? 1.0f : clmsd__head_inv_samples(d), a->logits, a->logits_off));
    if (grad && a->dw)
        CLMSD__TRY(averaged ? t->fused_dw(h, a, s, h->workspace, h->ws_xd, CLMSD_FLOAT32, 1)
                            : t->fused_dw(h, a, s, a->x, a->x_off, s->x_type, 0));
    if (grad && a->dx)
        CLMSD__TRY(t->fused_dx(h, a, s, averaged));
    if (grad && a->dbias && !a->dw) /* else made by the dW kernel */
        CLMSD__TRY(clmsd__head_bias_grad(h, a, s));
    return CLMSD_SUCCESS;
}

/* The workspace of the context's tiling, or (no context) the largest of every tiling's. */
static bool plan(const clmsd_context *ctx, const clmsd_head_desc *d, clmsd__engine_space *out)
{
    *out = (clmsd__engine_space){.xd_rows = d->combine == CLMSD_AVERAGE_LOGITS ? d->batch : 0};
    for (size_t i = 0; i < (ctx ? 1 : clmsd__tiling_count); ++i) {
        clmsd__engine_space t = {0};
        if (!(ctx ? ctx->tiling : clmsd__tilings[i])->space(d, &t))
            return false;
        clmsd__engine_space_widen(out, &t);
    }
    return true;
}

const clmsd__engine_impl clmsd__engine_fused = {.name = "fused", .plan = plan, .run = run, .warmup = NULL};
