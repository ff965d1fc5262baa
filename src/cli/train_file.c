/* SPDX-License-Identifier: MIT */
/* `clmsd train --features FILE`: one multi-sample dropout head (plain, or pooled over the file's L
 * layers) trained on a safetensors file's rows with the library's optimizer and a learning-rate
 * schedule, validated after every epoch, checkpointed, and resumable bit for bit
 * (docs/training.md). The next batch's rows are gathered from the mapped file and their copy to
 * the device enqueued while the device still runs the current step: two staging buffers in turn. */
#include "checkpoint.h"
#include "cli.h"
#include "features_file.h"
#include "metrics.h"
#include "predict.h"
#include "train.h"

#include <clmsd.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digits.h" /* digits_permutation: the digits run's epoch order, drawn the same way */

typedef struct file_trainer {
    const train_options *o;
    features f;
    clmsd_context *ctx;
    cl_command_queue queue;
    int rank, ranks;
    size_t B, C, H, L, batches, last_rows; /* L: 0 for the plain head */
    train_step *full, *last;
    clmsd_optim *optim;
    cl_mem x[2], y[2], w, b, lw, dw, db, dlw, losses;
    cl_event written[2];       /* the copy out of staging buffer i, until it is free again */
    unsigned char *stage_x[2]; /* host staging: the batch's rows as the file stores them */
    unsigned char *stage_y[2];
    size_t *perm, *rows;
    uint64_t step, total_steps;
    int epoch;       /* epochs done */
    FILE *steps_csv; /* --out DIR/steps.csv: each step's training loss (rank 0) */
    char options[8192];
} file_trainer;

static cl_mem buffer(file_trainer *t, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(t->ctx), CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS)
        fprintf(stderr, "clmsd train: clCreateBuffer(%zu) failed (%d)\n", bytes, err);
    return err == CL_SUCCESS ? m : NULL;
}

static int read_floats(file_trainer *t, cl_mem m, size_t n, float *out)
{
    return n ? cli_cl_check(clEnqueueReadBuffer(t->queue, m, CL_TRUE, 0, n * 4, out, 0, NULL, NULL), "clmsd train",
                            "clEnqueueReadBuffer")
             : 0;
}

static int write_floats(file_trainer *t, cl_mem m, size_t n, const float *v)
{
    return n ? cli_cl_check(clEnqueueWriteBuffer(t->queue, m, CL_TRUE, 0, n * 4, v, 0, NULL, NULL), "clmsd train",
                            "clEnqueueWriteBuffer")
             : 0;
}

/* the head of the file's shape and the options; its steps, the optimizer and the buffers */
static int plan(file_trainer *t)
{
    const train_options *o = t->o;
    double rates[TRAIN_MAX_RATES * 16];
    for (uint32_t k = 0; k < o->samples[0] && o->nrates; ++k)
        rates[k] = o->rates[k % o->nrates];
    clmsd_head_desc desc = {.batch = t->B,
                            .features = t->H,
                            .classes = t->C,
                            .samples = o->samples[0],
                            .rates = o->nrates ? rates : NULL,
                            .rate = o->rate,
                            .loss = (clmsd_loss)t->f.loss,
                            .combine = o->combine,
                            .engine = o->engine,
                            .layers = t->L,
                            .layer_rate = t->L ? o->layer_rate : 0,
                            .stream = o->stream,
                            .x_type = t->f.type,
                            .dx_type = t->f.type};
    /* the optimizer is made for a head of the run's shape, and keeps only its context */
    clmsd_head *shape;
    clmsd_optim_desc od = train_optim_desc(o);
    if (cli_check(clmsd_head_create(t->ctx, &desc, &shape), t->ctx, "clmsd train", "planning the head"))
        return -1;
    int failed = cli_check(clmsd_optim_create(shape, &od, &t->optim), t->ctx, "clmsd train", "clmsd_optim_create");
    clmsd_head_destroy(shape);
    if (failed)
        return -1;
    t->full = train_step_create(t->ctx, &desc, o->mpi);
    clmsd_head_desc last = desc;
    last.batch = t->last_rows;
    if (t->full && t->last_rows != t->B)
        t->last = train_step_create(t->ctx, &last, o->mpi);
    if (!t->full || (t->last_rows != t->B && !t->last))
        return -1;
    size_t yb = features_target_bytes(&t->f), CH = t->C * t->H;
    for (int i = 0; i < 2; ++i) {
        t->x[i] = buffer(t, t->B * t->f.row_bytes);
        t->y[i] = buffer(t, t->B * yb);
        t->stage_x[i] = malloc(t->B * t->f.row_bytes);
        t->stage_y[i] = malloc(t->B * yb);
        if (!t->x[i] || !t->y[i] || !t->stage_x[i] || !t->stage_y[i])
            return -1;
    }
    t->w = buffer(t, CH * 4), t->dw = buffer(t, CH * 4);
    t->b = buffer(t, t->C * 4), t->db = buffer(t, t->C * 4);
    t->lw = buffer(t, t->L * 4), t->dlw = buffer(t, t->L * 4);
    t->losses = buffer(t, t->batches * 4);
    t->perm = malloc(t->f.ntrain * sizeof *t->perm);
    t->rows = malloc(t->B * sizeof *t->rows);
    return t->w && t->dw && t->b && t->db && t->lw && t->dlw && t->losses && t->perm && t->rows ? 0 : -1;
}

