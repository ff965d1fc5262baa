/* SPDX-License-Identifier: MIT */
/* Validation metrics of `clmsd train --features`, in double precision on the host: the loss's own
 * value on the mean logits, accuracy (CE), and for BCE and MSE the mean column-wise Spearman rank
 * correlation (the QUEST competition's metric) and Pearson correlation. */
#ifndef CLMSD_CLI_METRICS_H
#define CLMSD_CLI_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics {
    double loss;              /* mean over the rows (CE: over the rows whose id is not ignored) */
    double accuracy;          /* CE */
    double spearman, pearson; /* BCE, MSE: means over the columns that are not constant (NaN if none) */
} metrics;

/* logits [n, C]; labels [n] (CE) or targets [n, C] (the others); loss a clmsd_loss */
metrics metrics_of(int loss, const float *logits, const int32_t *labels, const float *targets, size_t n, size_t C);
/* Pearson's and Spearman's (average ranks for ties) correlation of columns a and b, each of n
 * values `stride` apart; NaN when either is constant */
double metrics_pearson(const float *a, const float *b, size_t n, size_t stride);
double metrics_spearman(const float *a, const float *b, size_t n, size_t stride);

#endif
