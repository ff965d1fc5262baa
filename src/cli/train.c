/* SPDX-License-Identifier: MIT */
/* `clmsd train`: trains a multi-sample dropout head on the digits data for several K and shows
 * what more dropout samples buy (docs/paper.md). */
#include "cli.h"
#include "digits.h"
#include "train.h"

#include <clmsd.h>
#include <clmsd_ref.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything one training run needs on the device. */
typedef struct trainer {
    clmsd_context *ctx;
    cl_command_queue queue;
    const train_options *o;
    size_t ntrain, nval, H, B, batches, last_rows; /* last_rows: of the last batch (B, or the part kept) */
    int rank;                                      /* 0 without --mpi; only rank 0 evaluates and reports */
    size_t row_bytes;                              /* of a row of features, stored as --x-type */
    unsigned char *train_x, *val_x, *batch_x;      /* host features, stored as --x-type */
    int32_t *train_y, *val_y, *batch_y;            /* host labels */
    cl_mem x_epoch, y_epoch, x_train, y_train, x_val;
    cl_mem w, b, dw, db, losses, eval_loss, val_logits;
    clmsd_optim *optim; /* of the current run: made afresh for each K */
    clmsd_head *eval_train, *eval_val;
} trainer;

static cl_mem buffer(trainer *t, size_t bytes, const void *data)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(t->ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, &err);
    if (err != CL_SUCCESS)
        fprintf(stderr, "clmsd train: clCreateBuffer(%zu) failed (%d)\n", bytes, err);
    return err == CL_SUCCESS ? m : NULL;
}

/* an OpenCL transfer or fill: 0, or -1 after a message */
static int zero(trainer *t, cl_mem m, size_t bytes)
{
    float z = 0.0f;
    return cli_cl_check(clEnqueueFillBuffer(t->queue, m, &z, sizeof z, 0, bytes, 0, NULL, NULL), "clmsd train",
                        "clEnqueueFillBuffer");
}

static int read_buffer(trainer *t, cl_mem m, size_t bytes, void *out)
{
    return cli_cl_check(clEnqueueReadBuffer(t->queue, m, CL_TRUE, 0, bytes, out, 0, NULL, NULL), "clmsd train",
                        "clEnqueueReadBuffer");
}

static int write_buffer(trainer *t, cl_mem m, size_t bytes, const void *data)
{
    return cli_cl_check(clEnqueueWriteBuffer(t->queue, m, CL_TRUE, 0, bytes, data, 0, NULL, NULL), "clmsd train",
                        "clEnqueueWriteBuffer");
}

/* training loss without dropout, and validation accuracy */
static int evaluate(trainer *t, train_point *p)
{
    clmsd_head_args a = {.x = t->x_train, .w = t->w, .bias = t->b, .target = t->y_train, .loss = t->eval_loss};
    if (cli_check(clmsd_head_forward(t->eval_train, &a, 0, NULL, NULL), t->ctx, "clmsd train", "evaluation"))
        return -1;
    clmsd_head_args v = {.x = t->x_val, .w = t->w, .bias = t->b, .logits = t->val_logits};
    if (cli_check(clmsd_head_predict(t->eval_val, &v, 0, NULL, NULL), t->ctx, "clmsd train", "prediction"))
        return -1;
    float *logits = malloc(t->nval * DIGITS_CLASSES * sizeof *logits);
    if (!logits || read_buffer(t, t->eval_loss, sizeof p->clean_loss, &p->clean_loss) ||
        read_buffer(t, t->val_logits, t->nval * DIGITS_CLASSES * sizeof *logits, logits)) {
        free(logits);
        return -1;
    }
    size_t right = 0;
    for (size_t n = 0; n < t->nval; ++n) {
        int best = 0;
        for (int c = 1; c < DIGITS_CLASSES; ++c)
            if (logits[n * DIGITS_CLASSES + c] > logits[n * DIGITS_CLASSES + best])
                best = c;
        right += best == t->val_y[n];
    }
    free(logits);
    p->val_accuracy = (float)right / (float)t->nval;
    return 0;
}

/* Progress on stderr: a bar redrawn in place on a terminal; in a log (not a terminal), one plain
 * line per finished epoch. */
