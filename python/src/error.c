/* SPDX-License-Identifier: MIT */
/* clmsd.Error: a RuntimeError carrying the status (.status, .status_name) and the library's
 * message (clmsd_context_last_error) as its text. */
#include "clmsdpy.h"

#include <string.h>

PyObject *clmsdpy_error_type;

PyObject *clmsdpy_raise(clmsd_status status, const char *message)
{
    /* (a driver's build log need not be UTF-8, and a message cut at its buffer's end may split a
     * character: undecodable bytes become U+FFFD, never a UnicodeDecodeError in its place) */
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    PyObject *exc = text ? PyObject_CallOneArg(clmsdpy_error_type, text) : NULL;
    Py_XDECREF(text);
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
