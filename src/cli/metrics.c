/* SPDX-License-Identifier: MIT */
/* Validation metrics (metrics.h). */
#include "metrics.h"

#include <clmsd.h>
#include <math.h>
#include <stdlib.h>

static double pearson_of(const double *a, const double *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i)
        ma += a[i], mb += b[i];
    ma /= (double)n, mb /= (double)n;
    for (size_t i = 0; i < n; ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

static const double *sort_keys;
static int by_key(const void *x, const void *y)
{
    double a = sort_keys[*(const size_t *)x], b = sort_keys[*(const size_t *)y];
    return (a > b) - (a < b);
}

/* v's ranks from 1, ties given their average rank (scipy.stats.rankdata's "average") */
static void ranks_of(const double *v, size_t n, size_t *order, double *rank)
{
    for (size_t i = 0; i < n; ++i)
        order[i] = i;
    sort_keys = v;
    qsort(order, n, sizeof *order, by_key);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[order[j + 1]] == v[order[i]])
            ++j;
        for (size_t k = i; k <= j; ++k)
            rank[order[k]] = 0.5 * (double)(i + j) + 1;
        i = j + 1;
    }
}

/* the columns as doubles */
static void columns(const float *a, const float *b, size_t n, size_t stride, double *da, double *db)
{
    for (size_t i = 0; i < n; ++i)
        da[i] = a[i * stride], db[i] = b[i * stride];
}

double metrics_pearson(const float *a, const float *b, size_t n, size_t stride)
{
    double *da = malloc(2 * n * sizeof *da), r = NAN;
    if (da && n > 1) {
        columns(a, b, n, stride, da, da + n);
        r = pearson_of(da, da + n, n);
    }
    free(da);
    return r;
}

double metrics_spearman(const float *a, const float *b, size_t n, size_t stride)
{
    double *d = malloc(4 * n * sizeof *d), r = NAN;
    size_t *order = malloc(n * sizeof *order);
    if (d && order && n > 1) {
        columns(a, b, n, stride, d, d + n);
        ranks_of(d, n, order, d + 2 * n);
        ranks_of(d + n, n, order, d + 3 * n);
        r = pearson_of(d + 2 * n, d + 3 * n, n);
    }
    free(d);
    free(order);
    return r;
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

metrics metrics_of(int loss, const float *logits, const int32_t *labels, const float *targets, size_t n, size_t C)
{
    metrics m = {.loss = NAN, .accuracy = NAN, .spearman = NAN, .pearson = NAN};
    if (n == 0)
        return m;
    double sum = 0;
    size_t counted = 0, right = 0;
    if (loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY) {
        for (size_t r = 0; r < n; ++r) {
            const float *z = logits + r * C;
            if (labels[r] < 0 || (size_t)labels[r] >= C)
                continue;
            size_t best = 0;
            double top = z[0], s = 0;
            for (size_t c = 1; c < C; ++c)
                if (z[c] > z[best])
                    best = c, top = z[c];
            for (size_t c = 0; c < C; ++c)
                s += exp(z[c] - top);
            sum += log(s) + top - z[labels[r]];
            right += best == (size_t)labels[r];
            ++counted;
        }
        m.loss = counted ? sum / (double)counted : NAN;
        m.accuracy = counted ? (double)right / (double)counted : NAN;
        return m;
    }
    float *predicted = malloc(n * C * sizeof *predicted);
    if (!predicted)
        return m;
    for (size_t i = 0; i < n * C; ++i) {
        double z = logits[i], t = targets[i];
        sum += loss == CLMSD_LOSS_BCE_WITH_LOGITS ? fmax(z, 0) - z * t + log1p(exp(-fabs(z))) : (z - t) * (z - t);
        predicted[i] = (float)(loss == CLMSD_LOSS_BCE_WITH_LOGITS ? sigmoid(z) : z);
    }
    m.loss = sum / (double)(n * C);
    double s = 0, p = 0;
    size_t cols = 0;
    for (size_t c = 0; c < C; ++c) {
        double sc = metrics_spearman(predicted + c, targets + c, n, C);
        if (isnan(sc))
            continue; /* a constant column has no rank correlation (scipy gives NaN; QUEST's scorers skip it) */
        s += sc;
        p += metrics_pearson(predicted + c, targets + c, n, C);
        ++cols;
    }
    free(predicted);
    m.spearman = cols ? s / (double)cols : NAN;
    m.pearson = cols ? p / (double)cols : NAN;
    return m;
}
