#!/bin/sh
# SPDX-License-Identifier: MIT
# The tools as a person meets them: every --help is plain text (no "%%" left by a printf-style
# string printed without printf), an unknown option exits 2 naming it, and a bad rate (or one the
# u8 stream cannot draw) exits 2 before anything reaches stdout. Usage: cli_check.sh CLMSD CLMSD_BENCH
set -eu
clmsd=$1
bench=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for cmd in "$clmsd --help" "$clmsd train --help" "$clmsd selftest --help" "$clmsd devices --help" "$clmsd predict --help" \
    "$clmsd bench --help" "$bench --help"; do
    $cmd > "$dir/help" 2>&1 || fail "$cmd exited $?"
    [ -s "$dir/help" ] || fail "$cmd printed nothing"
    if grep -q '%%' "$dir/help"; then fail "$cmd prints \"%%\""; fi
done

expect_usage_error() { # expect_usage_error WHAT-STDERR-NAMES ARGS...
    names=$1
    shift
    status=0
    "$@" > "$dir/out" 2> "$dir/err" || status=$?
    [ "$status" -eq 2 ] || fail "$* exited $status, expected 2"
    [ ! -s "$dir/out" ] || fail "$* printed to stdout before failing: $(head -n 1 "$dir/out")"
    grep -q -- "$names" "$dir/err" || fail "$* did not say \"$names\": $(cat "$dir/err")"
}
expect_usage_error "unknown option --bogus" "$clmsd" train --bogus
expect_usage_error "unknown option --bogus" "$clmsd" predict --bogus
expect_usage_error "are required" "$clmsd" predict --features x.safetensors
expect_usage_error "unknown option --bogus" "$clmsd" train --bogus 1
expect_usage_error "unknown option --bogus" "$clmsd" selftest --bogus
expect_usage_error "unknown option --bogus" "$bench" --bogus
expect_usage_error "\"1.5\" for --rate" "$clmsd" train --rate 1.5
expect_usage_error "\"nan\" for --rate" "$clmsd" train --rate nan
expect_usage_error "\"-0.1\" for --rate" "$clmsd" train --rate -0.1
expect_usage_error "\"0.1,1\" for --rates" "$clmsd" train --rates 0.1,1
expect_usage_error "\"inf\" for --lr" "$clmsd" train --lr inf
expect_usage_error "\"u16\" for --stream" "$clmsd" train --stream u16
expect_usage_error "\"f64\" for --x-type" "$clmsd" train --x-type f64
# the u8 stream's rates are multiples of 1/256, whichever option comes first
expect_usage_error "nearest are 0.09765625 and 0.1015625" "$clmsd" train --rate 0.1 --stream u8
expect_usage_error "0.3 (--rates) is not a multiple of 1/256" "$clmsd" train --stream u8 --rates 0.25,0.3
echo "PASS: help texts, unknown options and bad rates"
