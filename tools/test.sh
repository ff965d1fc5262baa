#!/bin/sh
# Set up, build, and run the whole test suite: every test on the default device (pocl's pthread
# device where there is no GPU), the Oclgrind suite, and the device tests again on pocl's basic
# device. Extra arguments go to the first `meson test`.
set -eu
cd "$(dirname "$0")/.."
tools/build.sh
meson test -C build --print-errorlogs "$@"
if [ $# -eq 0 ]; then
    echo "== the device tests on pocl's basic device"
    meson test -C build --print-errorlogs --setup poclbasic --suite device
    echo "== clmsd selftest on pocl pthread, pocl basic and Oclgrind"
    tests/selftest_matrix.sh build/clmsd
fi
