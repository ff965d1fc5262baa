/* SPDX-License-Identifier: MIT */
/* clmsd.stream_words and clmsd.rate_params: the raw words of the counter-based stream
 * (clmsd_stream_words) and a rate's threshold and scale (clmsd_stream_rate_params), so that
 * Python code (clmsd.torch's tests, a framework's own dropout) can rebuild clmsd's masks exactly:
 * keep = value >= threshold, the value of element e = (row_offset + r) * cols + c being the word
 * e & 3 of block e >> 2 (docs/rng.md). */
#include "clmsdpy.h"

#include <stdio.h>

typedef struct words_call {
    uint64_t seed, step;
    uint32_t k, first_block;
    size_t blocks;
} words_call;

static void words_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    const words_call *c = data;
    clmsd_status st =
        clmsd_stream_words(ctx, c->seed, c->step, c->k, c->first_block, c->blocks, ops[0].mem, 0, 0, NULL, NULL);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, "clmsd_stream_words", out);
}

PyObject *clmsdpy_stream_words(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"context", "seed", "step", "k", "first_block", "blocks", NULL};
    PyObject *context, *seed, *step, *k, *first, *blocks;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOO:stream_words", kwlist, &context, &seed, &step, &k, &first,
                                     &blocks))
        return NULL;
    if (!PyObject_TypeCheck(context, &clmsdpy_context_type)) {
        PyErr_Format(PyExc_TypeError, "context must be a clmsd.Context, not %.100s", Py_TYPE(context)->tp_name);
        return NULL;
    }
    clmsdpy_context *ctx = (clmsdpy_context *)context;
    words_call c;
    if (clmsdpy_to_u64(seed, "seed", &c.seed) || clmsdpy_to_u64(step, "step", &c.step) ||
        clmsdpy_to_u32(k, "k", &c.k) || clmsdpy_to_u32(first, "first_block", &c.first_block) ||
        clmsdpy_to_size(blocks, "blocks", &c.blocks))
        return NULL;
    if (c.blocks == 0) {
        PyErr_SetString(PyExc_ValueError, "blocks must be at least 1");
        return NULL;
    }
    if (c.blocks > (size_t)1 << 32 || (uint64_t)c.first_block + c.blocks > (uint64_t)1 << 32) {
        PyErr_Format(PyExc_ValueError, "first_block + blocks must be at most 2^32, not %llu",
                     (unsigned long long)c.first_block + (unsigned long long)c.blocks);
        return NULL;
    }
    if (!ctx->ctx)
        return clmsdpy_raise_closed();
    clmsdpy_shape shape = {.ndim = 1, .dims = {(Py_ssize_t)(4 * c.blocks)}};
    clmsdpy_operand op;
    if (clmsdpy_output(&op, "out", Py_True, ctx, CLMSDPY_INT32, &shape, false)) {
        clmsdpy_operands_done(&op, 1, true);
        return NULL;
    }
    int rc = clmsdpy_run(ctx, &op, 1, words_body, &c);
    clmsdpy_operands_done(&op, 1, rc != 0);
    if (rc)
        return NULL;
    PyObject *r = PyObject_CallMethod(op.result, "view", "s", "uint32"); /* the words are unsigned */
    Py_DECREF(op.result);
    return r;
}

PyObject *clmsdpy_rate_params(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"stream", "rate", NULL};
    PyObject *stream_obj, *rate_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:rate_params", kwlist, &stream_obj, &rate_obj))
        return NULL;
    int stream;
    double rate;
    if (clmsdpy_enum(stream_obj, "stream", clmsdpy_stream_names, &stream) || clmsdpy_to_double(rate_obj, "rate", &rate))
        return NULL;
    uint32_t threshold = 0;
    float scale = 0;
    clmsd_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = clmsd_stream_rate_params((clmsd_stream)stream, rate, &threshold, &scale);
    Py_END_ALLOW_THREADS;
    if (st != CLMSD_SUCCESS) {
        char message[1024];
        snprintf(message, sizeof message, "clmsd_stream_rate_params: %s", clmsd_context_last_error(NULL));
        return clmsdpy_raise(st, message);
    }
    return Py_BuildValue("(kd)", (unsigned long)threshold, (double)scale);
}
