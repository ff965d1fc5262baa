/* SPDX-License-Identifier: MIT */
/* The safetensors writer: header by cJSON, data in the tensors' order, the file replaced whole. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(char *error, size_t size, const char *path, const char *fmt, ...)
{
    if (error && size) {
        int n = snprintf(error, size, "%s: ", path);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < size)
            vsnprintf(error + n, size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint64_t entry_bytes(const safetensors_entry *e)
{
    uint64_t n = safetensors_dtype_size(e->dtype);
    for (size_t d = 0; d < e->rank; ++d)
        n *= e->shape[d];
    return n;
}

/* the header's JSON, or NULL */
static char *header_json(const safetensors_entry *tensors, size_t count, const char *const *metadata)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && metadata) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (size_t i = 0; ok && metadata[i] && metadata[i + 1]; i += 2)
            ok = cJSON_AddStringToObject(meta, metadata[i], metadata[i + 1]) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < count; ++i) {
        const safetensors_entry *e = &tensors[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_AddArrayToObject(t, "shape") : NULL;
        cJSON *offsets = shape ? cJSON_CreateArray() : NULL;
        ok = offsets && cJSON_AddStringToObject(t, "dtype", safetensors_dtype_name(e->dtype));
        for (size_t d = 0; ok && d < e->rank; ++d)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        uint64_t end = offset + entry_bytes(e);
        ok = ok && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)end));
        if (offsets && !(ok && cJSON_AddItemToObject(t, "data_offsets", offsets))) {
            cJSON_Delete(offsets);
            ok = 0;
        }
        offset = end;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return json;
}

int safetensors_write(const char *path, const safetensors_entry *tensors, size_t count, const char *const *metadata,
                      char *error, size_t error_size)
{
    for (size_t i = 0; i < count; ++i) {
        const safetensors_entry *e = &tensors[i];
        if (!e->name || !strcmp(e->name, "__metadata__") || !safetensors_dtype_name(e->dtype) ||
            e->rank > SAFETENSORS_MAX_RANK || (!e->data && entry_bytes(e)))
            return fail(error, error_size, path, "tensor %zu (\"%s\") is not a tensor safetensors can hold", i,
                        e->name ? e->name : "(no name)");
        for (size_t j = 0; j < i; ++j)
            if (!strcmp(tensors[j].name, e->name))
                return fail(error, error_size, path, "tensor \"%s\" is given twice", e->name);
    }
    char *json = header_json(tensors, count, metadata);
    if (!json)
        return fail(error, error_size, path, "out of memory for the header");
    size_t n = strlen(json), padded = (n + 7) / 8 * 8; /* the data starts 8-byte aligned */
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
        length[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(json);
        return fail(error, error_size, path, "the path is too long");
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(json);
        return fail(error, error_size, path, "cannot create %s: %s", tmp, strerror(errno));
    }
    int ok = fwrite(length, 1, 8, f) == 8 && fwrite(json, 1, n, f) == n;
    for (size_t i = n; ok && i < padded; ++i)
        ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < count; ++i) {
        size_t bytes = (size_t)entry_bytes(&tensors[i]);
        ok = fwrite(tensors[i].data, 1, bytes, f) == bytes;
    }
    free(json);
    int err = errno;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (!ok)
        err = errno;
    if (fclose(f) && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path)) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        remove(tmp);
        return fail(error, error_size, path, "writing failed: %s", strerror(err));
    }
    return 0;
}
