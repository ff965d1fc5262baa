/* SPDX-License-Identifier: MIT */
/* The head's losses, a row each. Softmax cross-entropy is the one loss over a whole row of logits
 * (class-id targets; head.cl and the references hold its code). Every other loss is element-wise:
 * a term of one logit v and its float target t, summed over a row's classes in class order, and
 * listed in CLMSD_ELEMENT_LOSSES with its fp32 term (the kernels' and the exact reference's, in the
 * canonical order) and its double term (the plain-mathematics reference). Compiled as OpenCL C
 * (embedded after clmsd_math.h) and as C11 (the library, the references, selftest and the tests
 * iterate the table). Adding a loss: its two terms here, one row, its tests and its docs
 * (docs/architecture.md, "Adding a loss"). */
#ifndef CLMSD_LOSS_H
#define CLMSD_LOSS_H

#ifndef __OPENCL_VERSION__ /* (embedded, it follows them) */
#include "clmsd_constants.h"
#include "clmsd_math.h"
#endif

/* XX(ID, id, value, name, unit_targets):
 *   ID, value     CLMSD_LOSS_<ID> of clmsd.h, and its value (asserted in head_desc.c)
 *   id            names its terms and its tests:
 *                 float clmsd_<id>_add(total, v, t, param, &d): total + the unscaled loss, d = dloss/dv
 *                 double clmsd_ref_<id>(v, t, param, &d): the loss in double, d = dloss/dv
 *   name          what clmsd_loss_name() returns: messages, the CLI, the bench
 *   unit_targets  1: targets are probabilities in [0, 1]; 0: any finite value
 * param is the loss's parameter (clmsd_head_desc.huber_delta for Huber; unused by the others). */
#define CLMSD_ELEMENT_LOSSES(XX)                      \
    XX(BCE_WITH_LOGITS, bce, 1, "bce_with_logits", 1) \
    XX(MSE, mse, 2, "mse", 0)                         \
    XX(HUBER, huber, 3, "huber", 0)

/* BCE with logits: max(v, 0) - v t + log(1 + exp(-|v|)), stable for any v. */
CLMSD_FN float clmsd_bce_add(float total, float v, float t, float param, float *d)
{
    (void)param;
    float e = clmsd_exp(-CLMSD_FABS(v));
    float r = clmsd_recip(1.0f + e);
    *d = v >= 0.0f ? r - t : CLMSD_FMA(e, r, -t);
    return total + (CLMSD_FMA(-v, t, CLMSD_FMAX(v, 0.0f)) + clmsd_log1p(e));
}

/* MSE: (v - t)^2, added as one fma. */
CLMSD_FN float clmsd_mse_add(float total, float v, float t, float param, float *d)
{
    (void)param;
    float diff = v - t;
    *d = diff + diff;
    return CLMSD_FMA(diff, diff, total);
}

/* Huber with delta = param (torch.nn.HuberLoss): (v - t)^2 / 2 where |v - t| < delta, else
 * delta (|v - t| - delta / 2); each branch added as one fma. */
CLMSD_FN float clmsd_huber_add(float total, float v, float t, float param, float *d)
{
    float diff = v - t, a = CLMSD_FABS(diff);
    if (a < param) {
        *d = diff;
        return CLMSD_FMA(0.5f * diff, diff, total);
    }
    *d = diff < 0.0f ? -param : param;
    return CLMSD_FMA(param, a - 0.5f * param, total);
}

/* The element-wise term of `loss`; the host admits only the table's losses. */
CLMSD_FN float clmsd_loss_add(int loss, float total, float v, float t, float param, float *d)
{
    switch (loss) {
#define CLMSD_LOSS_CASE(ID, id, value, name, unit) \
    case value: return clmsd_##id##_add(total, v, t, param, d);
        CLMSD_ELEMENT_LOSSES(CLMSD_LOSS_CASE)
#undef CLMSD_LOSS_CASE
    }
    *d = NAN;
    return NAN;
}

#ifndef __OPENCL_VERSION__
/* The same losses in double, as plain mathematics (src/ref/head.c). */
static inline double clmsd_ref_bce(double v, double t, double param, double *d)
{
    (void)param;
    *d = 1.0 / (1.0 + exp(-v)) - t;
    return fmax(v, 0.0) - v * t + log1p(exp(-fabs(v)));
}

static inline double clmsd_ref_mse(double v, double t, double param, double *d)
{
    (void)param;
    *d = 2.0 * (v - t);
    return (v - t) * (v - t);
}

static inline double clmsd_ref_huber(double v, double t, double param, double *d)
{
    double diff = v - t;
    if (fabs(diff) < param) {
        *d = diff;
        return 0.5 * diff * diff;
    }
    *d = diff < 0.0 ? -param : param;
    return param * (fabs(diff) - 0.5 * param);
}

static inline double clmsd_ref_loss(int loss, double v, double t, double param, double *d)
{
    switch (loss) {
#define CLMSD_LOSS_CASE(ID, id, value, name, unit) \
    case value: return clmsd_ref_##id(v, t, param, d);
        CLMSD_ELEMENT_LOSSES(CLMSD_LOSS_CASE)
#undef CLMSD_LOSS_CASE
    }
    *d = NAN;
    return NAN;
}

/* 1: the loss's targets are probabilities in [0, 1] (the tests' data) */
static inline int clmsd_loss_unit_targets(int loss)
{
    switch (loss) {
#define CLMSD_LOSS_CASE(ID, id, value, name, unit) \
    case value: return unit;
        CLMSD_ELEMENT_LOSSES(CLMSD_LOSS_CASE)
#undef CLMSD_LOSS_CASE
    }
    return 0;
}
#endif

#endif
