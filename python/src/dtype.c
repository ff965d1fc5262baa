/* SPDX-License-Identifier: MIT */
/* Element types between numpy and clmsd, through CPython's buffer protocol and numpy's Python
 * API (no numpy C API: numpy is not a build dependency). bfloat16 travels as its 16 bits. */
#include "clmsdpy.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[CLMSDPY_DTYPE_COUNT] = {
    [CLMSDPY_FLOAT32] = {"float32", 4},
    [CLMSDPY_FLOAT16] = {"float16", 2},
    [CLMSDPY_BFLOAT16] = {"bfloat16", 2},
    [CLMSDPY_INT32] = {"int32", 4},
};

const char *clmsdpy_dtype_name(clmsdpy_dtype dtype) { return dtypes[dtype].name; }

size_t clmsdpy_dtype_size(clmsdpy_dtype dtype) { return dtypes[dtype].size; }

static PyObject *numpy_module(void) { return PyImport_ImportModule("numpy"); }

/* ml_dtypes.bfloat16 when ml_dtypes imports, else None (a new reference) */
static PyObject *ml_bfloat16(void)
{
    PyObject *ml = PyImport_ImportModule("ml_dtypes");
    if (!ml) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *t = PyObject_GetAttrString(ml, "bfloat16");
    Py_DECREF(ml);
    if (!t)
        PyErr_Clear();
    return t ? t : Py_NewRef(Py_None);
}

PyObject *clmsdpy_numpy_dtype(clmsdpy_dtype dtype)
{
    PyObject *np = numpy_module();
    if (!np)
        return NULL;
    PyObject *spec = NULL;
    if (dtype == CLMSDPY_BFLOAT16) {
        spec = ml_bfloat16();
        if (spec == Py_None) {
            Py_DECREF(spec);
            spec = NULL;
        }
    }
    if (!spec)
        spec = PyUnicode_FromString(dtype == CLMSDPY_BFLOAT16 ? "uint16" : dtypes[dtype].name);
    PyObject *result = spec ? PyObject_CallMethod(np, "dtype", "O", spec) : NULL;
    Py_XDECREF(spec);
    Py_DECREF(np);
    return result;
}

static int dtype_from_name(const char *name, clmsdpy_dtype *out)
{
    for (int t = 0; t < CLMSDPY_DTYPE_COUNT; ++t)
        if (strcmp(name, dtypes[t].name) == 0) {
            *out = (clmsdpy_dtype)t;
            return 0;
        }
    if (strcmp(name, "uint16") == 0) { /* bfloat16's bits */
        *out = CLMSDPY_BFLOAT16;
        return 0;
    }
    return -1;
}

static void unsupported_dtype(const char *what)
{
    PyErr_Format(PyExc_TypeError,
                 "unsupported dtype %s: clmsd takes float32, float16, bfloat16 (ml_dtypes.bfloat16 "
                 "or its bits as uint16) and int32",
                 what);
}

int clmsdpy_dtype_from_object(PyObject *obj, clmsdpy_dtype *out)
{
    if (PyUnicode_Check(obj)) {
        const char *s = PyUnicode_AsUTF8(obj);
        if (!s)
            return -1;
        if (dtype_from_name(s, out) == 0)
            return 0;
    }
    PyObject *np = numpy_module();
    if (!np)
        return -1;
    PyObject *d = PyObject_CallMethod(np, "dtype", "O", obj);
    Py_DECREF(np);
    PyObject *name = d ? PyObject_GetAttrString(d, "name") : NULL;
    Py_XDECREF(d);
    if (!name) {
        PyErr_Clear();
        PyObject *r = PyObject_Repr(obj);
        unsupported_dtype(r && PyUnicode_Check(r) ? PyUnicode_AsUTF8(r) : "?");
        Py_XDECREF(r);
        return -1;
    }
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    int rc = s && dtype_from_name(s, out) == 0 ? 0 : -1;
    if (rc)
        unsupported_dtype(s ? s : "?");
    Py_DECREF(name);
    return rc;
}

PyObject *clmsdpy_numpy_new(int ndim, const Py_ssize_t *dims, clmsdpy_dtype dtype, bool zeroed)
{
    PyObject *shape = PyTuple_New(ndim);
    if (!shape)
        return NULL;
    for (int i = 0; i < ndim; ++i)
        PyTuple_SET_ITEM(shape, i, PyLong_FromSsize_t(dims[i]));
    PyObject *d = clmsdpy_numpy_dtype(dtype);
    PyObject *np = d ? numpy_module() : NULL;
    PyObject *result = np ? PyObject_CallMethod(np, zeroed ? "zeros" : "empty", "OO", shape, d) : NULL;
    Py_XDECREF(np);
    Py_XDECREF(d);
    Py_DECREF(shape);
    return result;
}

/* The buffer format's type: native byte order only; int32 as 'i' or a 4-byte 'l'. */
static int dtype_of_format(const Py_buffer *view, clmsdpy_dtype *out)
{
    const char *f = view->format ? view->format : "B";
    const uint16_t one = 1;
    bool little = *(const unsigned char *)&one == 1;
    if (*f == '@' || *f == '=' || (*f == '<' && little) || ((*f == '>' || *f == '!') && !little))
        ++f;
    if (f[0] == '\0' || f[1] != '\0')
        return -1;
    switch (f[0]) {
    case 'f': *out = CLMSDPY_FLOAT32; break;
    case 'e': *out = CLMSDPY_FLOAT16; break;
    case 'H': *out = CLMSDPY_BFLOAT16; break;
    case 'i': *out = CLMSDPY_INT32; break;
    case 'l': *out = CLMSDPY_INT32; break;
    default: return -1;
    }
    return (size_t)view->itemsize == dtypes[*out].size ? 0 : -1;
}

/* An ml_dtypes.bfloat16 array (numpy cannot export it through the buffer protocol) viewed as
 * uint16, or a new reference to obj itself. */
static PyObject *bits_of_bfloat16(PyObject *obj)
{
    PyObject *d = PyObject_HasAttrString(obj, "view") ? PyObject_GetAttrString(obj, "dtype") : NULL;
    PyObject *name = d ? PyObject_GetAttrString(d, "name") : NULL;
    Py_XDECREF(d);
    PyErr_Clear();
    bool bf16 = name && PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "bfloat16") == 0;
    Py_XDECREF(name);
    return bf16 ? PyObject_CallMethod(obj, "view", "s", "uint16") : Py_NewRef(obj);
}

int clmsdpy_get_buffer(PyObject *obj, const char *name, bool writable, Py_buffer *view, clmsdpy_dtype *dtype)
{
    PyObject *src = bits_of_bfloat16(obj);
    if (!src)
        return -1;
    if (!PyObject_CheckBuffer(src)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a numpy array or a clmsd.Array, not %.100s", name,
                     Py_TYPE(obj)->tp_name);
        Py_DECREF(src);
        return -1;
    }
    int rc = PyObject_GetBuffer(src, view, PyBUF_FORMAT | PyBUF_STRIDES);
    Py_DECREF(src); /* the view holds its own reference */
    if (rc)
        return -1;
    if (writable && view->readonly) {
        PyErr_Format(PyExc_ValueError, "%s: the output array is read-only", name);
        PyBuffer_Release(view);
        return -1;
    }
    if (dtype_of_format(view, dtype)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: unsupported dtype (buffer format '%s'): clmsd takes float32, float16, bfloat16 "
                     "(ml_dtypes.bfloat16 or its bits as uint16) and int32, in native byte order",
                     name, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the array is not C-contiguous (numpy.ascontiguousarray makes a copy that is)", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}
