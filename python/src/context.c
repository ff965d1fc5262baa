/* SPDX-License-Identifier: MIT */
/* clmsd.Context: a clmsd_context, its lock (the thread rule), and the native objects made from it,
 * which close() releases before the context so that destruction order never matters. */
#include "clmsdpy.h"

#include <string.h>

static PyObject *context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    (void)args, (void)kwargs;
    clmsdpy_context *self = (clmsdpy_context *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    for (int k = 0; k < CLMSDPY_KINDS; ++k)
        self->children[k].prev = self->children[k].next = &self->children[k];
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static int context_init(clmsdpy_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"device", NULL};
    const char *device = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|z:Context", keywords, &device))
        return -1;
    if (self->ctx) {
        PyErr_SetString(PyExc_RuntimeError, "the context is already created");
        return -1;
    }
    clmsd_context *ctx = NULL;
    clmsd_status st;
    char message[1024];
    Py_BEGIN_ALLOW_THREADS;
    st = clmsd_context_create(device, &ctx);
    if (st != CLMSD_SUCCESS) /* a thread-local message: read on this thread */
        snprintf(message, sizeof message, "%s", clmsd_context_last_error(NULL));
    Py_END_ALLOW_THREADS;
    if (st != CLMSD_SUCCESS) {
        clmsdpy_raise(st, message);
        return -1;
    }
    self->ctx = ctx;
    return 0;
}

void clmsdpy_lock_with_gil(clmsdpy_context *ctx) { PyThread_acquire_lock(ctx->lock, WAIT_LOCK); }

void clmsdpy_context_adopt(clmsdpy_context *ctx, int kind, clmsdpy_child *child)
{
    clmsdpy_child *head = &ctx->children[kind];
    child->prev = head->prev;
    child->next = head;
    head->prev->next = child;
    head->prev = child;
}

void clmsdpy_context_disown(clmsdpy_child *child)
{
    if (!child->next)
        return;
    child->prev->next = child->next;
    child->next->prev = child->prev;
    child->prev = child->next = NULL;
}

/* Releases everything made from the context, with the GIL held so that no object is made or
 * deallocated meanwhile, then the context itself without the GIL (it waits for the queue): by
 * then nothing refers to it, and every new use finds it closed. */
static void context_close(clmsdpy_context *self)
{
    if (!self->ctx)
        return;
    clmsdpy_lock_with_gil(self);
    for (int k = 0; k < CLMSDPY_KINDS; ++k) {
        clmsdpy_child *head = &self->children[k];
        while (head->next != head) {
            clmsdpy_child *child = head->next;
            clmsdpy_context_disown(child);
            child->release(child);
        }
    }
    clmsd_context *ctx = self->ctx;
    self->ctx = NULL;
    Py_BEGIN_ALLOW_THREADS;
    clmsd_context_destroy(ctx);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS;
}

static void context_dealloc(clmsdpy_context *self)
{
    context_close(self); /* every object made from it is gone already: each holds a reference */
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *context_close_method(clmsdpy_context *self, PyObject *unused)
{
    (void)unused;
    context_close(self);
    Py_RETURN_NONE;
}

static PyObject *context_enter(clmsdpy_context *self, PyObject *unused)
{
    (void)unused;
    if (!self->ctx)
        return clmsdpy_raise_closed();
    return Py_NewRef(self);
}

static PyObject *context_exit(clmsdpy_context *self, PyObject *args)
{
    (void)args;
    context_close(self);
    Py_RETURN_NONE;
}

static void warmup_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    (void)ops, (void)data;
    clmsd_status st = clmsd_context_warmup(ctx);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, "clmsd_context_warmup", out);
}

static PyObject *context_warmup(clmsdpy_context *self, PyObject *unused)
{
    (void)unused;
    if (clmsdpy_run(self, NULL, 0, warmup_body, NULL))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *context_finish(clmsdpy_context *self, PyObject *unused)
{
    (void)unused;
    if (clmsdpy_run(self, NULL, 0, NULL, NULL)) /* no body: waits for the queue */
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *context_array(clmsdpy_context *self, PyObject *obj) { return clmsdpy_array_from(self, obj); }

static PyObject *make_array(clmsdpy_context *self, PyObject *args, PyObject *kwargs, bool zeroed)
{
    static char *keywords[] = {"shape", "dtype", NULL};
    PyObject *shape, *dtype_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, zeroed ? "O|O:zeros" : "O|O:empty", keywords, &shape, &dtype_obj))
        return NULL;
    int ndim;
    Py_ssize_t dims[CLMSDPY_MAX_DIMS];
    clmsdpy_dtype dtype = CLMSDPY_FLOAT32;
    if (clmsdpy_to_shape(shape, &ndim, dims) || (dtype_obj && clmsdpy_dtype_from_object(dtype_obj, &dtype)))
        return NULL;
    return clmsdpy_array_new(self, ndim, dims, dtype, zeroed);
}

