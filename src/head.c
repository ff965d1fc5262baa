/* SPDX-License-Identifier: MIT */
/* The multi-sample dropout head: plans (validation, engine choice, workspace) and the public calls.
 * The engines that enqueue the work are engine_fused.c and engine_clblast.c; AUTO's rule is
 * engine_auto.c. */
#include "head.h"

#include "../cl/clmsd_math.h"

#include <stdlib.h>
#include <string.h>

/* The engines, by clmsd_engine (AUTO resolves to one of them when a head is planned). */
static const clmsd__engine_impl *const engines[] = {
    [CLMSD_ENGINE_CLBLAST] = &clmsd__engine_clblast,
    [CLMSD_ENGINE_FUSED] = &clmsd__engine_fused,
};

/* The workspace of `engine` on ctx's tiling, or (any_device) what fits every tiling, and for
 * AUTO every engine: the largest of each part. ctx takes the message. */
static clmsd_status plan(clmsd_context *ctx, const clmsd_head_desc *desc, clmsd_engine engine, bool any_device,
                         clmsd__head_workspace *out)
{
    clmsd__engine_space space = {0};
    for (size_t e = 0; e < sizeof engines / sizeof *engines; ++e) {
        clmsd__engine_space s;
        if (!engines[e] || (engine != CLMSD_ENGINE_AUTO && e != (size_t)engine))
            continue;
        if (!engines[e]->plan(any_device ? NULL : ctx, desc, &s))
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the head's workspace overflows size_t");
        clmsd__engine_space_widen(&space, &s);
    }
    if (!clmsd__head_layout(desc, &space, out))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the head's workspace overflows size_t");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_head_workspace_size(const clmsd_head_desc *desc, size_t *bytes)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, desc));
    if (!bytes)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "bytes is NULL");
    clmsd__head_workspace l;
    CLMSD__TRY(plan(NULL, desc, desc->engine, true, &l));
    *bytes = l.floats * sizeof(float);
    return CLMSD_SUCCESS;
}

/* AUTO: $CLMSD_ENGINE when set, else the rule measured in docs/benchmarks.md. The choice is a
 * pure function of the device type and the shape, so a run's results do not depend on timing. */
static clmsd_status choose_engine(clmsd_context *ctx, const clmsd_head_desc *desc, clmsd_engine *out)
{
    *out = desc->engine;
    if (desc->engine != CLMSD_ENGINE_AUTO)
        return CLMSD_SUCCESS;
    const char *env = getenv("CLMSD_ENGINE");
    if (env && *env) {
        if (!strcmp(env, "clblast"))
            *out = CLMSD_ENGINE_CLBLAST;
        else if (!strcmp(env, "fused"))
            *out = CLMSD_ENGINE_FUSED;
        else
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "$CLMSD_ENGINE is \"%s\": use clblast or fused", env);
        return CLMSD_SUCCESS;
    }
    *out = clmsd__auto_engine(ctx, desc);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_head_create(clmsd_context *ctx, const clmsd_head_desc *desc, clmsd_head **out)
{
    if (!ctx || !out)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_head_create: %s is NULL",
                           ctx ? "out" : "the context");
    clmsd__clear_error(ctx);
    *out = NULL;
    CLMSD__TRY(clmsd__check_head_desc(ctx, desc));
    clmsd_engine engine;
    CLMSD__TRY(choose_engine(ctx, desc, &engine));
    clmsd__head_workspace l;
    CLMSD__TRY(plan(ctx, desc, engine, false, &l));
    if (desc->workspace) { /* what clmsd_head_workspace_size() asks for, not only what this device uses */
        clmsd__head_workspace promised;
        CLMSD__TRY(plan(ctx, desc, desc->engine, true, &promised));
        CLMSD__TRY(clmsd__check_buffer(ctx, "workspace", desc->workspace, 0, promised.floats, sizeof(float)));
    }
    CLMSD__TRY(clmsd__build_program(ctx));

    clmsd_head *h = calloc(1, sizeof *h);
    size_t words = 2 * (size_t)desc->samples;
    uint32_t *table = malloc(words * sizeof *table);
    if (desc->rates && h)
        h->rates = malloc(desc->samples * sizeof *h->rates);
    if (!h || !table || (desc->rates && !h->rates)) {
        free(table);
        clmsd_head_destroy(h);
        return clmsd__fail(ctx, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory planning a head");
    }
    h->ctx = ctx;
    h->desc = *desc;
    if (desc->rates)
        memcpy(h->rates, desc->rates, desc->samples * sizeof *h->rates);
    h->desc.rates = h->rates;
    h->engine = engine;
    h->impl = engines[engine];
    h->rows = clmsd__head_stacked_rows(desc);
    h->ws_xd = l.xd;
    h->ws_z = l.z;
    h->ws_g = l.g;
    h->ws_rowloss = l.rowloss;
    h->ws_counter = l.counter;
    h->ws_loss_part = l.loss_part;
    h->ws_part = l.part;
    h->ws_wt = l.wt;
    h->ws_pool = l.pool;
    h->ldg = l.ldg;
    if (desc->layers >= 2)
        clmsd_stream_rate_params(desc->stream, desc->layer_rate, &h->layer_threshold, &h->layer_scale);

    clmsd__rate_table(desc->stream, desc->samples, desc->rates, desc->rate, table);
    cl_int err;
    h->params =
        clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, words * sizeof *table, table, &err);
    free(table);
    if (err != CL_SUCCESS) {
        h->params = NULL;
        clmsd_head_destroy(h);
        return clmsd__fail_cl(ctx, err, "clCreateBuffer (head rates)");
    }
    if (desc->workspace) {
        h->workspace = desc->workspace;
    } else {
        h->workspace = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, l.floats * sizeof(float), NULL, &err);
        if (err != CL_SUCCESS) {
            h->workspace = NULL;
            clmsd_head_destroy(h);
            return clmsd__fail(ctx, err == CL_INVALID_BUFFER_SIZE ? CLMSD_ERROR_INVALID_SIZE : CLMSD_ERROR_OPENCL,
                               "clCreateBuffer of the %zu-byte head workspace failed: %s (%d)",
                               l.floats * sizeof(float), clmsd__cl_error_name(err), (int)err);
        }
        h->owns_workspace = true;
    }
    *out = h;
    return CLMSD_SUCCESS;
}

