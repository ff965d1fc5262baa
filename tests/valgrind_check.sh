#!/bin/sh
# Runs a Criterion test binary under valgrind memcheck, following the worker processes Criterion
# starts, with one log per process; fails when the tests fail or any process reports a memory error
# or a definite leak. Suppressions: tests/valgrind.supp. Usage: valgrind_check.sh TEST [options]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
valgrind --trace-children=yes --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
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
echo "PASS: no memory error or definite leak in $(ls "$logs" | wc -l) processes"
