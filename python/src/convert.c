/* SPDX-License-Identifier: MIT */
/* Python arguments to C values, each refused with a message naming the argument: the binding
 * never lets a negative size wrap around, nor a float pass for an integer. */
#include "clmsdpy.h"

#include <string.h>

/* An integer argument as a Python int (a new reference), or NULL with a TypeError. */
static PyObject *as_int(PyObject *obj, const char *name)
{
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", name, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return PyNumber_Index(obj);
}

/* An integer in [0, max] */
static int to_unsigned(PyObject *obj, const char *name, unsigned long long max, unsigned long long *out)
{
    PyObject *v = as_int(obj, name);
    if (!v)
        return -1;
    PyObject *zero = PyLong_FromLong(0);
    int negative = zero ? PyObject_RichCompareBool(v, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (negative < 0) {
        Py_DECREF(v);
        return -1;
    }
    unsigned long long x = negative ? 0 : PyLong_AsUnsignedLongLong(v);
    bool overflow = !negative && x == (unsigned long long)-1 && PyErr_Occurred();
    if (negative || overflow || x > max) {
        PyErr_Clear();
        if (negative)
            PyErr_Format(PyExc_ValueError, "%s must be a non-negative integer, not %R", name, v);
        else
            PyErr_Format(PyExc_ValueError, "%s must be at most %llu, not %R", name, max, v);
        Py_DECREF(v);
        return -1;
    }
    Py_DECREF(v);
    *out = x;
    return 0;
}

int clmsdpy_to_size(PyObject *obj, const char *name, size_t *out)
{
    unsigned long long x;
    if (to_unsigned(obj, name, SIZE_MAX, &x))
        return -1;
    *out = (size_t)x;
    return 0;
}

int clmsdpy_to_u64(PyObject *obj, const char *name, uint64_t *out)
{
    unsigned long long x;
    if (to_unsigned(obj, name, UINT64_MAX, &x))
        return -1;
    *out = (uint64_t)x;
    return 0;
}

int clmsdpy_to_u32(PyObject *obj, const char *name, uint32_t *out)
{
    unsigned long long x;
    if (to_unsigned(obj, name, UINT32_MAX, &x))
        return -1;
    *out = (uint32_t)x;
    return 0;
}

int clmsdpy_to_double(PyObject *obj, const char *name, double *out)
{
    double x = PyBool_Check(obj) || PyUnicode_Check(obj) ? -1.0 : PyFloat_AsDouble(obj);
    if (x == -1.0 && (PyBool_Check(obj) || PyUnicode_Check(obj) || PyErr_Occurred())) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a number, not %.100s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = x;
    return 0;
}

int clmsdpy_to_bool(PyObject *obj, const char *name, int *out)
{
    int b = PyObject_IsTrue(obj);
    if (b < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be true or false", name);
        return -1;
    }
    *out = b;
    return 0;
}

/* A dimension: an integer in [0, PY_SSIZE_T_MAX] */
static int to_dim(PyObject *obj, Py_ssize_t *out)
{
    unsigned long long x;
    if (to_unsigned(obj, "every dimension of shape", PY_SSIZE_T_MAX, &x))
        return -1;
    *out = (Py_ssize_t)x;
    return 0;
}

int clmsdpy_to_shape(PyObject *obj, int *ndim, Py_ssize_t *dims)
{
    if (PyIndex_Check(obj) && !PyBool_Check(obj)) {
        *ndim = 1;
        return to_dim(obj, dims);
    }
    PyObject *seq = PySequence_Fast(obj, "shape must be an int or a sequence of ints");
    if (!seq)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    int rc = 0;
    if (len > CLMSDPY_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "shape has %zd dimensions: at most %d", len, CLMSDPY_MAX_DIMS);
        rc = -1;
    }
    for (Py_ssize_t i = 0; rc == 0 && i < len; ++i)
        rc = to_dim(PySequence_Fast_GET_ITEM(seq, i), &dims[i]);
    *ndim = (int)len;
    Py_DECREF(seq);
    return rc;
}

int clmsdpy_keywords(const char *fn, PyObject *args, PyObject *kwargs, const char *const *names, int n,
                     uint64_t allowed, PyObject **values)
{
    if (args && PyTuple_GET_SIZE(args)) {
        PyErr_Format(PyExc_TypeError, "%s() takes keyword arguments only (%s=, ...)", fn, names[0]);
        return -1;
    }
    for (int i = 0; i < n; ++i)
        values[i] = NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (kwargs && PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *s = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!s)
            return -1;
        int i = 0;
        while (i < n && !((allowed >> i & 1) && strcmp(s, names[i]) == 0))
            ++i;
        if (i == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%s'", fn, s);
            return -1;
        }
        values[i] = value;
    }
    return 0;
}
