#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A training step of the QUEST model's head called from Python, three ways, in one run:

  bare     clmsd's C calls through the extension: Head.logits + Head.backward on numpy arrays (what
           clmsd.torch makes per step), and Head.train_step (the built-in BCE) for reference;
  torch    clmsd.torch.QuestHead inside PyTorch: forward, BCE with logits, backward (the
           torch.autograd.Function around those two calls, the stack of the CLS rows, the tensor
           and numpy hand-overs);
  seed     the seed's head in PyTorch on the CPU (torch.nn.Dropout, float32): the same step.

The Python overhead per step is torch - bare; the ratio is seed / torch. Times per step: min and
median of the rounds after a warm-up (each round the mean of --iters steps), rounds interleaved.
Needs the package installed and PyTorch (tools/python_check.sh --bench runs it in its venv).

usage: bench/python_step.py [--rounds N] [--iters N] [--shape B H C L K T]"""
import argparse
import statistics
import sys
import time

import numpy as np
import torch

import clmsd
import clmsd.torch as ct


class SeedQuestHead(torch.nn.Module):
    """The seed code (bench/seed_head.py) with its own nn.Dropout modules, float32."""

    def __init__(self, hidden, classes, layers, samples):
        super().__init__()
        self.layer_weights = torch.nn.Parameter(torch.zeros(layers))
        self.classifier = torch.nn.Linear(hidden, classes)
        self.dropout = torch.nn.Dropout(0.1)
        self.high_dropout = torch.nn.Dropout(0.5)
        self.samples = samples

    def forward(self, hidden_layers):
        cls_outputs = torch.stack([self.dropout(layer[:, 0, :]) for layer in hidden_layers], dim=2)
        cls_output = (torch.softmax(self.layer_weights, dim=0) * cls_outputs).sum(-1)
        logits = torch.mean(torch.stack([self.classifier(self.high_dropout(cls_output))
                                         for _ in range(self.samples)], dim=0), dim=0)
        return logits


def timed(fn, iters):
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) / iters * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--shape", type=int, nargs=6, default=[8, 1024, 30, 25, 5, 16], metavar=("B", "H", "C", "L", "K", "T"))
    opt = ap.parse_args()
    B, H, C, L, K, T = opt.shape
    print("command: %s" % " ".join([sys.executable] + sys.argv))
    ctx = clmsd.Context()
    print("device: %s; torch %s, %d threads; clmsd %s" % (ctx.device_name, torch.__version__,
                                                          torch.get_num_threads(), clmsd.version))
    print("QUEST head: B %d H %d C %d L %d K %d (hidden states [B, T %d, H])" % (B, H, C, L, K, T))
    gen = torch.Generator().manual_seed(0)
    hidden = [torch.randn(B, T, H, generator=gen).requires_grad_(True) for _ in range(L)]
    target = torch.rand(B, C, generator=gen)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    ours = ct.QuestHead(H, C, L, samples=K, context=ctx)
    seed = SeedQuestHead(H, C, L, K)
    ours.load_state_dict(seed.state_dict())
    head = ours._head(B, True)  # the clmsd head clmsd.torch calls
    bce_head = ctx.head(**dict(head.desc, loss="bce_with_logits"))  # the same head with the built-in BCE
    print("engine: %s" % head.engine)

    x = np.ascontiguousarray(torch.stack([h[:, 0, :] for h in hidden]).detach().numpy())
    w, b = seed.classifier.weight.detach().numpy(), seed.classifier.bias.detach().numpy()
    lw, t = seed.layer_weights.detach().numpy(), target.numpy()
    state = {"step": 0}

    def bare():
        s = state["step"] = state["step"] + 1
        z = head.logits(x=x, w=w, bias=b, layer_weights=lw, seed=0, step=s)
        g = ((1 / (1 + np.exp(-z)) - t) / z.size).astype(np.float32)  # BCE's gradient, in numpy
        head.backward(x=x, w=w, bias=b, layer_weights=lw, dlogits=g, seed=0, step=s)

    def bare_train_step():
        s = state["step"] = state["step"] + 1
        bce_head.train_step(x=x, w=w, bias=b, layer_weights=lw, target=t, seed=0, step=s, loss=False)

    def step_of(model):
        def run():
            for h in hidden:
                h.grad = None
            model.zero_grad(set_to_none=True)
            bce(model(hidden), target).backward()
        return run

    ways = [("bare logits+backward", bare), ("bare train_step", bare_train_step),
            ("clmsd.torch QuestHead", step_of(ours)), ("seed PyTorch head", step_of(seed))]
    times = {name: [] for name, _ in ways}
    for name, fn in ways:  # warm-up: kernels compiled, caches and allocators filled
        timed(fn, 3)
    for _ in range(opt.rounds):
        for name, fn in ways:
            times[name].append(timed(fn, opt.iters))
    print("ms per step over %d rounds of %d steps: min, median" % (opt.rounds, opt.iters))
    stat = {name: (min(v), statistics.median(v)) for name, v in times.items()}
    for name, (lo, med) in stat.items():
        print("  %-24s %8.3f %8.3f" % (name, lo, med))
    over = [stat["clmsd.torch QuestHead"][i] - stat["bare logits+backward"][i] for i in (0, 1)]
    ratio = [stat["seed PyTorch head"][i] / stat["clmsd.torch QuestHead"][i] for i in (0, 1)]
    print("Python overhead per step (clmsd.torch - bare): %.3f ms (min), %.3f ms (median)" % tuple(over))
    print("ratio seed PyTorch / clmsd.torch: %.2fx (min), %.2fx (median)" % tuple(ratio))
    ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
