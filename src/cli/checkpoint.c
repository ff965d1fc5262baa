/* SPDX-License-Identifier: MIT */
/* The checkpoint files of `clmsd train` (checkpoint.h). */
#include "checkpoint.h"

#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const loss_names[] = {"ce", "bce", "mse", "huber"};

static int write_file(const char *dir, const char *name, const safetensors_entry *e, size_t count,
                      const char *const *meta)
{
    char path[4096], error[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (safetensors_write(path, e, count, meta, error, sizeof error)) {
        fprintf(stderr, "clmsd train: cannot write the checkpoint: %s\n", error);
        return -1;
    }
    return 0;
}

int checkpoint_write(const char *dir, const checkpoint *c)
{
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "clmsd train: cannot create the checkpoint folder %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char epoch[24], step[24], classes[24], features[24], layers[24], samples[24];
    snprintf(epoch, sizeof epoch, "%" PRIu64, c->epoch);
    snprintf(step, sizeof step, "%" PRIu64, c->step);
    snprintf(classes, sizeof classes, "%zu", c->classes);
    snprintf(features, sizeof features, "%zu", c->features);
    snprintf(layers, sizeof layers, "%zu", c->layers);
    snprintf(samples, sizeof samples, "%u", (unsigned)c->samples);
    const char *meta[] = {"format",   CHECKPOINT_FORMAT,
                          "loss",     loss_names[c->loss],
                          "samples",  samples,
                          "classes",  classes,
                          "features", features,
                          "layers",   layers,
                          "epoch",    epoch,
                          "step",     step,
                          "options",  c->options,
                          NULL};
    safetensors_entry moments = {"moments", SAFETENSORS_F32, 1, {c->nmoments}, c->moments};
    safetensors_entry head[] = {{"weight", SAFETENSORS_F32, 2, {c->classes, c->features}, c->weight},
                                {"bias", SAFETENSORS_F32, 1, {c->classes}, c->bias},
                                {"layer_weights", SAFETENSORS_F32, 1, {c->layers}, c->layer_weights}};
    return write_file(dir, "optimizer.safetensors", &moments, 1, meta) ||
                   write_file(dir, "head.safetensors", head, c->layers ? 3 : 2, meta)
               ? -1
               : 0;
}

/* tensor name of f as a fresh float array of exactly `elements` F32 values, or NULL after a message */
static float *floats(const safetensors_file *f, const char *path, const char *name, size_t elements)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t || t->dtype != SAFETENSORS_F32 || t->elements != elements) {
        fprintf(stderr, "clmsd: %s: %s \"%s\" (F32, %zu values)\n", path, t ? "wrong" : "no tensor", name, elements);
        return NULL;
    }
    float *v = malloc(elements ? elements * sizeof *v : 1);
    if (v)
        memcpy(v, t->data, t->bytes);
    else
        fprintf(stderr, "clmsd: %s: out of memory\n", path);
    return v;
}

/* metadata key of f as an unsigned number below limit, or -1 after a message */
static int number(const safetensors_file *f, const char *path, const char *key, uint64_t limit, uint64_t *out)
{
    const char *v = safetensors_metadata(f, key);
    char *end = NULL;
    errno = 0;
    unsigned long long n = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!v || !end || *end || errno || n > limit) {
        fprintf(stderr, "clmsd: %s: metadata \"%s\" is %s%s%s, not a count below %" PRIu64 "\n", path, key,
                v ? "\"" : "missing", v ? v : "", v ? "\"" : "", limit);
        return -1;
    }
    *out = n;
    return 0;
}

static int open_file(const char *dir, const char *name, safetensors_file *f, char *path, size_t size)
{
    char error[4200];
    snprintf(path, size, "%s/%s", dir, name);
    if (safetensors_open(path, f, error, sizeof error)) {
        fprintf(stderr, "clmsd: cannot read the checkpoint: %s\n", error);
        return -1;
    }
    return 0;
}

