/* SPDX-License-Identifier: MIT */
/* The CLBlast engine: a dropout kernel writes Xd [N, H]; one CLBlastSgemm with M = N gives every
 * sample's logits; dW = G^T Xd and dXd = G W are one CLBlastSgemm each; the regenerated masks turn
 * dXd into dX. N = K*B (average losses) or B (average logits, on the averaged mask). */
#include "blas.h"
#include "head.h"
#include "tiling.h"

/* one GEMM through CLBlast, ordered before what follows */
static clmsd_status sgemm(clmsd_context *ctx, const char *what, size_t m, size_t n, size_t k, clmsd__gemm_operand a,
                          clmsd__gemm_operand b, float beta, clmsd__gemm_operand c)
{
    CLMSD__TRY(clmsd__sgemm(ctx, what, m, n, k, a, b, beta, c));
    return clmsd__order(ctx);
}

static clmsd_status backward(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s)
{
    clmsd_context *ctx = h->ctx;
    const clmsd_head_desc *d = &h->desc;
    size_t n = h->rows, hf = d->features, c = d->classes;
    float beta = a->accumulate ? 1.0f : 0.0f;
    clmsd__gemm_operand g = {h->workspace, h->ws_g, h->ldg, CLBlastTransposeNo};
    clmsd__gemm_operand g_t = {h->workspace, h->ws_g, h->ldg, CLBlastTransposeYes};
    clmsd__gemm_operand xd = {h->workspace, h->ws_xd, hf, CLBlastTransposeNo};
    if (a->dw)
        CLMSD__TRY(sgemm(ctx, "dW = G^T Xd", c, hf, n, g_t, xd, beta,
                         (clmsd__gemm_operand){a->dw, a->dw_off, hf, CLBlastTransposeNo}));
    if (a->dbias)
        CLMSD__TRY(clmsd__head_bias_grad(h, a, s));
    if (a->dx) {
        /* dXd = G W overwrites Xd, which dW has read by now */
        clmsd__gemm_operand w = {a->w, a->w_off, hf, CLBlastTransposeNo};
        CLMSD__TRY(sgemm(ctx, "dXd = G W", n, hf, c, g, w, 0.0f, xd));
        bool logits = d->combine == CLMSD_AVERAGE_LOGITS;
        CLMSD__TRY(ctx->tiling->dropout_sum(ctx, s, h->params, h->workspace, h->ws_xd, logits ? 0 : d->batch * hf, hf,
                                            CLMSD_FLOAT32, a->dx, a->dx_off, hf, s->dx_type, clmsd__head_inv_samples(d),
                                            logits, a->accumulate));
    }
    return CLMSD_SUCCESS;
}

