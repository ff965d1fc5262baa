/* SPDX-License-Identifier: MIT */
/* What `clmsd train` reports: the curves per K, the table, and the CSV files and the plot. */
#include "safetensors.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h> /* environ (_GNU_SOURCE) */

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double train_ms_per_iteration(const train_run *r)
{
    double sorted[TRAIN_TIMING_ROUNDS];
    memcpy(sorted, r->round_ms, sizeof sorted);
    qsort(sorted, TRAIN_TIMING_ROUNDS, sizeof *sorted, by_value);
    return 0.5 * (sorted[(TRAIN_TIMING_ROUNDS - 1) / 2] + sorted[TRAIN_TIMING_ROUNDS / 2]);
}

void train_print_table(const train_options *o, const train_run *runs, int nruns)
{
    printf("\nTime per iteration: the head's train step and the optimizer's step (evaluations excluded), measured\n"
           "after training: an untimed warm-up of each K's plan, then %d rounds of every K in turn; the\n"
           "median round.\n",
           TRAIN_TIMING_ROUNDS);
    printf("\n    K  iterations to loss %-6g  final loss  val acc  ms/iteration  time vs K = %u\n", o->target,
           (unsigned)runs[0].samples);
    double ms0 = train_ms_per_iteration(&runs[0]);
    for (int i = 0; i < nruns; ++i) {
        const train_point *last = &runs[i].evals[runs[i].nevals - 1];
        double ms = train_ms_per_iteration(&runs[i]);
        char reached[32];
        snprintf(reached, sizeof reached, runs[i].reached < 0 ? "not reached" : "%d", runs[i].reached);
        printf("  %3u  %24s  %10.4f  %7.3f  %12.3f  %10.2fx\n", (unsigned)runs[i].samples, reached,
               (double)last->clean_loss, (double)last->val_accuracy, ms, ms / ms0);
    }
}

void train_print_run(const train_options *o, const train_run *r, size_t batches)
{
    printf("\nK = %u: epoch, mean training loss with dropout, training loss without dropout, validation accuracy\n",
           (unsigned)r->samples);
    int e = 0;
    for (int epoch = 1; epoch <= o->epochs; ++epoch) {
        double sum = 0;
        for (size_t i = 0; i < batches; ++i)
            sum += r->dropout_loss[(size_t)(epoch - 1) * batches + i];
        while (e < r->nevals - 1 &&
               !(r->evals[e].epoch == epoch && (e + 1 == r->nevals || r->evals[e + 1].epoch != epoch)))
            ++e;
        printf("  %3d  %8.4f  %8.4f  %6.3f\n", epoch, sum / batches, r->evals[e].clean_loss, r->evals[e].val_accuracy);
    }
}

/* one run's head as a safetensors file: "weight" [C, H] and "bias" [C], F32 */
static int write_head(const char *path, const train_run *r, size_t classes, size_t features)
{
    char samples[16], error[4200];
    snprintf(samples, sizeof samples, "%u", (unsigned)r->samples);
    safetensors_entry e[] = {{"weight", SAFETENSORS_F32, 2, {classes, features}, r->weights},
                             {"bias", SAFETENSORS_F32, 1, {classes}, r->weights + classes * features}};
    const char *meta[] = {"samples", samples, "loss", "ce", NULL};
    if (safetensors_write(path, e, 2, meta, error, sizeof error)) {
        fprintf(stderr, "clmsd train: %s\n", error);
        return -1;
    }
    return 0;
}

/* gnuplot SCRIPT, run directly (no shell): 0 when it exits with status 0, else -1 after a message */
static int run_gnuplot(const char *script, const char *out)
{
    char *argv[] = {"gnuplot", (char *)script, NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "clmsd train: cannot run gnuplot: %s; install gnuplot-nox for %s/training.png\n", strerror(err),
                out);
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "clmsd train: waiting for gnuplot: %s\n", strerror(errno));
            return -1;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) /* the spawn found no gnuplot to run */
        fprintf(stderr, "clmsd train: gnuplot not found: install gnuplot-nox for %s/training.png\n", out);
    else if (WIFEXITED(status))
        fprintf(stderr, "clmsd train: gnuplot %s exited with status %d, no %s/training.png\n", script,
                WEXITSTATUS(status), out);
    else
        fprintf(stderr, "clmsd train: gnuplot %s killed by signal %d, no %s/training.png\n", script,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0, out);
    return -1;
}

