#!/bin/sh
# SPDX-License-Identifier: MIT
# The Python package end to end (docs/python.md): `pip install .` of this repository into a new
# virtual environment of Debian's python3 (with its system packages: numpy, pytest), then the
# pytest suite tests/python against the installed package, from outside the source tree; any
# skipped test fails the run. pip fetches meson-python and meson from PyPI (build isolation) and,
# for the tests only, ml_dtypes (bfloat16 arrays). Measured on 2 cores from a clean clone:
# `pip install .` 10 to 20 s (the library's and the extension's compile only; about 35 s with an
# empty pip cache: the downloads), the 162 tests 18 to 31 s with an empty pocl cache (the kernels'
# compile), 2 s warm; under a minute in all.
# Usage: tools/python_check.sh [SOURCE_DIR]   (meson test --suite python runs it)
#        tools/python_check.sh --setup        (only the Debian packages it needs, tools/setup.sh)
#        tools/python_check.sh --bench [SOURCE_DIR] (then bench/python_step.py in the same venv:
#                                     clmsd.torch's training step against the seed's PyTorch head)
set -eu
tools=$(cd "$(dirname "$0")" && pwd)
"$tools/setup.sh" python3 python3-dev python3-venv python3-pip python3-numpy python3-pytest python3-torch
[ "${1:-}" = "--setup" ] && exit 0
bench=0
if [ "${1:-}" = "--bench" ]; then
    bench=1
    shift
fi
src=$(cd "${1:-$tools/..}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clmsd-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
py=$tmp/venv/bin/python
# ml_dtypes 0.5.4: the last that works with Debian 12's numpy 1.24
"$py" -m pip install -q "ml_dtypes==0.5.4"
start=$(date +%s)
"$py" -m pip install -q --config-settings=build-dir="$tmp/build" "$src"
echo "python_check: pip install . took $(($(date +%s) - start)) s"
cd "$tmp" # the installed package, never the source tree's python/
"$py" -c 'import clmsd, sys; sys.exit(not clmsd.__file__.startswith(sys.prefix))' ||
    { echo "FAIL: import clmsd does not find the installed package"; exit 1; }
rc=0
"$py" -m pytest -p no:cacheprovider -rs "$src/tests/python" > "$tmp/pytest.log" 2>&1 || rc=$?
cat "$tmp/pytest.log"
if [ "$rc" -eq 0 ] && grep -Eq '[0-9]+ skipped' "$tmp/pytest.log"; then
    echo "FAIL: tests were skipped (tools/python_check.sh runs them all)"
    rc=1
fi
if [ "$rc" -eq 0 ] && [ "$bench" -eq 1 ]; then
    "$py" "$src/bench/python_step.py" || rc=$?
fi
exit "$rc"
