/* SPDX-License-Identifier: MIT */
/* Quick start: a Kaggle-style multi-sample dropout head (K = 5 samples, rates 0.1 to 0.5) trained
 * for a few steps on random features with clmsd's AdamW and a warm-up then linear decay, on the
 * device, then checkpointed. Copied verbatim into README.md. */
#include <clmsd.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 32, H = 768, C = 30, K = 5, STEPS = 10 };

/* the learning rate of step s: a linear warm-up over 3 steps, then a linear decay to 0 */
static double schedule(uint64_t s) { return s < 3 ? 0.01 * (double)s / 3 : 0.01 * (double)(STEPS - s) / (STEPS - 3); }

static cl_mem upload(clmsd_context *ctx, const void *data, size_t bytes)
{
    return clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                          (void *)data, NULL);
}

int main(void)
{
    clmsd_context *ctx; /* $CLMSD_DEVICE, else the first GPU, else the CPU */
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "%s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    static float x[B * H], w[C * H], b[C];
    static int32_t labels[B];
    for (int i = 0; i < B * H; ++i)
        x[i] = (float)rand() / RAND_MAX;
    for (int i = 0; i < B; ++i)
        labels[i] = i % C;
    cl_mem x_ = upload(ctx, x, sizeof x), dw_ = upload(ctx, NULL, sizeof w), db_ = upload(ctx, NULL, sizeof b);
    cl_mem w_ = upload(ctx, w, sizeof w), b_ = upload(ctx, b, sizeof b), y_ = upload(ctx, labels, sizeof labels);
    cl_mem loss_ = upload(ctx, NULL, sizeof(float));

    static const double rates[K] = {0.1, 0.2, 0.3, 0.4, 0.5};
    clmsd_head_desc desc = {.batch = B,
                            .features = H,
                            .classes = C,
                            .samples = K,
                            .rates = rates,
                            .loss = CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY,
                            .combine = CLMSD_AVERAGE_LOSSES};
    clmsd_head *head; /* validates once, allocates its workspace once */
    clmsd_optim *adamw;
    clmsd_optim_desc opt = {.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    if (clmsd_head_create(ctx, &desc, &head) != CLMSD_SUCCESS ||
        clmsd_optim_create(head, &opt, &adamw) != CLMSD_SUCCESS) {
        fprintf(stderr, "%s\n", clmsd_context_last_error(ctx));
        return 1;
    }
    cl_command_queue q = clmsd_context_queue(ctx);
    for (uint64_t step = 0; step < STEPS; ++step) {
        clmsd_head_args a = {.seed = 42,
                             .step = step, /* fresh masks every step */
                             .x = x_,
                             .w = w_,
                             .bias = b_,
                             .target = y_,
                             .loss = loss_,
                             .dw = dw_,
                             .dbias = db_};
        if (clmsd_head_train_step(head, &a, 0, NULL, NULL) != CLMSD_SUCCESS ||
            clmsd_optim_step(adamw, &a, schedule(step), 0, NULL, NULL) != CLMSD_SUCCESS) { /* W, b from dW, db */
            fprintf(stderr, "%s\n", clmsd_context_last_error(ctx));
            return 1;
        }
        float loss;
        clEnqueueReadBuffer(q, loss_, CL_TRUE, 0, sizeof loss, &loss, 0, NULL, NULL);
        printf("step %d: multi-sample dropout loss %.4f\n", (int)step, loss);
    }
    /* a checkpoint: W, b and the optimizer's state (written into a new optimizer with
     * clmsd_optim_write_state, it continues bit for bit; `clmsd train --checkpoint` does this) */
    size_t n = clmsd_optim_state_floats(adamw);
    float *moments = malloc(n * sizeof *moments);
    uint64_t steps;
    clEnqueueReadBuffer(q, w_, CL_TRUE, 0, sizeof w, w, 0, NULL, NULL);
    clEnqueueReadBuffer(q, b_, CL_TRUE, 0, sizeof b, b, 0, NULL, NULL);
    if (!moments || clmsd_optim_read_state(adamw, &steps, moments, n) != CLMSD_SUCCESS)
        return 1;
    printf("checkpoint: W [%d, %d], b [%d] and %zu moments after %d steps\n", C, H, C, n, (int)steps);
    free(moments);
    clmsd_optim_destroy(adamw);
    clmsd_head_destroy(head);
    cl_mem all[] = {x_, dw_, db_, w_, b_, y_, loss_};
    for (int i = 0; i < 7; ++i)
        clReleaseMemObject(all[i]);
    clmsd_context_destroy(ctx);
    return 0;
}
