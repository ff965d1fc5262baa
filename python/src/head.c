/* SPDX-License-Identifier: MIT */
/* clmsd.Head: a planned clmsd_head (clmsd_head_create), its descriptor, and the optimizers made
 * for it. The calls themselves are in head_call.c. */
#include "clmsdpy.h"

#include <stddef.h>
#include <stdlib.h>

static clmsdpy_head *of_child(clmsdpy_child *child)
{
    return (clmsdpy_head *)((char *)child - offsetof(clmsdpy_head, child));
}

static void head_release(clmsdpy_child *child)
{
    clmsdpy_head *h = of_child(child);
    clmsd_head_destroy(h->head);
    h->head = NULL;
}

static void head_dealloc(clmsdpy_head *self)
{
    if (self->child.next) {               /* adopted and not yet released by close() */
        clmsdpy_lock_with_gil(self->ctx); /* the thread rule: destroy waits for the context's queue */
        clmsdpy_context_disown(&self->child);
        head_release(&self->child);
        PyThread_release_lock(self->ctx->lock);
    }
    free(self->rates);
    Py_XDECREF(self->workspace);
    Py_XDECREF(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

typedef struct create_call {
    const clmsd_head_desc *desc;
    clmsd_head **head;
} create_call;

/* (under the context's lock: close() finds the head made, or none) */
static void create_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    (void)ops;
    create_call *c = data;
    clmsd_status st = clmsd_head_create(ctx, c->desc, c->head);
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, "clmsd_head_create", out);
}

PyObject *clmsdpy_head_create(clmsdpy_context *ctx, PyObject *kwargs)
{
    if (!ctx->ctx)
        return clmsdpy_raise_closed();
    clmsdpy_desc d;
    if (clmsdpy_desc_parse(ctx, kwargs, &d))
        return NULL;
    clmsdpy_head *h = (clmsdpy_head *)clmsdpy_head_type.tp_alloc(&clmsdpy_head_type, 0);
    if (!h) {
        clmsdpy_desc_clear(&d);
        return NULL;
    }
    h->ctx = (clmsdpy_context *)Py_NewRef(ctx);
    h->desc = d.desc;
    h->rates = d.rates; /* the descriptor's, now the head's */
    h->workspace = d.workspace;
    h->child.release = head_release;
    /* adopted before the library's head exists, which the body makes under the context's lock:
     * a close() from another thread meanwhile releases it like any other */
    clmsdpy_context_adopt(ctx, CLMSDPY_HEADS, &h->child);
    create_call c = {.desc = &h->desc, .head = &h->head};
    if (clmsdpy_run(ctx, NULL, 0, create_body, &c)) {
        Py_DECREF(h);
        return NULL;
    }
    return (PyObject *)h;
}

/* The descriptor as a dict: the keyword arguments that make this head again. */
static PyObject *head_desc(clmsdpy_head *self, void *closure)
{
    (void)closure;
    const clmsd_head_desc *d = &self->desc;
    PyObject *rates = Py_None;
    if (d->rates) {
        rates = PyTuple_New(d->samples);
        for (uint32_t k = 0; rates && k < d->samples; ++k)
            PyTuple_SET_ITEM(rates, k, PyFloat_FromDouble(d->rates[k]));
        if (!rates)
            return NULL;
    } else {
        Py_INCREF(rates);
    }
    PyObject *r =
        Py_BuildValue("{s:n,s:n,s:n,s:I,s:d,s:N,s:s,s:s,s:s,s:n,s:d,s:s,s:s,s:s,s:d}", "batch", (Py_ssize_t)d->batch,
                      "features", (Py_ssize_t)d->features, "classes", (Py_ssize_t)d->classes, "samples",
                      (unsigned)d->samples, "rate", d->rate, "rates", rates, "loss", clmsd_loss_name(d->loss),
                      "combine", clmsdpy_enum_name(clmsdpy_combine_names, d->combine), "engine",
                      clmsdpy_enum_name(clmsdpy_engine_names, d->engine), "layers", (Py_ssize_t)d->layers, "layer_rate",
                      d->layer_rate, "stream", clmsdpy_enum_name(clmsdpy_stream_names, d->stream), "x_type",
                      clmsdpy_enum_name(clmsdpy_type_names, d->x_type), "dx_type",
                      clmsdpy_enum_name(clmsdpy_type_names, d->dx_type), "huber_delta", d->huber_delta);
    if (r && self->workspace && PyDict_SetItemString(r, "workspace", self->workspace))
        Py_CLEAR(r);
    return r;
}

/* One field of the descriptor, by name */
static PyObject *head_field(clmsdpy_head *self, void *name)
{
    PyObject *d = head_desc(self, NULL);
    PyObject *v = d ? PyDict_GetItemString(d, name) : NULL;
    Py_XINCREF(v);
    Py_XDECREF(d);
    return v;
}

static PyObject *head_engine(clmsdpy_head *self, void *closure)
{
    (void)closure;
    if (!self->head)
        return clmsdpy_raise_closed();
    return PyUnicode_FromString(clmsdpy_enum_name(clmsdpy_engine_names, clmsd_head_engine(self->head)));
}