int checkpoint_parse_head(const safetensors_file *f, const char *path, checkpoint *c)
{
    const char *format = safetensors_metadata(f, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT)) {
        fprintf(stderr, "clmsd: %s: not a clmsd checkpoint (metadata \"format\" is not \"%s\")\n", path,
                CHECKPOINT_FORMAT);
        return -1;
    }
    uint64_t v[6];
    static const char *const keys[] = {"classes", "features", "layers", "samples", "epoch", "step"};
    static const uint64_t limits[] = {1u << 30, 1u << 30, 1u << 16, 1u << 16, UINT64_MAX >> 1, UINT64_MAX >> 1};
    for (int i = 0; i < 6; ++i)
        if (number(f, path, keys[i], limits[i], &v[i]))
            return -1;
    c->classes = v[0], c->features = v[1], c->layers = v[2], c->samples = (uint32_t)v[3], c->epoch = v[4],
    c->step = v[5];
    const char *loss = safetensors_metadata(f, "loss"), *options = safetensors_metadata(f, "options");
    c->loss = -1;
    for (int i = 0; loss && i < 4; ++i)
        if (!strcmp(loss, loss_names[i]))
            c->loss = i;
    if (c->loss < 0 || !options || c->classes == 0 || c->features == 0 || c->samples == 0 || c->layers == 1) {
        fprintf(stderr, "clmsd: %s: metadata \"loss\", \"options\", or the shape is missing or wrong\n", path);
        return -1;
    }
    if (!(c->storage = strdup(options)))
        return -1;
    c->options = c->storage;
    c->weight = floats(f, path, "weight", c->classes * c->features);
    c->bias = floats(f, path, "bias", c->classes);
    c->layer_weights = c->layers ? floats(f, path, "layer_weights", c->layers) : NULL;
    return c->weight && c->bias && (!c->layers || c->layer_weights) ? 0 : -1;
}

static int read_optimizer(const safetensors_file *f, const char *path, checkpoint *c)
{
    uint64_t epoch, step;
    const char *options = safetensors_metadata(f, "options");
    if (number(f, path, "epoch", UINT64_MAX >> 1, &epoch) || number(f, path, "step", UINT64_MAX >> 1, &step))
        return -1;
    if (epoch != c->epoch || step != c->step || !options || strcmp(options, c->options)) {
        fprintf(stderr,
                "clmsd: %s is not of the same run and epoch as head.safetensors beside it (epoch %" PRIu64
                " against %" PRIu64 "): was the run cut off while it wrote them?\n",
                path, epoch, c->epoch);
        return -1;
    }
    const safetensors_tensor *t = safetensors_find(f, "moments");
    if (!t || t->dtype != SAFETENSORS_F32 || t->rank != 1) {
        fprintf(stderr, "clmsd: %s: no F32 tensor \"moments\" [n]\n", path);
        return -1;
    }
    c->nmoments = (size_t)t->elements;
    return (c->moments = floats(f, path, "moments", c->nmoments)) ? 0 : -1;
}

int checkpoint_read(const char *dir, int optimizer, checkpoint *c)
{
    *c = (checkpoint){.loss = -1};
    char path[4096];
    safetensors_file head, optim;
    if (open_file(dir, "head.safetensors", &head, path, sizeof path))
        return -1;
    int rc = checkpoint_parse_head(&head, path, c);
    safetensors_close(&head);
    if (rc == 0 && optimizer) {
        if (open_file(dir, "optimizer.safetensors", &optim, path, sizeof path))
            rc = -1;
        else if (strcmp(safetensors_metadata(&optim, "format") ? safetensors_metadata(&optim, "format") : "",
                        CHECKPOINT_FORMAT)) {
            fprintf(stderr, "clmsd: %s: not a clmsd checkpoint\n", path);
            safetensors_close(&optim);
            rc = -1;
        } else {
            rc = read_optimizer(&optim, path, c);
            safetensors_close(&optim);
        }
    }
    if (rc)
        checkpoint_free(c);
    return rc;
}

void checkpoint_free(checkpoint *c)
{
    free(c->weight);
    free(c->bias);
    free(c->layer_weights);
    free(c->moments);
    free(c->storage);
    *c = (checkpoint){.loss = -1};
}
