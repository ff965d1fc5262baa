/* SPDX-License-Identifier: MIT */
/* The layer-pooled head (desc.layers = L, docs/api.md): the fused engine equals the exact host
 * reference bit for bit for every loss and combine mode, with the layers read in place from
 * strided hidden states and dX written at other strides (the gaps between rows untouched), with
 * accumulation, and in predict; the CLBlast engine within size-derived tolerances of the double
 * reference; bad strides and missing layer weights get a status and write nothing. */
#include "test_head_common.h"

enum { L = 5, B = 21, H = 19, C = 7, K = 3, T = 3, BASE = 11 };

/* x: L hidden states [B, T, H] one after another in one buffer, the CLS row (t = 0) of each is
 * the head's input; dx: [B, L, H] (rows apart by all the layers) */
#define X_ROW (T * H)
#define X_LAYER (B * T * H)
#define DX_ROW (L * H)
#define DX_LAYER H

typedef struct pooled_case {
    clmsd_head_desc d;
    float *x, *dense_x, *lw, *w, *bias, *tf;
    int32_t *ti;
    cl_mem bx, blw, bw, bb, bt;
} pooled_case;

static const double u8_rates[3] = {0.1015625, 0.203125, 0.30078125}; /* multiples of 1/256 */

/* the stream and storage types of a case: x of x_type (the host keeps its widened values), dx
 * of dx_type */
static pooled_case make_typed_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine,
                                   clmsd_stream stream, clmsd_type x_type, clmsd_type dx_type);

static pooled_case make_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine)
{
    return make_typed_case(ctx, loss, combine, engine, CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT32, CLMSD_FLOAT32);
}

static pooled_case make_typed_case(clmsd_context *ctx, clmsd_loss loss, clmsd_combine combine, clmsd_engine engine,
                                   clmsd_stream stream, clmsd_type x_type, clmsd_type dx_type)
{
    bool u8 = stream == CLMSD_STREAM_PHILOX_V1_U8;
    pooled_case p = {.d = {.batch = B,
                           .features = H,
                           .classes = C,
                           .samples = K,
                           .rates = u8 ? u8_rates : kaggle_rates,
                           .loss = loss,
                           .combine = combine,
                           .engine = engine,
                           .layers = L,
                           .layer_rate = u8 ? 0.1015625 : 0.1,
                           .stream = stream,
                           .x_type = x_type,
                           .dx_type = dx_type}};
    size_t nx = BASE + L * X_LAYER, xs = clmsd_type_size(x_type);
    p.x = malloc(nx * 4), p.dense_x = malloc(L * B * H * 4), p.lw = malloc(L * 4), p.w = malloc(C * H * 4);
    p.bias = malloc(C * 4), p.tf = malloc(B * C * 4), p.ti = malloc(B * 4);
    test_fill(p.x, nx, 31);
    void *xt = malloc(nx * xs);
    clmsd_ref_from_float(x_type, p.x, nx, xt);
    clmsd_ref_to_float(x_type, xt, nx, p.x);
    for (size_t l = 0; l < L; ++l)
        for (size_t b = 0; b < B; ++b)
            memcpy(p.dense_x + (l * B + b) * H, p.x + BASE + l * X_LAYER + b * X_ROW, H * 4);
    test_fill(p.lw, L, 32);
    test_fill(p.w, C * H, 33);
    for (size_t i = 0; i < C * H; ++i)
        p.w[i] *= 0.25f;
    test_fill(p.bias, C, 34);
    for (size_t i = 0; i < B * C; ++i)
        p.tf[i] = loss == CLMSD_LOSS_BCE_WITH_LOGITS ? (float)((i * 7) % 5) / 4.0f : (float)((i * 3) % 7) / 3.0f - 1.0f;
    for (size_t b = 0; b < B; ++b)
        p.ti[b] = b % 5 == 3 ? -100 : (int32_t)((b * 7 + 1) % C);
    p.bx = test_buffer(ctx, xt, nx * xs), p.blw = test_buffer(ctx, p.lw, L * 4),
    p.bw = test_buffer(ctx, p.w, C * H * 4);
    p.bb = test_buffer(ctx, p.bias, C * 4);
    p.bt = loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? test_buffer(ctx, p.ti, B * 4) : test_buffer(ctx, p.tf, B * C * 4);
    free(xt);
    return p;
}

static void free_case(pooled_case *p)
{
    cl_mem all[] = {p->bx, p->blw, p->bw, p->bb, p->bt};
    for (size_t i = 0; i < 5; ++i)
        clReleaseMemObject(all[i]);
    free(p->x), free(p->dense_x), free(p->lw), free(p->w), free(p->bias), free(p->tf), free(p->ti);
}

