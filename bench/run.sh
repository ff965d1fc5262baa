#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole benchmark in one command, on this machine or one with a vendor's OpenCL driver (NVIDIA,
# AMD, Intel): list the ICDs and devices, build, run clmsd-bench on every device and the PyTorch
# and JAX/XLA peers on the CPU (PyTorch when Debian's python3-torch is installed, JAX from PyPI into
# a virtual environment), and collect JSON, tables and plots in
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
rm -f "$out/mpi.txt"
./build/clmsd-bench --json "$out/bench.jsonl" "$@" | tee "$out/bench.txt"
peer=""
quick=""
case " $* " in *" --quick "*) quick="--quick" ;; esac
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    /usr/bin/python3 bench/torch_peer.py $quick --threads "$(nproc)" --json "$out/torch.jsonl" | tee "$out/torch.txt"
    peer="$out/torch.jsonl"
else
    echo "(no PyTorch peer: apt-get install python3-torch libopenblas0-pthread)"
fi
# the JAX/XLA peer, from PyPI into a virtual environment of its own (bench/.venv-jax) when missing
jax_python=bench/.venv-jax/bin/python
if [ ! -x "$jax_python" ]; then
    echo "(installing jax and jaxlib into bench/.venv-jax from PyPI, for the JAX peer)"
    if ! { python3 -m venv bench/.venv-jax && bench/.venv-jax/bin/pip install -q jax jaxlib; }; then
        echo "(no JAX peer: no venv or PyPI could not be reached)"
        rm -rf bench/.venv-jax
    fi
fi
if [ -x "$jax_python" ]; then
    "$jax_python" bench/jax_peer.py $quick --json "$out/jax.jsonl" | tee "$out/jax.txt"
    peer="$peer $out/jax.jsonl"
fi
# the data-parallel step against the single-process one, 1 and 2 ranks (docs/distributed.md)
if [ -x build/clmsd-bench-mpi ] && command -v mpirun >/dev/null; then
    rm -f "$out/mpi.jsonl"
    for np in 1 2; do
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none -np "$np" \
            build/clmsd-bench-mpi --json "$out/mpi.jsonl" | tee -a "$out/mpi.txt"
    done
else
    echo "(no data-parallel benchmark: clmsd was built without MPI, or mpirun is missing)"
fi
python3 bench/report.py "$out" "$out/bench.jsonl" $peer | tee "$out/report.txt"
# GPUs on paper beside the measured figures: registers, stack and occupancy per kernel (sm_90, gfx90a)
python3 tools/gpu_report.py . | tee "$out/gpu_report.txt" || true
echo "results in $out"
