#!/bin/sh
# SPDX-License-Identifier: MIT
# GPUs on paper: one line per kernel and target (NVIDIA sm_90, AMD gfx90a) with registers, stack and
# spill bytes and occupancy, from the vendors' compilers, then a model of each train-step kernel's
# time at an H200's and an MI250X GCD's limits (--model: the model alone); --check holds the GPU
# tiling to its limits. The work is tools/gpu_report.py's.
# Usage: tools/gpu_report.sh [--check | --model | --check-model] [SOURCE_DIR]
exec python3 "$(dirname "$0")/gpu_report.py" "$@"
