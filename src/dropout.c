/* SPDX-License-Identifier: MIT */
/* Public dropout API on either stream: validation, then the dropout kernels in the context's
 * tiling (tiling.h). */
#include "tiling.h"

#include <stdlib.h>

/* Elements spanned by a [count, cols] matrix with leading dimension ld. */
static bool matrix_extent(size_t count, size_t cols, size_t ld, size_t *out)
{
    size_t rows_before;
    return clmsd__mul(count - 1, ld, &rows_before) && clmsd__add(rows_before, cols, out);
}

/* Checks a [samples * rows, cols] matrix with leading dimension ld against its buffer. */
static clmsd_status check_matrix(clmsd_context *ctx, const char *name, cl_mem buf, size_t off, size_t samples,
                                 size_t rows, size_t cols, size_t ld, size_t elem)
{
    size_t count;
    if (!clmsd__mul(samples, rows, &count))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the extent of %s overflows", name);
    if (ld < cols)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "leading dimension of %s (%zu) is less than cols (%zu)", name,
                           ld, cols);
    size_t extent;
    if (!matrix_extent(count, cols, ld, &extent))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the extent of %s overflows", name);
    return clmsd__check_buffer(ctx, name, buf, off, extent, elem);
}

/* The K thresholds and scales, as a buffer the kernels read. */
static clmsd_status make_params(clmsd_context *ctx, const clmsd__stream *s, const clmsd_dropout_desc *desc, cl_mem *out)
{
    uint32_t *table = malloc(2 * (size_t)s->samples * sizeof *table);
    if (!table)
        return clmsd__fail(ctx, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory for %u rates", (unsigned)s->samples);
    clmsd__rate_table(s->stream, s->samples, desc->rates, desc->rate, table);
    cl_int err;
    *out = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, 2 * (size_t)s->samples * sizeof *table,
                          table, &err);
    free(table);
    CLMSD__TRY_CL(ctx, err, "clCreateBuffer (dropout rates)");
    return CLMSD_SUCCESS;
}

/* Validates the descriptor and the wait list before anything is enqueued. */
static clmsd_status prepare(clmsd_context *ctx, const clmsd_dropout_desc *desc, clmsd__stream *s, cl_uint num_wait,
                            const cl_event *wait)
{
    clmsd__clear_error(ctx);
    CLMSD__TRY(clmsd__check_stream(ctx, desc, s));
    return clmsd__check_wait_list(ctx, num_wait, wait);
}

typedef enum op { FORWARD, BACKWARD, MASK } op;

static clmsd_status enqueue(clmsd_context *ctx, const clmsd__stream *s, op which, cl_mem params, cl_mem a, size_t a_off,
                            size_t lda, cl_mem b, size_t b_off, size_t ldb, int accumulate)
{
    const clmsd__tiling *t = ctx->tiling;
    switch (which) {
    case FORWARD: return t->dropout_forward(ctx, s, params, a, a_off, lda, s->x_type, b, b_off, ldb);
    case BACKWARD:
        return t->dropout_sum(ctx, s, params, a, a_off, s->rows * lda, lda, CLMSD_FLOAT32, b, b_off, ldb, s->dx_type,
                              1.0f, 0, accumulate);
    case MASK: return t->dropout_mask(ctx, s, params, a, a_off);
    }
    return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "unknown dropout operation %d", (int)which);
}

static clmsd_status run(clmsd_context *ctx, const clmsd__stream *s, const clmsd_dropout_desc *desc, op which, cl_mem a,
                        size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, int accumulate, cl_uint num_wait,
                        const cl_event *wait, cl_event *event)
{
    cl_mem params = NULL;
    clmsd_status st;
    CLMSD__TRY_GOTO(st, clmsd__build_program(ctx), done);
    CLMSD__TRY_GOTO(st, make_params(ctx, s, desc, &params), done);
    CLMSD__TRY_GOTO(st, clmsd__begin(ctx, num_wait, wait), done);
    CLMSD__TRY_GOTO(st, enqueue(ctx, s, which, params, a, a_off, lda, b, b_off, ldb, accumulate), done);
    st = clmsd__finish(ctx, event);
done:
    if (params)
        clReleaseMemObject(params); /* freed by OpenCL once the kernel using it completes */
    return st;
}

