/* SPDX-License-Identifier: MIT */
/* The numbers the host and the kernels must agree on, defined once: this file is embedded first in
 * the kernel source (OpenCL C) and included by the library (C11). */
#ifndef CLMSD_CONSTANTS_H
#define CLMSD_CONSTANTS_H

/* Classes per vector tile of the fused kernels; heads of up to half a tile pad to half a tile. */
#define CLMSD_CLASS_TILE 32

/* Rows of the CPU tiling's register tile (cl/fused.cl): 8 rows by 32 classes, 16 AVX-512 registers.
 * (The tile's macros name its 8 rows one by one: this is not a tuning knob.) */
#define CLMSD_TILE_ROWS 8

/* Lanes of the canonical single-group reduction tree; any work-group size computes it. */
#define CLMSD_REDUCE_GROUP 64

/* Global batch rows per row block of canonical order v2: the long sums over rows (dW, db, the loss)
 * sum each block on its own, then combine the blocks by a fixed tree (cl/clmsd_tree.h). */
#define CLMSD_ROW_BLOCK 16

/* Loss ids as the kernels read them: the values of the public clmsd_loss (checked in head.c). */
/* the pooled head's layer l draws its dropout from stream sample CLMSD_LAYER_SAMPLE + l, apart
 * from the head's samples 0 .. K-1 (docs/rng.md) */
#define CLMSD_LAYER_SAMPLE 0x80000000u

#define CLMSD_KERNEL_LOSS_CE 0
#define CLMSD_KERNEL_LOSS_BCE 1
#define CLMSD_KERNEL_LOSS_MSE 2

#endif
