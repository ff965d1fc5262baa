/* SPDX-License-Identifier: MIT */
/* Host conversions between the storage types and fp32, exactly as the kernels convert
 * (cl/clmsd_storage.h, docs/canonical-order.md): widening is exact, narrowing rounds to nearest,
 * ties to even. */
#include "clmsd_ref.h"
#include "../status.h"

#include <math.h>
#include <string.h>

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) /* zero or subnormal: mant * 2^-24, exact in fp32 */
        return float_of(sign | bits_of(ldexpf((float)mant, -24)));
    if (exp == 31) /* infinity or NaN (quieted) */
        return float_of(sign | 0x7F800000u | (mant ? 0x400000u | mant << 13 : 0));
    return float_of(sign | (exp + 112) << 23 | mant << 13);
}

static uint16_t float_to_half(float f)
{
    uint32_t x = bits_of(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) /* NaN */
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) /* 65520 and above round to infinity */
        return (uint16_t)(sign | 0x7C00u);
    if (ax < 0x38800000u) /* below 2^-14: a subnormal half, round(|f| 2^24); 2^24 scaling is exact */
        return (uint16_t)(sign | (uint32_t)rintf(fabsf(f) * 0x1p24f));
    uint32_t r = ax + 0x0FFFu + ((ax >> 13) & 1u) - 0x38000000u; /* to nearest even at bit 13, rebias */
    return (uint16_t)(sign | r >> 13);
}

static uint16_t float_to_bfloat(float f)
{
    uint32_t u = bits_of(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

clmsd_status clmsd_ref_to_float(clmsd_type type, const void *src, size_t n, float *dst)
{
    if (clmsd_type_size(type) == 0)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "invalid storage type %d", (int)type);
    if (n && (!src || !dst))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "a host array is NULL");
    const uint16_t *s16 = src;
    for (size_t i = 0; i < n; ++i)
        dst[i] = type == CLMSD_FLOAT16    ? half_to_float(s16[i])
                 : type == CLMSD_BFLOAT16 ? float_of((uint32_t)s16[i] << 16)
                                          : ((const float *)src)[i];
    return CLMSD_SUCCESS;
}

clmsd_status clmsd_ref_from_float(clmsd_type type, const float *src, size_t n, void *dst)
{
    if (clmsd_type_size(type) == 0)
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "invalid storage type %d", (int)type);
    if (n && (!src || !dst))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT, "a host array is NULL");
    uint16_t *d16 = dst;
    for (size_t i = 0; i < n; ++i) {
        if (type == CLMSD_FLOAT16)
            d16[i] = float_to_half(src[i]);
        else if (type == CLMSD_BFLOAT16)
            d16[i] = float_to_bfloat(src[i]);
        else
            ((float *)dst)[i] = src[i];
    }
    return CLMSD_SUCCESS;
}