/* a fresh head (W, b and layer weights zero: the layers start equal) and optimizer, or the
 * checkpoint's */
static int start(file_trainer *t)
{
    float *zeros = calloc(t->C * t->H + t->C + t->L + 1, sizeof *zeros);
    if (!zeros)
        return -1;
    int rc = write_floats(t, t->w, t->C * t->H, zeros) || write_floats(t, t->b, t->C, zeros) ||
                     write_floats(t, t->lw, t->L, zeros)
                 ? -1
                 : 0;
    free(zeros);
    if (rc || !t->o->resume)
        return rc;
    checkpoint c;
    if (checkpoint_read(t->o->checkpoint, 1, &c))
        return -1;
    if (strcmp(c.options, t->options)) {
        const char *a = c.options, *b = t->options;
        while (*a && *a == *b) /* to the start of the first line that differs */
            ++a, ++b;
        while (a > c.options && a[-1] != '\n')
            --a, --b;
        fprintf(stderr,
                "clmsd train: --resume: %s was written by a run with other options or data (\"%.*s\" there, "
                "\"%.*s\" here); a checkpoint continues only its own run: every option but --device, --out, "
                "--checkpoint, --stop-after and the number of MPI ranks the same, and the same features file\n",
                t->o->checkpoint, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
        rc = -1;
    } else if (c.classes != t->C || c.features != t->H || c.layers != t->L ||
               c.nmoments != clmsd_optim_state_floats(t->optim)) {
        fprintf(stderr, "clmsd train: --resume: %s holds a head of another shape\n", t->o->checkpoint);
        rc = -1;
    } else if (write_floats(t, t->w, t->C * t->H, c.weight) || write_floats(t, t->b, t->C, c.bias) ||
               write_floats(t, t->lw, t->L, c.layer_weights) ||
               cli_check(clmsd_optim_write_state(t->optim, c.step, c.moments, c.nmoments), t->ctx, "clmsd train",
                         "restoring the optimizer")) {
        rc = -1;
    } else {
        t->epoch = (int)c.epoch;
        t->step = c.step;
        if (t->rank == 0)
            printf("resumed from %s after epoch %d (optimizer step %" PRIu64 ")\n", t->o->checkpoint, t->epoch,
                   t->step);
    }
    checkpoint_free(&c);
    return rc;
}

/* Gathers batch bi's rows (this rank's, with --mpi) into staging buffer bi % 2 and enqueues their
 * copy to the device without waiting for it; the buffer is free once the copy it last fed ended. */
static int stage(file_trainer *t, size_t bi, const train_step *step)
{
    int s = (int)(bi % 2);
    if (t->written[s]) {
        cl_int err = clWaitForEvents(1, &t->written[s]);
        clReleaseEvent(t->written[s]);
        t->written[s] = NULL;
        if (cli_cl_check(err, "clmsd train", "waiting for a batch's copy"))
            return -1;
    }
    size_t first, rows, xb = t->f.row_bytes, yb = features_target_bytes(&t->f);
    train_step_rows(step, &first, &rows);
    if (rows == 0)
        return 0;
    const size_t *batch_rows = t->perm + bi * t->B + first;
    for (size_t i = 0; i < rows; ++i)
        t->rows[i] = t->f.train[batch_rows[i]];
    features_gather(&t->f, t->rows, rows, t->stage_x[s], t->stage_y[s]);
    return cli_cl_check(
               clEnqueueWriteBuffer(t->queue, t->x[s], CL_FALSE, first * xb, rows * xb, t->stage_x[s], 0, NULL, NULL),
               "clmsd train", "clEnqueueWriteBuffer") ||
                   cli_cl_check(clEnqueueWriteBuffer(t->queue, t->y[s], CL_FALSE, first * yb, rows * yb, t->stage_y[s],
                                                     0, NULL, &t->written[s]),
                                "clmsd train", "clEnqueueWriteBuffer")
               ? -1
               : 0;
}

/* batch bi's train step and optimizer step (the batch's copy is ahead of them in the queue) */
static int iterate(file_trainer *t, size_t bi, const train_step *step)
{
    int s = (int)(bi % 2);
    clmsd_head_args a = {.seed = t->o->seed,
                         .step = t->step,
                         .x = t->x[s],
                         .w = t->w,
                         .bias = t->b,
                         .target = t->y[s],
                         .loss = t->losses,
                         .loss_off = bi,
                         .dw = t->dw,
                         .dbias = t->db};
    if (t->L) {
        a.x_row_stride = t->L * t->H, a.x_layer_stride = t->H; /* [B, L, H] as gathered */
        a.layer_weights = t->lw, a.dlayer_weights = t->dlw;
    }
    if (train_step_run((train_step *)step, &a))
        return -1;
    double lr = train_lr(t->o, t->step, t->total_steps);
    ++t->step;
    return cli_check(clmsd_optim_step(t->optim, &a, lr, 0, NULL, NULL), t->ctx, "clmsd train", "the optimizer's step");
}

static void progress_bar(int epoch, int epochs, size_t done, size_t batches)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (!tty || (done % (batches / 40 + 1) && done != batches))
        return;
    char bar[41];
    size_t filled = 40 * done / batches;
    for (size_t i = 0; i < 40; ++i)
        bar[i] = i < filled ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\r  epoch %d/%d [%s] %zu/%zu%s", epoch, epochs, bar, done, batches, done == batches ? "\r" : "");
    if (done == batches)
        fprintf(stderr, "%*s\r", 80, "");
    fflush(stderr);
}