static void progress(uint32_t samples, int epoch, int epochs, const train_point *last)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (!tty) {
        if (epoch > 0)
            fprintf(stderr, "  K = %u: epoch %d/%d, clean loss %.4f, val acc %.3f\n", (unsigned)samples, epoch, epochs,
                    last ? last->clean_loss : NAN, last ? last->val_accuracy : NAN);
        return;
    }
    char bar[21];
    int filled = 20 * epoch / epochs;
    for (int i = 0; i < 20; ++i)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    fprintf(stderr, "\r  K = %-3u [%s] epoch %d/%d  clean loss %.4f  val acc %.3f ", (unsigned)samples, bar, epoch,
            epochs, last ? last->clean_loss : NAN, last ? last->val_accuracy : NAN);
    if (epoch == epochs)
        fputc('\n', stderr);
    fflush(stderr);
}

/* A run's train steps: of a whole batch, and of the last partial one (--last-batch keep). */
typedef struct run_steps {
    train_step *full, *last;
} run_steps;

/* One iteration: the head's train step on batch `bi` of x, then the optimizer's step on W and b. */
static int iterate(trainer *t, const run_steps *steps, cl_mem x, cl_mem y, size_t bi, int iteration)
{
    /* one loss slot per training iteration; the timing's iterations reuse them */
    size_t slot = (size_t)iteration % (t->batches * (size_t)t->o->epochs);
    clmsd_head_args a = {.seed = t->o->seed,
                         .step = (uint64_t)iteration,
                         .x = x,
                         .x_off = bi * t->B * t->H,
                         .w = t->w,
                         .bias = t->b,
                         .target = y,
                         .target_off = bi * t->B,
                         .loss = t->losses,
                         .loss_off = slot,
                         .dw = t->dw,
                         .dbias = t->db};
    if (train_step_run(bi + 1 == t->batches && steps->last ? steps->last : steps->full, &a))
        return -1;
    return cli_check(clmsd_optim_step(t->optim, &a, t->o->lr, 0, NULL, NULL), t->ctx, "clmsd train",
                     "the optimizer's step");
}

/* Fresh W, b and optimizer (its state zero, at step 0). */
static int reset_head(trainer *t)
{
    clmsd_optim_destroy(t->optim);
    t->optim = NULL;
    clmsd_optim_desc desc = train_optim_desc(t->o);
    if (cli_check(clmsd_optim_create(t->eval_train, &desc, &t->optim), t->ctx, "clmsd train", "clmsd_optim_create"))
        return -1;
    return zero(t, t->w, DIGITS_CLASSES * t->H * 4) || zero(t, t->b, DIGITS_CLASSES * 4) ? -1 : 0;
}

static int load_epoch(trainer *t, int epoch)
{
    size_t *perm = malloc(t->ntrain * sizeof *perm);
    if (!perm)
        return -1;
    digits_permutation(t->o->seed, 1000 + (uint64_t)epoch, t->ntrain, perm); /* same order for every K */
    for (size_t n = 0; n < t->ntrain; ++n) {
        memcpy(t->batch_x + n * t->row_bytes, t->train_x + perm[n] * t->row_bytes, t->row_bytes);
        t->batch_y[n] = t->train_y[perm[n]];
    }
    free(perm);
    return write_buffer(t, t->x_epoch, t->ntrain * t->row_bytes, t->batch_x) ||
                   write_buffer(t, t->y_epoch, t->ntrain * 4, t->batch_y)
               ? -1
               : 0;
}

static void destroy_steps(run_steps *s)
{
    train_step_destroy(s->full);
    train_step_destroy(s->last);
    *s = (run_steps){NULL, NULL};
}

/* The heads of one run: K samples, the options' rates, softmax cross-entropy; 0 or -1. */
static int plan(trainer *t, uint32_t samples, run_steps *out)
{
    const train_options *o = t->o;
    double rates[TRAIN_MAX_RATES * 16];
    for (uint32_t k = 0; k < samples && o->nrates; ++k)
        rates[k] = o->rates[k % o->nrates];
    clmsd_head_desc d = {.batch = t->B,
                         .features = t->H,
                         .classes = DIGITS_CLASSES,
                         .samples = samples,
                         .rates = o->nrates ? rates : NULL,
                         .rate = o->rate,
                         .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                         .combine = o->combine,
                         .engine = o->engine,
                         .stream = o->stream,
                         .x_type = o->x_type,
                         .dx_type = o->x_type};
    *out = (run_steps){train_step_create(t->ctx, &d, o->mpi), NULL};
    d.batch = t->last_rows;
    if (out->full && t->last_rows != t->B)
        out->last = train_step_create(t->ctx, &d, o->mpi);
    if (!out->full || (t->last_rows != t->B && !out->last)) {
        destroy_steps(out);
        return -1;
    }
    return 0;
}

