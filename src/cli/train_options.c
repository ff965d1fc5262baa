/* SPDX-License-Identifier: MIT */
/* `clmsd train`'s options: every value is checked here, before anything is printed or run. */
#include "digits.h"
#include "train.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char train_usage[] =
    "usage: clmsd train [options]\n"
    "\n"
    "Trains a multi-sample dropout head (softmax cross-entropy; clmsd's SGD or AdamW) on the UCI digits\n"
    "(1797 8x8 images; 80% train, 20% validation, a fixed split) over a fixed random ReLU feature\n"
    "layer (64 -> H) that stands in for a frozen backbone, once for each number of samples K, with\n"
    "the same seed, learning rate, batch size and drop rate. Prints the curves and, per K, the\n"
    "iterations to reach a training loss (measured without dropout) and the time per iteration.\n"
    "\n"
    "  --samples LIST   numbers of dropout samples K to compare (default 1,2,4,8,16)\n"
    "  --rate P         drop rate of every sample (default 0.5)\n"
    "  --rates LIST     per-sample drop rates, sample k uses rates[k % n] (e.g. 0.1,0.2,0.3,0.4,0.5)\n"
    "  --combine MODE   losses (the paper: mean of K losses) or logits (Kaggle: loss of mean logits)\n"
    "  --epochs N       passes over the training set (default 10)\n"
    "  --batch N        batch size (default 16)\n"
    "  --last-batch M   drop (default) or keep the last partial batch of an epoch\n"
    "  --lr X           learning rate (default 0.05)\n"
    "  --momentum X     SGD momentum (default 0.9)\n"
    "  --optimizer O    sgd (default, with --momentum) or adamw (betas 0.9, 0.999, eps 1e-8)\n"
    "  --weight-decay X SGD: L2 added to the gradient; AdamW: decoupled (default 0)\n"
    "  --max-grad-norm X clip the gradients to this global 2-norm first (default 0: off)\n"
    "  --hidden H       width of the random feature layer (default 512)\n"
    "  --target L       training loss whose first crossing is reported (default 0.15)\n"
    "  --eval-every N   iterations between clean-loss evaluations (default 2)\n"
    "  --stream S       mask stream: v1 (default, 32 bits per element) or u8 (8 bits, faster; rates\n"
    "                   in steps of 1/256, e.g. 0.5, 0.25, 0.1015625)\n"
    "  --x-type T       storage of the features: f32 (default), f16 or bf16 (mixed precision)\n"
    "  --engine E       auto, fused or clblast (default auto: fused, bit-reproducible everywhere)\n"
    "  --device SPEC    OpenCL device (\"P:D\" or a name substring; default $CLMSD_DEVICE, GPU, CPU)\n"
    "  --seed N         seed of the split, the features, the masks (default 2019)\n"
    "  --data FILE      the digits CSV (default the installed data/digits.csv.gz; $CLMSD_DATA_DIR)\n"
    "  --out DIR        write curves.csv, evals.csv, summary.csv, training.png and the trained\n"
    "                   heads head_k1.safetensors, head_k2.safetensors, ... (\"weight\" [10, H] and\n"
    "                   \"bias\" [10], F32) into DIR; with --features: epochs.csv, steps.csv (each\n"
    "                   step's loss) and the final head.safetensors and optimizer.safetensors\n"
    "  --mpi            data-parallel over the ranks of mpirun (each batch cut by clmsd_mpi_split):\n"
    "                   the same weights and curves, bit for bit, for any number of ranks\n"
    "\n"
    "With --features, one head (K = --samples, default 5) trains on the tensors of a safetensors file\n"
    "instead (docs/training.md); --hidden, --target, --eval-every, --data and --x-type (the file says\n"
    "its type) belong to the digits run:\n"
    "\n"
    "  --features FILE  a safetensors file: features [N, H] or [N, L, H] (L layers: the pooled head)\n"
    "                   in F32, F16 or BF16, and targets\n"
    "  --x-tensor NAME  the features' tensor (default features)\n"
    "  --y-tensor NAME  the targets' tensor (default targets): integer class ids [N] for ce, floats\n"
    "                   [N, C] for bce and mse\n"
    "  --loss L         ce, bce or mse (default: ce for integer targets, bce for float ones)\n"
    "  --classes C      ce: the number of classes (default the largest class id + 1)\n"
    "  --layer-rate P   the pooled head's per-layer drop rate (default 0.1)\n"
    "  --val-tensor NAME integer row indices [V] of the validation rows (default: --val-fraction)\n"
    "  --val-fraction F the share of rows, drawn with --seed, kept for validation (default 0.1; 0: none)\n"
    "  --schedule S     constant (default), linear or cosine decay of the learning rate to 0\n"
    "  --warmup N       optimizer steps of linear warm-up from 0 first (default 0)\n"
    "  --checkpoint DIR after every epoch, DIR/head.safetensors (weight, bias, layer_weights) and\n"
    "                   DIR/optimizer.safetensors (its state), the options and step in the metadata\n"
    "  --resume         continue from DIR's checkpoint: the same bits as a run never interrupted\n"
    "  --stop-after E   stop after epoch E (as an interrupted run would)\n"
    "  --eval-train     also the loss without dropout on the training rows after every epoch\n";

