/* SPDX-License-Identifier: MIT */
/* The row blocks and the fixed pairwise tree of canonical order v2 (docs/canonical-order.md),
 * written once for the kernels (OpenCL C) and the exact host reference (C11).
 *
 * A long sum over batch rows is cut into blocks of CLMSD_ROW_BLOCK global batch rows: block j
 * holds global rows 16j .. 16j+15 (a call's global rows are row_offset .. row_offset + B - 1).
 * Each block is summed on its own, and the block sums of blocks j0 .. j1 are combined by the tree
 * over global block indices: node (l, m) covers blocks m 2^l .. (m+1) 2^l - 1, its value is
 * left + right when both children hold a present block, the one child that does otherwise. */
#ifndef CLMSD_TREE_H
#define CLMSD_TREE_H

#ifdef __OPENCL_VERSION__
#define CLMSD_TREE_FN CLMSD_INLINE
#define CLMSD_TREE_PTR __global float *
#define CLMSD_TREE_U64 ulong
#else
#include <stdint.h>
#define CLMSD_TREE_FN static inline
#define CLMSD_TREE_PTR float *
#define CLMSD_TREE_U64 uint64_t
#endif

/* the first global block of a call, and the number of blocks its B rows touch */
CLMSD_TREE_FN CLMSD_TREE_U64 clmsd_first_block(CLMSD_TREE_U64 row_offset) { return row_offset / CLMSD_ROW_BLOCK; }
CLMSD_TREE_FN CLMSD_TREE_U64 clmsd_block_count(CLMSD_TREE_U64 row_offset, CLMSD_TREE_U64 batch)
{
    return (row_offset + batch - 1) / CLMSD_ROW_BLOCK - row_offset / CLMSD_ROW_BLOCK + 1;
}

/* the local batch rows [*lo, *hi) of the call's block s (global block first + s) */
CLMSD_TREE_FN void clmsd_block_rows(CLMSD_TREE_U64 row_offset, CLMSD_TREE_U64 batch, CLMSD_TREE_U64 s,
                                    CLMSD_TREE_U64 *lo, CLMSD_TREE_U64 *hi)
{
    CLMSD_TREE_U64 start = (row_offset / CLMSD_ROW_BLOCK + s) * CLMSD_ROW_BLOCK;
    /* (tests of s, not of start > row_offset: LLVM makes those a saturating subtract, which
     * Oclgrind 21.10 cannot run) */
    *lo = s == 0 ? 0 : start - row_offset;
    *hi = start + CLMSD_ROW_BLOCK - row_offset < batch ? start + CLMSD_ROW_BLOCK - row_offset : batch;
}

/* The tree over global blocks j0 .. j0 + blocks - 1, in place: on entry p[s * stride] holds block
 * j0 + s's sum, on return p[0] holds the root. Level by level, a node's value stays in the slot
 * of its first present block, so a node with one present child needs no operation. Defined once
 * for any element type and pointer PTR, loaded and stored by LOAD(ptr) and STORE(ptr, v):
 * clmsd_tree_sum on floats, and in the kernels clmsd_tree_sum16 (global) and
 * clmsd_tree_sum16_private on 16 consecutive floats, lane by lane. */
#define CLMSD_TREE_SUM_DEFINE(name, type, PTR, LOAD, STORE)                                         \
    CLMSD_TREE_FN type name(PTR p, CLMSD_TREE_U64 stride, CLMSD_TREE_U64 j0, CLMSD_TREE_U64 blocks) \
    {                                                                                               \
        CLMSD_TREE_U64 j1 = j0 + blocks - 1;                                                        \
        for (unsigned l = 0; (j0 >> l) != (j1 >> l); ++l) {                                         \
            CLMSD_TREE_U64 first = j0 >> l, last = j1 >> l;                                         \
            for (CLMSD_TREE_U64 m = first & ~(CLMSD_TREE_U64)1; m + 1 <= last; m += 2) {            \
                if (m < first) /* the left child holds no block: the right one is the node */       \
                    continue;                                                                       \
                CLMSD_TREE_U64 left = m == first ? 0 : (m << l) - j0, right = ((m + 1) << l) - j0;  \
                STORE(p + left * stride, LOAD(p + left * stride) + LOAD(p + right * stride));       \
            }                                                                                       \
        }                                                                                           \
        return LOAD(p);                                                                             \
    }
#define CLMSD_TREE_LOAD1(ptr) (*(ptr))
#define CLMSD_TREE_STORE1(ptr, v) (*(ptr) = (v))
CLMSD_TREE_SUM_DEFINE(clmsd_tree_sum, float, CLMSD_TREE_PTR, CLMSD_TREE_LOAD1, CLMSD_TREE_STORE1)
#ifdef __OPENCL_VERSION__
#define CLMSD_TREE_LOAD16(ptr) vload16(0, (ptr))
#define CLMSD_TREE_STORE16(ptr, v) vstore16((v), 0, (ptr))
CLMSD_TREE_SUM_DEFINE(clmsd_tree_sum16, float16, CLMSD_TREE_PTR, CLMSD_TREE_LOAD16, CLMSD_TREE_STORE16)
CLMSD_TREE_SUM_DEFINE(clmsd_tree_sum16_private, float16, float *, CLMSD_TREE_LOAD16, CLMSD_TREE_STORE16)
#endif

#ifndef __OPENCL_VERSION__
#include <stddef.h>

/* The shards' combine (docs/distributed.md), host only: n shards of a batch, shard i's rows
 * starting at global row first_row[i] (strictly ascending), its `count` values (a node sum of
 * each output) at v[i]. The tree is the one above over global rows instead of blocks: shard i is
 * a leaf at row first_row[i]; node (l, m) over rows m 2^l .. (m+1) 2^l - 1 is left + right when
 * both children hold a shard, the one that does otherwise. With leaves at block starts it is the
 * block tree (a node over one present leaf is that leaf), so shards that are nodes of the block
 * tree recombine to the single call's bits, whatever their sizes. In place: on return v[0] holds
 * the root. scratch holds 2n entries. */
CLMSD_TREE_FN void clmsd_tree_combine(float *const *v, size_t count, const uint64_t *first_row, uint64_t *scratch,
                                      size_t n)
{
    uint64_t *key = scratch, *slot = scratch + n; /* the live nodes, ascending: their key and shard */
    for (size_t i = 0; i < n; ++i) {
        key[i] = first_row[i];
        slot[i] = i;
    }
    for (size_t live = n; live > 1;) {
        size_t out = 0;
        for (size_t i = 0; i < live; ++out) {
            int siblings = i + 1 < live && key[i] >> 1 == key[i + 1] >> 1;
            if (siblings) { /* the parent is their sum, kept in the left one's values */
                float *left = v[slot[i]];
                const float *right = v[slot[i + 1]];
                for (size_t e = 0; e < count; ++e)
                    left[e] = left[e] + right[e];
            }
            key[out] = key[i] >> 1;
            slot[out] = slot[i];
            i += siblings ? 2 : 1;
        }
        live = out;
    }
}
#endif

#endif
