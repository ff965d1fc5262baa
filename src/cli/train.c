/* `clmsd train`: trains a multi-sample dropout head on the digits data for several K and shows
 * what more dropout samples buy (docs/paper.md). */
#include "cli.h"
#include "digits.h"

#include <clblast_c.h>
#include <clmsd.h>
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_RUNS 16
#define MAX_RATES 64

typedef struct options {
    uint32_t samples[MAX_RUNS];
    int runs;
    double rate, rates[MAX_RATES];
    int nrates;
    int epochs, eval_every;
    size_t batch, hidden;
    double lr, momentum, target;
    clmsd_combine combine;
    clmsd_engine engine;
    const char *device, *out, *data;
    uint64_t seed;
} options;

static const char train_usage[] =
    "usage: clmsd train [options]\n"
    "\n"
    "Trains a multi-sample dropout head (softmax cross-entropy, SGD with momentum) on the UCI digits\n"
    "(1797 8x8 images; 80%% train, 20%% validation, a fixed split) over a fixed random ReLU feature\n"
    "layer (64 -> H) that stands in for a frozen backbone, once for each number of samples K, with\n"
    "the same seed, learning rate, batch size and drop rate. Prints the curves and, per K, the\n"
    "iterations to reach a training loss (measured without dropout) and the time per iteration.\n"
    "\n"
    "  --samples LIST   numbers of dropout samples K to compare (default 1,2,4,8,16)\n"
    "  --rate P         drop rate of every sample (default 0.5)\n"
    "  --rates LIST     per-sample drop rates, sample k uses rates[k %% n] (e.g. 0.1,0.2,0.3,0.4,0.5)\n"
    "  --combine MODE   losses (the paper: mean of K losses) or logits (Kaggle: loss of mean logits)\n"
    "  --epochs N       passes over the training set (default 10)\n"
    "  --batch N        batch size (default 16; the last partial batch of an epoch is dropped)\n"
    "  --lr X           learning rate (default 0.05), momentum 0.9 (--momentum X)\n"
    "  --hidden H       width of the random feature layer (default 512)\n"
    "  --target L       training loss whose first crossing is reported (default 0.15)\n"
    "  --eval-every N   iterations between clean-loss evaluations (default 2)\n"
    "  --engine E       auto, fused or clblast (default auto: fused, bit-reproducible everywhere)\n"
    "  --device SPEC    OpenCL device (\"P:D\" or a name substring; default $CLMSD_DEVICE, GPU, CPU)\n"
    "  --seed N         seed of the split, the features, the masks (default 2019)\n"
    "  --data FILE      the digits CSV (default the source tree's examples/data/digits.csv.gz)\n"
    "  --out DIR        write curves.csv, evals.csv, summary.csv and training.png into DIR\n";

