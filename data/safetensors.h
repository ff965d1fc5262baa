/* SPDX-License-Identifier: MIT */
/* A strict reader of safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON (parsed by cJSON), then the tensors' bytes. The
 * file is mapped, not read, so a file larger than memory opens. Everything the format says is
 * checked before anything is returned: the header within the file and at most 100 MB, a JSON
 * object and nothing after it but spaces, each tensor's dtype known, its shape non-negative
 * integers, its data_offsets inside the data and of exactly shape x dtype bytes, the tensors
 * covering the data without overlap or hole, names unique, __metadata__ strings only. A bad file
 * is refused with the file's name and what is wrong in `error`. */
#ifndef CLMSD_SAFETENSORS_H
#define CLMSD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_RANK 8

typedef enum safetensors_dtype {
    SAFETENSORS_F32,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    SAFETENSORS_F64,
    SAFETENSORS_I64,
    SAFETENSORS_I32,
    SAFETENSORS_I16,
    SAFETENSORS_I8,
    SAFETENSORS_U8,
    SAFETENSORS_BOOL
} safetensors_dtype;

typedef struct safetensors_tensor {
    const char *name;
    safetensors_dtype dtype;
    size_t rank;
    uint64_t shape[SAFETENSORS_MAX_RANK];
    uint64_t elements;
    const unsigned char *data; /* within the mapping; bytes = elements * safetensors_dtype_size */
    size_t bytes;
} safetensors_tensor;

typedef struct safetensors_file {
    void *map;
    size_t size;
    size_t count;
    safetensors_tensor *tensors; /* in data order */
    size_t metas;
    const char **metadata;       /* __metadata__: metas pairs of key, value */
    char *names;                 /* the names' and the metadata's storage */
} safetensors_file;

/* 0, or -1 with a message "FILE: what is wrong" in error (and *out empty) */
int safetensors_open(const char *path, safetensors_file *out, char *error, size_t error_size);
/* the same checks on bytes already in memory (the fuzzer's entry): data must outlive out */
int safetensors_parse(const unsigned char *data, size_t size, const char *name, safetensors_file *out, char *error,
                      size_t error_size);
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);
/* __metadata__'s value of key, or NULL */
const char *safetensors_metadata(const safetensors_file *f, const char *key);
void safetensors_close(safetensors_file *f);

/* One tensor to write: name, dtype, shape and its bytes (elements x dtype size). */
typedef struct safetensors_entry {
    const char *name;
    safetensors_dtype dtype;
    size_t rank;
    uint64_t shape[SAFETENSORS_MAX_RANK];
    const void *data;
} safetensors_entry;

/* Writes a safetensors file: the header (cJSON; padded with spaces to 8 bytes, as the reference
 * writer does) then the tensors in the given order. metadata: NULL, or pairs of key, value strings
 * ended by NULL. Written to PATH.tmp then renamed over path, so that path is either the old file
 * or the whole new one, never a part. 0, or -1 with "PATH: what failed" in error. */
int safetensors_write(const char *path, const safetensors_entry *tensors, size_t count, const char *const *metadata,
                      char *error, size_t error_size);
size_t safetensors_dtype_size(safetensors_dtype dtype);
const char *safetensors_dtype_name(safetensors_dtype dtype);

#endif
