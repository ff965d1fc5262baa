/* SPDX-License-Identifier: MIT */
/* The device optimizer on gradients from stdin, for tests/optim_torch.py: reads W [C, H] and b [C],
 * then for each step its learning rate (float64) and the gradients dW and db (float32, native
 * order); writes the final W and b to stdout.
 * usage: optim_trace C H STEPS sgd|adamw MOMENTUM NESTEROV BETA1 BETA2 EPS WEIGHT_DECAY MAX_NORM */
#include <clmsd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(clmsd_context *ctx, const char *what)
{
    fprintf(stderr, "optim_trace: %s: %s\n", what, clmsd_context_last_error(ctx));
    return 1;
}

static int read_all(void *p, size_t bytes) { return fread(p, 1, bytes, stdin) == bytes ? 0 : -1; }

int main(int argc, char **argv)
{
    if (argc != 12) {
        fprintf(stderr, "usage: optim_trace C H STEPS sgd|adamw MOMENTUM NESTEROV BETA1 BETA2 EPS WEIGHT_DECAY "
                        "MAX_NORM\n");
        return 2;
    }
    size_t c = strtoul(argv[1], NULL, 10), h = strtoul(argv[2], NULL, 10), steps = strtoul(argv[3], NULL, 10);
    clmsd_optim_desc desc = {.kind = strcmp(argv[4], "adamw") ? CLMSD_OPTIM_SGD : CLMSD_OPTIM_ADAMW,
                             .momentum = atof(argv[5]),
                             .nesterov = atoi(argv[6]),
                             .beta1 = atof(argv[7]),
                             .beta2 = atof(argv[8]),
                             .eps = atof(argv[9]),
                             .weight_decay = atof(argv[10]),
                             .max_grad_norm = atof(argv[11])};
    clmsd_context *ctx = NULL;
    if (clmsd_context_create(NULL, &ctx) != CLMSD_SUCCESS)
        return fail(NULL, "context");
    clmsd_head_desc hd = {.batch = 1, .features = h, .classes = c, .samples = 1, .engine = CLMSD_ENGINE_FUSED};
    clmsd_head *head = NULL;
    clmsd_optim *opt = NULL;
    if (clmsd_head_create(ctx, &hd, &head) != CLMSD_SUCCESS)
        return fail(ctx, "head");
    if (clmsd_optim_create(head, &desc, &opt) != CLMSD_SUCCESS)
        return fail(ctx, "optimizer");
    size_t n = c * h + c;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    if (!p || !g || read_all(p, n * sizeof(float)))
        return fail(ctx, "reading W and b");
    cl_context cl = clmsd_context_cl_context(ctx);
    cl_command_queue q = clmsd_context_queue(ctx);
    cl_mem dp = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float), p, NULL);
    cl_mem dg = clCreateBuffer(cl, CL_MEM_READ_WRITE, n * sizeof(float), NULL, NULL);
    clmsd_head_args a = {.w = dp, .dw = dg, .bias = dp, .bias_off = c * h, .dbias = dg, .dbias_off = c * h};
    for (size_t s = 0; s < steps; ++s) {
        double lr;
        if (read_all(&lr, sizeof lr) || read_all(g, n * sizeof(float)))
            return fail(ctx, "reading a step");
        clEnqueueWriteBuffer(q, dg, CL_TRUE, 0, n * sizeof(float), g, 0, NULL, NULL);
        if (clmsd_optim_step(opt, &a, lr, 0, NULL, NULL) != CLMSD_SUCCESS)
            return fail(ctx, "step");
    }
    clEnqueueReadBuffer(q, dp, CL_TRUE, 0, n * sizeof(float), p, 0, NULL, NULL);
    fwrite(p, sizeof(float), n, stdout);
    clReleaseMemObject(dp);
    clReleaseMemObject(dg);
    free(p);
    free(g);
    clmsd_optim_destroy(opt);
    clmsd_head_destroy(head);
    clmsd_context_destroy(ctx);
    return 0;
}