static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        errno = 0;
        out[n++] = strtod(s, &end);
        if (end == s || errno)
            return -1;
        if (*end == ',')
            ++end;
        else if (*end)
            return -1;
        s = end;
    }
    return *s ? -1 : n;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.samples = {1, 2, 4, 8, 16}, .runs = 5, .rate = 0.5, .epochs = 10, .eval_every = 2, .batch = 16,
                   .hidden = 512, .lr = 0.05, .momentum = 0.9, .target = 0.15, .seed = 2019,
                   .data = CLMSD_SOURCE_DIR "/examples/data/digits.csv.gz"};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(train_usage, stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "clmsd train: %s needs a value (see --help)\n", a);
            return -1;
        }
        ++i;
        double list[MAX_RATES];
        int n;
        if (!strcmp(a, "--samples")) {
            n = parse_list(v, list, MAX_RUNS);
            if (n <= 0)
                goto bad;
            for (int k = 0; k < n; ++k) {
                if (!(list[k] >= 1 && list[k] <= 1024 && list[k] == floor(list[k])))
                    goto bad;
                o->samples[k] = (uint32_t)list[k];
            }
            o->runs = n;
        } else if (!strcmp(a, "--rate")) {
            if (parse_list(v, &o->rate, 1) != 1)
                goto bad;
        } else if (!strcmp(a, "--rates")) {
            if ((o->nrates = parse_list(v, o->rates, MAX_RATES)) <= 0)
                goto bad;
        } else if (!strcmp(a, "--combine")) {
            if (!strcmp(v, "losses"))
                o->combine = CLMSD_AVERAGE_LOSSES;
            else if (!strcmp(v, "logits"))
                o->combine = CLMSD_AVERAGE_LOGITS;
            else
                goto bad;
        } else if (!strcmp(a, "--engine")) {
            if (!strcmp(v, "auto"))
                o->engine = CLMSD_ENGINE_AUTO;
            else if (!strcmp(v, "clblast"))
                o->engine = CLMSD_ENGINE_CLBLAST;
            else if (!strcmp(v, "fused"))
                o->engine = CLMSD_ENGINE_FUSED;
            else
                goto bad;
        } else if (!strcmp(a, "--epochs") || !strcmp(a, "--batch") || !strcmp(a, "--hidden") ||
                   !strcmp(a, "--eval-every") || !strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (*end || end == v || errno || x == 0 || (strcmp(a, "--seed") && x > 1000000))
                goto bad;
            if (!strcmp(a, "--epochs"))
                o->epochs = (int)x;
            else if (!strcmp(a, "--batch"))
                o->batch = x;
            else if (!strcmp(a, "--hidden"))
                o->hidden = x;
            else if (!strcmp(a, "--eval-every"))
                o->eval_every = (int)x;
            else
                o->seed = x;
        } else if (!strcmp(a, "--lr") || !strcmp(a, "--momentum") || !strcmp(a, "--target")) {
            double x;
            if (parse_list(v, &x, 1) != 1 || !(x >= 0) || !isfinite(x))
                goto bad;
            *(!strcmp(a, "--lr") ? &o->lr : !strcmp(a, "--momentum") ? &o->momentum : &o->target) = x;
        } else if (!strcmp(a, "--device")) {
            o->device = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--data")) {
            o->data = v;
        } else {
            fprintf(stderr, "clmsd train: unknown option %s (see --help)\n", a);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "clmsd train: invalid value \"%s\" for %s (see --help)\n", v, a);
        return -1;
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Everything one training run needs on the device. */
typedef struct trainer {
    clmsd_context *ctx;
    cl_command_queue queue;
    const options *o;
    size_t ntrain, nval, H, B, batches;
    float *train_x, *val_x, *batch_x;   /* host features */
    int32_t *train_y, *val_y, *batch_y; /* host labels */
    cl_mem x_epoch, y_epoch, x_train, y_train, x_val;
    cl_mem w, b, vw, vb, dw, db, losses, eval_loss, val_logits;
    clmsd_head *eval_train, *eval_val;
} trainer;

typedef struct curve_point {
    int iteration, epoch;
    float clean_loss, val_accuracy;
} curve_point;

typedef struct run_result {
    uint32_t samples;
    float *dropout_loss; /* per iteration */
    curve_point *evals;
    int nevals, iterations, reached;
    double seconds; /* training iterations only, evaluations excluded */
} run_result;

static int check(clmsd_status st, const trainer *t, const char *what)
{
    if (st == CLMSD_SUCCESS)
        return 0;
    fprintf(stderr, "clmsd train: %s failed: %s: %s\n", what, clmsd_status_string(st), clmsd_context_last_error(t->ctx));
    return -1;
}

static cl_mem buffer(trainer *t, size_t bytes, const void *data)
{
    cl_int err;
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(t->ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, &err);
    if (err != CL_SUCCESS)
        fprintf(stderr, "clmsd train: clCreateBuffer(%zu) failed (%d)\n", bytes, err);
    return err == CL_SUCCESS ? m : NULL;
}

static void zero(trainer *t, cl_mem m, size_t bytes)
{
    float z = 0.0f;
    clEnqueueFillBuffer(t->queue, m, &z, sizeof z, 0, bytes, 0, NULL, NULL);
}

