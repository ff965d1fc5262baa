/* SPDX-License-Identifier: MIT */
/* `clmsd predict`: the logits (and probabilities for CE and BCE) of a trained head on the rows of a
 * features file, batched, written as a safetensors file. */
#include "checkpoint.h"
#include "cli.h"
#include "features_file.h"
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one chunk of rows through head: 0 or -1 */
static int chunk(clmsd_head *head, clmsd_context *ctx, const features *f, size_t classes, cl_mem x, cl_mem out,
                 const clmsd_head_args *base, size_t rows, unsigned char *stage, float *logits, const char *who)
{
    cl_command_queue q = clmsd_context_queue(ctx);
    if (cli_cl_check(clEnqueueWriteBuffer(q, x, CL_TRUE, 0, rows * f->row_bytes, stage, 0, NULL, NULL), who,
                     "clEnqueueWriteBuffer") ||
        cli_check(clmsd_head_predict(head, base, 0, NULL, NULL), ctx, who, "prediction"))
        return -1;
    return cli_cl_check(clEnqueueReadBuffer(q, out, CL_TRUE, 0, rows * classes * 4, logits, 0, NULL, NULL), who,
                        "clEnqueueReadBuffer");
}

int predict_logits(clmsd_context *ctx, const features *f, size_t classes, const size_t *rows, size_t n, size_t batch,
                   cl_mem w, cl_mem b, cl_mem layer_weights, float *logits, const char *who)
{
    if (n == 0)
        return 0;
    batch = batch < n ? batch : n;
    size_t sizes[2] = {batch, n % batch};
    clmsd_head *heads[2] = {NULL, NULL};
    cl_int err = CL_SUCCESS, err2 = CL_SUCCESS;
    cl_context cl = clmsd_context_cl_context(ctx);
    cl_mem x = clCreateBuffer(cl, CL_MEM_READ_ONLY, batch * f->row_bytes, NULL, &err);
    cl_mem out = clCreateBuffer(cl, CL_MEM_WRITE_ONLY, batch * classes * 4, NULL, &err2);
    unsigned char *stage = malloc(batch * f->row_bytes);
    size_t *all = rows ? NULL : malloc(batch * sizeof *all);
    int rc = x && out && stage && (rows || all) ? 0 : -1;
    if (rc)
        fprintf(stderr, "%s: out of memory for %zu rows of predictions (OpenCL errors %d, %d)\n", who, batch, err,
                err2);
    for (int i = 0; i < 2 && rc == 0; ++i) {
        clmsd_head_desc d = {.batch = sizes[i],
                             .features = f->hidden,
                             .classes = classes,
                             .samples = 1,
                             .layers = f->layers > 1 ? f->layers : 0,
                             .x_type = f->type,
                             .dx_type = f->type};
        if (sizes[i])
            rc = cli_check(clmsd_head_create(ctx, &d, &heads[i]), ctx, who, "planning the prediction");
    }
    clmsd_head_args a = {
        .x = x, .w = w, .bias = b, .logits = out, .layer_weights = f->layers > 1 ? layer_weights : NULL};
    if (f->layers > 1)
        a.x_row_stride = f->layers * f->hidden, a.x_layer_stride = f->hidden; /* [B, L, H] as gathered */
    for (size_t first = 0; first < n && rc == 0; first += batch) {
        size_t count = n - first < batch ? n - first : batch;
        const size_t *r = rows ? rows + first : all;
        for (size_t i = 0; !rows && i < count; ++i)
            all[i] = first + i;
        features_gather(f, r, count, stage, NULL);
        rc = chunk(heads[count == batch ? 0 : 1], ctx, f, classes, x, out, &a, count, stage, logits + first * classes,
                   who);
    }
    clmsd_head_destroy(heads[0]);
    clmsd_head_destroy(heads[1]);
    if (x)
        clReleaseMemObject(x);
    if (out)
        clReleaseMemObject(out);
    free(stage);
    free(all);
    return rc;
}

static const char predict_usage[] =
    "usage: clmsd predict --checkpoint DIR --features FILE --out FILE [options]\n"
    "\n"
    "The logits of the head `clmsd train --checkpoint DIR` trained, on every row of a features file,\n"
    "written to a safetensors file: \"logits\" [N, C] (F32) and, for ce and bce, \"probabilities\"\n"
    "[N, C] (softmax or sigmoid). The features' names, layers and width must be the head's.\n"
    "\n"
    "  --checkpoint DIR the checkpoint (DIR/head.safetensors)\n"
    "  --features FILE  a safetensors file of features [N, H] or [N, L, H]\n"
    "  --x-tensor NAME  the features' tensor (default features)\n"
    "  --out FILE       the predictions (replaced whole)\n"
    "  --batch B        rows an enqueue (default 1024)\n"
    "  --device D       an OpenCL device (\"P:D\" or a name substring; default $CLMSD_DEVICE or the first)\n";

typedef struct predict_options {
    const char *checkpoint, *features, *x_tensor, *out, *device;
    size_t batch;
} predict_options;