static clmsd_status run(clmsd_head *h, const clmsd_head_args *a, const clmsd__stream *s, clmsd__head_mode mode)
{
    clmsd_context *ctx = h->ctx;
    const clmsd_head_desc *d = &h->desc;
    size_t hf = d->features, c = d->classes;
    clmsd__gemm_operand w_t = {a->w, a->w_off, hf, CLBlastTransposeYes};
    clmsd__gemm_operand z = {h->workspace, h->ws_z, c, CLBlastTransposeNo};
    if (mode == CLMSD__PREDICT) {
        clmsd__gemm_operand x = {a->x, a->x_off, hf, CLBlastTransposeNo};
        if (s->x_type != CLMSD_FLOAT32) { /* CLBlast reads fp32: X widened into Xd's place first */
            CLMSD__TRY(clmsd__run_widen(ctx, d->batch * hf, 0, a->x, a->x_off, s->x_type, h->workspace, h->ws_xd,
                                        d->batch * hf));
            x = (clmsd__gemm_operand){h->workspace, h->ws_xd, hf, CLBlastTransposeNo};
        }
        CLMSD__TRY(sgemm(ctx, "Z = X W^T", d->batch, c, hf, x, w_t, 0.0f, z));
        return clmsd__head_mean_logits(h, a->bias, a->bias_off, 1, 1.0f, a->logits, a->logits_off);
    }
    bool logits_mode = d->combine == CLMSD_AVERAGE_LOGITS;
    if (logits_mode) /* Xbar = X * (1/K) sum_k keep_k s_k: the averaged mask */
        CLMSD__TRY(ctx->tiling->dropout_sum(ctx, s, h->params, a->x, a->x_off, 0, hf, s->x_type, h->workspace, h->ws_xd,
                                            hf, CLMSD_FLOAT32, clmsd__head_inv_samples(d), 1, 0));
    else
        CLMSD__TRY(
            ctx->tiling->dropout_forward(ctx, s, h->params, a->x, a->x_off, hf, s->x_type, h->workspace, h->ws_xd, hf));
    clmsd__gemm_operand xd = {h->workspace, h->ws_xd, hf, CLBlastTransposeNo};
    if (mode == CLMSD__BACKWARD) { /* G is the caller's: no logits, no loss */
        CLMSD__TRY(clmsd__head_load_grad(h, a));
        return backward(h, a, s);
    }
    CLMSD__TRY(sgemm(ctx, "Z = Xd W^T", h->rows, c, hf, xd, w_t, 0.0f, z));
    if (mode == CLMSD__LOGITS)
        return clmsd__head_row_logits(h, a);
    int grad = mode == CLMSD__TRAIN && (a->dx || a->dw || a->dbias);
    if (a->target)
        CLMSD__TRY(clmsd__head_loss(h, a, s, grad, 0));
    if (a->logits) {
        cl_uint samples = logits_mode ? 1 : d->samples;
        CLMSD__TRY(clmsd__head_mean_logits(h, a->bias, a->bias_off, samples,
                                           logits_mode ? 1.0f : clmsd__head_inv_samples(d), a->logits, a->logits_off));
    }
    if (grad)
        CLMSD__TRY(backward(h, a, s));
    return CLMSD_SUCCESS;
}

static clmsd_status warmup(clmsd_context *ctx)
{
    /* One call per transpose pattern the engine uses, big enough to take CLBlast's indirect path
     * as well as its direct one: each compiles CLBlast's GEMM program for this device once. */
    const size_t sizes[] = {8, 520};
    size_t max = sizes[1] * sizes[1];
    cl_int err;
    cl_mem buf = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, 3 * max * sizeof(float), NULL, &err);
    CLMSD__TRY_CL(ctx, err, "clCreateBuffer (warm-up)");
    clmsd_status st = CLMSD_SUCCESS;
    float zero = 0.0f;
    err = clEnqueueFillBuffer(ctx->queue, buf, &zero, sizeof zero, 0, 3 * max * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = clmsd__fail_cl(ctx, err, "clEnqueueFillBuffer (warm-up)");
        goto done;
    }
    for (int i = 0; i < 2; ++i) {
        size_t n = sizes[i];
        clmsd__gemm_operand a = {buf, 0, n, CLBlastTransposeNo}, b = {buf, max, n, CLBlastTransposeNo};
        clmsd__gemm_operand a_t = {buf, 0, n, CLBlastTransposeYes}, b_t = {buf, max, n, CLBlastTransposeYes};
        clmsd__gemm_operand c = {buf, 2 * max, n, CLBlastTransposeNo};
        CLMSD__TRY_GOTO(st, sgemm(ctx, "warm-up A B^T", n, n, n, a, b_t, 0.0f, c), done);
        CLMSD__TRY_GOTO(st, sgemm(ctx, "warm-up A^T B", n, n, n, a_t, b, 0.0f, c), done);
        CLMSD__TRY_GOTO(st, sgemm(ctx, "warm-up A B", n, n, n, a, b, 0.0f, c), done);
    }
done: /* whatever happened: the queue drains before the buffer goes, and the first error stands */
    err = clFinish(ctx->queue);
    clReleaseMemObject(buf);
    CLMSD__TRY(st);
    CLMSD__TRY_CL(ctx, err, "clFinish (warm-up)");
    return CLMSD_SUCCESS;
}

/* Xd of every stacked row (dXd later), G of C columns, the block sums of db alone; any tiling */
static bool plan(const clmsd_context *ctx, const clmsd_head_desc *d, clmsd__engine_space *out)
{
    (void)ctx;
    *out = (clmsd__engine_space){
        .xd_rows = clmsd__head_stacked_rows(d), .ldg = d->classes, .block_sums = d->classes, .wt = 0};
    return true;
}

const clmsd__engine_impl clmsd__engine_clblast = {.name = "clblast", .plan = plan, .run = run, .warmup = warmup};
