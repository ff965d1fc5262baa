#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd selftest --all-devices` survives an implementation that crashes: the fault shim
# (tests/faults/shim.c, $FAULT_ABORT_DEVICE) aborts any process that creates a context on pocl's
# basic device. Its row must say FAIL with the signal, the pthread and Oclgrind rows must still
# pass, the matrix must still print, and the run must exit 1.
# Usage: selftest_crash.sh CLMSD FAULT_SHIM
set -eu
clmsd=$1
shim=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$(dirname "$0")/icds.sh" "$dir/vendors" pocl oclgrind > /dev/null
status=0
OCL_ICD_VENDORS=$dir/vendors POCL_DEVICES="pthread basic" LD_PRELOAD=$shim FAULT_ABORT_DEVICE=basic \
    "$clmsd" selftest --all-devices > "$dir/out" 2>&1 || status=$?
cat "$dir/out"
fail() { echo "FAIL: $1"; exit 1; }
[ "$status" -eq 1 ] || fail "selftest exited $status, expected 1"
grep -qE '^[0-9]+:[0-9]+ .*FAIL +the process died of signal 6' "$dir/out" || fail "no FAIL row naming signal 6"
[ "$(grep -c '^PASS  ' "$dir/out")" -eq 2 ] || fail "pocl pthread and Oclgrind did not both pass"
grep -q '^device  *KAT' "$dir/out" || fail "the matrix did not print"
echo "PASS: one crashing device is one FAIL row; the other devices and the matrix are intact"
