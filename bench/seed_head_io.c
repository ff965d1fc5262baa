/* SPDX-License-Identifier: MIT */
/* For bench/seed_head.py: one train step of the QUEST model's layer-pooled head on the default
 * device, with each engine, and everything PyTorch needs to run the model's own code on the same
 * numbers: the inputs, the masks from clmsd's host reference (keep * scale, per layer and per head
 * sample) and the device's outputs, as raw float32 little-endian files in DIR.
 * Usage: seed-head-io DIR [L B T H C K LAYER_P HEAD_P] (default the quest-seed shape: 25 8 2 1024
 * 30 5 0.1 0.5). Writes DIR/meta.txt (the shape, one "name value" per line). */
#include <clmsd.h>
#include <clmsd_ref.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t L = 25, B = 8, T = 2, H = 1024, C = 30, K = 5;
static double layer_p = 0.1, head_p = 0.5;
static const uint64_t SEED = 2019, STEP = 3;

static int save(const char *dir, const char *name, const float *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(v, sizeof *v, n, f) == n ? 0 : -1; /* (x86 and ARM hosts: little-endian) */
    if (f && fclose(f))
        rc = -1;
    if (rc)
        fprintf(stderr, "seed-head-io: cannot write %s\n", path);
    return rc;
}

static float unit(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

static cl_mem buffer(clmsd_context *ctx, const void *data, size_t bytes)
{
    return clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, (void *)data,
                          NULL);
}

