/* SPDX-License-Identifier: MIT */
/* The `clmsd` tool's subcommands. */
#ifndef CLMSD_CLI_H
#define CLMSD_CLI_H

#include <clmsd.h>

int clmsd_cli_selftest(int argc, char **argv);
int clmsd_cli_train(int argc, char **argv);
int clmsd_cli_predict(int argc, char **argv);

/* cli_common.c: a monotonic clock in seconds */
double cli_seconds(void);
/* 0 when err is CL_SUCCESS, else -1 after "WHO: WHAT failed (OpenCL error N)" on stderr */
int cli_cl_check(cl_int err, const char *who, const char *what);
/* 0 when st is CLMSD_SUCCESS, else -1 after "WHO: WHAT failed: STATUS: ctx's last error" on stderr */
int cli_check(clmsd_status st, clmsd_context *ctx, const char *who, const char *what);

#endif
