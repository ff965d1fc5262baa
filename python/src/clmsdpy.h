/* SPDX-License-Identifier: MIT */
/* The extension clmsd._clmsd (docs/python.md): its objects and the helpers its files share. The
 * structs of the library come from clmsd.h itself, so the binding cannot drift from it.
 *
 * Locking: every call into clmsd runs with the GIL released and the context's lock held (clmsd's
 * thread rule: one thread per context at a time), and never runs Python code while it holds that
 * lock; so the lock may also be taken with the GIL held (close, dealloc) without a deadlock. */
#ifndef CLMSDPY_H
#define CLMSDPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <clmsd.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- element types: the library's clmsd_type values, then int32 (class ids) ---- */

typedef enum clmsdpy_dtype {
    CLMSDPY_FLOAT32 = CLMSD_FLOAT32,
    CLMSDPY_FLOAT16 = CLMSD_FLOAT16,
    CLMSDPY_BFLOAT16 = CLMSD_BFLOAT16, /* numpy uint16 or ml_dtypes.bfloat16 */
    CLMSDPY_INT32 = 3,
    CLMSDPY_DTYPE_COUNT
} clmsdpy_dtype;

#define CLMSDPY_MAX_DIMS 8

const char *clmsdpy_dtype_name(clmsdpy_dtype dtype);
size_t clmsdpy_dtype_size(clmsdpy_dtype dtype);
/* The numpy dtype of an element type (a new reference): bfloat16 is ml_dtypes.bfloat16 when that
 * imports, else uint16 (clmsd.bfloat16 says which). NULL with an exception set on failure. */
PyObject *clmsdpy_numpy_dtype(clmsdpy_dtype dtype);
/* A dtype argument: 'float32', 'float16', 'bfloat16', 'int32', 'uint16' (bfloat16's bits), or
 * anything numpy.dtype() turns into one of them. -1 with an exception set otherwise. */
int clmsdpy_dtype_from_object(PyObject *obj, clmsdpy_dtype *out);
/* numpy.empty or numpy.zeros of that shape and type (a new reference). */
PyObject *clmsdpy_numpy_new(int ndim, const Py_ssize_t *dims, clmsdpy_dtype dtype, bool zeroed);
/* The buffer of an array-like `obj`, C-contiguous, of a type clmsd knows (ml_dtypes.bfloat16 is
 * read through a uint16 view); `name` is the argument's name in the messages. -1 with a
 * TypeError or ValueError set otherwise. */
int clmsdpy_get_buffer(PyObject *obj, const char *name, bool writable, Py_buffer *view, clmsdpy_dtype *dtype);

/* ---- clmsd.Error ---- */

extern PyObject *clmsdpy_error_type;
/* Raises clmsd.Error(message) with .status and .status_name; returns NULL. */
PyObject *clmsdpy_raise(clmsd_status status, const char *message);
/* Raises ValueError("the context is closed"); returns NULL. */
PyObject *clmsdpy_raise_closed(void);

/* ---- argument conversion (convert.c): -1 with a ValueError or TypeError naming `name` ---- */

int clmsdpy_to_size(PyObject *obj, const char *name, size_t *out);
int clmsdpy_to_u64(PyObject *obj, const char *name, uint64_t *out);
int clmsdpy_to_u32(PyObject *obj, const char *name, uint32_t *out);
int clmsdpy_to_double(PyObject *obj, const char *name, double *out);
int clmsdpy_to_bool(PyObject *obj, const char *name, int *out);
/* Keyword arguments only, each among names[i] whose bit i is set in `allowed` (at most 64):
 * values[i] is the argument (borrowed) or NULL when absent. */
int clmsdpy_keywords(const char *fn, PyObject *args, PyObject *kwargs, const char *const *names, int n,
                     uint64_t allowed, PyObject **values);
/* A shape: an int or a sequence of at most CLMSDPY_MAX_DIMS non-negative ints. */
int clmsdpy_to_shape(PyObject *obj, int *ndim, Py_ssize_t *dims);

/* ---- enum names (names.c) ---- */

