/* SPDX-License-Identifier: MIT */
/* The digits data and the fixed random feature layer (see digits.h). */
#define _DEFAULT_SOURCE /* readlink */
#include "digits.h"

#include <clmsd.h>
#include <clmsd_ref.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

const char *digits_default_path(char *buf, size_t size)
{
    char exe[4096] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    const char *env = getenv("CLMSD_DATA_DIR");
    const char *dirs[] = {env && *env ? env : NULL, slash ? exe : NULL, CLMSD_DATADIR, CLMSD_SOURCE_DATA};
    const char *suffix[] = {"", "/../share/clmsd", "", ""};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; ++i) {
        if (!dirs[i])
            continue;
        snprintf(buf, size, "%s%s/digits.csv.gz", dirs[i], suffix[i]);
        if (readable(buf) || i == 0)
            return buf; /* an explicit $CLMSD_DATA_DIR is taken even when wrong, and said so by the loader */
    }
    snprintf(buf, size, "%s/digits.csv.gz", CLMSD_DATADIR);
    return buf;
}

void digits_free(digits *d)
{
    free(d->pixels);
    free(d->label);
    memset(d, 0, sizeof *d);
}

/* uniform in [0, 1) from stream word e of sample k */
static double uniform(uint64_t seed, uint64_t step, uint32_t k, uint64_t e)
{
    return clmsd_ref_stream_word(seed, step, k, e) / 4294967296.0;
}

void digits_permutation(uint64_t seed, uint64_t step, size_t n, size_t *perm)
{
    for (size_t i = 0; i < n; ++i)
        perm[i] = i;
    for (size_t i = n; i-- > 1;) { /* (n = 0 and 1 draw nothing) */
        size_t j = (size_t)(uniform(seed, step, 7, i) * (double)(i + 1));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void digits_features(const digits *d, size_t hidden, uint64_t seed, float *features)
{
    const double bound = sqrt(6.0 / DIGITS_PIXELS);
    float *w = malloc(hidden * DIGITS_PIXELS * sizeof *w), *b = malloc(hidden * sizeof *b);
    if (!w || !b) {
        free(w);
        free(b);
        memset(features, 0, d->count * hidden * sizeof *features);
        return;
    }
    for (size_t i = 0; i < hidden * DIGITS_PIXELS; ++i)
        w[i] = (float)((2 * uniform(seed, 0, 100, i) - 1) * bound);
    for (size_t h = 0; h < hidden; ++h)
        b[h] = (float)(uniform(seed, 0, 101, h) - 0.5);
    for (size_t n = 0; n < d->count; ++n)
        for (size_t h = 0; h < hidden; ++h) {
            float acc = b[h];
            for (size_t i = 0; i < DIGITS_PIXELS; ++i)
                acc += d->pixels[n * DIGITS_PIXELS + i] * w[h * DIGITS_PIXELS + i];
            features[n * hidden + h] = acc > 0 ? acc : 0;
        }
    free(w);
    free(b);
}

uint64_t digits_hash(const digits *d)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const unsigned char *parts[] = {(const unsigned char *)&d->count, (const unsigned char *)d->pixels,
                                    (const unsigned char *)d->label};
    size_t sizes[] = {sizeof d->count, d->count * DIGITS_PIXELS * sizeof *d->pixels, d->count * sizeof *d->label};
    for (int p = 0; p < 3; ++p)
        for (size_t i = 0; i < sizes[p]; ++i)
            h = (h ^ parts[p][i]) * UINT64_C(0x100000001b3);
    return h;
}
