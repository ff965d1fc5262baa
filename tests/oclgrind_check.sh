#!/bin/sh
# Runs a Criterion test binary on Oclgrind (the only OpenCL platform it then sees) with data-race
# and API checking; fails when the tests fail or Oclgrind reports anything (out-of-bounds access,
# data race, invalid API use). Usage: oclgrind_check.sh TEST_BINARY [criterion options]
set -eu
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
oclgrind --data-races --check-api --log "$log" "$@" --jobs=2 || status=$?
if [ -s "$log" ]; then
    echo "FAIL: Oclgrind reported errors:"
    head -n 60 "$log"
    exit 1
fi
[ "$status" -eq 0 ] || { echo "FAIL: the tests failed on Oclgrind"; exit "$status"; }
echo "PASS: no Oclgrind report"
