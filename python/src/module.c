/* SPDX-License-Identifier: MIT */
/* The module clmsd._clmsd: its types, clmsd.Error, devices(), head_workspace_size() and the status
 * values (clmsd/__init__.py re-exports them). */
#include "clmsdpy.h"

#include <stdio.h>
#include <stdlib.h>

static PyObject *device_dict(const clmsd_device_info *d)
{
    return Py_BuildValue(
        "{s:I,s:I,s:N,s:s,s:s,s:s,s:s,s:s,s:O,s:I,s:I,s:K,s:K,s:n,s:O}", "platform_index", d->platform_index,
        "device_index", d->device_index, "spec", PyUnicode_FromFormat("%u:%u", d->platform_index, d->device_index),
        "platform_name", d->platform_name, "device_name", d->device_name, "vendor", d->vendor, "driver_version",
        d->driver_version, "opencl_version", d->opencl_version, "is_gpu", d->is_gpu ? Py_True : Py_False,
        "compute_units", (unsigned)d->compute_units, "max_clock_mhz", (unsigned)d->max_clock_mhz, "global_mem_bytes",
        (unsigned long long)d->global_mem_bytes, "local_mem_bytes", (unsigned long long)d->local_mem_bytes,
        "max_work_group_size", (Py_ssize_t)d->max_work_group_size, "denormals", d->denormals ? Py_True : Py_False);
}

static PyObject *devices(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    clmsd_device_info *info = NULL;
    size_t count = 0, capacity = 0;
    clmsd_status st;
    char message[1024] = "";
    Py_BEGIN_ALLOW_THREADS;
    st = clmsd_devices_list(NULL, 0, &count); /* then room for them all: the list may grow in between */
    while (st == CLMSD_SUCCESS && count > capacity) {
        capacity = count;
        clmsd_device_info *grown = realloc(info, capacity * sizeof *info);
        if (!grown) {
            st = CLMSD_ERROR_OUT_OF_MEMORY;
            break;
        }
        info = grown;
        st = clmsd_devices_list(info, capacity, &count);
    }
    if (st != CLMSD_SUCCESS)
        snprintf(message, sizeof message, "clmsd_devices_list: %s", clmsd_context_last_error(NULL));
    Py_END_ALLOW_THREADS;
    if (st != CLMSD_SUCCESS) {
        free(info);
        return clmsdpy_raise(st, message);
    }
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < count; ++i) {
        PyObject *d = device_dict(&info[i]);
        if (!d || PyList_Append(list, d))
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    free(info);
    return list;
}

static PyObject *head_workspace_size(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    if (PyTuple_GET_SIZE(args)) {
        PyErr_SetString(PyExc_TypeError, "head_workspace_size() takes keyword arguments only (batch=, ...)");
        return NULL;
    }
    clmsdpy_desc d;
    if (clmsdpy_desc_parse(NULL, kwargs, &d))
        return NULL;
    size_t bytes = 0;
    clmsd_status st = clmsd_head_workspace_size(&d.desc, &bytes);
    clmsdpy_desc_clear(&d);
    if (st != CLMSD_SUCCESS) {
        char message[1024];
        snprintf(message, sizeof message, "clmsd_head_workspace_size: %s", clmsd_context_last_error(NULL));
        return clmsdpy_raise(st, message);
    }
    return PyLong_FromSize_t(bytes);
}

