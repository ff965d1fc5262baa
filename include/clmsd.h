/* SPDX-License-Identifier: MIT */
/* clmsd: multi-sample dropout on OpenCL, reproducible on every device.
 *
 * Thread rule: a clmsd_context (and every head made from it) is used by one thread at a time.
 * Different threads may use different contexts concurrently, even on the same device.
 *
 * Conventions: every fallible call returns clmsd_status (CLMSD_SUCCESS = 0) and validates all of
 * its arguments before enqueuing anything; on error nothing is enqueued and no caller buffer is
 * written. Offsets and leading dimensions are in elements. Enqueue calls end with
 * (num_wait, wait, event): `event` may be NULL; an event returned belongs to the caller.
 * Buffers passed in stay the caller's: clmsd never releases them.
 *
 * Compatibility: status and enum values are pinned; public structs only ever gain fields at their
 * end, so initialise them with designated initialisers ({.batch = B, ...}) and leave the rest 0.
 * The host references of everything here are in clmsd_ref.h.
 */
#ifndef CLMSD_H
#define CLMSD_H

/* The declarations are laid out by hand: each operand with its offset and leading dimension. */
/* clang-format off */

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "clmsd_version.h"

/* The public functions: exported from the DLL that defines them and imported by its users on
 * Windows (CLMSD_BUILDING while building the library; CLMSD_STATIC for a static library), of
 * default visibility elsewhere (the library is built with -fvisibility=hidden). */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(CLMSD_STATIC)
#define CLMSD_API
#elif defined(CLMSD_BUILDING)
#define CLMSD_API __declspec(dllexport)
#else
#define CLMSD_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define CLMSD_API __attribute__((visibility("default")))
#else
#define CLMSD_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Values are pinned: they never change between versions. */
typedef enum clmsd_status {
    CLMSD_SUCCESS = 0,
    CLMSD_ERROR_INVALID_ARGUMENT = 1, /* NULL where a value is required, invalid enum value */
    CLMSD_ERROR_INVALID_SIZE = 2,     /* zero or overflowing size, ld < cols, element index >= 2^34 */
    CLMSD_ERROR_INVALID_RATE = 3,     /* drop rate NaN, infinite, negative or >= 1 */
    CLMSD_ERROR_INVALID_BUFFER = 4,   /* buffer too small for offset + extent, or from another context */
    CLMSD_ERROR_DEVICE_NOT_FOUND = 5, /* no OpenCL device, or none matching the device spec */
    CLMSD_ERROR_OPENCL = 6,           /* an OpenCL call failed: clmsd_context_last_error names it */
    CLMSD_ERROR_BUILD = 7,            /* kernel compilation failed: the build log is in last_error */
    CLMSD_ERROR_CLBLAST = 8,          /* a CLBlast call failed: its status name is in last_error */
    CLMSD_ERROR_OUT_OF_MEMORY = 9,    /* host allocation failed */
    CLMSD_ERROR_UNSUPPORTED = 10,     /* the device or the plan cannot do what was asked */
    CLMSD_ERROR_MPI = 11              /* an MPI call failed (clmsd_mpi.h) */
} clmsd_status;

CLMSD_API const char *clmsd_status_string(clmsd_status status);
CLMSD_API const char *clmsd_version_string(void);

/* ------------------------------------------------------------------------------------------------
 * Devices and contexts
 * ---------------------------------------------------------------------------------------------- */

typedef struct clmsd_context clmsd_context;

/* One line per OpenCL device, for choosing a device spec. */
typedef struct clmsd_device_info {
    unsigned platform_index, device_index;
    /* the driver's strings, whole when they fit (pocl's version string is 65 bytes), else cut
       visibly with "..." */
    char platform_name[256], device_name[256], vendor[256], driver_version[256], opencl_version[256];
    int is_gpu;
    cl_uint compute_units, max_clock_mhz;
    cl_ulong global_mem_bytes, local_mem_bytes;
    size_t max_work_group_size;
    int denormals; /* CL_FP_DENORM in CL_DEVICE_SINGLE_FP_CONFIG */
} clmsd_device_info;

