/* SPDX-License-Identifier: MIT */
/* The buffers of one call, checked before anything reaches the library: a clmsd.Array of the same
 * context, or a numpy array (any buffer exporter) of the exact dtype and shape, C-contiguous,
 * which the call stages in a device buffer of its own and, for an output, copies back. */
#include "clmsdpy.h"

#include <stdio.h>
#include <string.h>

static void shape_text(int ndim, const Py_ssize_t *dims, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; ++i)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %zd" : "%zd", dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
}

static int check(const char *name, clmsdpy_dtype got, int ndim, const Py_ssize_t *dims, clmsdpy_dtype want,
                 const clmsdpy_shape *shape)
{
    if (got != want) {
        PyErr_Format(PyExc_TypeError, "%s: dtype %s, but this argument is %s", name, clmsdpy_dtype_name(got),
                     clmsdpy_dtype_name(want));
        return -1;
    }
    bool same = shape->ndim < 0 || shape->ndim == ndim;
    for (int i = 0; same && i < shape->ndim; ++i)
        same = dims[i] == shape->dims[i];
    if (!same) {
        char have[128], need[128];
        shape_text(ndim, dims, have, sizeof have);
        shape_text(shape->ndim, shape->dims, need, sizeof need);
        PyErr_Format(PyExc_ValueError, "%s: shape %s, but this argument is %s", name, have, need);
        return -1;
    }
    return 0;
}

/* A clmsd.Array operand: of this context, open, of the dtype and shape asked */
static int device_operand(clmsdpy_operand *op, clmsdpy_array *a, clmsdpy_context *ctx, clmsdpy_dtype dtype,
                          const clmsdpy_shape *shape)
{
    if (a->ctx != ctx) {
        PyErr_Format(PyExc_ValueError, "%s: a clmsd.Array of another context", op->name);
        return -1;
    }
    if (!a->mem) {
        clmsdpy_raise_closed();
        return -1;
    }
    if (check(op->name, a->dtype, a->ndim, a->dims, dtype, shape))
        return -1;
    op->mem = a->mem;
    return 0;
}

/* A host operand: its buffer, checked, staged for the call */
static int host_operand(clmsdpy_operand *op, PyObject *obj, bool writable, clmsdpy_dtype dtype,
                        const clmsdpy_shape *shape)
{
    clmsdpy_dtype got;
    if (clmsdpy_get_buffer(obj, op->name, writable, &op->view, &got))
        return -1;
    op->has_view = true;
    if (check(op->name, got, op->view.ndim, op->view.shape, dtype, shape))
        return -1;
    if (op->view.len == 0) {
        PyErr_Format(PyExc_ValueError, "%s: the array is empty", op->name);
        return -1;
    }
    op->staged = true;
    return 0;
}

int clmsdpy_input(clmsdpy_operand *op, const char *name, PyObject *obj, clmsdpy_context *ctx, clmsdpy_dtype dtype,
                  const clmsdpy_shape *shape)
{
    memset(op, 0, sizeof *op);
    op->name = name;
    if (!obj || obj == Py_None) {
        PyErr_Format(PyExc_TypeError, "%s is required", name);
        return -1;
    }
    if (PyObject_TypeCheck(obj, &clmsdpy_array_type))
        return device_operand(op, (clmsdpy_array *)obj, ctx, dtype, shape);
    if (host_operand(op, obj, false, dtype, shape))
        return -1;
    op->upload = true;
    return 0;
}

int clmsdpy_output(clmsdpy_operand *op, const char *name, PyObject *obj, clmsdpy_context *ctx, clmsdpy_dtype dtype,
                   const clmsdpy_shape *shape, bool keep)
{
    memset(op, 0, sizeof *op);
    op->name = name;
    if (!obj || obj == Py_None || obj == Py_False)
        return 0;
    if (PyObject_TypeCheck(obj, &clmsdpy_array_type))
        return device_operand(op, (clmsdpy_array *)obj, ctx, dtype, shape);
    if (obj == Py_True) {
        if (keep) {
            PyErr_Format(PyExc_ValueError, "%s=True with accumulate=True: pass the array to add into", name);
            return -1;
        }
        if (shape->ndim < 0) {
            PyErr_Format(PyExc_ValueError, "%s=True with strides: pass the array to write into", name);
            return -1;
        }
        op->result = clmsdpy_numpy_new(shape->ndim, shape->dims, dtype, false);
        if (!op->result)
            return -1;
        obj = op->result;
    }
    bool given = !op->result;
    if (host_operand(op, obj, true, dtype, shape))
        return -1;
    op->upload = given; /* what the call does not write (gaps between strided rows) stays as it was */
    op->download = true;
    return 0;
}

void clmsdpy_operands_done(clmsdpy_operand *ops, size_t n, bool failed)
{
    for (size_t i = 0; i < n; ++i) {
        if (ops[i].has_view)
            PyBuffer_Release(&ops[i].view);
        ops[i].has_view = false;
        if (failed)
            Py_CLEAR(ops[i].result);
    }
}
