#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The QUEST model's head trained by its own PyTorch code, the reference for `clmsd train
--features` on the same file (docs/text.md): torch's dropout (per layer, then K samples through one
classifier), torch.optim.AdamW, the same split, batch size, epochs, warm-up and linear decay, the
same zero initialisation; float32 on the CPU. Writes what clmsd writes: OUT/epochs.csv (the same
columns; validation loss and mean column-wise Spearman and Pearson, computed as clmsd computes
them, and the clean training loss of --eval-train) and OUT/steps.csv (each step's loss).

usage: tools/quest_reference.py FEATURES OUT [--samples K] [--rate P] [--layer-rate P]
           [--combine logits|losses] [--batch B] [--epochs E] [--lr LR] [--weight-decay WD]
           [--warmup W] [--seed S]"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from safetensors.numpy import load_file


class QuestHead(torch.nn.Module):
    """The head of the Google QUEST Q&A Labeling solution, as its authors wrote it (bench/seed_head.py
    holds the literal code), for hidden states given as the CLS rows [B, L, H]."""

    def __init__(self, layers, hidden, classes, samples, rate, layer_rate, combine):
        super().__init__()
        self.layer_weights = torch.nn.Parameter(torch.zeros(layers))
        self.classifier = torch.nn.Linear(hidden, classes)
        torch.nn.init.zeros_(self.classifier.weight)  # clmsd train starts from zero: the same start
        torch.nn.init.zeros_(self.classifier.bias)
        self.dropout = torch.nn.Dropout(layer_rate)
        self.high_dropout = torch.nn.Dropout(rate)
        self.samples, self.combine = samples, combine

    def forward(self, cls_rows, targets=None):
        cls_outputs = torch.stack([self.dropout(cls_rows[:, l]) for l in range(cls_rows.shape[1])], dim=2)
        cls_output = (torch.softmax(self.layer_weights, dim=0) * cls_outputs).sum(-1)
        logits = [self.classifier(self.high_dropout(cls_output)) for _ in range(self.samples)]
        if targets is None or self.combine == "logits":
            mean = torch.mean(torch.stack(logits, dim=0), dim=0)
            return mean, (None if targets is None else torch.nn.functional.binary_cross_entropy_with_logits(mean, targets))
        losses = [torch.nn.functional.binary_cross_entropy_with_logits(z, targets) for z in logits]
        return None, torch.stack(losses).mean()


def ranks(v):
    """ranks from 1, ties given their average (scipy.stats.rankdata's "average")"""
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    sorted_v = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return (a * b).sum() / d if d > 0 else np.nan


def column_scores(probabilities, targets):
    """mean column-wise Spearman and Pearson over the columns that are not constant"""
    s, p = [], []
    for c in range(targets.shape[1]):
        x, y = probabilities[:, c].astype(np.float64), targets[:, c].astype(np.float64)
        rho = pearson(ranks(x), ranks(y))
        if np.isnan(rho):
            continue
        s.append(rho)
        p.append(pearson(x, y))
    return (np.mean(s), np.mean(p)) if s else (np.nan, np.nan)


def lr_factor(step, warmup, total):
    """transformers' get_linear_schedule_with_warmup, as clmsd's --schedule linear"""
    if step < warmup:
        return step / warmup
    return max(0.0, 1 - (step - warmup) / max(1, total - warmup))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("features")
    p.add_argument("out")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--rate", type=float, default=0.5)
    p.add_argument("--layer-rate", type=float, default=0.1)
    p.add_argument("--combine", choices=("logits", "losses"), default="logits")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=2019)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    data = load_file(a.features)
    x, y = data["features"], data["targets"]
    if x.dtype == np.uint16:  # BF16 bits
        x = (x.astype(np.uint32) << 16).view(np.float32)
    val = np.zeros(len(x), dtype=bool)
    val[data["val_rows"]] = True
    xt, yt = torch.from_numpy(x[~val].copy()), torch.from_numpy(y[~val].copy())
    xv, yv = torch.from_numpy(x[val].copy()), y[val]
    model = QuestHead(x.shape[1], x.shape[2], y.shape[1], a.samples, a.rate, a.layer_rate, a.combine)
    optim = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    batches = len(xt) // a.batch
    total = batches * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: lr_factor(s, a.warmup, total))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "epochs.csv"), "w") as ep, open(os.path.join(a.out, "steps.csv"), "w") as st:
        ep.write("epoch,step,lr,train_loss,val_loss,val_accuracy,val_spearman,val_pearson,seconds,clean_train_loss\n")
        st.write("step,epoch,loss\n")
        step = 0
        for epoch in range(1, a.epochs + 1):
            started = time.time()
            model.train()
            order = torch.randperm(len(xt))
            losses = []
            for b in range(batches):
                rows = order[b * a.batch:(b + 1) * a.batch]
                _, loss = model(xt[rows], yt[rows])
                optim.zero_grad()
                loss.backward()
                lr = optim.param_groups[0]["lr"]
                optim.step()
                sched.step()
                step += 1
                losses.append(loss.item())
                st.write(f"{step},{epoch},{losses[-1]:.9g}\n")
            seconds = time.time() - started
            model.eval()
            with torch.no_grad():
                logits, _ = model(xv)
                logits = logits.numpy().astype(np.float64)
                _, clean = model(xt, yt)  # the training rows without dropout (clmsd's --eval-train)
            val_loss = np.mean(np.maximum(logits, 0) - logits * yv + np.log1p(np.exp(-np.abs(logits))))
            spearman, pearson_r = column_scores((1 / (1 + np.exp(-logits))).astype(np.float32), yv)
            ep.write(f"{epoch},{step},{lr:.9g},{np.mean(losses):.9g},{val_loss:.9g},nan,{spearman:.9g},"
                     f"{pearson_r:.9g},{seconds:.6f},{clean.item():.9g}\n")
            print(f"epoch {epoch}/{a.epochs}  step {step}  lr {lr:.3g}  train loss {np.mean(losses):.4f} "
                  f"(clean {clean.item():.4f})  "
                  f"val loss {val_loss:.4f}  Spearman {spearman:.4f}  Pearson {pearson_r:.4f}  "
                  f"({seconds:.2f} s, {1e3 * seconds / batches:.3f} ms a step)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
