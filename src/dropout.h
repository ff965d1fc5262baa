/* SPDX-License-Identifier: MIT */
/* The dropout kernels, enqueued for the public dropout API and for the head's engines. */
#ifndef CLMSD_DROPOUT_H
#define CLMSD_DROPOUT_H

#include "context.h"
#include "stream_desc.h"

/* Enqueue the dropout kernels with a params buffer of 2K words (clmsd__rate_table). */
/* y (float) = dropout of x (x_type) */
clmsd_status clmsd__enqueue_dropout_forward(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem x,
                                            size_t x_off, size_t ldx, clmsd_type x_type, cl_mem y, size_t y_off,
                                            size_t ldy);
/* dx (+)= scale * sum_k keep_k s_k dy_k with dy_k at dy_off + k * dy_kstride. */
clmsd_status clmsd__enqueue_dropout_sum(clmsd_context *ctx, const clmsd__stream *s, cl_mem params, cl_mem dy,
                                        size_t dy_off, size_t dy_kstride, size_t ldy, clmsd_type dy_type, cl_mem dx,
                                        size_t dx_off, size_t ldx, clmsd_type dx_type, float scale, int apply_scale,
                                        int accumulate);

#endif
