/* SPDX-License-Identifier: MIT */
/* clmsd.Optimizer: a clmsd_optim for a head's W, b and layer weights, stepped on the device from
 * their gradients; its state (steps, moments) read and written for checkpoints. */
#include "clmsdpy.h"

#include <stddef.h>
#include <string.h>

static clmsdpy_optim *of_child(clmsdpy_child *child)
{
    return (clmsdpy_optim *)((char *)child - offsetof(clmsdpy_optim, child));
}

static void optim_release(clmsdpy_child *child)
{
    clmsdpy_optim *o = of_child(child);
    clmsd_optim_destroy(o->optim);
    o->optim = NULL;
}

static void optim_dealloc(clmsdpy_optim *self)
{
    if (self->child.next) { /* adopted and not yet released by close() */
        clmsdpy_context *ctx = self->head->ctx;
        clmsdpy_lock_with_gil(ctx);
        clmsdpy_context_disown(&self->child);
        optim_release(&self->child);
        PyThread_release_lock(ctx->lock);
    }
    Py_XDECREF(self->head);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

typedef struct create_call {
    clmsd_head *head;
    const clmsd_optim_desc *desc;
    clmsd_optim **optim;
} create_call;

static void create_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    (void)ops;
    create_call *c = data;
    clmsd_status st = clmsd_optim_create(c->head, c->desc, c->optim);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, "clmsd_optim_create", out);
}

static int parse_desc(PyObject *args, PyObject *kwargs, clmsd_optim_desc *d)
{
    static char *kw[] = {"kind", "momentum",     "nesterov",      "beta1", "beta2",
                         "eps",  "weight_decay", "max_grad_norm", NULL};
    PyObject *kind = NULL, *momentum = NULL, *nesterov = NULL, *beta1 = NULL, *beta2 = NULL, *eps = NULL;
    PyObject *wd = NULL, *max_norm = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$OOOOOOO:optimizer", kw, &kind, &momentum, &nesterov, &beta1,
                                     &beta2, &eps, &wd, &max_norm))
        return -1;
    int k = CLMSD_OPTIM_ADAMW, nest = 0;
    *d = (clmsd_optim_desc){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}; /* torch.optim.AdamW's */
    if ((kind && clmsdpy_enum(kind, "kind", clmsdpy_optimizer_names, &k)) ||
        (momentum && clmsdpy_to_double(momentum, "momentum", &d->momentum)) ||
        (nesterov && clmsdpy_to_bool(nesterov, "nesterov", &nest)) ||
        (beta1 && clmsdpy_to_double(beta1, "beta1", &d->beta1)) ||
        (beta2 && clmsdpy_to_double(beta2, "beta2", &d->beta2)) || (eps && clmsdpy_to_double(eps, "eps", &d->eps)) ||
        (max_norm && clmsdpy_to_double(max_norm, "max_grad_norm", &d->max_grad_norm)))
        return -1;
    d->kind = (clmsd_optimizer)k;
    d->nesterov = nest;
    d->weight_decay = d->kind == CLMSD_OPTIM_ADAMW ? 0.01 : 0.0; /* torch's defaults */
    return wd && wd != Py_None ? clmsdpy_to_double(wd, "weight_decay", &d->weight_decay) : 0;
}

PyObject *clmsdpy_optim_create(clmsdpy_head *head, PyObject *args, PyObject *kwargs)
{
    if (!head->head)
        return clmsdpy_raise_closed();
    create_call c = {.head = head->head};
    clmsd_optim_desc desc;
    if (parse_desc(args, kwargs, &desc))
        return NULL;
    clmsdpy_optim *o = (clmsdpy_optim *)clmsdpy_optim_type.tp_alloc(&clmsdpy_optim_type, 0);
    if (!o)
        return NULL;
    o->head = (clmsdpy_head *)Py_NewRef(head);
    o->desc = desc;
    o->child.release = optim_release;
    /* adopted before the library's optimizer exists, which the body makes under the context's
     * lock: a close() from another thread meanwhile releases it like any other */
    clmsdpy_context_adopt(head->ctx, CLMSDPY_OPTIMS, &o->child);
    c.desc = &o->desc;
    c.optim = &o->optim;
    if (clmsdpy_run(head->ctx, NULL, 0, create_body, &c)) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

enum { W, DW, BIAS, DBIAS, LAYER_WEIGHTS, DLAYER_WEIGHTS, OPERANDS };

typedef struct step_call {
    clmsd_optim *optim;
    double lr;
} step_call;

static void step_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    step_call *c = data;
    clmsd_head_args a = {.w = ops[W].mem,
                         .dw = ops[DW].mem,
                         .bias = ops[BIAS].mem,
                         .dbias = ops[DBIAS].mem,
                         .layer_weights = ops[LAYER_WEIGHTS].mem,
                         .dlayer_weights = ops[DLAYER_WEIGHTS].mem};
    clmsd_status st = clmsd_optim_step(c->optim, &a, c->lr, 0, NULL, NULL);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, "clmsd_optim_step", out);
}

