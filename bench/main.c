/* SPDX-License-Identifier: MIT */
/* clmsd-bench: the benchmark as its own program (also `clmsd bench`). */
#include "bench.h"

int main(int argc, char **argv) { return clmsd_bench_main(argc, argv); }