static const void *target_of(const pooled_case *p)
{
    return p->d.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)p->ti : (const void *)p->tf;
}

/* outputs: loss [1], logits [B, C], dW [C, H], db [C], dlw [L] in one buffer; dx [B, L, H] in another */
enum { OUT = 1 + B * C + C * H + C + L, DX = B * L * H };

static clmsd_head_args device_args(const pooled_case *p, cl_mem out, cl_mem dx, int accumulate)
{
    return (clmsd_head_args){.seed = 5,
                             .step = 8,
                             .row_offset = 5,
                             .x = p->bx,
                             .x_off = BASE,
                             .x_layer_stride = X_LAYER,
                             .x_row_stride = X_ROW,
                             .w = p->bw,
                             .bias = p->bb,
                             .target = p->bt,
                             .loss = out,
                             .logits = out,
                             .logits_off = 1,
                             .dw = out,
                             .dw_off = 1 + B * C,
                             .dbias = out,
                             .dbias_off = 1 + B * C + C * H,
                             .layer_weights = p->blw,
                             .dlayer_weights = out,
                             .dlayer_weights_off = 1 + B * C + C * H + C,
                             .dx = dx,
                             .dx_layer_stride = DX_LAYER,
                             .dx_row_stride = DX_ROW,
                             .accumulate = accumulate};
}

static void check_typed(clmsd_loss loss, clmsd_combine combine, int accumulate, clmsd_stream stream, clmsd_type x_type,
                        clmsd_type dx_type)
{
    clmsd_context *ctx = test_context();
    pooled_case p = make_typed_case(ctx, loss, combine, CLMSD_ENGINE_FUSED, stream, x_type, dx_type);
    size_t dxs = clmsd_type_size(dx_type);
    float out0[OUT], dx0[DX + TAIL], ref[OUT], rdx[L * B * H];
    unsigned char dxt[DX * 4 + TAIL * 4], gdxt[DX * 4 + TAIL * 4];
    test_fill(out0, OUT, 41);
    test_fill(dx0, DX, 42);
    clmsd_ref_from_float(dx_type, dx0, DX, dxt); /* the typed prefill, and dx0 its widened values */
    clmsd_ref_to_float(dx_type, dxt, DX, dx0);
    memset(dxt + DX * dxs, CANARY, TAIL * 4);
    memcpy(ref, out0, sizeof ref);
    for (size_t l = 0; l < L; ++l) /* the reference's dx is dense [L, B, H] */
        for (size_t b = 0; b < B; ++b)
            memcpy(rdx + (l * B + b) * H, dx0 + b * DX_ROW + l * DX_LAYER, H * 4);
    clmsd_ref_head_exact_args e = {.seed = 5,
                                   .step = 8,
                                   .row_offset = 5,
                                   .x = p.dense_x,
                                   .w = p.w,
                                   .bias = p.bias,
                                   .target = target_of(&p),
                                   .loss = ref,
                                   .logits = ref + 1,
                                   .dw = ref + 1 + B * C,
                                   .dbias = ref + 1 + B * C + C * H,
                                   .layer_weights = p.lw,
                                   .dlayer_weights = ref + 1 + B * C + C * H + C,
                                   .dx = rdx,
                                   .accumulate = accumulate};
    cr_assert_eq(clmsd_ref_head_exact_train_step(&p.d, &e), CLMSD_SUCCESS, "%s", clmsd_context_last_error(NULL));
    cl_mem out = test_buffer(ctx, out0, sizeof out0), dx = test_buffer(ctx, dxt, DX * dxs + TAIL * 4);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &p.d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    clmsd_head_args a = device_args(&p, out, dx, accumulate);
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    float got[OUT], gdx[DX];
    read_floats(ctx, out, got, OUT);
    test_read(ctx, dx, 0, gdxt, DX * dxs + TAIL * 4);
    /* the device's dx widened (exact), the reference's rounded once and widened: equal bits */
    clmsd_ref_to_float(dx_type, gdxt, DX, gdx);
    clmsd_ref_from_float(dx_type, rdx, L * B * H, dxt);
    clmsd_ref_to_float(dx_type, dxt, L * B * H, rdx);
    head_case t = {B, H, C, K, kaggle_rates, 0.0, true, accumulate};
    assert_bits(got, ref, 1, "loss", &t);
    assert_bits(got + 1, ref + 1, B * C, "logits", &t);
    assert_bits(got + 1 + B * C, ref + 1 + B * C, C * H, "dw", &t);
    assert_bits(got + 1 + B * C + C * H, ref + 1 + B * C + C * H, C, "dbias", &t);
    assert_bits(got + 1 + B * C + C * H + C, ref + 1 + B * C + C * H + C, L, "dlayer_weights", &t);
    for (size_t l = 0; l < L; ++l)
        for (size_t b = 0; b < B; ++b)
            assert_bits(gdx + b * DX_ROW + l * DX_LAYER, rdx + (l * B + b) * H, H, "dx", &t);
    for (size_t i = 0; i < TAIL * 4; ++i)
        cr_assert_eq(gdxt[DX * dxs + i], CANARY, "dx: written past its last row");
    clReleaseMemObject(out), clReleaseMemObject(dx);
    clmsd_head_destroy(head);
    free_case(&p);
    clmsd_context_destroy(ctx);
}

