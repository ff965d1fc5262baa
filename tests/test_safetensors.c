/* SPDX-License-Identifier: MIT */
/* The safetensors reader (data/safetensors.c) on a valid file and on every way the format can be
 * broken: each malformed header is refused with the file's name and what is wrong; every
 * truncation and every flipped byte of a valid file is either refused or parses into tensors that
 * lie within the file and tile its data exactly (no crash: a signal fails the test). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

/* a file of the given header (padded with spaces to a multiple of 8, as writers do) and data */
static unsigned char *make(const char *header, const void *data, size_t data_bytes, size_t *size)
{
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    *size = 8 + padded + data_bytes;
    unsigned char *f = malloc(*size);
    for (int i = 0; i < 8; ++i)
        f[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(f + 8, header, n);
    memset(f + 8 + n, ' ', padded - n);
    if (data_bytes)
        memcpy(f + 8 + padded, data, data_bytes);
    return f;
}

static const char valid_header[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                                   "\"targets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]},"
                                   "\"features\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}}";

static unsigned char *valid(size_t *size)
{
    unsigned char data[48];
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t y[3] = {0, 7, 2};
    memcpy(data, x, 24);
    memcpy(data + 24, y, 24);
    return make(valid_header, data, sizeof data, size);
}

Test(safetensors, reads_a_valid_file_through_a_mapping)
{
    size_t size;
    unsigned char *bytes = valid(&size);
    char path[64], error[256];
    snprintf(path, sizeof path, "/tmp/clmsd-st-%d.safetensors", (int)getpid());
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(bytes, 1, size, f) == size);
    fclose(f);
    safetensors_file st;
    cr_assert_eq(safetensors_open(path, &st, error, sizeof error), 0, "%s", error);
    unlink(path);
    cr_assert_eq(st.count, 2);
    const safetensors_tensor *x = safetensors_find(&st, "features"), *y = safetensors_find(&st, "targets");
    cr_assert(x && y && !safetensors_find(&st, "__metadata__") && !safetensors_find(&st, "other"));
    cr_assert(x->dtype == SAFETENSORS_F32 && x->rank == 2 && x->shape[0] == 3 && x->shape[1] == 2 && x->elements == 6);
    cr_assert(y->dtype == SAFETENSORS_I64 && y->rank == 1 && y->shape[0] == 3 && y->bytes == 24);
    float x5;
    int64_t y1;
    memcpy(&x5, x->data + 5 * 4, 4);
    memcpy(&y1, y->data + 8, 8);
    cr_assert(x5 == 6.0f && y1 == 7);
    cr_assert(st.metas == 1 && !strcmp(safetensors_metadata(&st, "format"), "pt") && !safetensors_metadata(&st, "pt"));
    safetensors_close(&st);
    free(bytes);
    cr_assert_eq(safetensors_open("/nonexistent/x.safetensors", &st, error, sizeof error), -1);
    cr_assert(strstr(error, "/nonexistent/x.safetensors: "), "%s", error);
    cr_assert_eq(safetensors_open("/tmp", &st, error, sizeof error), -1);
    cr_assert(strstr(error, "not a regular file"), "%s", error);
}

Test(safetensors, writes_what_it_reads_back_and_replaces_files_whole)
{
    char path[64], error[256];
    snprintf(path, sizeof path, "/tmp/clmsd-stw-%d.safetensors", (int)getpid());
    const float w[6] = {1.5f, -2, 3, 4, 5, 6e-39f};
    const int32_t ids[3] = {0, -100, 7};
    const uint16_t half[1] = {0x3c00};
    safetensors_entry e[] = {{"weight", SAFETENSORS_F32, 2, {2, 3}, w},
                             {"ids", SAFETENSORS_I32, 1, {3}, ids},
                             {"empty", SAFETENSORS_F32, 2, {0, 4}, NULL},
                             {"scalar", SAFETENSORS_F16, 0, {0}, half}};
    const char *meta[] = {"step", "12", "options", "--lr 0.1\n\"quoted\"", NULL};
    cr_assert_eq(safetensors_write(path, e, 4, meta, error, sizeof error), 0, "%s", error);
    safetensors_file st;
    cr_assert_eq(safetensors_open(path, &st, error, sizeof error), 0, "%s", error);
    cr_assert_eq((size_t)(st.tensors[0].data - (const unsigned char *)st.map) % 8, 0);
    const safetensors_tensor *t = safetensors_find(&st, "weight");
    cr_assert(t && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3 && !memcmp(t->data, w, sizeof w));
    t = safetensors_find(&st, "ids");
    cr_assert(t && t->dtype == SAFETENSORS_I32 && !memcmp(t->data, ids, sizeof ids));
    t = safetensors_find(&st, "empty");
    cr_assert(t && t->elements == 0 && t->bytes == 0);
    t = safetensors_find(&st, "scalar");
    cr_assert(t && t->rank == 0 && t->elements == 1 && !memcmp(t->data, half, 2));
    cr_assert_str_eq(safetensors_metadata(&st, "step"), "12");
    cr_assert_str_eq(safetensors_metadata(&st, "options"), "--lr 0.1\n\"quoted\"");
    safetensors_close(&st);
    /* a refused write leaves the old file as it was, and no temporary behind */
    safetensors_entry twice[] = {e[0], e[0]};
    cr_assert_eq(safetensors_write(path, twice, 2, NULL, error, sizeof error), -1);
    cr_assert(strstr(error, "\"weight\" is given twice"), "%s", error);
    cr_assert_eq(safetensors_open(path, &st, error, sizeof error), 0, "%s", error);
    cr_assert_eq(st.count, 4);
    safetensors_close(&st);
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert(access(tmp, F_OK) != 0);
    cr_assert_eq(safetensors_write("/nonexistent/dir/x.safetensors", e, 1, NULL, error, sizeof error), -1);
    cr_assert(strstr(error, "/nonexistent/dir/x.safetensors: cannot create"), "%s", error);
    unlink(path);
}

Test(safetensors, refuses_each_malformed_header)
{
    static const struct {
        const char *header;
        size_t data;
        const char *needle;
    } cases[] = {
        {"not json", 0, "not JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"{} x", 0, "bytes after its JSON"},
        {"{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype \"F8\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "rank 9"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "not a range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "not a range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "two non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "4 bytes for 2 elements of F32"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "tensors overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a hole"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4 of the 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "\"a\" appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ \"k\" is not a string"},
        {"{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "needs exactly"},
        {"{\"a\":7}", 0, "not a JSON object"},
    };
    unsigned char data[8] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t size;
        unsigned char *f = make(cases[i].header, data, cases[i].data, &size);
        safetensors_file st;
        char error[256] = "";
        cr_assert_eq(safetensors_parse(f, size, "case.safetensors", &st, error, sizeof error), -1, "case %zu accepted",
                     i);
        cr_assert(strstr(error, "case.safetensors: ") && strstr(error, cases[i].needle), "case %zu: '%s' lacks '%s'", i,
                  error, cases[i].needle);
        cr_assert(st.count == 0 && !st.tensors, "case %zu: output not empty", i);
        free(f);
    }
    /* the length word: short, past the file, past the format's 100 MB */
    unsigned char small[12] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    safetensors_file st;
    char error[256];
    cr_assert_eq(safetensors_parse(small, 5, "s", &st, error, sizeof error), -1);
    cr_assert(strstr(error, "shorter than"), "%s", error);
    cr_assert_eq(safetensors_parse(small, sizeof small, "s", &st, error, sizeof error), -1);
    cr_assert(strstr(error, "a header of 200 bytes"), "%s", error);
    small[4] = 1; /* 2^32 + 200 */
    cr_assert_eq(safetensors_parse(small, sizeof small, "s", &st, error, sizeof error), -1);
}

/* a successful parse is consistent: tensors inside the data, tiling it in order */
static void assert_consistent(const safetensors_file *st, const unsigned char *f, size_t size)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = n << 8 | f[i];
    const unsigned char *at = f + 8 + n;
    for (size_t i = 0; i < st->count; ++i) {
        const safetensors_tensor *t = &st->tensors[i];
        cr_assert(t->data == at && t->bytes == t->elements * safetensors_dtype_size(t->dtype));
        at += t->bytes;
    }
    cr_assert(at == f + size);
}

Test(safetensors, every_truncation_and_flipped_byte_is_refused_or_consistent)
{
    size_t size;
    unsigned char *f = valid(&size);
    char error[256];
    for (size_t cut = 0; cut < size; ++cut) {
        safetensors_file st;
        cr_assert_eq(safetensors_parse(f, cut, "cut", &st, error, sizeof error), -1, "cut at %zu accepted", cut);
    }
    size_t accepted = 0;
    for (size_t i = 0; i < size; ++i)
        for (int bit = 0; bit < 8; ++bit) {
            f[i] ^= (unsigned char)(1u << bit);
            safetensors_file st;
            if (safetensors_parse(f, size, "flip", &st, error, sizeof error) == 0) {
                assert_consistent(&st, f, size);
                ++accepted;
                safetensors_close(&st);
            }
            f[i] ^= (unsigned char)(1u << bit);
        }
    /* the data's 48 bytes may hold anything; a few header flips (a name's letter) stay valid */
    cr_assert(accepted >= 48 * 8, "only %zu flips accepted", accepted);
    free(f);
}
