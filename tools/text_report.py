#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The table and plots of the real-text job (tools/demo.sh, docs/text.md) from its runs: RESULTS/runs/
IMPL-kK-COMBINE-sSEED/ (epochs.csv, steps.csv, and for clmsd head.safetensors), IMPL clmsd or torch
(tools/quest_reference.py). Prints the table (and writes RESULTS/summary.csv) with, per IMPL, K and
combine mode over the seeds: the final validation Spearman and loss (mean and spread), the clean
training loss, the iterations until the clean training loss first reached the one every K = 1 run
ends below (checked after each epoch), and the time per iteration; and a ridge regression on the last layer's
CLS rows (numpy, closed form, its penalty chosen on a fifth of the training rows) as the baseline.
Plots (gnuplot): loss.png, spearman.png, layers.png, time.png.

usage: tools/text_report.py FEATURES RESULTS"""
import csv
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quest_reference import column_scores  # noqa: E402  (the same Spearman as clmsd's)


def read_runs(results):
    runs = defaultdict(list)  # (impl, K, combine) -> [run]
    for name in sorted(os.listdir(os.path.join(results, "runs"))):
        m = re.fullmatch(r"(clmsd|torch)-k(\d+)-(logits|losses)-s(\d+)", name)
        if not m:
            continue
        d = os.path.join(results, "runs", name)
        epochs = list(csv.DictReader(open(os.path.join(d, "epochs.csv"))))
        run = {"seed": int(m.group(4)), "epochs": epochs, "dir": d}
        head = os.path.join(d, "head.safetensors")
        if os.path.exists(head):
            lw = load_file(head)["layer_weights"].astype(np.float64)
            run["layers"] = np.exp(lw - lw.max()) / np.exp(lw - lw.max()).sum()
        runs[(m.group(1), int(m.group(2)), m.group(3))].append(run)
    return runs


def ridge_baseline(features):
    """validation Spearman of a ridge regression on the last layer's CLS rows"""
    data = load_file(features)
    x, y = data["features"], data["targets"].astype(np.float64)
    if x.dtype == np.uint16:
        x = (x.astype(np.uint32) << 16).view(np.float32)
    x = np.concatenate([x[:, -1, :].astype(np.float64), np.ones((len(x), 1))], axis=1)
    val = np.zeros(len(x), dtype=bool)
    val[data["val_rows"]] = True
    xt, yt = x[~val], y[~val]

    def fit(a, b, alpha):
        return np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ b)

    inner = len(xt) // 5
    alphas = (0.1, 1.0, 10.0, 100.0, 1000.0)
    scores = [column_scores(xt[:inner] @ fit(xt[inner:], yt[inner:], a), yt[:inner])[0] for a in alphas]
    alpha = alphas[int(np.nanargmax(scores))]
    spearman, pearson = column_scores(x[val] @ fit(xt, yt, alpha), y[val])
    return alpha, spearman, pearson


def column(run, key):
    return [float(e[key]) for e in run["epochs"]]


def main():
    features, results = sys.argv[1], sys.argv[2]
    runs = read_runs(results)
    if not runs:
        print(f"no runs in {results}/runs")
        return 1
    k1 = runs.get(("clmsd", 1, "logits"), [])
    # the loss every K = 1 run reaches by its last epoch
    target = max(column(r, "clean_train_loss")[-1] for r in k1) if k1 else float("nan")
    rows = []
    for (impl, k, combine), group in sorted(runs.items(), key=lambda i: (i[0][0], i[0][2], i[0][1])):
        sp = [column(r, "val_spearman")[-1] for r in group]
        reach = []
        for r in group:
            hit = [int(e["step"]) for e in r["epochs"] if float(e["clean_train_loss"]) <= target]
            reach.append(hit[0] if hit else None)
        ms = [statistics.median([1e3 * float(e["seconds"]) / (int(r["epochs"][0]["step"]) or 1)
                                 for e in r["epochs"][1:] or r["epochs"]]) for r in group]
        rows.append({"impl": impl, "K": k, "combine": combine, "seeds": len(group),
                     "val_spearman": statistics.mean(sp), "spread": statistics.pstdev(sp),
                     "val_loss": statistics.mean(column(r, "val_loss")[-1] for r in group),
                     "clean_train_loss": statistics.mean(column(r, "clean_train_loss")[-1] for r in group),
                     "iterations_to_target": (statistics.mean(reach) if all(v is not None for v in reach)
                                              else float("nan")),
                     "ms_per_iteration": statistics.mean(ms)})
    alpha, ridge_s, ridge_p = ridge_baseline(features)
    with open(os.path.join(results, "summary.csv"), "w") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"\n{'':6} {'K':>3} {'combine':8} {'seeds':>5} {'val Spearman':>16} {'val loss':>9} {'clean train':>11} "
          f"{'iter. to':>9} {'ms/iter':>8}")
    print(f"{'':6} {'':>3} {'':8} {'':>5} {'mean +- sd':>16} {'':>9} {'loss':>11} {f'{target:.4f}':>9} {'':>8}")
    for r in rows:
        print(f"{r['impl']:6} {r['K']:>3} {r['combine']:8} {r['seeds']:>5} {r['val_spearman']:>9.4f} +- "
              f"{r['spread']:.4f} {r['val_loss']:>9.4f} {r['clean_train_loss']:>11.4f} "
              f"{r['iterations_to_target']:>9.0f} {r['ms_per_iteration']:>8.3f}")
    print(f"ridge regression on the last layer's CLS rows (penalty {alpha:g}): val Spearman {ridge_s:.4f}, "
          f"Pearson {ridge_p:.4f}")
    with open(os.path.join(results, "baseline.txt"), "w") as f:
        f.write(f"ridge {alpha:g} {ridge_s:.6f} {ridge_p:.6f}\n")
    plots(results, runs, rows)
    return 0


