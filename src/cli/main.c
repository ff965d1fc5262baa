/* SPDX-License-Identifier: MIT */
/* clmsd: the command-line tool. */
#include "bench.h"
#include "cli.h"

#include <clmsd.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: clmsd <command> [options]\n"
    "\n"
    "Multi-sample dropout on OpenCL, identical on every device.\n"
    "\n"
    "commands:\n"
    "  train       train a multi-sample dropout head: on the digits data for K = 1, 2, 4, 8, 16, or on\n"
    "              a safetensors file of features (--features) with checkpoints\n"
    "  predict     the logits of a trained head (a checkpoint) on a features file\n"
    "  bench       measure every device, engine and shape (the same as clmsd-bench)\n"
    "  devices     list every OpenCL platform and device\n"
    "  selftest    check the stream and the head on each device against the host reference\n"
    "\n"
    "options: --help, --version; `clmsd <command> --help` describes a command.\n"
    "environment: CLMSD_DEVICE (a device spec: \"P:D\" or a name substring), CLMSD_ENGINE.\n";

static int devices(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clmsd devices\n\nLists every OpenCL platform and device; pass \"P:D\" or a name substring\n"
                   "as --device or $CLMSD_DEVICE to choose one.\n");
            return 0;
        }
        fprintf(stderr, "clmsd devices: unknown option %s\n", argv[i]);
        return 2;
    }
    size_t count = 0;
    clmsd_status st = clmsd_devices_list(NULL, 0, &count);
    if (st != CLMSD_SUCCESS) {
        fprintf(stderr, "clmsd devices: %s\n", clmsd_context_last_error(NULL));
        return 1;
    }
    if (count == 0) {
        printf("no OpenCL device found: install an OpenCL driver (Debian: pocl-opencl-icd for the CPU)\n");
        return 1;
    }
    clmsd_device_info info[64];
    if (count > 64)
        count = 64;
    clmsd_devices_list(info, count, &count);
    for (size_t i = 0; i < count && i < 64; ++i) {
        const clmsd_device_info *d = &info[i];
        printf("%u:%u  %s / %s\n", d->platform_index, d->device_index, d->platform_name, d->device_name);
        printf("     %s, vendor %s, %s, driver %s\n", d->is_gpu ? "GPU" : "not a GPU", d->vendor, d->opencl_version,
               d->driver_version);
        printf("     %u compute units at %u MHz, %.1f GiB global, %.0f KiB local, work-groups up to %zu, "
               "fp32 denormals %s\n",
               d->compute_units, d->max_clock_mhz, d->global_mem_bytes / 1073741824.0, d->local_mem_bytes / 1024.0,
               d->max_work_group_size, d->denormals ? "yes" : "flushed");
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("clmsd %s\n", clmsd_version_string());
        return 0;
    }
    for (int i = 2; i < argc; ++i)
        if (!strcmp(argv[i], "--version")) {
            printf("clmsd %s\n", clmsd_version_string());
            return 0;
        }
    if (!strcmp(cmd, "devices"))
        return devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return clmsd_bench_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return clmsd_cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict"))
        return clmsd_cli_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "selftest"))
        return clmsd_cli_selftest(argc - 1, argv + 1);
    fprintf(stderr, "clmsd: unknown command \"%s\"\n\n%s", cmd, usage);
    return 2;
}
