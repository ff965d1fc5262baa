/* SPDX-License-Identifier: MIT */
/* The whole head of the QUEST model (RoBERTa, Google QUEST Q&A Labeling): the CLS tokens of all
 * L hidden states, each with its own dropout, pooled by learned softmax layer weights, then 5
 * dropout samples through one linear head to 30 targets, logits averaged, BCE. The PyTorch it
 * replaces:
 *
 *   cls = torch.stack([self.dropout(layer[:, 0, :]) for layer in hidden_layers], dim=2)
 *   pooled = (torch.softmax(self.layer_weights, dim=0) * cls).sum(-1)
 *   logits = torch.mean(torch.stack([self.classifier(self.high_dropout(pooled))
 *                                    for _ in range(5)], dim=0), dim=0)
 *
 * The hidden states stay where the backbone wrote them: L tensors [B, T, H] in one buffer, read in
 * place at strides (no copy of the CLS rows), and dX lands at the same strides. Random features
 * stand in for a backbone; a few steps of clmsd's AdamW on W, b and the layer weights. */
#include <clmsd.h>
#include <stdio.h>
#include <stdlib.h>

enum { L = 13, B = 8, T = 16, H = 256, C = 30, K = 5, STEPS = 8 };

static cl_mem buffer(clmsd_context *ctx, const void *data, size_t bytes)
{
    return clCreateBuffer(clmsd_context_cl_context(ctx), CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                          (void *)data, NULL);
}

int main(void)
{
    clmsd_context *ctx;
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS) {
        fprintf(stderr, "%s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    /* the backbone's output: hidden[l][b][t][h], every token of every layer (only t = 0 is read) */
    static float hidden[L * B * T * H], targets[B * C], w[C * H], b[C], layer_logits[L];
    srand(7);
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; ++i)
        hidden[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < B * C; ++i)
        targets[i] = (float)(i % 7) / 6.0f; /* QUEST's targets are ratings in [0, 1] */
    cl_mem hidden_ = buffer(ctx, hidden, sizeof hidden), t_ = buffer(ctx, targets, sizeof targets);
    cl_mem w_ = buffer(ctx, w, sizeof w), b_ = buffer(ctx, b, sizeof b),
           lw_ = buffer(ctx, layer_logits, sizeof layer_logits);
    cl_mem dw_ = buffer(ctx, NULL, sizeof w), db_ = buffer(ctx, NULL, sizeof b),
           dlw_ = buffer(ctx, NULL, sizeof layer_logits);
    cl_mem loss_ = buffer(ctx, NULL, sizeof(float)), dhidden_ = buffer(ctx, NULL, sizeof hidden);

    clmsd_head_desc desc = {.batch = B,
                            .features = H,
                            .classes = C,
                            .samples = K,
                            .rate = 0.5, /* high_dropout */
                            .loss = CLMSD_LOSS_BCE_WITH_LOGITS,
                            .combine = CLMSD_AVERAGE_LOGITS,
                            .layers = L,
                            .layer_rate = 0.1}; /* self.dropout on each layer's CLS row */
    clmsd_head *head;
    clmsd_optim *adamw;
    clmsd_optim_desc opt = {.kind = CLMSD_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    if (clmsd_head_create(ctx, &desc, &head) != CLMSD_SUCCESS ||
        clmsd_optim_create(head, &opt, &adamw) != CLMSD_SUCCESS) {
        fprintf(stderr, "%s\n", clmsd_context_last_error(ctx));
        return 1;
    }
    cl_command_queue q = clmsd_context_queue(ctx);
    for (uint64_t step = 0; step < STEPS; ++step) {
        clmsd_head_args a = {.seed = 2019,
                             .step = step,
                             .x = hidden_, /* layer l's CLS row b: hidden[l][b][0][:] */
                             .x_layer_stride = B * T * H,
                             .x_row_stride = T * H,
                             .layer_weights = lw_,
                             .w = w_,
                             .bias = b_,
                             .target = t_,
                             .loss = loss_,
                             .dw = dw_,
                             .dbias = db_,
                             .dlayer_weights = dlw_,
                             .dx = dhidden_, /* d loss / d hidden[l][b][0][:], for the backbone */
                             .dx_layer_stride = B * T * H,
                             .dx_row_stride = T * H};
        if (clmsd_head_train_step(head, &a, 0, NULL, NULL) != CLMSD_SUCCESS ||
            clmsd_optim_step(adamw, &a, 0.05, 0, NULL, NULL) != CLMSD_SUCCESS) { /* W, b, layer weights */
            fprintf(stderr, "%s\n", clmsd_context_last_error(ctx));
            return 1;
        }
        float loss;
        clEnqueueReadBuffer(q, loss_, CL_TRUE, 0, sizeof loss, &loss, 0, NULL, NULL);
        clEnqueueReadBuffer(q, lw_, CL_TRUE, 0, sizeof layer_logits, layer_logits, 0, NULL, NULL);
        printf("step %d: BCE %.5f, layer weight logits [0] %+.5f [%d] %+.5f\n", (int)step, loss, layer_logits[0], L - 1,
               layer_logits[L - 1]);
    }
    clmsd_optim_destroy(adamw);
    clmsd_head_destroy(head);
    cl_mem all[] = {hidden_, t_, w_, b_, lw_, dw_, db_, dlw_, loss_, dhidden_};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        clReleaseMemObject(all[i]);
    clmsd_context_destroy(ctx);
    return 0;
}
