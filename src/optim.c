/* SPDX-License-Identifier: MIT */
/* The optimizer (clmsd.h): validate the step, then one kernel over every parameter element (three
 * launches when clipping: the norm's partial sums, their tree, the update), no host round trip. */
#include "head.h"
#include "optim_desc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct clmsd_optim {
    clmsd_context *ctx; /* the head's: the optimizer needs nothing else of it once made */
    clmsd_optim_desc desc;
    size_t slots[3];     /* parameter slots: C*H, C, L (0 for a plain head) */
    size_t slot_base[3]; /* where each tensor's slots start: 0, C*H, C*H + C */
    size_t n;            /* every slot */
    size_t moments;      /* per slot: 2, 1 or 0 */
    uint64_t steps;
    cl_mem state; /* the moments [moments][n], then the norm's partials [CLMSD_OPTIM_PARTS] and its sum */
};

clmsd_status clmsd_optim_create(clmsd_head *head, const clmsd_optim_desc *desc, clmsd_optim **out)
{
    if (!out)
        return clmsd__fail(head ? head->ctx : NULL, CLMSD_ERROR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!head)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the head is NULL");
    clmsd_context *ctx = head->ctx;
    clmsd__clear_error(ctx);
    CLMSD__TRY(clmsd__check_optim_desc(ctx, desc));
    clmsd_optim *o = calloc(1, sizeof *o);
    if (!o)
        return clmsd__fail(ctx, CLMSD_ERROR_OUT_OF_MEMORY, "the optimizer");
    o->ctx = ctx;
    o->desc = *desc;
    o->slots[0] = head->desc.classes * head->desc.features; /* the head's plan checked C*H */
    o->slots[1] = head->desc.classes;
    o->slots[2] = head->desc.layers >= 2 ? head->desc.layers : 0;
    o->slot_base[1] = o->slots[0];
    o->slot_base[2] = o->slots[0] + o->slots[1];
    o->n = o->slot_base[2] + o->slots[2];
    o->moments = clmsd__optim_moments(desc);
    size_t floats, bytes;
    if (!clmsd__mul(o->moments, o->n, &floats) || !clmsd__add(floats, CLMSD_OPTIM_PARTS + 1, &floats) ||
        !clmsd__mul(floats, sizeof(float), &bytes)) {
        free(o);
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_SIZE, "the optimizer's state overflows");
    }
    cl_int err;
    o->state = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    clmsd_status st =
        err == CL_SUCCESS ? clmsd__fill(ctx, o->state, 0, floats, 0) : clmsd__fail_cl(ctx, err, "clCreateBuffer");
    if (st != CLMSD_SUCCESS) {
        clmsd_optim_destroy(o);
        return st;
    }
    *out = o;
    return CLMSD_SUCCESS;
}

void clmsd_optim_destroy(clmsd_optim *o)
{
    if (!o)
        return;
    if (o->state)
        clReleaseMemObject(o->state);
    free(o);
}

/* one parameter tensor and its gradient, both given or both NULL */
static clmsd_status check_pair(clmsd_optim *o, int t, const char *pname, cl_mem p, size_t p_off, const char *gname,
                               cl_mem g, size_t g_off)
{
    clmsd_context *ctx = o->ctx;
    if (!p != !g)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "args.%s is %s but args.%s is %s: give both or neither",
                           pname, p ? "given" : "NULL", gname, g ? "given" : "NULL");
    if (!p)
        return CLMSD_SUCCESS;
    if (o->slots[t] == 0)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT,
                           "args.%s is given to the optimizer of a head without layers", pname);
    CLMSD__TRY(clmsd__check_buffer(ctx, pname, p, p_off, o->slots[t], sizeof(float)));
    return clmsd__check_buffer(ctx, gname, g, g_off, o->slots[t], sizeof(float));
}

static clmsd_status check_step(clmsd_optim *o, const clmsd_head_args *a, double lr)
{
    clmsd_context *ctx = o->ctx;
    if (!a)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "args is NULL");
    CLMSD__TRY(clmsd__check_learning_rate(ctx, lr));
    if (!a->w)
        return clmsd__fail(ctx, CLMSD_ERROR_INVALID_ARGUMENT, "args.w is NULL");
    CLMSD__TRY(check_pair(o, 0, "w", a->w, a->w_off, "dw", a->dw, a->dw_off));
    CLMSD__TRY(check_pair(o, 1, "bias", a->bias, a->bias_off, "dbias", a->dbias, a->dbias_off));
    return check_pair(o, 2, "layer_weights", a->layer_weights, a->layer_weights_off, "dlayer_weights",
                      a->dlayer_weights, a->dlayer_weights_off);
}