/* A parameter, updated in place: a clmsd.Array, or a writable numpy array (copied there and back) */
static int parameter(clmsdpy_operand *op, const char *name, PyObject *obj, clmsdpy_context *ctx,
                     const clmsdpy_shape *shape)
{
    if (PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a clmsd.Array or a numpy array, not a bool", name);
        return -1;
    }
    return clmsdpy_output(op, name, obj, ctx, CLMSDPY_FLOAT32, shape, true);
}

static bool given(PyObject *o) { return o && o != Py_None; }

static int step_operands(clmsdpy_optim *self, PyObject **o, clmsdpy_operand *ops)
{
    static const char *const names[OPERANDS] = {"w", "dw", "bias", "dbias", "layer_weights", "dlayer_weights"};
    const clmsd_head_desc *d = &self->head->desc;
    clmsdpy_context *ctx = self->head->ctx;
    Py_ssize_t c = (Py_ssize_t)d->classes, h = (Py_ssize_t)d->features, l = (Py_ssize_t)d->layers;
    const clmsdpy_shape shapes[OPERANDS] = {{2, {c, h}}, {2, {c, h}}, {1, {c}}, {1, {c}}, {1, {l}}, {1, {l}}};
    for (int i = 0; i < OPERANDS; i += 2)
        if (given(o[i]) != given(o[i + 1]) || (i == W && !given(o[i]))) {
            PyErr_Format(PyExc_TypeError, "%s and %s: give both%s", names[i], names[i + 1],
                         i == W ? " (they are required)" : " or neither");
            return -1;
        }
    if (given(o[LAYER_WEIGHTS]) && d->layers < 2) {
        PyErr_SetString(PyExc_ValueError, "layer_weights and dlayer_weights are for a pooled head (layers >= 2)");
        return -1;
    }
    for (int i = 0; i < OPERANDS; i += 2)
        if (given(o[i]) && (parameter(&ops[i], names[i], o[i], ctx, &shapes[i]) ||
                            clmsdpy_input(&ops[i + 1], names[i + 1], o[i + 1], ctx, CLMSDPY_FLOAT32, &shapes[i + 1])))
            return -1;
    return 0;
}

static PyObject *optim_step(clmsdpy_optim *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"w", "dw", "bias", "dbias", "layer_weights", "dlayer_weights", "lr", NULL};
    PyObject *o[OPERANDS] = {NULL}, *lr_obj = NULL;
    if (!self->optim)
        return clmsdpy_raise_closed();
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOOOOO:step", kw, &o[W], &o[DW], &o[BIAS], &o[DBIAS],
                                     &o[LAYER_WEIGHTS], &o[DLAYER_WEIGHTS], &lr_obj))
        return NULL;
    step_call c = {.optim = self->optim};
    if (!lr_obj) {
        PyErr_SetString(PyExc_TypeError, "step: lr is required");
        return NULL;
    }
    if (clmsdpy_to_double(lr_obj, "lr", &c.lr))
        return NULL;
    clmsdpy_operand ops[OPERANDS];
    memset(ops, 0, sizeof ops);
    int rc = step_operands(self, o, ops);
    if (rc == 0)
        rc = clmsdpy_run(self->head->ctx, ops, OPERANDS, step_body, &c);
    clmsdpy_operands_done(ops, OPERANDS, rc != 0);
    if (rc)
        return NULL;
    Py_RETURN_NONE;
}

typedef struct state_call {
    clmsd_optim *optim;
    bool write;
    uint64_t steps;
    float *moments;
    size_t floats;
} state_call;

static void state_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    (void)ops;
    state_call *c = data;
    clmsd_status st = c->write ? clmsd_optim_write_state(c->optim, c->steps, c->moments, c->floats)
                               : clmsd_optim_read_state(c->optim, &c->steps, c->moments, c->floats);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, c->write ? "clmsd_optim_write_state" : "clmsd_optim_read_state", out);
}

