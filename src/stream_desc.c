/* SPDX-License-Identifier: MIT */
/* The stream's parameters, checked and turned into the integer thresholds and scales the kernels
 * and the host references read (docs/rng.md). No OpenCL here. */
#include "stream_desc.h"

#include "../cl/clmsd_constants.h"

#include <math.h>
#include <stdio.h>

_Static_assert(CLMSD_STREAM_PHILOX_V1 == CLMSD_KERNEL_STREAM_V1 && CLMSD_STREAM_PHILOX_V1_U8 == CLMSD_KERNEL_STREAM_U8,
               "the kernels read the public stream ids");
_Static_assert(CLMSD_FLOAT32 == CLMSD_KERNEL_F32 && CLMSD_FLOAT16 == CLMSD_KERNEL_F16 &&
                   CLMSD_BFLOAT16 == CLMSD_KERNEL_BF16,
               "the kernels read the public type ids");

/* The streams the kernels implement. The kernels take the stream's id and tell the two apart with
 * CLMSD_IS_U8; a stream added to clmsd_stream makes this switch fail to compile (-Wswitch, an
 * error in the library's build) until the kernels learn it and it is listed here. */
static bool kernels_know(clmsd_stream stream)
{
    switch (stream) {
    case CLMSD_STREAM_PHILOX_V1:
    case CLMSD_STREAM_PHILOX_V1_U8: return true;
    }
    return false;
}

size_t clmsd_type_size(clmsd_type type)
{
    switch (type) {
    case CLMSD_FLOAT32: return 4;
    case CLMSD_FLOAT16:
    case CLMSD_BFLOAT16: return 2;
    }
    return 0;
}

clmsd_status clmsd_rate_params(double rate, uint32_t *threshold, float *scale)
{
    return clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1, rate, threshold, scale);
}

/* the u8 stream's rates: exact multiples of 1/256 */
static bool on_u8_grid(double p) { return ldexp(p, 8) == floor(ldexp(p, 8)); }

clmsd_status clmsd_stream_rate_params(clmsd_stream stream, double rate, uint32_t *threshold, float *scale)
{
    if (!(rate >= 0.0 && rate < 1.0) || (stream == CLMSD_STREAM_PHILOX_V1_U8 && !on_u8_grid(rate)))
        return clmsd__check_rate(NULL, stream, "rate", rate); /* its message */
    if (!kernels_know(stream))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_stream_rate_params: invalid stream %d",
                           (int)stream);
    if (threshold)
        *threshold = (uint32_t)ldexp(rate, stream == CLMSD_STREAM_PHILOX_V1_U8 ? 8 : 32);
    if (scale)
        *scale = (float)(1.0 / (1.0 - rate));
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_rate(clmsd_context *ctx, clmsd_stream stream, const char *name, double p)
{
    if (!(p >= 0.0 && p < 1.0))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_RATE, "%s is %g: it must lie in [0, 1)", name, p);
    if (stream == CLMSD_STREAM_PHILOX_V1_U8 && !on_u8_grid(p)) {
        double below = floor(ldexp(p, 8)), above = below + 1.0;
        if (above < 256.0)
            return clmsd__fail(ctx, CLMSD_ERROR_INVALID_RATE,
                               "%s is %.17g: the u8 stream takes multiples of 1/256; the nearest are %.17g (%g/256) "
                               "and %.17g (%g/256)",
                               name, p, ldexp(below, -8), below, ldexp(above, -8), above);
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_RATE,
                           "%s is %.17g: the u8 stream takes multiples of 1/256; the nearest is %.17g (255/256)", name,
                           p, ldexp(below, -8));
    }
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_rates(clmsd_context *ctx, clmsd_stream stream, uint32_t samples, const double *rates,
                                double rate)
{
    if (!kernels_know(stream))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid stream %d", (int)stream);
    for (uint32_t k = 0; k < (rates ? samples : 1); ++k) {
        char name[40];
        if (rates)
            snprintf(name, sizeof name, "drop rate rates[%u]", (unsigned)k);
        else
            snprintf(name, sizeof name, "drop rate (rate)");
        CLMSD__TRY(clmsd__check_rate(ctx, stream, name, rates ? rates[k] : rate));
    }
    return CLMSD_SUCCESS;
}

clmsd_status clmsd__check_types(clmsd_context *ctx, clmsd_type x_type, clmsd_type dx_type)
{
    if (clmsd_type_size(x_type) == 0 || clmsd_type_size(dx_type) == 0)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "invalid storage type (x_type %d, dx_type %d)",
                           (int)x_type, (int)dx_type);
    return CLMSD_SUCCESS;
}

void clmsd__rate_table(clmsd_stream stream, uint32_t samples, const double *rates, double rate, uint32_t *params)
{
    for (uint32_t k = 0; k < samples; ++k) {
        float scale;
        clmsd_stream_rate_params(stream, rates ? rates[k] : rate, &params[k], &scale);
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
    CLMSD__TRY(clmsd__check_rates(ctx, desc->stream, desc->samples, desc->rates, desc->rate));
    CLMSD__TRY(clmsd__check_types(ctx, desc->x_type, desc->dx_type));
    uint64_t begin = (uint64_t)desc->row_offset * desc->cols;
    unsigned shift = desc->stream == CLMSD_STREAM_PHILOX_V1_U8 ? 4 : 2; /* elements per block: 16 or 4 */
    *out = (clmsd__stream){
        .stream = desc->stream,
        .x_type = desc->x_type,
        .dx_type = desc->dx_type,
        .first_block = begin >> shift,
        .blocks = ((end - 1) >> shift) - (begin >> shift) + 1,
        .seed = desc->seed,
        .step = desc->step,
        .samples = desc->samples,
        .rows = desc->rows,
        .cols = desc->cols,
        .row_offset = desc->row_offset,
    };
    return CLMSD_SUCCESS;
}