/* Fills up to `capacity` entries of `out` (out may be NULL when capacity is 0) and sets *count to
 * the number of devices present. */
CLMSD_API clmsd_status clmsd_devices_list(clmsd_device_info *out, size_t capacity, size_t *count);

/* device: NULL means $CLMSD_DEVICE if set, else the first GPU, else the first CPU device.
 * A spec is "P:D" (platform and device indices) or a case-insensitive substring of
 * "platform name / device name". */
CLMSD_API clmsd_status clmsd_context_create(const char *device, clmsd_context **out);
/* Attach to a caller's queue: retains it, reads its context and device, releases only what it
 * retained. Kernels are enqueued on that queue (in-order or out-of-order both work). */
CLMSD_API clmsd_status clmsd_context_create_from_queue(cl_command_queue queue, clmsd_context **out);
/* Waits for the queue, then releases everything clmsd created for the context, CLBlast's cached
 * programs included: when destroy returns, no OpenCL object of clmsd's is alive. CLBlast can only
 * clear its whole cache, so other CLBlast users in the process rebuild their programs on their next
 * call (docs/portability.md). Accepts NULL. */
CLMSD_API void clmsd_context_destroy(clmsd_context *ctx);
/* The message of the last failed call on ctx, or "" when none. With ctx NULL: the message of the
 * last failed call on this thread that had no context (context creation, NULL context). */
CLMSD_API const char *clmsd_context_last_error(const clmsd_context *ctx);
/* Compile every kernel now, and run the CLBlast routines the heads use once, so that later calls
 * do not pay the one-time compilation (seconds on pocl; 20 to 40 s per CLBlast routine cold). */
CLMSD_API clmsd_status clmsd_context_warmup(clmsd_context *ctx);
CLMSD_API cl_context clmsd_context_cl_context(const clmsd_context *ctx);
CLMSD_API cl_command_queue clmsd_context_queue(const clmsd_context *ctx);
CLMSD_API cl_device_id clmsd_context_device(const clmsd_context *ctx);
CLMSD_API const char *clmsd_context_device_name(const clmsd_context *ctx);
/* The kernels' shape on this context: "gpu" (many work-items, few registers each) on GPUs, "cpu"
 * (wide vectors, few work-items) elsewhere; $CLMSD_TILING=cpu|gpu at context creation forces
 * either on any device. Both give the same bits (canonical order v2, docs/canonical-order.md). */
CLMSD_API const char *clmsd_context_tiling(const clmsd_context *ctx);

/* ------------------------------------------------------------------------------------------------
 * Dropout with K samples on the clmsd-philox-v1 streams (docs/rng.md)
 * ---------------------------------------------------------------------------------------------- */

#define CLMSD_MAX_ELEMENTS (UINT64_C(1) << 34) /* (row_offset + rows) * cols must not exceed this */

/* The stream a mask is drawn from (docs/rng.md). Values are pinned. */
typedef enum clmsd_stream {
    CLMSD_STREAM_PHILOX_V1 = 0,   /* clmsd-philox-v1: a 32-bit word per element, any rate in [0, 1) */
    CLMSD_STREAM_PHILOX_V1_U8 = 1 /* clmsd-philox-v1-u8: a byte per element (one Philox block per 16
                                     elements), rates exact multiples of 1/256 */
} clmsd_stream;

/* The storage type of the features X and their gradient dX; the arithmetic is fp32 (loads widen
 * exactly, dX stores round to nearest even: docs/canonical-order.md). Values are pinned. */
typedef enum clmsd_type {
    CLMSD_FLOAT32 = 0,
    CLMSD_FLOAT16 = 1, /* IEEE binary16 */
    CLMSD_BFLOAT16 = 2 /* the high half of an fp32 */
} clmsd_type;

/* Bytes per element of a type; 0 for a value that is not a clmsd_type. */
CLMSD_API size_t clmsd_type_size(clmsd_type type);

