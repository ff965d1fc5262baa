/* SPDX-License-Identifier: MIT */
/* The digits CSV, read whole and checked strictly (digits.h): a file that is not exactly what the
 * format says is refused with its name, the line and what is wrong, never half-loaded. */
#include "digits.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int refuse(digits *out, const char *path, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(digits *out, const char *path, size_t line, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (line)
        fprintf(stderr, "%s: line %zu: %s\n", path, line, why);
    else
        fprintf(stderr, "%s: %s\n", path, why);
    free(out->pixels);
    free(out->label);
    memset(out, 0, sizeof *out);
    return -1;
}

/* The whole decompressed file (plain files pass through zlib as they are), NUL-terminated; NULL
 * after a message when it cannot be read, is damaged, or passes DIGITS_MAX_BYTES. */
static char *read_all(const char *path, size_t *size)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (pass --data FILE)\n", path);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap + 1);
    int got = 0;
    while (text && (got = gzread(f, text + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap && cap < DIGITS_MAX_BYTES + 1) { /* one byte past the limit tells it is passed */
            size_t grown = cap * 2 < DIGITS_MAX_BYTES + 1 ? cap * 2 : DIGITS_MAX_BYTES + 1;
            char *bigger = realloc(text, grown + 1);
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            cap = grown;
        } else if (n == cap) {
            break;
        }
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    char why[200] = "";
    if (!text)
        snprintf(why, sizeof why, "out of memory reading it");
    else if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        snprintf(why, sizeof why, "a damaged or truncated gzip stream (zlib: %s)", zmsg);
    else if (n > DIGITS_MAX_BYTES)
        snprintf(why, sizeof why, "larger than %zu MiB decompressed: not the digits data", DIGITS_MAX_BYTES >> 20);
    gzclose(f);
    if (*why) {
        fprintf(stderr, "%s: %s\n", path, why);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *size = n;
    return text;
}

/* One field at *p: decimal digits only, value in [0, max]; advances *p past it. */
static bool field(const char **p, long max, long *value, char *why, size_t why_size, int index)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 8) {
        v = v * 10 + (*s++ - '0');
        ++digits;
    }
    if (digits == 0 || (*s >= '0' && *s <= '9')) {
        snprintf(why, why_size, "field %d is not a decimal integer of at most 8 digits (\"%.12s\")", index + 1, *p);
        return false;
    }
    if (v > max) {
        snprintf(why, why_size, "field %d is %ld: %s", index + 1, v,
                 max == 16 ? "pixels are integers 0..16" : "classes are 0..9");
        return false;
    }
    *value = v;
    *p = s;
    return true;
}

int digits_load(const char *path, digits *out)
{
    memset(out, 0, sizeof *out);
    size_t size = 0;
    char *text = read_all(path, &size);
    if (!text)
        return -1;
    if (strlen(text) != size) {
        free(text);
        return refuse(out, path, 0, "holds a NUL byte: not a text file");
    }
    size_t lines = 0;
    for (const char *c = text; *c; ++c)
        lines += *c == '\n';
    lines += size > 0 && text[size - 1] != '\n';
    out->pixels = malloc((lines ? lines : 1) * DIGITS_PIXELS * sizeof *out->pixels);
    out->label = malloc((lines ? lines : 1) * sizeof *out->label);
    if (!out->pixels || !out->label) {
        free(text);
        return refuse(out, path, 0, "out of memory for %zu lines", lines);
    }
    const char *p = text;
    char why[160] = "";
    for (size_t line = 1; *p; ++line) {
        long v[DIGITS_PIXELS + 1];
        for (int i = 0; i <= DIGITS_PIXELS && !*why; ++i) {
            if (!field(&p, i < DIGITS_PIXELS ? 16 : DIGITS_CLASSES - 1, &v[i], why, sizeof why, i))
                break;
            char want = i < DIGITS_PIXELS ? ',' : '\n';
            if (i == DIGITS_PIXELS && *p == '\r')
                ++p; /* a CRLF line end */
            if (*p == want || (i == DIGITS_PIXELS && *p == '\0'))
                p += *p != '\0';
            else if (*p == ',' || (i < DIGITS_PIXELS && (*p == '\n' || *p == '\r' || *p == '\0')))
                snprintf(why, sizeof why, "has %s fields: the format has 65 (64 pixels and a class)",
                         *p == ',' ? "more than 65" : "fewer than 65");
            else
                snprintf(why, sizeof why, "an unexpected character 0x%02x after field %d", (unsigned char)*p, i + 1);
        }
        if (*why) {
            free(text);
            return refuse(out, path, line, "%s", why);
        }
        for (int i = 0; i < DIGITS_PIXELS; ++i)
            out->pixels[out->count * DIGITS_PIXELS + i] = (float)v[i] / 16.0f;
        out->label[out->count++] = (int32_t)v[DIGITS_PIXELS];
    }
    free(text);
    if (out->count == 0)
        return refuse(out, path, 0, "no samples");
    return 0;
}
