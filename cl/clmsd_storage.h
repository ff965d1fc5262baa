/* SPDX-License-Identifier: MIT */
/* The storage types of X and dX (docs/canonical-order.md, "Storage types"): a load widens to fp32
 * exactly; a store rounds to nearest, ties to even (a NaN stays a NaN). `p` is a buffer's base as
 * the kernel's float pointer and `i` an element index in the buffer's own type, so that offsets
 * count elements of that type. fp16's 16-wide loads and stores are vload_half16 /
 * vstore_half16_rte (core OpenCL 1.2: no cl_khr_fp16); one element converts in integer operations,
 * the host's (src/ref/types.c), which pocl runs several times faster than its scalar vload_half and
 * vstore_half_rte. bf16 is the high half of an fp32, converted with shifts. */

/* fp16 bits to fp32, exactly: a normal number rebiases the exponent; a subnormal is m * 2^-24 (an
 * exact int-to-float conversion, no denormal operand); infinities keep, NaNs quiet their payload */
CLMSD_INLINE float clmsd_half_to_float(uint h)
{
    uint e = h & 0x7C00u, m = h & 0x3FFu;
    float mag = e == 0 ? (float)m * 0x1p-24f
                       : as_float(e == 0x7C00u ? 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u)
                                               : ((h & 0x7FFFu) << 13) + 0x38000000u);
    return as_float(as_uint(mag) | ((h & 0x8000u) << 16));
}

/* fp32 to fp16 bits, to nearest even: 65520 and above overflow to infinity; below 2^-14 the
 * subnormal's units of 2^-24 are the significand shifted right, rounded in integers; a NaN stays
 * a quiet NaN with the payload's top bits */
CLMSD_INLINE ushort clmsd_to_half(float v)
{
    uint u = as_uint(v), sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u)
        return (ushort)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u)
        return (ushort)(sign | 0x7C00u);
    if (a >= 0x38800000u)
        return (ushort)(sign | ((a + 0x0FFFu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
    uint e = a >> 23, sig = (a & 0x7FFFFFu) | 0x800000u, shift = 126u - e; /* |v| = sig 2^(e-150) */
    if (e < 102u)                                                          /* below 2^-25: zero */
        return (ushort)sign;
    return (ushort)(sign | ((sig + (1u << (shift - 1u)) - 1u + ((sig >> shift) & 1u)) >> shift));
}

CLMSD_INLINE float clmsd_load_x(__global const float *p, ulong i, uint type)
{
    if (type == CLMSD_KERNEL_F16)
        return clmsd_half_to_float(((__global const ushort *)p)[i]);
    if (type == CLMSD_KERNEL_BF16)
        return as_float((uint)((__global const ushort *)p)[i] << 16);
    return p[i];
}

/* 16 consecutive elements from element i */
CLMSD_INLINE float16 clmsd_load_x16(__global const float *p, ulong i, uint type)
{
    if (type == CLMSD_KERNEL_F16)
        return vload_half16(0, (__global const half *)p + i);
    if (type == CLMSD_KERNEL_BF16)
        return as_float16(convert_uint16(vload16(0, (__global const ushort *)p + i)) << 16);
    return vload16(0, p + i);
}

/* elements i .. i+n-1 (1 <= n <= 4) and zeros: the tail of a row never reads past it */
CLMSD_INLINE float4 clmsd_load_x4(__global const float *p, ulong i, uint type, uint n)
{
    if (type == CLMSD_KERNEL_F32 && n == 4)
        return vload4(0, p + i);
    return (float4)(clmsd_load_x(p, i, type), n > 1 ? clmsd_load_x(p, i + 1, type) : 0.0f,
                    n > 2 ? clmsd_load_x(p, i + 2, type) : 0.0f, n > 3 ? clmsd_load_x(p, i + 3, type) : 0.0f);
}

/* bf16 of v, rounded to nearest even: add 0x7fff and the kept half's lowest bit, then truncate
 * (a carry into the exponent is the correct overflow to infinity); a NaN keeps its sign, quieted */
CLMSD_INLINE ushort clmsd_to_bf16(float v)
{
    uint u = as_uint(v);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

CLMSD_INLINE ushort16 clmsd_to_bf16_16(float16 v)
{
    uint16 u = as_uint16(v);
    uint16 rounded = (u + (uint16)0x7FFFu + ((u >> 16) & (uint16)1u)) >> 16;
    uint16 quiet = (u >> 16) | (uint16)0x40u;
    return convert_ushort16(select(rounded, quiet, (u & (uint16)0x7FFFFFFFu) > (uint16)0x7F800000u));
}

/* p[i] = v, or p[i] + v with accumulate (the add in fp32, then one rounding) */
CLMSD_INLINE void clmsd_store_x(__global float *p, ulong i, uint type, float v, int accumulate)
{
    if (accumulate)
        v = clmsd_load_x(p, i, type) + v;
    if (type == CLMSD_KERNEL_F16)
        ((__global ushort *)p)[i] = clmsd_to_half(v);
    else if (type == CLMSD_KERNEL_BF16)
        ((__global ushort *)p)[i] = clmsd_to_bf16(v);
    else
        p[i] = v;
}

/* 16 consecutive elements from element i (not accumulating) */
CLMSD_INLINE void clmsd_store_x16(__global float *p, ulong i, uint type, float16 v)
{
    if (type == CLMSD_KERNEL_F16)
        vstore_half16_rte(v, 0, (__global half *)p + i);
    else if (type == CLMSD_KERNEL_BF16)
        vstore16(clmsd_to_bf16_16(v), 0, (__global ushort *)p + i);
    else
        vstore16(v, 0, p + i);
}
