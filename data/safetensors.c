/* SPDX-License-Identifier: MIT */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u * 1000u * 1000u) /* the format's own limit */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [SAFETENSORS_F32] = {"F32", 4},   [SAFETENSORS_F16] = {"F16", 2}, [SAFETENSORS_BF16] = {"BF16", 2},
    [SAFETENSORS_F64] = {"F64", 8},   [SAFETENSORS_I64] = {"I64", 8}, [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_I16] = {"I16", 2},   [SAFETENSORS_I8] = {"I8", 1},   [SAFETENSORS_U8] = {"U8", 1},
    [SAFETENSORS_BOOL] = {"BOOL", 1},
};
enum { DTYPES = sizeof dtypes / sizeof dtypes[0] };

size_t safetensors_dtype_size(safetensors_dtype d) { return (unsigned)d < DTYPES ? dtypes[d].size : 0; }
const char *safetensors_dtype_name(safetensors_dtype d) { return (unsigned)d < DTYPES ? dtypes[d].name : NULL; }

static int refuse(char *error, size_t size, const char *file, const char *fmt, ...)
{
    if (error && size) {
        int n = snprintf(error, size, "%s: ", file);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < size)
            vsnprintf(error + n, size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* a JSON number that is an integer in [0, 2^53] (exact in a double) */
static int integer_of(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= 9007199254740992.0) || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int by_begin(const void *a, const void *b)
{
    const safetensors_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* one tensor's entry: dtype, shape, data_offsets, checked against the data's `bytes` */
static int read_entry(const cJSON *e, const unsigned char *data, uint64_t bytes, safetensors_tensor *t, char *error,
                      size_t error_size, const char *file)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return refuse(error, error_size, file, "tensor \"%s\": its entry is not a JSON object", name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets) || cJSON_GetArraySize(e) != 3)
        return refuse(error, error_size, file,
                      "tensor \"%s\": needs exactly \"dtype\" (a string), \"shape\" and \"data_offsets\" (arrays)",
                      name);
    int d = 0;
    while (d < DTYPES && strcmp(dtype->valuestring, dtypes[d].name))
        ++d;
    if (d == DTYPES)
        return refuse(error, error_size, file, "tensor \"%s\": unknown dtype \"%s\"", name, dtype->valuestring);
    t->dtype = (safetensors_dtype)d;
    int rank = cJSON_GetArraySize(shape);
    if (rank > SAFETENSORS_MAX_RANK)
        return refuse(error, error_size, file, "tensor \"%s\": rank %d (at most %d)", name, rank, SAFETENSORS_MAX_RANK);
    t->rank = (size_t)rank;
    uint64_t elements = 1;
    int i = 0;
    for (const cJSON *s = shape->child; s; s = s->next, ++i) {
        if (integer_of(s, &t->shape[i]))
            return refuse(error, error_size, file, "tensor \"%s\": shape[%d] is not a non-negative integer", name, i);
        if (t->shape[i] && elements > UINT64_MAX / t->shape[i])
            return refuse(error, error_size, file, "tensor \"%s\": its shape's product overflows", name);
        elements *= t->shape[i];
    }
    uint64_t range[2];
    if (cJSON_GetArraySize(offsets) != 2 || integer_of(offsets->child, &range[0]) ||
        integer_of(offsets->child->next, &range[1]))
        return refuse(error, error_size, file, "tensor \"%s\": data_offsets is not two non-negative integers", name);
    if (range[0] > range[1] || range[1] > bytes)
        return refuse(error, error_size, file,
                      "tensor \"%s\": data_offsets [%llu, %llu] is not a range within the %llu data bytes", name,
                      (unsigned long long)range[0], (unsigned long long)range[1], (unsigned long long)bytes);
    if (elements > UINT64_MAX / dtypes[d].size || elements * dtypes[d].size != range[1] - range[0])
        return refuse(error, error_size, file, "tensor \"%s\": %llu bytes for %llu elements of %s", name,
                      (unsigned long long)(range[1] - range[0]), (unsigned long long)elements, dtypes[d].name);
    t->elements = elements;
    t->data = data + range[0];
    t->bytes = (size_t)(range[1] - range[0]);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* every entry named, no name twice (sorted, so that a header of many entries stays fast) */
static int unique_names(const cJSON *root, const char *file, char *error, size_t error_size)
{
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next, ++n)
        if (!e->string)
            return refuse(error, error_size, file, "an entry of the header has no name");
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return refuse(error, error_size, file, "out of memory for %zu names", n);
    n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        names[n++] = e->string;
    qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; ++i)
        if (!strcmp(names[i - 1], names[i]))
            rc = refuse(error, error_size, file, "\"%s\" appears twice in the header", names[i]);
    free(names);
    return rc;
}

