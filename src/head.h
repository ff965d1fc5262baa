/* SPDX-License-Identifier: MIT */
/* The head's internal header: a planned head, the engines behind one interface, and the
 * engine-independent kernels around their GEMMs. Calls flow head.c -> engine -> head_kernels.c ->
 * context helpers, and every file may use the pure helpers (head_desc.h, stream_desc.h). */
#ifndef CLMSD_HEAD_H
#define CLMSD_HEAD_H

#include "context.h"
#include "head_desc.h"
#include "stream_desc.h"

/* forward: loss and mean logits; train: and the gradients; predict: no masks; logits: every
 * sample's logits, no loss; backward: the gradients from the caller's dL/dlogits (G loaded, not
 * made by the loss) */
typedef enum clmsd__head_mode {
    CLMSD__FORWARD,
    CLMSD__TRAIN,
    CLMSD__PREDICT,
    CLMSD__LOGITS,
    CLMSD__BACKWARD
} clmsd__head_mode;

/* An engine: what it needs of the workspace, what enqueues a head call, and what compiles ahead
 * of time (wlroots' *_impl). plan sizes for ctx's tiling, or for any device when ctx is NULL
 * (clmsd_head_workspace_size); false when the sizes overflow. */
typedef struct clmsd__engine_impl {
    const char *name;
    bool (*plan)(const clmsd_context *ctx, const clmsd_head_desc *desc, clmsd__engine_space *out);
    clmsd_status (*run)(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s, clmsd__head_mode mode);
    clmsd_status (*warmup)(clmsd_context *ctx); /* NULL: nothing beyond the program */
} clmsd__engine_impl;

extern const clmsd__engine_impl clmsd__engine_clblast; /* engine_clblast.c */
extern const clmsd__engine_impl clmsd__engine_fused;   /* engine_fused.c */

/* engine_auto.c: the engine AUTO picks for a device and shape */
clmsd_engine clmsd__auto_engine(const clmsd_context *ctx, const clmsd_head_desc *desc);

struct clmsd_head {
    clmsd_context *ctx;
    clmsd_head_desc desc; /* desc.rates points to `rates` */
    double *rates;
    clmsd_engine engine;
    const clmsd__engine_impl *impl;
    size_t rows;   /* stacked logit rows N: K*B (average losses) or B (average logits) */
    cl_mem params; /* K thresholds, then K scales (float bits) */
    cl_mem workspace;
    bool owns_workspace;
    size_t ws_xd, ws_z, ws_g, ws_rowloss, ws_counter, ws_loss_part, ws_part, ws_wt, ws_pool; /* offsets in floats */
    uint32_t layer_threshold; /* the pooled head's layer dropout (T and s of layer_rate) */
    float layer_scale;
    size_t ldg; /* columns of G: the engine's plan (CLBlast: C; fused: the tiling's padding) */
};

/* head_kernels.c: the engine-independent kernels around the GEMMs */
/* counted: the valid-id count is already in the workspace (the fused engine's transpose makes it) */
clmsd_status clmsd__head_loss(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s, int grad,
                              int counted);
clmsd_status clmsd__head_mean_logits(clmsd_head *head, cl_mem bias, size_t bias_off, cl_uint samples, float inv_samples,
                                     cl_mem out, size_t out_off);
clmsd_status clmsd__head_bias_grad(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s);
/* the logits of clmsd_head_logits: every stacked row's Z + b (average logits: the mean logits) */
clmsd_status clmsd__head_row_logits(clmsd_head *head, const clmsd_head_args *args);
/* G = args->dlogits (clmsd_head_backward) */
clmsd_status clmsd__head_load_grad(clmsd_head *head, const clmsd_head_args *args);

/* head_pool.c: the layer-pooled head (desc.layers >= 2) around an engine: softmax weights, the
 * pooled rows, the engine's head on them, then dX of every layer and the weights' gradient */
clmsd_status clmsd__pooled_run(clmsd_head *head, const clmsd_head_args *args, const clmsd__stream *s,
                               clmsd__head_mode mode);
/* the pooled head's strides, 0 meaning dense [L, B, H] */
static inline size_t clmsd__row_stride(const clmsd_head_desc *d, size_t stride)
{
    return stride ? stride : d->features;
}
static inline size_t clmsd__layer_stride(const clmsd_head_desc *d, size_t stride, size_t row_stride)
{
    return stride ? stride : d->batch * row_stride;
}

#endif
