/* SPDX-License-Identifier: MIT */
/* Validated parameters of the clmsd-philox-v1 stream (docs/rng.md): pure host code, shared by the
 * dropout API, the head and the host references. */
#ifndef CLMSD_STREAM_DESC_H
#define CLMSD_STREAM_DESC_H

#include "status.h"

typedef struct clmsd__stream {
    uint64_t seed, step;
    uint32_t samples;
    size_t rows, cols, row_offset;
    uint64_t first_quad, quads; /* Philox blocks covering elements [row_offset*cols, +rows*cols) */
} clmsd__stream;

clmsd_status clmsd__check_rates(clmsd_context *ctx, uint32_t samples, const double *rates, double rate);
/* Writes K thresholds then K scales (as float bits) into params[2K]. */
void clmsd__rate_table(uint32_t samples, const double *rates, double rate, uint32_t *params);
clmsd_status clmsd__check_stream(clmsd_context *ctx, const clmsd_dropout_desc *desc, clmsd__stream *out);

#endif
