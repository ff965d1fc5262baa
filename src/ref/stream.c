/* SPDX-License-Identifier: MIT */
/* Host reference of the clmsd-philox-v1 stream and of K-sample dropout: plain C + Random123,
 * the same bits as every device. */
#include "clmsd_ref.h"
#include "../head_desc.h"
#include "../stream_desc.h"
#include "../../cl/clmsd_constants.h"

#include <Random123/philox.h>
#include <math.h>
#include <stdlib.h>

void clmsd_ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    philox4x32_ctr_t c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
    philox4x32_key_t k = {{key[0], key[1]}};
    philox4x32_ctr_t r = philox4x32_R(10, c, k);
    for (int i = 0; i < 4; ++i)
        out[i] = r.v[i];
}

uint32_t clmsd_ref_stream_word(uint64_t seed, uint64_t step, uint32_t k, uint64_t e)
{
    const uint32_t ctr[4] = {(uint32_t)(e >> 2), k, (uint32_t)step, (uint32_t)(step >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    clmsd_ref_philox4x32_10(ctr, key, out);
    return out[e & 3];
}

uint32_t clmsd_ref_stream_byte(uint64_t seed, uint64_t step, uint32_t k, uint64_t e)
{
    const uint32_t ctr[4] = {CLMSD_U8_BLOCK_TAG | (uint32_t)(e >> 4), k, (uint32_t)step, (uint32_t)(step >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    clmsd_ref_philox4x32_10(ctr, key, out);
    return (out[(e >> 2) & 3] >> (8 * (e & 3))) & 0xFFu;
}

uint32_t clmsd_ref_stream_value(clmsd_stream stream, uint64_t seed, uint64_t step, uint32_t k, uint64_t e)
{
    return stream == CLMSD_STREAM_PHILOX_V1_U8 ? clmsd_ref_stream_byte(seed, step, k, e)
                                               : clmsd_ref_stream_word(seed, step, k, e);
}

/* keep bit of element (local row r, column c) of sample k */
static bool keep(const clmsd__stream *s, const uint32_t *params, uint32_t k, size_t r, size_t c)
{
    uint64_t e = (uint64_t)(s->row_offset + r) * s->cols + c;
    return clmsd_ref_stream_value(s->stream, s->seed, s->step, k, e) >= params[k];
}

static float scale_of(const uint32_t *params, uint32_t samples, uint32_t k)
{
    union {
        uint32_t u;
        float f;
    } bits = {params[samples + k]};
    return bits.f;
}

/* The stream's parameters and its rates table, after checking two [rows, cols] arrays with
 * leading dimensions lda and ldb. */
static clmsd_status ref_prepare(const clmsd_dropout_desc *desc, const void *a, size_t lda, const void *b, size_t ldb,
                                clmsd__stream *s, uint32_t **params)
{
    CLMSD__TRY(clmsd__check_stream(NULL, desc, s));
    if (!a || !b)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "a host array is NULL");
    if (lda < s->cols || ldb < s->cols)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_SIZE, "a leading dimension is less than cols");
    *params = malloc(2 * (size_t)s->samples * sizeof **params);
    if (!*params)
        return clmsd__fail(NULL, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
    clmsd__rate_table(s->stream, s->samples, desc->rates, desc->rate, *params);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_ref_dropout_forward(const clmsd_dropout_desc *desc, const float *x, size_t ldx, float *y, size_t ldy)
{
    clmsd__stream s;
    uint32_t *params;
    CLMSD__TRY(ref_prepare(desc, x, ldx, y, ldy, &s, &params));
    for (uint32_t k = 0; k < s.samples; ++k) {
        float sk = scale_of(params, s.samples, k);
        for (size_t r = 0; r < s.rows; ++r)
            for (size_t c = 0; c < s.cols; ++c)
                y[((size_t)k * s.rows + r) * ldy + c] = keep(&s, params, k, r, c) ? x[r * ldx + c] * sk : 0.0f;
    }
    free(params);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_ref_dropout_backward(const clmsd_dropout_desc *desc, const float *dy, size_t ldy, float *dx,
                                        size_t ldx, int accumulate)
{
    clmsd__stream s;
    uint32_t *params;
    CLMSD__TRY(ref_prepare(desc, dy, ldy, dx, ldx, &s, &params));
    for (size_t r = 0; r < s.rows; ++r)
        for (size_t c = 0; c < s.cols; ++c) {
            float acc = -0.0f;
            for (uint32_t k = 0; k < s.samples; ++k) /* canonical order v2: k ascending, one fma each */
                if (keep(&s, params, k, r, c))
                    acc = fmaf(dy[((size_t)k * s.rows + r) * ldy + c], scale_of(params, s.samples, k), acc);
            dx[r * ldx + c] = accumulate ? dx[r * ldx + c] + acc : acc;
        }
    free(params);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_ref_dropout_mask(const clmsd_dropout_desc *desc, uint8_t *mask)
{
    clmsd__stream s;
    uint32_t *params;
    size_t dense = desc ? desc->cols : 0; /* (a NULL desc fails first) */
    CLMSD__TRY(ref_prepare(desc, mask, dense, mask, dense, &s, &params));
    for (uint32_t k = 0; k < s.samples; ++k)
        for (size_t r = 0; r < s.rows; ++r)
            for (size_t c = 0; c < s.cols; ++c)
                mask[((size_t)k * s.rows + r) * s.cols + c] = keep(&s, params, k, r, c);
    free(params);
    return CLMSD_SUCCESS;
}
