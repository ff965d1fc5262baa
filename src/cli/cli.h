/* SPDX-License-Identifier: MIT */
/* The `clmsd` tool's subcommands. */
#ifndef CLMSD_CLI_H
#define CLMSD_CLI_H

int clmsd_cli_selftest(int argc, char **argv);
int clmsd_cli_train(int argc, char **argv);
int clmsd_cli_predict(int argc, char **argv);

#endif
