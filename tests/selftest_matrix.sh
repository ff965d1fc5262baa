#!/bin/sh
# `clmsd selftest` on three OpenCL implementations at once: pocl's pthread and basic devices and
# Oclgrind (registered beside pocl through a test-local OCL_ICD_VENDORS folder). Prints the matrix;
# fails unless every device passes and reports the same masks and fused results as the first.
set -eu
clmsd=$1
icd=$(mktemp -d)
trap 'rm -rf "$icd"' EXIT
echo /usr/lib/oclgrind/liboclgrind-rt-icd.so > "$icd/oclgrind.icd"
for f in /etc/OpenCL/vendors/*.icd; do cp "$f" "$icd/"; done
OCL_ICD_VENDORS=$icd POCL_DEVICES="pthread basic" "$clmsd" selftest --all-devices > "$icd/out" 2>&1 || {
    cat "$icd/out"; echo "FAIL: clmsd selftest failed on a device"; exit 1; }
cat "$icd/out"
rows=$(grep -cE '^[0-9]+:[0-9]+ ' "$icd/out")
[ "$rows" -ge 3 ] || { echo "FAIL: expected pocl pthread, pocl basic and Oclgrind, got $rows devices"; exit 1; }
if grep -E '^[0-9]+:[0-9]+ ' "$icd/out" | grep -qE 'FAIL| NO '; then
    echo "FAIL: a device differs"; exit 1
fi
echo "PASS: identical masks and fused results on $rows devices"
