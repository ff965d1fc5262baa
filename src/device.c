/* SPDX-License-Identifier: MIT */
/* Device discovery and device specs: "P:D" indices or a case-insensitive name substring. */
#include "context.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

/* A driver's string into a field of `size` bytes: whole when it fits, else its start and "..."
 * (visibly cut, never blank); empty when the driver gives none. */
static void fit_string(const char *text, char *out, size_t size)
{
    size_t n = strlen(text);
    if (n < size) {
        memcpy(out, text, n + 1);
        return;
    }
    memcpy(out, text, size - 4);
    memcpy(out + size - 4, "...", 4);
}

static void info_string(cl_platform_id p, cl_device_id d, cl_uint what, char *out, size_t size)
{
    size_t need = 0;
    out[0] = '\0';
    cl_int err = d ? clGetDeviceInfo(d, what, 0, NULL, &need) : clGetPlatformInfo(p, what, 0, NULL, &need);
    char *text = err == CL_SUCCESS && need > 0 ? malloc(need + 1) : NULL;
    if (!text)
        return;
    err = d ? clGetDeviceInfo(d, what, need, text, NULL) : clGetPlatformInfo(p, what, need, text, NULL);
    text[need] = '\0';
    if (err == CL_SUCCESS)
        fit_string(text, out, size);
    free(text);
}

static void fill_info(cl_platform_id p, cl_device_id d, unsigned pi, unsigned di, clmsd_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    info_string(p, NULL, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    info_string(p, d, CL_DEVICE_NAME, info->device_name, sizeof info->device_name);
    info_string(p, d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    info_string(p, d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info_string(p, d, CL_DEVICE_VERSION, info->opencl_version, sizeof info->opencl_version);
    cl_device_type type = 0;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof info->compute_units, &info->compute_units, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof info->max_clock_mhz, &info->max_clock_mhz, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof info->global_mem_bytes, &info->global_mem_bytes, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof info->local_mem_bytes, &info->local_mem_bytes, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof info->max_work_group_size, &info->max_work_group_size,
                    NULL);
    clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->denormals = (fp & CL_FP_DENORM) != 0;
}

/* Calls visit(platform, device, indices, info, user) for every device until it returns true. */
typedef bool (*visit_fn)(cl_platform_id, cl_device_id, const clmsd_device_info *, void *);

static cl_int for_each_device(visit_fn visit, void *user)
{
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: the ICD loader found no platform */ || np == 0)
        return CL_SUCCESS;
    if (err != CL_SUCCESS)
        return err;
    if (np > MAX_PLATFORMS)
        np = MAX_PLATFORMS;
    for (cl_uint pi = 0; pi < np; ++pi) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &nd) != CL_SUCCESS)
            continue; /* a platform without devices is not an error */
        if (nd > MAX_DEVICES)
            nd = MAX_DEVICES;
        for (cl_uint di = 0; di < nd; ++di) {
            clmsd_device_info info;
            fill_info(platforms[pi], devices[di], pi, di, &info);
            if (visit(platforms[pi], devices[di], &info, user))
                return CL_SUCCESS;
        }
    }
    return CL_SUCCESS;
}

typedef struct list_state {
    clmsd_device_info *out;
    size_t capacity, count;
} list_state;

static bool list_visit(cl_platform_id p, cl_device_id d, const clmsd_device_info *info, void *user)
{
    (void)p;
    (void)d;
    list_state *s = user;
    if (s->count < s->capacity)
        s->out[s->count] = *info;
    s->count++;
    return false;
}

clmsd_status clmsd_devices_list(clmsd_device_info *out, size_t capacity, size_t *count)
{
    if (!count || (capacity > 0 && !out))
        return clmsd__fail(NULL, CLMSD_ERROR_INVALID_ARGUMENT,
                           "clmsd_devices_list: count is NULL, or out is NULL with capacity > 0");
    list_state s = {out, capacity, 0};
    CLMSD__TRY_CL(NULL, for_each_device(list_visit, &s), "clGetPlatformIDs");
    *count = s.count;
    return CLMSD_SUCCESS;
}

typedef struct find_state {
    const char *spec;
    long pi, di;         /* >= 0 when the spec is "P:D" */
    cl_device_type want; /* for the default choice */
    cl_platform_id platform;
    cl_device_id device;
    bool found;
} find_state;

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; ++hay) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool find_visit(cl_platform_id p, cl_device_id d, const clmsd_device_info *info, void *user)
{
    find_state *s = user;
    bool match;
    if (s->pi >= 0) {
        match = (long)info->platform_index == s->pi && (long)info->device_index == s->di;
    } else if (s->spec) {
        char full[sizeof info->platform_name + sizeof info->device_name + 4];
        snprintf(full, sizeof full, "%s / %s", info->platform_name, info->device_name);
        match = contains_nocase(full, s->spec);
    } else {
        cl_device_type type = 0;
        clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
        match = (type & s->want) != 0;
    }
    if (match) {
        s->platform = p;
        s->device = d;
        s->found = true;
    }
    return match;
}

static bool parse_indices(const char *spec, long *pi, long *di)
{
    char *end;
    if (!isdigit((unsigned char)spec[0]))
        return false;
    long p = strtol(spec, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1]))
        return false;
    long d = strtol(end + 1, &end, 10);
    if (*end != '\0')
        return false;
    *pi = p;
    *di = d;
    return true;
}

clmsd_status clmsd__find_device(const char *spec, cl_platform_id *platform, cl_device_id *device)
{
    const char *source = "argument";
    if (!spec || !*spec) {
        spec = getenv("CLMSD_DEVICE");
        source = "$CLMSD_DEVICE";
        if (spec && !*spec)
            spec = NULL;
    }
    find_state s = {.spec = spec, .pi = -1, .di = -1};
    if (spec) {
        parse_indices(spec, &s.pi, &s.di);
        CLMSD__TRY_CL(NULL, for_each_device(find_visit, &s), "clGetPlatformIDs");
    } else {
        const cl_device_type order[] = {CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_ALL};
        for (size_t i = 0; i < 3 && !s.found; ++i) {
            s.want = order[i];
            CLMSD__TRY_CL(NULL, for_each_device(find_visit, &s), "clGetPlatformIDs");
        }
    }
    if (!s.found) {
        if (spec)
            return clmsd__fail(NULL, CLMSD_ERROR_DEVICE_NOT_FOUND,
                               "no OpenCL device matches \"%s\" (from %s); `clmsd devices` lists them", spec, source);
        return clmsd__fail(NULL, CLMSD_ERROR_DEVICE_NOT_FOUND,
                           "no OpenCL device found: install an OpenCL driver (pocl-opencl-icd for the CPU)");
    }
    *platform = s.platform;
    *device = s.device;
    return CLMSD_SUCCESS;
}
