/* SPDX-License-Identifier: MIT */
/* Canonical fp32 math of clmsd: exp, log, log1p and reciprocal made of IEEE fp32 add, multiply,
 * fused multiply-add and exact bit operations only, so that a kernel and the host reference compute
 * the same bits on every device (OpenCL lets exp, log and division be several ulp off, differently
 * per vendor; fma is correctly rounded in OpenCL C and in C99). This one file is compiled as OpenCL
 * C (embedded into the kernels) and as C11 (src/ref/head_exact.c); both compile it without
 * floating-point contraction, so every multiply-add is the explicit CLMSD_FMA it is written as
 * (canonical order v2, docs/canonical-order.md). Accuracy: about 2 ulp. */
#ifndef CLMSD_MATH_H
#define CLMSD_MATH_H

#ifdef __OPENCL_VERSION__
#define CLMSD_FN CLMSD_INLINE
#define CLMSD_AS_UINT(f) as_uint(f)
#define CLMSD_AS_FLOAT(u) as_float(u)
#define CLMSD_RINT(f) rint(f)
#define CLMSD_FABS(f) fabs(f)
#define CLMSD_FMAX(a, b) fmax(a, b)
#define CLMSD_FMA(a, b, c) fma(a, b, c)
#define CLMSD_UINT uint
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#define CLMSD_FN static inline
#define CLMSD_RINT(f) rintf(f)
#define CLMSD_FABS(f) fabsf(f) /* float, not double: the fp32 operations of the kernel */
#define CLMSD_FMAX(a, b) fmaxf(a, b)
#define CLMSD_FMA(a, b, c) fmaf(a, b, c) /* correctly rounded (C99), whatever the CPU has */
#define CLMSD_UINT uint32_t
static inline uint32_t clmsd_as_uint(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float clmsd_as_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#define CLMSD_AS_UINT(f) clmsd_as_uint(f)
#define CLMSD_AS_FLOAT(u) clmsd_as_float(u)
#endif

/* 2^n for -126 <= n <= 127, from its bits */
CLMSD_FN float clmsd_pow2i(int n) { return CLMSD_AS_FLOAT((CLMSD_UINT)(n + 127) << 23); }

/* The arithmetic of e^x for x in range, written once for clmsd_exp and clmsd_exp16 so their lanes
 * take the same operations: x = n ln2 + r (Cody-Waite, ln2 split so n * hi is exact), and p = e^r
 * by a degree-7 polynomial, Horner steps as fma. Declares n and p, of type T. */
#define CLMSD_EXP_CORE(T, x, RINT, n, p)                                                   \
    T n = RINT((x)*1.44269504f), p = 1.9875691500e-4f;                                     \
    {                                                                                      \
        T r_ = CLMSD_FMA(-n, (T)(-2.12194440e-4f), CLMSD_FMA(-n, (T)(0.693359375f), (x))); \
        p = CLMSD_FMA(p, r_, (T)(1.3981999507e-3f));                                       \
        p = CLMSD_FMA(p, r_, (T)(8.3334519073e-3f));                                       \
        p = CLMSD_FMA(p, r_, (T)(4.1665795894e-2f));                                       \
        p = CLMSD_FMA(p, r_, (T)(1.6666665459e-1f));                                       \
        p = CLMSD_FMA(p, r_, (T)(5.0000001201e-1f));                                       \
        p = CLMSD_FMA(p, r_ * r_, r_) + 1.0f;                                              \
    }

/* e^x: the core above, then 2^n in two exact steps so that n = 128 does not overflow early. */
CLMSD_FN float clmsd_exp(float x)
{
    if (x != x)
        return x + x;
    if (x > 89.0f)
        return CLMSD_AS_FLOAT(0x7f800000u);
    if (x < -104.0f)
        return 0.0f;
    CLMSD_EXP_CORE(float, x, CLMSD_RINT, n, p)
    int ni = (int)n, first = ni / 2;
    return p * clmsd_pow2i(first) * clmsd_pow2i(ni - first);
}

#ifdef __OPENCL_VERSION__
/* clmsd_exp on 16 lanes at once: each lane takes exactly the operations of clmsd_exp (the special
 * cases by select instead of branches; out-of-range lanes compute on 0 and are replaced), so the
 * bits are those of 16 scalar calls, as the host reference makes them. OpenCL C only. */
CLMSD_INLINE float16 clmsd_exp16(float16 x)
{
    float16 xs = select((float16)0.0f, x, x >= -104.0f && x <= 89.0f);
    CLMSD_EXP_CORE(float16, xs, rint, n, p)
    int16 ni = convert_int16(n), first = ni / 2;
    /* 2^first and 2^(ni - first) from their bits, as clmsd_pow2i: both biased exponents lie in
     * [52, 191] (|xs| <= 104), so the int shift cannot overflow. No convert_uint16 here: with it,
     * Mesa 22.3's SPIR-V translator (libLLVMSPIRVLib 15, rusticl) reads freed memory compiling
     * the program and can crash (docs/portability.md). */
    float16 e = p * as_float16((first + 127) << 23) * as_float16((ni - first + 127) << 23);
    e = select(e, 0.0f, x < -104.0f);
    e = select(e, INFINITY, x > 89.0f);
    return select(e, x + x, isnan(x));
}
#endif

/* log(x) for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), a polynomial in m - 1. */
CLMSD_FN float clmsd_log(float x)
{
    if (x != x || x < 0.0f)
        return CLMSD_AS_FLOAT(0x7fc00000u);
    if (x == 0.0f)
        return CLMSD_AS_FLOAT(0xff800000u);
    if (x == CLMSD_AS_FLOAT(0x7f800000u))
        return x;
    float bias = 0.0f;
    if (x < 1.17549435e-38f) { /* denormal: scale into the normal range exactly */
        x = x * 8388608.0f;
        bias = -23.0f;
    }
    CLMSD_UINT bits = CLMSD_AS_UINT(x);
    float e = (float)((int)(bits >> 23) - 126) + bias;
    float m = CLMSD_AS_FLOAT((bits & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    if (m < 0.707106781f) {
        e = e - 1.0f;
        m = m + m - 1.0f;
    } else {
        m = m - 1.0f;
    }
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = CLMSD_FMA(y, m, -1.1514610310e-1f);
    y = CLMSD_FMA(y, m, 1.1676998740e-1f);
    y = CLMSD_FMA(y, m, -1.2420140846e-1f);
    y = CLMSD_FMA(y, m, 1.4249322787e-1f);
    y = CLMSD_FMA(y, m, -1.6668057665e-1f);
    y = CLMSD_FMA(y, m, 2.0000714765e-1f);
    y = CLMSD_FMA(y, m, -2.4999993993e-1f);
    y = CLMSD_FMA(y, m, 3.3333331174e-1f);
    y = y * m * z;
    y = CLMSD_FMA(e, -2.12194440e-4f, y);
    y = CLMSD_FMA(-0.5f, z, y);
    return CLMSD_FMA(e, 0.693359375f, m + y);
}

/* 1/x for normal x > 0: a linear first guess on the mantissa, four Newton steps (4 -> 60 bits,
 * capped by fp32 rounding), then the exponent by bits. */
CLMSD_FN float clmsd_recip(float x)
{
    CLMSD_UINT bits = CLMSD_AS_UINT(x);
    int e = (int)(bits >> 23) - 127;
    if (e < -125 || e > 125)
        return x == CLMSD_AS_FLOAT(0x7f800000u) ? 0.0f : CLMSD_AS_FLOAT(0x7f800000u) * x; /* inf, NaN */
    float m = CLMSD_AS_FLOAT((bits & 0x007fffffu) | 0x3f800000u);                         /* [1, 2) */
    float r = CLMSD_FMA(-0.47058824f, m, 1.4117647f);
    r = r * CLMSD_FMA(-m, r, 2.0f);
    r = r * CLMSD_FMA(-m, r, 2.0f);
    r = r * CLMSD_FMA(-m, r, 2.0f);
    r = r * CLMSD_FMA(-m, r, 2.0f);
    return r * clmsd_pow2i(-e);
}

/* log(1 + t) for t >= 0: the series below 1/16, else log(1 + t) corrected for its rounding. */
CLMSD_FN float clmsd_log1p(float t)
{
    if (!(t >= 0.0625f)) {
        float s = t * (1.0f / 8.0f);
        s = t * (1.0f / 7.0f - s);
        s = t * (1.0f / 6.0f - s);
        s = t * (1.0f / 5.0f - s);
        s = t * (1.0f / 4.0f - s);
        s = t * (1.0f / 3.0f - s);
        s = t * (1.0f / 2.0f - s);
        return t * (1.0f - s);
    }
    float u = 1.0f + t; /* u - 1 is exact; (t - (u - 1)) / u corrects the rounding of 1 + t */
    return CLMSD_FMA(t - (u - 1.0f), clmsd_recip(u), clmsd_log(u));
}

/* sqrt(x), a fixed sequence of fp32 operations (OpenCL's sqrt may be 3 ulp off, differently per
 * device): x = m 4^k with m in [1, 4) from its bits, 1/sqrt(m) by five Newton steps from a chord,
 * s = m y, then one correction by the residual m - s^2 (one fma, exact). It equals the correctly
 * rounded root on every float tests/test_optim.c tries (every 97th, denormals included). */
CLMSD_FN float clmsd_sqrt(float x)
{
    if (x != x || x < 0.0f)
        return CLMSD_AS_FLOAT(0x7fc00000u);
    if (x == 0.0f || x == CLMSD_AS_FLOAT(0x7f800000u))
        return x;
    float unscale = 1.0f;
    if (x < 1.17549435e-38f) { /* denormal: x 2^24 exactly, the root then times 2^-12 */
        x = x * 16777216.0f;
        unscale = 2.44140625e-4f;
    }
    CLMSD_UINT bits = CLMSD_AS_UINT(x);
    int e = (int)(bits >> 23) - 127;
    int k = e >= 0 ? e / 2 : -((1 - e) / 2); /* floor(e / 2) */
    float m = CLMSD_AS_FLOAT((bits & 0x007fffffu) | ((CLMSD_UINT)(127 + e - 2 * k) << 23));
    float y = CLMSD_FMA(-0.16666667f, m, 1.16666667f), half_m = 0.5f * m;
    for (int i = 0; i < 5; ++i)
        y = y * CLMSD_FMA(-half_m * y, y, 1.5f);
    float s = m * y;
    s = CLMSD_FMA(CLMSD_FMA(-s, s, m), 0.5f * y, s);
    return s * clmsd_pow2i(k) * unscale;
}

/* The cross-entropy mean's scale 1 / (K' n) for n valid class ids, 0 when there is none: no
 * division, the same bits everywhere (n and K' * n rounded to fp32 once each). */
CLMSD_FN float clmsd_ce_scale(CLMSD_UINT valid, float kprime)
{
    return valid ? clmsd_recip((float)valid * kprime) : 0.0f;
}

#endif
