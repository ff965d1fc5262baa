#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The QUEST model's head as its authors wrote it, in PyTorch (float64), against clmsd's
layer-pooled head on the device: loss, logits and every gradient (W, b, the layer weights, the
hidden states) within size-derived tolerances, for both engines.

seed-head-io (bench/seed_head_io.c) runs one clmsd train step and writes the inputs, clmsd's masks
from its host reference (each layer's and each head sample's keep * scale) and the device's
outputs. The model below is the seed code, literally; its two dropout modules replay those masks
in the order the code calls them, so both sides drop the same elements.

usage: bench/seed_head.py SEED_HEAD_IO [--shape L B T H C K LAYER_P HEAD_P]
Exits 77 when PyTorch is not installed (Debian: python3-torch)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:
    print("SKIP: bench/seed_head.py needs PyTorch and numpy (apt-get install python3-torch): %s" % e)
    sys.exit(77)


class ReplayDropout(torch.nn.Module):
    """nn.Dropout whose masks are clmsd's: the i-th call multiplies by masks[i] (keep * scale)."""

    def __init__(self, masks):
        super().__init__()
        self.masks, self.calls = masks, 0

    def forward(self, x):
        m = self.masks[self.calls % len(self.masks)]
        self.calls += 1
        return x * m


class QuestHead(torch.nn.Module):
    """The head of the Google QUEST Q&A Labeling solution (RoBERTa, "model3")."""

    def __init__(self, hidden, classes, layers, layer_masks, head_masks):
        super().__init__()
        self.layer_weights = torch.nn.Parameter(torch.zeros(layers, dtype=torch.float64))
        self.classifier = torch.nn.Linear(hidden, classes, dtype=torch.float64)
        self.dropout = ReplayDropout(layer_masks)
        self.high_dropout = ReplayDropout(head_masks)

    def forward(self, hidden_layers):
        # the seed code, literally
        cls_outputs = torch.stack([self.dropout(layer[:, 0, :]) for layer in hidden_layers], dim=2)
        cls_output = (torch.softmax(self.layer_weights, dim=0) * cls_outputs).sum(-1)
        logits = torch.mean(torch.stack([self.classifier(self.high_dropout(cls_output))
                                         for _ in range(5)], dim=0), dim=0)
        return logits


def load(d, name, shape):
    return np.fromfile(os.path.join(d, name + ".f32"), dtype="<f4").reshape(shape)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    shape = sys.argv[3:11] if len(sys.argv) > 2 and sys.argv[2] == "--shape" else []
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, d] + shape, check=True)
        meta = dict(line.split(" ", 1) for line in open(os.path.join(d, "meta.txt")).read().splitlines())
        L, B, T, H, C, K = (int(meta[k]) for k in ("L", "B", "T", "H", "C", "K"))
        if K != 5:
            print("FAIL: the seed code draws 5 samples (range(5)); this run has K = %d" % K)
            return 1
        f64 = lambda a: torch.tensor(a.astype(np.float64))
        hidden = load(d, "hidden", (L, B, T, H))
        layer_masks = [f64(m) for m in load(d, "layer_masks", (L, B, H))]
        head_masks = [f64(m) for m in load(d, "head_masks", (K, B, H))]
        model = QuestHead(H, C, L, layer_masks, head_masks)
        with torch.no_grad():
            model.layer_weights.copy_(f64(load(d, "layer_weights", (L,))))
            model.classifier.weight.copy_(f64(load(d, "w", (C, H))))
            model.classifier.bias.copy_(f64(load(d, "b", (C,))))
        layers = [f64(hidden[l]).requires_grad_(True) for l in range(L)]
        logits = model(layers)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, f64(load(d, "targets", (B, C))))
        loss.backward()
        want = {
            "loss": loss.detach().numpy().reshape(1),
            "logits": logits.detach().numpy(),
            "dw": model.classifier.weight.grad.numpy(),
            "db": model.classifier.bias.grad.numpy(),
            "dlw": model.layer_weights.grad.numpy(),
            "dhidden": np.stack([x.grad.numpy() for x in layers]),
        }
        shapes = {"loss": (1,), "logits": (B, C), "dw": (C, H), "db": (C,), "dlw": (L,), "dhidden": (L, B, T, H)}
        # terms of the longest fp32 sum behind each output (the pooled sum over L, the GEMMs' over H
        # and over K B rows, the loss over B C), as in the C tests: |got - want| <= 2 terms eps max|want|
        terms = L + H + K * B + B * C
        eps = np.finfo(np.float32).eps
        print("seed_head: QUEST head L %d B %d T %d H %d C %d K %d on %s" % (L, B, T, H, C, K, meta["device"]))
        failed = 0
        for engine in ("fused", "clblast"):
            for name, ref in want.items():
                got = load(d, "%s_%s" % (engine, name), shapes[name]).astype(np.float64)
                tol = 2 * terms * eps * max(np.abs(ref).max(), np.finfo(np.float32).tiny)
                err = np.abs(got - ref).max()
                ok = err <= tol
                failed += not ok
                print("  %-7s %-7s max |clmsd - PyTorch| %.3e  tolerance %.3e  %s" % (
                    engine, name, err, tol, "ok" if ok else "FAIL"))
        nonzero = np.abs(want["dhidden"][:, :, 1:, :]).max()
        if nonzero != 0:
            print("FAIL: PyTorch has gradients on tokens other than CLS (%g)" % nonzero)
            failed += 1
        print("PASS: clmsd's pooled head agrees with the seed code" if not failed else "FAIL: %d outputs" % failed)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