static void check_fused(clmsd_loss loss, clmsd_combine combine, int accumulate)
{
    check_typed(loss, combine, accumulate, CLMSD_STREAM_PHILOX_V1, CLMSD_FLOAT32, CLMSD_FLOAT32);
}

/* the u8 stream for the layers' and the samples' masks, fp16 and bf16 hidden states and dX */
Test(pooled, fused_u8_fp16, .timeout = 900)
{
    check_typed(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 0, CLMSD_STREAM_PHILOX_V1_U8, CLMSD_FLOAT16,
                CLMSD_FLOAT16);
}
Test(pooled, fused_u8_bf16_accumulate, .timeout = 900)
{
    check_typed(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 1, CLMSD_STREAM_PHILOX_V1_U8, CLMSD_BFLOAT16,
                CLMSD_BFLOAT16);
}
Test(pooled, fused_bf16_to_fp32_accumulate, .timeout = 900)
{
    check_typed(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 1, CLMSD_STREAM_PHILOX_V1, CLMSD_BFLOAT16,
                CLMSD_FLOAT32);
}

Test(pooled, fused_cross_entropy_average_losses, .timeout = 900)
{
    check_fused(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 0);
}
Test(pooled, fused_cross_entropy_average_logits, .timeout = 900)
{
    check_fused(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS, 0);
}
Test(pooled, fused_bce_average_logits, .timeout = 900)
{
    check_fused(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 0); /* the QUEST model's head */
}
Test(pooled, fused_bce_average_losses, .timeout = 900)
{
    check_fused(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES, 0);
}
Test(pooled, fused_mse_average_losses, .timeout = 900) { check_fused(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES, 0); }
Test(pooled, fused_accumulate, .timeout = 900) { check_fused(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 1); }

/* predict: P = sum_l a_l X_l without dropout, then X W^T + b */
Test(pooled, fused_predict, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    pooled_case p = make_case(ctx, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_FUSED);
    float ref[B * C], got[B * C];
    clmsd_ref_head_exact_args e = {.x = p.dense_x, .w = p.w, .bias = p.bias, .logits = ref, .layer_weights = p.lw};
    cr_assert_eq(clmsd_ref_head_exact_predict(&p.d, &e), CLMSD_SUCCESS);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &p.d, &head), CLMSD_SUCCESS);
    cl_mem out = test_buffer(ctx, NULL, sizeof got);
    clmsd_head_args a = {.x = p.bx,
                         .x_off = BASE,
                         .x_layer_stride = X_LAYER,
                         .x_row_stride = X_ROW,
                         .w = p.bw,
                         .bias = p.bb,
                         .logits = out,
                         .layer_weights = p.blw};
    cr_assert_eq(clmsd_head_predict(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    read_floats(ctx, out, got, B * C);
    head_case t = {B, H, C, K, kaggle_rates, 0.0, true, 0};
    assert_bits(got, ref, B * C, "predict logits", &t);
    clReleaseMemObject(out);
    clmsd_head_destroy(head);
    free_case(&p);
    clmsd_context_destroy(ctx);
}

/* The CLBlast engine: its GEMMs sum in CLBlast's order, held to size-derived tolerances of the
 * double reference; the pooling around them is the same kernels as the fused engine's. */
Test(pooled, clblast_within_tolerance, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    pooled_case p = make_case(ctx, CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, CLMSD_ENGINE_CLBLAST);
    double rl, rz[B * C], rdw[C * H], rdb[C], rlw[L], rdx[L * B * H];
    clmsd_ref_head_args r = {.seed = 5,
                             .step = 8,
                             .row_offset = 5,
                             .x = p.dense_x,
                             .w = p.w,
                             .bias = p.bias,
                             .target = p.tf,
                             .loss = &rl,
                             .logits = rz,
                             .dw = rdw,
                             .dbias = rdb,
                             .layer_weights = p.lw,
                             .dlayer_weights = rlw,
                             .dx = rdx};
    cr_assert_eq(clmsd_ref_head_train_step(&p.d, &r), CLMSD_SUCCESS);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &p.d, &head), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    cl_mem out = test_buffer(ctx, NULL, OUT * 4), dx = test_buffer(ctx, NULL, DX * 4);
    clmsd_head_args a = device_args(&p, out, dx, 0);
    cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    float got[OUT], gdx[DX], dense[L * B * H];
    read_floats(ctx, out, got, OUT);
    read_floats(ctx, dx, gdx, DX);
    for (size_t l = 0; l < L; ++l)
        for (size_t b = 0; b < B; ++b)
            memcpy(dense + (l * B + b) * H, gdx + b * DX_ROW + l * DX_LAYER, H * 4);
    /* terms: the pooled sums (L), the GEMMs' (H, then B C for the backward), the loss's B C */
    double terms = L + H + B * C + L * B * H;
    test_assert_close(got, &rl, 1, terms, "loss");
    test_assert_close(got + 1, rz, B * C, terms, "logits");
    test_assert_close(got + 1 + B * C, rdw, C * H, terms, "dw");
    test_assert_close(got + 1 + B * C + C * H, rdb, C, terms, "dbias");
    test_assert_close(got + 1 + B * C + C * H + C, rlw, L, terms, "dlayer_weights");
    test_assert_close(dense, rdx, L * B * H, terms, "dx");
    clReleaseMemObject(out), clReleaseMemObject(dx);
    clmsd_head_destroy(head);
    free_case(&p);
    clmsd_context_destroy(ctx);
}

