/* SPDX-License-Identifier: MIT */
/* clmsd.Error: a RuntimeError carrying the status (.status, .status_name) and the library's
 * message (clmsd_context_last_error) as its text. */
#include "clmsdpy.h"

PyObject *clmsdpy_error_type;

PyObject *clmsdpy_raise(clmsd_status status, const char *message)
{
    PyObject *exc = PyObject_CallFunction(clmsdpy_error_type, "s", message);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong((long)status);
    PyObject *name = PyUnicode_FromString(clmsd_status_string(status));
    if (code && name && PyObject_SetAttrString(exc, "status", code) == 0 &&
        PyObject_SetAttrString(exc, "status_name", name) == 0)
        PyErr_SetObject(clmsdpy_error_type, exc);
    Py_XDECREF(code);
    Py_XDECREF(name);
    Py_DECREF(exc);
    return NULL;
}

PyObject *clmsdpy_raise_closed(void)
{
    PyErr_SetString(PyExc_ValueError, "the context is closed");
    return NULL;
}
