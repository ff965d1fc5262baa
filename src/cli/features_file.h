/* SPDX-License-Identifier: MIT */
/* A features file for `clmsd train --features` and `clmsd predict`: a safetensors file's features
 * [N, H] or [N, L, H] (F32, F16 or BF16, kept mapped and copied row by row as they are stored),
 * its targets converted once (int32 class ids for CE, floats [N, C] otherwise) and the split of its
 * rows into training and validation. Every check names the file, the tensor and what is wrong. */
#ifndef CLMSD_CLI_FEATURES_FILE_H
#define CLMSD_CLI_FEATURES_FILE_H

#include "safetensors.h"

#include <clmsd.h>
#include <stddef.h>
#include <stdint.h>

typedef struct features {
    const char *path;
    safetensors_file file;
    const safetensors_tensor *x;
    size_t rows, layers, hidden;       /* N, L (1 for [N, H]) and H */
    clmsd_type type;                   /* of x as stored */
    size_t row_bytes;                  /* L * H * type size: one row of every layer */
    int loss;                          /* clmsd_loss of the targets; -1 without targets */
    size_t classes;                    /* C */
    int32_t *labels;                   /* CE: [N] class ids (negative: ignored) */
    float *targets;                    /* BCE, MSE: [N, C] */
    size_t *train, ntrain, *val, nval; /* row indices */
    uint64_t hash;                     /* FNV-1a of the file's bytes */
} features;

/* Maps path and checks x (and the targets y unless y_name is NULL) against each other. loss: a
 * clmsd_loss, or -1 to take it from the targets (integer [N]: CE, else BCE); classes: CE's C, or 0
 * for the largest id + 1. 0, or -1 with "FILE: what is wrong" in error. */
int features_open(const char *path, const char *x_name, const char *y_name, int loss, size_t classes, features *f,
                  char *error, size_t error_size);
/* features_open's checks on a file already in f->file (f->path its name; the fuzzer's entry) */
int features_check(features *f, const char *x_name, const char *y_name, int loss, size_t classes, char *error,
                   size_t error_size);
/* The split: the rows val_name lists (unique, in [0, N)), or with val_name NULL the first
 * round(fraction N) rows of a permutation drawn from seed; the others, ascending, train. */
int features_split(features *f, const char *val_name, double fraction, uint64_t seed, char *error, size_t error_size);
/* Copies rows[0..n) of x into x_out (row_bytes each) and, with targets, their targets into y_out
 * (int32 ids, or C floats a row). */
void features_gather(const features *f, const size_t *rows, size_t n, void *x_out, void *y_out);
/* bytes of one row's targets on the device: 4 (CE) or 4 C */
size_t features_target_bytes(const features *f);
/* frees what f holds and closes f->file */
void features_close(features *f);

#endif
