/* SPDX-License-Identifier: MIT */
/* CLMSD_ENGINE_AUTO's rule, derived from the benchmark (docs/benchmarks.md): on pocl the fused
 * engine was faster than the CLBlast engine for every op of every benchmark shape, from the binary
 * head (C = 2) to the ImageNet-sized head (C = 1000), so AUTO takes it everywhere. The rule is a
 * pure function of the device and the shape, not a timing, so a run's results never depend on
 * machine noise. No GPU has been measured yet: $CLMSD_ENGINE=clblast overrides it. */
#include "head.h"

clmsd_engine clmsd__auto_engine(const clmsd_context *ctx, const clmsd_head_desc *desc)
{
    (void)ctx;
    (void)desc;
    return CLMSD_ENGINE_FUSED;
}
