/* SPDX-License-Identifier: MIT */
/* The layer-pooled head (cl/pool.cl): the QUEST model's head, whose input is the CLS rows of L
 * backbone layers. a = softmax(layer weights); P = sum_l a_l dropout_l(X_l), each layer on its
 * own stream sample; then the multi-sample head of either engine on P; then dX_l and the weights'
 * gradient from the head's dP, in two tilings of the same sums (the CPU kernels draw eight
 * layers' Philox blocks at once on vector lanes, the GPU kernels one block at a time, in
 * registers). The engines never see the layers: P and dP live in the pooled
 * part of the workspace, and the engine's call reads P as its x and writes dP as its dx. */
#include "head.h"
#include "tiling.h"

/* offsets (floats) of the pooled part: a [L], P [B, H], dP [B, H], part [Q, L], dA [L] */
typedef struct pool_layout {
    size_t a, p, dp, part, da;
} pool_layout;

static pool_layout layout(const clmsd_head *h)
{
    const clmsd_head_desc *d = &h->desc;
    size_t bh = d->batch * d->features;
    pool_layout o = {.a = h->ws_pool};
    o.p = o.a + d->layers;
    o.dp = o.p + bh;
    o.part = o.dp + bh;
    o.da = o.part + clmsd__layer_max_blocks(d) * d->layers;
    return o;
}

/* The GPU tiling's Philox blocks of the call (of 4 elements; the u8 stream's 16): a work-group of
 * CLMSD_POOL_LANES each in the forward, a work-item per block and layer in the backward. The CPU
 * tiling's kernels take a work-item per group of 4 elements, `quads`. */
static size_t stream_blocks(const clmsd_head *h, size_t row_offset, size_t quads)
{
    const clmsd_head_desc *d = &h->desc;
    if (d->stream != CLMSD_STREAM_PHILOX_V1_U8)
        return quads;
    size_t begin = row_offset * d->features;
    return (begin + d->batch * d->features - 1) / 16 - begin / 16 + 1;
}

static clmsd_status backward(clmsd_head *h, const clmsd_head_args *a, const pool_layout *o)
{
    const clmsd_head_desc *d = &h->desc;
    cl_uint layers = (cl_uint)d->layers;
    size_t q = clmsd__layer_blocks(d, a->row_offset);
    size_t xr = clmsd__row_stride(d, a->x_row_stride), xl = clmsd__layer_stride(d, a->x_layer_stride, xr);
    size_t dr = clmsd__row_stride(d, a->dx_row_stride), dl = clmsd__layer_stride(d, a->dx_layer_stride, dr);
    bool by_layer = h->ctx->tiling->unpool_by_layer;
    size_t items = by_layer ? stream_blocks(h, a->row_offset, q) : q;
    CLMSD__TRY(h->ctx->tiling->layer_unpool(h->ctx, items, by_layer ? layers : 0, h->workspace, o->dp, h->workspace,
                                            o->a, a->x, a->x_off, d->x_type, xl, xr, a->dx, a->dx_off, d->dx_type, dl,
                                            dr, a->dlayer_weights ? h->workspace : NULL, o->part, d->batch, d->features,
                                            layers, h->layer_threshold, h->layer_scale, a->row_offset, a->seed, a->step,
                                            q, d->stream, a->accumulate));
    if (!a->dlayer_weights)
        return CLMSD_SUCCESS;
    CLMSD__TRY(clmsd__run_layer_part_sum(h->ctx, layers, 0, h->workspace, o->part, q, layers, h->workspace, o->da));
    return clmsd__run_layer_weight_grad(h->ctx, 1, 0, h->workspace, o->a, h->workspace, o->da, layers,
                                        a->dlayer_weights, a->dlayer_weights_off, a->accumulate);
}

clmsd_status clmsd__pooled_run(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, clmsd__head_mode mode)
{
    const clmsd_head_desc *d = &h->desc;
    pool_layout o = layout(h);
    size_t q = clmsd__layer_blocks(d, a->row_offset);
    size_t xr = clmsd__row_stride(d, a->x_row_stride), xl = clmsd__layer_stride(d, a->x_layer_stride, xr);
    CLMSD__TRY(clmsd__run_layer_softmax(h->ctx, 1, 0, a->layer_weights, a->layer_weights_off, (cl_uint)d->layers,
                                        h->workspace, o.a));
    size_t items = h->ctx->tiling->pool_by_group ? stream_blocks(h, a->row_offset, q) * CLMSD_POOL_LANES : q;
    CLMSD__TRY(h->ctx->tiling->layer_pool(h->ctx, items, 0, a->x, a->x_off, d->x_type, xl, xr, h->workspace, o.a,
                                          h->workspace, o.p, d->batch, d->features, (cl_uint)d->layers,
                                          mode != CLMSD__PREDICT, h->layer_threshold, h->layer_scale, a->row_offset,
                                          a->seed, a->step, q, d->stream));
    bool back = (mode == CLMSD__TRAIN || mode == CLMSD__BACKWARD) && (a->dx || a->dlayer_weights);
    clmsd_head_args e = *a; /* the engine's call: x = P, dx = dP */
    e.x = h->workspace;
    e.x_off = o.p;
    e.dx = back ? h->workspace : NULL;
    e.dx_off = o.dp;
    if (back && a->accumulate) /* dP from -0.0f, the identity: -0 + v is v */
        CLMSD__TRY(clmsd__fill(h->ctx, h->workspace, o.dp, d->batch * d->features, 0x80000000u));
    clmsd__stream inner = *s; /* P and dP are float */
    inner.x_type = CLMSD_FLOAT32;
    inner.dx_type = CLMSD_FLOAT32;
    CLMSD__TRY(h->impl->run(h, &e, &inner, mode));
    return back ? backward(h, a, &o) : CLMSD_SUCCESS;
}