/* Bad input: a status, and no output written. */
Test(pooled, bad_input, .timeout = 900)
{
    clmsd_context *ctx = test_context();
    pooled_case p = make_case(ctx, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_FUSED);
    clmsd_head *head;
    cr_assert_eq(clmsd_head_create(ctx, &p.d, &head), CLMSD_SUCCESS);
    cl_mem out = test_canary_buffer(ctx, OUT * 4), dx = test_canary_buffer(ctx, DX * 4);
    cl_mem small = test_buffer(ctx, NULL, (L * B * H - 1) * 4);
    struct {
        const char *what;
        clmsd_status want;
        const char *message; /* what the message must say */
    } cases[] = {
        {"no layer weights", CLMSD_ERROR_INVALID_ARGUMENT, "layer_weights"},
        {"x row stride below H", CLMSD_ERROR_INVALID_SIZE, "row stride"},
        {"dx rows overlapping", CLMSD_ERROR_INVALID_SIZE, "overlap"},
        {"x too small for dense layers", CLMSD_ERROR_INVALID_BUFFER, "x holds"},
        {"a shard", CLMSD_ERROR_UNSUPPORTED, "shard"},
        {"an x layer stride that overflows", CLMSD_ERROR_INVALID_SIZE, "overflows"},
        {"a dx layer stride that overflows", CLMSD_ERROR_INVALID_SIZE, "dx: layer stride"},
    };
    clmsd_head_shard shard = {B, 3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clmsd_head_args a = device_args(&p, out, dx, 0);
        if (i == 0)
            a.layer_weights = NULL;
        if (i == 1)
            a.x_row_stride = H - 1;
        if (i == 2)
            a.dx_row_stride = H, a.dx_layer_stride = H; /* layer l's row b is layer l+1's row b-1 */
        if (i == 3)
            a.x = small, a.x_off = 0, a.x_layer_stride = 0, a.x_row_stride = 0;
        if (i == 4)
            a.shard = &shard, a.ignored = NULL;
        if (i == 5)
            a.x_layer_stride = SIZE_MAX / 2;
        if (i == 6)
            a.dx_layer_stride = SIZE_MAX / 2;
        cr_assert_eq(clmsd_head_train_step(head, &a, 0, NULL, NULL), cases[i].want, "%s: %s", cases[i].what,
                     clmsd_context_last_error(ctx));
        cr_assert(strstr(clmsd_context_last_error(ctx), cases[i].message), "%s: the message \"%s\"", cases[i].what,
                  clmsd_context_last_error(ctx));
    }
    test_assert_canary(ctx, out, OUT * 4, "outputs");
    test_assert_canary(ctx, dx, DX * 4, "dx");
    clReleaseMemObject(out), clReleaseMemObject(dx), clReleaseMemObject(small);
    clmsd_head_destroy(head);
    free_case(&p);
    clmsd_context_destroy(ctx);
}
