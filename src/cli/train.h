/* SPDX-License-Identifier: MIT */
/* `clmsd train`: its options (train_options.c), its training runs (train.c) and what it reports
 * (train_report.c). */
#ifndef CLMSD_CLI_TRAIN_H
#define CLMSD_CLI_TRAIN_H

#include <clmsd.h>
#include <stddef.h>
#include <stdint.h>

#define TRAIN_MAX_RUNS 16
#define TRAIN_MAX_RATES 64
#define TRAIN_TIMING_ROUNDS 10

typedef enum train_schedule { SCHEDULE_CONSTANT, SCHEDULE_LINEAR, SCHEDULE_COSINE } train_schedule;

typedef struct train_options {
    uint32_t samples[TRAIN_MAX_RUNS];
    int runs;
    double rate, rates[TRAIN_MAX_RATES];
    int nrates;
    int epochs, eval_every;
    size_t batch, hidden;
    double lr, momentum, target;
    clmsd_optimizer optimizer; /* SGD (with momentum) or AdamW */
    double weight_decay, max_grad_norm;
    clmsd_combine combine;
    clmsd_engine engine;
    clmsd_stream stream; /* of every mask: v1 or u8 (rates then multiples of 1/256) */
    clmsd_type x_type;   /* storage of the features on the device */
    const char *device, *out, *data;
    char default_data[4096]; /* where data points unless --data says otherwise */
    uint64_t seed;
    int keep_last; /* train on the last partial batch of an epoch too */
    int mpi;       /* data-parallel over MPI_COMM_WORLD */
    /* training on a features file (--features; train_file.c) */
    const char *features, *x_tensor, *y_tensor, *val_tensor, *checkpoint;
    double val_fraction, layer_rate;
    int loss;       /* clmsd_loss, or -1: from the targets (integers: CE, floats: BCE) */
    size_t classes; /* CE: 0 takes the largest class id + 1 */
    train_schedule schedule;
    int warmup; /* steps of linear warm-up */
    int resume, stop_after;
    int eval_train;          /* the clean loss on the training rows after every epoch */
    const char *digits_only; /* an option given that only the digits run takes, or NULL */
    int samples_given;
} train_options;

/* The learning rate of optimizer step `step` (from 0) of `total`: --lr times the schedule's factor,
 * as transformers' get_{constant,linear,cosine}_schedule_with_warmup define it. */
double train_lr(const train_options *o, uint64_t step, uint64_t total);

/* The optimizer the options name (clmsd_optim_create's desc). */
clmsd_optim_desc train_optim_desc(const train_options *o);
/* Parses argv into o: 0, 1 when --help was printed, -1 after a message on stderr. */
int train_parse(int argc, char **argv, train_options *o);
/* The options the ranks of --mpi must share, as "--option value" lines (not --device, --out, nor
 * --data's path: data_hash stands for its contents); 0, or -1 when size is too small. */
int train_options_text(const train_options *o, uint64_t data_hash, char *out, size_t size);

/* train_file.c: `clmsd train --features FILE`, after train_parse; the process's exit status */
int train_file(train_options *o, int argc, char **argv);

/* train_step.c: the train step of one batch size, on one device or data-parallel over MPI */
typedef struct train_step train_step;
/* with --mpi: MPI_Init and this rank; 0, or -1 after a message (also: built without MPI) */
int train_mpi_init(int *argc, char ***argv, int *rank, int *ranks);
/* MPI_Finalize; after a failure MPI_Abort, so that no rank waits for this one */
void train_mpi_finish(int failed);
/* Before any other collective: every rank's options text (train_options_text) against rank 0's.
 * 0 when they agree; else -1 on every rank, each having printed the option and the two ranks'
 * values (a failure every rank knows of: end with train_mpi_finish(0)). */
int train_mpi_agree(const char *options, int rank, int ranks);
/* NULL after a message */
train_step *train_step_create(clmsd_context *ctx, const clmsd_head_desc *desc, int mpi);
/* args as for clmsd_head_train_step on the whole batch (offsets of its first row); 0, or -1 after
 * a message. Collective with --mpi. */
int train_step_run(train_step *step, const clmsd_head_args *args);
/* the rows of the batch this process computes: all of them, or with --mpi this rank's */
void train_step_rows(const train_step *step, size_t *first, size_t *rows);
void train_step_destroy(train_step *step);

typedef struct train_point {
    int iteration, epoch;
    float clean_loss, val_accuracy;
} train_point;

typedef struct train_run {
    uint32_t samples;
    float *dropout_loss; /* per iteration */
    train_point *evals;
    int nevals, iterations, reached;
    double round_ms[TRAIN_TIMING_ROUNDS]; /* ms per iteration of the train step and the update */
    float *weights;                       /* the trained head: W [C, H], then b [C] */
} train_run;

/* The median over the timing rounds of the ms per iteration: robust to a round the machine slowed. */
double train_ms_per_iteration(const train_run *r);
void train_print_run(const train_options *o, const train_run *r, size_t batches);
void train_print_table(const train_options *o, const train_run *runs, int nruns);
/* curves.csv, evals.csv, summary.csv, training.png (gnuplot) and head_k<K>.safetensors (classes C,
 * features H) into o->out; 0 on success. */
int train_write_outputs(const train_options *o, const train_run *runs, int nruns, size_t batches, size_t classes,
                        size_t features);

#endif
