#!/bin/sh
# SPDX-License-Identifier: MIT
# The first GPU run in one command (docs/benchmarks.md, "The first GPU run"), on a bare machine
# that has a GPU driver and maybe PyTorch but no package archive: runs tools/bundle.sh's bundle.
#   1. finds the vendor's OpenCL driver (NVIDIA's libnvidia-opencl.so.1, AMD's libamdocl64.so,
#      Intel's libigdrcl.so; pocl where it is installed, as here; else the system's ICD files) and
#      registers each in an ICD folder of its own;
#   2. lists the devices;
#   3. runs `clmsd selftest` on each GPU (on pocl where there is none) and compares its results line
#      (the hashes of the raw masks and of the fused and optimizer results) with the golden line
#      pocl wrote when the bundle was made: the same bits, or it says NOT THE SAME;
#   4. runs clmsd-bench on the GPU, every shape and both engines (on pocl: --quick);
#   5. runs the PyTorch peer on CUDA (eager and torch.compile) where PyTorch sees a GPU.
# Every step is bounded by `timeout` (30 + 150 a GPU + 200 + 90 s: within 8 minutes on one GPU) and writes under OUT: icds/,
# devices.txt, selftest-*.txt, selftest.verdict, bench.jsonl, bench.txt, torch-cuda.jsonl,
# torch-cuda.txt and summary.txt. A step that fails or times out is reported and the next runs.
# Usage: bench/device.sh [BUNDLE] [OUT]   (BUNDLE default: this script's folder if it holds
# bin/clmsd, else ./bundle; OUT default $OUT, else results/device). QUICK=1: clmsd-bench --quick.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${1:-}" ]; then bundle=$1; elif [ -x "$here/bin/clmsd" ]; then bundle=$here; else bundle=bundle; fi
bundle=$(cd "$bundle" && pwd) || exit 2
out=${2:-${OUT:-results/device}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
clmsd=$bundle/bin/clmsd bench=$bundle/bin/clmsd-bench
summary=$out/summary.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
step() { # NAME SECONDS LOG command...: the command under timeout, its status said
    name=$1 seconds=$2 log=$3
    shift 3
    started=$(date +%s)
    timeout --kill-after=10 "$seconds" "$@" > "$log" 2>&1
    status=$?
    case $status in
    0) say "$name: done in $(( $(date +%s) - started )) s" ;;
    124 | 137) say "$name: TIMED OUT after $seconds s (see $(basename "$log"))" ;;
    *) say "$name: FAILED, status $status (see $(basename "$log"))" ;;
    esac
    return $status
}
say "clmsd device run: bundle $bundle (needs $(cat "$bundle/GLIBC" 2>/dev/null || echo '?')), $(uname -m), $(ldd --version 2>&1 | head -n 1)"

# 1. the OpenCL drivers: each library found, one ICD file
icds=$out/icds
mkdir -p "$icds"
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
find_lib() { # NAME: its path, from the loader's cache or the usual folders
    "$ldconfig" -p 2>/dev/null | awk -v n="$1" '$1 == n { print $NF; exit }' | grep . && return 0
    for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib \
        /usr/lib/wsl/lib /opt/rocm/lib /opt/rocm/opencl/lib /usr/local/cuda/compat; do
        [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}
for lib in libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so libpocl.so.2; do
    path=$(find_lib "$lib") && echo "$path" > "$icds/$lib.icd" && say "driver: $path"
done
if [ -z "$(ls "$icds")" ]; then # none of those: the system's own registrations, whatever they name
    for f in /etc/OpenCL/vendors/*.icd; do
        [ -e "$f" ] && cp "$f" "$icds/" && say "driver (system ICD file): $(cat "$f")"
    done
fi
export OCL_ICD_VENDORS=$icds
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$out/pocl-cache}
export CLMSD_DATA_DIR=$bundle/share/clmsd

# 2. the devices
step devices 30 "$out/devices.txt" "$clmsd" devices
cat "$out/devices.txt"
gpus=$(awk '/^[0-9]+:[0-9]+ / { spec = $1 } /^     GPU,/ { print spec }' "$out/devices.txt")
if [ -z "$gpus" ]; then
    say "no GPU among the devices: the GPU steps run on pocl's pthread device instead (--quick), saying so"
    targets=pthread quick=1
else
    targets=$gpus quick=${QUICK:-0}
fi

# 3. selftest on each target, and its results line against pocl's golden one
golden=$(cut -d' ' -f8,9 "$bundle/golden/selftest-pocl.row" 2>/dev/null)
: > "$out/selftest.verdict"
for spec in $targets; do
    log=$out/selftest-$(echo "$spec" | tr ':/ ' '___').txt
    step "selftest $spec" 150 "$log" "$clmsd" selftest --device "$spec" --row
    mine=$(grep '^@clmsd-selftest-row' "$log" | cut -d' ' -f8,9)
    checks=$(grep '^@clmsd-selftest-row' "$log" | cut -d' ' -f2-5)
    if [ -z "$mine" ]; then
        verdict="no results line"
    elif [ "$checks" != "1 1 1 1" ]; then
        verdict="FAILED checks (KAT dropout fused optim: $checks)"
    elif [ "$mine" = "$golden" ]; then
        verdict="every check passed; masks and fused and optimizer results the same bits as pocl's ($mine)"
    else
        verdict="checks passed, but the results are NOT THE SAME as pocl's: $mine against $golden"
    fi
    say "selftest $spec: $verdict"
    echo "$spec: $verdict" >> "$out/selftest.verdict"
done

# 4. the benchmark on the first target
first=$(echo "$targets" | head -n 1)
if [ "$quick" = 1 ]; then
    step "clmsd-bench $first (--quick)" 200 "$out/bench.txt" "$bench" --device "$first" --quick --json "$out/bench.jsonl"
else
    step "clmsd-bench $first" 200 "$out/bench.txt" "$bench" --device "$first" --json "$out/bench.jsonl"
fi

# 5. the PyTorch peer on CUDA
python=$(command -v python3 || true)
if [ -n "$python" ] && "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step "PyTorch CUDA peer" 90 "$out/torch-cuda.txt" "$python" "$bundle/peer/torch_peer.py" --device cuda \
        --compile --shapes kaggle-ce,quest,quest-seed,imagenet --json "$out/torch-cuda.jsonl"
else
    say "PyTorch CUDA peer: skipped (no python3 with a CUDA PyTorch here)"
fi
say "results: $out"
