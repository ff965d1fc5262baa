/* SPDX-License-Identifier: MIT */
/* The head's descriptor and what follows from it alone (head_desc.c): shared by the head, its
 * engines and the host references. */
#ifndef CLMSD_HEAD_DESC_H
#define CLMSD_HEAD_DESC_H

#include "../cl/clmsd_constants.h"
#include "status.h"

clmsd_status clmsd__check_head_desc(clmsd_context *ctx, const clmsd_head_desc *desc);

/* The stream a head call draws: K samples of [B, H] from global row row_offset. */
clmsd_dropout_desc clmsd__head_stream(const clmsd_head_desc *desc, uint64_t seed, uint64_t step, size_t row_offset);

/* Stacked logit rows N: K*B (average losses) or B (average logits). */
size_t clmsd__head_stacked_rows(const clmsd_head_desc *desc);

/* What an engine needs of the workspace (its planning hook, clmsd__engine_impl.plan), in floats:
 * rows of Xd [., H], G's columns, the block sums of one row block (dW's and db's, or db's alone),
 * and W's transposed copy. */
typedef struct clmsd__engine_space {
    size_t xd_rows, ldg, block_sums, wt;
} clmsd__engine_space;
/* into = the largest of into and s, part by part: a workspace that fits both */
void clmsd__engine_space_widen(clmsd__engine_space *into, const clmsd__engine_space *s);

/* The workspace in floats: Xd [xd_rows, H] (later dXd), Z [N, C], G [N, ldg], row losses [N], 1
 * counter, the loss's block sums [blocks], the block sums [blocks, block_sums], WT [wt], and for a
 * pooled head its layer weights and pooled rows. blocks bounds the row blocks a call touches at
 * any row offset (canonical order v2). Offsets in elements. */
typedef struct clmsd__head_workspace {
    size_t xd, z, g, rowloss, counter, loss_part, part, wt, pool, floats, ldg;
} clmsd__head_workspace;
size_t clmsd__head_max_blocks(const clmsd_head_desc *desc);
/* The pooled head's Philox blocks of one layer's [B, H] from global row row_offset (the
 * work-items of its kernels), and their bound at any row offset. */
size_t clmsd__layer_blocks(const clmsd_head_desc *desc, size_t row_offset);
size_t clmsd__layer_max_blocks(const clmsd_head_desc *desc);
bool clmsd__head_layout(const clmsd_head_desc *desc, const clmsd__engine_space *engine, clmsd__head_workspace *out);

/* Host-side constants of a head: 1/K, the element-wise loss and gradient scale 1 / (K' B C) for a mean
 * over `batch` rows (B, or a shard's global batch), and K' itself (K for average losses, 1 for
 * average logits), from which CE makes clmsd_ce_scale on the device. */
float clmsd__head_inv_samples(const clmsd_head_desc *desc);
float clmsd__head_scale(const clmsd_head_desc *desc, size_t batch);
float clmsd__head_kprime(const clmsd_head_desc *desc);
/* The loss's parameter as the kernels take it: Huber's delta (its default applied), else 0. */
float clmsd__head_loss_param(const clmsd_head_desc *desc);

#endif
