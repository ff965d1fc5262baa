#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The PyTorch peer of clmsd-bench: the same shapes, written the way Kaggle code writes multi-sample
dropout (a Python loop of K dropouts through one nn.Linear, the loss, backward()), on the CPU with
the same thread count, timed the same way (2 warm-up runs, then the minimum and median of N runs),
written as the same JSON lines.

usage: /usr/bin/python3 bench/torch_peer.py [--quick] [--shapes LIST] [--runs N] [--threads T] [--json FILE]
(Debian: python3-torch and libopenblas0-pthread; the interpreter is Debian's /usr/bin/python3.)
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import record, selected, timed


class MultiSampleDropoutHead(nn.Module):
    """The common Kaggle form: K dropouts, one shared linear head."""

    def __init__(self, hidden, classes, rates):
        super().__init__()
        self.dropouts = nn.ModuleList([nn.Dropout(p) for p in rates])
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        return [self.fc(dropout(x)) for dropout in self.dropouts]


def loss_of(logits, target, loss, combine):
    fn = F.cross_entropy if loss == "ce" else F.binary_cross_entropy_with_logits
    if combine == "losses":
        return sum(fn(z, target) for z in logits) / len(logits)
    return fn(torch.stack(logits).mean(0), target)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", default="torch-peer.jsonl")
    ap.add_argument("--shapes", help="comma-separated shape names (default all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = "PyTorch %s CPU (%d threads, %s)" % (torch.__version__, args.threads,
                                                  "OpenBLAS" if "openblas" in torch.__config__.show().lower() else "BLAS")
    with open(args.json, "w") as out:
        for shape in selected(args.quick, args.shapes):
            name, K, B, H, C, loss, combine, rates, _ = shape
            head = MultiSampleDropoutHead(H, C, rates).train()
            x = torch.randn(B, H, requires_grad=True)
            target = torch.randint(0, C, (B,)) if loss == "ce" else torch.rand(B, C)

            def forward():
                with torch.no_grad():
                    logits = head(x)
                    loss_of(logits, target, loss, combine)
                    torch.stack(logits).mean(0)

            def train_step():
                head.zero_grad(set_to_none=True)
                x.grad = None
                loss_of(head(x), target, loss, combine).backward()

            def predict():
                with torch.no_grad():
                    head.fc(x)

            for op, fn in (("forward", forward), ("train_step", train_step), ("predict", predict)):
                lo, med = timed(fn, args.runs)
                record(out, device, "torch " + torch.__version__, "pytorch", shape, op, args.runs, lo, med)


if __name__ == "__main__":
    main()
