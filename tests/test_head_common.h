/* SPDX-License-Identifier: MIT */
/* What the head's tests share: the cases' shape, inputs and canaried outputs on the device, and
 * the bit-for-bit assertion. Included by tests/test_head_*.c. */
#ifndef CLMSD_TEST_HEAD_COMMON_H
#define CLMSD_TEST_HEAD_COMMON_H

#include "helpers.h"

#include "../cl/clmsd_loss.h"

#define TAIL 16 /* canary floats after every output */

typedef struct head_case {
    size_t B, H, C;
    uint32_t K;
    const double *rates;
    double rate;
    bool bias;
    int accumulate;
} head_case;

static const double kaggle_rates[64] __attribute__((unused)) = {0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3};

/* one output buffer: n floats of `prefill`, then TAIL floats of canary bytes */
typedef struct out_buf {
    cl_mem mem;
    size_t n;
    float *host;
} out_buf;

static inline out_buf out_make(clmsd_context *ctx, size_t n, uint32_t seed)
{
    out_buf o = {NULL, n, malloc((n + TAIL) * 4)};
    memset(o.host, CANARY, (n + TAIL) * 4);
    test_fill(o.host, n, seed);
    o.mem = test_buffer(ctx, o.host, (n + TAIL) * 4);
    return o;
}

/* reads the device values into `dev` and checks the tail canary */
static inline void out_read(clmsd_context *ctx, out_buf *o, float *dev, const char *what)
{
    float *all = malloc((o->n + TAIL) * 4);
    test_read(ctx, o->mem, 0, all, (o->n + TAIL) * 4);
    const unsigned char *tail = (const unsigned char *)(all + o->n);
    for (size_t i = 0; i < TAIL * 4; ++i)
        cr_assert_eq(tail[i], CANARY, "%s: wrote past its end", what);
    memcpy(dev, all, o->n * 4);
    free(all);
}

static inline void out_free(out_buf *o)
{
    clReleaseMemObject(o->mem);
    free(o->host);
}

typedef struct inputs {
    float *x, *w, *bias, *tf;
    int32_t *ti;
    cl_mem bx, bw, bb, bt;
} inputs;

static inline inputs inputs_make(clmsd_context *ctx, const clmsd_head_desc *d, bool with_bias)
{
    size_t B = d->batch, H = d->features, C = d->classes;
    inputs in = {malloc(B * H * 4),
                 malloc(C * H * 4),
                 with_bias ? malloc(C * 4) : NULL,
                 malloc(B * C * 4),
                 malloc(B * 4),
                 NULL,
                 NULL,
                 NULL,
                 NULL};
    test_fill(in.x, B * H, 21);
    test_fill(in.w, C * H, 22);
    for (size_t i = 0; i < C * H; ++i)
        in.w[i] *= 0.25f;
    if (with_bias)
        test_fill(in.bias, C, 23);
    for (size_t i = 0; i < B * C; ++i)
        in.tf[i] =
            clmsd_loss_unit_targets((int)d->loss) ? (float)((i * 7) % 5) / 4.0f : (float)((i * 3) % 7) / 3.0f - 1.0f;
    for (size_t b = 0; b < B; ++b)
        in.ti[b] = (b % 5 == 3) ? -100 : (int32_t)((b * 7 + 1) % C); /* every fifth row ignored */
    in.bx = test_buffer(ctx, in.x, B * H * 4);
    in.bw = test_buffer(ctx, in.w, C * H * 4);
    in.bb = with_bias ? test_buffer(ctx, in.bias, C * 4) : NULL;
    in.bt = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? test_buffer(ctx, in.ti, B * 4)
                                                        : test_buffer(ctx, in.tf, B * C * 4);
    return in;
}

static inline void inputs_free(inputs *in)
{
    clReleaseMemObject(in->bx), clReleaseMemObject(in->bw), clReleaseMemObject(in->bt);
    if (in->bb)
        clReleaseMemObject(in->bb);
    free(in->x), free(in->w), free(in->bias), free(in->tf), free(in->ti);
}

static inline const void *host_target(const clmsd_head_desc *d, const inputs *in)
{
    return d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)in->ti : (const void *)in->tf;
}

/* the fused engine's outputs equal the exact host reference's bit for bit */
static inline void assert_bits(const float *dev, const float *ref, size_t n, const char *what, const head_case *t)
{
    for (size_t i = 0; i < n; ++i)
        cr_assert(test_same_bits(dev[i], ref[i]), "%s[%zu]: fused %.9g, exact reference %.9g (B %zu H %zu C %zu K %u)",
                  what, i, (double)dev[i], (double)ref[i], t->B, t->H, t->C, (unsigned)t->K);
}

static inline void read_floats(clmsd_context *ctx, cl_mem m, float *out, size_t n) { test_read(ctx, m, 0, out, n * 4); }

#endif
