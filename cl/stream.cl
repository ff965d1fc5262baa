/* SPDX-License-Identifier: MIT */
/* clmsd-philox-v1 and clmsd-philox-v1-u8 (docs/rng.md): the dropout streams, shared by every
 * kernel that draws masks. Every kernel compares an element's *value* with the sample's threshold
 * (params[k]): its 32-bit word on v1, its byte on u8 (u8 = CLMSD_KERNEL_STREAM_U8). */
#pragma OPENCL FP_CONTRACT OFF

/* The four stream words of elements 4q .. 4q+3 of sample k: one Philox call, every word used. */
CLMSD_INLINE philox4x32_ctr_t clmsd_stream_block(ulong seed, ulong step, uint k, ulong q)
{
    philox4x32_ctr_t ctr = {{(uint)q, k, (uint)step, (uint)(step >> 32)}};
    philox4x32_key_t key = {{(uint)seed, (uint)(seed >> 32)}};
    return philox4x32_R(10, ctr, key);
}

/* The 16 bytes of a u8 block in element order: byte j of word i is element 4i + j (shifts, not a
 * cast: the same on a big-endian device). */
CLMSD_INLINE uint16 clmsd_bytes16(uint w0, uint w1, uint w2, uint w3)
{
    const uint16 shifts = (uint16)(0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24);
    uint16 w = (uint16)((uint4)w0, (uint4)w1, (uint4)w2, (uint4)w3);
    return (w >> shifts) & (uint16)0xFFu;
}

/* lane j (0 .. 3) of v by masks, not an index: a compiler turns a chain of selects by a run-time j
 * into an indexed load from memory (a stack frame on a GPU) */
CLMSD_INLINE uint clmsd_lane4(uint4 v, uint j)
{
    uint4 m = v & as_uint4((uint4)(0, 1, 2, 3) == (uint4)j);
    return m.s0 | m.s1 | m.s2 | m.s3;
}

/* The four words of the stream's Philox block b of sample k: v1 block b (elements 4b .. 4b+3), or
 * u8 block b (elements 16b .. 16b+15, its counter tagged). One Philox call: the GPU tiling's unit. */
CLMSD_INLINE uint4 clmsd_block_words(ulong seed, ulong step, uint k, ulong b, uint stream)
{
    philox4x32_ctr_t u = clmsd_stream_block(seed, step, k, CLMSD_IS_U8(stream) ? CLMSD_U8_BLOCK_TAG | (uint)b : b);
    return (uint4)(u.v[0], u.v[1], u.v[2], u.v[3]);
}

/* The value of a block's element j (v1: 0 .. 3, word j; u8: 0 .. 15, byte j % 4 of word j / 4) from
 * its words v, by masks and shifts (no index: a run-time j keeps v in registers on a GPU). */
CLMSD_INLINE uint clmsd_block_value(uint4 v, uint j, uint stream)
{
    return CLMSD_IS_U8(stream) ? clmsd_lane4(v, j >> 2) >> (8 * (j & 3)) & 0xFFu : clmsd_lane4(v, j);
}

/* The values of elements 4q .. 4q+3 of sample k: block q's words (v1), or the bytes of word q % 4
 * of u8 block q / 4. One Philox call: the GPU tiling's unit. */
CLMSD_INLINE uint4 clmsd_quad_values(ulong seed, ulong step, uint k, ulong q, uint stream)
{
    philox4x32_ctr_t u =
        clmsd_stream_block(seed, step, k, CLMSD_IS_U8(stream) ? CLMSD_U8_BLOCK_TAG | (uint)(q >> 2) : q);
    uint4 v = (uint4)(u.v[0], u.v[1], u.v[2], u.v[3]);
    if (!CLMSD_IS_U8(stream))
        return v;
    uint w = clmsd_lane4(v, (uint)(q & 3));
    return (uint4)(w, w >> 8, w >> 16, w >> 24) & (uint4)0xFFu;
}