/* v = momentum v + g; p -= lr v, through CLBlast */
static int sgd(trainer *t, cl_mem p, cl_mem v, cl_mem g, size_t n)
{
    CLBlastStatusCode s = CLBlastSscal(n, (float)t->o->momentum, v, 0, 1, &t->queue, NULL);
    if (s == CLBlastSuccess)
        s = CLBlastSaxpy(n, 1.0f, g, 0, 1, v, 0, 1, &t->queue, NULL);
    if (s == CLBlastSuccess)
        s = CLBlastSaxpy(n, (float)-t->o->lr, v, 0, 1, p, 0, 1, &t->queue, NULL);
    if (s != CLBlastSuccess)
        fprintf(stderr, "clmsd train: CLBlast update failed (%d)\n", (int)s);
    return s == CLBlastSuccess ? 0 : -1;
}

/* training loss without dropout, and validation accuracy */
static int evaluate(trainer *t, curve_point *p)
{
    clmsd_head_args a = {.x = t->x_train, .w = t->w, .bias = t->b, .target = t->y_train, .loss = t->eval_loss};
    if (check(clmsd_head_forward(t->eval_train, &a, 0, NULL, NULL), t, "evaluation"))
        return -1;
    clmsd_head_args v = {.x = t->x_val, .w = t->w, .bias = t->b, .logits = t->val_logits};
    if (check(clmsd_head_predict(t->eval_val, &v, 0, NULL, NULL), t, "prediction"))
        return -1;
    float *logits = malloc(t->nval * DIGITS_CLASSES * sizeof *logits);
    if (!logits)
        return -1;
    clEnqueueReadBuffer(t->queue, t->eval_loss, CL_TRUE, 0, sizeof p->clean_loss, &p->clean_loss, 0, NULL, NULL);
    clEnqueueReadBuffer(t->queue, t->val_logits, CL_TRUE, 0, t->nval * DIGITS_CLASSES * sizeof *logits, logits, 0, NULL,
                        NULL);
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

static void progress(uint32_t samples, int epoch, int epochs, const curve_point *last)
{
    char bar[21];
    int filled = 20 * epoch / epochs;
    for (int i = 0; i < 20; ++i)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    fprintf(stderr, "\r  K = %-3u [%s] epoch %d/%d  clean loss %.4f  val acc %.3f ", (unsigned)samples, bar, epoch,
            epochs, last ? last->clean_loss : NAN, last ? last->val_accuracy : NAN);
    fflush(stderr);
}

static int train_one(trainer *t, uint32_t samples, run_result *r)
{
    const options *o = t->o;
    double rates[MAX_RATES * 16];
    for (uint32_t k = 0; k < samples && o->nrates; ++k)
        rates[k] = o->rates[k % o->nrates];
    clmsd_head_desc d = {t->B, t->H, DIGITS_CLASSES, samples, o->nrates ? rates : NULL, o->rate,
                         CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY, o->combine, o->engine, NULL};
    clmsd_head *head;
    if (check(clmsd_head_create(t->ctx, &d, &head), t, "clmsd_head_create"))
        return -1;
    int total = o->epochs * (int)t->batches;
    r->samples = samples;
    r->iterations = total;
    r->dropout_loss = calloc((size_t)total, sizeof *r->dropout_loss);
    r->evals = calloc((size_t)total / o->eval_every + o->epochs + 2, sizeof *r->evals);
    r->reached = -1;
    int rc = r->dropout_loss && r->evals ? 0 : -1;
    zero(t, t->w, DIGITS_CLASSES * t->H * 4), zero(t, t->b, DIGITS_CLASSES * 4);
    zero(t, t->vw, DIGITS_CLASSES * t->H * 4), zero(t, t->vb, DIGITS_CLASSES * 4);
    if (rc == 0)
        rc = evaluate(t, &r->evals[r->nevals++]); /* iteration 0: the untrained head */
    int iteration = 0;
    for (int epoch = 0; epoch < o->epochs && rc == 0; ++epoch) {
        progress(samples, epoch, o->epochs, &r->evals[r->nevals - 1]);
        size_t *perm = malloc(t->ntrain * sizeof *perm);
        if (!perm)
            return -1;
        digits_permutation(o->seed, 1000 + (uint64_t)epoch, t->ntrain, perm); /* same order for every K */
        for (size_t n = 0; n < t->ntrain; ++n) {
            memcpy(t->batch_x + n * t->H, t->train_x + perm[n] * t->H, t->H * sizeof *t->batch_x);
            t->batch_y[n] = t->train_y[perm[n]];
        }
        free(perm);
        clEnqueueWriteBuffer(t->queue, t->x_epoch, CL_TRUE, 0, t->ntrain * t->H * 4, t->batch_x, 0, NULL, NULL);
        clEnqueueWriteBuffer(t->queue, t->y_epoch, CL_TRUE, 0, t->ntrain * 4, t->batch_y, 0, NULL, NULL);
        double start = now();
        for (size_t bi = 0; bi < t->batches && rc == 0; ++bi) {
            clmsd_head_args a = {.seed = o->seed, .step = (uint64_t)iteration, .x = t->x_epoch,
                                 .x_off = bi * t->B * t->H, .w = t->w, .bias = t->b, .target = t->y_epoch,
                                 .target_off = bi * t->B, .loss = t->losses, .loss_off = (size_t)iteration,
                                 .dw = t->dw, .dbias = t->db};
            rc = check(clmsd_head_train_step(head, &a, 0, NULL, NULL), t, "clmsd_head_train_step");
            if (rc == 0)
                rc = sgd(t, t->w, t->vw, t->dw, DIGITS_CLASSES * t->H);
            if (rc == 0)
                rc = sgd(t, t->b, t->vb, t->db, DIGITS_CLASSES);
            ++iteration;
            if (rc == 0 && (iteration % o->eval_every == 0 || bi + 1 == t->batches)) {
                clFinish(t->queue);
                r->seconds += now() - start;
                curve_point *p = &r->evals[r->nevals++];
                p->iteration = iteration, p->epoch = epoch + 1;
                rc = evaluate(t, p);
                if (r->reached < 0 && p->clean_loss <= o->target)
                    r->reached = iteration;
                start = now();
            }
        }
    }
    if (rc == 0) {
        clEnqueueReadBuffer(t->queue, t->losses, CL_TRUE, 0, (size_t)total * 4, r->dropout_loss, 0, NULL, NULL);
        progress(samples, o->epochs, o->epochs, &r->evals[r->nevals - 1]);
        fputc('\n', stderr);
    }
    clmsd_head_destroy(head);
    return rc;
}

static void print_run(const options *o, const run_result *r, size_t batches)
{
    printf("\nK = %u: epoch, mean training loss with dropout, training loss without dropout, validation accuracy\n",
           (unsigned)r->samples);
    int e = 0;
    for (int epoch = 1; epoch <= o->epochs; ++epoch) {
        double sum = 0;
        for (size_t i = 0; i < batches; ++i)
            sum += r->dropout_loss[(size_t)(epoch - 1) * batches + i];
        while (e < r->nevals - 1 && !(r->evals[e].epoch == epoch && (e + 1 == r->nevals || r->evals[e + 1].epoch != epoch)))
            ++e;
        printf("  %3d  %8.4f  %8.4f  %6.3f\n", epoch, sum / batches, r->evals[e].clean_loss, r->evals[e].val_accuracy);
    }
}

static int write_outputs(const options *o, const run_result *runs, int nruns, size_t batches)
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
    snprintf(path, sizeof path, "%s/summary.csv", o->out);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "samples,iterations_to_target,target,final_clean_train_loss,final_val_accuracy,ms_per_iteration,"
               "time_relative_to_first\n");
    for (int i = 0; i < nruns; ++i) {
        const curve_point *last = &runs[i].evals[runs[i].nevals - 1];
        double ms = 1e3 * runs[i].seconds / runs[i].iterations, ms0 = 1e3 * runs[0].seconds / runs[0].iterations;
        fprintf(f, "%u,%d,%g,%.9g,%.6f,%.4f,%.4f\n", (unsigned)runs[i].samples, runs[i].reached, o->target,
                (double)last->clean_loss, (double)last->val_accuracy, ms, ms / ms0);
    }
    fclose(f);
    /* the plot: clean training loss (log scale) and validation accuracy against iteration, one line per K */
    snprintf(path, sizeof path, "%s/training.gp", o->out);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "set terminal pngcairo size 1200,500 noenhanced\nset output '%s/training.png'\n"
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
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "gnuplot '%s/training.gp'", o->out);
    if (system(cmd) != 0) {
        fprintf(stderr, "clmsd train: gnuplot failed: install gnuplot-nox for %s/training.png\n", o->out);
        return -1;
    }
    printf("\nwrote %s/curves.csv, evals.csv, summary.csv and the plot %s/training.png\n", o->out, o->out);
    return 0;
}