/* the option lines of the usage text, for the message about an unknown option */
static const char *options_text(void) { return strstr(train_usage, "  --samples"); }

/* an option the usage lists: "  --name " at the start of one of its lines */
static int known(const char *arg)
{
    size_t n = strlen(arg);
    if (n < 3 || strncmp(arg, "--", 2))
        return 0;
    for (const char *line = options_text(); line; line = strchr(line, '\n')) {
        line += line[0] == '\n';
        if (!strncmp(line, "  ", 2) && !strncmp(line + 2, arg, n) && line[2 + n] == ' ')
            return 1;
    }
    return 0;
}

static int is_rate(double p) { return p >= 0.0 && p < 1.0; }

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

/* u8 masks take rates that are multiples of 1/256: 0, or -1 after a message naming the nearest */
static int check_u8_rate(const char *option, double p)
{
    if (clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1_U8, p, NULL, NULL) == CLMSD_SUCCESS)
        return 0;
    double below = floor(ldexp(p, 8));
    fprintf(stderr, "clmsd train: drop rate %g (%s) is not a multiple of 1/256, as --stream u8 needs: ", p, option);
    if (below < 255.0)
        fprintf(stderr, "the nearest are %.17g and %.17g\n", ldexp(below, -8), ldexp(below + 1.0, -8));
    else
        fprintf(stderr, "the nearest is %.17g\n", ldexp(below, -8));
    return -1;
}

/* the options whose value is one of a few words, and what each word stands for */
static const struct {
    const char *option, *word;
    int value;
} words[] = {
    {"--combine", "losses", CLMSD_AVERAGE_LOSSES},
    {"--combine", "logits", CLMSD_AVERAGE_LOGITS},
    {"--last-batch", "drop", 0},
    {"--last-batch", "keep", 1},
    {"--stream", "v1", CLMSD_STREAM_PHILOX_V1},
    {"--stream", "u8", CLMSD_STREAM_PHILOX_V1_U8},
    {"--x-type", "f32", CLMSD_FLOAT32},
    {"--x-type", "f16", CLMSD_FLOAT16},
    {"--x-type", "bf16", CLMSD_BFLOAT16},
    {"--engine", "auto", CLMSD_ENGINE_AUTO},
    {"--engine", "clblast", CLMSD_ENGINE_CLBLAST},
    {"--engine", "fused", CLMSD_ENGINE_FUSED},
    {"--loss", "ce", CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY},
    {"--loss", "bce", CLMSD_LOSS_BCE_WITH_LOGITS},
    {"--loss", "mse", CLMSD_LOSS_MSE},
    {"--schedule", "constant", SCHEDULE_CONSTANT},
    {"--schedule", "linear", SCHEDULE_LINEAR},
    {"--schedule", "cosine", SCHEDULE_COSINE},
};

/* 1 and *value when option a takes words and v is one of them, -1 when v is not, 0 when a takes
 * no words */
static int word_value(const char *a, const char *v, int *value)
{
    int takes_words = 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; ++i)
        if (!strcmp(a, words[i].option)) {
            takes_words = 1;
            if (!strcmp(v, words[i].word)) {
                *value = words[i].value;
                return 1;
            }
        }
    return -takes_words;
}

/* a whole number from 1 to max: 0 and *x, else -1 */
static int parse_count(const char *v, unsigned long long max, unsigned long long *x)
{
    char *end;
    errno = 0;
    *x = strtoull(v, &end, 10);
    return *end || end == v || errno || *x == 0 || *x > max ? -1 : 0;
}