static PyObject *head_context(clmsdpy_head *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->ctx);
}

static PyObject *head_repr(clmsdpy_head *self)
{
    const clmsd_head_desc *d = &self->desc;
    return PyUnicode_FromFormat("<clmsd.Head B=%zu H=%zu C=%zu K=%u L=%zu %s %s%s>", d->batch, d->features, d->classes,
                                (unsigned)d->samples, d->layers, clmsd_loss_name(d->loss),
                                clmsdpy_enum_name(clmsdpy_combine_names, d->combine), self->head ? "" : " (closed)");
}

static PyObject *head_optimizer(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return clmsdpy_optim_create(self, args, kwargs);
}

static PyMethodDef head_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))clmsdpy_head_forward, METH_VARARGS | METH_KEYWORDS,
     "forward(*, x, w, bias=None, target=None, layer_weights=None, seed=0, step=0, row_offset=0,\n"
     "        x_layer_stride=0, x_row_stride=0, loss=, logits=True, ignored=False) -> dict\n"
     "The loss and the mean logits (clmsd_head_forward)."},
    {"train_step", (PyCFunction)(void (*)(void))clmsdpy_head_train_step, METH_VARARGS | METH_KEYWORDS,
     "train_step(*, x, w, bias=None, target, layer_weights=None, seed=0, step=0, row_offset=0, accumulate=False,\n"
     "           strides..., loss=True, logits=False, ignored=False, dx=True, dw=True, dbias=, dlayer_weights=)\n"
     "-> dict: the loss, the mean logits and the gradients (clmsd_head_train_step)."},
    {"predict", (PyCFunction)(void (*)(void))clmsdpy_head_predict, METH_VARARGS | METH_KEYWORDS,
     "predict(*, x, w, bias=None, layer_weights=None, x_layer_stride=0, x_row_stride=0, logits=True)\n"
     "-> the logits X W^T + b, no dropout (clmsd_head_predict)."},
    {"logits", (PyCFunction)(void (*)(void))clmsdpy_head_logits, METH_VARARGS | METH_KEYWORDS,
     "logits(*, x, w, bias=None, layer_weights=None, seed=0, step=0, row_offset=0, x_layer_stride=0,\n"
     "       x_row_stride=0, logits=True) -> every sample's logits [K, B, C] (average_losses) or their mean\n"
     "[B, C] (average_logits), no loss: for a loss of your own (clmsd_head_logits)."},
    {"backward", (PyCFunction)(void (*)(void))clmsdpy_head_backward, METH_VARARGS | METH_KEYWORDS,
     "backward(*, x, w, bias=None, layer_weights=None, dlogits, seed=0, step=0, row_offset=0, accumulate=False,\n"
     "         strides..., dx=True, dw=True, dbias=, dlayer_weights=) -> dict: the gradients from dL/dlogits\n"
     "of the shape logits() gave, the same masks (clmsd_head_backward)."},
    {"optimizer", (PyCFunction)(void (*)(void))head_optimizer, METH_VARARGS | METH_KEYWORDS,
     "optimizer(kind='adamw', *, momentum=0, nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8,\n"
     "          weight_decay=0.01 (adamw) or 0 (sgd), max_grad_norm=0) -> clmsd.Optimizer"},
    {NULL, NULL, 0, NULL},
};

#define FIELD(name, doc)                          \
    {                                             \
        name, (getter)head_field, NULL, doc, name \
    }
static PyGetSetDef head_getset[] = {
    {"desc", (getter)head_desc, NULL, "The descriptor, as the keyword arguments of Context.head().", NULL},
    {"engine", (getter)head_engine, NULL, "The engine the head runs: 'clblast' or 'fused' (AUTO resolved).", NULL},
    {"context", (getter)head_context, NULL, "The clmsd.Context of the head.", NULL},
    FIELD("batch", "B"),
    FIELD("features", "H"),
    FIELD("classes", "C"),
    FIELD("samples", "K"),
    FIELD("layers", "L (0 or 1: one feature matrix)"),
    FIELD("loss", "The loss's name."),
    FIELD("combine", "'average_losses' or 'average_logits'."),
    FIELD("stream", "'philox_v1' or 'philox_v1_u8'."),
    FIELD("x_type", "The storage type of x."),
    FIELD("dx_type", "The storage type of dx."),
    {NULL, NULL, NULL, NULL, NULL},
};
#undef FIELD

PyTypeObject clmsdpy_head_type = {
    .ob_base = {PyObject_HEAD_INIT(NULL) 0},
    .tp_name = "clmsd.Head",
    .tp_basicsize = sizeof(clmsdpy_head),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A multi-sample dropout head planned on a context: Context.head(batch=, features=, ...).",
    .tp_dealloc = (destructor)head_dealloc,
    .tp_repr = (reprfunc)head_repr,
    .tp_methods = head_methods,
    .tp_getset = head_getset,
};
