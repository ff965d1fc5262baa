/* SPDX-License-Identifier: MIT */
/* clmsd.Array: a buffer on the context's device with a shape and an element type, so that the
 * tensors of a training loop (W, b, their gradients, the features) stay there between calls. */
#include "clmsdpy.h"

#include <stddef.h>

static clmsdpy_array *of_child(clmsdpy_child *child)
{
    return (clmsdpy_array *)((char *)child - offsetof(clmsdpy_array, child));
}

static void array_release(clmsdpy_child *child)
{
    clmsdpy_array *a = of_child(child);
    if (a->mem)
        clReleaseMemObject(a->mem);
    a->mem = NULL;
}

static void array_dealloc(clmsdpy_array *self)
{
    clmsdpy_context_disown(&self->child);
    array_release(&self->child); /* OpenCL keeps a buffer in use alive until its commands end */
    Py_XDECREF(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static void fill_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    (void)ops;
    clmsdpy_array *a = data;
    const cl_uchar zero = 0;
    cl_int err = clEnqueueFillBuffer(clmsd_context_queue(ctx), a->mem, &zero, 1, 0, a->bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        clmsdpy_fail_cl(err, "clEnqueueFillBuffer", "zeros", out);
}

PyObject *clmsdpy_array_new(clmsdpy_context *ctx, int ndim, const Py_ssize_t *dims, clmsdpy_dtype dtype, bool zeroed)
{
    if (!ctx->ctx)
        return clmsdpy_raise_closed();
    size_t count = 1, size = clmsdpy_dtype_size(dtype);
    for (int i = 0; i < ndim; ++i) {
        if (dims[i] && count > SIZE_MAX / size / (size_t)dims[i]) {
            PyErr_SetString(PyExc_ValueError, "the array is too large");
            return NULL;
        }
        count *= (size_t)dims[i];
    }
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "a clmsd.Array holds at least one element");
        return NULL;
    }
    clmsdpy_array *a = (clmsdpy_array *)clmsdpy_array_type.tp_alloc(&clmsdpy_array_type, 0);
    if (!a)
        return NULL;
    a->ctx = (clmsdpy_context *)Py_NewRef(ctx);
    a->dtype = dtype;
    a->ndim = ndim;
    for (int i = 0; i < ndim; ++i)
        a->dims[i] = dims[i];
    a->count = count;
    a->bytes = count * size;
    cl_int err;
    a->mem = clCreateBuffer(clmsd_context_cl_context(ctx->ctx), CL_MEM_READ_WRITE, a->bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        a->mem = NULL;
        clmsdpy_outcome out;
        clmsdpy_fail_cl(err, "clCreateBuffer", "a clmsd.Array", &out);
        Py_DECREF(a);
        return clmsdpy_raise(out.status, out.message);
    }
    clmsdpy_context_adopt(ctx, CLMSDPY_ARRAYS, &a->child);
    a->child.release = array_release;
    if (zeroed && clmsdpy_run(ctx, NULL, 0, fill_body, a)) {
        Py_DECREF(a);
        return NULL;
    }
    return (PyObject *)a;
}

PyObject *clmsdpy_array_from(clmsdpy_context *ctx, PyObject *obj)
{
    if (PyObject_TypeCheck(obj, &clmsdpy_array_type)) {
        PyErr_SetString(PyExc_TypeError, "array(): already a clmsd.Array (a.numpy() gives its data)");
        return NULL;
    }
    clmsdpy_operand op = {.name = "array()", .upload = true};
    clmsdpy_dtype dtype;
    if (clmsdpy_get_buffer(obj, op.name, false, &op.view, &dtype))
        return NULL;
    op.has_view = true;
    PyObject *a = NULL;
    if (op.view.ndim > CLMSDPY_MAX_DIMS)
        PyErr_Format(PyExc_ValueError, "array(): %d dimensions, at most %d", op.view.ndim, CLMSDPY_MAX_DIMS);
    else
        a = clmsdpy_array_new(ctx, op.view.ndim, op.view.shape, dtype, false);
    if (a) {
        op.mem = ((clmsdpy_array *)a)->mem;
        if (clmsdpy_run(ctx, &op, 1, NULL, NULL))
            Py_CLEAR(a);
    }
    clmsdpy_operands_done(&op, 1, false);
    return a;
}

