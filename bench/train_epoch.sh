#!/bin/sh
# SPDX-License-Identifier: MIT
# A training epoch of `clmsd train --features` against the bare train step, on the quest-seed
# shape (the QUEST model's head: L 25 layers of H 1024 pooled, K 5 at 0.5, C 30 BCE targets,
# average logits, batch 8): the epoch adds the optimizer's step, the gather of each batch's rows
# from the mapped file and their copy to the device, which double buffering overlaps with the
# step. Side by side in one run, ROUNDS times in turn: clmsd-bench's fused train_step (median of
# its runs) and the epoch's time per step (median of epochs 2..4; the first compiles). Prints the
# minimum over rounds of each and their ratio (bare / epoch: 1 would be free).
# Usage: bench/train_epoch.sh [BUILD_DIR] [ROWS] [ROUNDS]   (CLMSD_DEVICE picks the device; default pthread)
set -eu
build=${1:-build} rows=${2:-800} rounds=${3:-3}
device=${CLMSD_DEVICE:-pthread}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 - "$dir/quest.safetensors" "$rows" "$(dirname "$0")/../tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np
from features_file import save
rows = int(sys.argv[2])
rng = np.random.default_rng(7)
x = rng.standard_normal((rows, 25, 1024), dtype=np.float32)
t = rng.random((rows, 30), dtype=np.float32)
save(sys.argv[1], {"features": ("F32", x), "targets": ("F32", t)})
PY
for round in $(seq "$rounds"); do
    "$build/clmsd-bench" --device "$device" --shapes quest-seed --engines fused --ops train_step --runs 20 \
        --json "$dir/bench$round.jsonl" > "$dir/bench.log" 2>&1 || { cat "$dir/bench.log"; exit 1; }
    "$build/clmsd" train --device "$device" --features "$dir/quest.safetensors" --samples 5 --rate 0.5 \
        --combine logits --batch 8 --epochs 4 --optimizer adamw --lr 1e-3 --schedule linear --warmup 10 \
        --engine fused --val-fraction 0 > "$dir/train$round.log"
done
/usr/bin/python3 - "$dir" "$rounds" "$rows" <<'PY'
import json, re, statistics, sys
folder, rounds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bare, epoch = [], []
for r in range(1, rounds + 1):
    step = [json.loads(l) for l in open(f"{folder}/bench{r}.jsonl")]
    step = [s for s in step if s.get("kind") == "head" and s["op"] == "train_step" and s["engine"] == "fused"
            and s["stream"] == "v1" and s["x_type"] == "f32"]
    bare.append(step[0]["median_ms"])
    log = open(f"{folder}/train{r}.log").read()
    per_step = [float(m) for m in re.findall(r"^epoch [234]/4 .*, ([0-9.]+) ms a step\)$", log, re.M)]
    epoch.append(statistics.median(per_step))
device = re.search(r"^clmsd train on (.*)$", log, re.M).group(1)
print(f"quest-seed on {device}: {rows} rows, {rows // 8} batches of 8 an epoch, {rounds} rounds")
print(f"bare fused train_step: {min(bare):.3f} ms (rounds: {', '.join(f'{b:.3f}' for b in bare)})")
print(f"an epoch, per step:    {min(epoch):.3f} ms (rounds: {', '.join(f'{e:.3f}' for e in epoch)})")
print(f"ratio bare / epoch:    {min(bare) / min(epoch):.2f} (the issue's target: >= 0.85)")
PY