/* the head's current W, b and layer weights, and the optimizer's state, as a checkpoint */
static int snapshot(file_trainer *t, checkpoint *c)
{
    *c = (checkpoint){.classes = t->C,
                      .features = t->H,
                      .layers = t->L,
                      .loss = t->f.loss,
                      .samples = t->o->samples[0],
                      .epoch = (uint64_t)t->epoch,
                      .options = t->options,
                      .nmoments = clmsd_optim_state_floats(t->optim)};
    c->weight = malloc(t->C * t->H * 4);
    c->bias = malloc(t->C * 4);
    c->layer_weights = malloc(t->L * 4 + 4);
    c->moments = malloc(c->nmoments * 4 + 4);
    if (!c->weight || !c->bias || !c->layer_weights || !c->moments)
        return -1;
    return read_floats(t, t->w, t->C * t->H, c->weight) || read_floats(t, t->b, t->C, c->bias) ||
                   read_floats(t, t->lw, t->L, c->layer_weights) ||
                   cli_check(clmsd_optim_read_state(t->optim, &c->step, c->moments, c->nmoments), t->ctx, "clmsd train",
                             "reading the optimizer's state")
               ? -1
               : 0;
}

typedef struct epoch_report {
    double lr, train_loss, seconds;
    metrics val, train; /* train: with --eval-train, on the training rows without dropout */
} epoch_report;

