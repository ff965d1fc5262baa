/* SPDX-License-Identifier: MIT */
/* The checkpoint of `clmsd train --checkpoint DIR` (docs/training.md): DIR/head.safetensors holds
 * "weight" [C, H], "bias" [C] and, for the pooled head, "layer_weights" [L], all F32, with the
 * format, loss, shape, epoch, step and the run's options in its metadata;
 * DIR/optimizer.safetensors holds the optimizer's "moments" (F32, slot order of
 * clmsd_optim_read_state) and the same epoch, step and options. The optimizer file is written
 * first and each file is replaced whole, so a run cut off between the two leaves files whose epochs
 * disagree, which resume refuses, never a torn file. */
#ifndef CLMSD_CLI_CHECKPOINT_H
#define CLMSD_CLI_CHECKPOINT_H

#include "safetensors.h"

#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_FORMAT "clmsd-checkpoint-1"

typedef struct checkpoint {
    size_t classes, features, layers; /* C, H, and L (0: the plain head) */
    int loss;                         /* clmsd_loss */
    uint32_t samples;
    float *weight, *bias, *layer_weights; /* [C, H], [C], [L] */
    float *moments;
    size_t nmoments;
    uint64_t epoch, step; /* epochs done; optimizer steps taken */
    const char *options;  /* the run's options text (train_options_text) */
    char *storage;        /* checkpoint_read's copy of options */
} checkpoint;

/* Writes dir's two files (creating dir); 0, or -1 after a message on stderr. */
int checkpoint_write(const char *dir, const checkpoint *c);
/* Reads dir's head (and with optimizer set, its optimizer file too) into c, checking the shapes
 * against each other and the two files' epoch, step and options against each other. c's arrays are
 * malloc'd (checkpoint_free) and options points into c's own storage. 0, or -1 after a message. */
int checkpoint_read(const char *dir, int optimizer, checkpoint *c);
/* checkpoint_read's checks of a head file already parsed (path its name; the fuzzer's entry): fills
 * c's shape, loss, epoch, step, options, weight, bias and layer weights; 0, or -1 after a message
 * (c then holds what it had filled: checkpoint_free) */
int checkpoint_parse_head(const safetensors_file *f, const char *path, checkpoint *c);
void checkpoint_free(checkpoint *c);

#endif
