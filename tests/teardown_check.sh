#!/bin/sh
# SPDX-License-Identifier: MIT
# Nothing of clmsd's outlives its context (an abort at exit with Oclgrind beside Mesa's Clover).
# With Oclgrind, Clover, rusticl and pocl registered, `clmsd selftest --device oclgrind` runs both
# engines on Oclgrind in one process, destroys its context and must exit 0: before
# clmsd_context_destroy cleared CLBlast's program cache, CLBlast released Oclgrind's programs from
# a static destructor at exit, and the process aborted ("malloc(): unsorted double linked list
# corrupted", docs/portability.md). (The quick start with CLMSD_ENGINE=clblast shows the same, but
# runs CLBlast's GEMM on the simulator for minutes.) Skipped (77) when Clover is not installed.
# Usage: teardown_check.sh CLMSD
set -eu
clmsd=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
missing=$("$(dirname "$0")/icds.sh" "$dir/vendors" oclgrind clover rusticl pocl)
case " $missing " in
*" clover "* | *" oclgrind "*) echo "SKIP: needs Oclgrind and Mesa's Clover (mesa-opencl-icd); missing: $missing"; exit 77 ;;
esac
status=0
OCL_ICD_VENDORS=$dir/vendors RUSTICL_ENABLE=llvmpipe "$clmsd" selftest --device oclgrind > "$dir/out" 2>&1 || status=$?
cat "$dir/out"
[ "$status" -eq 0 ] || { echo "FAIL: both engines on Oclgrind beside Clover: exit status $status"; exit 1; }
echo "PASS: both engines on Oclgrind beside Clover, rusticl and pocl, and the process exits 0"
