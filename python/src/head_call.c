/* SPDX-License-Identifier: MIT */
/* Head.forward, .train_step, .predict, .logits and .backward: keyword arguments mirroring
 * clmsd_head_args, each operand checked against the head's shape (operand.c), one library call,
 * the outputs returned (or written into the clmsd.Array or numpy array given for them). */
#include "clmsdpy.h"

#include <stdio.h>
#include <string.h>

typedef enum mode { FORWARD, TRAIN, PREDICT, LOGITS_ONLY, BACKWARD } mode;

/* The keyword arguments, one list for the enum and the names: the operands of clmsd_head_args,
 * then its scalars (from SEED on) */
/* clang-format off */
#define HEAD_KEYWORDS(K)                                                                                    \
    K(X, x) K(W, w) K(BIAS, bias) K(TARGET, target) K(LAYER_WEIGHTS, layer_weights) K(DLOGITS, dlogits)     \
    K(LOSS, loss) K(LOGITS, logits) K(IGNORED, ignored)                                                     \
    K(DX, dx) K(DW, dw) K(DBIAS, dbias) K(DLAYER_WEIGHTS, dlayer_weights)                                   \
    K(SEED, seed) K(STEP, step) K(ROW_OFFSET, row_offset) K(ACCUMULATE, accumulate)                         \
    K(X_LAYER_STRIDE, x_layer_stride) K(X_ROW_STRIDE, x_row_stride)                                         \
    K(DX_LAYER_STRIDE, dx_layer_stride) K(DX_ROW_STRIDE, dx_row_stride)
/* clang-format on */
#define AS_ENUM(id, name) id,
#define AS_NAME(id, name) #name,
enum { HEAD_KEYWORDS(AS_ENUM) KEYWORDS, OPERANDS = SEED };
static const char *const keyword_names[KEYWORDS] = {HEAD_KEYWORDS(AS_NAME)};

#define BIT(k) (UINT64_C(1) << (k))
/* The keywords each call takes */
static const uint64_t PREDICT_KEYWORDS =
    BIT(X) | BIT(W) | BIT(BIAS) | BIT(LAYER_WEIGHTS) | BIT(LOGITS) | BIT(X_LAYER_STRIDE) | BIT(X_ROW_STRIDE);
static const uint64_t LOGITS_KEYWORDS = PREDICT_KEYWORDS | BIT(SEED) | BIT(STEP) | BIT(ROW_OFFSET);
static const uint64_t FORWARD_KEYWORDS = LOGITS_KEYWORDS | BIT(TARGET) | BIT(LOSS) | BIT(IGNORED);
static const uint64_t GRADIENT_KEYWORDS =
    BIT(ACCUMULATE) | BIT(DX_LAYER_STRIDE) | BIT(DX_ROW_STRIDE) | BIT(DX) | BIT(DW) | BIT(DBIAS) | BIT(DLAYER_WEIGHTS);
static const uint64_t TRAIN_KEYWORDS = FORWARD_KEYWORDS | GRADIENT_KEYWORDS;
static const uint64_t BACKWARD_KEYWORDS = (LOGITS_KEYWORDS & ~BIT(LOGITS)) | BIT(DLOGITS) | GRADIENT_KEYWORDS;
#undef BIT

static const char *const call_names[] = {"forward", "train_step", "predict", "logits", "backward"};

static int parse(mode m, PyObject *args, PyObject *kwargs, PyObject **a)
{
    const uint64_t allowed[] = {FORWARD_KEYWORDS, TRAIN_KEYWORDS, PREDICT_KEYWORDS, LOGITS_KEYWORDS, BACKWARD_KEYWORDS};
    return clmsdpy_keywords(call_names[m], args, kwargs, keyword_names, KEYWORDS, allowed[m], a);
}

