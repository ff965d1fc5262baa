/* SPDX-License-Identifier: MIT */
/* clmsd's host references: plain C and Random123 on the CPU, for tests and for checking a device.
 * The stream and dropout references give the same bits as every device; the exact head reference
 * gives the fused engine's bits; the double head reference is the tolerance yardstick. */
#ifndef CLMSD_REF_H
#define CLMSD_REF_H

/* The declarations are laid out by hand: each operand with its offset and leading dimension. */
/* clang-format off */

#include "clmsd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stream word u(seed, step, k, e) (docs/rng.md) and the Philox4x32-10 block under it. */
CLMSD_API uint32_t clmsd_ref_stream_word(uint64_t seed, uint64_t step, uint32_t k, uint64_t e);
/* The u8 stream's byte of element e (clmsd-philox-v1-u8), and the value either stream compares
 * with its threshold (clmsd_stream_rate_params): the word (v1) or the byte (u8). */
CLMSD_API uint32_t clmsd_ref_stream_byte(uint64_t seed, uint64_t step, uint32_t k, uint64_t e);
CLMSD_API uint32_t clmsd_ref_stream_value(clmsd_stream stream, uint64_t seed, uint64_t step, uint32_t k, uint64_t e);
CLMSD_API void clmsd_ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
CLMSD_API clmsd_status clmsd_ref_dropout_forward(const clmsd_dropout_desc *desc, const float *x, size_t ldx,
                                                 float *y, size_t ldy);
CLMSD_API clmsd_status clmsd_ref_dropout_backward(const clmsd_dropout_desc *desc, const float *dy, size_t ldy,
                                                  float *dx, size_t ldx, int accumulate);
CLMSD_API clmsd_status clmsd_ref_dropout_mask(const clmsd_dropout_desc *desc, uint8_t *mask);

/* The storage types (clmsd_type) as the kernels convert them: to_float widens n elements of
 * `type` exactly; from_float rounds n floats to nearest even (a NaN stays a NaN). The references
 * here take and give fp32 arrays whatever desc.x_type and dx_type say: widen the features first,
 * and round a reference dx (its float result, after any accumulation) to compare with a device's. */
CLMSD_API clmsd_status clmsd_ref_to_float(clmsd_type type, const void *src, size_t n, float *dst);
CLMSD_API clmsd_status clmsd_ref_from_float(clmsd_type type, const float *src, size_t n, void *dst);

/* ------------------------------------------------------------------------------------------------
 * The head
 * ---------------------------------------------------------------------------------------------- */

/* Host reference of the head, accumulating in double. Pointers are host arrays with the shapes of
 * clmsd_head_args (dense: leading dimensions H and C); outputs may be NULL. */
typedef struct clmsd_ref_head_args {
    uint64_t seed, step;
    size_t row_offset;
    const float *x, *w, *bias;   /* bias may be NULL */
    const void *target;          /* int32_t [B] or float [B, C] */
    double *loss;                /* out [1] */
    double *logits;              /* out [B, C] */
    uint32_t *ignored;           /* out [1] */
    double *dx, *dw, *dbias;     /* out [B, H], [C, H], [C]; always overwritten */
    const float *layer_weights;  /* pooled head (desc.layers >= 2): [L] logits; x and dx dense [L, B, H] */
    double *dlayer_weights;      /* out [L] */
} clmsd_ref_head_args;

CLMSD_API clmsd_status clmsd_ref_head_train_step(const clmsd_head_desc *desc, const clmsd_ref_head_args *args);
CLMSD_API clmsd_status clmsd_ref_head_predict(const clmsd_head_desc *desc, const clmsd_ref_head_args *args);

/* Host reference of the fused engine: fp32 in the canonical order (docs/canonical-order.md), the
 * same bits as CLMSD_ENGINE_FUSED on any device with IEEE fp32 add, multiply and denormals.
 * Outputs may be NULL; dx, dw, dbias are added into when accumulate is set. */
typedef struct clmsd_ref_head_exact_args {
    uint64_t seed, step;
    size_t row_offset;
    const float *x, *w, *bias;
    const void *target;
    float *loss, *logits;
    uint32_t *ignored;
    float *dx, *dw, *dbias;
    int accumulate;
    const float *layer_weights;  /* pooled head (desc.layers >= 2): [L]; x and dx dense [L, B, H] */
    float *dlayer_weights;
    const float *dlogits;        /* backward: [K, B, C] (average losses) or [B, C] (average logits) */
} clmsd_ref_head_exact_args;

CLMSD_API clmsd_status clmsd_ref_head_exact_train_step(const clmsd_head_desc *desc,
                                                       const clmsd_ref_head_exact_args *args);
CLMSD_API clmsd_status clmsd_ref_head_exact_predict(const clmsd_head_desc *desc,
                                                    const clmsd_ref_head_exact_args *args);
/* clmsd_head_logits and clmsd_head_backward: logits as they shape them; the gradients from
 * args->dlogits (target not read). */
CLMSD_API clmsd_status clmsd_ref_head_exact_logits(const clmsd_head_desc *desc,
                                                   const clmsd_ref_head_exact_args *args);
CLMSD_API clmsd_status clmsd_ref_head_exact_backward(const clmsd_head_desc *desc,
                                                     const clmsd_ref_head_exact_args *args);

/* The optimizer's step on host arrays, the device's bits (cl/clmsd_optim.h): params[i] and
 * grads[i] of counts[i] floats for W, b and the layer weights (a NULL grads[i]: the tensor is not
 * updated; counts fixed per optimizer: C*H, C and L or 0), moments as clmsd_optim_read_state lays
 * them out; `steps` taken before this one. */
CLMSD_API clmsd_status clmsd_ref_optim_step(const clmsd_optim_desc *desc, uint64_t steps, double lr,
                                            float *const params[3], const float *const grads[3],
                                            const size_t counts[3], float *moments);

#ifdef __cplusplus
}
#endif
/* clang-format on */
#endif /* CLMSD_REF_H */
