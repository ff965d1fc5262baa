/* The multi-sample dropout head: plans (validation, engine choice, workspace) and the public calls.
 * The engines that enqueue the work are engine_fused.c and engine_clblast.c; AUTO's rule is
 * engine_auto.c. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

clmsd_status clmsd__check_head_desc(clmsd_context *ctx, const clmsd_head_desc *desc)
{
    if (!desc)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "the head descriptor is NULL");
    if (desc->batch == 0 || desc->features == 0 || desc->classes == 0 || desc->samples == 0)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "batch (%zu), features (%zu), classes (%zu) and samples (%u) must be positive",
                           desc->batch, desc->features, desc->classes, (unsigned)desc->samples);
    if ((unsigned)desc->loss > CLMSD_LOSS_MSE)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid loss %d", (int)desc->loss);
    if ((unsigned)desc->combine > CLMSD_AVERAGE_LOGITS)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid combine mode %d", (int)desc->combine);
    if ((unsigned)desc->engine > CLMSD_ENGINE_FUSED)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid engine %d", (int)desc->engine);
    size_t elements, rows, bc;
    if (desc->classes > INT32_MAX || !clmsd__mul(desc->batch, desc->features, &elements) ||
        (uint64_t)elements > CLMSD_MAX_ELEMENTS || !clmsd__mul(desc->batch, desc->samples, &rows) ||
        !clmsd__mul(desc->batch, desc->classes, &bc))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "the head [B %zu, H %zu, C %zu, K %u] exceeds the stream's 2^34 elements or size_t",
                           desc->batch, desc->features, desc->classes, (unsigned)desc->samples);
    return clmsd__check_rates(ctx, desc->samples, desc->rates, desc->rate);
}

static size_t stacked_rows(const clmsd_head_desc *desc)
{
    return desc->combine == CLMSD_AVERAGE_LOSSES ? desc->batch * desc->samples : desc->batch;
}

/* Workspace in floats: Xd [N, H] (later dXd; the fused engine needs only Xbar [B, H] with average
 * logits), Z [N, C], G [N, ldg], row losses [N], 1 counter, and for the fused engine WT [H, ldg].
 * AUTO sizes for either engine. */
typedef struct layout {
    size_t xd, z, g, rowloss, counter, wt, floats, ldg;
} layout;

/* G's and WT's columns for the fused engine: 16 for up to 16 classes (a narrow tile), else C
 * rounded up to the 32-class tile */
static size_t padded_classes(const clmsd_head_desc *desc)
{
    if (desc->classes <= CLMSD_CLASS_TILE / 2)
        return CLMSD_CLASS_TILE / 2;
    return (desc->classes + CLMSD_CLASS_TILE - 1) / CLMSD_CLASS_TILE * CLMSD_CLASS_TILE;
}

static bool workspace_layout(const clmsd_head_desc *desc, clmsd_engine engine, layout *l)
{
    size_t n = stacked_rows(desc), nh, nc, ng, nwt = 0;
    bool fused = engine == CLMSD_ENGINE_FUSED, either = engine == CLMSD_ENGINE_AUTO;
    size_t xd_rows = !fused ? n : desc->combine == CLMSD_AVERAGE_LOGITS ? desc->batch : 0;
    l->ldg = fused || either ? padded_classes(desc) : desc->classes;
    if (!clmsd__mul(xd_rows, desc->features, &nh) || !clmsd__mul(n, desc->classes, &nc) ||
        !clmsd__mul(n, l->ldg, &ng) || ((fused || either) && !clmsd__mul(desc->features, l->ldg, &nwt)))
        return false;
    l->xd = 0;
    l->z = nh;
    return clmsd__add(l->z, nc, &l->g) && clmsd__add(l->g, ng, &l->rowloss) &&
           clmsd__add(l->rowloss, n, &l->counter) && clmsd__add(l->counter, 1, &l->wt) &&
           clmsd__add(l->wt, nwt, &l->floats) && l->floats <= SIZE_MAX / sizeof(float);
}

clmsd_status clmsd_head_workspace_size(const clmsd_head_desc *desc, size_t *bytes)
{
    clmsd_status st = clmsd__check_head_desc(NULL, desc);
    if (st != CLMSD_SUCCESS)
        return st;
    layout l;
    if (!bytes)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "bytes is NULL");
    if (!workspace_layout(desc, desc->engine, &l))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_SIZE, "the head's workspace overflows size_t");
    *bytes = l.floats * sizeof(float);
    return CLMSD_SUCCESS;
}

float clmsd__head_inv_samples(const clmsd_head_desc *desc) { return (float)(1.0 / desc->samples); }

float clmsd__head_kprime(const clmsd_head_desc *desc)
{
    return desc->combine == CLMSD_AVERAGE_LOSSES ? (float)desc->samples : 1.0f;
}