void clmsd_head_destroy(clmsd_head *head)
{
    if (!head)
        return;
    if (head->ctx && (head->params || head->owns_workspace))
        clFinish(head->ctx->queue); /* commands in flight still use the workspace */
    if (head->params)
        clReleaseMemObject(head->params);
    if (head->owns_workspace && head->workspace)
        clReleaseMemObject(head->workspace);
    free(head->rates);
    free(head);
}

clmsd_engine clmsd_head_engine(const clmsd_head *head) { return head ? head->engine : CLMSD_ENGINE_AUTO; }

static clmsd_status check_optional(clmsd_context *ctx, const char *name, cl_mem buf, size_t off, size_t count,
                                   size_t elem)
{
    return buf ? clmsd__check_buffer(ctx, name, buf, off, count, elem) : CLMSD_SUCCESS;
}

/* A shard call (docs/distributed.md): its whole batch holds it, and its count fits the kernels. */
static clmsd_status check_shard(clmsd_head *head, const clmsd_head_args *a)
{
    const clmsd_head_shard *sh = a->shard;
    if (!sh)
        return CLMSD_SUCCESS;
    clmsd_context *ctx = head->ctx;
    if (sh->global_batch < head->desc.batch || sh->global_batch > UINT32_MAX)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "shard: global_batch %zu must hold the call's %zu rows and be below 2^32", sh->global_batch,
                           head->desc.batch);
    if (head->desc.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && sh->valid_ids > sh->global_batch)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "shard: valid_ids %llu exceeds global_batch %zu",
                           (unsigned long long)sh->valid_ids, sh->global_batch);
    if (a->ignored)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT,
                           "shard: ignored must be NULL (the whole batch's is global_batch - valid_ids)");
    return CLMSD_SUCCESS;
}

/* The extent of L layers of B rows of H at strides (ls, rs): (L-1) ls + (B-1) rs + H elements. */
static bool layers_extent(const clmsd_head_desc *d, size_t ls, size_t rs, size_t *out)
{
    size_t a, b;
    return clmsd__mul(d->layers - 1, ls, &a) && clmsd__mul(d->batch - 1, rs, &b) && clmsd__add(a, b, out) &&
           clmsd__add(*out, d->features, out);
}

/* A pooled head's layers (x, dx at their strides) and layer weights. dx's rows must not overlap:
 * rows apart by at least H, and layers apart by a whole layer, or rows apart by all the layers. */
