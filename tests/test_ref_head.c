/* SPDX-License-Identifier: MIT */
/* The host reference of the head: its analytic gradients agree with central finite differences
 * of its own loss, for every loss and combine mode. Inputs sit on a 2^-10 grid and the rates
 * have exact scales (2, 4, 1), so x +- h and the dropped products are exact and the loss is a
 * smooth function computed in double. */
#include "helpers.h"

#include "../cl/clmsd_loss.h"

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
    p.d.huber_delta = 0.3; /* (Huber: both branches, no |v - t| within the differences' reach of it) */
    test_fill(p.x, B * H, 11);
    test_fill(p.w, C * H, 12);
    test_fill(p.bias, C, 13);
    for (int i = 0; i < B * C; ++i)
        p.tf[i] = clmsd_loss_unit_targets((int)loss) ? (float)(i % 5) / 4.0f : p.x[i] / 2.0f;
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
/* every element-wise loss of the table (cl/clmsd_loss.h) */
#define GRADIENT_TESTS(ID, id, value, name, unit)                                                     \
    Test(ref_head, gradients_##id##_average_losses) { check(CLMSD_LOSS_##ID, CLMSD_AVERAGE_LOSSES); } \
    Test(ref_head, gradients_##id##_average_logits) { check(CLMSD_LOSS_##ID, CLMSD_AVERAGE_LOGITS); }
CLMSD_ELEMENT_LOSSES(GRADIENT_TESTS)

/* Hand-computed values: B = 1, H = 1, C = 2, K = 1, p = 0, x = 1, W = [1, -1], b = 0:
 * z = [1, -1]; CE with id 0: log(1 + e^-2); MSE against [0, 0]: (1 + 1) / 2 = 1; Huber against
 * [0, 0], |v - t| = 1: delta 0.5 (linear) 0.5 (1 - 0.25) = 0.375, delta 2 (quadratic) 1 / 2. */
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
    d.loss = CLMSD_LOSS_HUBER;
    d.huber_delta = 0.5;
    double dw[2];
    a.dw = dw;
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(l == 0.375, "Huber, delta 0.5: %.17g", l);
    cr_assert(dw[0] == 0.25 && dw[1] == -0.25, "Huber's gradient on the linear branch: +-delta / 2, %g %g", dw[0],
              dw[1]);
    d.huber_delta = 2.0;
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(l == 0.5, "Huber, delta 2: %.17g", l);
    cr_assert(dw[0] == 0.5 && dw[1] == -0.5, "Huber's gradient on the quadratic branch: (v - t) / 2, %g %g", dw[0],
              dw[1]);
    d.huber_delta = 0.0; /* the default, 1: |v - t| = 1 is on the linear side, 1 (1 - 0.5) */
    cr_assert_eq(clmsd_ref_head_train_step(&d, &a), CLMSD_SUCCESS);
    cr_assert(l == 0.5, "Huber, default delta: %.17g", l);
}

/* The layer-pooled head (L = 4 layers, layer rate 0.5: scale 2, exact): analytic gradients of the
 * loss for the layers' rows, the layer-weight logits, W and b against central differences. */
enum { PL = 4 };

typedef struct pooled_problem {
    clmsd_head_desc d;
    float x[PL * B * H], lw[PL], w[C * H], bias[C], tf[B * C];
    int32_t ti[B];
} pooled_problem;

static double pooled_loss(pooled_problem *p, double *dx, double *dlw, double *dw, double *db)
{
    double l;
    clmsd_ref_head_args a = {.seed = 8,
                             .step = 3,
                             .row_offset = 1,
                             .x = p->x,
                             .w = p->w,
                             .bias = p->bias,
                             .target = p->d.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (const void *)p->ti
                                                                                     : (const void *)p->tf,
                             .loss = &l,
                             .dx = dx,
                             .dw = dw,
                             .dbias = db,
                             .layer_weights = p->lw,
                             .dlayer_weights = dlw};
    cr_assert_eq(clmsd_ref_head_train_step(&p->d, &a), CLMSD_SUCCESS);
    return l;
}

static double pooled_central(pooled_problem *p, float *v)
{
    float keep = *v;
    *v = keep + (float)h;
    double up = pooled_loss(p, NULL, NULL, NULL, NULL);
    *v = keep - (float)h;
    double down = pooled_loss(p, NULL, NULL, NULL, NULL);
    *v = keep;
    return (up - down) / (2 * h);
}

static void check_pooled(clmsd_loss loss, clmsd_combine combine)
{
    pooled_problem p = {.d = {.batch = B,
                              .features = H,
                              .classes = C,
                              .samples = K,
                              .rates = rates,
                              .loss = loss,
                              .combine = combine,
                              .layers = PL,
                              .layer_rate = 0.5}};
    test_fill(p.x, PL * B * H, 21);
    test_fill(p.lw, PL, 22);
    test_fill(p.w, C * H, 23);
    test_fill(p.bias, C, 24);
    for (int i = 0; i < B * C; ++i)
        p.tf[i] = loss == CLMSD_LOSS_BCE_WITH_LOGITS ? (float)(i % 5) / 4.0f : p.x[i] / 2.0f;
    p.ti[0] = 1, p.ti[1] = 3, p.ti[2] = -100;
    double dx[PL * B * H], dlw[PL], dw[C * H], db[C];
    pooled_loss(&p, dx, dlw, dw, db);
    const double tol = 10 * h * h;
    struct {
        const char *name;
        float *v;
        const double *g;
        int n;
    } inputs[] = {
        {"dx", p.x, dx, PL * B * H}, {"dlayer_weights", p.lw, dlw, PL}, {"dw", p.w, dw, C * H}, {"db", p.bias, db, C}};
    int zeros = 0;
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; ++k)
        for (int i = 0; i < inputs[k].n; ++i) {
            double fd = pooled_central(&p, &inputs[k].v[i]), g = inputs[k].g[i];
            cr_assert(fabs(fd - g) <= tol * (1 + fabs(g)), "%s[%d]: analytic %.12g, central %.12g", inputs[k].name, i,
                      g, fd);
            zeros += k == 0 && g == 0.0;
        }
    cr_assert(zeros > 0 && zeros < PL * B * H, "dx: the layers' dropout should zero some elements, not all (%d)",
              zeros);
    double most = 0;
    for (int i = 0; i < PL; ++i)
        most = fmax(most, fabs(dlw[i]));
    cr_assert(most > 1e-4, "the layer weights' gradient should not vanish (%.3g)", most);
}

Test(ref_head, pooled_gradients_bce_average_logits) { check_pooled(CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS); }
Test(ref_head, pooled_gradients_cross_entropy_average_losses)
{
    check_pooled(CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES);
}
Test(ref_head, pooled_gradients_mse_average_logits) { check_pooled(CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOGITS); }
