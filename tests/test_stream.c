/* SPDX-License-Identifier: MIT */
/* The clmsd-philox-v1 and clmsd-philox-v1-u8 streams: Random123 known answers, golden words,
 * bytes and keep bits (docs/rng.md), on the host and on the device. */
#include "../data/golden.h"
#include "helpers.h"

Test(stream_host, philox_known_answers)
{
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_kats); ++i) {
        uint32_t out[4];
        clmsd_ref_philox4x32_10(clmsd_golden_kats[i].ctr, clmsd_golden_kats[i].key, out);
        for (int j = 0; j < 4; ++j)
            cr_assert_eq(out[j], clmsd_golden_kats[i].out[j], "KAT %zu word %d: %08x", i, j, out[j]);
    }
}

Test(stream_host, golden_words)
{
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_words); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_words[i];
        uint32_t u = clmsd_ref_stream_word(g->seed, g->step, g->k, g->e);
        cr_assert_eq(u, g->u, "word %zu: %08x, expected %08x", i, u, g->u);
    }
}

Test(stream_host, thresholds_and_scales)
{
    const struct {
        double p;
        uint32_t t;
        float s;
    } rows[] = {{0.1, 429496729u, 1.11111116f}, {0.5, 2147483648u, 2.0f}, {0.9, 3865470566u, 10.0f}, {0.0, 0u, 1.0f}};
    for (size_t i = 0; i < 4; ++i) {
        uint32_t t;
        float s;
        cr_assert_eq(clmsd_rate_params(rows[i].p, &t, &s), CLMSD_SUCCESS);
        cr_assert_eq(t, rows[i].t, "p %g: T %u", rows[i].p, t);
        cr_assert_eq(s, rows[i].s, "p %g: s %.9g", rows[i].p, (double)s);
    }
    const double bad[] = {-0.1, 1.0, 1.5, NAN, INFINITY, -INFINITY, -0x1p-1074};
    for (size_t i = 0; i < 7; ++i)
        cr_assert_eq(clmsd_rate_params(bad[i], NULL, NULL), CLMSD_ERROR_INVALID_RATE);
}

Test(stream_host, golden_keep_bits)
{
    clmsd_dropout_desc d = {.seed = 42, .step = 0, .samples = 2, .rate = 0.5f, .rows = 2, .cols = 5};
    uint8_t mask[20];
    cr_assert_eq(clmsd_ref_dropout_mask(&d, mask), CLMSD_SUCCESS);
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 10; ++i)
            cr_assert_eq(mask[k * 10 + i], clmsd_golden_keep[k][i], "sample %d element %d", k, i);
}

/* The spec's keep rule, word by word: u >= T, with e = (row_offset + r) * cols + c. */
Test(stream_host, mask_follows_the_words)
{
    clmsd_dropout_desc d = {.seed = 7, .step = 3, .samples = 3, .rate = 0.3f, .rows = 4, .cols = 7, .row_offset = 5};
    uint8_t mask[84];
    uint32_t t;
    clmsd_rate_params(0.3, &t, NULL);
    cr_assert_eq(clmsd_ref_dropout_mask(&d, mask), CLMSD_SUCCESS);
    for (uint32_t k = 0; k < 3; ++k)
        for (size_t r = 0; r < 4; ++r)
            for (size_t c = 0; c < 7; ++c) {
                uint32_t u = clmsd_ref_stream_word(7, 3, k, (5 + r) * 7 + c);
                cr_assert_eq(mask[(k * 4 + r) * 7 + c], u >= t);
            }
}

