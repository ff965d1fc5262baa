/* SPDX-License-Identifier: MIT */
/* The host reference of the head: its analytic gradients agree with central finite differences
 * of its own loss, for every loss and combine mode. Inputs sit on a 2^-10 grid and the rates
 * have exact scales (2, 4, 1), so x +- h and the dropped products are exact and the loss is a
 * smooth function computed in double. */
#include "helpers.h"

enum { B = 3, H = 5, C = 4, K = 3 };
static const double rates[K] = {0.5, 0.75, 0.0};
static const double h = 0x1p-12;

typedef struct problem {
    clmsd_head_desc d;
    float x[B * H], w[C * H], bias[C], tf[B * C];
    int32_t ti[B];
} problem;

static double loss_of(problem *p)
{
    double l;
    clmsd_ref_head_args a = {.seed = 31,
                             .step = 4,
                             .row_offset = 2,
                             .x = p->x,
                             .w = p->w,
                             .bias = p->bias,
                             .target = p->d.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)p->ti
                                                                                     : (const void *)p->tf,
                             .loss = &l};
    cr_assert_eq(clmsd_ref_head_train_step(&p->d, &a), CLMSD_SUCCESS);
    return l;
}

/* central difference of the loss along one float of the problem */
static double central(problem *p, float *v)
{
    float keep = *v;
    *v = keep + (float)h;
    double up = loss_of(p);
    *v = keep - (float)h;
    double down = loss_of(p);
    *v = keep;
    return (up - down) / (2 * h);
}

static void check(clmsd_loss loss, clmsd_combine combine)
{
    problem p = {.d = {B, H, C, K, rates, 0.0, loss, combine, CLMSD_ENGINE_AUTO, NULL}};
    test_fill(p.x, B * H, 11);
    test_fill(p.w, C * H, 12);
    test_fill(p.bias, C, 13);
    for (int i = 0; i < B * C; ++i)
        p.tf[i] = loss == CLMSD_LOSS_BCE_WITH_LOGITS ? (float)(i % 5) / 4.0f : p.x[i] / 2.0f;
    p.ti[0] = 2, p.ti[1] = -100, p.ti[2] = 0; /* one ignored id */
    double dx[B * H], dw[C * H], db[C], l;
    clmsd_ref_head_args a = {.seed = 31,
                             .step = 4,
                             .row_offset = 2,
                             .x = p.x,
                             .w = p.w,
                             .bias = p.bias,
                             .target =
                                 loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)p.ti : (const void *)p.tf,
                             .loss = &l,
                             .dx = dx,
                             .dw = dw,
                             .dbias = db};
    cr_assert_eq(clmsd_ref_head_train_step(&p.d, &a), CLMSD_SUCCESS);
    /* truncation error h^2/6 |f'''|, with |f'''| well under 60 for these magnitudes */
    const double tol = 10 * h * h;
    for (int i = 0; i < B * H; ++i) {
        double fd = central(&p, &p.x[i]);
        cr_assert(fabs(fd - dx[i]) <= tol * (1 + fabs(dx[i])), "dx[%d]: analytic %.12g, central %.12g", i, dx[i], fd);
    }
    for (int i = 0; i < C * H; ++i) {
        double fd = central(&p, &p.w[i]);
        cr_assert(fabs(fd - dw[i]) <= tol * (1 + fabs(dw[i])), "dw[%d]: analytic %.12g, central %.12g", i, dw[i], fd);
    }
    for (int i = 0; i < C; ++i) {
        double fd = central(&p, &p.bias[i]);
        cr_assert(fabs(fd - db[i]) <= tol * (1 + fabs(db[i])), "db[%d]: analytic %.12g, central %.12g", i, db[i], fd);
    }
    /* the gradient is not trivially zero: some entries are well away from 0 */
    double most = 0;
    for (int i = 0; i < C * H; ++i)
        most = fmax(most, fabs(dw[i]));
    cr_assert(most > 1e-3);
}

Test(ref_head, gradients_cross_entropy_average_losses)
{
    check(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES);
}
Test(ref_head, gradients_cross_entropy_average_logits)
{
    check(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS);
}
Test(ref_head, gradients_bce_average_losses) { check(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES); }
Test(ref_head, gradients_bce_average_logits) { check(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS); }
Test(ref_head, gradients_mse_average_losses) { check(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES); }
Test(ref_head, gradients_mse_average_logits) { check(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOGITS); }

/* Hand-computed values: B = 1, H = 1, C = 2, K = 1, p = 0, x = 1, W = [1, -1], b = 0:
 * z = [1, -1]; CE with id 0: log(1 + e^-2); MSE against [0, 0]: (1 + 1) / 2 = 1. */
Test(ref_head, hand_computed_losses)
{
    float x = 1, w[2] = {1, -1};
    int32_t id = 0;
    float zeros[2] = {0, 0};
    double l, logits[2];
    clmsd_head_desc d = {.batch = 1,
                         .features = 1,
                         .classes = 2,
                         .samples = 1,
                         .rate = 0.0,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = CLMSD_AVERAGE_LOSSES};
    clmsd_ref_head_args a = {.x = &x, .w = w, .target = &id, .loss = &l, .logits = logits};
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(fabs(l - log1p(exp(-2.0))) < 1e-15, "CE %.17g", l);
    cr_assert(logits[0] == 1.0 && logits[1] == -1.0);
    d.loss = CLMSD_LOSS_MSE;
    a.target = zeros;
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(l == 1.0, "MSE %.17g", l);
    d.loss = CLMSD_LOSS_BCE_WITH_LOGITS; /* (softplus(1) - 0 + softplus(-1)) / 2 */
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(fabs(l - (log1p(exp(1.0)) + log1p(exp(-1.0))) / 2) < 1e-15, "BCE %.17g", l);
}