int train_write_outputs(const train_options *o, const train_run *runs, int nruns, size_t batches, size_t classes,
                        size_t features)
{
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "clmsd train: cannot create %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", o->out);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "samples,iteration,epoch,dropout_loss\n");
    for (int i = 0; i < nruns; ++i)
        for (int it = 0; it < runs[i].iterations; ++it)
            fprintf(f, "%u,%d,%d,%.9g\n", (unsigned)runs[i].samples, it + 1, (int)(it / batches) + 1,
                    (double)runs[i].dropout_loss[it]);
    fclose(f);
    snprintf(path, sizeof path, "%s/evals.csv", o->out);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "samples,iteration,epoch,clean_train_loss,val_accuracy\n");
    for (int i = 0; i < nruns; ++i)
        for (int e = 0; e < runs[i].nevals; ++e)
            fprintf(f, "%u,%d,%d,%.9g,%.6f\n", (unsigned)runs[i].samples, runs[i].evals[e].iteration,
                    runs[i].evals[e].epoch, (double)runs[i].evals[e].clean_loss, (double)runs[i].evals[e].val_accuracy);
    fclose(f);
    for (int i = 0; i < nruns; ++i) {
        snprintf(path, sizeof path, "%s/head_k%u.safetensors", o->out, (unsigned)runs[i].samples);
        if (write_head(path, &runs[i], classes, features))
            return -1;
    }
    snprintf(path, sizeof path, "%s/summary.csv", o->out);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "samples,iterations_to_target,target,final_clean_train_loss,final_val_accuracy,ms_per_iteration,"
               "time_relative_to_first\n");
    for (int i = 0; i < nruns; ++i) {
        const train_point *last = &runs[i].evals[runs[i].nevals - 1];
        double ms = train_ms_per_iteration(&runs[i]), ms0 = train_ms_per_iteration(&runs[0]);
        fprintf(f, "%u,%d,%g,%.9g,%.6f,%.4f,%.4f\n", (unsigned)runs[i].samples, runs[i].reached, o->target,
                (double)last->clean_loss, (double)last->val_accuracy, ms, ms / ms0);
    }
    fclose(f);
    /* the plot: clean training loss (log scale) and validation accuracy against iteration, one line per K */
    snprintf(path, sizeof path, "%s/training.gp", o->out);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f,
            "set terminal pngcairo size 1200,500 noenhanced\nset output '%s/training.png'\n"
            "set datafile separator ','\nset multiplot layout 1,2 title 'clmsd train: multi-sample dropout on "
            "digits (%s, p %g, lr %g, batch %zu)'\n",
            o->out, o->combine == CLMSD_AVERAGE_LOSSES ? "average losses" : "average logits", o->rate, o->lr, o->batch);
    for (int panel = 0; panel < 2; ++panel) {
        fprintf(f, "set xlabel 'iteration'\nset key right %s\nset grid\n%s\nset ylabel '%s'\nplot ",
                panel ? "bottom" : "top", panel ? "unset logscale y" : "set logscale y",
                panel ? "validation accuracy" : "training loss without dropout");
        for (int i = 0; i < nruns; ++i)
            fprintf(f, "%s'%s/evals.csv' using 2:($1==%u ? $%d : NaN) skip 1 with lines lw 2 title 'K = %u'",
                    i ? ", " : "", o->out, (unsigned)runs[i].samples, panel ? 5 : 4, (unsigned)runs[i].samples);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    if (run_gnuplot(path, o->out) != 0)
        return -1;
    printf("\nwrote %s/curves.csv, evals.csv, summary.csv, head_k*.safetensors and the plot %s/training.png\n", o->out,
           o->out);
    return 0;
}
