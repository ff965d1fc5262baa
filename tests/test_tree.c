/* SPDX-License-Identifier: MIT */
/* The fixed pairwise tree of canonical order v2 (cl/clmsd_tree.h): equal to its recursive
 * definition for any first block and count, and a contiguous shard of whole aligned subtrees
 * gives exact nodes: combining the shards' roots by the same tree is the single tree's root bit
 * for bit (what data-parallel training builds on, docs/canonical-order.md). */
#include "../cl/clmsd_constants.h"
#include "../cl/clmsd_tree.h"
#include "helpers.h"

#include <math.h>

/* node (l, m) over the present blocks [j0, j1], by its definition; *present says whether any is */
static float node(const float *v, uint64_t j0, uint64_t j1, unsigned l, uint64_t m, bool *present)
{
    uint64_t lo = m << l, hi = lo + (UINT64_C(1) << l) - 1;
    *present = hi >= j0 && lo <= j1;
    if (!*present)
        return 0.0f;
    if (l == 0)
        return v[m - j0];
    bool pl, pr;
    float left = node(v, j0, j1, l - 1, 2 * m, &pl), right = node(v, j0, j1, l - 1, 2 * m + 1, &pr);
    return pl && pr ? left + right : pl ? left : right;
}

/* values whose sum depends on the order: magnitudes over 2^-20 .. 2^20, both signs */
static void fill(float *v, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = ldexpf((float)(seed >> 8) / 16777216.0f - 0.5f, (int)(seed % 41) - 20);
    }
}

Test(tree, equals_its_definition)
{
    enum { MAX = 300 };
    float v[MAX], p[MAX];
    for (uint64_t j0 = 0; j0 < 40; j0 += 3)
        for (uint64_t n = 1; n <= MAX; n += n < 20 ? 1 : 37) {
            fill(v, n, (uint32_t)(j0 * 1000 + n));
            memcpy(p, v, n * sizeof *v);
            float got = clmsd_tree_sum(p, 1, j0, n);
            unsigned l = 0;
            while ((j0 >> l) != ((j0 + n - 1) >> l))
                ++l;
            bool present;
            float want = node(v, j0, j0 + n - 1, l, j0 >> l, &present);
            cr_assert(memcmp(&got, &want, 4) == 0, "blocks %llu + %llu: tree %.9g, definition %.9g",
                      (unsigned long long)j0, (unsigned long long)n, (double)got, (double)want);
        }
}

Test(tree, aligned_shards_are_exact_nodes)
{
    enum { BLOCKS = 64 };
    float v[BLOCKS], p[BLOCKS], roots[BLOCKS];
    int order_mattered = 0;
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        fill(v, BLOCKS, seed);
        for (uint64_t n = 1; n <= BLOCKS; ++n) { /* the global batch: n blocks from block 0 */
            memcpy(p, v, n * sizeof *v);
            float whole = clmsd_tree_sum(p, 1, 0, n), serial = 0.0f;
            for (uint64_t j = 0; j < n; ++j)
                serial = serial + v[j];
            order_mattered += memcmp(&whole, &serial, 4) != 0;
            for (uint64_t shard = 1; shard <= n; shard *= 2) { /* P shards of 2^l blocks, the last one short */
                uint64_t shards = (n + shard - 1) / shard;
                for (uint64_t r = 0; r < shards; ++r) {
                    uint64_t first = r * shard, count = first + shard <= n ? shard : n - first;
                    memcpy(p, v + first, count * sizeof *v);
                    roots[r] = clmsd_tree_sum(p, 1, first, count);
                }
                float combined = clmsd_tree_sum(roots, 1, 0, shards);
                cr_assert(memcmp(&combined, &whole, 4) == 0, "%llu blocks in shards of %llu: %.9g, one tree %.9g",
                          (unsigned long long)n, (unsigned long long)shard, (double)combined, (double)whole);
            }
        }
    }
    cr_assert(order_mattered > 100, "the values should make the order matter (%d sums differed)", order_mattered);
}

