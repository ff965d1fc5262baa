/* The head's engine-independent kernels (cl/head.cl): the loss and its gradient per row, the loss
 * reduction, the mean logits and the bias gradient. Both engines call these around their GEMMs. */
#include "internal.h"

#define MEM sizeof(cl_mem)

clmsd_status clmsd__head_mean_logits(clmsd_head *h, cl_mem bias, size_t bias_off, cl_uint samples, float inv_samples,
                                     cl_mem out, size_t out_off)
{
    const clmsd_head_desc *d = &h->desc;
    cl_ulong zo = h->ws_z, batch = d->batch, bo = bias_off, oo = out_off;
    cl_uint classes = (cl_uint)d->classes;
    cl_int has_bias = bias != NULL;
    const size_t sz[] = {MEM, 8, 8, 4, 4, 4, MEM, 8, 4, MEM, 8};
    const void *val[] = {&h->workspace, &zo, &batch, &classes, &samples, &inv_samples, &bias, &bo, &has_bias, &out, &oo};
    return clmsd__run_kernel(h->ctx, CLMSD__K_HEAD_MEAN_LOGITS, 11, sz, val, d->batch * d->classes);
}

clmsd_status clmsd__head_loss(clmsd_head *h, const clmsd_head_args *a, int grad, int counted)
{
    const clmsd_head_desc *d = &h->desc;
    cl_ulong batch = d->batch, rows = h->rows, to = a->target_off, co = h->ws_counter, zo = h->ws_z;
    cl_ulong bo = a->bias_off, ro = h->ws_rowloss, go = h->ws_g, ldg = h->ldg, lo = a->loss_off, io = a->ignored_off;
    cl_uint classes = (cl_uint)d->classes;
    cl_int kind = (cl_int)d->loss, has_bias = a->bias != NULL;
    float scale = clmsd__head_scale(d), kprime = clmsd__head_kprime(d);
    clmsd_status st = CLMSD_SUCCESS;
    if (d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && !counted) {
        const size_t sz[] = {MEM, 8, 8, 4, MEM, 8};
        const void *val[] = {&a->target, &to, &batch, &classes, &h->workspace, &co};
        st = clmsd__run_kernel(h->ctx, CLMSD__K_HEAD_COUNT_VALID, 6, sz, val, CLMSD__REDUCE_GROUP);
    }
    if (st == CLMSD_SUCCESS) {
        const size_t sz[] = {MEM, 8, 8, 8, 4, MEM, 8, 4, MEM, 8, 4, 4, MEM, 8, 4, MEM, 8, MEM, 8, 8, 4};
        const void *val[] = {&h->workspace, &zo, &rows, &batch, &classes, &a->bias, &bo, &has_bias, &a->target, &to,
                             &kind, &scale, &h->workspace, &co, &kprime, &h->workspace, &ro,
                             &h->workspace, &go, &ldg, &grad};
        st = clmsd__run_kernel(h->ctx, CLMSD__K_HEAD_LOSS_ROWS, 21, sz, val, h->rows);
    }
    if (st == CLMSD_SUCCESS && (a->loss || a->ignored)) {
        const size_t sz[] = {MEM, 8, 8, 8, 4, 4, MEM, 8, 4, MEM, 8, MEM, 8};
        const void *val[] = {&h->workspace, &ro, &rows, &batch, &kind, &scale, &h->workspace, &co, &kprime,
                             &a->loss, &lo, &a->ignored, &io};
        st = clmsd__run_kernel(h->ctx, CLMSD__K_HEAD_REDUCE_LOSS, 13, sz, val, CLMSD__REDUCE_GROUP);
    }
    return st;
}

clmsd_status clmsd__head_bias_grad(clmsd_head *h, const clmsd_head_args *a)
{
    cl_ulong go = h->ws_g, ldg = h->ldg, rows = h->rows, dbo = a->dbias_off;
    cl_uint classes = (cl_uint)h->desc.classes;
    cl_int acc = a->accumulate;
    const size_t sz[] = {MEM, 8, 8, 8, 4, MEM, 8, 4};
    const void *val[] = {&h->workspace, &go, &ldg, &rows, &classes, &a->dbias, &dbo, &acc};
    return clmsd__run_kernel(h->ctx, CLMSD__K_HEAD_BIAS_GRAD, 8, sz, val, classes);
}