/* the metrics of the head (without dropout) on rows[0..n) of the file */
static int evaluate(file_trainer *t, const size_t *rows, size_t n, metrics *m)
{
    float *logits = malloc((n * t->C + 1) * sizeof *logits), *targets = NULL;
    int32_t *labels = NULL;
    int rc = logits ? predict_logits(t->ctx, &t->f, t->C, rows, n, t->B > 256 ? t->B : 256, t->w, t->b, t->lw, logits,
                                     "clmsd train")
                    : -1;
    if (rc == 0 && t->f.labels && (labels = malloc((n + 1) * sizeof *labels)))
        for (size_t i = 0; i < n; ++i)
            labels[i] = t->f.labels[rows[i]];
    if (rc == 0 && t->f.targets && (targets = malloc((n * t->C + 1) * sizeof *targets)))
        for (size_t i = 0; i < n; ++i)
            memcpy(targets + i * t->C, t->f.targets + rows[i] * t->C, t->C * sizeof *targets);
    if (rc == 0 && (labels || targets))
        *m = metrics_of(t->f.loss, logits, labels, targets, n, t->C);
    else
        rc = -1;
    free(logits);
    free(labels);
    free(targets);
    return rc;
}

/* the mean training loss of the epoch's batches, and the metrics on the validation rows */
static int report(file_trainer *t, epoch_report *r)
{
    float *losses = malloc(t->batches * sizeof *losses);
    int rc = losses ? read_floats(t, t->losses, t->batches, losses) : -1;
    double sum = 0;
    for (size_t i = 0; rc == 0 && i < t->batches; ++i) {
        sum += losses[i];
        if (t->steps_csv)
            fprintf(t->steps_csv, "%" PRIu64 ",%d,%.9g\n", t->step - t->batches + i + 1, t->epoch, (double)losses[i]);
    }
    r->train_loss = sum / (double)t->batches;
    if (rc == 0)
        rc = evaluate(t, t->f.val, t->f.nval, &r->val);
    if (rc == 0 && t->o->eval_train)
        rc = evaluate(t, t->f.train, t->f.ntrain, &r->train);
    free(losses);
    return rc;
}

static void print_epoch(const file_trainer *t, const epoch_report *r, FILE *csv)
{
    char val[160] = "";
    if (t->f.nval && t->f.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY)
        snprintf(val, sizeof val, "  val loss %.4f  accuracy %.4f", r->val.loss, r->val.accuracy);
    else if (t->f.nval)
        snprintf(val, sizeof val, "  val loss %.4f  Spearman %.4f  Pearson %.4f", r->val.loss, r->val.spearman,
                 r->val.pearson);
    char clean[48] = "";
    if (t->o->eval_train)
        snprintf(clean, sizeof clean, " (clean %.4f)", r->train.loss);
    printf("epoch %d/%d  step %" PRIu64 "  lr %.3g  train loss %.4f%s%s  (%.2f s, %.3f ms a step)\n", t->epoch,
           t->o->epochs, t->step, r->lr, r->train_loss, clean, val, r->seconds, 1e3 * r->seconds / (double)t->batches);
    fflush(stdout);
    if (csv)
        fprintf(csv, "%d,%" PRIu64 ",%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.6f,%.9g\n", t->epoch, t->step, r->lr,
                r->train_loss, r->val.loss, r->val.accuracy, r->val.spearman, r->val.pearson, r->seconds,
                t->o->eval_train ? r->train.loss : NAN);
}