enum { VALUE_OK, VALUE_BAD, VALUE_BAD_RATE };

/* option a's value v into o: VALUE_OK, or which message to print */
static int set_value(train_options *o, const char *a, const char *v)
{
    if (!strcmp(a, "--data") || !strcmp(a, "--hidden") || !strcmp(a, "--target") || !strcmp(a, "--eval-every") ||
        !strcmp(a, "--x-type"))
        o->digits_only = a;
    int w, takes_words = word_value(a, v, &w);
    if (takes_words < 0)
        return VALUE_BAD;
    if (takes_words) {
        if (!strcmp(a, "--combine"))
            o->combine = (clmsd_combine)w;
        else if (!strcmp(a, "--last-batch"))
            o->keep_last = w;
        else if (!strcmp(a, "--stream"))
            o->stream = (clmsd_stream)w;
        else if (!strcmp(a, "--x-type"))
            o->x_type = (clmsd_type)w;
        else if (!strcmp(a, "--loss"))
            o->loss = w;
        else if (!strcmp(a, "--schedule"))
            o->schedule = (train_schedule)w;
        else
            o->engine = (clmsd_engine)w;
        return VALUE_OK;
    }
    double list[TRAIN_MAX_RATES];
    unsigned long long x;
    if (!strcmp(a, "--samples")) {
        int n = parse_list(v, list, TRAIN_MAX_RUNS);
        if (n <= 0)
            return VALUE_BAD;
        for (int k = 0; k < n; ++k) {
            if (!(list[k] >= 1 && list[k] <= 1024 && list[k] == floor(list[k])))
                return VALUE_BAD;
            o->samples[k] = (uint32_t)list[k];
        }
        o->runs = n;
        o->samples_given = 1;
    } else if (!strcmp(a, "--rate")) {
        if (parse_list(v, &o->rate, 1) != 1 || !is_rate(o->rate))
            return VALUE_BAD_RATE;
    } else if (!strcmp(a, "--rates")) {
        if ((o->nrates = parse_list(v, o->rates, TRAIN_MAX_RATES)) <= 0)
            return VALUE_BAD_RATE;
        for (int k = 0; k < o->nrates; ++k)
            if (!is_rate(o->rates[k]))
                return VALUE_BAD_RATE;
    } else if (!strcmp(a, "--seed")) {
        if (parse_count(v, ULLONG_MAX, &x))
            return VALUE_BAD;
        o->seed = x;
    } else if (!strcmp(a, "--epochs") || !strcmp(a, "--batch") || !strcmp(a, "--hidden") ||
               !strcmp(a, "--eval-every") || !strcmp(a, "--classes") || !strcmp(a, "--stop-after")) {
        if (parse_count(v, 1000000, &x))
            return VALUE_BAD;
        if (!strcmp(a, "--epochs"))
            o->epochs = (int)x;
        else if (!strcmp(a, "--batch"))
            o->batch = x;
        else if (!strcmp(a, "--hidden"))
            o->hidden = x;
        else if (!strcmp(a, "--classes"))
            o->classes = x;
        else if (!strcmp(a, "--stop-after"))
            o->stop_after = (int)x;
        else
            o->eval_every = (int)x;
    } else if (!strcmp(a, "--warmup")) {
        if (strcmp(v, "0") && parse_count(v, 1000000000, &x))
            return VALUE_BAD;
        o->warmup = strcmp(v, "0") ? (int)x : 0;
    } else if (!strcmp(a, "--val-fraction") || !strcmp(a, "--layer-rate")) {
        double d;
        if (parse_list(v, &d, 1) != 1 || !is_rate(d))
            return VALUE_BAD_RATE;
        *(strcmp(a, "--layer-rate") ? &o->val_fraction : &o->layer_rate) = d;
    } else if (!strcmp(a, "--lr") || !strcmp(a, "--momentum") || !strcmp(a, "--target") ||
               !strcmp(a, "--weight-decay") || !strcmp(a, "--max-grad-norm")) {
        double d;
        if (parse_list(v, &d, 1) != 1 || !(d >= 0) || !isfinite(d) || (!strcmp(a, "--momentum") && d >= 1))
            return VALUE_BAD;
        *(!strcmp(a, "--lr")              ? &o->lr
          : !strcmp(a, "--momentum")      ? &o->momentum
          : !strcmp(a, "--weight-decay")  ? &o->weight_decay
          : !strcmp(a, "--max-grad-norm") ? &o->max_grad_norm
                                          : &o->target) = d;
    } else if (!strcmp(a, "--optimizer")) {
        if (strcmp(v, "sgd") && strcmp(v, "adamw"))
            return VALUE_BAD;
        o->optimizer = strcmp(v, "sgd") ? CLMSD_OPTIM_ADAMW : CLMSD_OPTIM_SGD;
    } else if (!strcmp(a, "--device")) {
        o->device = v;
    } else if (!strcmp(a, "--out")) {
        o->out = v;
    } else if (!strcmp(a, "--data")) {
        o->data = v;
    } else if (!strcmp(a, "--features") || !strcmp(a, "--x-tensor") || !strcmp(a, "--y-tensor") ||
               !strcmp(a, "--val-tensor") || !strcmp(a, "--checkpoint")) {
        if (!*v)
            return VALUE_BAD;
        *(!strcmp(a, "--features")     ? &o->features
          : !strcmp(a, "--x-tensor")   ? &o->x_tensor
          : !strcmp(a, "--y-tensor")   ? &o->y_tensor
          : !strcmp(a, "--val-tensor") ? &o->val_tensor
                                       : &o->checkpoint) = v;
    }
    return VALUE_OK;
}