Test(stream_host, golden_bytes)
{
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_bytes); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_bytes[i];
        uint32_t b = clmsd_ref_stream_byte(g->seed, g->step, g->k, g->e);
        cr_assert_eq(b, g->u, "byte %zu: %02x, expected %02x", i, b, g->u);
        cr_assert_eq(clmsd_ref_stream_value(CLMSD_STREAM_PHILOX_V1_U8, g->seed, g->step, g->k, g->e), b);
    }
    /* a u8 block is the Philox block at counter {2^31 + e / 16, k, step}: its 16 bytes in order */
    const uint32_t ctr[4] = {0x80000000u, 0, 0, 0}, key[2] = {0, 0};
    uint32_t out[4];
    clmsd_ref_philox4x32_10(ctr, key, out);
    for (int j = 0; j < 4; ++j)
        cr_assert_eq(out[j], clmsd_golden_u8_block0[j]);
    for (uint64_t e = 0; e < 16; ++e)
        cr_assert_eq(clmsd_ref_stream_byte(0, 0, 0, e), (out[e / 4] >> (8 * (e % 4))) & 0xFFu, "byte %d", (int)e);
    cr_assert_eq(clmsd_ref_stream_value(CLMSD_STREAM_PHILOX_V1, 42, 7, 3, 1000003), 0x6cb4c9bbu);
}

Test(stream_host, u8_thresholds_and_rates)
{
    const struct {
        double p;
        uint32_t t;
        float s;
    } rows[] = {{0.5, 128, 2.0f},
                {0.1015625, 26, (float)(1.0 / (1.0 - 0.1015625))},
                {0.0, 0, 1.0f},
                {255.0 / 256, 255, 256.0f}};
    for (size_t i = 0; i < 4; ++i) {
        uint32_t t;
        float s;
        cr_assert_eq(clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1_U8, rows[i].p, &t, &s), CLMSD_SUCCESS);
        cr_assert_eq(t, rows[i].t, "p %g: T8 %u", rows[i].p, t);
        cr_assert_eq(s, rows[i].s, "p %g: s %.9g", rows[i].p, (double)s);
    }
    const double bad[] = {0.1, 0.3, 1.0 / 512, 255.5 / 256, 1.0, -1.0 / 256, NAN, INFINITY};
    for (size_t i = 0; i < 8; ++i)
        cr_assert_eq(clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1_U8, bad[i], NULL, NULL), CLMSD_ERROR_INVALID_RATE,
                     "rate %.17g", bad[i]);
    uint32_t t;
    cr_assert_eq(clmsd_stream_rate_params(CLMSD_STREAM_PHILOX_V1, 0.1, &t, NULL), CLMSD_SUCCESS);
    cr_assert_eq(t, 429496729u, "v1 through clmsd_stream_rate_params");
    cr_assert_eq(clmsd_stream_rate_params((clmsd_stream)2, 0.5, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
}

Test(stream_host, golden_keep_bits_u8)
{
    clmsd_dropout_desc d = {
        .seed = 42, .step = 0, .samples = 2, .rate = 0.5, .rows = 2, .cols = 5, .stream = CLMSD_STREAM_PHILOX_V1_U8};
    uint8_t mask[20];
    cr_assert_eq(clmsd_ref_dropout_mask(&d, mask), CLMSD_SUCCESS);
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 10; ++i)
            cr_assert_eq(mask[k * 10 + i], clmsd_golden_keep_u8[k][i], "sample %d element %d", k, i);
}

static void device_words(clmsd_context *ctx, uint64_t seed, uint64_t step, uint32_t k, uint32_t block, size_t blocks,
                         uint32_t *out)
{
    cl_mem m = test_buffer(ctx, NULL, blocks * 16);
    clmsd_status st = clmsd_stream_words(ctx, seed, step, k, block, blocks, m, 0, 0, NULL, NULL);
    cr_assert_eq(st, CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    test_read(ctx, m, 0, out, blocks * 16);
    clReleaseMemObject(m);
}

Test(stream_device, philox_known_answers, .timeout = 300)
{
    clmsd_context *ctx = test_context();
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_kats); ++i) {
        const clmsd_golden_kat *g = &clmsd_golden_kats[i];
        uint32_t out[4];
        device_words(ctx, (uint64_t)g->key[1] << 32 | g->key[0], (uint64_t)g->ctr[3] << 32 | g->ctr[2], g->ctr[1],
                     g->ctr[0], 1, out);
        for (int j = 0; j < 4; ++j)
            cr_assert_eq(out[j], g->out[j], "KAT %zu word %d: %08x", i, j, out[j]);
    }
    clmsd_context_destroy(ctx);
}