static int parse(int argc, char **argv, predict_options *o)
{
    *o = (predict_options){.x_tensor = "features", .batch = 1024};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(predict_usage, stdout);
            return 1;
        }
        const char **slot = !strcmp(a, "--checkpoint") ? &o->checkpoint
                            : !strcmp(a, "--features") ? &o->features
                            : !strcmp(a, "--x-tensor") ? &o->x_tensor
                            : !strcmp(a, "--out")      ? &o->out
                            : !strcmp(a, "--device")   ? &o->device
                                                       : NULL;
        if (!slot && strcmp(a, "--batch")) {
            fprintf(stderr, "clmsd predict: unknown option %s\n\n%s", a, predict_usage);
            return -1;
        }
        if (!v || !*v) {
            fprintf(stderr, "clmsd predict: %s needs a value\n", a);
            return -1;
        }
        ++i;
        if (slot) {
            *slot = v;
            continue;
        }
        char *end;
        unsigned long long b = strtoull(v, &end, 10);
        if (*v < '1' || *v > '9' || *end || b > 1000000) {
            fprintf(stderr, "clmsd predict: --batch %s is not a count in [1, 1000000]\n", v);
            return -1;
        }
        o->batch = (size_t)b;
    }
    if (!o->checkpoint || !o->features || !o->out) {
        fprintf(stderr, "clmsd predict: --checkpoint, --features and --out are required\n\n%s", predict_usage);
        return -1;
    }
    return 0;
}

/* softmax of each row (CE) or sigmoid of each logit (BCE) */
static void probabilities(int loss, const float *z, size_t n, size_t C, float *p)
{
    for (size_t r = 0; r < n; ++r) {
        const float *zr = z + r * C;
        double top = zr[0], s = 0;
        for (size_t c = 0; c < C; ++c)
            top = fmax(top, zr[c]);
        for (size_t c = 0; c < C; ++c)
            s += exp(zr[c] - top);
        for (size_t c = 0; c < C; ++c)
            p[r * C + c] = (float)(loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY ? exp(zr[c] - top) / s
                                                                            : 1 / (1 + exp(-(double)zr[c])));
    }
}

static cl_mem upload(clmsd_context *ctx, const float *v, size_t n)
{
    cl_int err;
    cl_mem m =
        clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * 4, (void *)v, &err);
    if (err != CL_SUCCESS)
        fprintf(stderr, "clmsd predict: clCreateBuffer(%zu) failed (%d)\n", n * 4, err);
    return err == CL_SUCCESS ? m : NULL;
}

int clmsd_cli_predict(int argc, char **argv)
{
    predict_options o;
    int parsed = parse(argc, argv, &o);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    checkpoint c;
    if (checkpoint_read(o.checkpoint, 0, &c))
        return 2;
    features f;
    char error[4400];
    int rc = 2;
    clmsd_context *ctx = NULL;
    cl_mem w = NULL, b = NULL, lw = NULL;
    float *logits = NULL, *probs = NULL;
    if (features_open(o.features, o.x_tensor, NULL, -1, 0, &f, error, sizeof error)) {
        fprintf(stderr, "clmsd predict: %s\n", error);
        checkpoint_free(&c);
        return 2;
    }
    if (f.hidden != c.features || (f.layers > 1 ? f.layers : 0) != c.layers) {
        fprintf(stderr,
                "clmsd predict: %s: features \"%s\" are [%zu, %zu, %zu] (N, L, H); the head of %s takes L %zu, H %zu\n",
                o.features, o.x_tensor, f.rows, f.layers, f.hidden, o.checkpoint, c.layers ? c.layers : 1, c.features);
        goto out;
    }
    rc = 1;
    if (clmsd_context_create(o.device, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd predict: %s\n", clmsd_context_last_error(NULL));
        goto out;
    }
    logits = malloc(f.rows * c.classes * sizeof *logits);
    probs = malloc(f.rows * c.classes * sizeof *probs);
    w = upload(ctx, c.weight, c.classes * c.features);
    b = upload(ctx, c.bias, c.classes);
    lw = c.layers ? upload(ctx, c.layer_weights, c.layers) : NULL;
    if (!logits || !probs || !w || !b || (c.layers && !lw) ||
        predict_logits(ctx, &f, c.classes, NULL, f.rows, o.batch, w, b, lw, logits, "clmsd predict"))
        goto out;
    int with_probs = c.loss == CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY || c.loss == CLMSD_LOSS_BCE_WITH_LOGITS;
    if (with_probs)
        probabilities(c.loss, logits, f.rows, c.classes, probs);
    safetensors_entry e[] = {{"logits", SAFETENSORS_F32, 2, {f.rows, c.classes}, logits},
                             {"probabilities", SAFETENSORS_F32, 2, {f.rows, c.classes}, probs}};
    const char *meta[] = {"checkpoint", o.checkpoint, "features", o.features, NULL};
    if (safetensors_write(o.out, e, with_probs ? 2 : 1, meta, error, sizeof error)) {
        fprintf(stderr, "clmsd predict: %s\n", error);
        goto out;
    }
    printf("clmsd predict on %s: %zu rows of %s through %s: %s [%zu, %zu]%s into %s\n", clmsd_context_device_name(ctx),
           f.rows, o.features, o.checkpoint, "logits", f.rows, c.classes, with_probs ? " and probabilities" : "",
           o.out);
    rc = 0;
out:
    for (cl_mem *m = (cl_mem[]){w, b, lw}, *end = m + 3; m < end; ++m)
        if (*m)
            clReleaseMemObject(*m);
    clmsd_context_destroy(ctx);
    free(logits);
    free(probs);
    features_close(&f);
    checkpoint_free(&c);
    return rc;
}