int clmsd_cli_train(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o))
        return 2;
    digits data;
    if (digits_load(o.data, &data))
        return 1;
    trainer t = {.o = &o, .H = o.hidden, .B = o.batch};
    t.nval = data.count / 5;
    t.ntrain = data.count - t.nval;
    t.batches = t.ntrain / t.B;
    if (t.batches == 0) {
        fprintf(stderr, "clmsd train: --batch %zu is larger than the %zu training samples\n", t.B, t.ntrain);
        return 2;
    }
    if (clmsd_context_create(o.device, &t.ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd train: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    t.queue = clmsd_context_queue(t.ctx);
    /* the fixed split and the frozen random features */
    float *features = malloc(data.count * t.H * sizeof *features);
    size_t *split = malloc(data.count * sizeof *split);
    t.train_x = malloc(t.ntrain * t.H * 4), t.val_x = malloc(t.nval * t.H * 4), t.batch_x = malloc(t.ntrain * t.H * 4);
    t.train_y = malloc(t.ntrain * 4), t.val_y = malloc(t.nval * 4), t.batch_y = malloc(t.ntrain * 4);
    int rc = 1;
    run_result runs[MAX_RUNS] = {{0}};
    int done = 0;
    if (!features || !split || !t.train_x || !t.val_x || !t.batch_x || !t.train_y || !t.val_y || !t.batch_y)
        goto out;
    digits_features(&data, t.H, o.seed, features);
    digits_permutation(o.seed, 0, data.count, split);
    for (size_t n = 0; n < data.count; ++n) {
        bool val = n < t.nval;
        size_t i = val ? n : n - t.nval;
        memcpy((val ? t.val_x : t.train_x) + i * t.H, features + split[n] * t.H, t.H * 4);
        (val ? t.val_y : t.train_y)[i] = data.label[split[n]];
    }
    clmsd_head_desc eval_train = {t.ntrain, t.H, DIGITS_CLASSES, 1, NULL, 0.0, CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                                  CLMSD_AVERAGE_LOSSES, CLMSD_ENGINE_AUTO, NULL};
    clmsd_head_desc eval_val = eval_train;
    eval_val.batch = t.nval;
    if (check(clmsd_head_create(t.ctx, &eval_train, &t.eval_train), &t, "clmsd_head_create") ||
        check(clmsd_head_create(t.ctx, &eval_val, &t.eval_val), &t, "clmsd_head_create"))
        goto out;
    t.x_epoch = buffer(&t, t.ntrain * t.H * 4, NULL), t.y_epoch = buffer(&t, t.ntrain * 4, NULL);
    t.x_train = buffer(&t, t.ntrain * t.H * 4, t.train_x), t.y_train = buffer(&t, t.ntrain * 4, t.train_y);
    t.x_val = buffer(&t, t.nval * t.H * 4, t.val_x);
    t.w = buffer(&t, DIGITS_CLASSES * t.H * 4, NULL), t.vw = buffer(&t, DIGITS_CLASSES * t.H * 4, NULL);
    t.dw = buffer(&t, DIGITS_CLASSES * t.H * 4, NULL), t.b = buffer(&t, DIGITS_CLASSES * 4, NULL);
    t.vb = buffer(&t, DIGITS_CLASSES * 4, NULL), t.db = buffer(&t, DIGITS_CLASSES * 4, NULL);
    t.losses = buffer(&t, (size_t)o.epochs * t.batches * 4, NULL), t.eval_loss = buffer(&t, 4, NULL);
    t.val_logits = buffer(&t, t.nval * DIGITS_CLASSES * 4, NULL);
    if (!t.x_epoch || !t.y_epoch || !t.x_train || !t.y_train || !t.x_val || !t.w || !t.vw || !t.dw || !t.b || !t.vb ||
        !t.db || !t.losses || !t.eval_loss || !t.val_logits)
        goto out;

    printf("clmsd train on %s\n", clmsd_context_device_name(t.ctx));
    printf("digits: %zu training and %zu validation samples, random ReLU features 64 -> %zu, %zu batches of %zu\n",
           t.ntrain, t.nval, t.H, t.batches, t.B);
    printf("head: softmax cross-entropy, %s, drop rate %s, SGD lr %g momentum %g, %d epochs, seed %llu\n",
           o.combine == CLMSD_AVERAGE_LOSSES ? "average losses (paper)" : "average logits (Kaggle)",
           o.nrates ? "per sample (--rates)" : "shared", o.lr, o.momentum, o.epochs, (unsigned long long)o.seed);
    fprintf(stderr, "compiling kernels (a few seconds; tens of seconds for CLBlast on a cold pocl cache)...\n");
    if (check(clmsd_context_warmup(t.ctx), &t, "warm-up"))
        goto out;
    /* CLBlast compiles Sscal and Saxpy on their first call: pay it before any run is timed */
    zero(&t, t.dw, DIGITS_CLASSES * t.H * 4), zero(&t, t.vw, DIGITS_CLASSES * t.H * 4);
    if (sgd(&t, t.w, t.vw, t.dw, DIGITS_CLASSES * t.H))
        goto out;
    for (; done < o.runs; ++done)
        if (train_one(&t, o.samples[done], &runs[done]))
            goto out;
    for (int i = 0; i < o.runs; ++i)
        print_run(&o, &runs[i], t.batches);
    printf("\n    K  iterations to loss %-6g  final loss  val acc  ms/iteration  time vs K = %u\n", o.target,
           (unsigned)runs[0].samples);
    for (int i = 0; i < o.runs; ++i) {
        const curve_point *last = &runs[i].evals[runs[i].nevals - 1];
        double ms = 1e3 * runs[i].seconds / runs[i].iterations, ms0 = 1e3 * runs[0].seconds / runs[0].iterations;
        char reached[32];
        snprintf(reached, sizeof reached, runs[i].reached < 0 ? "not reached" : "%d", runs[i].reached);
        printf("  %3u  %24s  %10.4f  %7.3f  %12.3f  %10.2fx\n", (unsigned)runs[i].samples, reached,
               (double)last->clean_loss, (double)last->val_accuracy, ms, ms / ms0);
    }
    rc = o.out ? (write_outputs(&o, runs, o.runs, t.batches) ? 1 : 0) : 0;
out:
    for (int i = 0; i < MAX_RUNS; ++i)
        free(runs[i].dropout_loss), free(runs[i].evals);
    cl_mem all[] = {t.x_epoch, t.y_epoch, t.x_train, t.y_train, t.x_val, t.w, t.vw, t.dw, t.b, t.vb, t.db,
                    t.losses, t.eval_loss, t.val_logits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        if (all[i])
            clReleaseMemObject(all[i]);
    clmsd_head_destroy(t.eval_train), clmsd_head_destroy(t.eval_val);
    clmsd_context_destroy(t.ctx);
    free(features), free(split), free(t.train_x), free(t.val_x), free(t.batch_x), free(t.train_y), free(t.val_y),
        free(t.batch_y);
    digits_free(&data);
    return rc;
}
