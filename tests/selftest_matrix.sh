#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd selftest` on four OpenCL implementations at once: pocl's pthread and basic devices,
# Oclgrind and Mesa's rusticl (llvmpipe), registered in a test-local OCL_ICD_VENDORS folder (exactly
# these: tests/icds.sh). Each device runs in a process of its own. Prints the matrix; fails unless
# every device passes and reports the same masks and fused results as the first.
set -eu
clmsd=$1
icd=$(mktemp -d)
trap 'rm -rf "$icd"' EXIT
missing=$("$(dirname "$0")/icds.sh" "$icd/vendors" pocl oclgrind rusticl)
[ -z "$missing" ] || echo "note: not installed, left out of the matrix: $missing"
expect=$((4 - $(echo "$missing" | wc -w)))
OCL_ICD_VENDORS=$icd/vendors POCL_DEVICES="pthread basic" RUSTICL_ENABLE=llvmpipe "$clmsd" selftest --all-devices \
    > "$icd/out" 2>&1 || { cat "$icd/out"; echo "FAIL: clmsd selftest failed on a device"; exit 1; }
cat "$icd/out"
rows=$(grep -cE '^[0-9]+:[0-9]+ ' "$icd/out")
[ "$rows" -ge "$expect" ] || { echo "FAIL: expected $expect devices (pocl pthread and basic, Oclgrind, rusticl), got $rows"; exit 1; }
if grep -E '^[0-9]+:[0-9]+ ' "$icd/out" | grep -qE 'FAIL| NO '; then
    echo "FAIL: a device differs"; exit 1
fi
echo "PASS: identical masks and fused results on $rows devices"