/* Walks the elements of [first, first + count) that lie inside
 * [row_offset*cols, (row_offset+rows)*cols): e is the element index, r the local row and c the
 * column of the current element. */
typedef struct clmsd_walk {
    ulong e, stop, r, c;
} clmsd_walk;

CLMSD_INLINE clmsd_walk clmsd_walk_start(ulong first, ulong count, ulong rows, ulong cols, ulong row_offset)
{
    ulong begin = row_offset * cols;
    clmsd_walk w;
    w.e = max(first, begin);
    w.stop = min(first + count, begin + rows * cols);
    ulong global_row = w.e / cols;
    w.c = w.e - global_row * cols;
    w.r = global_row - row_offset;
    return w;
}

CLMSD_INLINE void clmsd_walk_next(clmsd_walk *w, ulong cols)
{
    ++w->e;
    if (++w->c == cols) {
        w->c = 0;
        ++w->r;
    }
}

/* Eight Philox4x32-10 blocks at once, lane i at counter {q[i], k[i], step} with key seed: the same
 * rounds as Random123's philox4x32_R(10, ...) on vectors, so one work-item draws the words of 32
 * elements (eight blocks of one sample) or of one block of eight samples in one go. The tests
 * compare every result built on it with the host reference, which uses Random123 itself. */
typedef struct clmsd_philox8 {
    uint8 w[4]; /* w[j] lane i: word j of block i */
} clmsd_philox8;

/* One Philox4x32 round on vector lanes, each 32-bit word held in the low half of a 64-bit lane:
 * the 32x32 -> 64 products are then one instruction each where the device has one (x86:
 * vpmuludq), the high word is a shift, and the low word is the product itself. The high halves of
 * c1 and c3 carry junk, which the masks before each multiply drop. Defined for ulong4 and ulong2. */
#define CLMSD_PHILOX_ROUND_WIDE(T)                                                           \
    CLMSD_INLINE void clmsd_philox_round_##T(T *c0, T *c1, T *c2, T *c3, ulong k0, ulong k1) \
    {                                                                                        \
        const T low = (T)0xFFFFFFFFul;                                                       \
        T p0 = (*c0 & low) * (T)0xD2511F53ul, p1 = (*c2 & low) * (T)0xCD9E8D57ul;            \
        *c0 = (p1 >> 32) ^ *c1 ^ (T)k0;                                                      \
        *c1 = p1;                                                                            \
        *c2 = (p0 >> 32) ^ *c3 ^ (T)k1;                                                      \
        *c3 = p0;                                                                            \
    }
CLMSD_PHILOX_ROUND_WIDE(ulong4)
CLMSD_PHILOX_ROUND_WIDE(ulong2)