static PyObject *optim_state(clmsdpy_optim *self, PyObject *unused)
{
    (void)unused;
    if (!self->optim)
        return clmsdpy_raise_closed();
    state_call c = {.optim = self->optim, .floats = clmsd_optim_state_floats(self->optim)};
    Py_ssize_t n = (Py_ssize_t)c.floats;
    PyObject *moments = clmsdpy_numpy_new(1, &n, CLMSDPY_FLOAT32, true);
    Py_buffer view;
    clmsdpy_dtype dtype;
    if (!moments || clmsdpy_get_buffer(moments, "moments", true, &view, &dtype)) {
        Py_XDECREF(moments);
        return NULL;
    }
    c.moments = view.buf;
    int rc = clmsdpy_run(self->head->ctx, NULL, 0, state_body, &c);
    PyBuffer_Release(&view);
    if (rc) {
        Py_DECREF(moments);
        return NULL;
    }
    return Py_BuildValue("(KN)", (unsigned long long)c.steps, moments);
}

static PyObject *optim_load_state(clmsdpy_optim *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"steps", "moments", NULL};
    PyObject *steps, *moments;
    if (!self->optim)
        return clmsdpy_raise_closed();
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:load_state", kw, &steps, &moments))
        return NULL;
    state_call c = {.optim = self->optim, .write = true, .floats = clmsd_optim_state_floats(self->optim)};
    if (clmsdpy_to_u64(steps, "steps", &c.steps))
        return NULL;
    Py_buffer view;
    clmsdpy_dtype dtype;
    if (clmsdpy_get_buffer(moments, "moments", false, &view, &dtype))
        return NULL;
    int rc = -1;
    if (dtype != CLMSDPY_FLOAT32 || view.ndim != 1 || (size_t)view.shape[0] != c.floats)
        PyErr_Format(dtype != CLMSDPY_FLOAT32 ? PyExc_TypeError : PyExc_ValueError,
                     "moments must be a float32 array of shape (%zu,) (state_floats)", c.floats);
    else {
        c.moments = view.buf;
        rc = clmsdpy_run(self->head->ctx, NULL, 0, state_body, &c);
    }
    PyBuffer_Release(&view);
    if (rc)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *optim_state_floats(clmsdpy_optim *self, void *closure)
{
    (void)closure;
    if (!self->optim)
        return clmsdpy_raise_closed();
    return PyLong_FromSize_t(clmsd_optim_state_floats(self->optim));
}

static PyObject *optim_desc(clmsdpy_optim *self, void *closure)
{
    (void)closure;
    const clmsd_optim_desc *d = &self->desc;
    return Py_BuildValue("{s:s,s:d,s:O,s:d,s:d,s:d,s:d,s:d}", "kind",
                         clmsdpy_enum_name(clmsdpy_optimizer_names, d->kind), "momentum", d->momentum, "nesterov",
                         d->nesterov ? Py_True : Py_False, "beta1", d->beta1, "beta2", d->beta2, "eps", d->eps,
                         "weight_decay", d->weight_decay, "max_grad_norm", d->max_grad_norm);
}

static PyObject *optim_head(clmsdpy_optim *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->head);
}

static PyMethodDef optim_methods[] = {
    {"step", (PyCFunction)(void (*)(void))optim_step, METH_VARARGS | METH_KEYWORDS,
     "step(*, w, dw, bias=None, dbias=None, layer_weights=None, dlayer_weights=None, lr): one update of the\n"
     "parameters (clmsd.Array or writable numpy arrays, updated in place) from their gradients."},
    {"state", (PyCFunction)optim_state, METH_NOARGS,
     "state() -> (steps, moments): the step count and the moments, float32 (clmsd_optim_read_state)."},
    {"load_state", (PyCFunction)(void (*)(void))optim_load_state, METH_VARARGS | METH_KEYWORDS,
     "load_state(steps, moments): continue from a state() (clmsd_optim_write_state)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef optim_getset[] = {
    {"state_floats", (getter)optim_state_floats, NULL, "The number of floats of the moments.", NULL},
    {"desc", (getter)optim_desc, NULL, "The optimizer's settings, as a dict.", NULL},
    {"head", (getter)optim_head, NULL, "The clmsd.Head it was made for.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject clmsdpy_optim_type = {
    .ob_base = {PyObject_HEAD_INIT(NULL) 0},
    .tp_name = "clmsd.Optimizer",
    .tp_basicsize = sizeof(clmsdpy_optim),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An optimizer of a head's parameters on the device: Head.optimizer('adamw' or 'sgd', ...).",
    .tp_dealloc = (destructor)optim_dealloc,
    .tp_methods = optim_methods,
    .tp_getset = optim_getset,
};