Test(tree, block_rows_cover_the_call)
{
    for (uint64_t off = 0; off < 50; off += 7)
        for (uint64_t batch = 1; batch < 70; batch += 5) {
            uint64_t blocks = clmsd_block_count(off, batch), next = 0;
            for (uint64_t s = 0; s < blocks; ++s) {
                uint64_t lo, hi;
                clmsd_block_rows(off, batch, s, &lo, &hi);
                cr_assert(lo == next && hi > lo && hi <= batch, "offset %llu batch %llu block %llu: [%llu, %llu)",
                          (unsigned long long)off, (unsigned long long)batch, (unsigned long long)s,
                          (unsigned long long)lo, (unsigned long long)hi);
                cr_assert((off + lo) / CLMSD_ROW_BLOCK == clmsd_first_block(off) + s &&
                          (off + hi - 1) / CLMSD_ROW_BLOCK == clmsd_first_block(off) + s);
                next = hi;
            }
            cr_assert_eq(next, batch);
        }
}

/* Cuts blocks [lo, lo + 2^l) of a batch of n blocks into random nodes of the tree, ascending. */
static void random_nodes(uint64_t lo, unsigned l, uint64_t n, uint32_t *seed, uint64_t *first, size_t *count)
{
    if (lo >= n)
        return;
    *seed = *seed * 1664525u + 1013904223u;
    if (l == 0 || (*seed >> 28) < 5) { /* this node is a shard */
        first[(*count)++] = lo;
        return;
    }
    random_nodes(lo, l - 1, n, seed, first, count);
    random_nodes(lo + (UINT64_C(1) << (l - 1)), l - 1, n, seed, first, count);
}

/* Shards that are tree nodes of any sizes (32 + 16 + 8 + 8 blocks, ...), each a leaf at its first
 * row, recombine to the single tree's bits (clmsd_tree_combine, what clmsd_mpi uses). */
Test(tree, node_shards_of_any_size_combine_exactly)
{
    enum { BLOCKS = 64, OUTPUTS = 3 };
    float v[OUTPUTS][BLOCKS], p[BLOCKS], shard[BLOCKS * OUTPUTS];
    uint64_t first[BLOCKS + 1], rows[BLOCKS], scratch[2 * BLOCKS];
    uint32_t rng = 7;
    for (uint32_t trial = 0; trial < 400; ++trial) {
        uint64_t n = 1 + trial % BLOCKS;
        for (int o = 0; o < OUTPUTS; ++o)
            fill(v[o], n, trial * 3 + (uint32_t)o + 100);
        size_t shards = 0;
        random_nodes(0, 6, n, &rng, first, &shards);
        first[shards] = n;
        for (size_t i = 0; i < shards; ++i) {
            rows[i] = first[i] * CLMSD_ROW_BLOCK;
            for (int o = 0; o < OUTPUTS; ++o) {
                memcpy(p, v[o] + first[i], (first[i + 1] - first[i]) * sizeof *p);
                shard[i * OUTPUTS + o] = clmsd_tree_sum(p, 1, first[i], first[i + 1] - first[i]);
            }
        }
        float *ptrs[BLOCKS];
        for (size_t i = 0; i < shards; ++i)
            ptrs[i] = shard + i * OUTPUTS;
        clmsd_tree_combine(ptrs, OUTPUTS, rows, scratch, shards);
        for (int o = 0; o < OUTPUTS; ++o) {
            memcpy(p, v[o], n * sizeof *p);
            float whole = clmsd_tree_sum(p, 1, 0, n);
            cr_assert(memcmp(&shard[o], &whole, 4) == 0,
                      "%llu blocks in %zu node shards, output %d: %.9g, one tree %.9g", (unsigned long long)n, shards,
                      o, (double)shard[o], (double)whole);
        }
    }
}

/* Equal shards: the combine over rows is the tree over the shard indices. */
Test(tree, combine_of_equal_shards_is_the_index_tree)
{
    enum { SHARDS = 13 };
    float v[SHARDS], p[SHARDS];
    uint64_t rows[SHARDS], scratch[2 * SHARDS];
    for (uint64_t size = 16; size <= 1024; size *= 4)
        for (size_t n = 1; n <= SHARDS; ++n) {
            fill(v, n, (uint32_t)(size + n));
            memcpy(p, v, sizeof v);
            for (size_t i = 0; i < n; ++i)
                rows[i] = 5 * size + i * size; /* any aligned start */
            float want = clmsd_tree_sum(p, 1, 5, n);
            float *ptrs[SHARDS];
            for (size_t i = 0; i < n; ++i)
                ptrs[i] = v + i;
            clmsd_tree_combine(ptrs, 1, rows, scratch, n);
            cr_assert(memcmp(&v[0], &want, 4) == 0, "%zu shards of %llu rows", n, (unsigned long long)size);
        }
}
