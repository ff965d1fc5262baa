#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a Criterion test binary under valgrind memcheck, following the worker processes Criterion
# starts, with one log per process; fails when the tests fail or any process reports a memory error
# or a definite leak. Suppressions: tests/valgrind.supp. Usage: valgrind_check.sh TEST [options]
#
# What is checked is clmsd's own processes: the test binary and its workers. What belongs to the
# OpenCL implementation's toolchain is kept out, without broadening any suppression:
# - only pocl is registered (tests/icds.sh): Mesa's ICDs, when installed, leak at load time;
# - the linker pocl runs as a child for every kernel it compiles (/usr/bin/ld, ld.bfd leaks by
#   design: four "definitely lost" records in libbfd's xmalloc on a cold pocl cache) is not
#   followed (--trace-children-skip);
# - pocl's and CLBlast's kernel compiles (LLVM in process, which leaks pass-manager state) are
#   done first by the same binary under valgrind's no-op tool, so that under memcheck they come
#   from pocl's cache. It must be under valgrind: valgrind presents another CPU (CPUID), and
#   pocl keys its cache on the CPU. Compiled under memcheck, CLBlast's GEMM alone takes over ten
#   minutes of CPU.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
logs=$(mktemp -d)
icd=$(mktemp -d)
trap 'rm -rf "$logs" "$icd"' EXIT
"$here/icds.sh" "$icd" pocl > /dev/null
export OCL_ICD_VENDORS="$icd"
skip='*/ld,*/ld.*,*-ld,*-ld.*'
valgrind --tool=none --trace-children=yes --trace-children-skip="$skip" "$@" --jobs=2 > "$logs/warm" 2>&1 || true
status=0
valgrind --trace-children=yes --trace-children-skip="$skip" --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --suppressions="$here/valgrind.supp" --log-file="$logs/vg.%p" "$@" --jobs=1 > "$logs/out" 2>&1 || status=$?
tail -n 3 "$logs/out"
if grep -q "Tested: 0 " "$logs/out"; then echo "FAIL: no test ran"; exit 1; fi
bad=$(grep -lE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" "$logs"/vg.* || true)
if [ -n "$bad" ]; then
    echo "FAIL: valgrind reported errors:"
    for f in $bad; do sed -n '/^==[0-9]*== [A-Z]/,$p' "$f" | head -n 60; done
    exit 1
fi
[ "$status" -eq 0 ] || { echo "FAIL: the tests failed under valgrind"; exit "$status"; }
echo "PASS: no memory error or definite leak in $(ls "$logs"/vg.* | wc -l) processes"
