#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""GPUs on paper: compiles clmsd's kernels, as the library embeds them, with the vendors' compilers
and prints one line per kernel and target:

    kernel target registers stack_bytes spill_bytes occupancy

- sm_90 (NVIDIA H100/H200): clang-15 with libclc-15's nvptx64--nvidiacl.bc to PTX, then the CUDA
  toolkit's `ptxas -arch=sm_90 -v`. registers per thread; stack = the local-memory frame (private
  arrays indexed at run time live there); occupancy = resident warps per SM the register count
  allows (64K registers per SM, allocated per warp in units of 256; at most 64 warps).
- gfx90a (AMD MI200): clang-15 -mcpu=gfx90a with libclc's amdgcn--amdhsa.bc and
  -Rpass-analysis=kernel-resource-usage. registers = VGPRs + AGPRs; stack = scratch bytes per lane;
  occupancy = waves per SIMD (of 8).

No GPU is needed. Build options are the library's (-cl-std=CL1.2, the same for both tilings: the
GPU tiling is its own kernels, *_gpu, chosen at launch); drivers define __OPENCL_VERSION__, clang
does not, so it is passed. Exits 77 when a tool is missing (it says which).

With --check, fails (exit 1) when a kernel of the GPU tiling (the *_gpu kernels and the block tree
they feed, the pooled head's layer softmax and weight gradient, and the optimizers: every device
runs those) uses more than 128 registers, any stack or spill bytes on sm_90, or fewer than 4 waves
per SIMD on gfx90a; the rows it holds to these limits are marked "limit". It prints no model.