/* one train step with `engine`; outputs saved with the engine's name as prefix */
static int run(clmsd_context *ctx, const char *dir, clmsd_engine engine, const float *hidden, const float *lw,
               const float *w, const float *b, const float *t)
{
    clmsd_head_desc d = {.batch = B,
                         .features = H,
                         .classes = C,
                         .samples = (uint32_t)K,
                         .rate = head_p,
                         .loss = CLMSD_LOSS_BCE_WITH_LOGITS,
                         .combine = CLMSD_AVERAGE_LOGITS,
                         .engine = engine,
                         .layers = L,
                         .layer_rate = layer_p};
    size_t nh = L * B * T * H;
    float *zeros = calloc(nh, sizeof *zeros), *out = malloc((nh + 1 + B * C + C * H + C + L) * sizeof *out);
    clmsd_head *head = NULL;
    int rc = -1;
    if (!zeros || !out || clmsd_head_create(ctx, &d, &head) != CLMSD_SUCCESS) {
        fprintf(stderr, "seed-head-io: %s\n", clmsd_context_last_error(ctx));
        free(zeros);
        free(out);
        return -1;
    }
    cl_mem bh = buffer(ctx, hidden, nh * 4), blw = buffer(ctx, lw, L * 4), bw = buffer(ctx, w, C * H * 4);
    cl_mem bb = buffer(ctx, b, C * 4), bt = buffer(ctx, t, B * C * 4), bdx = buffer(ctx, zeros, nh * 4);
    cl_mem bo = buffer(ctx, zeros, (1 + B * C + C * H + C + L) * 4);
    clmsd_head_args a = {.seed = SEED,
                         .step = STEP,
                         .x = bh,
                         .x_layer_stride = B * T * H,
                         .x_row_stride = T * H,
                         .layer_weights = blw,
                         .w = bw,
                         .bias = bb,
                         .target = bt,
                         .loss = bo,
                         .logits = bo,
                         .logits_off = 1,
                         .dw = bo,
                         .dw_off = 1 + B * C,
                         .dbias = bo,
                         .dbias_off = 1 + B * C + C * H,
                         .dlayer_weights = bo,
                         .dlayer_weights_off = 1 + B * C + C * H + C,
                         .dx = bdx,
                         .dx_layer_stride = B * T * H,
                         .dx_row_stride = T * H};
    cl_command_queue q = clmsd_context_queue(ctx);
    if (clmsd_head_train_step(head, &a, 0, NULL, NULL) != CLMSD_SUCCESS) {
        fprintf(stderr, "seed-head-io: %s\n", clmsd_context_last_error(ctx));
    } else if (clEnqueueReadBuffer(q, bo, CL_TRUE, 0, (1 + B * C + C * H + C + L) * 4, out, 0, NULL, NULL) ==
                   CL_SUCCESS &&
               clEnqueueReadBuffer(q, bdx, CL_TRUE, 0, nh * 4, out + 1 + B * C + C * H + C + L, 0, NULL, NULL) ==
                   CL_SUCCESS) {
        const char *e = engine == CLMSD_ENGINE_FUSED ? "fused" : "clblast";
        char name[64];
        const char *names[] = {"loss", "logits", "dw", "db", "dlw", "dhidden"};
        size_t sizes[] = {1, B * C, C * H, C, L, nh}, at = 0;
        rc = 0;
        for (int i = 0; i < 6 && rc == 0; ++i) {
            snprintf(name, sizeof name, "%s_%s", e, names[i]);
            rc = save(dir, name, out + at, sizes[i]);
            at += sizes[i];
        }
    }
    cl_mem all[] = {bh, blw, bw, bb, bt, bdx, bo};
    for (int i = 0; i < 7; ++i)
        clReleaseMemObject(all[i]);
    clmsd_head_destroy(head);
    free(zeros);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 10) {
        fprintf(stderr, "usage: seed-head-io DIR [L B T H C K LAYER_P HEAD_P]\n");
        return 2;
    }
    const char *dir = argv[1];
    if (argc == 10) {
        size_t *sizes[] = {&L, &B, &T, &H, &C, &K};
        for (int i = 0; i < 6; ++i)
            *sizes[i] = (size_t)strtoull(argv[2 + i], NULL, 10);
        layer_p = strtod(argv[8], NULL);
        head_p = strtod(argv[9], NULL);
    }
    size_t nh = L * B * T * H;
    float *hidden = malloc(nh * 4), *lw = malloc(L * 4), *w = malloc(C * H * 4), *b = malloc(C * 4);
    float *t = malloc(B * C * 4), *lmask = malloc(L * B * H * 4), *hmask = malloc(K * B * H * 4);
    uint8_t *keep = malloc(K * B * H);
    if (!hidden || !lw || !w || !b || !t || !lmask || !hmask || !keep)
        return 1;
    uint32_t s = 12345;
    for (size_t i = 0; i < nh; ++i)
        hidden[i] = unit(&s);
    for (size_t i = 0; i < L; ++i)
        lw[i] = unit(&s);
    for (size_t i = 0; i < C * H; ++i)
        w[i] = 0.1f * unit(&s);
    for (size_t i = 0; i < C; ++i)
        b[i] = 0.1f * unit(&s);
    for (size_t i = 0; i < B * C; ++i)
        t[i] = unit(&s) + 0.5f; /* QUEST's targets: ratings in [0, 1] */
    /* the masks as keep * scale: each layer's on stream sample 2^31 + l, the head's samples 0 .. K-1 */
    uint32_t threshold;
    float scale;
    clmsd_rate_params(layer_p, &threshold, &scale);
    for (size_t l = 0; l < L; ++l)
        for (size_t e = 0; e < B * H; ++e)
            lmask[l * B * H + e] =
                clmsd_ref_stream_word(SEED, STEP, 0x80000000u + (uint32_t)l, e) >= threshold ? scale : 0.0f;
    clmsd_dropout_desc dd = {.seed = SEED, .step = STEP, .samples = (uint32_t)K, .rate = head_p, .rows = B, .cols = H};
    clmsd_rate_params(head_p, &threshold, &scale);
    if (clmsd_ref_dropout_mask(&dd, keep) != CLMSD_SUCCESS)
        return 1;
    for (size_t i = 0; i < K * B * H; ++i)
        hmask[i] = keep[i] ? scale : 0.0f;
    clmsd_context *ctx;
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "seed-head-io: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "L %zu\nB %zu\nT %zu\nH %zu\nC %zu\nK %zu\nlayer_p %.17g\nhead_p %.17g\ndevice %s\n", L, B, T, H, C, K,
            layer_p, head_p, clmsd_context_device_name(ctx));
    fclose(f);
    int rc = save(dir, "hidden", hidden, nh) || save(dir, "layer_weights", lw, L) || save(dir, "w", w, C * H) ||
             save(dir, "b", b, C) || save(dir, "targets", t, B * C) || save(dir, "layer_masks", lmask, L * B * H) ||
             save(dir, "head_masks", hmask, K * B * H) || run(ctx, dir, CLMSD_ENGINE_FUSED, hidden, lw, w, b, t) ||
             run(ctx, dir, CLMSD_ENGINE_CLBLAST, hidden, lw, w, b, t);
    clmsd_context_destroy(ctx);
    void *host[] = {hidden, lw, w, b, t, lmask, hmask, keep};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; ++i)
        free(host[i]);
    return rc ? 1 : 0;
}
