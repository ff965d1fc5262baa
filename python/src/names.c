/* SPDX-License-Identifier: MIT */
/* The enums of clmsd.h as the strings Python passes: the losses from clmsd_loss_name() (the
 * library's own list), the others in the tables below, whose values are the header's constants. */
#include "clmsdpy.h"

#include <string.h>

const clmsdpy_name clmsdpy_combine_names[] = {
    {"average_losses", CLMSD_AVERAGE_LOSSES},
    {"average_logits", CLMSD_AVERAGE_LOGITS},
    {NULL, 0},
};

const clmsdpy_name clmsdpy_engine_names[] = {
    {"auto", CLMSD_ENGINE_AUTO},
    {"clblast", CLMSD_ENGINE_CLBLAST},
    {"fused", CLMSD_ENGINE_FUSED},
    {NULL, 0},
};

const clmsdpy_name clmsdpy_stream_names[] = {
    {"philox_v1", CLMSD_STREAM_PHILOX_V1},
    {"philox_v1_u8", CLMSD_STREAM_PHILOX_V1_U8},
    {NULL, 0},
};

const clmsdpy_name clmsdpy_type_names[] = {
    {"float32", CLMSD_FLOAT32},
    {"float16", CLMSD_FLOAT16},
    {"bfloat16", CLMSD_BFLOAT16},
    {NULL, 0},
};

const clmsdpy_name clmsdpy_optimizer_names[] = {
    {"sgd", CLMSD_OPTIM_SGD},
    {"adamw", CLMSD_OPTIM_ADAMW},
    {NULL, 0},
};

/* "'a', 'b' or 'c'" into buf */
static void list_names(const char *const *names, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; ++i) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + used, size - used, "%s'%s'", sep, names[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* The string obj among names[0..n), or -1 with a ValueError listing them */
static int find_name(PyObject *obj, const char *what, const char *const *names, size_t n)
{
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
    if (PyUnicode_Check(obj) && !s)
        return -1;
    for (size_t i = 0; s && i < n; ++i)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    char list[256];
    list_names(names, n, list, sizeof list);
    PyErr_Format(PyUnicode_Check(obj) ? PyExc_ValueError : PyExc_TypeError, "%s must be %s, not %R", what, list, obj);
    return -1;
}

int clmsdpy_enum(PyObject *obj, const char *what, const clmsdpy_name *names, int *out)
{
    const char *list[8];
    size_t n = 0;
    for (; n < 8 && names[n].name; ++n)
        list[n] = names[n].name;
    int i = find_name(obj, what, list, n);
    if (i < 0)
        return -1;
    *out = names[i].value;
    return 0;
}

int clmsdpy_loss(PyObject *obj, clmsd_loss *out)
{
    const char *list[16];
    size_t n = 0;
    for (; n < 16 && clmsd_loss_name((clmsd_loss)n); ++n)
        list[n] = clmsd_loss_name((clmsd_loss)n);
    int i = find_name(obj, "loss", list, n);
    if (i < 0)
        return -1;
    *out = (clmsd_loss)i;
    return 0;
}

const char *clmsdpy_enum_name(const clmsdpy_name *names, int value)
{
    for (; names->name; ++names)
        if (names->value == value)
            return names->name;
    return "?";
}
