/* SPDX-License-Identifier: MIT */
/* The digits data set (data/digits.csv.gz, installed into datadir/clmsd) and a seeded random ReLU
 * feature layer that stands in for a frozen backbone. Shared by `clmsd train` and
 * examples/train_digits.c. */
#ifndef CLMSD_DIGITS_H
#define CLMSD_DIGITS_H

#include <stddef.h>
#include <stdint.h>

#define DIGITS_PIXELS 64
#define DIGITS_CLASSES 10

typedef struct digits {
    size_t count;
    float *pixels;  /* [count, 64], scaled to [0, 1] */
    int32_t *label; /* [count] */
} digits;

/* The installed data set: $CLMSD_DATA_DIR/digits.csv.gz when set, else the first that exists of
 * <the program's folder>/../share/clmsd, the configured datadir (meson's prefix/datadir/clmsd),
 * and, for programs run from a build tree, the source tree's data/. Writes the path into buf. */
const char *digits_default_path(char *buf, size_t size);

/* The largest file digits_load reads, decompressed: 64 MiB (the UCI set is 0.5 MiB; a stream that
 * never ends, such as /dev/zero, is refused at it). */
#define DIGITS_MAX_BYTES ((size_t)64 << 20)

/* digits_load.c: reads the CSV, gzipped or plain: lines of 64 pixels (integers 0..16) and a class
 * (0..9), comma-separated decimal digits only, a final newline optional. Returns 0 with every
 * line loaded, or -1 after a message on stderr naming the file, the line and what is wrong (a
 * damaged gzip stream, a value out of range, a missing or extra field, any other character, a
 * file past DIGITS_MAX_BYTES); *out is then empty. */
int digits_load(const char *path, digits *out);
void digits_free(digits *d);
/* FNV-1a of the data set's contents: its count, pixels and labels */
uint64_t digits_hash(const digits *d);

/* A seeded permutation of [0, n) (Fisher-Yates on the clmsd-philox-v1 host stream). */
void digits_permutation(uint64_t seed, uint64_t step, size_t n, size_t *perm);

/* features[n, h] = max(0, pixels[n] . W1[h] + b1[h]), W1 and b1 drawn from the stream: He-uniform
 * weights and biases in [-0.5, 0.5). The same seed gives the same features everywhere. */
void digits_features(const digits *d, size_t hidden, uint64_t seed, float *features);

#endif
