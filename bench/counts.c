/* SPDX-License-Identifier: MIT */
/* FLOP and byte counts (docs/benchmarks.md, "What is counted"). */
#include "counts.h"

double bench_flops(const clmsd_head_desc *d, bench_op op, clmsd_engine engine)
{
    double B = (double)d->batch, H = (double)d->features, C = (double)d->classes, K = d->samples;
    double n = d->combine == CLMSD_AVERAGE_LOSSES ? K * B : B; /* rows through the head's GEMMs */
    /* the pooled head: the weighted sum over L layers (an fma per element), and backward dX of
     * every layer and the weights' gradient (a multiply and an fma) */
    double pool = d->layers >= 2 ? 2 * (double)d->layers * B * H : 0;
    if (op == BENCH_PREDICT)
        return 2 * B * H * C + pool;
    if (engine == BENCH_NAIVE)
        return 2 * K * B * H * C; /* K separate GEMMs, whatever the combine mode */
    double gemm = 2 * n * H * C;
    return op == BENCH_FORWARD ? gemm + pool : 3 * gemm + 2 * pool; /* logits; + dW + dX */
}

double bench_bytes(const clmsd_head_desc *d, bench_op op, clmsd_engine engine)
{
    double B = (double)d->batch, H = (double)d->features, C = (double)d->classes, K = d->samples;
    bool logits_mode = d->combine == CLMSD_AVERAGE_LOGITS;
    /* bytes of an element of the caller's X and dX (fp16 and bf16: 2); everything else is fp32 */
    double sx = (double)clmsd_type_size(d->x_type), sdx = (double)clmsd_type_size(d->dx_type);
    /* the pooled head reads the L layers' rows and writes P (forward); backward reads them again
     * (the weights' gradient) and writes dX of every layer; the head between sees fp32 P and dP */
    double layers = d->layers >= 2 ? (double)d->layers * B * H : 0;
    double pool_fwd = layers ? sx * layers + 4 * B * H : 0;
    double pool_back = layers ? (sx + sdx) * layers + 8 * B * H : 0;
    double head_x = layers ? 4 : sx, head_dx = layers ? 4 : sdx; /* bytes of the head's X, dX */
    double n = logits_mode ? B : K * B;
    double x = B * H, w = C * H, out = B * C, z = n * C;
    if (op == BENCH_PREDICT)
        return head_x * x + 4 * (w + out) + pool_fwd;
    if (engine == BENCH_NAIVE) /* per sample: read x, write Xd_k; the GEMM reads Xd_k, W, writes Z_k */
        return K * (sx * x + 4 * (2 * x + w + out));
    /* forward: read X and W, write Z and the mean logits */
    double fwd = head_x * x + 4 * (w + z + out);
    /* the CLBlast engine also writes the dropped rows (K*B*H, or Xbar: fp32) and reads them back */
    double copies = logits_mode ? x : K * x;
    if (engine == CLMSD_ENGINE_CLBLAST || logits_mode)
        fwd += 8 * copies;
    if (op == BENCH_FORWARD)
        return fwd + pool_fwd;
    /* dW: read G and X (fused, averaged: Xbar; CLBlast: Xd), write dW; dX: read G and W, write dX */
    double dw = 4 * (z + w) + (engine == CLMSD_ENGINE_CLBLAST || logits_mode ? 4 * copies : head_x * x);
    double dx = 4 * (z + w) + head_dx * x;
    if (engine == CLMSD_ENGINE_CLBLAST) /* dXd = G W written and read back by the mask kernel */
        dx += 8 * copies;
    return fwd + dw + dx + pool_fwd + pool_back;
}
