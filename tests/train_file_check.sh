#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd train --features` and `clmsd predict` end to end on files numpy writes
# (tests/features_file.py): the plain head (CE, F32 [N, H]) and the pooled head (BCE, BF16
# [N, L, H], a validation index tensor) train with AdamW and a schedule, and the loss falls; 4
# epochs give the same checkpoint bytes as 2 epochs, then --resume for 2 more, also when the
# pooled head's resumed half runs on another OpenCL implementation (the ICD folder given: rusticl); the checkpoint
# loads in Python and predict's logits are numpy's; malformed files and a resume with other options
# are refused with a message, the checkpoint left as it was.
# Usage: train_file_check.sh CLMSD PYTHON [RESUME_ICD_DIR]
set -eu
clmsd=$1 python=$2 resume_icds=${3:-}
here=$(dirname "$0")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$python" "$here/features_file.py" write "$dir"

train() { # NAME [options]: a run whose log is NAME.log
    name=$1
    shift
    "$clmsd" train "$@" > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; fail "$name: clmsd train failed"; }
}
resume() { # NAME [options]: the resumed half, the pooled head's on the other implementation if given
    if [ -n "$resume_icds" ] && [ "$head" = pooled ]; then
        OCL_ICD_VENDORS=$resume_icds RUSTICL_ENABLE=llvmpipe train "$@"
    else
        train "$@"
    fi
}
same() { # A B: the same checkpoint bytes
    for f in head.safetensors optimizer.safetensors; do
        cmp "$dir/$1/$f" "$dir/$2/$f" || fail "$f differs between $1 and $2"
    done
}
plain="--features $dir/plain.safetensors --samples 4 --batch 32 --epochs 4 --optimizer adamw --lr 0.02
 --weight-decay 0.01 --schedule linear --warmup 10"
pooled="--features $dir/pooled.safetensors --x-tensor hidden --y-tensor ratings --val-tensor val_rows --samples 5
 --rate 0.5 --combine logits --batch 25 --epochs 4 --optimizer adamw --lr 0.01 --schedule cosine --warmup 5
 --max-grad-norm 1 --last-batch keep"
for head in plain pooled; do
    eval "options=\$$head"
    # shellcheck disable=SC2086
    train "$head" $options --checkpoint "$dir/$head" --out "$dir/${head}_out"
    # shellcheck disable=SC2086
    train "${head}_half" $options --checkpoint "$dir/${head}_half" --stop-after 2
    grep -q "^epoch 2/4" "$dir/${head}_half.log" && ! grep -q "^epoch 3/4" "$dir/${head}_half.log" ||
        fail "$head: --stop-after 2 did not stop after epoch 2"
    # shellcheck disable=SC2086
    resume "${head}_resumed" $options --checkpoint "$dir/${head}_half" --resume
    grep -q "resumed from .* after epoch 2" "$dir/${head}_resumed.log" || fail "$head: the resumed run does not say so"
    if [ -n "$resume_icds" ] && [ "$head" = pooled ] && grep -q "^clmsd train on Portable" "$dir/${head}_resumed.log"; then
        fail "the resumed half ran on pocl, not on the implementation of $resume_icds"
    fi
    same "$head" "${head}_half"
    same "$head" "${head}_out"
    # the training loss falls: epoch 4's below 95% of epoch 1's (BCE on soft targets keeps their entropy)
    awk -F, 'NR == 2 { first = $4 } END { exit !($4 < 0.95 * first) }' "$dir/${head}_out/epochs.csv" ||
        { cat "$dir/$head.log"; fail "$head: the training loss did not fall"; }
done
grep -q "val loss .* accuracy" "$dir/plain.log" || fail "the plain (CE) run reports no accuracy"
grep -q "val loss .* Spearman .* Pearson" "$dir/pooled.log" || fail "the pooled (BCE) run reports no Spearman"
grep -q "\[500, 4, 16\] (the pooled head over L layers), 5 targets; 400 train, 100 validation rows" "$dir/pooled.log" ||
    { cat "$dir/pooled.log"; fail "the pooled run does not describe its file"; }
awk -F, 'END { exit !($7 > 0.5) }' "$dir/pooled_out/epochs.csv" || fail "the pooled head's validation Spearman is not above 0.5"
awk -F, 'END { exit !($6 > 0.6) }' "$dir/plain_out/epochs.csv" || fail "the plain head's validation accuracy is not above 0.6"

# predictions, checked against numpy on the checkpoint Python loads
for head in plain pooled; do
    x=features
    [ $head = pooled ] && x=hidden
    "$clmsd" predict --checkpoint "$dir/$head" --features "$dir/$head.safetensors" --x-tensor $x --batch 64 \
        --out "$dir/$head.pred.safetensors" > "$dir/predict.log" 2>&1 || { cat "$dir/predict.log"; fail "predict $head"; }
    "$python" "$here/features_file.py" check "$dir" "$dir/$head" "$dir/$head.pred.safetensors" || fail "predict $head"
done

# refusals: each exits non-zero with its message, and the checkpoint stays as it was
cp -r "$dir/plain_half" "$dir/kept"
refused() { # MESSAGE [options]
    message=$1
    shift
    if "$clmsd" train "$@" > "$dir/refused.log" 2>&1; then fail "accepted: $*"; fi
    grep -q -- "$message" "$dir/refused.log" || { cat "$dir/refused.log"; fail "no message \"$message\" for: $*"; }
    same kept plain_half
}
head -c 100 "$dir/plain.safetensors" > "$dir/truncated.safetensors"
# shellcheck disable=SC2086
refused "truncated.safetensors:" --features "$dir/truncated.safetensors"
refused "no tensor \"nope\"" --features "$dir/plain.safetensors" --x-tensor nope
refused "ce needs integer class ids" --features "$dir/pooled.safetensors" --x-tensor hidden --y-tensor ratings --loss ce
refused "bce needs targets in \[0, 1\]" --features "$dir/plain.safetensors" --loss bce
refused "is not below --classes" --features "$dir/plain.safetensors" --classes 2
refused "lists row" --features "$dir/plain.safetensors" --val-tensor targets
refused "belongs to the digits run" --features "$dir/plain.safetensors" --hidden 64
refused "--resume needs --checkpoint" --features "$dir/plain.safetensors" --resume
# shellcheck disable=SC2086
refused "written by a run with other options" $plain --lr 0.03 --checkpoint "$dir/plain_half" --resume
echo "PASS: clmsd train --features: plain and pooled heads train, 2 + 2 resumed epochs are 4 epochs' bytes${resume_icds:+ (resumed on another implementation)}, predict is numpy's, bad input refused"
