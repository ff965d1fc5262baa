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
    clmsd_stream stream;
    clmsd_type x_type, dx_type;
    uint64_t first_block,
        blocks; /* the stream's Philox blocks (4 or 16 elements) covering [row_offset*cols, +rows*cols) */
} clmsd__stream;

/* One rate, named in the message: in [0, 1), and a multiple of 1/256 on the u8 stream. */
clmsd_status clmsd__check_rate(clmsd_context *ctx, clmsd_stream stream, const char *name, double p);
clmsd_status clmsd__check_rates(clmsd_context *ctx, clmsd_stream stream, uint32_t samples, const double *rates,
                                double rate);
clmsd_status clmsd__check_types(clmsd_context *ctx, clmsd_type x_type, clmsd_type dx_type);
/* Writes K thresholds then K scales (as float bits) into params[2K]. */
void clmsd__rate_table(clmsd_stream stream, uint32_t samples, const double *rates, double rate, uint32_t *params);
clmsd_status clmsd__check_stream(clmsd_context *ctx, const clmsd_dropout_desc *desc, clmsd__stream *out);

#endif