typedef struct clmsdpy_name {
    const char *name;
    int value;
} clmsdpy_name;

extern const clmsdpy_name clmsdpy_combine_names[], clmsdpy_engine_names[], clmsdpy_stream_names[], clmsdpy_type_names[],
    clmsdpy_optimizer_names[];
/* A string among `names` (or among clmsd_loss_name()'s for the loss); -1 with a ValueError that
 * lists the accepted names otherwise. */
int clmsdpy_enum(PyObject *obj, const char *what, const clmsdpy_name *names, int *out);
int clmsdpy_loss(PyObject *obj, clmsd_loss *out);
/* The name of a value, or "?" */
const char *clmsdpy_enum_name(const clmsdpy_name *names, int value);

/* ---- clmsd.Context and the objects made from it ---- */

/* A native object made from a context: released by its own dealloc, or by the context's close
 * (under the context's lock), whichever comes first. */
typedef struct clmsdpy_child clmsdpy_child;
struct clmsdpy_child {
    clmsdpy_child *prev, *next;
    void (*release)(clmsdpy_child *child);
};

enum { CLMSDPY_OPTIMS, CLMSDPY_HEADS, CLMSDPY_ARRAYS, CLMSDPY_KINDS }; /* released in this order */

typedef struct clmsdpy_context {
    PyObject ob_base;   /* PyObject_HEAD */
    clmsd_context *ctx; /* NULL once closed */
    PyThread_type_lock lock;
    clmsdpy_child children[CLMSDPY_KINDS]; /* circular lists, each with its sentinel */
} clmsdpy_context;

extern PyTypeObject clmsdpy_context_type;
void clmsdpy_context_adopt(clmsdpy_context *ctx, int kind, clmsdpy_child *child);
void clmsdpy_context_disown(clmsdpy_child *child);
/* The lock, taken with the GIL held (for close and dealloc: short waits). */
void clmsdpy_lock_with_gil(clmsdpy_context *ctx);

typedef struct clmsdpy_array {
    PyObject ob_base; /* PyObject_HEAD */
    clmsdpy_child child;
    clmsdpy_context *ctx;
    cl_mem mem; /* NULL once the context is closed */
    clmsdpy_dtype dtype;
    int ndim;
    Py_ssize_t dims[CLMSDPY_MAX_DIMS];
    size_t count, bytes;
} clmsdpy_array;

extern PyTypeObject clmsdpy_array_type;
/* A device array of that shape and type, uninitialised or zeroed. */
PyObject *clmsdpy_array_new(clmsdpy_context *ctx, int ndim, const Py_ssize_t *dims, clmsdpy_dtype dtype, bool zeroed);
/* A device array holding a copy of an array-like. */
PyObject *clmsdpy_array_from(clmsdpy_context *ctx, PyObject *obj);

typedef struct clmsdpy_head {
    PyObject ob_base; /* PyObject_HEAD */
    clmsdpy_child child;
    clmsdpy_context *ctx;
    clmsd_head *head; /* NULL once the context is closed */
    clmsd_head_desc desc;
    double *rates;       /* desc.rates, owned */
    PyObject *workspace; /* the clmsd.Array of desc.workspace, kept alive, or NULL */
} clmsdpy_head;

extern PyTypeObject clmsdpy_head_type;
PyObject *clmsdpy_head_create(clmsdpy_context *ctx, PyObject *kwargs);
PyObject *clmsdpy_head_forward(clmsdpy_head *self, PyObject *args, PyObject *kwargs);
PyObject *clmsdpy_head_train_step(clmsdpy_head *self, PyObject *args, PyObject *kwargs);
PyObject *clmsdpy_head_predict(clmsdpy_head *self, PyObject *args, PyObject *kwargs);
PyObject *clmsdpy_head_logits(clmsdpy_head *self, PyObject *args, PyObject *kwargs);
PyObject *clmsdpy_head_backward(clmsdpy_head *self, PyObject *args, PyObject *kwargs);

/* A head descriptor from keyword arguments (head_desc.c): rates and the workspace are owned by
 * `out` until clmsdpy_desc_clear. */
