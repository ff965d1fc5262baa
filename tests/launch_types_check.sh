#!/bin/sh
# SPDX-License-Identifier: MIT
# A kernel launch with the wrong count, order or type of arguments fails to compile: the generated
# clmsd__run_<kernel>() functions (tools/kernel_list.py) under the library's own warnings. A right
# call compiles; each wrong one must not. Usage: launch_types_check.sh CC SOURCE_DIR BUILD_DIR
set -eu
export LC_ALL=C
cc=$1 src=$2 build=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clmsd-launch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# the library's flags for its own files (meson.build): warnings as errors, -Wconversion
compiles() {
    printf '#include "src/context.h"\nclmsd_status f(clmsd_context *ctx, cl_mem a, cl_mem b, size_t n, uint32_t k,\n'\
'                  float s);\nclmsd_status f(clmsd_context *ctx, cl_mem a, cl_mem b, size_t n, uint32_t k, float s)\n'\
'{\n    (void)k;\n    (void)s;\n    return %s;\n}\n' "$1" > "$tmp/call.c"
    "$cc" -std=c11 -D_GNU_SOURCE -DCLMSD_BUILDING -I"$src/include" -I"$src" -I"$build" -Wall -Wextra -Wconversion \
        -Wno-sign-conversion -Werror -fsyntax-only "$tmp/call.c" 2> "$tmp/err"
}

# clmsd_widen(x, x_off, x_type, y, y_off, n): cl_mem, ulong, uint, cl_mem, ulong, ulong
right='clmsd__run_widen(ctx, n, 0, a, n, k, b, n, n)'
compiles "$right" || { echo "FAIL: the right call does not compile: $right"; cat "$tmp/err"; exit 1; }
fails=0
for wrong in \
    'clmsd__run_widen(ctx, n, 0, n, a, k, b, n, n)' \
    'clmsd__run_widen(ctx, n, 0, a, n, k, b, n)' \
    'clmsd__run_widen(ctx, n, 0, a, n, k, b, n, n, n)' \
    'clmsd__run_widen(ctx, n, 0, a, n, n, b, k, n)' \
    'clmsd__run_widen(ctx, n, 0, a, n, s, b, n, n)'; do
    if compiles "$wrong"; then
        echo "FAIL: compiles, but should not: $wrong"
        fails=$((fails + 1))
    else
        echo "ok: refused: $wrong ($(grep -m1 -o 'error: .*' "$tmp/err" | cut -c1-90))"
    fi
done
[ "$fails" -eq 0 ] || exit 1
echo "PASS: the right launch compiles; a swapped buffer and offset, one argument too few or too many, a"
echo "      size_t where the kernel takes a uint, and a float where it takes a uint do not"
