#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole benchmark in one command, on this machine or one with a vendor's OpenCL driver (NVIDIA,
# AMD, Intel): list the ICDs and devices, build, run clmsd-bench on every device and the PyTorch
# peer on the CPU (when Debian's python3-torch is installed), and collect JSON, tables and plots in
# bench/results/<host>/.  Usage: bench/run.sh [clmsd-bench options, e.g. --quick]
set -eu
cd "$(dirname "$0")/.."
out="bench/results/$(hostname)"
mkdir -p "$out"

echo "OpenCL ICDs registered in /etc/OpenCL/vendors:"
ls /etc/OpenCL/vendors 2>/dev/null || echo "  (none: install the vendor's OpenCL driver)"
command -v clinfo >/dev/null && clinfo -l | tee "$out/clinfo.txt" || echo "(clinfo not installed)"

tools/build.sh
./build/clmsd devices | tee "$out/devices.txt"
./build/clmsd selftest | tee "$out/selftest.txt" || true
./build/clmsd-bench --json "$out/bench.jsonl" "$@" | tee "$out/bench.txt"
peer=""
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    quick=""
    case " $* " in *" --quick "*) quick="--quick" ;; esac
    /usr/bin/python3 bench/torch_peer.py $quick --threads "$(nproc)" --json "$out/torch.jsonl" | tee "$out/torch.txt"
    peer="$out/torch.jsonl"
else
    echo "(no PyTorch peer: apt-get install python3-torch libopenblas0-pthread)"
fi
python3 bench/report.py "$out" "$out/bench.jsonl" $peer | tee "$out/report.txt"
# GPUs on paper beside the measured figures: registers, stack and occupancy per kernel (sm_90, gfx90a)
python3 tools/gpu_report.py . | tee "$out/gpu_report.txt" || true
echo "results in $out"