typedef struct clmsd_dropout_desc {
    uint64_t seed, step;  /* stream key and training step */
    uint32_t samples;     /* K >= 1 */
    const double *rates;  /* K drop probabilities in [0, 1), or NULL: every sample uses `rate` */
    double rate;
    size_t rows, cols;    /* the matrix x is [rows, cols] */
    size_t row_offset;    /* global row of local row 0: masks are keyed on global rows */
    clmsd_stream stream;  /* CLMSD_STREAM_PHILOX_V1 (0) or CLMSD_STREAM_PHILOX_V1_U8 */
    clmsd_type x_type;    /* forward's x (y stays float) */
    clmsd_type dx_type;   /* backward's dx (dy stays float) */
} clmsd_dropout_desc;

/* y_k = dropout_k(x) for k < K; y is [K, rows, cols], sample k at y_off + k * rows * ldy. */
CLMSD_API clmsd_status clmsd_dropout_forward(clmsd_context *ctx, const clmsd_dropout_desc *desc,
                                             cl_mem x, size_t x_off, size_t ldx,
                                             cl_mem y, size_t y_off, size_t ldy,
                                             cl_uint num_wait, const cl_event *wait, cl_event *event);
/* dx (+)= sum_k keep_k * s_k * dy_k, summed in order k = 0, 1, ..., K-1; dy is [K, rows, cols]. */
CLMSD_API clmsd_status clmsd_dropout_backward(clmsd_context *ctx, const clmsd_dropout_desc *desc,
                                              cl_mem dy, size_t dy_off, size_t ldy,
                                              cl_mem dx, size_t dx_off, size_t ldx, int accumulate,
                                              cl_uint num_wait, const cl_event *wait, cl_event *event);
/* mask is uint8 [K, rows, cols], dense, 1 = kept. */
CLMSD_API clmsd_status clmsd_dropout_mask(clmsd_context *ctx, const clmsd_dropout_desc *desc,
                                          cl_mem mask, size_t mask_off,
                                          cl_uint num_wait, const cl_event *wait, cl_event *event);

/* The raw stream words u(seed, step, k, e) for e in [4 * first_block, 4 * (first_block + blocks)):
 * out is uint32 [4 * blocks]. Any Philox4x32-10 input is a block: ctr = {block, k, step}, key = seed
 * (the u8 stream's block b is block 2^31 + b: docs/rng.md). */
CLMSD_API clmsd_status clmsd_stream_words(clmsd_context *ctx, uint64_t seed, uint64_t step, uint32_t k,
                                          uint32_t first_block, size_t blocks, cl_mem out, size_t out_off,
                                          cl_uint num_wait, const cl_event *wait, cl_event *event);

/* Threshold T = floor(p * 2^32) and scale s = (float)(1 / (1 - p)) of a rate, as the spec defines. */
CLMSD_API clmsd_status clmsd_rate_params(double rate, uint32_t *threshold, float *scale);
/* The same for either stream: v1 as above; u8 T = p * 256 for a rate that is a multiple of 1/256
 * (else CLMSD_ERROR_INVALID_RATE). keep = value >= T, the value being the element's stream word
 * (v1) or byte (u8). */
CLMSD_API clmsd_status clmsd_stream_rate_params(clmsd_stream stream, double rate, uint32_t *threshold, float *scale);

/* ------------------------------------------------------------------------------------------------
 * The multi-sample dropout head: Z_k = dropout_k(X) W^T + b, loss, gradients (docs/api.md)
 * ---------------------------------------------------------------------------------------------- */

typedef enum clmsd_loss {
    CLMSD_LOSS_SOFTMAX_CROSS_ENTROPY = 0, /* int32 class ids [B]; ids outside [0, C) are ignored */
    CLMSD_LOSS_BCE_WITH_LOGITS = 1,       /* float targets [B, C] in [0, 1] */
    CLMSD_LOSS_MSE = 2,                   /* float targets [B, C] */
    CLMSD_LOSS_HUBER = 3                  /* float targets [B, C]; delta: desc.huber_delta */
} clmsd_loss;