/* The outputs a call computes when the caller says nothing of them */
static void defaults(mode m, const clmsdpy_head *h, bool accumulate, PyObject **o)
{
    /* gradients returned by default, except when accumulating: that adds into arrays the caller
     * names, so the others are not computed (a new array to add into would be garbage) */
    bool grads = (m == TRAIN || m == BACKWARD) && !accumulate;
    PyObject *loss = m == TRAIN || (m == FORWARD && o[TARGET] && o[TARGET] != Py_None) ? Py_True : Py_False;
    PyObject *def[OPERANDS] = {
        [LOSS] = loss,
        [LOGITS] = m == TRAIN || m == BACKWARD ? Py_False : Py_True,
        [IGNORED] = Py_False,
        [DX] = grads ? Py_True : Py_False,
        [DW] = grads ? Py_True : Py_False,
        [DBIAS] = grads && o[BIAS] && o[BIAS] != Py_None ? Py_True : Py_False,
        [DLAYER_WEIGHTS] = grads && h->desc.layers >= 2 ? Py_True : Py_False,
    };
    for (int i = LOSS; i < OPERANDS; ++i)
        if (!o[i])
            o[i] = def[i];
}

static clmsdpy_shape shape1(Py_ssize_t a) { return (clmsdpy_shape){.ndim = 1, .dims = {a}}; }
static clmsdpy_shape shape2(Py_ssize_t a, Py_ssize_t b) { return (clmsdpy_shape){.ndim = 2, .dims = {a, b}}; }
static clmsdpy_shape shape3(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c)
{
    return (clmsdpy_shape){.ndim = 3, .dims = {a, b, c}};
}

/* x or dx: [B, H], a pooled head's [L, B, H], or any shape when strides place the rows */
static clmsdpy_shape rows_shape(const clmsd_head_desc *d, bool strided)
{
    if (strided)
        return (clmsdpy_shape){.ndim = -1};
    Py_ssize_t b = (Py_ssize_t)d->batch, h = (Py_ssize_t)d->features;
    return d->layers >= 2 ? shape3((Py_ssize_t)d->layers, b, h) : shape2(b, h);
}

/* The strides of a pooled head; refused on a plain head */
static int strides(const clmsd_head_desc *d, PyObject *layer, PyObject *row, const char *which, size_t *ls, size_t *rs)
{
    char name[32];
    snprintf(name, sizeof name, "%s_layer_stride", which);
    if (layer && clmsdpy_to_size(layer, name, ls))
        return -1;
    snprintf(name, sizeof name, "%s_row_stride", which);
    if (row && clmsdpy_to_size(row, name, rs))
        return -1;
    if ((*ls || *rs) && d->layers < 2) {
        PyErr_Format(PyExc_ValueError, "%s_layer_stride and %s_row_stride are for a pooled head (layers >= 2)", which,
                     which);
        return -1;
    }
    return 0;
}

static bool given(PyObject *o) { return o && o != Py_None && o != Py_False; }

/* logits and dlogits of clmsd_head_logits and clmsd_head_backward: every sample's [K, B, C]
 * (average losses) or the mean [B, C] (average logits); the others' logits: [B, C] */
static clmsdpy_shape logits_shape(mode m, const clmsd_head_desc *d)
{
    Py_ssize_t k = (Py_ssize_t)d->samples, b = (Py_ssize_t)d->batch, c = (Py_ssize_t)d->classes;
    if ((m == LOGITS_ONLY || m == BACKWARD) && d->combine == CLMSD_AVERAGE_LOSSES)
        return shape3(k, b, c);
    return shape2(b, c);
}

/* x, w, bias, layer_weights: every call's inputs */
static int inputs(const clmsdpy_head *h, PyObject **o, const clmsd_head_args *ha, clmsdpy_operand *ops)
{
    const clmsd_head_desc *d = &h->desc;
    clmsdpy_context *ctx = h->ctx;
    Py_ssize_t c = (Py_ssize_t)d->classes;
    clmsdpy_shape sx = rows_shape(d, ha->x_layer_stride || ha->x_row_stride);
    clmsdpy_shape sw = shape2(c, (Py_ssize_t)d->features), sb = shape1(c), sl = shape1((Py_ssize_t)d->layers);
    if (d->layers < 2 && (given(o[LAYER_WEIGHTS]) || given(o[DLAYER_WEIGHTS]))) {
        PyErr_SetString(PyExc_ValueError, "layer_weights and dlayer_weights are for a pooled head (layers >= 2)");
        return -1;
    }
    return clmsdpy_input(&ops[X], "x", o[X], ctx, (clmsdpy_dtype)d->x_type, &sx) ||
                   clmsdpy_input(&ops[W], "w", o[W], ctx, CLMSDPY_FLOAT32, &sw) ||
                   (given(o[BIAS]) && clmsdpy_input(&ops[BIAS], "bias", o[BIAS], ctx, CLMSDPY_FLOAT32, &sb)) ||
                   (d->layers >= 2 &&
                    clmsdpy_input(&ops[LAYER_WEIGHTS], "layer_weights", o[LAYER_WEIGHTS], ctx, CLMSDPY_FLOAT32, &sl))
               ? -1
               : 0;
}

