/* SPDX-License-Identifier: MIT */
/* The numbers the host and the kernels must agree on, defined once: this file is embedded first in
 * the kernel source (OpenCL C) and included by the library (C11). */
#ifndef CLMSD_CONSTANTS_H
#define CLMSD_CONSTANTS_H

#ifdef __OPENCL_VERSION__
/* The kernels' helpers. On clang's GPU targets (nvptx: pocl-cuda and tools/gpu_report.py's
 * ptxas; amdgcn: ROCm) they are forced inline: OpenCL C's `inline` (C99's) leaves a function the
 * compiler chose not to inline an unresolved external there, and a call keeps its arguments on
 * the stack. Elsewhere plain `inline`: Oclgrind's LLVM does not know the scope intrinsics that
 * forced inlining of a struct-returning helper emits (llvm.experimental.noalias.scope.decl). */
#if defined(__NVPTX__) || defined(__AMDGCN__)
#define CLMSD_INLINE __attribute__((always_inline)) inline
#else
#define CLMSD_INLINE inline
#endif
#endif

/* Classes per vector tile of the fused kernels; heads of up to half a tile pad to half a tile. */
#define CLMSD_CLASS_TILE 32

/* Rows of the CPU tiling's register tile (cl/fused.cl): 8 rows by 32 classes, 16 AVX-512 registers.
 * (The tile's macros name its 8 rows one by one: this is not a tuning knob.) */
#define CLMSD_TILE_ROWS 8

/* Lanes of the canonical single-group reduction tree; any work-group size computes it. */
#define CLMSD_REDUCE_GROUP 64

/* Work-items per group of the GPU tiling's pooled forward (cl/pool.cl): a layer each, at a time; 32
 * is Mesa's rusticl's largest group. */
#define CLMSD_POOL_LANES 32

/* Global batch rows per row block of canonical order v2: the long sums over rows (dW, db, the loss)
 * sum each block on its own, then combine the blocks by a fixed tree (cl/clmsd_tree.h). */
#define CLMSD_ROW_BLOCK 16

/* the pooled head's layer l draws its dropout from stream sample CLMSD_LAYER_SAMPLE + l, apart
 * from the head's samples 0 .. K-1 (docs/rng.md) */
#define CLMSD_LAYER_SAMPLE 0x80000000u

/* the u8 stream's Philox block b of 16 elements has counter word 0 = CLMSD_U8_BLOCK_TAG | b, so
 * its blocks are not v1's below 2^33 elements (v1's block 2^31 + b is element 2^33 + 4b on: a
 * head draws every mask from one stream, so the two never meet in a call); b < 2^30 since
 * elements are < 2^34 (docs/rng.md) */
#define CLMSD_U8_BLOCK_TAG 0x80000000u

/* Stream and storage-type ids as the kernels read them: the values of the public clmsd_stream and
 * clmsd_type (checked in stream_desc.c). */
#define CLMSD_KERNEL_STREAM_V1 0
#define CLMSD_KERNEL_STREAM_U8 1
/* Kernels take the stream's id and ask CLMSD_IS_U8, never use it as a truth value. They know the
 * two streams above (`!= v1` compiles as tight as the flag it replaced: 2 registers fewer on
 * sm_90 than `== u8`); the host admits no other id (stream_desc.c: a new public stream fails to
 * compile there until the kernels learn it). */
#define CLMSD_IS_U8(stream) ((stream) != CLMSD_KERNEL_STREAM_V1)
#define CLMSD_KERNEL_F32 0
#define CLMSD_KERNEL_F16 1
#define CLMSD_KERNEL_BF16 2

/* The one row-wise loss's id as the kernels read it (CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY; the
 * element-wise losses are clmsd_loss.h's table, their ids asserted in head_desc.c with this one). */
#define CLMSD_KERNEL_LOSS_CE 0

/* Partial sums of the gradient norm's squares: partial p sums elements p, p + P, p + 2P, ... in
 * index order (P = min(elements, CLMSD_OPTIM_PARTS)); the P partials are then summed by the tree
 * of clmsd_tree.h. Fixed by the element count alone, so the norm's bits are the same everywhere. */
#define CLMSD_OPTIM_PARTS 1024

#endif
