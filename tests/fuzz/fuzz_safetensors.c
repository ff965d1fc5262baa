/* SPDX-License-Identifier: MIT */
/* libFuzzer harness over the safetensors reader (data/safetensors.c) and what `clmsd train` and
 * `clmsd predict` read through it: any bytes are a file. A parse must refuse with a message or
 * return tensors that lie inside the input and tile its data; every tensor byte is read, so
 * AddressSanitizer sees any pointer past the input. A file that parses then goes through the
 * features checks ("x", "y", the split "v": src/cli/features_file.c) and the checkpoint head's
 * (src/cli/checkpoint.c), which must refuse it with a message or give arrays of the shapes they
 * state. Built and run by fuzz.sh (with -close_fd_mask=2: the checks' messages are not the log). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "features_file.h"
#include "safetensors.h"

/* the features checks and the split: a refusal names the file; an acceptance gives rows that are
 * a partition of [0, N) */
static void features_of(safetensors_file *st)
{
    features f = {.path = "fuzz", .file = *st, .loss = -1};
    char error[512] = "";
    unsigned sum = 0;
    if (features_check(&f, "x", "y", -1, 0, error, sizeof error) == 0 &&
        features_split(&f, safetensors_find(st, "v") ? "v" : NULL, 0.25, 1, error, sizeof error) == 0) {
        if (f.ntrain + f.nval != f.rows || f.ntrain == 0)
            abort();
        for (size_t i = 0; i < f.ntrain; ++i)
            sum += f.x->data[f.train[i] * f.row_bytes + f.row_bytes - 1] + (unsigned)f.train[i];
        for (size_t i = 0; i < f.nval; ++i)
            sum += f.x->data[f.val[i] * f.row_bytes];
    } else if (strncmp(error, "fuzz: ", 6))
        abort();
    f.file = (safetensors_file){0}; /* the caller closes it */
    features_close(&f);
    (void)(sum & 0u);
}

static void checkpoint_of(const safetensors_file *st)
{
    checkpoint c;
    memset(&c, 0, sizeof c);
    if (checkpoint_parse_head(st, "fuzz", &c) == 0) {
        volatile float v = c.weight[c.classes * c.features - 1] + c.bias[c.classes - 1];
        if (c.layers)
            v += c.layer_weights[c.layers - 1];
        (void)v;
    }
    checkpoint_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    safetensors_file st;
    char error[256] = "";
    if (safetensors_parse(data, size, "fuzz", &st, error, sizeof error)) {
        if (strncmp(error, "fuzz: ", 6))
            abort(); /* a refusal without its message */
        return 0;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = n << 8 | data[i];
    const unsigned char *at = data + 8 + n;
    unsigned sum = 0;
    for (size_t i = 0; i < st.count; ++i) {
        const safetensors_tensor *t = &st.tensors[i];
        if (t->data != at || t->bytes != t->elements * safetensors_dtype_size(t->dtype) || !t->name ||
            safetensors_find(&st, t->name) == NULL)
            abort();
        for (size_t b = 0; b < t->bytes; ++b)
            sum += t->data[b];
        at += t->bytes;
    }
    if (at != data + size)
        abort();
    features_of(&st);
    checkpoint_of(&st);
    safetensors_close(&st);
    return (int)(sum & 0u);
}
