/* SPDX-License-Identifier: MIT */
/* `clmsd predict` (predict.c), and the batched inference it shares with `clmsd train --features`'s
 * validation. */
#ifndef CLMSD_CLI_PREDICT_H
#define CLMSD_CLI_PREDICT_H

#include "features_file.h"

#include <clmsd.h>

/* The mean logits [n, C] of rows[0..n) of f (all rows in order when rows is NULL) through the head
 * whose W [C, H], b [C] and layer weights [L] (f's L >= 2 only) are on ctx's device, `batch` rows an
 * enqueue. 0, or -1 after a message that starts with who. */
int predict_logits(clmsd_context *ctx, const features *f, size_t classes, const size_t *rows, size_t n, size_t batch,
                   cl_mem w, cl_mem b, cl_mem layer_weights, float *logits, const char *who);

#endif
