/* SPDX-License-Identifier: MIT */
/* The storage types of X and dX (docs/canonical-order.md, "Storage types"): a load widens to fp32
 * exactly; a store rounds to nearest, ties to even (a NaN stays a NaN). `p` is a buffer's base as
 * the kernel's float pointer and `i` an element index in the buffer's own type, so that offsets
 * count elements of that type. fp16 uses vload_half / vstore_half_rte (core OpenCL 1.2: no
 * cl_khr_fp16); bf16 is the high half of an fp32, converted with shifts. */

CLMSD_INLINE float clmsd_load_x(__global const float *p, ulong i, uint type)
{
    if (type == CLMSD_KERNEL_F16)
        return vload_half(i, (__global const half *)p);
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
        vstore_half_rte(v, i, (__global half *)p);
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