static int train_one(trainer *t, uint32_t samples, train_run *r)
{
    const train_options *o = t->o;
    run_steps steps;
    if (plan(t, samples, &steps))
        return -1;
    int total = o->epochs * (int)t->batches;
    r->samples = samples;
    r->iterations = total;
    r->dropout_loss = calloc((size_t)total, sizeof *r->dropout_loss);
    r->evals = calloc((size_t)total / o->eval_every + o->epochs + 2, sizeof *r->evals);
    r->weights = malloc((DIGITS_CLASSES * t->H + DIGITS_CLASSES) * sizeof *r->weights);
    r->reached = -1;
    int rc = r->dropout_loss && r->evals && r->weights ? reset_head(t) : -1;
    bool evaluates = t->rank == 0; /* the ranks hold the same weights: one evaluates */
    if (rc == 0 && evaluates)
        rc = evaluate(t, &r->evals[r->nevals++]); /* iteration 0: the untrained head */
    int iteration = 0;
    for (int epoch = 0; epoch < o->epochs && rc == 0; ++epoch) {
        if (evaluates)
            progress(samples, epoch, o->epochs, &r->evals[r->nevals - 1]);
        rc = load_epoch(t, epoch);
        for (size_t bi = 0; bi < t->batches && rc == 0; ++bi) {
            rc = iterate(t, &steps, t->x_epoch, t->y_epoch, bi, iteration);
            ++iteration;
            if (rc == 0 && evaluates && (iteration % o->eval_every == 0 || bi + 1 == t->batches)) {
                train_point *p = &r->evals[r->nevals++];
                p->iteration = iteration;
                p->epoch = epoch + 1;
                rc = evaluate(t, p);
                if (r->reached < 0 && p->clean_loss <= o->target)
                    r->reached = iteration;
            }
        }
    }
    if (rc == 0)
        rc = read_buffer(t, t->losses, (size_t)total * 4, r->dropout_loss);
    if (rc == 0)
        rc = read_buffer(t, t->w, DIGITS_CLASSES * t->H * 4, r->weights);
    if (rc == 0)
        rc = read_buffer(t, t->b, DIGITS_CLASSES * 4, r->weights + DIGITS_CLASSES * t->H);
    if (rc == 0 && evaluates)
        progress(samples, o->epochs, o->epochs, &r->evals[r->nevals - 1]);
    destroy_steps(&steps);
    return rc;
}

/* The time per iteration (train step and update), measured after training and side by side: each
 * K's plan first runs untimed (pocl specialises a kernel for its launch size on the first
 * enqueue), then TRAIN_TIMING_ROUNDS rounds each time TIMING_ITERATIONS iterations of every K in
 * turn, so that a slow phase of a shared machine touches every K alike. */
enum { WARMUP_ITERATIONS = 5, TIMING_ITERATIONS = 20 };

static int time_runs(trainer *t, train_run *runs, int nruns)
{
    run_steps steps[TRAIN_MAX_RUNS] = {{NULL, NULL}};
    int rc = 0;
    for (int i = 0; i < nruns && rc == 0; ++i) {
        rc = plan(t, runs[i].samples, &steps[i]);
        for (int it = 0; it < WARMUP_ITERATIONS && rc == 0; ++it)
            rc = iterate(t, &steps[i], t->x_train, t->y_train, (size_t)it % t->batches, it);
    }
    for (int round = 0; round < TRAIN_TIMING_ROUNDS && rc == 0; ++round)
        for (int i = 0; i < nruns && rc == 0; ++i) {
            rc = cli_cl_check(clFinish(t->queue), "clmsd train", "clFinish");
            double start = cli_seconds();
            for (int it = 0; it < TIMING_ITERATIONS && rc == 0; ++it)
                rc = iterate(t, &steps[i], t->x_train, t->y_train, (size_t)it % t->batches, it);
            if (rc == 0)
                rc = cli_cl_check(clFinish(t->queue), "clmsd train", "clFinish");
            runs[i].round_ms[round] = 1e3 * (cli_seconds() - start) / TIMING_ITERATIONS;
        }
    for (int i = 0; i < nruns; ++i)
        destroy_steps(&steps[i]);
    return rc;
}