static int parse_header(const char *header, size_t n, const unsigned char *data, uint64_t bytes, const char *file,
                        safetensors_file *out, char *error, size_t error_size)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, n, &end, 0);
    if (!root)
        return refuse(error, error_size, file, "the header is not JSON (near byte %zu of %zu)",
                      (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - header : 0), n);
    int rc = -1;
    for (const char *p = end; p < header + n; ++p)
        if (*p != ' ') {
            refuse(error, error_size, file, "the header has bytes after its JSON (at byte %zu)", (size_t)(p - header));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        refuse(error, error_size, file, "the header is not a JSON object");
        goto out;
    }
    if (unique_names(root, file, error, error_size))
        goto out;
    size_t count = 0, metas = 0, names = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            for (const cJSON *m = cJSON_IsObject(e) ? e->child : NULL; m; m = m->next, ++metas) {
                if (!cJSON_IsString(m) || !m->string) {
                    refuse(error, error_size, file, "__metadata__ \"%s\" is not a string", m->string ? m->string : "");
                    goto out;
                }
                names += strlen(m->string) + strlen(m->valuestring) + 2;
            }
            if (!cJSON_IsObject(e)) {
                refuse(error, error_size, file, "__metadata__ is not an object");
                goto out;
            }
            continue;
        }
        ++count;
        names += strlen(e->string) + 1;
    }
    out->tensors = calloc(count ? count : 1, sizeof *out->tensors);
    out->metadata = calloc(2 * metas + 1, sizeof *out->metadata);
    out->names = malloc(names ? names : 1);
    if (!out->tensors || !out->metadata || !out->names) {
        refuse(error, error_size, file, "out of memory for %zu tensors", count);
        goto out;
    }
    char *name = out->names;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            for (const cJSON *m = e->child; m; m = m->next) {
                const char *kv[2] = {m->string, m->valuestring};
                for (int i = 0; i < 2; ++i) {
                    strcpy(name, kv[i]);
                    out->metadata[2 * out->metas + (size_t)i] = name;
                    name += strlen(name) + 1;
                }
                ++out->metas;
            }
            continue;
        }
        safetensors_tensor *t = &out->tensors[out->count];
        if (read_entry(e, data, bytes, t, error, error_size, file))
            goto out;
        strcpy(name, e->string);
        t->name = name;
        name += strlen(name) + 1;
        ++out->count;
    }
    /* in data order, the tensors tile the data exactly: no overlap, no hole (as the format says) */
    qsort(out->tensors, out->count, sizeof *out->tensors, by_begin);
    const unsigned char *at = data;
    for (size_t i = 0; i < out->count; ++i) {
        const safetensors_tensor *t = &out->tensors[i];
        if (t->data != at) {
            refuse(error, error_size, file, "tensor \"%s\" starts at data byte %zu, not %zu: %s", t->name,
                   (size_t)(t->data - data), (size_t)(at - data), t->data < at ? "tensors overlap" : "a hole");
            goto out;
        }
        at += t->bytes;
    }
    if ((uint64_t)(at - data) != bytes) {
        refuse(error, error_size, file, "the tensors cover %zu of the %llu data bytes", (size_t)(at - data),
               (unsigned long long)bytes);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int safetensors_parse(const unsigned char *p, size_t size, const char *file, safetensors_file *out, char *error,
                      size_t error_size)
{
    memset(out, 0, sizeof *out);
    if (size < 8)
        return refuse(error, error_size, file, "%zu bytes: shorter than the 8-byte header length", size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = n << 8 | p[i];
    if (n > MAX_HEADER || n > size - 8)
        return refuse(error, error_size, file, "a header of %llu bytes in a file of %zu (at most %u, within the file)",
                      (unsigned long long)n, size, MAX_HEADER);
    int rc = parse_header((const char *)p + 8, (size_t)n, p + 8 + n, size - 8 - n, file, out, error, error_size);
    if (rc) {
        free(out->tensors);
        free(out->metadata);
        free(out->names);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int safetensors_open(const char *path, safetensors_file *out, char *error, size_t error_size)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return refuse(error, error_size, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return refuse(error, error_size, path, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (size && map == MAP_FAILED)
        return refuse(error, error_size, path, "mmap: %s", strerror(errno));
    if (safetensors_parse(map, size, path, out, error, error_size)) {
        if (map)
            munmap(map, size);
        return -1;
    }
    out->map = map;
    out->size = size;
    return 0;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->count; ++i)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *safetensors_metadata(const safetensors_file *f, const char *key)
{
    for (size_t i = 0; f && key && i < f->metas; ++i)
        if (!strcmp(f->metadata[2 * i], key))
            return f->metadata[2 * i + 1];
    return NULL;
}

void safetensors_close(safetensors_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->size);
    free(f->tensors);
    free(f->metadata);
    free(f->names);
    memset(f, 0, sizeof *f);
}
