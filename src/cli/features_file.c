/* SPDX-License-Identifier: MIT */
/* The features file of `clmsd train --features` and `clmsd predict` (features_file.h). */
#include "features_file.h"

#include "digits.h"

#include <clmsd_ref.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *error, size_t size, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(error, size, format, ap);
    va_end(ap);
    return -1;
}

static int is_integer(safetensors_dtype d)
{
    return d == SAFETENSORS_I64 || d == SAFETENSORS_I32 || d == SAFETENSORS_I16 || d == SAFETENSORS_I8 ||
           d == SAFETENSORS_U8 || d == SAFETENSORS_BOOL;
}

/* element i of t as a double (safetensors data is little-endian, as is every host clmsd runs on) */
static double element(const safetensors_tensor *t, size_t i)
{
    const unsigned char *p = t->data + i * safetensors_dtype_size(t->dtype);
    switch (t->dtype) {
    case SAFETENSORS_F64: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case SAFETENSORS_F32:
    case SAFETENSORS_F16:
    case SAFETENSORS_BF16: {
        float v;
        clmsd_ref_to_float(t->dtype == SAFETENSORS_F32   ? CLMSD_FLOAT32
                           : t->dtype == SAFETENSORS_F16 ? CLMSD_FLOAT16
                                                         : CLMSD_BFLOAT16,
                           p, 1, &v);
        return v;
    }
    case SAFETENSORS_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    case SAFETENSORS_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case SAFETENSORS_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case SAFETENSORS_I8: return (int8_t)p[0];
    default: /* U8, BOOL */ return p[0];
    }
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static int open_x(features *f, const char *name, char *error, size_t size)
{
    const safetensors_tensor *x = safetensors_find(&f->file, name);
    if (!x)
        return fail(error, size, "%s: no tensor \"%s\" (name the features with --x-tensor)", f->path, name);
    if (x->dtype != SAFETENSORS_F32 && x->dtype != SAFETENSORS_F16 && x->dtype != SAFETENSORS_BF16)
        return fail(error, size, "%s: features \"%s\" are %s; clmsd reads F32, F16 or BF16", f->path, name,
                    safetensors_dtype_name(x->dtype));
    if (x->rank != 2 && x->rank != 3)
        return fail(error, size, "%s: features \"%s\" have rank %zu; [N, H] or [N, L, H] expected", f->path, name,
                    x->rank);
    f->x = x;
    f->rows = (size_t)x->shape[0];
    f->layers = x->rank == 3 ? (size_t)x->shape[1] : 1;
    f->hidden = (size_t)x->shape[x->rank - 1];
    f->type = x->dtype == SAFETENSORS_F32   ? CLMSD_FLOAT32
              : x->dtype == SAFETENSORS_F16 ? CLMSD_FLOAT16
                                            : CLMSD_BFLOAT16;
    if (f->rows == 0 || f->layers == 0 || f->hidden == 0)
        return fail(error, size, "%s: features \"%s\" are empty", f->path, name);
    f->row_bytes = f->layers * f->hidden * clmsd_type_size(f->type);
    return 0;
}

static int open_y(features *f, const char *name, int loss, size_t classes, char *error, size_t size)
{
    const safetensors_tensor *y = safetensors_find(&f->file, name);
    if (!y)
        return fail(error, size, "%s: no tensor \"%s\" (name the targets with --y-tensor)", f->path, name);
    if ((y->rank != 1 && y->rank != 2) || y->shape[0] != f->rows)
        return fail(error, size, "%s: targets \"%s\" must be [%zu] or [%zu, C], one row per row of features", f->path,
                    name, f->rows, f->rows);
    if (loss < 0)
        loss = y->rank == 1 && is_integer(y->dtype) ? CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY : CLMSD_LOSS_BCE_WITH_LOGITS;
    f->loss = loss;
    if (loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY) {
        if (y->rank != 1 || !is_integer(y->dtype))
            return fail(error, size, "%s: ce needs integer class ids [N]; targets \"%s\" are %s of rank %zu", f->path,
                        name, safetensors_dtype_name(y->dtype), y->rank);
        if (!(f->labels = malloc(f->rows * sizeof *f->labels)))
            return fail(error, size, "%s: out of memory", f->path);
        double largest = -1;
        for (size_t n = 0; n < f->rows; ++n) {
            double id = element(y, n);
            if (id >= 2147483647.0 || (classes && id >= (double)classes))
                return fail(error, size, "%s: targets \"%s\" row %zu: class id %.0f is not below %s", f->path, name, n,
                            id, classes ? "--classes" : "2^31 - 1");
            f->labels[n] = id < 0 ? -1 : (int32_t)id; /* ignored, as torch's ignore_index */
            largest = fmax(largest, id);
        }
        f->classes = classes ? classes : (size_t)(largest + 1);
        if (f->classes < 1)
            return fail(error, size, "%s: targets \"%s\" hold no class id >= 0", f->path, name);
        return 0;
    }
    f->classes = y->rank == 2 ? (size_t)y->shape[1] : 1;
    if (f->classes == 0)
        return fail(error, size, "%s: targets \"%s\" have no columns", f->path, name);
    if (!(f->targets = malloc(f->rows * f->classes * sizeof *f->targets)))
        return fail(error, size, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->rows * f->classes; ++i) {
        double v = element(y, i);
        float t = (float)v;
        if (!isfinite(t) || (loss == CLMSD_LOSS_BCE_WITH_LOGITS && (t < 0 || t > 1)))
            return fail(error, size, "%s: targets \"%s\" row %zu column %zu is %g; %s", f->path, name, i / f->classes,
                        i % f->classes, v,
                        loss == CLMSD_LOSS_BCE_WITH_LOGITS ? "bce needs targets in [0, 1]" : "targets must be finite");
        f->targets[i] = t;
    }
    return 0;
}

int features_check(features *f, const char *x_name, const char *y_name, int loss, size_t classes, char *error,
                   size_t error_size)
{
    f->hash = fnv1a(f->file.map, f->file.size);
    return open_x(f, x_name, error, error_size) || (y_name && open_y(f, y_name, loss, classes, error, error_size)) ? -1
                                                                                                                   : 0;
}

int features_open(const char *path, const char *x_name, const char *y_name, int loss, size_t classes, features *f,
                  char *error, size_t error_size)
{
    *f = (features){.path = path, .loss = -1};
    if (safetensors_open(path, &f->file, error, error_size))
        return -1;
    if (features_check(f, x_name, y_name, loss, classes, error, error_size)) {
        features_close(f);
        return -1;
    }
    return 0;
}

static int split_from(features *f, const char *name, char *in_val, char *error, size_t size)
{
    const safetensors_tensor *v = safetensors_find(&f->file, name);
    if (!v)
        return fail(error, size, "%s: no tensor \"%s\" (--val-tensor)", f->path, name);
    if (v->rank != 1 || !is_integer(v->dtype) || v->dtype == SAFETENSORS_BOOL)
        return fail(error, size, "%s: --val-tensor \"%s\" must be integer row indices [V]", f->path, name);
    for (size_t i = 0; i < v->elements; ++i) {
        double r = element(v, i);
        if (r < 0 || r >= (double)f->rows)
            return fail(error, size, "%s: --val-tensor \"%s\" element %zu: row %.0f is not in [0, %zu)", f->path, name,
                        i, r, f->rows);
        if (in_val[(size_t)r])
            return fail(error, size, "%s: --val-tensor \"%s\" lists row %.0f twice", f->path, name, r);
        in_val[(size_t)r] = 1;
    }
    return 0;
}

int features_split(features *f, const char *val_name, double fraction, uint64_t seed, char *error, size_t error_size)
{
    char *in_val = calloc(f->rows, 1);
    size_t *perm = malloc(f->rows * sizeof *perm);
    f->train = malloc(f->rows * sizeof *f->train);
    f->val = malloc(f->rows * sizeof *f->val);
    int rc = in_val && perm && f->train && f->val ? 0 : fail(error, error_size, "%s: out of memory", f->path);
    if (rc == 0 && val_name)
        rc = split_from(f, val_name, in_val, error, error_size);
    else if (rc == 0) {
        digits_permutation(seed, 0, f->rows, perm);
        size_t nval = (size_t)llround(fraction * (double)f->rows);
        for (size_t i = 0; i < nval; ++i)
            in_val[perm[i]] = 1;
    }
    f->ntrain = f->nval = 0;
    for (size_t n = 0; rc == 0 && n < f->rows; ++n) {
        if (in_val[n])
            f->val[f->nval++] = n;
        else
            f->train[f->ntrain++] = n;
    }
    if (rc == 0 && f->ntrain == 0)
        rc = fail(error, error_size, "%s: every row is a validation row: none is left to train on", f->path);
    free(in_val);
    free(perm);
    return rc;
}

size_t features_target_bytes(const features *f)
{
    return f->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? 4 : 4 * f->classes;
}

void features_gather(const features *f, const size_t *rows, size_t n, void *x_out, void *y_out)
{
    size_t yb = features_target_bytes(f);
    for (size_t i = 0; i < n; ++i) {
        memcpy((unsigned char *)x_out + i * f->row_bytes, f->x->data + rows[i] * f->row_bytes, f->row_bytes);
        if (y_out && f->labels)
            ((int32_t *)y_out)[i] = f->labels[rows[i]];
        else if (y_out && f->targets)
            memcpy((unsigned char *)y_out + i * yb, f->targets + rows[i] * f->classes, yb);
    }
}

void features_close(features *f)
{
    safetensors_close(&f->file);
    free(f->labels);
    free(f->targets);
    free(f->train);
    free(f->val);
    *f = (features){.loss = -1};
}