clmsd_status clmsd_dropout_forward(clmsd_context *ctx, const clmsd_dropout_desc *desc, cl_mem x, size_t x_off,
                                   size_t ldx, cl_mem y, size_t y_off, size_t ldy, cl_uint num_wait,
                                   const cl_event *wait, cl_event *event)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_dropout_forward: the context is NULL");
    clmsd__stream s;
    CLMSD__TRY(prepare(ctx, desc, &s, num_wait, wait));
    CLMSD__TRY(check_matrix(ctx, "x", x, x_off, 1, s.rows, s.cols, ldx, clmsd_type_size(s.x_type)));
    CLMSD__TRY(check_matrix(ctx, "y", y, y_off, s.samples, s.rows, s.cols, ldy, sizeof(float)));
    return run(ctx, &s, desc, FORWARD, x, x_off, ldx, y, y_off, ldy, 0, num_wait, wait, event);
}

clmsd_status clmsd_dropout_backward(clmsd_context *ctx, const clmsd_dropout_desc *desc, cl_mem dy, size_t dy_off,
                                    size_t ldy, cl_mem dx, size_t dx_off, size_t ldx, int accumulate, cl_uint num_wait,
                                    const cl_event *wait, cl_event *event)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_dropout_backward: the context is NULL");
    clmsd__stream s;
    CLMSD__TRY(prepare(ctx, desc, &s, num_wait, wait));
    CLMSD__TRY(check_matrix(ctx, "dy", dy, dy_off, s.samples, s.rows, s.cols, ldy, sizeof(float)));
    CLMSD__TRY(check_matrix(ctx, "dx", dx, dx_off, 1, s.rows, s.cols, ldx, clmsd_type_size(s.dx_type)));
    return run(ctx, &s, desc, BACKWARD, dy, dy_off, ldy, dx, dx_off, ldx, accumulate, num_wait, wait, event);
}

clmsd_status clmsd_dropout_mask(clmsd_context *ctx, const clmsd_dropout_desc *desc, cl_mem mask, size_t mask_off,
                                cl_uint num_wait, const cl_event *wait, cl_event *event)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_dropout_mask: the context is NULL");
    clmsd__stream s;
    CLMSD__TRY(prepare(ctx, desc, &s, num_wait, wait));
    CLMSD__TRY(check_matrix(ctx, "mask", mask, mask_off, s.samples, s.rows, s.cols, s.cols, 1));
    return run(ctx, &s, desc, MASK, mask, mask_off, s.cols, NULL, 0, 0, 0, num_wait, wait, event);
}

clmsd_status clmsd_stream_words(clmsd_context *ctx, uint64_t seed, uint64_t step, uint32_t k, uint32_t first_block,
                                size_t blocks, cl_mem out, size_t out_off, cl_uint num_wait, const cl_event *wait,
                                cl_event *event)
{
    if (!ctx)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_stream_words: the context is NULL");
    clmsd__clear_error(ctx);
    if (blocks == 0 || blocks > (UINT64_C(1) << 32) - first_block)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "blocks (%zu) must be positive and end by block 2^32",
                           blocks);
    size_t words;
    if (!clmsd__mul(blocks, 4, &words))
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "blocks overflow");
    CLMSD__TRY(clmsd__check_buffer(ctx, "out", out, out_off, words, sizeof(uint32_t)));
    CLMSD__TRY(clmsd__check_wait_list(ctx, num_wait, wait));
    CLMSD__TRY(clmsd__begin(ctx, num_wait, wait));
    CLMSD__TRY(clmsd__run_stream_words(ctx, (blocks + 7) / 8, 0, out, out_off, seed, step, k, first_block, blocks));
    return clmsd__finish(ctx, event);
}
