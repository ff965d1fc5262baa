/* SPDX-License-Identifier: MIT */
/* clmsd_mpi: data-parallel training of a multi-sample dropout head over MPI, with results that do
 * not depend on the number of processes (docs/distributed.md). Link with -lclmsd_mpi (pkg-config
 * clmsd-mpi); built when MPI is found.
 *
 * Each rank holds a contiguous shard of every global batch and may use its own OpenCL device.
 * Each rank's fused train step computes exact nodes of the single-process canonical tree (the
 * masks and the row blocks are keyed on global rows); the ranks exchange those nodes with
 * MPI_Allgather and every rank combines them in the tree's order. Whenever the shards are nodes of
 * the tree (clmsd_mpi_split gives such shards for any batch and any number of ranks), loss, dW and
 * db equal the single-process train step on the whole batch bit for bit, and each rank's mean
 * logits and dX equal the matching rows of the single-process ones.
 *
 * Every call here is collective over its communicator, validates on every rank, and returns the
 * same status on every rank (a rank's bad input fails the call everywhere, with that rank's
 * message); nothing is enqueued and no output is written on any rank when any rank's input is bad.
 * Thread rule: as clmsd.h, and MPI's (one thread calls MPI at a time). */
#ifndef CLMSD_MPI_H
#define CLMSD_MPI_H

#include <mpi.h>

#include "clmsd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clmsd_mpi_head clmsd_mpi_head;

/* The bytes one rank contributes to the MPI_Allgather calls of one train step: a 304-byte record
 * (status, message, seed, step, row offset, valid-id count, flags, and on the head's first step a
 * hash of w and bias), then a 256-byte status and
 * message followed by its loss sum, dW [C, H] and db [C] as float. A ring allgather sends
 * (P - 1) times this from every rank and receives as much. */
#define CLMSD_MPI_STEP_BYTES(classes, features) \
    ((size_t)304 + (size_t)256 + 4 * (1 + (size_t)(classes) * (size_t)(features) + (size_t)(classes)))

/* The rows of a global batch of global_batch rows, starting at global row row_offset, that rank
 * `rank` of `ranks` holds so that every result is bit-exact: the batch cut at the boundaries of
 * the tree's nodes of 16 * 2^l rows, l the smallest that leaves at most `ranks` pieces, in rank
 * order (with row_offset 0: shards of 16 * 2^l rows, the last one short); ranks past the batch's
 * end get 0 rows. *first_row counts from the batch's first row. Not collective. */
CLMSD_API clmsd_status clmsd_mpi_split(size_t row_offset, size_t global_batch, int ranks, int rank, size_t *first_row,
                                       size_t *rows);

/* Plans a data-parallel head. desc describes the whole batch (desc->batch = Bg) and is the same
 * on every rank (workspace: NULL); this rank holds global batch rows [first_row, first_row +
 * rows), rows 0 allowed; the shards of the ranks, in rank order, must cover 0 .. Bg - 1. ctx is
 * this rank's context. Collective over comm (duplicated: the head's messages never mix with the
 * caller's). */
CLMSD_API clmsd_status clmsd_mpi_head_create(clmsd_context *ctx, const clmsd_head_desc *desc, size_t first_row,
                                             size_t rows, MPI_Comm comm, clmsd_mpi_head **out);
/* Not collective; frees the communicator duplicate (MPI_Comm_free). */
CLMSD_API void clmsd_mpi_head_destroy(clmsd_mpi_head *head);

/* One data-parallel train step. args as for clmsd_head_train_step, with x, target, logits and dx
 * holding this rank's rows (unused with 0 rows) and w, bias the same values on every rank;
 * args->row_offset is the global batch's first global row, the same on every rank, and
 * args->shard NULL. loss, ignored, dw and dbias receive the whole batch's values on every rank
 * (dw, dbias: asked for on every rank or on none). Blocking: on return every output is written.
 * Collective. */
CLMSD_API clmsd_status clmsd_mpi_head_train_step(clmsd_mpi_head *head, const clmsd_head_args *args);

/* This rank's head on its shard (NULL with 0 rows), and the shard. */
CLMSD_API clmsd_head *clmsd_mpi_head_local(const clmsd_mpi_head *head);
CLMSD_API void clmsd_mpi_head_shard(const clmsd_mpi_head *head, size_t *first_row, size_t *rows);

/* The message of the last failed call: of `head`'s last step, or with head NULL of this thread's
 * last failed clmsd_mpi_head_create or clmsd_mpi_split. Never NULL. */
CLMSD_API const char *clmsd_mpi_last_error(const clmsd_mpi_head *head);

#ifdef __cplusplus
}
#endif
#endif /* CLMSD_MPI_H */
