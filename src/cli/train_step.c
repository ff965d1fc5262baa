/* SPDX-License-Identifier: MIT */
/* `clmsd train`'s train step of one batch size: one head on this process's device, or with --mpi
 * this rank's part of a data-parallel head (clmsd_mpi.h) on the rows clmsd_mpi_split gives it, so
 * that every batch, a last partial one included, is cut into nodes of the canonical tree and the
 * weights come out the same bits for any number of ranks. All of the tool's MPI is here. */
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CLMSD_HAVE_MPI
#include <clmsd_mpi.h>
#endif

struct train_step {
    clmsd_context *ctx;
    clmsd_head *head;
#ifdef CLMSD_HAVE_MPI
    clmsd_mpi_head *mpi;
#endif
    size_t first_row, rows, features;
    size_t target_row; /* a row's elements of the targets: 1 (CE's ids) or C */
};

int train_mpi_init(int *argc, char ***argv, int *rank, int *ranks)
{
#ifdef CLMSD_HAVE_MPI
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "clmsd train: MPI_Init failed\n");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    return 0;
#else
    (void)argc;
    (void)argv;
    (void)rank;
    (void)ranks;
    fprintf(stderr, "clmsd train: --mpi: this clmsd was built without MPI (install libopenmpi-dev and rebuild)\n");
    return -1;
#endif
}

void train_mpi_finish(int failed)
{
#ifdef CLMSD_HAVE_MPI
    if (failed) /* a rank that failed outside a collective call: the others must not wait for it */
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
#else
    (void)failed;
#endif
}

enum { OPTIONS_BYTES = 4096 };

/* line n (from 0) of text: its start, and its length in *len (0 past the last line) */
static const char *line_of(const char *text, int n, int *len)
{
    for (; n > 0 && *text; --n)
        text += strcspn(text, "\n") + (text[strcspn(text, "\n")] ? 1 : 0);
    *len = (int)strcspn(text, "\n");
    return text;
}

/* "--option value": the option's length; the value follows one space after it */
static int option_length(const char *line, int len)
{
    const char *space = memchr(line, ' ', (size_t)len);
    return space ? (int)(space - line) : len;
}

int train_mpi_agree(const char *options, int rank, int ranks)
{
#ifdef CLMSD_HAVE_MPI
    char mine[OPTIONS_BYTES] = "", *all = calloc((size_t)ranks, OPTIONS_BYTES);
    if (!all) { /* 4 KB a rank: no rank gets this far without it, and none must wait for this one */
        fprintf(stderr, "clmsd train: rank %d: out of memory for the ranks' options\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    snprintf(mine, sizeof mine, "%s", options);
    if (MPI_Allgather(mine, OPTIONS_BYTES, MPI_CHAR, all, OPTIONS_BYTES, MPI_CHAR, MPI_COMM_WORLD) != MPI_SUCCESS) {
        fprintf(stderr, "clmsd train: rank %d: the ranks could not exchange their options\n", rank);
        free(all);
        return -1;
    }
    int bad = 0;
    for (int r = 1; r < ranks && !bad; ++r)
        for (int n = 0;; ++n) { /* every rank walks the same texts: all reach the same verdict */
            int l0, lr;
            const char *a = line_of(all, n, &l0), *b = line_of(all + (size_t)r * OPTIONS_BYTES, n, &lr);
            if (l0 == 0 && lr == 0)
                break;
            if (l0 == lr && !memcmp(a, b, (size_t)l0))
                continue;
            int name = option_length(a, l0), va = l0 > name ? l0 - name - 1 : 0, vb = lr > name ? lr - name - 1 : 0;
            fprintf(stderr,
                    "clmsd train: rank %d: --mpi needs the same options on every rank: %.*s is \"%.*s\" on rank 0 "
                    "and \"%.*s\" on rank %d\n",
                    rank, name, a, va, a + name + 1, vb, b + name + 1, r);
            bad = 1;
            break;
        }
    free(all);
    return bad ? -1 : 0;
#else
    (void)options;
    (void)rank;
    (void)ranks;
    return 0;
#endif
}

train_step *train_step_create(clmsd_context *ctx, const clmsd_head_desc *desc, int mpi)
{
    train_step *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "clmsd train: out of memory\n");
        return NULL;
    }
    s->ctx = ctx;
    s->features = desc->features;
    s->rows = desc->batch;
    s->target_row = desc->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? 1 : desc->classes;
    clmsd_status st;
    const char *message;
#ifdef CLMSD_HAVE_MPI
    if (mpi) {
        int rank, ranks;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        st = clmsd_mpi_split(0, desc->batch, ranks, rank, &s->first_row, &s->rows);
        if (st == CLMSD_SUCCESS)
            st = clmsd_mpi_head_create(ctx, desc, s->first_row, s->rows, MPI_COMM_WORLD, &s->mpi);
        message = clmsd_mpi_last_error(NULL);
    } else
#endif
    {
        (void)mpi;
        st = clmsd_head_create(ctx, desc, &s->head);
        message = clmsd_context_last_error(ctx);
    }
    if (st != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd train: planning the head failed: %s: %s\n", clmsd_status_string(st), message);
        train_step_destroy(s);
        return NULL;
    }
    return s;
}

int train_step_run(train_step *s, const clmsd_head_args *args)
{
    clmsd_status st;
    const char *message;
#ifdef CLMSD_HAVE_MPI
    if (s->mpi) { /* this rank's rows of the batch */
        clmsd_head_args a = *args;
        a.x_off += s->first_row * s->features;
        a.target_off += s->first_row * s->target_row;
        st = clmsd_mpi_head_train_step(s->mpi, &a);
        message = clmsd_mpi_last_error(s->mpi);
    } else
#endif
    {
        st = clmsd_head_train_step(s->head, args, 0, NULL, NULL);
        message = clmsd_context_last_error(s->ctx);
    }
    if (st != CLMSD_SUCCESS)
        fprintf(stderr, "clmsd train: the train step failed: %s: %s\n", clmsd_status_string(st), message);
    return st == CLMSD_SUCCESS ? 0 : -1;
}

void train_step_rows(const train_step *s, size_t *first, size_t *rows)
{
    *first = s->first_row;
    *rows = s->rows;
}

void train_step_destroy(train_step *s)
{
    if (!s)
        return;
    clmsd_head_destroy(s->head);
#ifdef CLMSD_HAVE_MPI
    clmsd_mpi_head_destroy(s->mpi);
#endif
    free(s);
}
