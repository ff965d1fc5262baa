/* SPDX-License-Identifier: MIT */
/* The digits loader against damaged files: every truncation and every flipped byte of the gzipped
 * data set, values out of range, missing and extra fields, a byte-order mark, a NUL, a huge line
 * and an endless stream. Each file is either refused (-1 and a message) or loads exactly the data
 * set's contents: no crash (a signal fails the test), no hang (the timeouts), no garbage accepted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "digits.h"

#ifndef SOURCE_DATA
#error "SOURCE_DATA: the source tree's data folder"
#endif

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size + 1);
    cr_assert(fread(bytes, 1, *size, f) == *size);
    fclose(f);
    return bytes;
}

static const char *write_temp(const void *bytes, size_t size)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/clmsd-data-fuzz-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert(fwrite(bytes, 1, size, f) == size);
    fclose(f);
    return path;
}

/* the outcomes over a family of damaged files */
typedef struct tally {
    int refused, same, garbage;
} tally;

static void load(const void *bytes, size_t size, uint64_t original, tally *t)
{
    digits d;
    int rc = digits_load(write_temp(bytes, size), &d);
    if (rc != 0 && d.count == 0 && !d.pixels) /* refused, and nothing left behind */
        t->refused++;
    else if (rc != 0)
        t->garbage++;
    else if (digits_hash(&d) == original)
        t->same++;
    else
        t->garbage++;
    digits_free(&d);
}

static uint64_t original_hash(void)
{
    digits d;
    cr_assert_eq(digits_load(SOURCE_DATA "/digits.csv.gz", &d), 0);
    cr_assert_eq(d.count, 1797);
    uint64_t h = digits_hash(&d);
    digits_free(&d);
    return h;
}

/* the data set as plain text */
static char *plain(size_t *size)
{
    gzFile f = gzopen(SOURCE_DATA "/digits.csv.gz", "rb");
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    int n = gzread(f, text, (unsigned)cap);
    gzclose(f);
    cr_assert(n > 0 && (size_t)n < cap);
    *size = (size_t)n;
    return text;
}

Test(data_files, every_truncation_and_flipped_byte_of_the_gzip, .timeout = 600)
{
    uint64_t original = original_hash();
    size_t size;
    unsigned char *gz = read_file(SOURCE_DATA "/digits.csv.gz", &size);
    tally cut = {0}, flip = {0};
    for (size_t at = 0; at < size; at += size / 97 + 1) /* about 100 lengths, 0 among them */
        load(gz, at, original, &cut);
    for (size_t at = 0; at < size; at += size / 499 + 1) { /* about 500 bytes, every bit of some */
        gz[at] ^= (unsigned char)(1u << (at % 8));
        load(gz, size, original, &flip);
        gz[at] ^= (unsigned char)(1u << (at % 8));
    }
    free(gz);
    cr_assert_eq(cut.garbage + cut.same, 0, "truncations: %d loaded garbage, %d loaded whole", cut.garbage, cut.same);
    /* a flip may land in the gzip header's time or OS byte, which no check covers: then the data
     * is the same; anything else must be refused (the CRC and length of the trailer) */
    cr_assert_eq(flip.garbage, 0, "flipped bytes: %d loaded garbage (%d refused, %d the same data)", flip.garbage,
                 flip.refused, flip.same);
    cr_assert(flip.refused > 400, "flipped bytes: only %d refused", flip.refused);
}

/* one damage of the plain text: line 3 (a row) edited by the replacement of its start */
static void damaged_row(const char *text, size_t size, const char *from, const char *to, tally *t, uint64_t original)
{
    const char *row = text;
    for (int l = 0; l < 2; ++l)
        row = strchr(row, '\n') + 1;
    cr_assert(!strncmp(row, from, strlen(from)), "line 3 does not start with \"%s\"", from);
    size_t head = (size_t)(row - text), tail = size - head - strlen(from);
    char *bad = malloc(size + strlen(to) + 1);
    memcpy(bad, text, head);
    memcpy(bad + head, to, strlen(to));
    memcpy(bad + head + strlen(to), row + strlen(from), tail);
    load(bad, head + strlen(to) + tail, original, t);
    free(bad);
}

Test(data_files, values_fields_and_characters, .timeout = 300)
{
    uint64_t original = original_hash();
    size_t size;
    char *text = plain(&size);
    tally t = {0};
    load(text, size, original, &t); /* the plain file loads as the gzipped one */
    cr_assert_eq(t.same, 1, "the plain CSV does not load as the data set");
    t = (tally){0};
    /* line 3 starts "0,0,0,4,15,12," */
    static const char *const bad[] = {
        "-1,",                   /* a negative pixel */
        "17,",                   /* a pixel past 16 */
        "255,",                  /* a byte value */
        "2147483648,",           /* 2^31 */
        "99999999999999999999,", /* past any integer */
        "",                      /* a missing field: 64 fields */
        "0,0,",                  /* an extra field: 66 */
        " 0,",                   /* a space */
        "+0,",                   /* a sign */
        "0.5,",                  /* a fraction */
        "0;",                    /* another separator */
        "\xef\xbb\xbf"           /* a byte-order mark */
        "0,",
        "\n0,", /* an empty line */
        ",",    /* a leading comma */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
        damaged_row(text, size, "0,", bad[i], &t, original);
    cr_assert_eq(t.refused, (int)(sizeof bad / sizeof bad[0]), "%d of %zu damaged rows refused (%d garbage)", t.refused,
                 sizeof bad / sizeof bad[0], t.garbage);
    /* a class past 9, a NUL inside */
    char *copy = malloc(size);
    memcpy(copy, text, size);
    char *eol = strchr(copy, '\n');
    eol[-1] = 'x';
    t = (tally){0};
    load(copy, size, original, &t);
    memcpy(copy, text, size);
    eol[-1] = '\0';
    load(copy, size, original, &t);
    cr_assert_eq(t.refused, 2);
    free(copy);
    free(text);
}

Test(data_files, a_huge_line_an_endless_stream_and_a_large_valid_file, .timeout = 300)
{
    uint64_t original = original_hash();
    tally t = {0};
    size_t n = 1 << 20; /* one 1 MiB line: "1,1,1,...": far more than 65 fields */
    char *huge = malloc(n);
    for (size_t i = 0; i < n; ++i)
        huge[i] = i % 2 ? ',' : '1';
    huge[n - 1] = '\n';
    load(huge, n, original, &t);
    free(huge);
    digits d;
    cr_assert_eq(digits_load("/dev/zero", &d), -1, "an endless stream was not refused");
    cr_assert_eq(t.refused, 1, "a 1 MiB line was not refused");
    /* three copies of the data set: 5391 rows, more than any fixed buffer of the old loader */
    size_t size;
    char *text = plain(&size);
    char *three = malloc(3 * size);
    for (int i = 0; i < 3; ++i)
        memcpy(three + i * size, text, size);
    cr_assert_eq(digits_load(write_temp(three, 3 * size), &d), 0);
    cr_assert_eq(d.count, 3 * 1797, "a valid file of 5391 rows loaded %zu", d.count);
    digits_free(&d);
    free(three);
    free(text);
}
