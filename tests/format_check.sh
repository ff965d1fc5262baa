#!/bin/sh
# SPDX-License-Identifier: MIT
# The tree is formatted: clang-format (.clang-format at the root) changes nothing in the C sources,
# headers and kernels. Skipped (77) without clang-format. Usage: format_check.sh SOURCE_DIR
set -eu
cd "$1"
command -v clang-format > /dev/null || { echo "SKIP: clang-format is not installed"; exit 77; }
files=$(find src include tests bench examples cl python -path '*/.venv*' -prune -o \( -name '*.c' -o -name '*.h' -o -name '*.cl' \) -print | sort)
bad=""
for f in $files; do
    clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad="$bad $f"
done
[ -z "$bad" ] || { echo "FAIL: not formatted (clang-format -i$bad):"; clang-format --dry-run$bad 2>&1 | head -n 40; exit 1; }
echo "PASS: $(echo "$files" | wc -l) files formatted"
