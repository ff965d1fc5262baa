/* SPDX-License-Identifier: MIT */
/* A head's descriptor, checked, and what follows from it alone: stacked rows, padded classes, the
 * workspace layout and the host-side constants. No OpenCL here: the host references use it too. */
#include "head_desc.h"

#include "stream_desc.h"

#include "../cl/clmsd_loss.h"

#include <math.h>

/* The kernels read the public loss ids: CE's by name, the others from the table. */
_Static_assert(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY == CLMSD_KERNEL_LOSS_CE, "the kernels read the public loss ids");
#define CLMSD__LOSS_ID(ID, id, value, name, unit) \
    _Static_assert(CLMSD_LOSS_##ID == (value), "clmsd_loss.h's row of " #ID " has the public value");
CLMSD_ELEMENT_LOSSES(CLMSD__LOSS_ID)
#undef CLMSD__LOSS_ID

const char *clmsd_loss_name(clmsd_loss loss)
{
    switch (loss) {
    case CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY: return "softmax_cross_entropy";
#define CLMSD__LOSS_NAME(ID, id, value, name, unit) \
    case CLMSD_LOSS_##ID: return name;
        CLMSD_ELEMENT_LOSSES(CLMSD__LOSS_NAME)
#undef CLMSD__LOSS_NAME
    }
    return NULL;
}

/* Huber's delta: finite and positive once rounded to float (0: 1.0, PyTorch's default). */
static clmsd_status check_loss(clmsd_context *ctx, const clmsd_head_desc *desc)
{
    if (!clmsd_loss_name(desc->loss))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid loss %d", (int)desc->loss);
    float delta = (float)desc->huber_delta;
    if (desc->loss == CLMSD_LOSS_HUBER && desc->huber_delta != 0.0 && !(isfinite(delta) && delta > 0.0f))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT,
                           "huber_delta (%g) must be positive and finite as a float (0: the default 1.0)",
                           desc->huber_delta);
    return CLMSD_SUCCESS;
}

float clmsd__head_loss_param(const clmsd_head_desc *desc)
{
    if (desc->loss != CLMSD_LOSS_HUBER)
        return 0.0f;
    return desc->huber_delta != 0.0 ? (float)desc->huber_delta : 1.0f;
}

clmsd_status clmsd__check_head_desc(clmsd_context *ctx, const clmsd_head_desc *desc)
{
    if (!desc)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "the head descriptor is NULL");
    if (desc->batch == 0 || desc->features == 0 || desc->classes == 0 || desc->samples == 0)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "batch (%zu), features (%zu), classes (%zu) and samples (%u) must be positive", desc->batch,
                           desc->features, desc->classes, (unsigned)desc->samples);
    CLMSD__TRY(check_loss(ctx, desc));
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
    CLMSD__TRY(clmsd__check_rates(ctx, desc->stream, desc->samples, desc->rates, desc->rate));
    CLMSD__TRY(clmsd__check_types(ctx, desc->x_type, desc->dx_type));
    if (desc->layers < 2)
        return CLMSD_SUCCESS;
    size_t pooled;
    if (desc->layers >= CLMSD_LAYER_SAMPLE || desc->samples > CLMSD_LAYER_SAMPLE ||
        !clmsd__mul(elements, desc->layers, &pooled))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "a pooled head of %zu layers and %u samples: both must be below 2^31, L B H within size_t",
                           desc->layers, (unsigned)desc->samples);
    return clmsd__check_rate(ctx, desc->stream, "layer_rate", desc->layer_rate);
}

clmsd_dropout_desc clmsd__head_stream(const clmsd_head_desc *desc, uint64_t seed, uint64_t step, size_t row_offset)
{
    return (clmsd_dropout_desc){.seed = seed,
                                .step = step,
                                .samples = desc->samples,
                                .rates = desc->rates,
                                .rate = desc->rate,
                                .rows = desc->batch,
                                .cols = desc->features,
                                .row_offset = row_offset,
                                .stream = desc->stream,
                                .x_type = desc->x_type,
                                .dx_type = desc->dx_type};
}

size_t clmsd__head_stacked_rows(const clmsd_head_desc *desc)
{
    return desc->combine == CLMSD_AVERAGE_LOSSES ? desc->batch * desc->samples : desc->batch;
}

size_t clmsd__head_max_blocks(const clmsd_head_desc *desc) { return (desc->batch - 1) / CLMSD_ROW_BLOCK + 2; }

size_t clmsd__layer_blocks(const clmsd_head_desc *desc, size_t row_offset)
{
    size_t begin = row_offset * desc->features, end = begin + desc->batch * desc->features;
    return (end - 1) / 4 - begin / 4 + 1;
}

size_t clmsd__layer_max_blocks(const clmsd_head_desc *desc) { return (desc->batch * desc->features - 1) / 4 + 2; }

static size_t larger(size_t a, size_t b) { return a > b ? a : b; }

void clmsd__engine_space_widen(clmsd__engine_space *into, const clmsd__engine_space *s)
{
    into->xd_rows = larger(into->xd_rows, s->xd_rows);
    into->ldg = larger(into->ldg, s->ldg);
    into->block_sums = larger(into->block_sums, s->block_sums);
    into->wt = larger(into->wt, s->wt);
}

bool clmsd__head_layout(const clmsd_head_desc *desc, const clmsd__engine_space *e, clmsd__head_workspace *l)
{
    size_t n = clmsd__head_stacked_rows(desc), nh, nc, ng, npart;
    size_t blocks = clmsd__head_max_blocks(desc);
    l->ldg = e->ldg;
    if (!clmsd__mul(e->xd_rows, desc->features, &nh) || !clmsd__mul(n, desc->classes, &nc) ||
        !clmsd__mul(n, l->ldg, &ng) || !clmsd__mul(blocks, e->block_sums, &npart))
        return false;
    /* the pooled head: a [L], P [B, H], dP [B, H], dA's part per Philox block [Q, L], dA [L] */
    size_t layers = desc->layers >= 2 ? desc->layers : 0, bh = desc->batch * desc->features, npool = 0;
    if (layers && !(clmsd__mul(clmsd__layer_max_blocks(desc), layers, &npool) &&
                    clmsd__add(npool, 2 * layers, &npool) && clmsd__add(npool, 2 * bh, &npool)))
        return false;
    l->xd = 0;
    l->z = nh;
    if (!(clmsd__add(l->z, nc, &l->g) && clmsd__add(l->g, ng, &l->rowloss) && clmsd__add(l->rowloss, n, &l->counter) &&
          clmsd__add(l->counter, 1, &l->loss_part) && clmsd__add(l->loss_part, blocks, &l->part) &&
          clmsd__add(l->part, npart, &l->wt) && clmsd__add(l->wt, e->wt, &l->pool) &&
          clmsd__add(l->pool, npool, &l->floats)))
        return false;
    return l->floats <= SIZE_MAX / sizeof(float);
}

float clmsd__head_inv_samples(const clmsd_head_desc *desc) { return (float)(1.0 / desc->samples); }

float clmsd__head_kprime(const clmsd_head_desc *desc)
{
    return desc->combine == CLMSD_AVERAGE_LOSSES ? (float)desc->samples : 1.0f;
}

float clmsd__head_scale(const clmsd_head_desc *desc, size_t batch)
{
    double k = desc->combine == CLMSD_AVERAGE_LOSSES ? desc->samples : 1.0;
    double per_row = desc->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? 1.0 : (double)batch * (double)desc->classes;
    return (float)(1.0 / (k * per_row));
}
