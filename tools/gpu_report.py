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
per SIMD on gfx90a; the rows it holds to these limits are marked "limit".

usage: tools/gpu_report.py [--check] [SOURCE_DIR]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

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


LIMITED = re.compile(r"_gpu$|^clmsd_block_tree$|^clmsd_layer_(softmax|weight_grad)$|^clmsd_optim_")  # (every device runs those)


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


def main(args):
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    src = args[0] if args else "."
    missing = [what for what, ok in (("clang-15", CLANG), ("libclc-15 (%s)" % CLC, os.path.isdir(CLC)),
                                     ("ptxas (the CUDA toolkit)", os.path.exists(PTXAS))) if not ok]
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        cl = os.path.join(tmp, "clmsd.cl")
        with open(cl, "w", encoding="utf-8") as f:
            f.write(kernel_text(src))
        rows = nvidia(cl, tmp) + amd(cl, tmp)
    print("%-26s %-7s %9s %12s %12s %-15s %s" % ("kernel", "target", "registers", "stack_bytes", "spill_bytes",
                                                 "occupancy", "gpu tiling"))
    failures = []
    for r in sorted(rows):
        limited = bool(LIMITED.search(r[0]))
        broken = over_limits(r) if limited else []
        failures += ["%s %s: %s" % (r[0], r[1], ", ".join(broken))] if broken else []
        print("%-26s %-7s %9s %12d %12d %-15s %s" % (r + ("limit" + (" BROKEN" if broken else "") if limited else "",)))
    if check:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