float clmsd__head_scale(const clmsd_head_desc *desc)
{
    double k = desc->combine == CLMSD_AVERAGE_LOSSES ? desc->samples : 1.0;
    double per_row = desc->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? 1.0 : (double)desc->batch * desc->classes;
    return (float)(1.0 / (k * per_row));
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
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_head_create: %s is NULL", ctx ? "out" : "the context");
    clmsd__clear_error(ctx);
    *out = NULL;
    clmsd_status st = clmsd__check_head_desc(ctx, desc);
    if (st != CLMSD_SUCCESS)
        return st;
    clmsd_engine engine;
    st = choose_engine(ctx, desc, &engine);
    if (st != CLMSD_SUCCESS)
        return st;
    layout l;
    if (!workspace_layout(desc, engine, &l))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the head's workspace overflows size_t");
    if (desc->workspace) {
        st = clmsd__check_buffer(ctx, "workspace", desc->workspace, 0, l.floats, sizeof(float));
        if (st != CLMSD_SUCCESS)
            return st;
    }
    st = clmsd__build_program(ctx);
    if (st != CLMSD_SUCCESS)
        return st;

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
    h->rows = stacked_rows(desc);
    h->ws_xd = l.xd, h->ws_z = l.z, h->ws_g = l.g, h->ws_rowloss = l.rowloss, h->ws_counter = l.counter;
    h->ws_wt = l.wt, h->ldg = l.ldg;

    clmsd__rate_table(desc->samples, desc->rates, desc->rate, table);
    cl_int err;
    h->params = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, words * sizeof *table, table, &err);
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

static clmsd_status check_optional(clmsd_context *ctx, const char *name, cl_mem buf, size_t off, size_t count, size_t elem)
{
    return buf ? clmsd__check_buffer(ctx, name, buf, off, count, elem) : CLMSD_SUCCESS;
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
    clmsd_status st;
    if ((st = clmsd__check_buffer(ctx, "x", a->x, a->x_off, bh, sizeof(float))) ||
        (st = clmsd__check_buffer(ctx, "w", a->w, a->w_off, ch, sizeof(float))) ||
        (st = check_optional(ctx, "bias", a->bias, a->bias_off, d->classes, sizeof(float))) ||
        (st = check_optional(ctx, "logits", a->logits, a->logits_off, bc, sizeof(float))))
        return st;
    if (mode == CLMSD__PREDICT) {
        if (!a->logits)
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "predict needs a logits buffer");
        return CLMSD_SUCCESS;
    }
    bool needs_target = mode == CLMSD__TRAIN || a->loss || a->ignored;
    if (needs_target && !a->target)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "target is NULL but a loss or gradient is asked for");
    if ((st = check_optional(ctx, "target", a->target, a->target_off, ce ? d->batch : bc, 4)) ||
        (st = check_optional(ctx, "loss", a->loss, a->loss_off, 1, sizeof(float))) ||
        (st = check_optional(ctx, "ignored", a->ignored, a->ignored_off, 1, sizeof(uint32_t))))
        return st;
    if (mode == CLMSD__TRAIN &&
        ((st = check_optional(ctx, "dx", a->dx, a->dx_off, bh, sizeof(float))) ||
         (st = check_optional(ctx, "dw", a->dw, a->dw_off, ch, sizeof(float))) ||
         (st = check_optional(ctx, "dbias", a->dbias, a->dbias_off, d->classes, sizeof(float)))))
        return st;
    clmsd_dropout_desc dd = {a->seed, a->step, d->samples, d->rates, d->rate, d->batch, d->features, a->row_offset};
    return clmsd__check_stream(ctx, &dd, s);
}

static clmsd_status head_call(clmsd_head *head, const clmsd_head_args *args, clmsd__head_mode mode,
                              cl_uint num_wait, const cl_event *wait, cl_event *event)
{
    if (!head)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the head is NULL");
    clmsd_context *ctx = head->ctx;
    clmsd__clear_error(ctx);
    clmsd__stream s;
    clmsd_status st = check_args(head, args, mode, &s);
    if (st == CLMSD_SUCCESS)
        st = clmsd__check_wait_list(ctx, num_wait, wait);
    if (st == CLMSD_SUCCESS)
        st = clmsd__begin(ctx, num_wait, wait);
    if (st == CLMSD_SUCCESS)
        st = head->engine == CLMSD_ENGINE_FUSED ? clmsd__fused_run(head, args, &s, mode)
                                                : clmsd__clblast_run(head, args, &s, mode);
    if (st == CLMSD_SUCCESS)
        st = clmsd__finish(ctx, event);
    return st;
}

clmsd_status clmsd_head_forward(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait,
                                const cl_event *wait, cl_event *event)
{
    return head_call(head, args, CLMSD__FORWARD, num_wait, wait, event);
}

clmsd_status clmsd_head_train_step(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait,
                                   const cl_event *wait, cl_event *event)
{
    return head_call(head, args, CLMSD__TRAIN, num_wait, wait, event);
}

clmsd_status clmsd_head_predict(clmsd_head *head, const clmsd_head_args *args, cl_uint num_wait,
                                const cl_event *wait, cl_event *event)
{
    return head_call(head, args, CLMSD__PREDICT, num_wait, wait, event);
}

clmsd_status clmsd_context_warmup(clmsd_context *ctx)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_context_warmup: the context is NULL");
    clmsd__clear_error(ctx);
    clmsd_status st = clmsd__build_program(ctx);
    return st ? st : clmsd__clblast_warmup(ctx);
}
