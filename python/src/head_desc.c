/* SPDX-License-Identifier: MIT */
/* A clmsd_head_desc from keyword arguments, every field of it: sizes as non-negative integers,
 * the enums as their names, rates as a sequence of exactly `samples` numbers. What only the
 * library can judge (a zero size, a rate out of range) it judges, as clmsd.Error. */
#include "clmsdpy.h"

#include <stdlib.h>
#include <string.h>

void clmsdpy_desc_clear(clmsdpy_desc *d)
{
    free(d->rates);
    d->rates = NULL;
    Py_CLEAR(d->workspace);
}

static int parse_rates(PyObject *obj, uint32_t samples, clmsdpy_desc *out)
{
    PyObject *seq = PySequence_Fast(obj, "rates must be a sequence of numbers");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = 0;
    if ((size_t)n != samples) {
        PyErr_Format(PyExc_ValueError, "rates holds %zd rates but samples is %u: one rate per sample", n,
                     (unsigned)samples);
        rc = -1;
    } else if (n > 0 && !(out->rates = malloc((size_t)n * sizeof *out->rates))) {
        PyErr_NoMemory();
        rc = -1;
    }
    for (Py_ssize_t i = 0; rc == 0 && i < n; ++i)
        rc = clmsdpy_to_double(PySequence_Fast_GET_ITEM(seq, i), "every rate of rates", &out->rates[i]);
    Py_DECREF(seq);
    out->desc.rates = out->rates;
    return rc;
}

static int parse_workspace(clmsdpy_context *ctx, PyObject *obj, clmsdpy_desc *out)
{
    if (!ctx) {
        PyErr_SetString(PyExc_TypeError, "workspace: not an argument here");
        return -1;
    }
    if (!PyObject_TypeCheck(obj, &clmsdpy_array_type)) {
        PyErr_Format(PyExc_TypeError, "workspace must be a clmsd.Array (clmsd.head_workspace_size() bytes), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    clmsdpy_array *a = (clmsdpy_array *)obj;
    if (a->ctx != ctx) {
        PyErr_SetString(PyExc_ValueError, "workspace: a clmsd.Array of another context");
        return -1;
    }
    if (!a->mem) {
        clmsdpy_raise_closed();
        return -1;
    }
    out->workspace = Py_NewRef(obj);
    out->desc.workspace = a->mem;
    return 0;
}

/* clang-format off */
#define DESC_KEYWORDS(K)                                                                                    \
    K(BATCH, batch) K(FEATURES, features) K(CLASSES, classes) K(SAMPLES, samples) K(RATE, rate)             \
    K(RATES, rates) K(LOSS, loss) K(COMBINE, combine) K(ENGINE, engine) K(WORKSPACE, workspace)             \
    K(LAYERS, layers) K(LAYER_RATE, layer_rate) K(STREAM, stream) K(X_TYPE, x_type) K(DX_TYPE, dx_type)     \
    K(HUBER_DELTA, huber_delta)
/* clang-format on */
#define AS_ENUM(id, name) id,
#define AS_NAME(id, name) #name,
enum { DESC_KEYWORDS(AS_ENUM) KEYWORDS };
static const char *const keyword_names[KEYWORDS] = {DESC_KEYWORDS(AS_NAME)};

static bool given(PyObject *o) { return o && o != Py_None; }

/* An enum field: its name among `names`, or the default (0) when absent */
static int field(PyObject *obj, const char *what, const clmsdpy_name *names, int *out)
{
    *out = 0;
    return obj ? clmsdpy_enum(obj, what, names, out) : 0;
}

static int parse_fields(PyObject **k, clmsd_head_desc *d)
{
    for (int i = BATCH; i <= SAMPLES; ++i)
        if (!k[i]) {
            PyErr_Format(PyExc_TypeError, "head: %s is required", keyword_names[i]);
            return -1;
        }
    int combine, engine, stream, x_type, dx_type;
    if (clmsdpy_to_size(k[BATCH], "batch", &d->batch) || clmsdpy_to_size(k[FEATURES], "features", &d->features) ||
        clmsdpy_to_size(k[CLASSES], "classes", &d->classes) || clmsdpy_to_u32(k[SAMPLES], "samples", &d->samples) ||
        (k[LAYERS] && clmsdpy_to_size(k[LAYERS], "layers", &d->layers)) ||
        (given(k[RATE]) && clmsdpy_to_double(k[RATE], "rate", &d->rate)) ||
        (k[LAYER_RATE] && clmsdpy_to_double(k[LAYER_RATE], "layer_rate", &d->layer_rate)) ||
        (k[HUBER_DELTA] && clmsdpy_to_double(k[HUBER_DELTA], "huber_delta", &d->huber_delta)) ||
        (k[LOSS] && clmsdpy_loss(k[LOSS], &d->loss)) || field(k[COMBINE], "combine", clmsdpy_combine_names, &combine) ||
        field(k[ENGINE], "engine", clmsdpy_engine_names, &engine) ||
        field(k[STREAM], "stream", clmsdpy_stream_names, &stream) ||
        field(k[X_TYPE], "x_type", clmsdpy_type_names, &x_type) ||
        field(k[DX_TYPE], "dx_type", clmsdpy_type_names, &dx_type))
        return -1;
    d->combine = (clmsd_combine)combine, d->engine = (clmsd_engine)engine, d->stream = (clmsd_stream)stream;
    d->x_type = (clmsd_type)x_type, d->dx_type = (clmsd_type)dx_type;
    if (given(k[RATES]) && given(k[RATE])) {
        PyErr_SetString(PyExc_ValueError, "give rate (one for every sample) or rates (one per sample), not both");
        return -1;
    }
    return 0;
}

int clmsdpy_desc_parse(clmsdpy_context *ctx, PyObject *kwargs, clmsdpy_desc *out)
{
    PyObject *k[KEYWORDS];
    memset(out, 0, sizeof *out);
    if (clmsdpy_keywords("head", NULL, kwargs, keyword_names, KEYWORDS, (UINT64_C(1) << KEYWORDS) - 1, k) ||
        parse_fields(k, &out->desc) || (given(k[RATES]) && parse_rates(k[RATES], out->desc.samples, out)) ||
        (given(k[WORKSPACE]) && parse_workspace(ctx, k[WORKSPACE], out))) {
        clmsdpy_desc_clear(out);
        return -1;
    }
    return 0;
}
