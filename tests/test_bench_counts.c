/* SPDX-License-Identifier: MIT */
/* The benchmark's FLOP and byte counts match the formulas of docs/benchmarks.md ("What is
 * counted"), written out here once more for each shape, op and engine. */
#include "../bench/counts.h"
#include "helpers.h"

typedef struct shape {
    size_t B, H, C;
    uint32_t K;
    clmsd_combine combine;
} shape;

static const shape shapes[] = {
    {32, 768, 30, 8, CLMSD_AVERAGE_LOSSES},     {8, 1024, 30, 5, CLMSD_AVERAGE_LOGITS},
    {4096, 768, 15, 5, CLMSD_AVERAGE_LOSSES},   {128, 512, 100, 8, CLMSD_AVERAGE_LOSSES},
    {256, 2048, 1000, 8, CLMSD_AVERAGE_LOSSES}, {64, 1024, 2, 16, CLMSD_AVERAGE_LOSSES},
};

Test(bench_counts, flops)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const shape *s = &shapes[i];
        clmsd_head_desc d = {
            .batch = s->B, .features = s->H, .classes = s->C, .samples = s->K, .rate = 0.5, .combine = s->combine};
        double n = s->combine == CLMSD_AVERAGE_LOSSES ? (double)s->K * s->B : (double)s->B;
        double bhc = (double)s->B * s->H * s->C;
        for (int e = CLMSD_ENGINE_CLBLAST; e <= CLMSD_ENGINE_FUSED; ++e) {
            cr_assert_eq(bench_flops(&d, BENCH_FORWARD, (clmsd_engine)e), 2 * n * s->H * s->C);
            cr_assert_eq(bench_flops(&d, BENCH_TRAIN_STEP, (clmsd_engine)e), 6 * n * s->H * s->C);
            cr_assert_eq(bench_flops(&d, BENCH_PREDICT, (clmsd_engine)e), 2 * bhc);
        }
        cr_assert_eq(bench_flops(&d, BENCH_FORWARD, BENCH_NAIVE), 2.0 * s->K * bhc);
    }
}

Test(bench_counts, bytes)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const shape *s = &shapes[i];
        clmsd_head_desc d = {
            .batch = s->B, .features = s->H, .classes = s->C, .samples = s->K, .rate = 0.5, .combine = s->combine};
        double B = s->B, H = s->H, C = s->C, K = s->K;
        double x = B * H, w = C * H, out = B * C;
        bool logits = s->combine == CLMSD_AVERAGE_LOGITS;
        double n = logits ? B : K * B, z = n * C, xd = logits ? x : K * x;
        /* forward: X, W, Z, logits; + the dropped copies written and read (CLBlast, or Xbar) */
        double fused_fwd = x + w + z + out + (logits ? 2 * xd : 0);
        double clblast_fwd = x + w + z + out + 2 * xd;
        cr_assert_eq(bench_bytes(&d, BENCH_FORWARD, CLMSD_ENGINE_FUSED), 4 * fused_fwd);
        cr_assert_eq(bench_bytes(&d, BENCH_FORWARD, CLMSD_ENGINE_CLBLAST), 4 * clblast_fwd);
        /* train: + dW (G, the rows it multiplies, dW) + dX (G, W, dX; CLBlast: + dXd written and read) */
        double fused_train = fused_fwd + (z + (logits ? xd : x) + w) + (z + w + x);
        double clblast_train = clblast_fwd + (z + xd + w) + (z + w + x + 2 * xd);
        cr_assert_eq(bench_bytes(&d, BENCH_TRAIN_STEP, CLMSD_ENGINE_FUSED), 4 * fused_train);
        cr_assert_eq(bench_bytes(&d, BENCH_TRAIN_STEP, CLMSD_ENGINE_CLBLAST), 4 * clblast_train);
        for (int e = CLMSD_ENGINE_CLBLAST; e <= CLMSD_ENGINE_FUSED; ++e)
            cr_assert_eq(bench_bytes(&d, BENCH_PREDICT, (clmsd_engine)e), 4 * (x + w + out));
        cr_assert_eq(bench_bytes(&d, BENCH_FORWARD, BENCH_NAIVE), 4 * K * (3 * x + w + out));
    }
}

/* fp16 or bf16 X and dX: 2 bytes where the caller's X is read and its dX written, 4 elsewhere */
Test(bench_counts, bytes_follow_the_storage_types)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const shape *s = &shapes[i];
        clmsd_head_desc d = {
            .batch = s->B, .features = s->H, .classes = s->C, .samples = s->K, .rate = 0.5, .combine = s->combine};
        clmsd_head_desc h = d;
        h.x_type = CLMSD_FLOAT16, h.dx_type = CLMSD_BFLOAT16;
        double x = (double)s->B * s->H;
        bool logits = s->combine == CLMSD_AVERAGE_LOGITS;
        /* fused: X read by the logits pass and by dW (average logits: once, into Xbar), dX written */
        double fused_x = logits ? 1 : 2;
        cr_assert_eq(bench_bytes(&h, BENCH_FORWARD, CLMSD_ENGINE_FUSED),
                     bench_bytes(&d, BENCH_FORWARD, CLMSD_ENGINE_FUSED) - 2 * x);
        cr_assert_eq(bench_bytes(&h, BENCH_TRAIN_STEP, CLMSD_ENGINE_FUSED),
                     bench_bytes(&d, BENCH_TRAIN_STEP, CLMSD_ENGINE_FUSED) - 2 * x * (fused_x + 1));
        cr_assert_eq(bench_bytes(&h, BENCH_TRAIN_STEP, CLMSD_ENGINE_CLBLAST),
                     bench_bytes(&d, BENCH_TRAIN_STEP, CLMSD_ENGINE_CLBLAST) - 2 * x * 2);
        cr_assert_eq(bench_bytes(&h, BENCH_PREDICT, CLMSD_ENGINE_FUSED),
                     bench_bytes(&d, BENCH_PREDICT, CLMSD_ENGINE_FUSED) - 2 * x);
    }
}
