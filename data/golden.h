/* SPDX-License-Identifier: MIT */
/* Golden values of docs/rng.md (Random123 1.14 known answers, clmsd-philox-v1 stream words and
 * clmsd-philox-v1-u8 bytes), shared by the tests and `clmsd selftest`. The u8 values were computed
 * by an independent Python Philox4x32-10 checked against the known answers (docs/rng.md). */
#ifndef CLMSD_GOLDEN_H
#define CLMSD_GOLDEN_H

#include <stdint.h>

typedef struct clmsd_golden_kat {
    uint32_t ctr[4], key[2], out[4];
} clmsd_golden_kat;

static const clmsd_golden_kat clmsd_golden_kats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

typedef struct clmsd_golden_word {
    uint64_t seed, step;
    uint32_t k;
    uint64_t e;
    uint32_t u;
} clmsd_golden_word;

static const clmsd_golden_word clmsd_golden_words[] = {
    {0, 0, 0, 0, 0x6627e8d5},
    {0, 0, 0, 1, 0xe169c58d},
    {0, 0, 0, 4, 0xf8e4cca4},
    {42, 0, 0, 0, 0x9ceaf053},
    {42, 7, 3, 1000003, 0x6cb4c9bb},
    {UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210), 5, (UINT64_C(1) << 34) - 1, 0x734cdcf5},
    {2026, 1, 1, 12345, 0x47d0b6d7},
};

/* Keep bits for seed 42, step 0, p = 0.5, a 2 x 5 matrix, row_offset 0, samples k = 0 and 1. */
static const uint8_t clmsd_golden_keep[2][10] = {
    {1, 0, 0, 0, 1, 0, 1, 0, 1, 1},
    {0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
};

/* clmsd-philox-v1-u8 bytes b(seed, step, k, e) */
static const clmsd_golden_word clmsd_golden_bytes[] = {
    {0, 0, 0, 0, 0x9b},
    {0, 0, 0, 1, 0x52},
    {0, 0, 0, 5, 0xa0},
    {0, 0, 0, 15, 0x2a},
    {0, 0, 0, 16, 0xe6},
    {42, 0, 0, 0, 0xdb},
    {42, 7, 3, 1000003, 0xef},
    {UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210), 5, (UINT64_C(1) << 34) - 1, 0x87},
    {2026, 1, 1, 12345, 0xeb},
    {1, 2, 0x80000003u, 77, 0x9d},
};

/* The u8 Philox block 0 of seed 0, step 0, k 0: counter {2^31, 0, 0, 0}, key {0, 0} */
static const uint32_t clmsd_golden_u8_block0[4] = {0xbf9c529bu, 0xbcbca0dfu, 0x6c1f0468u, 0x2a9544cfu};

/* u8 keep bits for seed 42, step 0, p = 0.5 (T8 = 128), the same 2 x 5 matrix */
static const uint8_t clmsd_golden_keep_u8[2][10] = {
    {1, 1, 1, 0, 1, 1, 0, 0, 1, 0},
    {0, 0, 0, 0, 1, 1, 0, 1, 1, 0},
};

#define CLMSD_GOLDEN_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