/* The loss's name ("softmax_cross_entropy", "bce_with_logits", "mse", "huber"), or NULL for a
 * value that is not a loss: `for (l = 0; clmsd_loss_name(l); ++l)` visits every loss. */
CLMSD_API const char *clmsd_loss_name(clmsd_loss loss);

typedef enum clmsd_combine {
    CLMSD_AVERAGE_LOSSES = 0, /* the paper: L = mean_k loss(Z_k) */
    CLMSD_AVERAGE_LOGITS = 1  /* Kaggle form: L = loss(mean_k Z_k), one GEMM on the averaged mask */
} clmsd_combine;

typedef enum clmsd_engine {
    CLMSD_ENGINE_AUTO = 0,    /* $CLMSD_ENGINE (clblast, fused) if set, else the rule of docs/api.md */
    CLMSD_ENGINE_CLBLAST = 1, /* dropped copies written, K-batched GEMM through CLBlast */
    CLMSD_ENGINE_FUSED = 2    /* masks regenerated inside our GEMMs; bit-exact with the reference */
} clmsd_engine;

typedef struct clmsd_head clmsd_head;

typedef struct clmsd_head_desc {
    size_t batch, features, classes; /* B, H, C */
    uint32_t samples;                /* K */
    const double *rates;             /* K drop probabilities, or NULL: all equal `rate` */
    double rate;
    clmsd_loss loss;
    clmsd_combine combine;
    clmsd_engine engine;
    cl_mem workspace;                /* optional: >= clmsd_head_workspace_size() bytes, or NULL */
    size_t layers;                   /* L >= 2: the layer-pooled head (QUEST; docs/api.md): X is L
                                        layers' rows, pooled by softmax weights after a dropout of
                                        each layer; 0 or 1: one feature matrix */
    double layer_rate;               /* the layers' drop probability (stream samples 2^31 + l) */
    clmsd_stream stream;             /* every mask of the head, layers' too: CLMSD_STREAM_PHILOX_V1 (0)
                                        or CLMSD_STREAM_PHILOX_V1_U8 */
    clmsd_type x_type;               /* args.x */
    clmsd_type dx_type;              /* args.dx (W, b, logits and their gradients stay float) */
    double huber_delta;              /* CLMSD_LOSS_HUBER's delta, finite and > 0 as a float; 0: 1.0
                                        (torch.nn.HuberLoss's default) */
} clmsd_head_desc;

/* Data-parallel use (docs/distributed.md): a call that is one shard of a global batch. Its rows
 * are global batch rows row_offset .. row_offset + B - 1 of the whole batch of global_batch rows;
 * the loss and the gradients are means over the whole batch. */
typedef struct clmsd_head_shard {
    size_t global_batch; /* Bg >= B: rows of the whole batch */
    uint64_t valid_ids;  /* CE: class ids in [0, C) among the whole batch's targets (< 2^32) */
} clmsd_head_shard;