clmsd_status clmsd_optim_step(clmsd_optim *o, const clmsd_head_args *a, double lr, cl_uint num_wait,
                              const cl_event *wait, cl_event *event)
{
    if (!o)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the optimizer is NULL");
    clmsd_context *ctx = o->ctx;
    clmsd__clear_error(ctx);
    CLMSD__TRY(check_step(o, a, lr));
    CLMSD__TRY(clmsd__check_wait_list(ctx, num_wait, wait));
    /* absent tensors take no elements; their arguments point at the state, never read */
    cl_mem b = a->bias ? a->bias : o->state, db = a->dbias ? a->dbias : o->state;
    cl_mem l = a->layer_weights ? a->layer_weights : o->state, dl = a->dlayer_weights ? a->dlayer_weights : o->state;
    size_t n_b = a->bias ? o->slots[1] : 0, n_l = a->layer_weights ? o->slots[2] : 0;
    size_t n = o->slots[0] + n_b + n_l, parts = n < CLMSD_OPTIM_PARTS ? n : CLMSD_OPTIM_PARTS;
    size_t part_off = o->moments * o->n, sum_off = part_off + CLMSD_OPTIM_PARTS;
    clmsd__optim_scalars s = clmsd__optim_scalars_of(&o->desc, o->steps, lr);
    cl_uint clip = s.max_norm > 0.0f;
#define TENSORS                                                                                                        \
    a->w, a->w_off, a->dw, a->dw_off, o->slots[0], b, a->bias_off, db, a->dbias_off, n_b, l, a->layer_weights_off, dl, \
        a->dlayer_weights_off, n_l, o->slot_base[1], o->slot_base[2]
    CLMSD__TRY(clmsd__begin(ctx, num_wait, wait));
    if (clip) {
        CLMSD__TRY(clmsd__run_optim_sum_squares(ctx, parts, 0, TENSORS, o->state, part_off, parts));
        CLMSD__TRY(
            clmsd__run_block_tree(ctx, 1, 0, o->state, part_off, 1, 0, parts, o->state, sum_off, 1, o->state, 0, 0, 0));
    }
    if (o->desc.kind == CLMSD_OPTIM_ADAMW)
        CLMSD__TRY(clmsd__run_optim_adamw(ctx, n, 0, TENSORS, o->state, 0, o->n, sum_off, clip, s.max_norm,
                                          s.one_minus_b1, s.b2, s.one_minus_b2, s.decay, s.step_size, s.inv_sqrt_bc2,
                                          s.eps));
    else
        CLMSD__TRY(clmsd__run_optim_sgd(ctx, n, 0, TENSORS, o->state, 0, sum_off, clip, s.max_norm, s.momentum,
                                        (cl_uint)s.first, (cl_uint)(o->desc.nesterov != 0), s.weight_decay, s.lr));
#undef TENSORS
    o->steps++;
    return clmsd__finish(ctx, event);
}

size_t clmsd_optim_state_floats(const clmsd_optim *o) { return o ? o->moments * o->n : 0; }

static clmsd_status check_state(clmsd_optim *o, const void *moments, size_t floats)
{
    if (!o)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "the optimizer is NULL");
    clmsd__clear_error(o->ctx);
    if (floats != o->moments * o->n)
        return clmsd__fail(o->ctx, CLMSD_ERROR_INVALID_SIZE,
                           "floats is %zu: this optimizer's state holds %zu (clmsd_optim_state_floats)", floats,
                           o->moments * o->n);
    if (floats && !moments)
        return clmsd__fail(o->ctx, CLMSD_ERROR_INVALID_ARGUMENT, "moments is NULL");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_optim_read_state(clmsd_optim *o, uint64_t *steps, float *moments, size_t floats)
{
    CLMSD__TRY(check_state(o, moments, floats));
    if (!steps)
        return clmsd__fail(o->ctx, CLMSD_ERROR_INVALID_ARGUMENT, "steps is NULL");
    if (floats)
        CLMSD__TRY_CL(
            o->ctx,
            clEnqueueReadBuffer(o->ctx->queue, o->state, CL_TRUE, 0, floats * sizeof(float), moments, 0, NULL, NULL),
            "clEnqueueReadBuffer");
    *steps = o->steps;
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_optim_write_state(clmsd_optim *o, uint64_t steps, const float *moments, size_t floats)
{
    CLMSD__TRY(check_state(o, moments, floats));
    for (size_t i = 0; i < floats; ++i) {
        bool second = i >= o->n; /* AdamW's v */
        if (!isfinite(moments[i]) || (second && moments[i] < 0.0f))
            return clmsd__fail(o->ctx, CLMSD_ERROR_INVALID_ARGUMENT, "moments[%zu] is %g: %s", i, (double)moments[i],
                               second ? "v must be finite and >= 0" : "it must be finite");
    }
    if (floats)
        CLMSD__TRY_CL(
            o->ctx,
            clEnqueueWriteBuffer(o->ctx->queue, o->state, CL_TRUE, 0, floats * sizeof(float), moments, 0, NULL, NULL),
            "clEnqueueWriteBuffer");
    o->steps = steps;
    return CLMSD_SUCCESS;
}