int train_parse(int argc, char **argv, train_options *o)
{
    *o = (train_options){.samples = {1, 2, 4, 8, 16},
                         .runs = 5,
                         .rate = 0.5,
                         .epochs = 10,
                         .eval_every = 2,
                         .batch = 16,
                         .hidden = 512,
                         .lr = 0.05,
                         .momentum = 0.9,
                         .optimizer = CLMSD_OPTIM_SGD,
                         .target = 0.15,
                         .seed = 2019,
                         .x_tensor = "features",
                         .y_tensor = "targets",
                         .val_fraction = 0.1,
                         .layer_rate = 0.1,
                         .loss = -1};
    o->data = digits_default_path(o->default_data, sizeof o->default_data); /* after: the literal zeroes it */
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(train_usage, stdout);
            return 1;
        }
        if (!known(a)) {
            fprintf(stderr, "clmsd train: unknown option %s; the options are:\n%s", a, options_text());
            return -1;
        }
        if (!strcmp(a, "--mpi") || !strcmp(a, "--resume") || !strcmp(a, "--eval-train")) { /* no value */
            *(!strcmp(a, "--mpi") ? &o->mpi : !strcmp(a, "--resume") ? &o->resume : &o->eval_train) = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "clmsd train: %s needs a value (see --help)\n", a);
            return -1;
        }
        ++i;
        int bad = set_value(o, a, v);
        if (bad == VALUE_BAD_RATE)
            fprintf(stderr, "clmsd train: invalid value \"%s\" for %s: drop rates are numbers in [0, 1)\n", v, a);
        else if (bad)
            fprintf(stderr, "clmsd train: invalid value \"%s\" for %s (see --help)\n", v, a);
        if (bad)
            return -1;
    }
    if (!o->features && (o->resume || o->checkpoint || o->stop_after || o->eval_train)) {
        fprintf(stderr, "clmsd train: --checkpoint, --resume, --stop-after and --eval-train need --features (the "
                        "digits run compares K, evaluates its own way and keeps no checkpoint)\n");
        return -1;
    }
    if (o->features && o->digits_only) {
        fprintf(stderr, "clmsd train: %s belongs to the digits run, not to --features\n", o->digits_only);
        return -1;
    }
    if (o->features && o->runs > 1 && o->samples_given) {
        fprintf(stderr, "clmsd train: --features trains one head: give --samples one K\n");
        return -1;
    }
    if (o->features && !o->samples_given)
        o->samples[0] = 5, o->runs = 1; /* the QUEST model's */
    if (o->resume && !o->checkpoint) {
        fprintf(stderr, "clmsd train: --resume needs --checkpoint DIR\n");
        return -1;
    }
    if (o->stop_after > o->epochs) {
        fprintf(stderr, "clmsd train: --stop-after %d is after the last epoch (--epochs %d)\n", o->stop_after,
                o->epochs);
        return -1;
    }
    if (o->stream == CLMSD_STREAM_PHILOX_V1_U8) { /* after the loop: --rate may come before --stream */
        if (check_u8_rate("--rate", o->rate))
            return -1;
        for (int k = 0; k < o->nrates; ++k)
            if (check_u8_rate("--rates", o->rates[k]))
                return -1;
    }
    return 0;
}