typedef struct clmsd_head_args {
    uint64_t seed, step;
    size_t row_offset;                /* global row of X's row 0 (masks are keyed on it) */
    cl_mem x;      size_t x_off;      /* x_type [B, H], required */
    cl_mem w;      size_t w_off;      /* float [C, H] row-major, required */
    cl_mem bias;   size_t bias_off;   /* float [C], or NULL for no bias */
    cl_mem target; size_t target_off; /* int32 [B] (CE) or float [B, C] (the others); forward/train */
    cl_mem loss;   size_t loss_off;   /* out float [1], optional */
    cl_mem logits; size_t logits_off; /* out float [B, C] mean logits, optional (required: predict) */
    cl_mem ignored; size_t ignored_off; /* out uint32 [1]: class ids outside [0, C), optional */
    cl_mem dx;     size_t dx_off;     /* out dx_type [B, H], optional (train_step) */
    cl_mem dw;     size_t dw_off;     /* out float [C, H], optional (train_step) */
    cl_mem dbias;  size_t dbias_off;  /* out float [C], optional (train_step) */
    int accumulate;                   /* add into dx, dw, dbias instead of overwriting them */
    const clmsd_head_shard *shard;    /* NULL: the call is the whole batch. Else loss, dw and dbias
                                         get this shard's node of the canonical tree, the loss
                                         unscaled (times clmsd_head_loss_scale() once combined);
                                         ignored must be NULL (docs/distributed.md) */
    /* the layer-pooled head (desc.layers = L >= 2): x and dx hold L layers of B rows of H, layer
     * l's row b at off + l * layer_stride + b * row_stride (0: dense [L, B, H]; the CLS rows of
     * L hidden states [B, T, H] in one buffer: row_stride T*H, layer_stride B*T*H) */
    size_t x_layer_stride, x_row_stride;
    size_t dx_layer_stride, dx_row_stride;
    cl_mem layer_weights;  size_t layer_weights_off;  /* float [L] logits, softmax-normalised */
    cl_mem dlayer_weights; size_t dlayer_weights_off; /* out float [L], optional (train_step, backward) */
    /* clmsd_head_backward: float dL/dlogits of the caller's loss L, shaped as clmsd_head_logits
     * wrote the logits: [K, B, C] (average losses) or [B, C] (average logits) */
    cl_mem dlogits;        size_t dlogits_off;
} clmsd_head_args;

/* The bytes of device memory a head of this shape needs as its workspace (desc->workspace). */
CLMSD_API clmsd_status clmsd_head_workspace_size(const clmsd_head_desc *desc, size_t *bytes);
/* Plan a head: validates the shape, rates and modes once and allocates its workspace (or checks
 * the caller's desc->workspace), so that the calls of a training loop allocate nothing. */
CLMSD_API clmsd_status clmsd_head_create(clmsd_context *ctx, const clmsd_head_desc *desc, clmsd_head **out);
CLMSD_API void clmsd_head_destroy(clmsd_head *head);
CLMSD_API clmsd_engine clmsd_head_engine(const clmsd_head *head);
/* Loss and mean logits. */
CLMSD_API clmsd_status clmsd_head_forward(clmsd_head *head, const clmsd_head_args *args,
                                          cl_uint num_wait, const cl_event *wait, cl_event *event);
/* Forward and backward: loss, mean logits and the gradients dx, dw, dbias (each optional). */
CLMSD_API clmsd_status clmsd_head_train_step(clmsd_head *head, const clmsd_head_args *args,
                                             cl_uint num_wait, const cl_event *wait, cl_event *event);
/* Validates a train step's arguments exactly as clmsd_head_train_step does, enqueuing nothing:
 * lets a data-parallel caller agree on every rank's arguments before any rank writes a buffer. */
CLMSD_API clmsd_status clmsd_head_check_train_step(clmsd_head *head, const clmsd_head_args *args);
/* The factor a shard call's combined loss sum is multiplied by to give the mean loss:
 * CE 1 / (K' valid_ids), the element-wise losses 1 / (K' Bg C); K' = K (average losses) or 1
 * (average logits). */
CLMSD_API clmsd_status clmsd_head_loss_scale(const clmsd_head_desc *desc, const clmsd_head_shard *shard, float *scale);
/* Any loss (docs/api.md, "A loss of your own"): the logits without a loss, and the gradients from
 * the caller's dL/dlogits, the masks regenerated from (seed, step, row_offset), never stored.
 * clmsd_head_logits writes args->logits as every sample's Z_k + b, [K, B, C] with sample k at
 * logits_off + k B C (average losses), or as the mean logits [B, C] (average logits); target,
 * loss and ignored are not read. clmsd_head_backward takes args->dlogits of that shape and
 * writes dx, dw, dbias and dlayer_weights (each optional; accumulate as the train step), the same
 * bits as the train step's when dlogits holds the gradient of the head's own loss. Neither takes
 * a shard. */
