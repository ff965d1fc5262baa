#!/bin/sh
# SPDX-License-Identifier: MIT
# GPUs on paper: one line per kernel and target (NVIDIA sm_90, AMD gfx90a) with registers, stack and
# spill bytes and occupancy, from the vendors' compilers; --check holds the GPU tiling to its
# limits. The work is tools/gpu_report.py's. Usage: tools/gpu_report.sh [--check] [SOURCE_DIR]
exec python3 "$(dirname "$0")/gpu_report.py" "$@"