static PyObject *status_string(PyObject *module, PyObject *arg)
{
    (void)module;
    long status = PyLong_AsLong(arg);
    if (status == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(clmsd_status_string((clmsd_status)status));
}

static PyMethodDef module_methods[] = {
    {"devices", devices, METH_NOARGS,
     "devices() -> a list of dicts, one per OpenCL device (clmsd_devices_list); 'spec' selects it."},
    {"head_workspace_size", (PyCFunction)(void (*)(void))head_workspace_size, METH_VARARGS | METH_KEYWORDS,
     "head_workspace_size(batch=, features=, ...) -> bytes of a head's workspace on any device."},
    {"stream_words", (PyCFunction)(void (*)(void))clmsdpy_stream_words, METH_VARARGS | METH_KEYWORDS,
     "stream_words(context, seed, step, k, first_block, blocks) -> numpy uint32 [4 * blocks]: the stream's "
     "words u(seed, step, k, e) for e in [4 * first_block, 4 * (first_block + blocks)) (clmsd_stream_words)."},
    {"rate_params", (PyCFunction)(void (*)(void))clmsdpy_rate_params, METH_VARARGS | METH_KEYWORDS,
     "rate_params(stream, rate) -> (threshold, scale): keep = value >= threshold, kept values times scale "
     "(clmsd_stream_rate_params)."},
    {"status_string", status_string, METH_O, "status_string(status) -> the status's name (clmsd_status_string)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "clmsd._clmsd",
    .m_doc = "clmsd's C extension: multi-sample dropout on OpenCL (use the package clmsd).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* The status values, pinned in clmsd.h */
static const clmsdpy_name statuses[] = {
    {"SUCCESS", CLMSD_SUCCESS},
    {"ERROR_INVALID_ARGUMENT", CLMSD_ERROR_INVALID_ARGUMENT},
    {"ERROR_INVALID_SIZE", CLMSD_ERROR_INVALID_SIZE},
    {"ERROR_INVALID_RATE", CLMSD_ERROR_INVALID_RATE},
    {"ERROR_INVALID_BUFFER", CLMSD_ERROR_INVALID_BUFFER},
    {"ERROR_DEVICE_NOT_FOUND", CLMSD_ERROR_DEVICE_NOT_FOUND},
    {"ERROR_OPENCL", CLMSD_ERROR_OPENCL},
    {"ERROR_BUILD", CLMSD_ERROR_BUILD},
    {"ERROR_CLBLAST", CLMSD_ERROR_CLBLAST},
    {"ERROR_OUT_OF_MEMORY", CLMSD_ERROR_OUT_OF_MEMORY},
    {"ERROR_UNSUPPORTED", CLMSD_ERROR_UNSUPPORTED},
    {"ERROR_MPI", CLMSD_ERROR_MPI},
    {NULL, 0},
};

static int add_type(PyObject *m, const char *name, PyTypeObject *type)
{
    return PyType_Ready(type) == 0 && PyModule_AddObjectRef(m, name, (PyObject *)type) == 0 ? 0 : -1;
}

/* A tuple of the names in a table */
static PyObject *names_tuple(const clmsdpy_name *names)
{
    PyObject *list = PyList_New(0);
    for (; list && names->name; ++names) {
        PyObject *s = PyUnicode_FromString(names->name);
        if (!s || PyList_Append(list, s))
            Py_CLEAR(list);
        Py_XDECREF(s);
    }
    PyObject *t = list ? PyList_AsTuple(list) : NULL;
    Py_XDECREF(list);
    return t;
}

static PyObject *loss_names(void)
{
    PyObject *list = PyList_New(0);
    for (int l = 0; list && clmsd_loss_name((clmsd_loss)l); ++l) {
        PyObject *s = PyUnicode_FromString(clmsd_loss_name((clmsd_loss)l));
        if (!s || PyList_Append(list, s))
            Py_CLEAR(list);
        Py_XDECREF(s);
    }
    PyObject *t = list ? PyList_AsTuple(list) : NULL;
    Py_XDECREF(list);
    return t;
}

PyMODINIT_FUNC PyInit__clmsd(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (!clmsdpy_error_type) {
        clmsdpy_error_type = PyErr_NewExceptionWithDoc(
            "clmsd.Error", "A failed clmsd call: .status (int), .status_name and the library's message.",
            PyExc_RuntimeError, NULL);
        if (!clmsdpy_error_type)
            goto fail;
    }
    if (PyModule_AddObjectRef(m, "Error", clmsdpy_error_type) || add_type(m, "Context", &clmsdpy_context_type) ||
        add_type(m, "Array", &clmsdpy_array_type) || add_type(m, "Head", &clmsdpy_head_type) ||
        add_type(m, "Optimizer", &clmsdpy_optim_type) ||
        PyModule_AddStringConstant(m, "version", clmsd_version_string()))
        goto fail;
    for (const clmsdpy_name *s = statuses; s->name; ++s)
        if (PyModule_AddIntConstant(m, s->name, s->value))
            goto fail;
    struct {
        const char *name;
        PyObject *value;
    } tuples[] = {
        {"losses", loss_names()},
        {"combines", names_tuple(clmsdpy_combine_names)},
        {"engines", names_tuple(clmsdpy_engine_names)},
        {"streams", names_tuple(clmsdpy_stream_names)},
        {"types", names_tuple(clmsdpy_type_names)},
        {"optimizers", names_tuple(clmsdpy_optimizer_names)},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof tuples / sizeof *tuples; ++i) {
        if (rc == 0 && (!tuples[i].value || PyModule_AddObjectRef(m, tuples[i].name, tuples[i].value)))
            rc = -1;
        Py_XDECREF(tuples[i].value);
    }
    if (rc == 0)
        return m;
fail:
    Py_DECREF(m);
    return NULL;
}
