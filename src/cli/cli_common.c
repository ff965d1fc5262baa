/* SPDX-License-Identifier: MIT */
/* What the tool's subcommands share (cli.h): a clock, and the messages of a failed call. */
#include "cli.h"

#include <stdio.h>
#include <time.h>

double cli_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int cli_cl_check(cl_int err, const char *who, const char *what)
{
    if (err == CL_SUCCESS)
        return 0;
    fprintf(stderr, "%s: %s failed (OpenCL error %d)\n", who, what, (int)err);
    return -1;
}

int cli_check(clmsd_status st, clmsd_context *ctx, const char *who, const char *what)
{
    if (st == CLMSD_SUCCESS)
        return 0;
    fprintf(stderr, "%s: %s failed: %s: %s\n", who, what, clmsd_status_string(st), clmsd_context_last_error(ctx));
    return -1;
}