def plots(results, runs, rows):
    """per-K mean curves over the seeds as .dat files, and gnuplot's PNGs of them"""
    data = os.path.join(results, "plot")
    os.makedirs(data, exist_ok=True)
    lines = {"loss": [], "spearman": [], "layers": []}
    for (impl, k, combine), group in sorted(runs.items()):
        name = f"{impl}-k{k}-{combine}"
        steps = [int(e["step"]) for e in group[0]["epochs"]]
        with open(os.path.join(data, name + ".dat"), "w") as f:
            for i, s in enumerate(steps):
                clean = statistics.mean(column(r, "clean_train_loss")[i] for r in group)
                sp = statistics.mean(column(r, "val_spearman")[i] for r in group)
                f.write(f"{s} {clean:.6f} {sp:.6f}\n")
        title = f"{impl} K={k}" + (" (average losses)" if combine == "losses" else "")
        dash = "dt 2" if impl == "torch" else "dt 1"
        lines["loss"].append(f"'{data}/{name}.dat' using 1:2 with linespoints {dash} lw 2 title '{title}'")
        lines["spearman"].append(f"'{data}/{name}.dat' using 1:3 with linespoints {dash} lw 2 title '{title}'")
        if impl == "clmsd" and "layers" in group[0]:
            weights = np.mean([r["layers"] for r in group], axis=0)
            with open(os.path.join(data, name + ".layers"), "w") as f:
                for layer, v in enumerate(weights):
                    f.write(f"{layer} {v:.6f}\n")
            lines["layers"].append(f"'{data}/{name}.layers' using 1:2 with linespoints lw 2 title '{title}'")
    with open(os.path.join(data, "time.dat"), "w") as f:
        for r in rows:
            f.write(f"\"{r['impl']} K={r['K']}{' losses' if r['combine'] == 'losses' else ''}\" "
                    f"{r['ms_per_iteration']:.4f}\n")
    script = os.path.join(data, "plots.gp")
    with open(script, "w") as f:
        f.write("set terminal pngcairo size 900,550 noenhanced\nset grid\nset key outside right\n")
        for png, ylabel, key in (("loss", "training loss without dropout", "loss"),
                                 ("spearman", "validation Spearman (mean column-wise)", "spearman")):
            f.write(f"set output '{results}/{png}.png'\nset xlabel 'iteration'\nset ylabel '{ylabel}'\n"
                    f"set title 'the QUEST head on MiniLM features of rated texts: {ylabel} (mean over seeds)'\n"
                    f"plot {', '.join(lines[key])}\n")
        if lines["layers"]:
            f.write(f"set output '{results}/layers.png'\nset xlabel 'hidden state (0: embeddings, 6: last layer)'\n"
                    f"set ylabel 'softmax layer weight'\nset title 'learned layer weights (clmsd, mean over seeds)'\n"
                    f"plot {', '.join(lines['layers'])}\n")
        f.write(f"set output '{results}/time.png'\nset style data histograms\nset style fill solid 0.6\n"
                f"set boxwidth 0.8\nset xtics rotate by -30\nset xlabel ''\nset ylabel 'ms per iteration'\n"
                f"set title 'time per iteration (train step and optimizer), 2 cores'\nset key off\nset yrange [0:*]\n"
                f"plot '{data}/time.dat' using 2:xtic(1)\n")
    subprocess.run(["gnuplot", script], check=True)
    print(f"plots: {results}/loss.png, spearman.png, layers.png, time.png")


if __name__ == "__main__":
    sys.exit(main())
