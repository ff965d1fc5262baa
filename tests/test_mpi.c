/* SPDX-License-Identifier: MIT */
/* Data-parallel train steps (clmsd_mpi.h), run under mpirun by tests/mpi_check.sh on any number
 * of ranks, each on its own device ($CLMSD_DEVICE). Every rank also runs the single-process train
 * step on the whole batch on its own device, and compares:
 *  - exact split (clmsd_mpi_split, the default): loss, ignored, dW, db bit for bit, and the
 *    rank's rows of the mean logits and dX, for every loss and combine mode, with a row offset,
 *    accumulation, and ignored class ids on one rank only;
 *  - even split (--split even: Bg / P rows each, shards that are not tree nodes): two runs give
 *    the same bits; mean logits and dX still exactly; loss, dW, db within the bound of
 *    docs/distributed.md;
 *  - bad input on one rank (shards that do not tile the batch, a plan, a seed or a buffer that
 *    differs): the same status on every rank, and no output written anywhere;
 *  - the bytes each rank hands MPI_Allgather per step (counted through MPI's profiling
 *    interface): CLMSD_MPI_STEP_BYTES.
 * Prints one line per failure and a summary; exits 1 on any failure (on every rank). */
#include <clmsd_mpi.h>
#include <clmsd_ref.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, ranks, failures, checks;
static bool zero_sign_free; /* some rank's device has no fma: +0 and -0 may differ (docs/portability.md) */
static clmsd_context *ctx;
static cl_command_queue queue;

/* MPI's profiling interface: the bytes this rank hands MPI_Allgather */
static size_t allgather_bytes;
int MPI_Allgather(const void *send, int count, MPI_Datatype type, void *recv, int rcount, MPI_Datatype rtype,
                  MPI_Comm comm)
{
    int size = 0;
    MPI_Type_size(type, &size);
    allgather_bytes += (size_t)count * (size_t)size;
    return PMPI_Allgather(send, count, type, recv, rcount, rtype, comm);
}

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        ++checks;                                                               \
        if (!(cond)) {                                                          \
            ++failures;                                                         \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", rank, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

static cl_mem buffer(size_t bytes, const void *data)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes ? bytes : 4, (void *)data, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "rank %d: clCreateBuffer(%zu) failed (%d)\n", rank, bytes, err);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return m;
}

static void fill_buffer(cl_mem m, size_t floats, float value)
{
    if (floats)
        clEnqueueFillBuffer(queue, m, &value, sizeof value, 0, floats * 4, 0, NULL, NULL);
}

static void read_floats(cl_mem m, size_t floats, float *out)
{
    if (floats)
        clEnqueueReadBuffer(queue, m, CL_TRUE, 0, floats * 4, out, 0, NULL, NULL);
}

static bool same(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (zero_sign_free && a == 0.0f && b == 0.0f);
}

/* counts the elements of a and b (n of them) that are not the same bits; the first is reported */
static void check_bits(const char *what, const char *name, const float *a, const float *b, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i)
        if (!same(a[i], b[i]) && bad++ == 0)
            first = i;
    CHECK(bad == 0, "%s: %s differs in %zu of %zu elements, first [%zu]: %.9g against %.9g", what, name, bad, n, first,
          bad ? (double)a[first] : 0.0, bad ? (double)b[first] : 0.0);
}

