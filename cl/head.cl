/* SPDX-License-Identifier: MIT */
/* The head's small kernels around the GEMMs: loss and its gradient per row, the loss reduction,
 * the mean logits and the bias gradient. Rows are the stacked logits Z [N, C], N = K*B
 * (average losses) or B (average logits, and predict); row n belongs to batch row n % B.
 * Targets arrive as 32-bit words: int32 class ids (CE) or float [B, C] (the element-wise losses). */
#pragma OPENCL FP_CONTRACT OFF

/* Single work-group tree reduction over CLMSD_REDUCE_GROUP lanes: the order is fixed by the
 * sizes, never by the device. The group may hold any number of work-items (rusticl allows 32,
 * a forced local size 1): work-item `lid` of `size` computes lanes lid, lid + size, ... */
#define CLMSD_TREE_REDUCE(part, lid, size)                              \
    for (uint width = CLMSD_REDUCE_GROUP / 2; width > 0; width >>= 1) { \
        barrier(CLK_LOCAL_MEM_FENCE);                                   \
        for (uint lane = (lid); lane < width; lane += (size))           \
            (part)[lane] = (part)[lane] + (part)[lane + width];         \
    }                                                                   \
    barrier(CLK_LOCAL_MEM_FENCE);

CLMSD_INLINE uint clmsd_is_valid_id(uint word, uint classes)
{
    int y = as_int(word);
    return y >= 0 && (uint)y < classes ? 1u : 0u;
}

/* the number of class ids in [0, C) among the B targets, by one work-item (the fused engine) */
CLMSD_INLINE uint clmsd_count_valid_ids(__global const uint *target, ulong batch, uint classes)
{
    uint n = 0;
    for (ulong b = 0; b < batch; ++b)
        n += clmsd_is_valid_id(target[b], classes);
    return n;
}

/* counter[0] = number of class ids in [0, C) among the B targets; one work-group of any size. */
__kernel void clmsd_head_count_valid(__global const uint *target, ulong target_off, ulong batch, uint classes,
                                     __global uint *counter, ulong counter_off)
{
    __local uint part[CLMSD_REDUCE_GROUP];
    uint lid = (uint)get_local_id(0), size = (uint)get_local_size(0);
    for (uint lane = lid; lane < CLMSD_REDUCE_GROUP; lane += size) {
        uint n = 0;
        for (ulong b = lane; b < batch; b += CLMSD_REDUCE_GROUP)
            n += clmsd_is_valid_id(target[target_off + b], classes);
        part[lane] = n;
    }
    CLMSD_TREE_REDUCE(part, lid, size)
    if (lid == 0)
        counter[counter_off] = part[0];
}

CLMSD_INLINE float clmsd_logit(__global const float *z, ulong row, uint c, __global const float *bias, ulong bias_off,
                               int has_bias)
{
    float v = z[row + c];
    return has_bias ? v + bias[bias_off + c] : v;
}

/* rowloss[n] = the unscaled loss of row n; G[n, :] = d(scale * loss)/dz (when grad != 0).
 * CE scales by clmsd_recip(valid ids * kprime) (1 / (K' valid); 0 when no id is valid), the
 * element-wise losses (clmsd_loss.h, with their parameter loss_param) by `scale`. exp, log, log1p
 * and 1/x are clmsd_math.h's, the same on every device. */
