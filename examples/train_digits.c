/* SPDX-License-Identifier: MIT */
/* A model of the clmsd API: train a multi-sample dropout head (K = 8, p = 0.5, the paper's
 * "average losses") on the digits data over fixed random ReLU features, with clmsd's SGD + momentum.
 *
 *   build/examples/train_digits [path/to/digits.csv.gz]
 */
#include "digits.h"

#include <clmsd.h>
#include <stdio.h>
#include <stdlib.h>

enum { H = 512, C = DIGITS_CLASSES, B = 16, K = 8, EPOCHS = 5 };

#define CHECK(call)                                                            \
    do {                                                                       \
        clmsd_status st_ = (call);                                             \
        if (st_ != CLMSD_SUCCESS) {                                            \
            fprintf(stderr, "%s: %s\n", #call, clmsd_context_last_error(ctx)); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static cl_mem buffer(clmsd_context *ctx, size_t bytes, const void *data)
{
    cl_mem m = clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)data, NULL);
    float zero = 0;
    if (m && !data)
        clEnqueueFillBuffer(clmsd_context_queue(ctx), m, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    return m;
}

int main(int argc, char **argv)
{
    digits data;
    char path[4096];
    if (digits_load(argc > 1 ? argv[1] : digits_default_path(path, sizeof path), &data))
        return 1;
    size_t n = data.count, batches = n / B;
    float *features = malloc(n * H * sizeof *features);
    digits_features(&data, H, 2019, features);

    clmsd_context *ctx = NULL; /* $CLMSD_DEVICE, else the first GPU, else the CPU (pocl) */
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "%s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    cl_command_queue q = clmsd_context_queue(ctx);
    printf("training on %s\n", clmsd_context_device_name(ctx));

    /* one plan for the training loop: validated once, workspace allocated once */
    clmsd_head_desc desc = {.batch = B,
                            .features = H,
                            .classes = C,
                            .samples = K,
                            .rate = 0.5,
                            .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                            .combine = CLMSD_AVERAGE_LOSSES};
    clmsd_head *head;
    CHECK(clmsd_head_create(ctx, &desc, &head));
    clmsd_optim *sgd; /* torch.optim.SGD(momentum=0.9) */
    clmsd_optim_desc momentum = {.kind = CLMSD_OPTIM_SGD, .momentum = 0.9};
    CHECK(clmsd_optim_create(head, &momentum, &sgd));

    cl_mem x = buffer(ctx, n * H * 4, features), y = buffer(ctx, n * 4, data.label);
    cl_mem w = buffer(ctx, C * H * 4, NULL), b = buffer(ctx, C * 4, NULL), loss = buffer(ctx, batches * 4, NULL);
    cl_mem dw = buffer(ctx, C * H * 4, NULL), db = buffer(ctx, C * 4, NULL);
    float *losses = malloc(batches * sizeof *losses);

    uint64_t step = 0;
    for (int epoch = 1; epoch <= EPOCHS; ++epoch) {
        for (size_t i = 0; i < batches; ++i, ++step) {
            clmsd_head_args a = {.seed = 42,
                                 .step = step, /* fresh masks every step */
                                 .x = x,
                                 .x_off = i * B * H,
                                 .w = w,
                                 .bias = b,
                                 .target = y,
                                 .target_off = i * B,
                                 .loss = loss,
                                 .loss_off = i,
                                 .dw = dw,
                                 .dbias = db};
            CHECK(clmsd_head_train_step(head, &a, 0, NULL, NULL));
            CHECK(clmsd_optim_step(sgd, &a, 0.05, 0, NULL, NULL)); /* W and b, on the device */
        }
        clEnqueueReadBuffer(q, loss, CL_TRUE, 0, batches * 4, losses, 0, NULL, NULL);
        double mean = 0;
        for (size_t i = 0; i < batches; ++i)
            mean += losses[i] / batches;
        printf("epoch %d: mean multi-sample dropout loss %.4f\n", epoch, mean);
    }

    /* inference: no dropout, logits = X W^T + b */
    clmsd_head_desc all = desc;
    all.batch = n;
    clmsd_head *predictor;
    CHECK(clmsd_head_create(ctx, &all, &predictor));
    cl_mem logits = buffer(ctx, n * C * 4, NULL);
    clmsd_head_args p = {.x = x, .w = w, .bias = b, .logits = logits};
    CHECK(clmsd_head_predict(predictor, &p, 0, NULL, NULL));
    float *z = malloc(n * C * sizeof *z);
    clEnqueueReadBuffer(q, logits, CL_TRUE, 0, n * C * 4, z, 0, NULL, NULL);
    size_t right = 0;
    for (size_t i = 0; i < n; ++i) {
        int best = 0;
        for (int c = 1; c < C; ++c)
            best = z[i * C + c] > z[i * C + best] ? c : best;
        right += best == data.label[i];
    }
    printf("training-set accuracy: %.3f\n", (double)right / n);

    cl_mem all_buffers[] = {x, y, w, b, loss, dw, db, logits};
    for (size_t i = 0; i < sizeof all_buffers / sizeof all_buffers[0]; ++i)
        clReleaseMemObject(all_buffers[i]);
    clmsd_head_destroy(predictor);
    clmsd_optim_destroy(sgd);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
    free(features);
    free(losses);
    free(z);
    digits_free(&data);
    return 0;
}
