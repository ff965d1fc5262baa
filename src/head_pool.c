/* SPDX-License-Identifier: MIT */
/* The layer-pooled head (cl/pool.cl): the QUEST model's head, whose input is the CLS rows of L
 * backbone layers. a = softmax(layer weights); P = sum_l a_l dropout_l(X_l), each layer on its
 * own stream sample; then the multi-sample head of either engine on P; then dX_l and the weights'
 * gradient from the head's dP, in two tilings of the same sums (the CPU kernels draw eight
 * layers' Philox blocks at once on vector lanes, the GPU kernels one block at a time, in
 * registers). The engines never see the layers: P and dP live in the pooled
 * part of the workspace, and the engine's call reads P as its x and writes dP as its dx. */
#include "head.h"

/* offsets (floats) of the pooled part: a [L], P [B, H], dP [B, H], part [Q, L], dA [L] */
typedef struct pool_layout {
    size_t a, p, dp, part, da;
} pool_layout;

static pool_layout layout(const clmsd_head *h)
{
    const clmsd_head_desc *d = &h->desc;
    size_t bh = d->batch * d->features;
    pool_layout o = {.a = h->ws_pool};
    o.p = o.a + d->layers, o.dp = o.p + bh, o.part = o.dp + bh;
    o.da = o.part + clmsd__layer_max_blocks(d) * d->layers;
    return o;
}

static clmsd_status backward(clmsd_head *h, const clmsd_head_args *a, const pool_layout *o)
{
    const clmsd_head_desc *d = &h->desc;
    cl_uint layers = (cl_uint)d->layers;
    size_t q = clmsd__layer_blocks(d, a->row_offset);
    size_t xr = clmsd__row_stride(d, a->x_row_stride), xl = clmsd__layer_stride(d, a->x_layer_stride, xr);
    size_t dr = clmsd__row_stride(d, a->dx_row_stride), dl = clmsd__layer_stride(d, a->dx_layer_stride, dr);
    clmsd_status st = CLMSD__RUN(
        h->ctx, h->ctx->gpu_tiling ? CLMSD__K_LAYER_UNPOOL_GPU : CLMSD__K_LAYER_UNPOOL, q, CLMSD__MEM(h->workspace),
        CLMSD__U64(o->dp), CLMSD__MEM(h->workspace), CLMSD__U64(o->a), CLMSD__MEM(a->x), CLMSD__U64(a->x_off),
        CLMSD__U32(d->x_type), CLMSD__U64(xl), CLMSD__U64(xr), CLMSD__MEM(a->dx), CLMSD__U64(a->dx_off),
        CLMSD__U32(d->dx_type), CLMSD__U64(dl), CLMSD__U64(dr), CLMSD__MEM(a->dlayer_weights ? h->workspace : NULL),
        CLMSD__U64(o->part), CLMSD__U64(d->batch), CLMSD__U64(d->features), CLMSD__U32(layers),
        CLMSD__U32(h->layer_threshold), CLMSD__F32(h->layer_scale), CLMSD__U64(a->row_offset), CLMSD__U64(a->seed),
        CLMSD__U64(a->step), CLMSD__U64(q), CLMSD__I32(d->stream), CLMSD__I32(a->accumulate));
    if (st == CLMSD_SUCCESS && a->dlayer_weights)
        st = CLMSD__RUN(h->ctx, CLMSD__K_LAYER_WEIGHT_GRAD, 1, CLMSD__MEM(h->workspace), CLMSD__U64(o->part),
                        CLMSD__U64(q), CLMSD__MEM(h->workspace), CLMSD__U64(o->a), CLMSD__MEM(h->workspace),
                        CLMSD__U64(o->da), CLMSD__U32(layers), CLMSD__MEM(a->dlayer_weights),
                        CLMSD__U64(a->dlayer_weights_off), CLMSD__I32(a->accumulate));
    return st;
}

clmsd_status clmsd__pooled_run(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, clmsd__head_mode mode)
{
    const clmsd_head_desc *d = &h->desc;
    pool_layout o = layout(h);
    size_t q = clmsd__layer_blocks(d, a->row_offset);
    size_t xr = clmsd__row_stride(d, a->x_row_stride), xl = clmsd__layer_stride(d, a->x_layer_stride, xr);
    clmsd_status st =
        CLMSD__RUN(h->ctx, CLMSD__K_LAYER_SOFTMAX, 1, CLMSD__MEM(a->layer_weights), CLMSD__U64(a->layer_weights_off),
                   CLMSD__U32(d->layers), CLMSD__MEM(h->workspace), CLMSD__U64(o.a));
    if (st == CLMSD_SUCCESS)
        st = CLMSD__RUN(h->ctx, h->ctx->gpu_tiling ? CLMSD__K_LAYER_POOL_GPU : CLMSD__K_LAYER_POOL, q, CLMSD__MEM(a->x),
                        CLMSD__U64(a->x_off), CLMSD__U32(d->x_type), CLMSD__U64(xl), CLMSD__U64(xr),
                        CLMSD__MEM(h->workspace), CLMSD__U64(o.a), CLMSD__MEM(h->workspace), CLMSD__U64(o.p),
                        CLMSD__U64(d->batch), CLMSD__U64(d->features), CLMSD__U32(d->layers),
                        CLMSD__I32(mode != CLMSD__PREDICT), CLMSD__U32(h->layer_threshold), CLMSD__F32(h->layer_scale),
                        CLMSD__U64(a->row_offset), CLMSD__U64(a->seed), CLMSD__U64(a->step), CLMSD__U64(q),
                        CLMSD__I32(d->stream));
    bool back = mode == CLMSD__TRAIN && (a->dx || a->dlayer_weights);
    clmsd_head_args e = *a; /* the engine's call: x = P, dx = dP */
    e.x = h->workspace, e.x_off = o.p;
    e.dx = back ? h->workspace : NULL, e.dx_off = o.dp;
    if (st == CLMSD_SUCCESS && back && a->accumulate) /* dP from -0.0f, the identity: -0 + v is v */
        st = clmsd__fill(h->ctx, h->workspace, o.dp, d->batch * d->features, 0x80000000u);
    clmsd__stream inner = *s; /* P and dP are float */
    inner.x_type = inner.dx_type = CLMSD_FLOAT32;
    if (st == CLMSD_SUCCESS)
        st = h->impl->run(h, &e, &inner, mode);
    return st == CLMSD_SUCCESS && back ? backward(h, a, &o) : st;
}
