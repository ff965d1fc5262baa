#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job (docs/text.md): set up (Debian packages, a virtual environment with transformers
# and the MiniLM backbone, the rated texts), build, extract the CLS rows of MiniLM's 7 hidden states
# for 4,000 human-rated texts, train the QUEST model's head on them with clmsd for K = 1 and K = 5
# (3 seeds each) and with the head's own PyTorch code beside it, then print the table and write
# the plots to results/text/. --full: all 23,703 texts, K = 1, 2, 5, 8, 16 and K = 5 averaging the
# losses, into results/text-full/. (The digits demo: build/clmsd train --out results.)
set -eu
cd "$(dirname "$0")/.."
texts=4000 samples="1 5" combines="logits" out=results/text
if [ "${1:-}" = --full ]; then
    texts=0 samples="1 2 5 8 16" combines="logits losses" out=results/text-full
fi
tools/build.sh
tools/text_setup.sh
python=${CLMSD_TEXT_DIR:-.text}/venv/bin/python
features=${CLMSD_TEXT_DIR:-.text}/features/minilm_$texts.safetensors
"$python" tools/features.py --sdist "${CLMSD_TEXT_DIR:-.text}/downloads/vaderSentiment-3.3.2.tar.gz" \
    --texts "$texts" --out "$features"
# the QUEST configuration: 7 layers' CLS rows at 0.1, K samples at 0.5, BCE, AdamW with a warm-up
# and a linear decay (the backbone frozen: a head's learning rate)
shared="--rate 0.5 --layer-rate 0.1 --batch 32 --epochs 20 --lr 0.03 --weight-decay 0.01 --warmup 50"
rm -rf "$out/runs"
mkdir -p "$out/runs"
for combine in $combines; do
    for k in $samples; do
        [ "$combine" = losses ] && [ "$k" != 5 ] && continue
        for seed in 1 2 3; do
            run=k$k-$combine-s$seed
            echo "== K = $k ($combine), seed $seed: clmsd, then PyTorch"
            # shellcheck disable=SC2086
            build/clmsd train --features "$features" --val-tensor val_rows --samples "$k" --combine "$combine" \
                --optimizer adamw --schedule linear --eval-train --seed "$seed" $shared --out "$out/runs/clmsd-$run" \
                > "$out/runs/clmsd-$run.log" 2>&1 || { cat "$out/runs/clmsd-$run.log"; exit 1; }
            tail -n 2 "$out/runs/clmsd-$run.log" | head -n 1
            # shellcheck disable=SC2086
            "$python" tools/quest_reference.py "$features" "$out/runs/torch-$run" --samples "$k" --combine "$combine" \
                --seed "$seed" $shared > "$out/runs/torch-$run.log" 2>&1 || { cat "$out/runs/torch-$run.log"; exit 1; }
            tail -n 1 "$out/runs/torch-$run.log"
        done
    done
done
"$python" tools/text_report.py "$features" "$out"