static clmsd_status check_layers(clmsd_head *head, const clmsd_head_args *a, clmsd__head_mode mode)
{
    clmsd_context *ctx = head->ctx;
    const clmsd_head_desc *d = &head->desc;
    size_t h = d->features, l = d->layers, extent;
    size_t xr = clmsd__row_stride(d, a->x_row_stride), xl = clmsd__layer_stride(d, a->x_layer_stride, xr);
    if (a->shard)
        return clmsd__fail(ctx, CLMSD_ERROR_UNSUPPORTED, "a pooled head (layers %zu) takes no shard", l);
    if (xr < h)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "x: row stride %zu below H %zu", xr, h);
    if (!layers_extent(d, xl, xr, &extent))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "x: layer stride %zu and row stride %zu: the extent of [L %zu, B %zu, H %zu] overflows", xl,
                           xr, l, d->batch, h);
    CLMSD__TRY(clmsd__check_buffer(ctx, "x", a->x, a->x_off, extent, clmsd_type_size(d->x_type)));
    CLMSD__TRY(clmsd__check_buffer(ctx, "layer_weights", a->layer_weights, a->layer_weights_off, l, 4));
    if (mode != CLMSD__TRAIN && mode != CLMSD__BACKWARD)
        return CLMSD_SUCCESS;
    CLMSD__TRY(check_optional(ctx, "dlayer_weights", a->dlayer_weights, a->dlayer_weights_off, l, 4));
    if (!a->dx)
        return CLMSD_SUCCESS;
    size_t dr = clmsd__row_stride(d, a->dx_row_stride), dl = clmsd__layer_stride(d, a->dx_layer_stride, dr);
    if (!layers_extent(d, dl, dr, &extent)) /* then neither product below overflows */
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "dx: layer stride %zu and row stride %zu: the extent of [L %zu, B %zu, H %zu] overflows", dl,
                           dr, l, d->batch, h);
    bool layers_apart = dr >= h && dl >= (d->batch - 1) * dr + h;
    bool rows_apart = dl >= h && dr >= (l - 1) * dl + h;
    if (!layers_apart && !rows_apart)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "dx: layer stride %zu and row stride %zu make rows of [L %zu, B %zu, H %zu] overlap", dl, dr,
                           l, d->batch, h);
    return clmsd__check_buffer(ctx, "dx", a->dx, a->dx_off, extent, clmsd_type_size(d->dx_type));
}

/* Validates every argument of a call before anything is enqueued. */
static clmsd_status check_args(clmsd_head *head, const clmsd_head_args *a, clmsd__head_mode mode, clmsd__stream *s)
{
    clmsd_context *ctx = head->ctx;
    const clmsd_head_desc *d = &head->desc;
    if (!a)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "the head arguments are NULL");
    size_t bh = d->batch * d->features, ch = d->classes * d->features, bc = d->batch * d->classes;
    bool ce = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    size_t x_size = clmsd_type_size(d->x_type), dx_size = clmsd_type_size(d->dx_type);
    if (d->layers >= 2)
        CLMSD__TRY(check_layers(head, a, mode));
    else
        CLMSD__TRY(clmsd__check_buffer(ctx, "x", a->x, a->x_off, bh, x_size));
    CLMSD__TRY(clmsd__check_buffer(ctx, "w", a->w, a->w_off, ch, sizeof(float)));
    CLMSD__TRY(check_optional(ctx, "bias", a->bias, a->bias_off, d->classes, sizeof(float)));
    bool rows_out = mode == CLMSD__LOGITS || mode == CLMSD__BACKWARD; /* [K, B, C] or [B, C] */
    size_t rc = head->rows * d->classes;                              /* (no overflow: the workspace holds Z) */
    CLMSD__TRY(check_optional(ctx, "logits", a->logits, a->logits_off, mode == CLMSD__LOGITS ? rc : bc, sizeof(float)));
    if ((mode == CLMSD__PREDICT || mode == CLMSD__LOGITS) && !a->logits)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "%s needs a logits buffer",
                           mode == CLMSD__PREDICT ? "predict" : "clmsd_head_logits");
    if (mode == CLMSD__BACKWARD)
        CLMSD__TRY(clmsd__check_buffer(ctx, "dlogits", a->dlogits, a->dlogits_off, rc, sizeof(float)));
    if (rows_out && a->shard)
        return clmsd__fail(ctx, CLMSD_ERROR_UNSUPPORTED, "shard: clmsd_head_%s takes no shard",
                           mode == CLMSD__LOGITS ? "logits" : "backward");
    if (mode == CLMSD__PREDICT) {
        /* no masks: the stream is read for its storage types only */
        *s = (clmsd__stream){.stream = d->stream,
                             .x_type = d->x_type,
                             .dx_type = d->dx_type,
                             .samples = d->samples,
                             .rows = d->batch,
                             .cols = d->features};
        return CLMSD_SUCCESS;
    }
    bool needs_target = mode == CLMSD__TRAIN || a->loss || a->ignored;
    if (needs_target && !a->target)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "target is NULL but a loss or gradient is asked for");
    CLMSD__TRY(check_optional(ctx, "target", a->target, a->target_off, ce ? d->batch : bc, 4));
    CLMSD__TRY(check_optional(ctx, "loss", a->loss, a->loss_off, 1, sizeof(float)));
    CLMSD__TRY(check_optional(ctx, "ignored", a->ignored, a->ignored_off, 1, sizeof(uint32_t)));
    if (mode == CLMSD__TRAIN || mode == CLMSD__BACKWARD) {
        if (d->layers < 2) /* a pooled head's dx: check_layers */
            CLMSD__TRY(check_optional(ctx, "dx", a->dx, a->dx_off, bh, dx_size));
        CLMSD__TRY(check_optional(ctx, "dw", a->dw, a->dw_off, ch, sizeof(float)));
        CLMSD__TRY(check_optional(ctx, "dbias", a->dbias, a->dbias_off, d->classes, sizeof(float)));
    }
    CLMSD__TRY(check_shard(head, a));
    clmsd_dropout_desc dd = clmsd__head_stream(d, a->seed, a->step, a->row_offset);
    return clmsd__check_stream(ctx, &dd, s);
}