CLMSD_API clmsd_status clmsd_head_logits(clmsd_head *head, const clmsd_head_args *args,
                                         cl_uint num_wait, const cl_event *wait, cl_event *event);
CLMSD_API clmsd_status clmsd_head_backward(clmsd_head *head, const clmsd_head_args *args,
                                           cl_uint num_wait, const cl_event *wait, cl_event *event);
/* Inference, no dropout: logits = X W^T + b. */
CLMSD_API clmsd_status clmsd_head_predict(clmsd_head *head, const clmsd_head_args *args,
                                          cl_uint num_wait, const cl_event *wait, cl_event *event);

/* ------------------------------------------------------------------------------------------------
 * The optimizer (docs/api.md, "Optimizers"): updates a head's W, b and layer weights from their
 * gradients on the device, in one call per step, bit for bit as clmsd_ref_optim_step
 * ---------------------------------------------------------------------------------------------- */

typedef enum clmsd_optimizer {
    CLMSD_OPTIM_SGD = 1,  /* torch.optim.SGD: momentum (dampening 0), Nesterov, L2 weight decay */
    CLMSD_OPTIM_ADAMW = 2 /* torch.optim.AdamW: bias-corrected moments, decoupled weight decay */
} clmsd_optimizer;

typedef struct clmsd_optim_desc {
    clmsd_optimizer kind;
    double momentum;      /* SGD: [0, 1); 0 is plain SGD */
    int nesterov;         /* SGD: Nesterov momentum (needs momentum > 0) */
    double beta1, beta2;  /* AdamW: each in [0, 1) (torch: 0.9, 0.999) */
    double eps;           /* AdamW: in [1e-30, 1] (torch: 1e-8) */
    double weight_decay;  /* >= 0. SGD: g += wd p; AdamW: p -= lr wd p (torch's default 0.01) */
    double max_grad_norm; /* > 0: first scale the gradients by min(1, max / (norm + 1e-6)), norm
                             the 2-norm of every gradient the step passes
                             (torch.nn.utils.clip_grad_norm_); 0: no clipping */
} clmsd_optim_desc;

typedef struct clmsd_optim clmsd_optim;

/* An optimizer for `head`'s parameters: W [C, H], b [C] and, for a pooled head, its L layer
 * weights; its state (moments) lives on the head's device, zero, at step 0. It keeps the head's
 * context (destroy it first), not the head. */
CLMSD_API clmsd_status clmsd_optim_create(clmsd_head *head, const clmsd_optim_desc *desc, clmsd_optim **out);
CLMSD_API void clmsd_optim_destroy(clmsd_optim *optim);
/* One step at learning rate lr (finite, >= 0; any schedule: the caller's): updates args->w from
 * args->dw, args->bias from args->dbias and args->layer_weights from args->dlayer_weights (the
 * buffers of a train step; each pair given or both NULL, w and dw required), then counts the step. */
CLMSD_API clmsd_status clmsd_optim_step(clmsd_optim *optim, const clmsd_head_args *args, double lr,
                                        cl_uint num_wait, const cl_event *wait, cl_event *event);
/* The state, for checkpoints: the steps taken, and the moments as floats in slot order (W's C*H,
 * b's C, then L layer weights'): AdamW m then v (2 (CH + C + L) floats); SGD with momentum its
 * buffer (CH + C + L); plain SGD none. read waits for the queue; write checks every value (finite,
 * v >= 0) before it writes anything. */
CLMSD_API size_t clmsd_optim_state_floats(const clmsd_optim *optim);
CLMSD_API clmsd_status clmsd_optim_read_state(clmsd_optim *optim, uint64_t *steps, float *moments, size_t floats);
CLMSD_API clmsd_status clmsd_optim_write_state(clmsd_optim *optim, uint64_t steps, const float *moments,
                                               size_t floats);

#ifdef __cplusplus
}
#endif
/* clang-format on */
#endif /* CLMSD_H */