Test(stream_device, golden_words_and_host_equality, .timeout = 300)
{
    clmsd_context *ctx = test_context();
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_words); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_words[i];
        uint32_t out[4];
        device_words(ctx, g->seed, g->step, g->k, (uint32_t)(g->e >> 2), 1, out);
        cr_assert_eq(out[g->e & 3], g->u, "golden word %zu", i);
    }
    enum { BLOCKS = 4099 };
    uint32_t *out = malloc(BLOCKS * 16);
    device_words(ctx, UINT64_C(0xdeadbeefcafe), 77, 9, 0xffffe000u, BLOCKS, out);
    for (size_t i = 0; i < (size_t)BLOCKS * 4; ++i)
        cr_assert_eq(out[i], clmsd_ref_stream_word(UINT64_C(0xdeadbeefcafe), 77, 9, ((uint64_t)0xffffe000u << 2) + i),
                     "word %zu", i);
    free(out);
    clmsd_context_destroy(ctx);
}

Test(stream_device, golden_bytes_and_keep_bits, .timeout = 300)
{
    clmsd_context *ctx = test_context();
    for (size_t i = 0; i < CLMSD_GOLDEN_COUNT(clmsd_golden_bytes); ++i) {
        const clmsd_golden_word *g = &clmsd_golden_bytes[i];
        uint32_t out[4];
        device_words(ctx, g->seed, g->step, g->k, 0x80000000u | (uint32_t)(g->e >> 4), 1, out);
        cr_assert_eq((out[(g->e >> 2) & 3] >> (8 * (g->e & 3))) & 0xFFu, g->u, "golden byte %zu", i);
    }
    clmsd_dropout_desc d = {
        .seed = 42, .step = 0, .samples = 2, .rate = 0.5, .rows = 2, .cols = 5, .stream = CLMSD_STREAM_PHILOX_V1_U8};
    cl_mem m = test_buffer(ctx, NULL, 20);
    cr_assert_eq(clmsd_dropout_mask(ctx, &d, m, 0, 0, NULL, NULL), CLMSD_SUCCESS, "%s", clmsd_context_last_error(ctx));
    uint8_t mask[20];
    test_read(ctx, m, 0, mask, 20);
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 10; ++i)
            cr_assert_eq(mask[k * 10 + i], clmsd_golden_keep_u8[k][i], "device u8 mask, sample %d element %d", k, i);
    clReleaseMemObject(m);
    clmsd_context_destroy(ctx);
}

Test(stream_device, words_reject_bad_input, .timeout = 300)
{
    clmsd_context *ctx = test_context();
    cl_mem m = test_canary_buffer(ctx, 32);
    cr_assert_eq(clmsd_stream_words(NULL, 0, 0, 0, 0, 1, m, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_stream_words(ctx, 0, 0, 0, 0, 0, m, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_stream_words(ctx, 0, 0, 0, 0xffffffffu, 2, m, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_stream_words(ctx, 0, 0, 0, 0, 3, m, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_stream_words(ctx, 0, 0, 0, 0, 1, m, 5, 0, NULL, NULL), CLMSD_ERROR_INVALID_BUFFER);
    cr_assert_eq(clmsd_stream_words(ctx, 0, 0, 0, 0, 1, NULL, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_str_neq(clmsd_context_last_error(ctx), "");
    test_assert_canary(ctx, m, 32, "stream words");
    clReleaseMemObject(m);
    clmsd_context_destroy(ctx);
}