int clmsd_cli_train(int argc, char **argv)
{
    train_options o;
    int parsed = train_parse(argc, argv, &o);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    if (o.features)
        return train_file(&o, argc, argv);
    digits data;
    if (digits_load(o.data, &data))
        return 1;
    trainer t = {.o = &o, .H = o.hidden, .B = o.batch, .row_bytes = o.hidden * clmsd_type_size(o.x_type)};
    t.nval = data.count / 5;
    t.ntrain = data.count - t.nval;
    t.batches = t.ntrain / t.B;
    t.last_rows = o.keep_last && t.ntrain % t.B ? t.ntrain % t.B : t.B;
    t.batches += t.last_rows != t.B;
    if (t.ntrain < t.B) {
        fprintf(stderr, "clmsd train: --batch %zu is larger than the %zu training samples\n", t.B, t.ntrain);
        digits_free(&data);
        return 2;
    }
    int ranks = 1;
    if (o.mpi && train_mpi_init(&argc, &argv, &t.rank, &ranks)) {
        digits_free(&data);
        return 1;
    }
    /* from here on every failure goes to out, which frees what there is and ends MPI */
    int rc = 1;
    bool agreed_failure = false; /* every rank knows of it: MPI ends normally, no rank waits */
    char options[4096] = "--options (longer than 4 KB: cannot be compared)\n"; /* (they never are) */
    if (o.mpi) {
        train_options_text(&o, digits_hash(&data), options, sizeof options);
        if (train_mpi_agree(options, t.rank, ranks)) {
            rc = 2;
            agreed_failure = true;
        }
    }
    train_run runs[TRAIN_MAX_RUNS] = {{0}};
    int done = 0;
    float *features = NULL;
    unsigned char *stored = NULL;
    size_t *split = NULL;
    if (agreed_failure)
        goto out;
    if (t.rank != 0 && !freopen("/dev/null", "w", stdout)) { /* rank 0 reports */
        fprintf(stderr, "clmsd train: cannot redirect rank %d's output to /dev/null: %s\n", t.rank, strerror(errno));
        goto out;
    }
    if (clmsd_context_create(o.device, &t.ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd train: %s\n", clmsd_context_last_error(NULL));
        goto out;
    }
    t.queue = clmsd_context_queue(t.ctx);
    /* the fixed split and the frozen random features, rounded once to --x-type as a mixed-precision
     * backbone would hand them over */
    features = malloc(data.count * t.H * sizeof *features);
    stored = malloc(data.count * t.row_bytes);
    split = malloc(data.count * sizeof *split);
    t.train_x = malloc(t.ntrain * t.row_bytes);
    t.val_x = malloc(t.nval * t.row_bytes);
    t.batch_x = malloc(t.ntrain * t.row_bytes);
    t.train_y = malloc(t.ntrain * 4);
    t.val_y = malloc(t.nval * 4);
    t.batch_y = malloc(t.ntrain * 4);
    if (!features || !stored || !split || !t.train_x || !t.val_x || !t.batch_x || !t.train_y || !t.val_y || !t.batch_y)
        goto out;
    digits_features(&data, t.H, o.seed, features);
    clmsd_ref_from_float(o.x_type, features, data.count * t.H, stored);
    digits_permutation(o.seed, 0, data.count, split);
    for (size_t n = 0; n < data.count; ++n) {
        bool val = n < t.nval;
        size_t i = val ? n : n - t.nval;
        memcpy((val ? t.val_x : t.train_x) + i * t.row_bytes, stored + split[n] * t.row_bytes, t.row_bytes);
        (val ? t.val_y : t.train_y)[i] = data.label[split[n]];
    }
    clmsd_head_desc eval_train = {.batch = t.ntrain,
                                  .features = t.H,
                                  .classes = DIGITS_CLASSES,
                                  .samples = 1,
                                  .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                                  .combine = CLMSD_AVERAGE_LOSSES,
                                  .x_type = o.x_type};
    clmsd_head_desc eval_val = eval_train;
    eval_val.batch = t.nval;
    if (cli_check(clmsd_head_create(t.ctx, &eval_train, &t.eval_train), t.ctx, "clmsd train", "clmsd_head_create") ||
        cli_check(clmsd_head_create(t.ctx, &eval_val, &t.eval_val), t.ctx, "clmsd train", "clmsd_head_create"))
        goto out;
    t.x_epoch = buffer(&t, t.ntrain * t.row_bytes, NULL);
    t.y_epoch = buffer(&t, t.ntrain * 4, NULL);
    t.x_train = buffer(&t, t.ntrain * t.row_bytes, t.train_x);
    t.y_train = buffer(&t, t.ntrain * 4, t.train_y);
    t.x_val = buffer(&t, t.nval * t.row_bytes, t.val_x);
    t.w = buffer(&t, DIGITS_CLASSES * t.H * 4, NULL);
    t.dw = buffer(&t, DIGITS_CLASSES * t.H * 4, NULL);
    t.b = buffer(&t, DIGITS_CLASSES * 4, NULL);
    t.db = buffer(&t, DIGITS_CLASSES * 4, NULL);
    t.losses = buffer(&t, (size_t)o.epochs * t.batches * 4, NULL);
    t.eval_loss = buffer(&t, 4, NULL);
    t.val_logits = buffer(&t, t.nval * DIGITS_CLASSES * 4, NULL);
    if (!t.x_epoch || !t.y_epoch || !t.x_train || !t.y_train || !t.x_val || !t.w || !t.dw || !t.b || !t.db ||
        !t.losses || !t.eval_loss || !t.val_logits)
        goto out;

    printf("clmsd train on %s\n", clmsd_context_device_name(t.ctx));
    printf(
        "digits (%s): %zu training and %zu validation samples, random ReLU features 64 -> %zu, %zu batches of %zu%s\n",
        o.data, t.ntrain, t.nval, t.H, t.batches, t.B, t.last_rows != t.B ? " (the last one short)" : "");
    if (o.mpi)
        printf("data-parallel over %d MPI ranks (each batch cut by clmsd_mpi_split)\n", ranks);
    static const char *const type_names[] = {"f32", "f16", "bf16"};
    char optimizer[96];
    if (o.optimizer == CLMSD_OPTIM_ADAMW)
        snprintf(optimizer, sizeof optimizer, "AdamW lr %g weight decay %g", o.lr, o.weight_decay);
    else
        snprintf(optimizer, sizeof optimizer, "SGD lr %g momentum %g%s", o.lr, o.momentum,
                 o.weight_decay > 0 ? " with weight decay" : "");
    printf("head: softmax cross-entropy, %s, drop rate %s, %s%s, %d epochs, seed %llu, %s masks, %s features\n",
           o.combine == CLMSD_AVERAGE_LOSSES ? "average losses (paper)" : "average logits (Kaggle)",
           o.nrates ? "per sample (--rates)" : "shared", optimizer, o.max_grad_norm > 0 ? ", clipped" : "", o.epochs,
           (unsigned long long)o.seed, o.stream == CLMSD_STREAM_PHILOX_V1_U8 ? "u8" : "v1", type_names[o.x_type]);
    if (t.rank == 0)
        fprintf(stderr, "compiling kernels (a few seconds; tens of seconds for CLBlast on a cold pocl cache)...\n");
    if (cli_check(clmsd_context_warmup(t.ctx), t.ctx, "clmsd train", "warm-up"))
        goto out;
    for (; done < o.runs; ++done)
        if (train_one(&t, o.samples[done], &runs[done]))
            goto out;
    if (t.rank == 0)
        fprintf(stderr, "timing every K side by side...\n");
    if (time_runs(&t, runs, o.runs))
        goto out;
    for (int i = 0; i < o.runs && t.rank == 0; ++i)
        train_print_run(&o, &runs[i], t.batches);
    if (t.rank == 0)
        train_print_table(&o, runs, o.runs);
    rc = o.out && t.rank == 0 ? (train_write_outputs(&o, runs, o.runs, t.batches, DIGITS_CLASSES, t.H) ? 1 : 0) : 0;
out:
    for (int i = 0; i < TRAIN_MAX_RUNS; ++i) {
        free(runs[i].dropout_loss);
        free(runs[i].evals);
        free(runs[i].weights);
    }
    cl_mem all[] = {t.x_epoch, t.y_epoch, t.x_train, t.y_train, t.x_val,     t.w,
                    t.dw,      t.b,       t.db,      t.losses,  t.eval_loss, t.val_logits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
    clmsd_optim_destroy(t.optim);
    clmsd_head_destroy(t.eval_train);
    clmsd_head_destroy(t.eval_val);
    clmsd_context_destroy(t.ctx);
    void *host[] = {features, stored, split, t.train_x, t.val_x, t.batch_x, t.train_y, t.val_y, t.batch_y};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; ++i)
        free(host[i]);
    digits_free(&data);
    if (o.mpi)
        train_mpi_finish(rc && !agreed_failure);
    return rc;
}