static PyObject *context_empty(clmsdpy_context *self, PyObject *args, PyObject *kwargs)
{
    return make_array(self, args, kwargs, false);
}

static PyObject *context_zeros(clmsdpy_context *self, PyObject *args, PyObject *kwargs)
{
    return make_array(self, args, kwargs, true);
}

static PyObject *context_head(clmsdpy_context *self, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args)) {
        PyErr_SetString(PyExc_TypeError, "head() takes keyword arguments only (batch=, features=, ...)");
        return NULL;
    }
    return clmsdpy_head_create(self, kwargs);
}

static PyObject *context_device_name(clmsdpy_context *self, void *closure)
{
    (void)closure;
    return self->ctx ? PyUnicode_FromString(clmsd_context_device_name(self->ctx)) : clmsdpy_raise_closed();
}

static PyObject *context_tiling(clmsdpy_context *self, void *closure)
{
    (void)closure;
    return self->ctx ? PyUnicode_FromString(clmsd_context_tiling(self->ctx)) : clmsdpy_raise_closed();
}

static PyObject *context_closed(clmsdpy_context *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->ctx == NULL);
}

static PyObject *context_repr(clmsdpy_context *self)
{
    if (!self->ctx)
        return PyUnicode_FromString("<clmsd.Context (closed)>");
    return PyUnicode_FromFormat("<clmsd.Context %s, %s tiling>", clmsd_context_device_name(self->ctx),
                                clmsd_context_tiling(self->ctx));
}

static PyMethodDef context_methods[] = {
    {"close", (PyCFunction)context_close_method, METH_NOARGS,
     "Release the context and everything made from it; later uses raise ValueError."},
    {"warmup", (PyCFunction)context_warmup, METH_NOARGS,
     "Compile every kernel now (and run the CLBlast routines once): clmsd_context_warmup."},
    {"finish", (PyCFunction)context_finish, METH_NOARGS, "Wait until the device is done with every call."},
    {"array", (PyCFunction)context_array, METH_O, "array(a) -> clmsd.Array: a copy of a numpy array on the device."},
    {"empty", (PyCFunction)(void (*)(void))context_empty, METH_VARARGS | METH_KEYWORDS,
     "empty(shape, dtype='float32') -> clmsd.Array, uninitialised."},
    {"zeros", (PyCFunction)(void (*)(void))context_zeros, METH_VARARGS | METH_KEYWORDS,
     "zeros(shape, dtype='float32') -> clmsd.Array of zeros."},
    {"head", (PyCFunction)(void (*)(void))context_head, METH_VARARGS | METH_KEYWORDS,
     "head(batch=, features=, classes=, samples=, ...) -> clmsd.Head (clmsd_head_create)."},
    {"__enter__", (PyCFunction)context_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)context_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef context_getset[] = {
    {"device_name", (getter)context_device_name, NULL, "The device's name.", NULL},
    {"tiling", (getter)context_tiling, NULL, "The kernels' shape on this context: 'cpu' or 'gpu'.", NULL},
    {"closed", (getter)context_closed, NULL, "True once close() ran.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject clmsdpy_context_type = {
    .ob_base = {PyObject_HEAD_INIT(NULL) 0},
    .tp_name = "clmsd.Context",
    .tp_basicsize = sizeof(clmsdpy_context),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Context(device=None): an OpenCL device for clmsd (clmsd_context_create). device: 'P:D' or a\n"
              "substring of 'platform / device'; None: $CLMSD_DEVICE, else the first GPU, else the CPU.",
    .tp_new = context_new,
    .tp_init = (initproc)context_init,
    .tp_dealloc = (destructor)context_dealloc,
    .tp_repr = (reprfunc)context_repr,
    .tp_methods = context_methods,
    .tp_getset = context_getset,
};