__kernel void clmsd_head_loss_rows(__global const float *z, ulong z_off, ulong rows, ulong batch, uint classes,
                                   __global const float *bias, ulong bias_off, int has_bias,
                                   __global const uint *target, ulong target_off, int loss_kind, float loss_param,
                                   float scale, __global const uint *counter, ulong counter_off, float kprime,
                                   __global float *rowloss, ulong rowloss_off, __global float *g, ulong g_off,
                                   ulong ldg, int grad)
{
    ulong n = get_global_id(0);
    if (n >= rows)
        return;
    ulong b = n % batch;
    ulong zr = z_off + n * classes;
    __global float *gr = g + g_off + n * ldg;
    if (grad) /* G's padding columns (the fused engine's vector loads) are zeros, never garbage */
        for (ulong c = classes; c < ldg; ++c)
            gr[c] = 0.0f;
    if (loss_kind == CLMSD_KERNEL_LOSS_CE) {
        int y = as_int(target[target_off + b]);
        if (y < 0 || (uint)y >= classes) { /* ignored: never indexes memory with y */
            rowloss[rowloss_off + n] = 0.0f;
            if (grad)
                for (uint c = 0; c < classes; ++c)
                    gr[c] = 0.0f;
            return;
        }
        float m = -INFINITY;
        for (uint c = 0; c < classes; ++c)
            m = fmax(m, clmsd_logit(z, zr, c, bias, bias_off, has_bias));
        /* the exps 16 classes at a time (clmsd_exp16: the same bits as clmsd_exp), summed in
         * class order; kept in G for the gradient rather than computed twice */
        float sum = -0.0f;
        for (uint c0 = 0; c0 < classes; c0 += 16) {
            float v[16];
            for (uint j = 0; j < 16; ++j)
                v[j] = c0 + j < classes ? clmsd_logit(z, zr, c0 + j, bias, bias_off, has_bias) - m : 0.0f;
            vstore16(clmsd_exp16(vload16(0, v)), 0, v);
            for (uint j = 0; j < 16 && c0 + j < classes; ++j) {
                sum = sum + v[j];
                if (grad)
                    gr[c0 + j] = v[j];
            }
        }
        rowloss[rowloss_off + n] = (m + clmsd_log(sum)) - clmsd_logit(z, zr, (uint)y, bias, bias_off, has_bias);
        if (grad) {
            float g_scale = clmsd_ce_scale(counter[counter_off], kprime), inv_sum = clmsd_recip(sum);
            for (uint c = 0; c < classes; ++c) {
                float p = gr[c] * inv_sum;
                gr[c] = (c == (uint)y ? p - 1.0f : p) * g_scale;
            }
        }
        return;
    }
    float total = -0.0f;
    for (uint c = 0; c < classes; ++c) {
        float v = clmsd_logit(z, zr, c, bias, bias_off, has_bias);
        float t = as_float(target[target_off + b * classes + c]), d;
        total = clmsd_loss_add(loss_kind, total, v, t, loss_param, &d);
        if (grad)
            gr[c] = d * scale;
    }
    rowloss[rowloss_off + n] = total;
}

/* The v2 block sum of one column of a [K' B, ld] matrix of stacked rows (row k*B + b): the
 * call's block s, its batch rows ascending and, within each, the samples k ascending. */
CLMSD_INLINE float clmsd_block_column_sum(__global const float *m, ulong ld, ulong batch, ulong samples,
                                          ulong row_offset, ulong s)
{
    ulong lo, hi;
    clmsd_block_rows(row_offset, batch, s, &lo, &hi);
    float acc = -0.0f;
    for (ulong b = lo; b < hi; ++b)
        for (ulong k = 0; k < samples; ++k)
            acc = acc + m[(k * batch + b) * ld];
    return acc;
}

/* loss = the v2 sum of the row losses (blocks of batch rows, then the tree) times the scale (CE:
 * clmsd_ce_scale(valid ids)), or the sum alone when `unscaled` (a shard's node); ignored = B -
 * valid ids (CE). One work-group of any size: its work-items sum blocks into part[0 .. blocks-1],
 * then work-item 0 walks the tree. */
__kernel void clmsd_head_reduce_loss(__global const float *rowloss, ulong rowloss_off, ulong rows, ulong batch,
                                     ulong row_offset, __global float *part, ulong part_off, int loss_kind, float scale,
                                     __global const uint *counter, ulong counter_off, float kprime, int unscaled,
                                     __global float *loss, ulong loss_off, __global uint *ignored, ulong ignored_off)
{
    uint lid = (uint)get_local_id(0), size = (uint)get_local_size(0);
    ulong blocks = clmsd_block_count(row_offset, batch);
    for (ulong s = lid; s < blocks; s += size)
        part[part_off + s] = clmsd_block_column_sum(rowloss + rowloss_off, 1, batch, rows / batch, row_offset, s);
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid != 0)
        return;
    float sum = clmsd_tree_sum(part + part_off, 1, clmsd_first_block(row_offset), blocks);
    uint valid = (uint)batch;
    if (loss_kind == CLMSD_KERNEL_LOSS_CE) {
        valid = counter[counter_off];
        scale = clmsd_ce_scale(valid, kprime);
    }
    if (loss)
        loss[loss_off] = unscaled ? sum : sum * scale;
    if (ignored)
        ignored[ignored_off] = (uint)batch - valid;
}