double train_lr(const train_options *o, uint64_t step, uint64_t total)
{
    double s = (double)step, warmup = o->warmup;
    if (s < warmup)
        return o->lr * s / warmup;
    if (o->schedule == SCHEDULE_CONSTANT)
        return o->lr;
    double progress = (s - warmup) / fmax(1.0, (double)total - warmup);
    if (o->schedule == SCHEDULE_LINEAR)
        return o->lr * fmax(0.0, 1.0 - progress);
    return o->lr * fmax(0.0, 0.5 * (1.0 + cos(M_PI * progress)));
}

clmsd_optim_desc train_optim_desc(const train_options *o)
{
    if (o->optimizer == CLMSD_OPTIM_ADAMW)
        return (clmsd_optim_desc){.kind = CLMSD_OPTIM_ADAMW,
                                  .beta1 = 0.9,
                                  .beta2 = 0.999,
                                  .eps = 1e-8,
                                  .weight_decay = o->weight_decay,
                                  .max_grad_norm = o->max_grad_norm};
    return (clmsd_optim_desc){.kind = CLMSD_OPTIM_SGD,
                              .momentum = o->momentum,
                              .weight_decay = o->weight_decay,
                              .max_grad_norm = o->max_grad_norm};
}

/* v as the shortest of %.15g and %.17g that reads back as v: two values print alike only if equal */
static void exact_double(char *out, size_t size, double v)
{
    snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, size, "%.17g", v);
}

/* Every option the ranks of --mpi must share, and a resumed run its checkpoint, a "--option value"
 * line each, in one order: all but --device and --out (each rank's own), --checkpoint, --resume
 * and --stop-after (where and how far, not what), and --data's or --features' path (the contents
 * count, as data_hash). */
int train_options_text(const train_options *o, uint64_t data_hash, char *out, size_t size)
{
    char samples[TRAIN_MAX_RUNS * 12] = "", rates[TRAIN_MAX_RATES * 26] = "", v[6][32];
    for (int i = 0; i < o->runs; ++i)
        snprintf(samples + strlen(samples), sizeof samples - strlen(samples), "%s%u", i ? "," : "",
                 (unsigned)o->samples[i]);
    for (int i = 0; i < o->nrates; ++i) {
        char r[32];
        exact_double(r, sizeof r, o->rates[i]);
        snprintf(rates + strlen(rates), sizeof rates - strlen(rates), "%s%s", i ? "," : "", r);
    }
    const double values[6] = {o->rate, o->lr, o->momentum, o->target, o->weight_decay, o->max_grad_norm};
    for (int i = 0; i < 6; ++i)
        exact_double(v[i], sizeof v[i], values[i]);
    int n = snprintf(out, size,
                     "--samples %s\n--rate %s\n--rates %s\n--combine %d\n--epochs %d\n--batch %zu\n"
                     "--last-batch %d\n--lr %s\n--momentum %s\n--optimizer %d\n--weight-decay %s\n"
                     "--max-grad-norm %s\n--hidden %zu\n--target %s\n"
                     "--eval-every %d\n--stream %d\n--x-type %d\n--engine %d\n--seed %llu\n"
                     "--data (its contents) %016llx\n",
                     samples, v[0], rates, (int)o->combine, o->epochs, o->batch, o->keep_last, v[1], v[2],
                     (int)o->optimizer, v[4], v[5], o->hidden, v[3], o->eval_every, (int)o->stream, (int)o->x_type,
                     (int)o->engine, (unsigned long long)o->seed, (unsigned long long)data_hash);
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (o->features) { /* the features run's own options; --data's line then stands for the features file */
        char vf[32], lr[32];
        exact_double(vf, sizeof vf, o->val_fraction);
        exact_double(lr, sizeof lr, o->layer_rate);
        int m = snprintf(out + n, size - (size_t)n,
                         "--x-tensor %s\n--y-tensor %s\n--val-tensor %s\n--val-fraction %s\n--loss %d\n"
                         "--classes %zu\n--layer-rate %s\n--schedule %d\n--warmup %d\n",
                         o->x_tensor, o->y_tensor, o->val_tensor ? o->val_tensor : "(none)", vf, o->loss, o->classes,
                         lr, (int)o->schedule, o->warmup);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
    }
    return 0;
}
