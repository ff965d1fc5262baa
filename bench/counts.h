/* SPDX-License-Identifier: MIT */
/* FLOP and byte counts of one head call, per engine: the formulas of docs/benchmarks.md. */
#ifndef CLMSD_BENCH_COUNTS_H
#define CLMSD_BENCH_COUNTS_H

#include <clmsd.h>
#include <stdbool.h>

typedef enum bench_op { BENCH_FORWARD, BENCH_TRAIN_STEP, BENCH_PREDICT } bench_op;

/* CLMSD_ENGINE_CLBLAST, CLMSD_ENGINE_FUSED, or BENCH_NAIVE: K dropout calls and K CLBlastSgemm
 * calls (forward logits only), the way a user would write it with CLBlast alone. */
#define BENCH_NAIVE ((clmsd_engine)100)

/* Useful floating-point operations: 2 per multiply-add of the head's GEMMs. */
double bench_flops(const clmsd_head_desc *d, bench_op op, clmsd_engine engine);
/* Bytes the engine's algorithm must move to and from global memory at least: X and dX of the
 * desc's storage types, the rest fp32. */
double bench_bytes(const clmsd_head_desc *d, bench_op op, clmsd_engine engine);

#endif