/* out[b, c] = (sum_k Z[k*B + b, c]) * inv_samples + bias[c], the last two as one fma */
__kernel void clmsd_head_mean_logits(__global const float *z, ulong z_off, ulong batch, uint classes, uint samples,
                                     float inv_samples, __global const float *bias, ulong bias_off, int has_bias,
                                     __global float *out, ulong out_off)
{
    ulong i = get_global_id(0);
    if (i >= batch * classes)
        return;
    uint c = (uint)(i % classes);
    float acc = z[z_off + i];
    for (uint k = 1; k < samples; ++k)
        acc = acc + z[z_off + (ulong)k * batch * classes + i];
    out[out_off + i] = has_bias ? fma(acc, inv_samples, bias[bias_off + c]) : acc * inv_samples;
}

/* G = the caller's dL/dZ (clmsd_head_backward): G[n, c] = dlogits[n C + c], the padding columns
 * past C zeros, as clmsd_head_loss_rows leaves them. */
__kernel void clmsd_head_load_grad(__global const float *dlogits, ulong dlogits_off, ulong rows, uint classes,
                                   __global float *g, ulong g_off, ulong ldg)
{
    ulong i = get_global_id(0), n = i / ldg, c = i % ldg;
    if (n >= rows)
        return;
    g[g_off + i] = c < classes ? dlogits[dlogits_off + n * classes + c] : 0.0f;
}

/* The v2 tree over the call's blocks of n1 + n2 block sums, in place in part (block s of sum o at
 * part[s * stride + o]): the first n1 go to out1[o], the next n2 to out2[o - n1]. (The CPU
 * tiling's dW, in its tiled layout, has clmsd_block_tree_tiled in cl/fused.cl.) */
__kernel void clmsd_block_tree(__global float *part, ulong part_off, ulong stride, ulong first_block, ulong blocks,
                               __global float *out1, ulong out1_off, ulong n1, __global float *out2, ulong out2_off,
                               ulong n2, int accumulate)
{
    ulong o = get_global_id(0);
    if (o >= n1 + n2)
        return;
    __global float *out = o < n1 ? out1 + out1_off + o : out2 + out2_off + (o - n1);
    float v = clmsd_tree_sum(part + part_off + o, stride, first_block, blocks);
    *out = accumulate ? *out + v : v;
}

/* db[c] (+)= the v2 sum of G[:, c]: one work-item per class sums the blocks into
 * part[s * classes + c], then walks the tree */
__kernel void clmsd_head_bias_grad(__global const float *g, ulong g_off, ulong ldg, ulong rows, ulong batch,
                                   ulong row_offset, uint classes, __global float *part, ulong part_off,
                                   __global float *db, ulong db_off, int accumulate)
{
    uint c = (uint)get_global_id(0);
    if (c >= classes)
        return;
    ulong blocks = clmsd_block_count(row_offset, batch);
    __global float *p = part + part_off + c;
    for (ulong s = 0; s < blocks; ++s)
        p[s * classes] = clmsd_block_column_sum(g + g_off + c, ldg, batch, rows / batch, row_offset, s);
    float acc = clmsd_tree_sum(p, classes, clmsd_first_block(row_offset), blocks);
    db[db_off + c] = accumulate ? db[db_off + c] + acc : acc;
}

/* y[i] = x[i] widened to fp32, for i < n: the CLBlast engine's predict on fp16 or bf16 features */
__kernel void clmsd_widen(__global const float *x, ulong x_off, uint x_type, __global float *y, ulong y_off, ulong n)
{
    ulong i = get_global_id(0);
    if (i < n)
        y[y_off + i] = clmsd_load_x(x, x_off + i, x_type);
}
