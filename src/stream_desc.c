/* SPDX-License-Identifier: MIT */
/* The stream's parameters, checked and turned into the integer thresholds and scales the kernels
 * and the host references read (docs/rng.md). No OpenCL here. */
#include "stream_desc.h"

#include <math.h>

clmsd_status clmsd_rate_params(double rate, uint32_t *threshold, float *scale)
{
    if (!(rate >= 0.0 && rate < 1.0)) /* also rejects NaN */
        return CLMSD_ERROR_INVALID_RATE;
    if (threshold)
        *threshold = (uint32_t)ldexp(rate, 32);
    if (scale)
        *scale = (float)(1.0 / (1.0 - rate));
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_rates(clmsd_context *ctx, uint32_t samples, const double *rates, double rate)
{
    for (uint32_t k = 0; k < (rates ? samples : 1); ++k) {
        double p = rates ? rates[k] : rate;
        if (clmsd_rate_params(p, NULL, NULL) != CLMSD_SUCCESS)
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_RATE, "drop rate %s%u%s is %g: it must lie in [0, 1)",
                               rates ? "rates[" : "", rates ? k : 0, rates ? "]" : " (rate)", p);
    }
    return CLMSD_SUCCESS;
}

void clmsd__rate_table(uint32_t samples, const double *rates, double rate, uint32_t *params)
{
    for (uint32_t k = 0; k < samples; ++k) {
        float scale;
        clmsd_rate_params(rates ? rates[k] : rate, &params[k], &scale);
        union {
            float f;
            uint32_t u;
        } bits = {scale};
        params[samples + k] = bits.u;
    }
}

clmsd_status clmsd__check_stream(clmsd_context *ctx, const clmsd_dropout_desc *desc, clmsd__stream *out)
{
    if (!desc)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "the dropout descriptor is NULL");
    if (desc->samples == 0 || desc->rows == 0 || desc->cols == 0)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "samples (%u), rows (%zu) and cols (%zu) must be positive",
                           (unsigned)desc->samples, desc->rows, desc->cols);
    size_t end_row, end;
    if (!clmsd__add(desc->row_offset, desc->rows, &end_row) || !clmsd__mul(end_row, desc->cols, &end) ||
        (uint64_t)end > CLMSD_MAX_ELEMENTS)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE,
                           "(row_offset %zu + rows %zu) * cols %zu exceeds the stream's 2^34 elements",
                           desc->row_offset, desc->rows, desc->cols);
    clmsd_status st = clmsd__check_rates(ctx, desc->samples, desc->rates, desc->rate);
    if (st != CLMSD_SUCCESS)
        return st;
    uint64_t begin = (uint64_t)desc->row_offset * desc->cols;
    *out = (clmsd__stream){
        .seed = desc->seed,
        .step = desc->step,
        .samples = desc->samples,
        .rows = desc->rows,
        .cols = desc->cols,
        .row_offset = desc->row_offset,
        .first_quad = begin >> 2,
        .quads = ((end - 1) >> 2) - (begin >> 2) + 1,
    };
    return CLMSD_SUCCESS;
}