Without --check the table is followed by a model of the GPU time (--model prints the model alone;
without the compilers it assumes the hardware's largest occupancy): for each GPU-tiling kernel of a
train step, on the token head (K 5, B 4096, H 768, C 15) and the QUEST head (K 5, B 8, H 1024,
C 30, 25 layers pooled), the work-items it launches (the host's NDRange formulas), the bytes it
moves to and from global memory, its fp32 FLOPs, its Philox4x32-10 blocks and the longest chain of
dependent steps one work-item walks, all derived from the kernel's loops and the shape; then, on an
H200 and on one MI250X GCD, the time at the device's limits, max(bytes / HBM bandwidth, FLOPs /
fp32 rate, Philox integer ops / int32 rates, chain x 4 cycles), the limit that binds and the waves
the launch fills at the kernel's occupancy from the table (below one the kernel is latency-bound),
and the sum per train step of each engine path. A real run's time is read as a fraction of it
(docs/benchmarks.md, "A model of the GPU time"). --check-model checks the model's work-items
against the counts the sources and tests pin (exit 1 when they differ). Python's standard library
only; SOURCE_DIR defaults to the repository this script is in.

usage: tools/gpu_report.py [--check | --model | --check-model] [SOURCE_DIR]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import namedtuple

CLC = "/usr/lib/clc"
PTXAS = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
CLANG = shutil.which("clang-15")


def kernel_files(src):
    """The kernel files in the order the library embeds them: meson.build's kernel_sources."""
    with open(os.path.join(src, "meson.build"), encoding="utf-8") as f:
        listed = re.search(r"kernel_sources = files\(([^)]*)\)", f.read()).group(1)
    return re.findall(r"'([^']+)'", listed)


def kernel_text(src):
    """The embedded program's text: Random123 flattened, then the kernel files (tools/embed_cl.py)."""
    flat = subprocess.run(["cc", "-E", "-P", "-x", "c", "-D__OPENCL_VERSION__=120", os.path.join(src, "cl/philox_r123.h")],
                          check=True, capture_output=True, text=True).stdout
    return flat + "".join(open(os.path.join(src, f), encoding="utf-8").read() for f in kernel_files(src))


def clang(target, bitcode, extra, cl, out):
    cmd = [CLANG, "-x", "cl", "-cl-std=CL1.2", "-target", target, "-D__OPENCL_VERSION__=120", "-include", "clc/clc.h",
           "-Xclang", "-mlink-bitcode-file", "-Xclang", os.path.join(CLC, bitcode), "-O3"] + extra + [cl, "-o", out]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stderr


def nvidia(cl, tmp):
    ptx = os.path.join(tmp, "k.ptx")
    clang("nvptx64--nvidiacl", "nvptx64--nvidiacl.bc", ["-S"], cl, ptx)
    log = subprocess.run([PTXAS, "-arch=sm_90", "-v", ptx, "-o", os.path.join(tmp, "k.cubin")], check=True,
                         capture_output=True, text=True).stderr
    rows, name = [], None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name, stack, spill = m.group(1), 0, 0
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            stack, spill = int(m.group(1)), int(m.group(2)) + int(m.group(3))
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            regs = int(m.group(1))
            per_warp = -(-regs * 32 // 256) * 256
            warps = min(64, 65536 // per_warp) if per_warp else 64
            rows.append((name, "sm_90", str(regs), stack, spill, "%d warps/SM" % warps))
    return rows


def amd(cl, tmp):
    log = clang("amdgcn-amd-amdhsa", "amdgcn--amdhsa.bc", ["-mcpu=gfx90a", "-nogpulib", "-c",
                "-Rpass-analysis=kernel-resource-usage"], cl, os.path.join(tmp, "k.o"))
    rows, info = [], {}

    def flush():
        if info:
            rows.append((info["Function Name"], "gfx90a", "%s+%s" % (info["VGPRs"], info["AGPRs"]),
                         int(info["ScratchSize [bytes/lane]"]), int(info["VGPRs Spill"]) + int(info["SGPRs Spill"]),
                         "%s waves/SIMD" % info["Occupancy [waves/SIMD]"]))

    for line in log.splitlines():
        m = re.search(r"remark:\s+(.+?): (\S+) \[-Rpass-analysis", line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "Function Name":
            flush()
            info = {}
        info[key] = value
    flush()
    return rows


LIMITED = re.compile(r"_gpu$|^clmsd_block_tree$|^clmsd_layer_(softmax|part_sum|weight_grad)$|^clmsd_optim_")  # (every device runs those)


def over_limits(row):
    """What a GPU-tiling kernel's row breaks of the limits, or an empty list."""
    name, target, regs, stack, spill, occupancy = row
    total = sum(int(r) for r in regs.split("+"))
    broken = ["%d registers > 128" % total] if total > 128 else []
    if target == "sm_90" and (stack or spill):
        broken.append("%d stack / %d spill bytes" % (stack, spill))
    if target == "gfx90a" and int(occupancy.split()[0]) < 4:
        broken.append(occupancy + " < 4")
    return broken


# ---------------------------------------------------------------------------------------------------
# A model of the GPU time (--model): per kernel of a train step, from the kernel's own loops, what it
# moves to and from global memory, its fp32 FLOPs, its Philox4x32-10 blocks, the longest chain of
# dependent steps one work-item walks, and the work-items it launches; then the time the H200 and
# one MI250X GCD need for that at their limits. Nothing is measured: a real run is read as a
# fraction of these times (docs/benchmarks.md, "A model of the GPU time").

Device = namedtuple("Device", "name target units clock hbm fp32 imul ialu wave simds max_groups")

# imul: 32-bit multiplies (mul-hi, mul-lo) per second; ialu: other int32 ops (xor, add) per second.
# sm_90: int32 IMAD at 64 per SM per clock, every integer op counted at that rate. CDNA2: simple
# int32 ops at the fp32 lane rate (64 per CU per clock); v_mul_lo/hi_u32 at a quarter of it (GCN's
# 16-cycle multiplies; LLVM's gfx90a scheduling model calls them full rate: see the docs).
H200 = Device("H200", "sm_90", 132, 1.98e9, 4.8e12, 67e12, 64 * 132 * 1.98e9, 64 * 132 * 1.98e9, 32, 1, 32)
MI250X = Device("MI250X GCD", "gfx90a", 110, 1.7e9, 1.6e12, 47.9e12 / 2, 16 * 110 * 1.7e9, 64 * 110 * 1.7e9, 64, 4,
                None)
DEVICES = (H200, MI250X)
MAX_OCCUPANCY = {"sm_90": 64, "gfx90a": 8}  # warps per SM, waves per SIMD: used when no compiler ran
CHAIN_CYCLES = 4  # a dependent fp32 or int32 step: the FFMA latency on sm_90, a wave64 pass of a SIMD16
F = 4  # bytes of every array here: fp32 features (x_type), dX, W, G, Z and the workspace
# fp32 FLOPs of cl/clmsd_math.h's functions, counted from their source (an fma is 2)
EXP, LOG, LOG1P, RECIP, SQRT = 21, 28, 48, 15, 31
PHILOX_MUL, PHILOX_ALU = 10 * 4, 10 * 4  # a block: 10 rounds of 2 mul-hi + 2 mul-lo, ~4 xor/add

Kernel = namedtuple("Kernel", "name items bytes flops philox chain group")


class Shape(namedtuple("Shape", "name what K B H C L ce averaged consts")):
    """A head as clmsd-bench runs it (bench/bench.c's shapes; fp32 X, the v1 stream, row_offset 0)."""

    cq = property(lambda s: -(-s.C // 4))  # the GPU tiling's 4-class vectors
    hq = property(lambda s: -(-s.H // 4))  # and 4-feature vectors
    ldg = property(lambda s: 4 * s.cq)  # G's columns (tiling_gpu.c's space)
    kp = property(lambda s: 1 if s.averaged else s.K)  # K': stacked rows per batch row
    rows = property(lambda s: s.kp * s.B)  # loss rows N
    blocks = property(lambda s: (s.B - 1) // s.consts["CLMSD_ROW_BLOCK"] + 1)  # clmsd_block_count(0, B)
    block_rows = property(lambda s: min(s.B, s.consts["CLMSD_ROW_BLOCK"]))
    quads = property(lambda s: -(-s.B * s.H // 4))  # Philox blocks of a [B, H] sample (v1: 4 elements each)


def constants(src):
    """The sizes the kernels and the host share (cl/clmsd_constants.h), so the model follows them."""
    with open(os.path.join(src, "cl/clmsd_constants.h"), encoding="utf-8") as f:
        return {k: int(v) for k, v in re.findall(r"#define (CLMSD_\w+) (\d+)\s", f.read())}


def shapes(src):
    c = constants(src)
    return (Shape("token", "token head: CE, average losses", 5, 4096, 768, 15, 0, True, False, c),
            Shape("quest", "QUEST head: BCE, average logits, 25 layers pooled", 5, 8, 1024, 30, 25, False, True, c))


# Bytes count each distinct buffer read or written once per kernel: where many work-items read the
# same rows (X by the ceil(C/4) class vectors and K samples, G by the feature vectors, W by all) they
# read them together and the caches hold them (the token head's X, 12.6 MB, fits the H200's 50 MB L2
# but not a GCD's 8 MB: its re-reads may reach HBM there). Nothing is assumed to stay in a cache from
# one kernel to the next. FLOPs are those the work-items execute: padding lanes and work repeated by
# design (a Philox block drawn by every class vector) included.

def dropout_sum_gpu(s):
    """Xbar = (1/K) sum_k keep_k s_k X (average logits): a work-item per Philox block of [B, H]
    (s->blocks of the v1 stream), K Philox blocks and K fmas per element, then 1/K; reads X (its K passes read the
    same elements: kstride 0), writes Xbar. Chain: K fmas."""
    return Kernel("clmsd_dropout_sum_gpu", s.quads, 2 * s.B * s.H * F, s.B * s.H * (2 * s.K + 1), s.quads * s.K, s.K,
                  None)


def fused_logits_gpu(s):
    """Z = xd W^T: a work-item per 4 classes of one stacked row (K B rows masked; average logits
    B rows of Xbar, unmasked), walking the row's H features: a 4-lane fma (8 FLOPs), the mask's
    multiply, and the Philox block of every 4 features, drawn again by each of the row's
    ceil(C/4) work-items. Reads X and W, writes Z. Chain: H fmas."""
    rows, masked = s.rows, not s.averaged
    items = rows * s.cq
    return Kernel("clmsd_fused_logits_gpu", items, (s.B * s.H + s.C * s.H + rows * s.C) * F,
                  items * s.H * (8 + masked), items * s.hq * masked, s.H, None)


def head_count_valid(s):
    """CE's valid-id count (the GPU tiling's begin leaves it to the loss): one work-group of
    CLMSD_REDUCE_GROUP lanes (program.c caps a reduction there), each walking B / 64 targets, then
    a 6-level tree. Integer adds only."""
    g = s.consts["CLMSD_REDUCE_GROUP"]
    return Kernel("clmsd_head_count_valid", g, (s.B + 1) * F, 0, 0, -(-s.B // g) + g.bit_length() - 1, None)


def head_loss_rows(s):
    """A work-item per loss row (K' B): reads its C logits, the bias and its targets, writes its
    loss and G's row (ldg columns, zero padding). CE: max, 16-lane exps, sum, log, 1/sum and the
    gradient; BCE: per class an exp, a reciprocal and a log1p. Chain: the sums over the classes
    (the per-class terms run side by side) and one term's latency."""
    n, c = s.rows, s.C
    if s.ce:
        flops, chain, target = 22 * 16 * -(-c // 16) + 6 * c + LOG + 2 * RECIP + 4, 3 * c + EXP + LOG + RECIP, s.B
    else:
        flops, chain, target = c * (EXP + RECIP + LOG1P + 9), c + EXP + RECIP + LOG1P, s.B * c
    return Kernel("clmsd_head_loss_rows", n, (n * c + c + target + n + n * s.ldg) * F, n * flops, 0, chain, None)


def head_reduce_loss(s):
    """The loss: one work-group of 64 lanes sums the row blocks (16 rows x K' each), writes them,
    then work-item 0 walks the tree over them in place. Chain: a lane's blocks, then the walk."""
    g = s.consts["CLMSD_REDUCE_GROUP"]
    chain = -(-s.blocks // g) * s.block_rows * s.kp + s.blocks - 1
    return Kernel("clmsd_head_reduce_loss", g, (s.rows + 2 * s.blocks + 1) * F, s.rows + s.blocks, 0, chain, None)


def fused_dw_gpu(s):
    """dW's and db's row-block sums: a work-item per 4 classes x 4 features of a row block
    (blocks ceil(C/4) ceil(H/4)), walking the block's rows and K' samples: 4 float4 fmas (32 FLOPs),
    db's float4 add, the mask's multiply and one Philox block (masked; drawn again by each of the
    ceil(C/4) class vectors). Reads G and X (Xbar), writes blocks x (C H + C) sums. Chain: 16 K'."""
    masked = not s.averaged
    steps = s.cq * s.hq * s.B * s.kp  # (work-item, row, sample) steps
    return Kernel("clmsd_fused_dw_gpu", s.blocks * s.cq * s.hq,
                  (s.rows * s.ldg + s.B * s.H + s.blocks * (s.C * s.H + s.C)) * F, steps * (36 + 4 * masked),
                  steps * masked, s.block_rows * s.kp, None)


def block_tree(name, outputs, blocks, items):
    """clmsd_block_tree: per output, the tree over its `blocks` sums, in place in the workspace
    (clmsd_tree_sum): blocks - 1 adds in one work-item, each level waiting on the last's stores.
    Reads every sum once, writes the distinct slots the tree stores into (the even blocks) and the
    result."""
    return Kernel(name, items, (blocks + blocks // 2 + 1) * outputs * F, (blocks - 1) * outputs, 0, blocks - 1, None)


def fused_dx_gpu(s):
    """dX: a work-item per 4 features of a batch row (B ceil(H/4)): per sample (once with average
    logits) a chain over the C classes of G x W rows (float4 fmas), then per sample a Philox
    block and a masked fma; 1/K with average logits. Reads G and W, writes dX. Chain: K' C + K."""
    items = s.B * s.hq
    return Kernel("clmsd_fused_dx_gpu", items, (s.rows * s.ldg + s.C * s.H + s.B * s.H) * F,
                  items * (s.kp * 8 * s.C + 8 * s.K + 4 * s.averaged), items * s.K, s.kp * s.C + s.K, None)


def layer_softmax(s):
    """a = softmax(layer weights): one work-item (a group is launched, one lane works): a max
    chain, L exps, a sum chain, a reciprocal, L multiplies."""
    return Kernel("clmsd_layer_softmax", 1, 2 * s.L * F, s.L * (EXP + 3) + RECIP, 0, 2 * s.L + EXP + RECIP + 1, None)


def layer_pool_gpu(s):
    """P = sum_l a_l dropout_l(X_l): a work-group of CLMSD_POOL_LANES work-items per Philox block
    (head_pool.c's pool_work_items: B H / 4 groups on v1); lane n draws layer n's block (L of the
    lanes draw) and loads its 4 elements into local memory, then element j's lane runs j's fma
    chain over the layers. Reads every layer's X, writes P. Local memory is not counted. A group of
    32 fills half of a gfx90a wave64. Chain: L fmas."""
    lanes = s.consts["CLMSD_POOL_LANES"]
    return Kernel("clmsd_layer_pool_gpu", s.quads * lanes, (s.L * s.B * s.H + s.L + s.B * s.H) * F,
                  3 * s.L * s.B * s.H, s.quads * s.L, s.L, lanes)


def layer_unpool_gpu(s):
    """dX_l and dA_l's block parts: a work-item per Philox block and layer (B H / 4 x L, the 2-D
    NDRange), one Philox block each; per element (dP a_l) s and fma(dP, x_l s, acc). Reads dP and
    every layer's X, writes every layer's dX and the parts. Chain: the block's 4 fmas."""
    items = s.quads * s.L
    return Kernel("clmsd_layer_unpool_gpu", items, (s.B * s.H + 2 * s.L * s.B * s.H + items + s.L) * F,
                  5 * s.L * s.B * s.H, items, 4, None)


def layer_part_sum(s):
    """dA_l: a work-item per layer adds its B H / 4 block parts in order (L chains side by side)."""
    parts = s.quads * s.L
    return Kernel("clmsd_layer_part_sum", s.L, (parts + s.L) * F, parts, 0, s.quads, None)


def layer_weight_grad(s):
    """d layer weights from dA: one work-item, the softmax's backward (a dot over L, then L
    products)."""
    return Kernel("clmsd_layer_weight_grad", 1, 4 * s.L * F, 4 * s.L, 0, 2 * s.L, None)


CLIP = SQRT + RECIP + 3  # clmsd_clip_factor and the scaled gradient, recomputed by every work-item
ADAMW = SQRT + RECIP + 14  # clmsd_adamw: 6 fmas and 4 other operations around the root and 1/x


def optim_kernels(s, n):
    """The optimizer over n = C H + C (+ L) parameters (cl/optim.cl): SGD with momentum (clmsd
    train's default: no clipping) reads p, g, buf and writes p, buf (3 fmas); AdamW with clipping:
    the squares' 1024 partials (CLMSD_OPTIM_PARTS, a strided fma chain each), their tree in one
    work-item, then the update reading p, g, m, v and writing p, m, v."""
    parts = min(n, s.consts["CLMSD_OPTIM_PARTS"])
    return {"sgd": [Kernel("clmsd_optim_sgd", n, 5 * n * F, 6 * n, 0, 3, None)],
            "adamw": [Kernel("clmsd_optim_sum_squares", parts, (n + parts) * F, 2 * n, 0, -(-n // parts), None),
                      block_tree("clmsd_block_tree (norm)", 1, parts, 1),
                      Kernel("clmsd_optim_adamw", n, 7 * n * F, n * (CLIP + ADAMW), 0, CLIP + ADAMW, None)]}


def head_step(s):
    """The fused engine's train step as clmsd-bench times it (loss, dX, dW, db; engine_fused.c)."""
    ks = [dropout_sum_gpu(s)] if s.averaged else []
    ks += [fused_logits_gpu(s)] + ([head_count_valid(s)] if s.ce else []) + [head_loss_rows(s), head_reduce_loss(s)]
    outputs = s.C * s.H + s.C
    return ks + [fused_dw_gpu(s), block_tree("clmsd_block_tree", outputs, s.blocks, outputs), fused_dx_gpu(s)]


def pooled_step(s):
    """The layer-pooled head's step (head_pool.c): the head on P between the layers' kernels."""
    return [layer_softmax(s), layer_pool_gpu(s)] + head_step(s) + [layer_unpool_gpu(s), layer_part_sum(s), layer_weight_grad(s)]


def capacity(dev, occupancy, group):
    """Work-items the device holds at once: its units x resident waves (the register table's
    occupancy) x the lanes a wave fills. A fixed work-group narrower than a wave leaves lanes idle;
    an SM holds at most 32 work-groups (gfx90a's limit on groups per CU is not modelled)."""
    width = dev.wave if group is None else min(dev.wave, group)
    waves = occupancy * dev.simds
    if group is not None and dev.max_groups:
        waves = min(waves, dev.max_groups * -(-group // dev.wave))
    return dev.units * waves * width


def bound(k, dev):
    """The time (s) at the device's limits and the limit that binds."""
    times = {"hbm": k.bytes / dev.hbm, "fp32": k.flops / dev.fp32,
             "philox": k.philox * (PHILOX_MUL / dev.imul + PHILOX_ALU / dev.ialu),
             "chain": k.chain * CHAIN_CYCLES / dev.clock}
    binds = max(times, key=times.get)
    return times[binds], binds


def model_rows(kernels, occupancy):
    """One printed line per kernel: its counts, then per device the bound, the waves and the limit."""
    lines = []
    for k in kernels:
        line = "%-24s %10s %8.2f %9.1f %9.1f %6d" % (k.name, "{:,}".format(k.items), k.bytes / 1e6, k.flops / 1e6,
                                                      k.philox / 1e3, k.chain)
        for dev in DEVICES:
            occ = occupancy.get((k.name.split()[0], dev.target), MAX_OCCUPANCY[dev.target])
            waves = k.items / capacity(dev, occ, k.group)
            t, binds = bound(k, dev)
            line += " | %9.2f %6s %-6s" % (t * 1e6, "%.2f%s" % (waves, "*" if waves < 1 else ""), binds)
        lines.append(line.rstrip())
    return lines


def model_sum(what, kernels):
    """A step's time at the limits per device, and the kernel that takes most of it."""
    times = []
    for dev in DEVICES:
        each = [(bound(k, dev)[0], k.name) for k in kernels]
        most = max(each)
        times.append("%s %.1f us (%s %.1f)" % (dev.name, sum(t for t, _ in each) * 1e6, most[1], most[0] * 1e6))
    return "  %s: %d launch%s, %s" % (what, len(kernels), "es" if len(kernels) > 1 else "", ", ".join(times))


def print_model(src, occupancy):
    """The model's header (the devices, the formula), then per shape its kernels and steps' sums."""
    print("\nA model of the GPU time at the devices' limits (per kernel of a train step; docs/benchmarks.md)")
    for dev in DEVICES:
        print("  %s (%s): %d units at %.2f GHz, HBM %.1f TB/s, fp32 %.1f TFLOP/s, int32 %.1f Tops/s, 32-bit "
              "multiplies %.1f Tops/s" % (dev.name, dev.target, dev.units, dev.clock / 1e9, dev.hbm / 1e12,
                                         dev.fp32 / 1e12, dev.ialu / 1e12, dev.imul / 1e12))
    print("  bound = max(bytes / HBM, FLOPs / fp32, Philox blocks x (40 multiplies + 40 xor/add), chain x %d cycles);"
          "\n  waves = work-items / what the device holds at the kernel's occupancy (* below one: latency-bound)%s"
          % (CHAIN_CYCLES, "" if occupancy else ";\n  no compiler ran: the hardware's largest occupancy is assumed"))
    head = "%-24s %10s %8s %9s %9s %6s" % ("kernel", "work-items", "MB", "MFLOP", "Philox k", "chain")
    for dev in DEVICES:
        head += " | %9s %6s %-6s" % (dev.name.split()[0] + " us", "waves", "binds")
    token, quest = shapes(src)
    steps = [(token, head_step(token), [("train step (bench shape token)", head_step(token))]),
             (quest, pooled_step(quest), [("the head alone (bench shape quest)", head_step(quest)),
                                          ("pooled train step (bench shape quest-seed)", pooled_step(quest))])]
    for s, kernels, sums in steps:
        n = s.C * s.H + s.C + s.L
        optim = optim_kernels(s, n)
        layers = ", L %d" % s.L if s.L else ""
        print("\n%s: K %d, B %d, H %d, C %d%s; %s" % (s.name, s.K, s.B, s.H, s.C, layers, s.what))
        print(head.rstrip() + "\n" + "\n".join(model_rows(kernels + optim["sgd"] + optim["adamw"], occupancy)))
        for what, ks in sums + [("SGD step, %d parameters" % n, optim["sgd"]),
                                ("AdamW step with clipping", optim["adamw"])]:
            print(model_sum(what, ks))


def check_model(src):
    """The model's work-items against the counts the sources and tests pin (cl/fused_gpu.cl's
    comment, docs/canonical-order.md, tests/test_launches.c); 0 when they agree."""
    token, quest = shapes(src)
    pinned = [(fused_logits_gpu(token), 81920), (fused_dw_gpu(token), 196608), (fused_dx_gpu(token), 786432),
              (layer_unpool_gpu(quest), 51200)]
    wrong = ["%s: %d work-items, the sources say %d" % (k.name, k.items, n) for k, n in pinned if k.items != n]
    if capacity(H200, 64, None) != 270336:  # "an H200 holds about 270,000 threads"
        wrong.append("H200 capacity %d" % capacity(H200, 64, None))
    print("\n".join(["FAIL: " + w for w in wrong]) or "PASS: the model's work-items are the sources' counts")
    return 1 if wrong else 0


def missing_tools():
    return [what for what, ok in (("clang-15", CLANG), ("libclc-15 (%s)" % CLC, os.path.isdir(CLC)),
                                  ("ptxas (the CUDA toolkit)", os.path.exists(PTXAS))) if not ok]


def compile_rows(src):
    """The register table's rows: every kernel on both targets."""
    with tempfile.TemporaryDirectory() as tmp:
        cl = os.path.join(tmp, "clmsd.cl")
        with open(cl, "w", encoding="utf-8") as f:
            f.write(kernel_text(src))
        return nvidia(cl, tmp) + amd(cl, tmp)


def print_table(rows):
    """The register table; returns the GPU-tiling rows' broken limits."""
    print("%-26s %-7s %9s %12s %12s %-15s %s" % ("kernel", "target", "registers", "stack_bytes", "spill_bytes",
                                                 "occupancy", "gpu tiling"))
    failures = []
    for r in sorted(rows):
        limited = bool(LIMITED.search(r[0]))
        broken = over_limits(r) if limited else []
        failures += ["%s %s: %s" % (r[0], r[1], ", ".join(broken))] if broken else []
        print("%-26s %-7s %9s %12d %12d %-15s %s" % (r + ("limit" + (" BROKEN" if broken else "") if limited else "",)))
    return failures


def check_verdict(rows, failures):
    limited = [r for r in rows if LIMITED.search(r[0])]
    if not limited:
        print("FAIL: no kernel of the GPU tiling was found")
        return 1
    if failures:
        print("FAIL: over the GPU limits:\n  " + "\n  ".join(failures))
        return 1
    print("PASS: %d GPU-tiling rows within 128 registers, no stack or spills on sm_90, >= 4 waves/SIMD on gfx90a"
          % len(limited))
    return 0


def main(args):
    flags = [a for a in args if a.startswith("--")]
    args = [a for a in args if not a.startswith("--")]
    if set(flags) - {"--check", "--model", "--check-model"} or len(args) > 1:
        print(__doc__.split("usage: ")[1].strip(), file=sys.stderr)
        return 2
    src = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if "--check-model" in flags:
        return check_model(src)
    missing = missing_tools()
    if missing and "--model" not in flags:
        print("SKIP: missing " + ", ".join(missing))
        return 77
    rows = [] if missing else compile_rows(src)
    occupancy = {(r[0], r[1]): int(r[5].split()[0]) for r in rows}  # (kernel, target): warps/SM, waves/SIMD
    if "--model" in flags:
        print_model(src, occupancy)
        return 0
    failures = print_table(rows)
    if "--check" in flags:
        return check_verdict(rows, failures)
    print_model(src, occupancy)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