static clmsd_status head_call(clmsd_head *head, const clmsd_head_args *args, clmsd__head_mode mode, cl_uint num_wait,
                              const cl_event *wait, cl_event *event)
{
    if (!head)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the head is NULL");
    clmsd_context *ctx = head->ctx;
    clmsd__clear_error(ctx);
    clmsd_head_args own; /* a logits or backward call neither reads a target nor writes a loss */
    if (args && (mode == CLMSD__LOGITS || mode == CLMSD__BACKWARD)) {
        own = *args;
        own.target = own.loss = own.ignored = NULL;
        if (mode == CLMSD__BACKWARD)
            own.logits = NULL;
        args = &own;
    }
    clmsd__stream s;
    CLMSD__TRY(check_args(head, args, mode, &s));
    CLMSD__TRY(clmsd__check_wait_list(ctx, num_wait, wait));
    CLMSD__TRY(clmsd__begin(ctx, num_wait, wait));
    if (head->desc.layers >= 2)
        CLMSD__TRY(clmsd__pooled_run(head, args, &s, mode));
    else
        CLMSD__TRY(head->impl->run(head, args, &s, mode));
    return clmsd__finish(ctx, event);
}

clmsd_status clmsd_head_forward(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait, const cl_event *wait,
                                cl_event *event)
{
    return head_call(head, args, CLMSD__FORWARD, num_wait, wait, event);
}

clmsd_status clmsd_head_train_step(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait,
                                   const cl_event *wait, cl_event *event)
{
    return head_call(head, args, CLMSD__TRAIN, num_wait, wait, event);
}

clmsd_status clmsd_head_logits(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait, const cl_event *wait,
                               cl_event *event)
{
    return head_call(head, args, CLMSD__LOGITS, num_wait, wait, event);
}

clmsd_status clmsd_head_backward(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait, const cl_event *wait,
                                 cl_event *event)
{
    return head_call(head, args, CLMSD__BACKWARD, num_wait, wait, event);
}

clmsd_status clmsd_head_check_train_step(clmsd_head *head, const clmsd_head_args *args)
{
    if (!head)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the head is NULL");
    clmsd__clear_error(head->ctx);
    clmsd__stream s;
    return check_args(head, args, CLMSD__TRAIN, &s);
}

clmsd_status clmsd_head_loss_scale(const clmsd_head_desc *desc, const clmsd_head_shard *shard, float *scale)
{
    CLMSD__TRY(clmsd__check_head_desc(NULL, desc));
    if (!scale)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_head_loss_scale: scale is NULL");
    /* a shard's whole batch holds the call's rows, and CE's valid ids fit in it (as check_shard) */
    if (shard && (shard->global_batch < desc->batch || shard->global_batch > UINT32_MAX))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_SIZE,
                           "clmsd_head_loss_scale: shard.global_batch %zu must hold the head's %zu rows and be below "
                           "2^32",
                           shard->global_batch, desc->batch);
    if (shard && desc->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY && shard->valid_ids > shard->global_batch)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_SIZE,
                           "clmsd_head_loss_scale: shard.valid_ids %llu exceeds shard.global_batch %zu",
                           (unsigned long long)shard->valid_ids, shard->global_batch);
    if (desc->loss != CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY)
        *scale = clmsd__head_scale(desc, shard ? shard->global_batch : desc->batch);
    else if (!shard || shard->valid_ids > UINT32_MAX)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT,
                           "clmsd_head_loss_scale: a cross-entropy scale needs a shard with valid_ids below 2^32");
    else
        *scale = clmsd_ce_scale((uint32_t)shard->valid_ids, clmsd__head_kprime(desc));
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_head_predict(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait, const cl_event *wait,
                                cl_event *event)
{
    return head_call(head, args, CLMSD__PREDICT, num_wait, wait, event);
}

clmsd_status clmsd_context_warmup(clmsd_context *ctx)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_context_warmup: the context is NULL");
    clmsd__clear_error(ctx);
    CLMSD__TRY(clmsd__build_program(ctx));
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; ++i)
        if (engines[i] && engines[i]->warmup)
            CLMSD__TRY(engines[i]->warmup(ctx));
    return CLMSD_SUCCESS;
}