/* dx, dw, dbias, dlayer_weights: the gradients of train_step and backward */
static int gradients(const clmsdpy_head *h, PyObject **o, const clmsd_head_args *ha, bool keep, clmsdpy_operand *ops)
{
    const clmsd_head_desc *d = &h->desc;
    clmsdpy_context *ctx = h->ctx;
    Py_ssize_t c = (Py_ssize_t)d->classes;
    clmsdpy_shape sdx = rows_shape(d, ha->dx_layer_stride || ha->dx_row_stride);
    clmsdpy_shape sw = shape2(c, (Py_ssize_t)d->features), sb = shape1(c), sl = shape1((Py_ssize_t)d->layers);
    return clmsdpy_output(&ops[DX], "dx", o[DX], ctx, (clmsdpy_dtype)d->dx_type, &sdx, keep) ||
                   clmsdpy_output(&ops[DW], "dw", o[DW], ctx, CLMSDPY_FLOAT32, &sw, keep) ||
                   clmsdpy_output(&ops[DBIAS], "dbias", o[DBIAS], ctx, CLMSDPY_FLOAT32, &sb, keep) ||
                   (d->layers >= 2 && clmsdpy_output(&ops[DLAYER_WEIGHTS], "dlayer_weights", o[DLAYER_WEIGHTS], ctx,
                                                     CLMSDPY_FLOAT32, &sl, keep))
               ? -1
               : 0;
}

/* Every operand of the call, checked and ready to stage */
static int operands(mode m, clmsdpy_head *h, PyObject **o, const clmsd_head_args *ha, bool keep, clmsdpy_operand *ops)
{
    const clmsd_head_desc *d = &h->desc;
    clmsdpy_context *ctx = h->ctx;
    Py_ssize_t b = (Py_ssize_t)d->batch, c = (Py_ssize_t)d->classes;
    bool ce = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    clmsdpy_shape one = shape1(1), starget = ce ? shape1(b) : shape2(b, c), slogits = logits_shape(m, d);
    if ((m == PREDICT || m == LOGITS_ONLY) && !given(o[LOGITS])) {
        PyErr_Format(PyExc_ValueError, "%s computes the logits only: logits cannot be False", call_names[m]);
        return -1;
    }
    if (inputs(h, o, ha, ops))
        return -1;
    if ((m == TRAIN || (m == FORWARD && given(o[TARGET]))) &&
        clmsdpy_input(&ops[TARGET], "target", o[TARGET], ctx, ce ? CLMSDPY_INT32 : CLMSDPY_FLOAT32, &starget))
        return -1;
    if (m == BACKWARD && clmsdpy_input(&ops[DLOGITS], "dlogits", o[DLOGITS], ctx, CLMSDPY_FLOAT32, &slogits))
        return -1;
    if (m != BACKWARD && clmsdpy_output(&ops[LOGITS], "logits", o[LOGITS], ctx, CLMSDPY_FLOAT32, &slogits, false))
        return -1;
    if ((m == FORWARD || m == TRAIN) &&
        (clmsdpy_output(&ops[LOSS], "loss", o[LOSS], ctx, CLMSDPY_FLOAT32, &one, false) ||
         clmsdpy_output(&ops[IGNORED], "ignored", o[IGNORED], ctx, CLMSDPY_INT32, &one, false)))
        return -1;
    return m == TRAIN || m == BACKWARD ? gradients(h, o, ha, keep, ops) : 0;
}

typedef struct head_call {
    mode m;
    clmsd_head *head;
    clmsd_head_args args;
} head_call;

