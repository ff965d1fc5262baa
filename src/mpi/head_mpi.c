/* SPDX-License-Identifier: MIT */
/* Data-parallel train steps over MPI (include/clmsd_mpi.h, docs/distributed.md). A call runs in
 * one direction: each rank checks its own input and records the verdict; one MPI_Allgather shares
 * the records, and every rank reaches the same verdict from the same records (so a bad input on
 * one rank fails the call on all of them, and none hangs); then each rank computes its shard's
 * nodes of the canonical tree (a clmsd_head_args.shard call), a second MPI_Allgather shares them,
 * and every rank combines them in the tree's order (clmsd_tree_combine), never in MPI's. */
#include <clmsd_mpi.h>

#include "../../cl/clmsd_constants.h"
#include "../../cl/clmsd_tree.h"
#include "../status.h" /* its macros only: the library's hidden functions are not linked here */

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

enum { MESSAGE = 252 };

/* a rank's verdict on its own part of a call: 256 bytes */
typedef struct verdict {
    int32_t status;
    char message[MESSAGE];
} verdict;

/* The plan the ranks must agree on: every field of clmsd_head_desc in one canonical order, but the
 * engine (compared once AUTO has resolved it, where a rank has rows) and the workspace (NULL on
 * every rank); the K rates as one hash, doubles as their bits. */
/* clang-format off */
#define PLAN_FIELDS(XX)                         \
    XX(batch, d->batch)                         \
    XX(features, d->features)                   \
    XX(classes, d->classes)                     \
    XX(samples, d->samples)                     \
    XX(rates, rates_hash(d))                    \
    XX(loss, d->loss)                           \
    XX(combine, d->combine)                     \
    XX(layers, d->layers)                       \
    XX(layer_rate, bits_of(d->layer_rate))      \
    XX(stream, d->stream)                       \
    XX(x_type, d->x_type)                       \
    XX(dx_type, d->dx_type)                     \
    XX(huber_delta, bits_of(d->huber_delta))
/* clang-format on */
#define PLAN_COUNT(name, value) +1
enum { PLAN_FIELD_COUNT = 0 PLAN_FIELDS(PLAN_COUNT) };
/* A field added to clmsd_head_desc moves one of these: add it to PLAN_FIELDS, then here. */
_Static_assert(sizeof(void *) != 8 ||
                   (sizeof(clmsd_head_desc) == 112 && offsetof(clmsd_head_desc, rates) == 32 &&
                    offsetof(clmsd_head_desc, workspace) == 64 && offsetof(clmsd_head_desc, huber_delta) == 104),
               "clmsd_head_desc changed: compare its new field across ranks (PLAN_FIELDS)");

typedef struct plan_record {
    verdict v;
    uint64_t fields[PLAN_FIELD_COUNT]; /* PLAN_FIELDS' values */
    uint64_t engine, first_row, rows;
} plan_record;

typedef struct step_record {
    verdict v;
    uint64_t seed, step, row_offset, valid, flags;
    uint64_t weights; /* the head's first step: FNV-1a of w and bias as this rank holds them */
} step_record;
_Static_assert(sizeof(step_record) == 304, "CLMSD_MPI_STEP_BYTES counts a 304-byte record");
_Static_assert(sizeof(verdict) == 256, "CLMSD_MPI_STEP_BYTES counts a 256-byte verdict");

enum { WANT_DW = 1, WANT_DBIAS = 2, HAS_BIAS = 4 };

struct clmsd_mpi_head {
    clmsd_context *ctx;
    clmsd_head_desc desc; /* the whole batch; rates NULL (the local head holds them) */
    clmsd_head *local;    /* NULL with 0 rows */
    MPI_Comm comm;
    int ranks, rank;
    size_t first_row, rows;
    uint64_t *first_rows, *row_counts; /* [ranks]: each rank's shard */
    cl_mem node;                       /* the local step's loss sum, dW and db: [1 + C H + C] floats */
    size_t node_floats;                /* 1 + C H + C */
    /* a step's host memory, allocated when planned so that no rank fails between collectives:
     * the records, this rank's verdict and nodes, every rank's ([verdict][node_floats] each),
     * and the combine's pointers and keys */
    step_record *records;
    unsigned char *send, *gathered;
    size_t stride;
    float **values;
    uint64_t *keys;
    float *weights;      /* w [C, H] and bias [C] read back once, on the first step: [node_floats - 1] */
    bool weights_agreed; /* the ranks compared them (the first step got that far) */
    char error[1024];
};

