#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a Criterion test binary on Oclgrind (the only OpenCL platform it then sees) with data-race
# and API checking; fails when the tests fail or Oclgrind reports anything (out-of-bounds access,
# data race, invalid API use). Usage: oclgrind_check.sh TEST_BINARY [criterion options]
set -eu
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
status=0
oclgrind --data-races --check-api --log "$log" "$@" --jobs=2 > "$out" 2>&1 || status=$?
tail -n 3 "$out"
if grep -q "Tested: 0 " "$out"; then echo "FAIL: no test ran"; exit 1; fi
if [ -s "$log" ]; then
    echo "FAIL: Oclgrind reported errors:"
    head -n 60 "$log"
    exit 1
fi
[ "$status" -eq 0 ] || { echo "FAIL: the tests failed on Oclgrind"; exit "$status"; }
echo "PASS: no Oclgrind report"
