/* clmsd-philox-v1 (docs/rng.md): the dropout stream, shared by every kernel that draws masks. */
#pragma OPENCL FP_CONTRACT OFF

/* The four stream words of elements 4q .. 4q+3 of sample k: one Philox call, every word used. */
inline philox4x32_ctr_t clmsd_stream_block(ulong seed, ulong step, uint k, ulong q)
{
    philox4x32_ctr_t ctr = {{(uint)q, k, (uint)step, (uint)(step >> 32)}};
    philox4x32_key_t key = {{(uint)seed, (uint)(seed >> 32)}};
    return philox4x32_R(10, ctr, key);
}

/* Walks the elements of blocks q .. q + blocks - 1 that lie inside
 * [row_offset*cols, (row_offset+rows)*cols): e is the element index, r the local row and c the
 * column of the current element. */
typedef struct clmsd_walk {
    ulong e, stop, r, c;
} clmsd_walk;

inline clmsd_walk clmsd_walk_start(ulong q, ulong blocks, ulong rows, ulong cols, ulong row_offset)
{
    ulong begin = row_offset * cols;
    clmsd_walk w;
    w.e = max(4 * q, begin);
    w.stop = min(4 * (q + blocks), begin + rows * cols);
    ulong global_row = w.e / cols;
    w.c = w.e - global_row * cols;
    w.r = global_row - row_offset;
    return w;
}

inline void clmsd_walk_next(clmsd_walk *w, ulong cols)
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

/* hi and lo words of c * m for eight lanes. The lanes are multiplied in pairs as 64-bit halves,
 * each 32x32 -> 64 product in one instruction where the device has one (x86: vpmuludq), where
 * mul_hi on a vector may cost several 16-bit partial products. Every lane gets the same
 * treatment, so the result does not depend on the byte order of as_ulong4. */
inline void clmsd_mul_wide8(uint8 c, uint m, uint8 *hi, uint8 *lo)
{
    const ulong4 low = (ulong4)0xFFFFFFFFul;
    ulong4 pairs = as_ulong4(c);
    ulong4 even = (pairs & low) * (ulong4)m, odd = (pairs >> 32) * (ulong4)m;
    *hi = as_uint8((even >> 32) | (odd & ~low));
    *lo = as_uint8((even & low) | (odd << 32));
}

inline clmsd_philox8 clmsd_stream_block8(ulong seed, ulong step, uint8 k, uint8 q)
{
    uint8 c0 = q, c1 = k, c2 = (uint8)((uint)step), c3 = (uint8)((uint)(step >> 32));
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint8 hi0, lo0, hi1, lo1;
        clmsd_mul_wide8(c0, 0xD2511F53u, &hi0, &lo0);
        clmsd_mul_wide8(c2, 0xCD9E8D57u, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ (uint8)k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ (uint8)k1;
        c3 = lo0;
    }
    clmsd_philox8 out;
    out.w[0] = c0, out.w[1] = c1, out.w[2] = c2, out.w[3] = c3;
    return out;
}

#define CLMSD_LANES8 ((uint8)(0, 1, 2, 3, 4, 5, 6, 7))

/* The stream words of the 32 elements 4q .. 4q+31 of sample k in element order: lo lane i is the
 * word of element 4q + i, hi lane i that of 4q + 16 + i. Vector compares and selects then line up
 * with the data. (Named vectors, not arrays: pocl keeps arrays of vectors in memory.) */
typedef struct clmsd_run32 {
    uint16 lo, hi;
} clmsd_run32;

inline clmsd_run32 clmsd_stream_run32(ulong seed, ulong step, uint k, uint q)
{
    clmsd_philox8 u = clmsd_stream_block8(seed, step, (uint8)k, (uint8)q + CLMSD_LANES8);
    uint8 w0 = u.w[0], w1 = u.w[1], w2 = u.w[2], w3 = u.w[3];
    clmsd_run32 r;
    r.lo = (uint16)(w0.s0, w1.s0, w2.s0, w3.s0, w0.s1, w1.s1, w2.s1, w3.s1,
                    w0.s2, w1.s2, w2.s2, w3.s2, w0.s3, w1.s3, w2.s3, w3.s3);
    r.hi = (uint16)(w0.s4, w1.s4, w2.s4, w3.s4, w0.s5, w1.s5, w2.s5, w3.s5,
                    w0.s6, w1.s6, w2.s6, w3.s6, w0.s7, w1.s7, w2.s7, w3.s7);
    return r;
}
