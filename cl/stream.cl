/* clmsd-philox-v1 (docs/rng.md): the dropout stream, shared by every kernel that draws masks. */
#pragma OPENCL FP_CONTRACT OFF

/* The four stream words of elements 4q .. 4q+3 of sample k: one Philox call, every word used. */
inline philox4x32_ctr_t clmsd_stream_block(ulong seed, ulong step, uint k, ulong q)
{
    philox4x32_ctr_t ctr = {{(uint)q, k, (uint)step, (uint)(step >> 32)}};
    philox4x32_key_t key = {{(uint)seed, (uint)(seed >> 32)}};
    return philox4x32_R(10, ctr, key);
}

/* Walks the elements of block q that lie inside [row_offset*cols, (row_offset+rows)*cols):
 * e is the element index, r the local row and c the column of the current element. */
typedef struct clmsd_walk {
    ulong e, stop, r, c;
} clmsd_walk;

inline clmsd_walk clmsd_walk_start(ulong q, ulong rows, ulong cols, ulong row_offset)
{
    ulong begin = row_offset * cols;
    clmsd_walk w;
    w.e = max(4 * q, begin);
    w.stop = min(4 * q + 4, begin + rows * cols);
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