static _Thread_local char thread_error[1024];

/* records the first failure of this rank's part of a call */
static void local_fail(verdict *v, clmsd_status st, const char *fmt, ...)
{
    if (v->status != CLMSD_SUCCESS)
        return;
    v->status = (int32_t)st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
}

/* fails the call on every rank, with the message of the first rank that failed */
static clmsd_status shared_fail(char *error, size_t size, const verdict *v, int rank)
{
    snprintf(error, size, "rank %d: %s", rank, v->message);
    return (clmsd_status)v->status;
}

static clmsd_status fail_here(char *error, size_t size, clmsd_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, size, fmt, ap);
    va_end(ap);
    return st;
}

static clmsd_status mpi_failed(char *error, size_t size, int code, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return fail_here(error, size, CLMSD_ERROR_MPI, "%s failed: %s", what, text);
}

/* the communicator's size and this rank's place in it (local calls: no collective) */
static clmsd_status comm_shape(MPI_Comm comm, int *ranks, int *rank)
{
    int rc = MPI_Comm_size(comm, ranks);
    if (rc != MPI_SUCCESS)
        return mpi_failed(thread_error, sizeof thread_error, rc, "MPI_Comm_size");
    rc = MPI_Comm_rank(comm, rank);
    if (rc != MPI_SUCCESS)
        return mpi_failed(thread_error, sizeof thread_error, rc, "MPI_Comm_size");
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_mpi_split(size_t row_offset, size_t global_batch, int ranks, int rank, size_t *first_row,
                             size_t *rows)
{
    if (!first_row || !rows)
        return fail_here(thread_error, sizeof thread_error, CLMSD_ERROR_INVALID_ARGUMENT,
                         "clmsd_mpi_split: first_row or rows is NULL");
    if (global_batch == 0 || ranks < 1 || rank < 0 || rank >= ranks || row_offset > SIZE_MAX - global_batch)
        return fail_here(thread_error, sizeof thread_error, CLMSD_ERROR_INVALID_SIZE,
                         "clmsd_mpi_split: %zu rows from row %zu over %d ranks, rank %d: need rows > 0, "
                         "0 <= rank < ranks",
                         global_batch, row_offset, ranks, rank);
    /* the nodes of level l (2^l blocks each) that the batch touches, l the smallest giving <= ranks */
    uint64_t j0 = row_offset / CLMSD_ROW_BLOCK, j1 = (row_offset + global_batch - 1) / CLMSD_ROW_BLOCK;
    unsigned l = 0;
    while ((j1 >> l) - (j0 >> l) + 1 > (uint64_t)ranks)
        ++l;
    uint64_t m = (j0 >> l) + (uint64_t)rank, end = row_offset + global_batch;
    uint64_t lo = (m << l) * CLMSD_ROW_BLOCK, hi = ((m + 1) << l) * CLMSD_ROW_BLOCK;
    lo = lo > row_offset ? lo : row_offset;
    hi = hi < end ? hi : end;
    *first_row = lo < end ? (size_t)(lo - row_offset) : global_batch;
    *rows = lo < end ? (size_t)(hi - lo) : 0;
    return CLMSD_SUCCESS;
}

/* FNV-1a over the K drop rates' bits: ranks must drop alike */
/* FNV-1a of the K rates' bits */
static uint64_t bits_of(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static uint64_t rates_hash(const clmsd_head_desc *d)
{
    uint64_t h = 1469598103934665603u;
    for (uint32_t k = 0; k < d->samples; ++k) {
        uint64_t bits = bits_of(d->rates ? d->rates[k] : d->rate);
        for (int i = 0; i < 8; ++i)
            h = (h ^ ((bits >> (8 * i)) & 0xff)) * 1099511628211u;
    }
    return h;
}

static void plan_fields(const clmsd_head_desc *d, uint64_t *out)
{
    size_t i = 0;
#define PLAN_VALUE(name, value) out[i++] = (uint64_t)(value);
    PLAN_FIELDS(PLAN_VALUE)
#undef PLAN_VALUE
}

static const char *const plan_names[PLAN_FIELD_COUNT] = {
#define PLAN_NAME(name, value) #name,
    PLAN_FIELDS(PLAN_NAME)
#undef PLAN_NAME
};

/* a buffer of the rank's context holding `count` elements of 4 bytes after `offset` */
static void check_output(verdict *v, clmsd_context *ctx, const char *name, cl_mem buf, size_t offset, size_t count)
{
    if (!buf)
        return;
    cl_context owner = NULL;
    cl_mem_object_type type = 0;
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(buf, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(buf, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        local_fail(v, CLMSD_ERROR_INVALID_BUFFER, "%s is not a valid buffer (OpenCL error %d)", name, (int)err);
    else if (type != CL_MEM_OBJECT_BUFFER)
        local_fail(v, CLMSD_ERROR_INVALID_BUFFER, "%s is not a buffer (an image or a pipe: CL_MEM_TYPE 0x%x)", name,
                   (unsigned)type);
    else if (owner != clmsd_context_cl_context(ctx))
        local_fail(v, CLMSD_ERROR_INVALID_BUFFER, "%s belongs to another OpenCL context", name);
    else if (offset > size / 4 || count > size / 4 - offset)
        local_fail(v, CLMSD_ERROR_INVALID_BUFFER, "%s holds %zu bytes, %zu elements from element %zu need more", name,
                   size, count, offset);
}

void clmsd_mpi_head_destroy(clmsd_mpi_head *head)
{
    if (!head)
        return;
    clmsd_head_destroy(head->local);
    if (head->node)
        clReleaseMemObject(head->node);
    if (head->comm != MPI_COMM_NULL)
        MPI_Comm_free(&head->comm);
    free(head->first_rows);
    free(head->row_counts);
    free(head->records);
    free(head->weights);
    free(head->send);
    free(head->gathered);
    free(head->values);
    free(head->keys);
    free(head);
}

/* This rank's part of planning: its local head and node buffer, and the record of its plan. */
static void plan_locally(clmsd_mpi_head *h, const clmsd_head_desc *desc, size_t first_row, size_t rows,
                         plan_record *mine)
{
    size_t bytes;
    clmsd_status st = clmsd_head_workspace_size(desc, &bytes); /* validates the whole batch's plan */
    if (st != CLMSD_SUCCESS) {
        local_fail(&mine->v, st, "%s", clmsd_context_last_error(NULL));
        return;
    }
    if (desc->workspace) {
        local_fail(&mine->v, CLMSD_ERROR_INVALID_ARGUMENT, "desc->workspace must be NULL: each rank plans its own");
        return;
    }
    if (first_row > desc->batch || rows > desc->batch - first_row) {
        local_fail(&mine->v, CLMSD_ERROR_INVALID_SIZE, "the shard's rows %zu .. %zu lie outside the batch of %zu",
                   first_row, first_row + rows, desc->batch);
        return;
    }
    *mine = (plan_record){.first_row = first_row, .rows = rows};
    plan_fields(desc, mine->fields);
    size_t ranks = (size_t)h->ranks;
    h->node_floats = 1 + desc->classes * desc->features + desc->classes;
    h->stride = sizeof(verdict) + h->node_floats * sizeof(float);
    h->records = calloc(ranks, sizeof *h->records);
    h->send = calloc(1, h->stride);
    h->gathered = h->stride <= SIZE_MAX / ranks ? malloc(ranks * h->stride) : NULL;
    h->values = calloc(ranks, sizeof *h->values);
    h->keys = calloc(3 * ranks, sizeof *h->keys);
    h->weights = malloc((h->node_floats - 1) * sizeof *h->weights);
    if (!h->records || !h->send || !h->gathered || !h->values || !h->keys || !h->weights || h->stride > INT_MAX) {
        local_fail(&mine->v, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory for the %zu-byte messages of %zu ranks",
                   h->stride, ranks);
        return;
    }
    if (rows == 0)
        return;
    clmsd_head_desc local = *desc;
    local.batch = rows;
    st = clmsd_head_create(h->ctx, &local, &h->local);
    if (st != CLMSD_SUCCESS) {
        local_fail(&mine->v, st, "%s", clmsd_context_last_error(h->ctx));
        return;
    }
    mine->engine = (uint64_t)clmsd_head_engine(h->local);
    cl_int err;
    h->node =
        clCreateBuffer(clmsd_context_cl_context(h->ctx), CL_MEM_READ_WRITE, h->node_floats * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        h->node = NULL;
        local_fail(&mine->v, CLMSD_ERROR_OPENCL, "clCreateBuffer of %zu bytes failed (%d)",
                   h->node_floats * sizeof(float), (int)err);
    }
}

static const char *engine_name(uint64_t engine)
{
    return engine == CLMSD_ENGINE_FUSED ? "fused" : engine == CLMSD_ENGINE_CLBLAST ? "clblast" : "auto";
}

/* The same verdict on every rank: the first rank that failed, else the first disagreement. */
static clmsd_status agree_on_plan(int ranks, const plan_record *all)
{
    char *e = thread_error;
    size_t es = sizeof thread_error;
    for (int r = 0; r < ranks; ++r)
        if (all[r].v.status != CLMSD_SUCCESS)
            return shared_fail(e, es, &all[r].v, r);
    const plan_record *p = &all[0];
    uint64_t next = 0, engine = 0;
    for (int r = 0; r < ranks; ++r) {
        const plan_record *q = &all[r];
        for (int f = 0; f < PLAN_FIELD_COUNT; ++f)
            if (q->fields[f] != p->fields[f])
                return fail_here(e, es, CLMSD_ERROR_INVALID_ARGUMENT,
                                 "ranks disagree on the plan's %s: rank 0 has %#llx, rank %d %#llx (doubles as their "
                                 "bits, the rates as a hash of them): give every rank the same descriptor",
                                 plan_names[f], (unsigned long long)p->fields[f], r, (unsigned long long)q->fields[f]);
        if (q->first_row != next)
            return fail_here(e, es, CLMSD_ERROR_INVALID_SIZE,
                             "the shards do not tile the batch: rank %d starts at row %llu, the ranks before it end "
                             "at %llu",
                             r, (unsigned long long)q->first_row, (unsigned long long)next);
        next += q->rows;
        if (q->rows && engine && q->engine != engine)
            return fail_here(e, es, CLMSD_ERROR_INVALID_ARGUMENT,
                             "ranks disagree on the engine (rank %d: %s, a rank before it: %s): set the same "
                             "desc.engine on every rank",
                             r, engine_name(q->engine), engine_name(engine));
        if (q->rows)
            engine = q->engine;
    }
    if (next != p->fields[0])
        return fail_here(e, es, CLMSD_ERROR_INVALID_SIZE, "the shards hold %llu rows, the batch %llu",
                         (unsigned long long)next, (unsigned long long)p->fields[0]);
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_mpi_head_create(clmsd_context *ctx, const clmsd_head_desc *desc, size_t first_row, size_t rows,
                                   MPI_Comm comm, clmsd_mpi_head **out)
{
    char *e = thread_error;
    size_t es = sizeof thread_error;
    if (comm == MPI_COMM_NULL)
        return fail_here(e, es, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_mpi_head_create: comm is MPI_COMM_NULL");
    if (out)
        *out = NULL;
    int ranks = 0, rank = 0;
    CLMSD__TRY(comm_shape(comm, &ranks, &rank));
    clmsd_mpi_head *h = calloc(1, sizeof *h);
    plan_record mine;
    memset(&mine, 0, sizeof mine);
    plan_record *all = calloc((size_t)ranks, sizeof *all);
    if (h)
        *h = (clmsd_mpi_head){.ctx = ctx,
                              .comm = MPI_COMM_NULL,
                              .ranks = ranks,
                              .rank = rank,
                              .first_row = first_row,
                              .rows = rows,
                              .first_rows = calloc((size_t)ranks, sizeof *h->first_rows),
                              .row_counts = calloc((size_t)ranks, sizeof *h->row_counts)};
    if (!h || !all || !h->first_rows || !h->row_counts)
        local_fail(&mine.v, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
    else if (!out || !ctx || !desc)
        local_fail(&mine.v, CLMSD_ERROR_INVALID_ARGUMENT, "clmsd_mpi_head_create: %s is NULL",
                   !out   ? "out"
                   : !ctx ? "the context"
                          : "desc");
    else
        plan_locally(h, desc, first_row, rows, &mine);
    /* every rank reaches this collective, whatever its own verdict */
    int rc = all ? MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, comm) : MPI_SUCCESS;
    clmsd_status st;
    if (rc != MPI_SUCCESS) {
        st = mpi_failed(e, es, rc, "MPI_Allgather");
        goto fail;
    }
    if (!all) {
        st = fail_here(e, es, CLMSD_ERROR_OUT_OF_MEMORY, "out of host memory");
        goto fail;
    }
    /* the same records, the same verdict: every rank reaches MPI_Comm_dup, or none */
    CLMSD__TRY_GOTO(st, agree_on_plan(ranks, all), fail);
    rc = MPI_Comm_dup(comm, &h->comm);
    if (rc != MPI_SUCCESS) {
        h->comm = MPI_COMM_NULL;
        st = mpi_failed(e, es, rc, "MPI_Comm_dup");
        goto fail;
    }
    h->desc = *desc;
    h->desc.rates = NULL; /* the loss scale needs neither */
    h->desc.rate = 0.0;
    for (int r = 0; r < ranks; ++r) {
        h->first_rows[r] = all[r].first_row;
        h->row_counts[r] = all[r].rows;
    }
    *out = h;
    free(all);
    return CLMSD_SUCCESS;
fail:
    clmsd_mpi_head_destroy(h);
    free(all);
    return st;
}

clmsd_head *clmsd_mpi_head_local(const clmsd_mpi_head *head) { return head ? head->local : NULL; }

void clmsd_mpi_head_shard(const clmsd_mpi_head *head, size_t *first_row, size_t *rows)
{
    if (first_row)
        *first_row = head ? head->first_row : 0;
    if (rows)
        *rows = head ? head->rows : 0;
}

const char *clmsd_mpi_last_error(const clmsd_mpi_head *head) { return head ? head->error : thread_error; }

/* The local call: this rank's rows as a shard of the whole batch, its nodes into h->node. */
static clmsd_head_args local_args(const clmsd_mpi_head *h, const clmsd_head_args *a, const clmsd_head_shard *shard)
{
    size_t ch = h->desc.classes * h->desc.features;
    clmsd_head_args l = *a;
    l.row_offset = a->row_offset + h->first_row;
    l.shard = shard;
    l.ignored = NULL;
    l.loss = h->node;
    l.loss_off = 0;
    l.dw = a->dw ? h->node : NULL;
    l.dw_off = 1;
    l.dbias = a->dbias ? h->node : NULL;
    l.dbias_off = 1 + ch;
    return l;
}

/* CE: the class ids in [0, C) among this rank's targets */
static void count_valid(clmsd_mpi_head *h, const clmsd_head_args *a, step_record *mine)
{
    if (h->desc.loss != CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY || h->rows == 0)
        return;
    int32_t *ids = malloc(h->rows * sizeof *ids);
    cl_int err = ids ? clEnqueueReadBuffer(clmsd_context_queue(h->ctx), a->target, CL_TRUE, a->target_off * 4,
                                           h->rows * 4, ids, 0, NULL, NULL)
                     : CL_OUT_OF_HOST_MEMORY;
    if (err != CL_SUCCESS)
        local_fail(&mine->v, CLMSD_ERROR_OPENCL, "clEnqueueReadBuffer of the targets failed (%d)", (int)err);
    for (size_t b = 0; b < h->rows && err == CL_SUCCESS; ++b)
        mine->valid += ids[b] >= 0 && (uint64_t)ids[b] < h->desc.classes;
    free(ids);
}

/* The head's first step: a hash of w and bias as this rank holds them (every rank, rows or none,
 * must start from the same weights: the ranks compare the hashes once, costing one read of W). */
static void hash_weights(clmsd_mpi_head *h, const clmsd_head_args *a, step_record *mine)
{
    size_t c = h->desc.classes, ch = c * h->desc.features;
    check_output(&mine->v, h->ctx, "w", a->w, a->w_off, ch);
    if (mine->v.status != CLMSD_SUCCESS)
        return;
    if (!a->w) {
        local_fail(&mine->v, CLMSD_ERROR_INVALID_ARGUMENT, "w is NULL");
        return;
    }
    cl_command_queue q = clmsd_context_queue(h->ctx);
    cl_int err = clEnqueueReadBuffer(q, a->w, CL_TRUE, a->w_off * 4, ch * 4, h->weights, 0, NULL, NULL);
    if (err == CL_SUCCESS && a->bias)
        err = clEnqueueReadBuffer(q, a->bias, CL_TRUE, a->bias_off * 4, c * 4, h->weights + ch, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        local_fail(&mine->v, CLMSD_ERROR_OPENCL, "clEnqueueReadBuffer of w and bias failed (%d)", (int)err);
        return;
    }
    const unsigned char *bytes = (const unsigned char *)h->weights;
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < (ch + (a->bias ? c : 0)) * 4; ++i)
        hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
    mine->weights = hash;
}

/* This rank's verdict on a step's arguments, before anything is enqueued anywhere. */
static void check_step(clmsd_mpi_head *h, const clmsd_head_args *a, step_record *mine)
{
    size_t c = h->desc.classes, ch = c * h->desc.features;
    if (!a) {
        local_fail(&mine->v, CLMSD_ERROR_INVALID_ARGUMENT, "the head arguments are NULL");
        return;
    }
    *mine = (step_record){.seed = a->seed,
                          .step = a->step,
                          .row_offset = a->row_offset,
                          .flags = (a->dw ? WANT_DW : 0) | (a->dbias ? WANT_DBIAS : 0) | (a->bias ? HAS_BIAS : 0)};
    if (a->shard)
        local_fail(&mine->v, CLMSD_ERROR_INVALID_ARGUMENT, "args->shard must be NULL: the data-parallel head makes it");
    check_output(&mine->v, h->ctx, "dw", a->dw, a->dw_off, ch);
    check_output(&mine->v, h->ctx, "dbias", a->dbias, a->dbias_off, c);
    check_output(&mine->v, h->ctx, "loss", a->loss, a->loss_off, 1);
    check_output(&mine->v, h->ctx, "ignored", a->ignored, a->ignored_off, 1);
    if (!h->weights_agreed && mine->v.status == CLMSD_SUCCESS)
        hash_weights(h, a, mine);
    if (mine->v.status != CLMSD_SUCCESS || !h->local)
        return;
    clmsd_head_shard any = {.global_batch = h->desc.batch};
    clmsd_head_args l = local_args(h, a, &any);
    clmsd_status st = clmsd_head_check_train_step(h->local, &l);
    if (st != CLMSD_SUCCESS)
        local_fail(&mine->v, st, "%s", clmsd_context_last_error(h->ctx));
    else
        count_valid(h, a, mine);
}

static clmsd_status agree_on_step(clmsd_mpi_head *h, const step_record *all, uint64_t *valid)
{
    *valid = 0;
    for (int r = 0; r < h->ranks; ++r)
        if (all[r].v.status != CLMSD_SUCCESS)
            return shared_fail(h->error, sizeof h->error, &all[r].v, r);
    for (int r = 0; r < h->ranks; ++r) {
        const step_record *p = &all[0], *q = &all[r];
        if (q->seed != p->seed || q->step != p->step || q->row_offset != p->row_offset || q->flags != p->flags)
            return fail_here(h->error, sizeof h->error, CLMSD_ERROR_INVALID_ARGUMENT,
                             "ranks disagree on the step: rank 0 has seed %llu step %llu row_offset %llu outputs %llx, "
                             "rank %d seed %llu step %llu row_offset %llu outputs %llx",
                             (unsigned long long)p->seed, (unsigned long long)p->step,
                             (unsigned long long)p->row_offset, (unsigned long long)p->flags, r,
                             (unsigned long long)q->seed, (unsigned long long)q->step,
                             (unsigned long long)q->row_offset, (unsigned long long)q->flags);
        if (!h->weights_agreed && q->weights != p->weights)
            return fail_here(h->error, sizeof h->error, CLMSD_ERROR_INVALID_ARGUMENT,
                             "ranks disagree on w and bias at the head's first step (rank 0's hash %016llx, rank "
                             "%d's %016llx): every rank must start from the same weights",
                             (unsigned long long)p->weights, r, (unsigned long long)q->weights);
        *valid += q->valid; /* an integer sum: exact in any order */
    }
    h->weights_agreed = true;
    return CLMSD_SUCCESS;
}

/* The local shard call; its nodes (loss sum, dW, db) into `floats`. */
static void run_local(clmsd_mpi_head *h, const clmsd_head_args *a, uint64_t valid, verdict *v, float *floats)
{
    if (!h->local)
        return;
    cl_command_queue q = clmsd_context_queue(h->ctx);
    clmsd_head_shard shard = {.global_batch = h->desc.batch, .valid_ids = valid};
    clmsd_head_args l = local_args(h, a, &shard);
    if (a->accumulate) { /* dx accumulates; the nodes go onto -0.0f, the identity: -0 + x is x */
        float minus_zero = -0.0f;
        cl_int err = clEnqueueFillBuffer(q, h->node, &minus_zero, sizeof minus_zero, 0, h->node_floats * sizeof(float),
                                         0, NULL, NULL);
        if (err != CL_SUCCESS) {
            local_fail(v, CLMSD_ERROR_OPENCL, "clEnqueueFillBuffer failed");
            return;
        }
    }
    clmsd_status st = clmsd_head_train_step(h->local, &l, 0, NULL, NULL);
    if (st != CLMSD_SUCCESS) {
        local_fail(v, st, "%s", clmsd_context_last_error(h->ctx));
        return;
    }
    cl_int err = clEnqueueReadBuffer(q, h->node, CL_TRUE, 0, h->node_floats * sizeof(float), floats, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        local_fail(v, CLMSD_ERROR_OPENCL, "clEnqueueReadBuffer of the step's nodes failed (%d)", (int)err);
}

/* fails the step on this rank alone: its outputs are its own, and no collective follows */
static clmsd_status outputs_failed(clmsd_mpi_head *h, cl_int err)
{
    return fail_here(h->error, sizeof h->error,
                     err == CL_OUT_OF_HOST_MEMORY ? CLMSD_ERROR_OUT_OF_MEMORY : CLMSD_ERROR_OPENCL,
                     "writing the step's outputs failed (OpenCL error %d)", (int)err);
}

/* `count` elements of 4 bytes from element `off` of the caller's buffer, and back */
static clmsd_status read_words(clmsd_mpi_head *h, cl_mem buf, size_t off, size_t count, void *to)
{
    cl_int err = clEnqueueReadBuffer(clmsd_context_queue(h->ctx), buf, CL_TRUE, off * 4, count * 4, to, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return outputs_failed(h, err);
    return CLMSD_SUCCESS;
}

static clmsd_status write_words(clmsd_mpi_head *h, cl_mem buf, size_t off, size_t count, const void *from)
{
    cl_int err =
        clEnqueueWriteBuffer(clmsd_context_queue(h->ctx), buf, CL_TRUE, off * 4, count * 4, from, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return outputs_failed(h, err);
    return CLMSD_SUCCESS;
}

/* accumulate: the caller's dW and db before the step, added to the root's as the single call would */
static clmsd_status add_old(clmsd_mpi_head *h, const clmsd_head_args *a, float *root)
{
    size_t c = h->desc.classes, ch = c * h->desc.features;
    float *old = malloc((ch + c) * sizeof *old);
    if (!old)
        return outputs_failed(h, CL_OUT_OF_HOST_MEMORY);
    clmsd_status st = CLMSD_SUCCESS;
    if (a->dw)
        CLMSD__TRY_GOTO(st, read_words(h, a->dw, a->dw_off, ch, old), done);
    if (a->dbias)
        CLMSD__TRY_GOTO(st, read_words(h, a->dbias, a->dbias_off, c, old + ch), done);
    for (size_t i = 0; i < ch + c; ++i)
        root[1 + i] = old[i] + root[1 + i]; /* the single call's dw + root */
done:
    free(old);
    return st;
}

/* root[0] the loss sum, then dW, then db: into the caller's buffers, as the single call would */
static clmsd_status write_outputs(clmsd_mpi_head *h, const clmsd_head_args *a, float *root, uint64_t valid)
{
    const clmsd_head_desc *d = &h->desc;
    size_t c = d->classes, ch = c * d->features;
    clmsd_head_shard shard = {.global_batch = d->batch, .valid_ids = valid};
    float scale = 0.0f, loss;
    clmsd_status st = clmsd_head_loss_scale(d, &shard, &scale);
    if (st != CLMSD_SUCCESS)
        return fail_here(h->error, sizeof h->error, st, "%s", clmsd_context_last_error(NULL));
    loss = root[0] * scale;
    uint32_t ignored = d->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? (uint32_t)(d->batch - valid) : 0;
    if (a->accumulate && (a->dw || a->dbias))
        CLMSD__TRY(add_old(h, a, root));
    if (a->loss)
        CLMSD__TRY(write_words(h, a->loss, a->loss_off, 1, &loss));
    if (a->ignored)
        CLMSD__TRY(write_words(h, a->ignored, a->ignored_off, 1, &ignored));
    if (a->dw)
        CLMSD__TRY(write_words(h, a->dw, a->dw_off, ch, root + 1));
    if (a->dbias)
        CLMSD__TRY(write_words(h, a->dbias, a->dbias_off, c, root + 1 + ch));
    return CLMSD_SUCCESS;
}

/* The shards' nodes, gathered: [verdict][node_floats] per rank. Combines the ranks with rows in
 * the tree's order; returns the root (in the gathered memory). */
static clmsd_status combine(clmsd_mpi_head *h, const clmsd_head_args *a, float **root)
{
    size_t present = 0;
    for (int r = 0; r < h->ranks; ++r) {
        unsigned char *at = h->gathered + (size_t)r * h->stride;
        verdict v;
        memcpy(&v, at, sizeof v);
        if (v.status != CLMSD_SUCCESS)
            return shared_fail(h->error, sizeof h->error, &v, r);
        if (h->row_counts[r]) {
            h->values[present] = (float *)(void *)(at + sizeof v);
            h->keys[present++] = a->row_offset + h->first_rows[r]; /* global rows: the stream's coordinates */
        }
    }
    clmsd_tree_combine(h->values, h->node_floats, h->keys, h->keys + h->ranks, present);
    *root = h->values[0];
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_mpi_head_train_step(clmsd_mpi_head *h, const clmsd_head_args *args)
{
    if (!h)
        return fail_here(thread_error, sizeof thread_error, CLMSD_ERROR_INVALID_ARGUMENT,
                         "clmsd_mpi_head_train_step: the head is NULL");
    h->error[0] = '\0';
    /* 1. every rank's verdict on its arguments, shared */
    step_record mine;
    memset(&mine, 0, sizeof mine);
    check_step(h, args, &mine);
    int rc = MPI_Allgather(&mine, sizeof mine, MPI_BYTE, h->records, sizeof mine, MPI_BYTE, h->comm);
    if (rc != MPI_SUCCESS)
        return mpi_failed(h->error, sizeof h->error, rc, "MPI_Allgather");
    uint64_t valid = 0;
    CLMSD__TRY(agree_on_step(h, h->records, &valid));
    /* 2. the local shard's nodes, shared */
    verdict v = {0};
    run_local(h, args, valid, &v, (float *)(void *)(h->send + sizeof v));
    memcpy(h->send, &v, sizeof v);
    rc = MPI_Allgather(h->send, (int)h->stride, MPI_BYTE, h->gathered, (int)h->stride, MPI_BYTE, h->comm);
    if (rc != MPI_SUCCESS)
        return mpi_failed(h->error, sizeof h->error, rc, "MPI_Allgather");
    /* 3. the tree's combine on every rank, and the caller's outputs */
    float *root = NULL;
    CLMSD__TRY(combine(h, args, &root));
    return write_outputs(h, args, root, valid);
}
