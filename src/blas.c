/* SPDX-License-Identifier: MIT */
/* CLBlast calls: serialised, their status named, their cache released with the context. */
#include "blas.h"

#include <pthread.h>

/* CLBlast 1.5.3 can fail when two threads make the first call of one routine at once. */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;

clmsd_status clmsd__sgemm(clmsd_context *ctx, const char *what, size_t m, size_t n, size_t k, clmsd__gemm_operand a,
                          clmsd__gemm_operand b, float beta, clmsd__gemm_operand c)
{
    pthread_mutex_lock(&clblast_lock);
    ctx->used_clblast = true; /* from here CLBlast caches a program for this context */
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, a.trans, b.trans, m, n, k, 1.0f, a.buf, a.off, a.ld,
                                       b.buf, b.off, b.ld, beta, c.buf, c.off, c.ld, &ctx->queue, NULL);
    pthread_mutex_unlock(&clblast_lock);
    if (s != CLBlastSuccess)
        return clmsd__fail(ctx, CLMSD_ERROR_CLBLAST, "CLBlastSgemm (%s, m %zu n %zu k %zu) failed: %s (%d)", what, m, n,
                           k, clmsd__clblast_status_name(s), (int)s);
    return CLMSD_SUCCESS;
}

void clmsd__blas_release(clmsd_context *ctx)
{
    if (!ctx->used_clblast)
        return;
    /* CLBlast caches its compiled programs per OpenCL context until the process exits, and then
     * releases them from a static destructor, after other libraries' finalisers have run (an abort
     * with Oclgrind beside Mesa's Clover, docs/portability.md). Its only API clears every
     * context's entries: other CLBlast users then rebuild theirs on their next call (a rebuild
     * from the driver's binary cache; their results do not change). */
    pthread_mutex_lock(&clblast_lock);
    CLBlastClearCache();
    pthread_mutex_unlock(&clblast_lock);
    ctx->used_clblast = false;
}