/* values whose sums depend on their order */
static float value(uint32_t i, uint32_t salt)
{
    uint32_t h = (i + 1) * 2654435761u ^ salt * 40503u;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    return ((float)(h >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

typedef struct test_case {
    clmsd_loss loss;
    clmsd_combine combine;
    size_t batch, features, classes;
    uint32_t samples;
    size_t row_offset;
    int accumulate;
} test_case;

typedef struct step_out {
    float loss;
    uint32_t ignored;
    float *dw, *db, *logits, *dx; /* logits and dx: the rank's rows (MPI) or all rows (single) */
} step_out;

static void free_out(step_out *o) { free(o->dw), free(o->db), free(o->logits), free(o->dx); }

typedef struct inputs {
    float *x, *w, *bias, *ftarget;
    int32_t *ids;
} inputs;

/* the whole batch's inputs, the same on every rank; CE ids ignored (-1, or C) only in the rows of
 * the highest rank that holds rows, so that one rank alone sees them */
static inputs make_inputs(const test_case *t, size_t ignored_lo, size_t ignored_hi)
{
    size_t b = t->batch, h = t->features, c = t->classes;
    inputs in = {malloc(b * h * 4), malloc(c * h * 4), malloc(c * 4), malloc(b * c * 4), malloc(b * 4)};
    for (size_t i = 0; i < b * h; ++i)
        in.x[i] = value((uint32_t)i, 1);
    for (size_t i = 0; i < c * h; ++i)
        in.w[i] = 0.5f * value((uint32_t)i, 2);
    for (size_t i = 0; i < c; ++i)
        in.bias[i] = 0.1f * value((uint32_t)i, 3);
    for (size_t i = 0; i < b * c; ++i)
        in.ftarget[i] = t->loss == CLMSD_LOSS_MSE ? value((uint32_t)i, 4) : 0.5f + 0.5f * value((uint32_t)i, 4);
    for (size_t i = 0; i < b; ++i) {
        bool ignored = i >= ignored_lo && i < ignored_hi && i % 3 == 0;
        in.ids[i] = ignored ? (i % 2 ? -1 : (int32_t)c) : (int32_t)((i * 7 + 3) % c);
    }
    return in;
}

static void free_inputs(inputs *in) { free(in->x), free(in->w), free(in->bias), free(in->ftarget), free(in->ids); }

static clmsd_head_desc desc_of(const test_case *t)
{
    static const double rates[] = {0.5, 0.25, 0.4, 0.1};
    return (clmsd_head_desc){.batch = t->batch,
                             .features = t->features,
                             .classes = t->classes,
                             .samples = t->samples,
                             .rates = rates,
                             .loss = t->loss,
                             .combine = t->combine,
                             .engine = CLMSD_ENGINE_FUSED};
}

/* One train step over rows [lo, lo + rows) of the batch: through the data-parallel head when
 * mh is given, else the single-process head on all rows. The outputs start as 0.25f (what
 * accumulation adds to). */
static clmsd_status run_step(const test_case *t, const inputs *in, clmsd_mpi_head *mh, clmsd_head *single, size_t lo,
                             size_t rows, step_out *o)
{
    size_t h = t->features, c = t->classes;
    bool ce = t->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY;
    cl_mem x = buffer(rows * h * 4, rows ? in->x + lo * h : NULL), w = buffer(c * h * 4, in->w),
           bias = buffer(c * 4, in->bias);
    cl_mem target =
        ce ? buffer(rows * 4, rows ? in->ids + lo : NULL) : buffer(rows * c * 4, rows ? in->ftarget + lo * c : NULL);
    cl_mem loss = buffer(4, NULL), ignored = buffer(4, NULL), dw = buffer(c * h * 4, NULL), db = buffer(c * 4, NULL),
           logits = buffer(rows * c * 4, NULL), dx = buffer(rows * h * 4, NULL);
    fill_buffer(dw, c * h, 0.25f), fill_buffer(db, c, 0.25f), fill_buffer(dx, rows * h, 0.25f);
    fill_buffer(loss, 1, 0.25f), fill_buffer(logits, rows * c, 0.25f);
    clmsd_head_args a = {.seed = 77,
                         .step = 5,
                         .row_offset = t->row_offset,
                         .x = x,
                         .w = w,
                         .bias = bias,
                         .target = target,
                         .loss = loss,
                         .ignored = ignored,
                         .logits = logits,
                         .dx = dx,
                         .dw = dw,
                         .dbias = db,
                         .accumulate = t->accumulate};
    clmsd_status st = mh ? clmsd_mpi_head_train_step(mh, &a) : clmsd_head_train_step(single, &a, 0, NULL, NULL);
    o->dw = malloc(c * h * 4), o->db = malloc(c * 4), o->logits = malloc(rows * c * 4 + 4),
    o->dx = malloc(rows * h * 4 + 4);
    read_floats(loss, 1, &o->loss), read_floats(dw, c * h, o->dw), read_floats(db, c, o->db);
    read_floats(logits, rows * c, o->logits), read_floats(dx, rows * h, o->dx);
    clEnqueueReadBuffer(queue, ignored, CL_TRUE, 0, 4, &o->ignored, 0, NULL, NULL);
    cl_mem all[] = {x, w, bias, target, loss, ignored, dw, db, logits, dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        clReleaseMemObject(all[i]);
    return st;
}

/* rows of rank r under an even split: Bg / P each, the remainder to the first ranks */
static void even_split(size_t batch, int r, size_t *lo, size_t *rows)
{
    size_t base = batch / (size_t)ranks, extra = batch % (size_t)ranks;
    *lo = (size_t)r * base + ((size_t)r < extra ? (size_t)r : extra);
    *rows = base + ((size_t)r < extra);
}

static void shard_of(const test_case *t, bool even, int r, size_t *lo, size_t *rows)
{
    if (even)
        even_split(t->batch, r, lo, rows);
    else
        clmsd_mpi_split(t->row_offset, t->batch, ranks, r, lo, rows);
}

/* |a - b| within the bound of docs/distributed.md for two orders of n terms of absolute sum s */
static void check_close(const char *what, const char *name, const float *a, const float *b, size_t count, double n,
                        const double *abs_sum)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < count; ++i)
        if (fabs((double)a[i] - (double)b[i]) > 2.0 * n * FLT_EPSILON * abs_sum[i] && bad++ == 0)
            first = i;
    CHECK(bad == 0, "%s: %s off by more than the bound in %zu of %zu, first [%zu]: %.9g against %.9g", what, name, bad,
          count, first, bad ? (double)a[first] : 0.0, bad ? (double)b[first] : 0.0);
}

/* The bounds' absolute sums for dW and db: |G| <= gmax (CE 1 / (K' valid), BCE the scale; MSE is
 * left to the exact split), |xd| <= |x| max s_k. */
static void abs_sums(const test_case *t, const inputs *in, uint64_t valid, double *dw, double *db)
{
    double kprime = t->combine == CLMSD_AVERAGE_LOSSES ? t->samples : 1.0, smax = 1.0 / (1.0 - 0.5);
    double gmax = t->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? 1.0 / (kprime * (double)(valid ? valid : 1))
                                                              : 1.0 / (kprime * (double)t->batch * (double)t->classes);
    for (size_t hh = 0; hh < t->features; ++hh) {
        double s = 0.0;
        for (size_t b = 0; b < t->batch; ++b)
            s += fabs((double)in->x[b * t->features + hh]);
        for (size_t c = 0; c < t->classes; ++c)
            dw[c * t->features + hh] = gmax * s * smax * kprime + (t->accumulate ? 0.25 : 0.0);
    }
    for (size_t c = 0; c < t->classes; ++c)
        db[c] = gmax * (double)t->batch * kprime + (t->accumulate ? 0.25 : 0.0);
}

static void run_case(const test_case *t, bool even)
{
    char what[160];
    snprintf(what, sizeof what, "%s, %s, B %zu H %zu C %zu K %u, row offset %zu%s, %s split",
             t->loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? "CE"
             : t->loss == CLMSD_LOSS_BCE_WITH_LOGITS     ? "BCE"
                                                         : "MSE",
             t->combine == CLMSD_AVERAGE_LOSSES ? "average losses" : "average logits", t->batch, t->features,
             t->classes, (unsigned)t->samples, t->row_offset, t->accumulate ? ", accumulate" : "",
             even ? "even" : "exact");
    size_t lo, rows, last_lo = 0, last_rows = 0;
    for (int r = 0; r < ranks; ++r) { /* the highest rank with rows holds the ignored ids */
        shard_of(t, even, r, &lo, &rows);
        if (rows)
            last_lo = lo, last_rows = rows;
    }
    shard_of(t, even, rank, &lo, &rows);
    inputs in = make_inputs(t, last_lo, last_lo + last_rows);
    clmsd_head_desc d = desc_of(t);
    clmsd_head *single = NULL;
    clmsd_mpi_head *mh = NULL;
    clmsd_status st = clmsd_head_create(ctx, &d, &single);
    CHECK(st == CLMSD_SUCCESS, "%s: clmsd_head_create: %s", what, clmsd_context_last_error(ctx));
    st = clmsd_mpi_head_create(ctx, &d, lo, rows, MPI_COMM_WORLD, &mh);
    CHECK(st == CLMSD_SUCCESS, "%s: clmsd_mpi_head_create: %s", what, clmsd_mpi_last_error(NULL));
    if (!single || !mh) {
        clmsd_head_destroy(single), clmsd_mpi_head_destroy(mh), free_inputs(&in);
        return;
    }
    step_out whole = {0}, mine = {0}, again = {0};
    st = run_step(t, &in, NULL, single, 0, t->batch, &whole);
    CHECK(st == CLMSD_SUCCESS, "%s: single-process step: %s", what, clmsd_context_last_error(ctx));
    allgather_bytes = 0;
    st = run_step(t, &in, mh, NULL, lo, rows, &mine);
    CHECK(st == CLMSD_SUCCESS, "%s: data-parallel step: %s", what, clmsd_mpi_last_error(mh));
    CHECK(allgather_bytes == CLMSD_MPI_STEP_BYTES(t->classes, t->features),
          "%s: %zu bytes to MPI_Allgather, CLMSD_MPI_STEP_BYTES says %zu", what, allgather_bytes,
          CLMSD_MPI_STEP_BYTES(t->classes, t->features));
    size_t ch = t->classes * t->features;
    check_bits(what, "mean logits (the rank's rows)", mine.logits, whole.logits + lo * t->classes, rows * t->classes);
    check_bits(what, "dX (the rank's rows)", mine.dx, whole.dx + lo * t->features, rows * t->features);
    CHECK(mine.ignored == whole.ignored, "%s: ignored %u, single process %u", what, mine.ignored, whole.ignored);
    if (!even) {
        check_bits(what, "loss", &mine.loss, &whole.loss, 1);
        check_bits(what, "dW", mine.dw, whole.dw, ch);
        check_bits(what, "db", mine.db, whole.db, t->classes);
    } else {
        st = run_step(t, &in, mh, NULL, lo, rows, &again);
        CHECK(st == CLMSD_SUCCESS, "%s: second data-parallel step: %s", what, clmsd_mpi_last_error(mh));
        check_bits(what, "loss (run twice)", &mine.loss, &again.loss, 1);
        check_bits(what, "dW (run twice)", mine.dw, again.dw, ch);
        check_bits(what, "db (run twice)", mine.db, again.db, t->classes);
        double n = (double)t->batch * t->samples, loss_sum = fabs((double)whole.loss);
        double *sw = malloc(ch * sizeof *sw), *sb = malloc(t->classes * sizeof *sb);
        abs_sums(t, &in, t->batch - whole.ignored, sw, sb);
        check_close(what, "loss", &mine.loss, &whole.loss, 1, n, &loss_sum);
        check_close(what, "dW", mine.dw, whole.dw, ch, n, sw);
        check_close(what, "db", mine.db, whole.db, t->classes, n, sb);
        free(sw), free(sb);
    }
    free_out(&whole), free_out(&mine), free_out(&again);
    clmsd_head_destroy(single), clmsd_mpi_head_destroy(mh), free_inputs(&in);
}

/* Bad input on one rank: the same status everywhere, and nothing written on any rank. */
static void bad_input(void)
{
    test_case t = {CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 64, 24, 5, 2, 0, 0};
    clmsd_head_desc d = desc_of(&t);
    size_t lo, rows;
    clmsd_mpi_split(0, t.batch, ranks, rank, &lo, &rows);
    int culprit = ranks - 1;
    clmsd_mpi_head *mh = NULL;

    /* shards that do not tile the batch */
    clmsd_status st = clmsd_mpi_head_create(ctx, &d, lo,
                                            rank != culprit ? rows
                                            : rows          ? rows - 1
                                                            : 1,
                                            MPI_COMM_WORLD, &mh);
    CHECK(st == CLMSD_ERROR_INVALID_SIZE && !mh && strstr(clmsd_mpi_last_error(NULL), "rows"),
          "shards that do not add up: status %d (%s)", (int)st, clmsd_mpi_last_error(NULL));
    /* a plan that differs on one rank */
    clmsd_head_desc other = d;
    if (rank == culprit)
        other.samples = 3;
    st = clmsd_mpi_head_create(ctx, &other, lo, rows, MPI_COMM_WORLD, &mh);
    CHECK(ranks == 1 ? st == CLMSD_SUCCESS : st == CLMSD_ERROR_INVALID_ARGUMENT && !mh,
          "a plan that differs: status %d (%s)", (int)st, clmsd_mpi_last_error(NULL));
    clmsd_mpi_head_destroy(mh), mh = NULL;
    /* every other field of the plan that differs on one rank, the message naming it */
    static const char *const fields[] = {"huber_delta", "stream", "x_type", "dx_type", "rates", "layer_rate"};
    for (int field = 0; field < 6; ++field) {
        other = d;
        other.loss = field == 0 ? CLMSD_LOSS_HUBER : d.loss;
        other.huber_delta = field == 0 && rank == culprit ? 0.5 : 1.0;
        if (rank == culprit && field == 1)
            other.stream = CLMSD_STREAM_PHILOX_V1_U8; /* (the rates are multiples of 1/256) */
        if (rank == culprit && field == 2)
            other.x_type = CLMSD_FLOAT16;
        if (rank == culprit && field == 3)
            other.dx_type = CLMSD_BFLOAT16;
        if (rank == culprit && field == 4)
            other.rates = NULL, other.rate = 0.25;
        if (rank == culprit && field == 5)
            other.layer_rate = 0.25;
        st = clmsd_mpi_head_create(ctx, &other, lo, rows, MPI_COMM_WORLD, &mh);
        CHECK(ranks == 1
                  ? st == CLMSD_SUCCESS
                  : st == CLMSD_ERROR_INVALID_ARGUMENT && !mh && strstr(clmsd_mpi_last_error(NULL), fields[field]),
              "a plan whose %s differs: status %d (%s)", fields[field], (int)st, clmsd_mpi_last_error(NULL));
        clmsd_mpi_head_destroy(mh), mh = NULL;
    }
    /* an engine that differs on one rank with rows (rank 1: 64 rows over up to 4 ranks): the
     * CLBlast engine's dW is not the tree's */
    other = d;
    if (rank == 1)
        other.engine = CLMSD_ENGINE_CLBLAST;
    st = clmsd_mpi_head_create(ctx, &other, lo, rows, MPI_COMM_WORLD, &mh);
    CHECK(ranks == 1 ? st == CLMSD_SUCCESS
                     : st == CLMSD_ERROR_INVALID_ARGUMENT && !mh && strstr(clmsd_mpi_last_error(NULL), "engine"),
          "an engine that differs: status %d (%s)", (int)st, clmsd_mpi_last_error(NULL));
    clmsd_mpi_head_destroy(mh), mh = NULL;
    /* a bad descriptor on one rank: its own message, on every rank */
    other = d;
    if (rank == culprit)
        other.rate = NAN, other.rates = NULL;
    st = clmsd_mpi_head_create(ctx, &other, lo, rows, MPI_COMM_WORLD, &mh);
    CHECK(st == CLMSD_ERROR_INVALID_RATE && !mh && strstr(clmsd_mpi_last_error(NULL), "rank"),
          "a NaN rate on rank %d: status %d (%s)", culprit, (int)st, clmsd_mpi_last_error(NULL));

    st = clmsd_mpi_head_create(ctx, &d, lo, rows, MPI_COMM_WORLD, &mh);
    CHECK(st == CLMSD_SUCCESS, "clmsd_mpi_head_create: %s", clmsd_mpi_last_error(NULL));
    if (!mh)
        return;
    inputs in = make_inputs(&t, 0, 0);
    size_t h = t.features, c = t.classes;
    cl_mem x = buffer(rows * h * 4 + 4, in.x + lo * h), w = buffer(c * h * 4, in.w),
           target = buffer(rows * 4 + 4, NULL);
    cl_mem dw = buffer(c * h * 4, NULL), small = buffer(4, NULL), dx = buffer(rows * h * 4 + 4, NULL);
    clEnqueueWriteBuffer(queue, target, CL_TRUE, 0, rows * 4, in.ids + lo, 0, NULL, NULL);
    /* the first step with other weights on one rank: refused on every rank, nothing written */
    if (ranks > 1) {
        clmsd_mpi_head *fresh = NULL;
        CHECK(clmsd_mpi_head_create(ctx, &d, lo, rows, MPI_COMM_WORLD, &fresh) == CLMSD_SUCCESS, "a fresh head: %s",
              clmsd_mpi_last_error(NULL));
        cl_mem w2 = buffer(c * h * 4, in.w);
        if (rank == culprit)
            fill_buffer(w2, 1, 0.125f);
        fill_buffer(dw, c * h, 0.75f);
        clmsd_head_args a = {.seed = 1, .step = 2, .x = x, .w = w2, .target = target, .dw = dw};
        st = clmsd_mpi_head_train_step(fresh, &a);
        CHECK(st == CLMSD_ERROR_INVALID_ARGUMENT && strstr(clmsd_mpi_last_error(fresh), "w and bias"),
              "other weights on rank %d: status %d (%s)", culprit, (int)st, clmsd_mpi_last_error(fresh));
        float *got = malloc(c * h * 4);
        read_floats(dw, c * h, got);
        size_t touched = 0;
        for (size_t i = 0; i < c * h; ++i)
            touched += got[i] != 0.75f;
        CHECK(touched == 0, "other weights: %zu dW elements written", touched);
        free(got);
        clReleaseMemObject(w2);
        clmsd_mpi_head_destroy(fresh);
    }
    for (int trial = 0; trial < 3; ++trial) {
        fill_buffer(dw, c * h, 0.75f), fill_buffer(dx, rows * h + 1, 0.75f);
        clmsd_head_args a = {.seed = 1, .step = 2, .x = x, .w = w, .target = target, .dw = dw, .dx = dx};
        clmsd_status want = CLMSD_ERROR_INVALID_ARGUMENT;
        if (rank == culprit && trial == 0)
            a.seed = 2; /* a seed that differs */
        if (rank == culprit && trial == 1)
            a.dw = small, want = CLMSD_ERROR_INVALID_BUFFER; /* a dW buffer too small */
        if (rank == culprit && trial == 2)
            a.shard = &(clmsd_head_shard){64, 0}; /* a shard of its own */
        if (trial == 1)
            want = CLMSD_ERROR_INVALID_BUFFER;
        st = clmsd_mpi_head_train_step(mh, &a);
        if (ranks == 1 && trial == 0)
            want = CLMSD_SUCCESS;
        CHECK(st == want, "bad step %d on rank %d: status %d (%s), want %d", trial, culprit, (int)st,
              clmsd_mpi_last_error(mh), (int)want);
        if (want == CLMSD_SUCCESS)
            continue;
        float *got = malloc((c * h + rows * h + 1) * 4);
        read_floats(dw, c * h, got), read_floats(dx, rows * h + 1, got + c * h);
        size_t touched = 0;
        for (size_t i = 0; i < c * h + rows * h + 1; ++i)
            touched += got[i] != 0.75f;
        CHECK(touched == 0, "bad step %d: %zu output elements written", trial, touched);
        free(got);
    }
    CHECK(clmsd_mpi_head_train_step(NULL, NULL) == CLMSD_ERROR_INVALID_ARGUMENT, "a NULL head");
    cl_mem all[] = {x, w, target, dw, small, dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        clReleaseMemObject(all[i]);
    free_inputs(&in);
    clmsd_mpi_head_destroy(mh);
}

/* clmsd_mpi_split: pieces that tile the batch, at most P of them, each within one node of 16 * 2^l
 * rows (the same l for all), l the smallest that does */
static void split_rule(void)
{
    for (size_t offset = 0; offset < 100; offset += 19)
        for (size_t batch = 1; batch < 300; batch += 7)
            for (int p = 1; p <= 8; ++p) {
                size_t node = 16, next = 0, pieces = 0; /* the smallest node size that gives <= p pieces */
                while ((offset + batch - 1) / node - offset / node + 1 > (size_t)p)
                    node *= 2;
                for (int r = 0; r < p; ++r) {
                    size_t lo, rows;
                    CHECK(clmsd_mpi_split(offset, batch, p, r, &lo, &rows) == CLMSD_SUCCESS, "split %zu %d %d", batch,
                          p, r);
                    CHECK(lo == next, "split of %zu + %zu over %d: rank %d starts at %zu, not %zu", offset, batch, p, r,
                          lo, next);
                    size_t a = offset + lo, b = offset + lo + rows; /* global rows [a, b): all of one node's */
                    CHECK(rows == 0 || ((a % node == 0 || a == offset) && (b % node == 0 || b == offset + batch) &&
                                        a / node == (b - 1) / node),
                          "split of %zu + %zu over %d: rank %d's rows %zu + %zu are not those of a node of %zu", offset,
                          batch, p, r, lo, rows, node);
                    next += rows, pieces += rows > 0;
                }
                CHECK(next == batch && pieces <= (size_t)p, "split of %zu + %zu over %d: %zu rows in %zu pieces",
                      offset, batch, p, next, pieces);
            }
    size_t lo, rows;
    CHECK(clmsd_mpi_split(0, 0, 2, 0, &lo, &rows) == CLMSD_ERROR_INVALID_SIZE, "an empty batch");
    CHECK(clmsd_mpi_split(0, 64, 2, 2, &lo, &rows) == CLMSD_ERROR_INVALID_SIZE, "rank past the ranks");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    bool even = argc > 2 && !strcmp(argv[1], "--split") && !strcmp(argv[2], "even");
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "rank %d: %s\n", rank, clmsd_context_last_error(NULL));
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    queue = clmsd_context_queue(ctx);
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmsd_context_device(ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    int no_fma = !(fp & CL_FP_FMA), any_no_fma = 0;
    MPI_Allreduce(&no_fma, &any_no_fma, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    zero_sign_free = any_no_fma;
    printf("rank %d of %d: %s, %s tiling%s\n", rank, ranks, clmsd_context_device_name(ctx), clmsd_context_tiling(ctx),
           no_fma ? ", no fma" : "");
    fflush(stdout);

    const test_case cases[] = {
        {CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 64, 40, 7, 3, 0, 0},
        {CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOGITS, 64, 40, 7, 3, 0, 0},
        {CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOSSES, 64, 40, 7, 3, 0, 0},
        {CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 64, 40, 7, 3, 0, 0},
        {CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOSSES, 64, 40, 7, 3, 0, 0},
        {CLMSD_LOSS_MSE, CLMSD_AVERAGE_LOGITS, 64, 40, 7, 3, 0, 0},
        /* a batch that ends in a part block, a row offset of two blocks, accumulation */
        {CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, CLMSD_AVERAGE_LOSSES, 100, 33, 10, 4, 32, 1},
        {CLMSD_LOSS_BCE_WITH_LOGITS, CLMSD_AVERAGE_LOGITS, 100, 33, 10, 4, 32, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (!even || cases[i].loss != CLMSD_LOSS_MSE)
            run_case(&cases[i], even);
    if (!even) {
        bad_input();
        split_rule();
    }

    int mine = failures, total = 0, all_checks = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&checks, &all_checks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi: %d ranks, %s split: %d checks, %d failed\n", ranks, even ? "even" : "exact", all_checks,
               total);
    clmsd_context_destroy(ctx);
    MPI_Finalize();
    return total ? 1 : 0;
}
