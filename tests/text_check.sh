#!/bin/sh
# SPDX-License-Identifier: MIT
# The real-text pipeline on a few dozen texts (docs/text.md): features of 64 rated texts through
# the MiniLM backbone (tools/features.py, in tools/text_setup.sh's environment), a second run that
# costs nothing (the cache), the QUEST head trained on them by clmsd (L 7, layers at 0.1, K 5 at
# 0.5, BCE, average logits, AdamW, warm-up then linear decay) whose training loss falls, and the
# validation Spearman clmsd reports equal to a numpy reference's on `clmsd predict`'s logits; the
# trained head loads with safetensors.numpy.load_file.
# Usage: text_check.sh CLMSD SOURCE_DIR  (the environment: SOURCE_DIR/.text, or $CLMSD_TEXT_DIR)
set -eu
clmsd=$1 src=$2
text=${CLMSD_TEXT_DIR:-$src/.text}
python=$text/venv/bin/python
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$python" ] || fail "no $python: run tools/text_setup.sh (tools/test.sh does)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
extract() {
    "$python" "$src/tools/features.py" --sdist "$text/downloads/vaderSentiment-3.3.2.tar.gz" --texts 64 \
        --out "$dir/text.safetensors" > "$dir/features.log" 2>&1 || { cat "$dir/features.log"; fail "features.py"; }
}
extract
grep -q "64 texts, features \[64, 7, 384\] f32" "$dir/features.log" || { cat "$dir/features.log"; fail "no [64, 7, 384] features"; }
extract
grep -q "already extracted" "$dir/features.log" || { cat "$dir/features.log"; fail "the second extraction was not cached"; }
"$clmsd" train --features "$dir/text.safetensors" --val-tensor val_rows --samples 5 --rate 0.5 --combine logits \
    --layer-rate 0.1 --batch 8 --epochs 6 --optimizer adamw --lr 0.01 --weight-decay 0.01 --schedule linear \
    --warmup 5 --out "$dir/run" > "$dir/train.log" 2>&1 || { cat "$dir/train.log"; fail "clmsd train"; }
grep -q "\[64, 7, 384\] (the pooled head over L layers), 10 targets; 52 train, 12 validation rows" "$dir/train.log" ||
    { cat "$dir/train.log"; fail "the run does not describe the file"; }
awk -F, 'NR == 2 { first = $4 } END { exit !($4 < first) }' "$dir/run/epochs.csv" ||
    { cat "$dir/train.log"; fail "the training loss did not fall"; }
"$clmsd" predict --checkpoint "$dir/run" --features "$dir/text.safetensors" --out "$dir/pred.safetensors" \
    > "$dir/predict.log" 2>&1 || { cat "$dir/predict.log"; fail "clmsd predict"; }
"$python" - "$dir" "$src/tools" <<'PY' || fail "the Spearman check"
import sys
import numpy as np
from safetensors.numpy import load_file
sys.path.insert(0, sys.argv[2])
from quest_reference import column_scores
d = sys.argv[1]
head = load_file(f"{d}/run/head.safetensors")
assert head["weight"].shape == (10, 384) and head["layer_weights"].shape == (7,), {k: v.shape for k, v in head.items()}
data, pred = load_file(f"{d}/text.safetensors"), load_file(f"{d}/pred.safetensors")
val = data["val_rows"]
probabilities = (1 / (1 + np.exp(-pred["logits"][val].astype(np.float64)))).astype(np.float32)
spearman, pearson = column_scores(probabilities, data["targets"][val])
last = open(f"{d}/run/epochs.csv").read().splitlines()[-1].split(",")
reported = float(last[6]), float(last[7])
assert abs(spearman - reported[0]) < 1e-6 and abs(pearson - reported[1]) < 1e-5, (spearman, pearson, reported)
print(f"Spearman {spearman:.6f} and Pearson {pearson:.6f}: clmsd's own and the numpy reference's")
PY
echo "PASS: the real-text pipeline: MiniLM features of 64 rated texts (cached), the QUEST head trained by clmsd, its Spearman checked"