static PyObject *array_numpy(clmsdpy_array *self, PyObject *unused)
{
    (void)unused;
    if (!self->mem)
        return clmsdpy_raise_closed();
    clmsdpy_operand op = {.name = "numpy()", .mem = self->mem, .download = true};
    op.result = clmsdpy_numpy_new(self->ndim, self->dims, self->dtype, false);
    clmsdpy_dtype dtype;
    if (!op.result || clmsdpy_get_buffer(op.result, op.name, true, &op.view, &dtype)) {
        Py_XDECREF(op.result);
        return NULL;
    }
    op.has_view = true;
    int rc = clmsdpy_run(self->ctx, &op, 1, NULL, NULL);
    clmsdpy_operands_done(&op, 1, rc != 0);
    return op.result;
}

static PyObject *array_write(clmsdpy_array *self, PyObject *obj)
{
    if (!self->mem)
        return clmsdpy_raise_closed();
    clmsdpy_shape shape = {.ndim = self->ndim};
    for (int i = 0; i < self->ndim; ++i)
        shape.dims[i] = self->dims[i];
    clmsdpy_operand op;
    if (clmsdpy_input(&op, "write()", obj, self->ctx, self->dtype, &shape) == 0 && op.staged) {
        op.staged = false; /* into this array's own buffer */
        op.mem = self->mem;
        int rc = clmsdpy_run(self->ctx, &op, 1, NULL, NULL);
        clmsdpy_operands_done(&op, 1, false);
        if (rc)
            return NULL;
        Py_RETURN_NONE;
    }
    clmsdpy_operands_done(&op, 1, false);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "write(): expected a numpy array");
    return NULL;
}

static PyObject *array_dunder_array(clmsdpy_array *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"dtype", "copy", NULL};
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:__array__", keywords, &dtype, &copy))
        return NULL;
    PyObject *a = array_numpy(self, NULL);
    if (!a || dtype == Py_None)
        return a;
    PyObject *cast = PyObject_CallMethod(a, "astype", "O", dtype);
    Py_DECREF(a);
    return cast;
}

static PyObject *array_shape(clmsdpy_array *self, void *closure)
{
    (void)closure;
    PyObject *t = PyTuple_New(self->ndim);
    for (int i = 0; t && i < self->ndim; ++i)
        PyTuple_SET_ITEM(t, i, PyLong_FromSsize_t(self->dims[i]));
    return t;
}

static PyObject *array_dtype(clmsdpy_array *self, void *closure)
{
    (void)closure;
    return clmsdpy_numpy_dtype(self->dtype);
}

static PyObject *array_ndim(clmsdpy_array *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->ndim);
}

static PyObject *array_size(clmsdpy_array *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->count);
}

static PyObject *array_nbytes(clmsdpy_array *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->bytes);
}

static PyObject *array_context(clmsdpy_array *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->ctx);
}

static PyObject *array_repr(clmsdpy_array *self)
{
    PyObject *shape = array_shape(self, NULL);
    PyObject *r = shape ? PyUnicode_FromFormat("<clmsd.Array shape=%R dtype=%s%s>", shape,
                                               clmsdpy_dtype_name(self->dtype), self->mem ? "" : " (closed)")
                        : NULL;
    Py_XDECREF(shape);
    return r;
}

static PyMethodDef array_methods[] = {
    {"numpy", (PyCFunction)array_numpy, METH_NOARGS, "numpy() -> a new numpy array with the device's data."},
    {"write", (PyCFunction)array_write, METH_O,
     "write(a): copy a numpy array of the same shape and dtype into this device array."},
    {"__array__", (PyCFunction)(void (*)(void))array_dunder_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef array_getset[] = {
    {"shape", (getter)array_shape, NULL, "The shape, a tuple.", NULL},
    {"dtype", (getter)array_dtype, NULL, "The numpy dtype (bfloat16: clmsd.bfloat16).", NULL},
    {"ndim", (getter)array_ndim, NULL, "The number of dimensions.", NULL},
    {"size", (getter)array_size, NULL, "The number of elements.", NULL},
    {"nbytes", (getter)array_nbytes, NULL, "The bytes on the device.", NULL},
    {"context", (getter)array_context, NULL, "The clmsd.Context it lives on.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject clmsdpy_array_type = {
    .ob_base = {PyObject_HEAD_INIT(NULL) 0},
    .tp_name = "clmsd.Array",
    .tp_basicsize = sizeof(clmsdpy_array),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A buffer on a context's device: Context.array(a), .empty(shape, dtype), .zeros(shape, dtype).",
    .tp_dealloc = (destructor)array_dealloc,
    .tp_repr = (reprfunc)array_repr,
    .tp_methods = array_methods,
    .tp_getset = array_getset,
};