typedef struct clmsdpy_desc {
    clmsd_head_desc desc;
    double *rates;
    PyObject *workspace;
} clmsdpy_desc;
/* `ctx` may be NULL (clmsd.head_workspace_size: no workspace then). */
int clmsdpy_desc_parse(clmsdpy_context *ctx, PyObject *kwargs, clmsdpy_desc *out);
void clmsdpy_desc_clear(clmsdpy_desc *d);

typedef struct clmsdpy_optim {
    PyObject ob_base; /* PyObject_HEAD */
    clmsdpy_child child;
    clmsdpy_head *head;
    clmsd_optim *optim; /* NULL once the context is closed */
    clmsd_optim_desc desc;
} clmsdpy_optim;

extern PyTypeObject clmsdpy_optim_type;
PyObject *clmsdpy_optim_create(clmsdpy_head *head, PyObject *args, PyObject *kwargs);

/* ---- the stream (stream.c): clmsd.stream_words, clmsd.rate_params ---- */

PyObject *clmsdpy_stream_words(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *clmsdpy_rate_params(PyObject *module, PyObject *args, PyObject *kwargs);

/* ---- operands: the buffers of one call (operand.c) ---- */

/* Where an operand's device buffer comes from and where its data goes. */
typedef struct clmsdpy_operand {
    const char *name;
    cl_mem mem;    /* the buffer the call gets: a clmsd.Array's, a staging one, or NULL (absent) */
    bool staged;   /* mem is this call's own, released after it */
    bool upload;   /* copy `view` into mem before the call */
    bool download; /* copy mem into `view` after the call */
    bool has_view;
    Py_buffer view;
    PyObject *result; /* a new numpy array to hand back, or NULL */
} clmsdpy_operand;

/* The shape an operand must have: exact dims, or (ndim < 0) any C-contiguous shape. */
typedef struct clmsdpy_shape {
    int ndim;
    Py_ssize_t dims[CLMSDPY_MAX_DIMS];
} clmsdpy_shape;

/* An input: a clmsd.Array of ctx, or an array-like staged for the call. */
int clmsdpy_input(clmsdpy_operand *op, const char *name, PyObject *obj, clmsdpy_context *ctx, clmsdpy_dtype dtype,
                  const clmsdpy_shape *shape);
/* An output: a clmsd.Array of ctx (written in place), a writable array-like (copied to the device
 * and back: written in place), True (a new numpy array; refused with `keep`, accumulation, or
 * without a shape, strided) or False/None (absent). */
int clmsdpy_output(clmsdpy_operand *op, const char *name, PyObject *obj, clmsdpy_context *ctx, clmsdpy_dtype dtype,
                   const clmsdpy_shape *shape, bool keep);
/* Releases the views and, when `failed`, the results; GIL held. */
void clmsdpy_operands_done(clmsdpy_operand *ops, size_t n, bool failed);

/* ---- one call into clmsd (call.c) ---- */

/* The outcome of the part of a call that runs without the GIL. */
typedef struct clmsdpy_outcome {
    bool closed;
    clmsd_status status;
    char message[1024];
} clmsdpy_outcome;

/* The library call itself, run with the GIL released and the context's lock held, after the
 * operands are staged; fills `out` on failure (clmsdpy_fail). */
typedef void (*clmsdpy_body)(clmsd_context *ctx, clmsdpy_operand *ops, void *data, clmsdpy_outcome *out);

/* Stages the operands, runs `body` (may be NULL: transfers only), copies the outputs back, waits
 * for the queue, releases the staging buffers; raises on failure. 0 or -1. */
int clmsdpy_run(clmsdpy_context *ctx, clmsdpy_operand *ops, size_t n, clmsdpy_body body, void *data);
/* Records a failed clmsd call: its status and the context's message. */
void clmsdpy_fail(clmsd_context *ctx, clmsd_status status, const char *call, clmsdpy_outcome *out);
void clmsdpy_fail_cl(cl_int err, const char *call, const char *name, clmsdpy_outcome *out);

#endif /* CLMSDPY_H */
