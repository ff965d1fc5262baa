/* SPDX-License-Identifier: MIT */
/* libFuzzer harness over the safetensors reader (data/safetensors.c): any bytes are a file. A parse
 * must refuse with a message or return tensors that lie inside the input and tile its data; every
 * tensor byte is read, so AddressSanitizer sees any pointer past the input. Built and run by fuzz.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

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
    safetensors_close(&st);
    return (int)(sum & 0u);
}
