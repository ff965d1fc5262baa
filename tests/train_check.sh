#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd train` end to end: the loss falls, the CSV and PNG are well formed, two runs with the
# same seed write identical curves (the stream makes training reproducible), the log of a run
# whose output is not a terminal is plain text (no carriage return, no escape sequence), and the
# timing table says what it times; the u8 stream and fp16/bf16 features train as well.
set -eu
clmsd=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for run in a b; do
    # (an evaluation every 8 iterations: on rusticl, whose fma is software, the evaluations over the
    # whole training set were most of the test's time)
    "$clmsd" train --samples 1,4 --epochs 2 --hidden 128 --eval-every 8 --out "$dir/$run" >"$dir/$run.log" 2>&1 ||
        { cat "$dir/$run.log"; fail "clmsd train exited with an error"; }
done
for f in curves.csv evals.csv summary.csv training.png; do
    [ -s "$dir/a/$f" ] || fail "$f is missing or empty"
done
cmp -s "$dir/a/curves.csv" "$dir/b/curves.csv" || fail "curves.csv differs between two runs with one seed"
cmp -s "$dir/a/evals.csv" "$dir/b/evals.csv" || fail "evals.csv differs between two runs with one seed"
[ "$(head -c 8 "$dir/a/training.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "training.png is not a PNG"

# 2 epochs of 89 batches (1438 training samples / 16) for K = 1 and 4, plus a header
[ "$(wc -l < "$dir/a/curves.csv")" -eq $((2 * 2 * 89 + 1)) ] || fail "curves.csv has $(wc -l < "$dir/a/curves.csv") lines"
awk -F, 'NR == 1 { if ($0 != "samples,iteration,epoch,dropout_loss") exit 1; next }
         NF != 4 || $4 + 0 != $4 || $4 < 0 { exit 1 }' "$dir/a/curves.csv" || fail "curves.csv is malformed"
loss_falls() { # loss_falls EVALS.CSV: every K's clean loss ends below half its start
    awk -F, 'NR == 1 { next }
             NF != 5 || $5 < 0 || $5 > 1 { bad = 1 }
             { if (!($1 in first)) first[$1] = $4; last[$1] = $4 }
             END { if (bad) exit 1; for (k in first) if (!(last[k] < 0.5 * first[k])) exit 2 }' "$1"
}
loss_falls "$dir/a/evals.csv" || fail "evals.csv is malformed or the loss did not fall to half its start"
# the u8 stream and half-precision features train too, and they change the run (other masks, other
# rounding of X): the options reach the head
for run in "u8 f16" "v1 bf16"; do
    set -- $run
    "$clmsd" train --samples 4 --epochs 2 --hidden 128 --eval-every 8 --stream "$1" --x-type "$2" \
        --out "$dir/$1$2" >"$dir/$1$2.log" 2>&1 || { cat "$dir/$1$2.log"; fail "clmsd train --stream $1 --x-type $2"; }
    loss_falls "$dir/$1$2/evals.csv" || fail "--stream $1 --x-type $2: the loss did not fall to half its start"
    grep -q "$1 masks, $2 features" "$dir/$1$2.log" || fail "--stream $1 --x-type $2: the log does not say so"
    grep '^4,' "$dir/a/curves.csv" > "$dir/a4.csv"
    if cmp -s "$dir/a4.csv" "$dir/$1$2/curves.csv"; then fail "--stream $1 --x-type $2 gave v1 f32's curve"; fi
done
# fewer iterations in the whole run (1) than the timing takes (5 + 20): the loss slots wrap
"$clmsd" train --samples 1,2 --epochs 1 --batch 1000 --hidden 16 > "$dir/short.log" 2>&1 ||
    { cat "$dir/short.log"; fail "a run of one iteration failed"; }
if grep -q "$(printf '[\r\033]')" "$dir/a.log"; then fail "the log holds a carriage return or an escape sequence"; fi
grep -q "^  K = 4: epoch 2/2, clean loss" "$dir/a.log" || fail "no plain progress line per epoch in the log"
grep -q "the head's train step and the optimizer's step" "$dir/a.log" || fail "the table does not say what it times"
echo "PASS: clmsd train: loss falls, CSV and PNG well formed, two runs identical"