static void print_header(const file_trainer *t)
{
    const train_options *o = t->o;
    static const char *const losses[] = {"softmax cross-entropy", "BCE with logits", "MSE", "Huber"};
    static const char *const types[] = {"F32", "F16", "BF16"};
    printf("clmsd train on %s\n", clmsd_context_device_name(t->ctx));
    printf("%s: %zu rows of %s features [%zu%s%.0zu, %zu] (%s), %zu %s; %zu train, %zu validation rows\n", o->features,
           t->f.rows, types[t->f.type], t->f.rows, t->L ? ", " : "", t->L, t->H,
           t->L ? "the pooled head over L layers" : "the plain head", t->C,
           t->f.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? "classes" : "targets", t->f.ntrain, t->f.nval);
    printf("head: %s, K = %u at drop rate %g%s, %s; %zu batches of %zu%s; %s lr %g%s, %s schedule, warm-up %d; "
           "%d epochs, seed %" PRIu64 "\n",
           losses[t->f.loss], (unsigned)o->samples[0], o->rate, t->L ? " (layers 0.1)" : "",
           o->combine == CLMSD_AVERAGE_LOSSES ? "average losses" : "average logits", t->batches, t->B,
           t->last_rows != t->B ? " (the last one short)" : "", o->optimizer == CLMSD_OPTIM_ADAMW ? "AdamW" : "SGD",
           o->lr, o->max_grad_norm > 0 ? " clipped" : "",
           o->schedule == SCHEDULE_CONSTANT ? "constant"
           : o->schedule == SCHEDULE_LINEAR ? "linear"
                                            : "cosine",
           o->warmup, o->epochs, o->seed);
    if (o->mpi)
        printf("data-parallel over %d MPI ranks (each batch cut by clmsd_mpi_split)\n", t->ranks);
}

static int run(file_trainer *t)
{
    if (plan(t) || start(t))
        return -1;
    int end = t->o->stop_after ? t->o->stop_after : t->o->epochs;
    if (t->epoch >= end) {
        if (t->rank == 0)
            printf("%s has trained %d epochs already: nothing to do\n", t->o->checkpoint, t->epoch);
        return 0;
    }
    FILE *csv = NULL;
    char path[4200];
    if (t->o->out && t->rank == 0) {
        snprintf(path, sizeof path, "%s/epochs.csv", t->o->out);
        if (mkdir(t->o->out, 0777) && errno != EEXIST) {
            fprintf(stderr, "clmsd train: cannot create %s: %s\n", t->o->out, strerror(errno));
            return -1;
        }
        if (!(csv = fopen(path, t->o->resume ? "a" : "w"))) {
            fprintf(stderr, "clmsd train: cannot write %s: %s\n", path, strerror(errno));
            return -1;
        }
        if (!t->o->resume)
            fprintf(csv, "epoch,step,lr,train_loss,val_loss,val_accuracy,val_spearman,val_pearson,seconds,"
                         "clean_train_loss\n");
        snprintf(path, sizeof path, "%s/steps.csv", t->o->out);
        if (!(t->steps_csv = fopen(path, t->o->resume ? "a" : "w"))) {
            fprintf(stderr, "clmsd train: cannot write %s: %s\n", path, strerror(errno));
            fclose(csv);
            return -1;
        }
        if (!t->o->resume)
            fprintf(t->steps_csv, "step,epoch,loss\n");
    }
    int rc = 0;
    while (rc == 0 && t->epoch < end) {
        double started = cli_seconds();
        epoch_report r = {0};
        digits_permutation(t->o->seed, 1000 + (uint64_t)t->epoch, t->f.ntrain, t->perm);
        rc = stage(t, 0, t->batches == 1 && t->last ? t->last : t->full);
        for (size_t bi = 0; bi < t->batches && rc == 0; ++bi) {
            const train_step *step = bi + 1 == t->batches && t->last ? t->last : t->full;
            rc = iterate(t, bi, step);
            if (rc == 0 && bi + 1 < t->batches) /* the next batch's copy, while this one computes */
                rc = stage(t, bi + 1, bi + 2 == t->batches && t->last ? t->last : t->full);
            if (t->rank == 0)
                progress_bar(t->epoch + 1, t->o->epochs, bi + 1, t->batches);
        }
        if (rc == 0)
            rc = cli_cl_check(clFinish(t->queue), "clmsd train", "clFinish");
        ++t->epoch;
        r.seconds = cli_seconds() - started;
        r.lr = train_lr(t->o, t->step - 1, t->total_steps); /* the epoch's last step's */
        checkpoint c = {0};
        if (rc == 0 && t->rank == 0 && (t->o->checkpoint || (t->o->out && t->epoch == end)))
            rc = snapshot(t, &c);
        if (rc == 0 && t->rank == 0 && t->o->checkpoint)
            rc = checkpoint_write(t->o->checkpoint, &c);
        if (rc == 0 && t->rank == 0 && t->o->out && t->epoch == end)
            rc = checkpoint_write(t->o->out, &c);
        checkpoint_free(&c);
        if (rc == 0 && t->rank == 0 && (rc = report(t, &r)) == 0)
            print_epoch(t, &r, csv);
    }
    int closed = (!csv || fclose(csv) == 0) & (!t->steps_csv || fclose(t->steps_csv) == 0);
    t->steps_csv = NULL;
    if (!closed && rc == 0) {
        fprintf(stderr, "clmsd train: cannot write %s's CSV files\n", t->o->out);
        rc = -1;
    }
    if (rc == 0 && t->rank == 0 && t->o->out)
        printf("wrote %s/head.safetensors, optimizer.safetensors, epochs.csv and steps.csv\n", t->o->out);
    return rc;
}