static void call_body(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out)
{
    head_call *c = data;
    clmsd_head_args *a = &c->args;
    a->x = ops[X].mem, a->w = ops[W].mem, a->bias = ops[BIAS].mem, a->target = ops[TARGET].mem;
    a->layer_weights = ops[LAYER_WEIGHTS].mem, a->dlogits = ops[DLOGITS].mem, a->loss = ops[LOSS].mem;
    a->logits = ops[LOGITS].mem, a->ignored = ops[IGNORED].mem, a->dx = ops[DX].mem, a->dw = ops[DW].mem;
    a->dbias = ops[DBIAS].mem, a->dlayer_weights = ops[DLAYER_WEIGHTS].mem;
    static clmsd_status (*const calls[])(clmsd_head *, const clmsd_head_args *, cl_uint, const cl_event *,
                                         cl_event *) = {clmsd_head_forward, clmsd_head_train_step, clmsd_head_predict,
                                                        clmsd_head_logits, clmsd_head_backward};
    static const char *const names[] = {"clmsd_head_forward", "clmsd_head_train_step", "clmsd_head_predict",
                                        "clmsd_head_logits", "clmsd_head_backward"};
    clmsd_status st = calls[c->m](c->head, a, 0, NULL, NULL);
    const char *name = names[c->m];
    if (st != CLMSD_SUCCESS)
        clmsdpy_fail(ctx, st, name, out);
}

/* The dict of what the call returns: the outputs asked for as True */
static PyObject *results(clmsdpy_operand *ops)
{
    PyObject *r = PyDict_New();
    for (int i = LOSS; r && i < OPERANDS; ++i) {
        if (!ops[i].result)
            continue;
        /* the loss as a float, the ignored count as an int: the value of a one-element array */
        PyObject *v =
            i == LOSS || i == IGNORED ? PyObject_CallMethod(ops[i].result, "item", NULL) : Py_NewRef(ops[i].result);
        if (!v || PyDict_SetItemString(r, keyword_names[i], v))
            Py_CLEAR(r);
        Py_XDECREF(v);
    }
    return r;
}

static PyObject *head_call_run(mode m, clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    if (!self->head)
        return clmsdpy_raise_closed();
    PyObject *a[KEYWORDS];
    if (parse(m, args, kwargs, a))
        return NULL;
    int accumulate = 0;
    if (a[ACCUMULATE] && clmsdpy_to_bool(a[ACCUMULATE], "accumulate", &accumulate))
        return NULL;
    defaults(m, self, accumulate != 0, a);
    head_call c = {.m = m, .head = self->head};
    clmsd_head_args *ha = &c.args;
    if ((a[SEED] && clmsdpy_to_u64(a[SEED], "seed", &ha->seed)) ||
        (a[STEP] && clmsdpy_to_u64(a[STEP], "step", &ha->step)) ||
        (a[ROW_OFFSET] && clmsdpy_to_size(a[ROW_OFFSET], "row_offset", &ha->row_offset)) ||
        strides(&self->desc, a[X_LAYER_STRIDE], a[X_ROW_STRIDE], "x", &ha->x_layer_stride, &ha->x_row_stride) ||
        strides(&self->desc, a[DX_LAYER_STRIDE], a[DX_ROW_STRIDE], "dx", &ha->dx_layer_stride, &ha->dx_row_stride))
        return NULL;
    ha->accumulate = accumulate;
    clmsdpy_operand ops[OPERANDS];
    memset(ops, 0, sizeof ops);
    if (operands(m, self, a, ha, accumulate != 0, ops)) {
        clmsdpy_operands_done(ops, OPERANDS, true);
        return NULL;
    }
    int rc = clmsdpy_run(self->ctx, ops, OPERANDS, call_body, &c);
    clmsdpy_operands_done(ops, OPERANDS, rc != 0);
    if (rc)
        return NULL;
    bool array = m == PREDICT || m == LOGITS_ONLY; /* the logits themselves, else a dict */
    PyObject *r = array ? Py_NewRef(ops[LOGITS].result ? ops[LOGITS].result : a[LOGITS]) : results(ops);
    for (int i = 0; i < OPERANDS; ++i)
        Py_XDECREF(ops[i].result);
    return r;
}

PyObject *clmsdpy_head_forward(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return head_call_run(FORWARD, self, args, kwargs);
}

PyObject *clmsdpy_head_train_step(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return head_call_run(TRAIN, self, args, kwargs);
}

PyObject *clmsdpy_head_predict(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return head_call_run(PREDICT, self, args, kwargs);
}

PyObject *clmsdpy_head_logits(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return head_call_run(LOGITS_ONLY, self, args, kwargs);
}

PyObject *clmsdpy_head_backward(clmsdpy_head *self, PyObject *args, PyObject *kwargs)
{
    return head_call_run(BACKWARD, self, args, kwargs);
}
