#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd train --mpi` (the issue's promise): with --batch 64, mpirun -np 1, 2 and 4 write the same
# head_k*.safetensors and curves.csv bytes as the run without MPI; so do 3 ranks with the last partial
# batch of each epoch kept (30 rows: ranks holding 16, 14 and 0 rows) and AdamW with weight decay
# and gradient clipping (every rank updates from the same reduced gradients); an option given differently to
# one rank ends every rank with a message. Bounded by mpirun --timeout.
# With --features (a file numpy writes, tests/features_file.py): a BCE head trained 4 epochs
# without MPI has the same checkpoint bytes as 2 epochs on 2 ranks resumed for 2 more on 3 ranks.
# Usage: mpi_train_check.sh CLMSD PYTHON
set -eu
clmsd=$1 python=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*"; exit 1; }
run() { # NAME NP [options]: NP 0 runs without MPI
    name=$1 np=$2
    shift 2
    if [ "$np" -eq 0 ]; then
        "$clmsd" train "$@" --out "$dir/$name" > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; fail "$name"; }
    else
        mpirun --timeout 600 --bind-to none -np "$np" "$clmsd" train --mpi "$@" --out "$dir/$name" \
            > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; fail "$name"; }
    fi
}
same() { # A B: the same weights and curves
    for f in "$dir/$1"/head_k*.safetensors "$dir/$1/curves.csv"; do
        cmp "$f" "$dir/$2/$(basename "$f")" || fail "$(basename "$f") differs between $1 and $2"
    done
}
run single 0 --batch 64
for np in 1 2 4; do
    run "np$np" "$np" --batch 64
    same single "np$np"
done
[ "$(ls "$dir/single"/head_k*.safetensors | wc -l)" -eq 5 ] || fail "not one head file per K"
grep -q '"weight":{"shape":\[10,512\],"dtype":"F32"' "$dir/single/head_k8.safetensors" ||
    fail "head_k8.safetensors holds no weight [10, 512]"
grep -q "data-parallel over 4 MPI ranks" "$dir/np4.log" || fail "the log of np 4 does not say it ran on 4 ranks"
adamw="--optimizer adamw --lr 0.003 --weight-decay 0.01 --max-grad-norm 1"
# shellcheck disable=SC2086
run single_keep 0 --batch 64 --last-batch keep --samples 1,4 --epochs 3 $adamw
# shellcheck disable=SC2086
run np3_keep 3 --batch 64 --last-batch keep --samples 1,4 --epochs 3 $adamw
same single_keep np3_keep
grep -q "AdamW lr 0.003 weight decay 0.01, clipped" "$dir/np3_keep.log" || fail "np3_keep did not train with AdamW, clipped"
# 1438 training samples: 22 batches of 64 and one of 30 per epoch, for 2 K and 3 epochs, and a header
[ "$(wc -l < "$dir/np3_keep/curves.csv")" -eq $((2 * 3 * 23 + 1)) ] || fail "the last partial batch was not trained on"
# a checkpointed run that moves between process counts: 2 ranks, then 3 (each batch, the last one
# of 12 rows too, cut among them), the bytes of a run on one process
"$python" "$(dirname "$0")/features_file.py" write "$dir"
features="--features $dir/plain.safetensors --y-tensor soft --samples 3 --batch 16 --last-batch keep --epochs 4
 --optimizer adamw --lr 0.01 --schedule linear --warmup 4 --checkpoint"
# shellcheck disable=SC2086
"$clmsd" train $features "$dir/whole" > "$dir/whole.log" 2>&1 || { cat "$dir/whole.log"; fail "whole"; }
for half in "2 --stop-after 2" "3 --resume"; do
    np=${half%% *}
    # shellcheck disable=SC2086
    mpirun --timeout 600 --bind-to none -np "$np" "$clmsd" train --mpi $features "$dir/moved" ${half#* } \
        > "$dir/moved.log" 2>&1 || { cat "$dir/moved.log"; fail "the run moved to mpirun -np $np"; }
done
grep -q "BCE with logits" "$dir/whole.log" || fail "the features run did not train BCE"
for f in head.safetensors optimizer.safetensors; do
    cmp "$dir/whole/$f" "$dir/moved/$f" || fail "$f: 2 epochs on 2 ranks, then 2 on 3, differ from 4 on one process"
done
# Every option given differently to one rank (MPMD jobs): every rank ends within 30 s with a message
# naming the option, before any collective but the options' own exchange.
gzip -dc "$(dirname "$0")/../data/digits.csv.gz" | sed '5s/^[0-9]*,/9,/' > "$dir/other.csv"
common="train --mpi --samples 1 --epochs 1 --batch 64"
for option in "--epochs 2" "--last-batch keep" "--stream u8" "--x-type f16" "--lr 0.1" "--momentum 0.5" \
    "--optimizer adamw" "--weight-decay 0.01" "--max-grad-norm 1" \
    "--samples 1,2" "--rate 0.25" "--rates 0.25,0.5" "--combine logits" "--batch 32" "--hidden 256" \
    "--target 0.2" "--eval-every 3" "--engine clblast" "--seed 7" "--data $dir/other.csv"; do
    name=${option%% *}
    # shellcheck disable=SC2086
    if timeout 60 mpirun --timeout 30 --bind-to none -np 1 "$clmsd" $common : -np 1 "$clmsd" $common $option \
        > "$dir/mpmd.log" 2>&1; then
        cat "$dir/mpmd.log"
        fail "$option on one rank only: the job succeeded"
    fi
    [ "$(grep -c "same options on every rank: $name" "$dir/mpmd.log")" -eq 2 ] ||
        { cat "$dir/mpmd.log"; fail "$option on one rank only: not both ranks named $name"; }
done
echo "PASS: clmsd train --mpi: the same weights and curves for 1, 2, 3 and 4 ranks as without MPI, a checkpoint"
echo "      resumed on another number of ranks the same bytes as a run never interrupted; every"
echo "      option given differently to one rank ends the job on every rank with a message naming it"