static void destroy(file_trainer *t)
{
    for (int i = 0; i < 2; ++i) {
        if (t->written[i]) {
            clWaitForEvents(1, &t->written[i]);
            clReleaseEvent(t->written[i]);
        }
        free(t->stage_x[i]);
        free(t->stage_y[i]);
    }
    cl_mem all[] = {t->x[0], t->x[1], t->y[0], t->y[1], t->w, t->b, t->lw, t->dw, t->db, t->dlw, t->losses};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
    train_step_destroy(t->full);
    train_step_destroy(t->last);
    clmsd_optim_destroy(t->optim);
    clmsd_context_destroy(t->ctx);
    free(t->perm);
    free(t->rows);
    features_close(&t->f);
}

/* the file and its split, and the batches: 0, or -1 after a message */
static int load(file_trainer *t)
{
    const train_options *o = t->o;
    char error[4400];
    if (features_open(o->features, o->x_tensor, o->y_tensor, o->loss, o->classes, &t->f, error, sizeof error) ||
        features_split(&t->f, o->val_tensor, o->val_fraction, o->seed, error, sizeof error)) {
        fprintf(stderr, "clmsd train: %s\n", error);
        return -1;
    }
    t->C = t->f.classes, t->H = t->f.hidden, t->L = t->f.layers > 1 ? t->f.layers : 0, t->B = o->batch;
    if (t->f.ntrain < t->B) {
        fprintf(stderr, "clmsd train: --batch %zu is larger than the %zu training rows of %s\n", t->B, t->f.ntrain,
                o->features);
        return -1;
    }
    if (t->L && o->mpi) {
        fprintf(stderr,
                "clmsd train: --mpi trains the plain head only: the pooled head (%s is [N, L, H]) takes no "
                "shard yet\n",
                o->features);
        return -1;
    }
    t->batches = t->f.ntrain / t->B;
    t->last_rows = o->keep_last && t->f.ntrain % t->B ? t->f.ntrain % t->B : t->B;
    t->batches += t->last_rows != t->B;
    t->total_steps = (uint64_t)o->epochs * t->batches;
    return train_options_text(o, t->f.hash, t->options, sizeof t->options);
}

int train_file(train_options *o, int argc, char **argv)
{
    file_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        fprintf(stderr, "clmsd train: out of memory\n");
        return 1;
    }
    t->o = o;
    t->ranks = 1;
    t->f.loss = -1;
    /* every rank loads and checks the same file the same way: a bad file stops all of them alike */
    int rc = load(t) ? 2 : 0;
    if (o->mpi && train_mpi_init(&argc, &argv, &t->rank, &t->ranks)) {
        destroy(t);
        free(t);
        return 1;
    }
    bool agreed = rc != 0;
    if (rc == 0 && o->mpi && train_mpi_agree(t->options, t->rank, t->ranks))
        rc = 2, agreed = true;
    if (rc == 0 && t->rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "clmsd train: cannot redirect rank %d's output: %s\n", t->rank, strerror(errno));
        rc = 1;
    }
    if (rc == 0 && clmsd_context_create(o->device, &t->ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd train: %s\n", clmsd_context_last_error(NULL));
        rc = 1;
    }
    if (rc == 0) {
        t->queue = clmsd_context_queue(t->ctx);
        if (t->rank == 0)
            print_header(t);
        rc = run(t) ? 1 : 0;
    }
    destroy(t);
    free(t);
    if (o->mpi)
        train_mpi_finish(rc && !agreed);
    return rc;
}