CLMSD_INLINE clmsd_philox8 clmsd_stream_block8(ulong seed, ulong step, uint8 k, uint8 q)
{
    /* as_ulong4 pairs the lanes: a holds lanes 0, 2, 4, 6 and b lanes 1, 3, 5, 7, each word in
     * the low half of its 64-bit lane (the other way round on a big-endian device, where the same
     * casts put them back: every lane gets the same rounds either way) */
    const ulong4 low = (ulong4)0xFFFFFFFFul;
    ulong4 qa = as_ulong4(q), ka = as_ulong4(k);
    ulong4 a0 = qa & low, b0 = qa >> 32, a1 = ka & low, b1 = ka >> 32;
    ulong4 a2 = (ulong4)((uint)step), b2 = a2, a3 = (ulong4)((uint)(step >> 32)), b3 = a3;
    ulong k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        clmsd_philox_round_ulong4(&a0, &a1, &a2, &a3, k0, k1);
        clmsd_philox_round_ulong4(&b0, &b1, &b2, &b3, k0, k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    clmsd_philox8 out;
    out.w[0] = as_uint8((a0 & low) | (b0 << 32));
    out.w[1] = as_uint8((a1 & low) | (b1 << 32));
    out.w[2] = as_uint8((a2 & low) | (b2 << 32));
    out.w[3] = as_uint8((a3 & low) | (b3 << 32));
    return out;
}

/* Two blocks, lane i at counter {q + i, k, step}: a quarter of clmsd_stream_block8's rounds.
 * Word j of block i is w[j] lane i. */
typedef struct clmsd_philox2 {
    uint2 w[4];
} clmsd_philox2;

CLMSD_INLINE clmsd_philox2 clmsd_stream_block2(ulong seed, ulong step, uint k, uint q)
{
    ulong2 c0 = (ulong2)(q, q + 1), c1 = (ulong2)k, c2 = (ulong2)((uint)step), c3 = (ulong2)((uint)(step >> 32));
    ulong k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        clmsd_philox_round_ulong2(&c0, &c1, &c2, &c3, k0, k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    clmsd_philox2 out;
    out.w[0] = convert_uint2(c0);
    out.w[1] = convert_uint2(c1);
    out.w[2] = convert_uint2(c2);
    out.w[3] = convert_uint2(c3);
    return out;
}

#define CLMSD_LANES8 ((uint8)(0, 1, 2, 3, 4, 5, 6, 7))

/* The words of the stream's blocks q .. q+7 of sample k (v1 or u8): words[j*8 + i] is word j of block q + i. */
CLMSD_INLINE void clmsd_words32(ulong seed, ulong step, uint k, ulong q, uint stream, uint *words)
{
    uint8 c = (uint8)((uint)q | (CLMSD_IS_U8(stream) ? CLMSD_U8_BLOCK_TAG : 0u)) + CLMSD_LANES8;
    clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, c);
    for (int j = 0; j < 4; ++j)
        vstore8(u.w[j], j, words);
}

/* The stream words of the 32 elements 4q .. 4q+31 of sample k in element order: lo lane i is the
 * word of element 4q + i, hi lane i that of 4q + 16 + i. Vector compares and selects then line up
 * with the data. (Named vectors, not arrays: pocl keeps arrays of vectors in memory.) */
typedef struct clmsd_run32 {
    uint16 lo, hi;
} clmsd_run32;

/* The u8 stream's values of the 32 elements of u8 blocks b and b + 1 of sample k: a quarter of
 * clmsd_stream_run32's Philox rounds for the same 32 elements. */
CLMSD_INLINE clmsd_run32 clmsd_stream_run32_u8(ulong seed, ulong step, uint k, uint b)
{
    clmsd_philox2 u = clmsd_stream_block2(seed, step, k, CLMSD_U8_BLOCK_TAG | b);
    clmsd_run32 r;
    r.lo = clmsd_bytes16(u.w[0].s0, u.w[1].s0, u.w[2].s0, u.w[3].s0);
    r.hi = clmsd_bytes16(u.w[0].s1, u.w[1].s1, u.w[2].s1, u.w[3].s1);
    return r;
}

CLMSD_INLINE clmsd_run32 clmsd_stream_run32(ulong seed, ulong step, uint k, uint q)
{
    clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, (uint8)q + CLMSD_LANES8);
    uint8 w0 = u.w[0], w1 = u.w[1], w2 = u.w[2], w3 = u.w[3];
    clmsd_run32 r;
    r.lo = (uint16)(w0.s0, w1.s0, w2.s0, w3.s0, w0.s1, w1.s1, w2.s1, w3.s1, w0.s2, w1.s2, w2.s2, w3.s2, w0.s3, w1.s3,
                    w2.s3, w3.s3);
    r.hi = (uint16)(w0.s4, w1.s4, w2.s4, w3.s4, w0.s5, w1.s5, w2.s5, w3.s5, w0.s6, w1.s6, w2.s6, w3.s6, w0.s7, w1.s7,
                    w2.s7, w3.s7);
    return r;
}
