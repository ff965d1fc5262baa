/* CLMSD_ENGINE_AUTO's rule (derived from the benchmark, docs/benchmarks.md). */
#include "internal.h"

clmsd_engine clmsd__auto_engine(const clmsd_context *ctx, const clmsd_head_desc *desc)
{
    (void)ctx, (void)desc;
    return CLMSD_ENGINE_FUSED; /* provisional until the benchmark has measured both */
}
