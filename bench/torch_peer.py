#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The PyTorch peer of clmsd-bench: the same shapes, written the way Kaggle code writes multi-sample
dropout (a Python loop of K dropouts through one nn.Linear, the loss, backward()), on the CPU with
the same thread count or on a CUDA GPU (timed by CUDA events), timed the same way (2 warm-up runs,
then the minimum and median of N runs), written as the same JSON lines; with --compile also each
train step's head under torch.compile (PyTorch 2), as engine "pytorch-compile".

usage: /usr/bin/python3 bench/torch_peer.py [--quick] [--shapes LIST] [--runs N] [--threads T] [--json FILE]
                                            [--device cpu|cuda] [--compile]
(Debian: python3-torch and libopenblas0-pthread; the interpreter is Debian's /usr/bin/python3.)
"""
import argparse
import os
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import LAYERS, record, selected, timed

DEVICE = torch.device("cpu")  # --device


def timed_on_device(fn, runs):
    """timed(), on a GPU by CUDA events around each call (the host's clock would time the launch)"""
    if DEVICE.type != "cuda":
        return timed(fn, runs)
    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return min(times), sorted(times)[len(times) // 2]


class MultiSampleDropoutHead(nn.Module):
    """The common Kaggle form: K dropouts, one shared linear head."""

    def __init__(self, hidden, classes, rates):
        super().__init__()
        self.dropouts = nn.ModuleList([nn.Dropout(p) for p in rates])
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        return [self.fc(dropout(x)) for dropout in self.dropouts]


class QuestHead(nn.Module):
    """The QUEST model's whole head, as its code is: each layer's CLS row through its own dropout,
    softmax layer weights, then 5 dropout samples through one classifier, logits averaged."""

    def __init__(self, hidden, classes, layers, layer_rate, rate):
        super().__init__()
        self.layer_weights = nn.Parameter(torch.zeros(layers))
        self.dropout = nn.Dropout(layer_rate)
        self.high_dropout = nn.Dropout(rate)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, hidden_layers):
        cls_outputs = torch.stack([self.dropout(layer[:, 0, :]) for layer in hidden_layers], dim=2)
        cls_output = (torch.softmax(self.layer_weights, dim=0) * cls_outputs).sum(-1)
        return torch.mean(torch.stack([self.classifier(self.high_dropout(cls_output)) for _ in range(5)], dim=0), dim=0)


def quest_ops(shape):
    """forward, train_step and predict of the QUEST model's head (the layer-pooled shapes)."""
    name, K, B, H, C = shape[:5]
    layers, layer_rate = LAYERS[name]
    head = QuestHead(H, C, layers, layer_rate, shape[7][0]).train().to(DEVICE)
    hidden = [torch.randn(B, 1, H, device=DEVICE, requires_grad=True) for _ in range(layers)]
    target = torch.rand(B, C, device=DEVICE)

    def forward():
        with torch.no_grad():
            F.binary_cross_entropy_with_logits(head(hidden), target)

    def train_step():
        head.zero_grad(set_to_none=True)
        for x in hidden:
            x.grad = None
        F.binary_cross_entropy_with_logits(head(hidden), target).backward()

    def predict():
        with torch.no_grad():
            head.eval()
            head(hidden)
            head.train()

    return forward, train_step, predict


def loss_of(logits, target, loss, combine):
    fn = F.cross_entropy if loss == "ce" else F.binary_cross_entropy_with_logits
    if combine == "losses":
        return sum(fn(z, target) for z in logits) / len(logits)
    return fn(torch.stack(logits).mean(0), target)


def mixed_precision_step(head, x, target, loss, combine, dtype):
    """The train step as mixed-precision training runs it: the features in `dtype`, the head under
    torch.autocast on the CPU (its weights fp32, its GEMMs in dtype), the loss in fp32; None where
    this PyTorch's CPU autocast does not take dtype (it then disables itself)."""
    xh = x.detach().to(dtype).requires_grad_()
    try:
        with warnings.catch_warnings():  # "not supported, disabling autocast": answered by None
            warnings.simplefilter("ignore")
            with torch.autocast(DEVICE.type, dtype=dtype):
                if DEVICE.type == "cpu" and not torch.is_autocast_cpu_enabled():
                    return None
    except (RuntimeError, AssertionError):
        return None

    def train_step():
        head.zero_grad(set_to_none=True)
        xh.grad = None
        with torch.autocast(DEVICE.type, dtype=dtype):
            logits = [z.float() for z in head(xh)]
        loss_of(logits, target, loss, combine).backward()

    return train_step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", default="torch-peer.jsonl")
    ap.add_argument("--shapes", help="comma-separated shape names (default all)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--compile", action="store_true", help="also the train step under torch.compile")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if DEVICE.type == "cuda":
        device = "PyTorch %s CUDA %s (%s)" % (torch.__version__, torch.version.cuda, torch.cuda.get_device_name())
    else:
        device = "PyTorch %s CPU (%d threads, %s)" % (torch.__version__, args.threads,
                                                      "OpenBLAS" if "openblas" in torch.__config__.show().lower()
                                                      else "BLAS")
    compiles = args.compile and hasattr(torch, "compile")
    if args.compile and not compiles:
        print("  torch.compile: not in PyTorch %s; eager only" % torch.__version__)
    with open(args.json, "w") as out:
        for shape in selected(args.quick, args.shapes):
            name, K, B, H, C, loss, combine, rates, _ = shape
            if name in LAYERS:
                for op, fn in zip(("forward", "train_step", "predict"), quest_ops(shape)):
                    lo, med = timed_on_device(fn, args.runs)
                    record(out, device, "torch " + torch.__version__, "pytorch", shape, op, args.runs, lo, med)
                continue
            head = MultiSampleDropoutHead(H, C, rates).train().to(DEVICE)
            x = torch.randn(B, H, device=DEVICE, requires_grad=True)
            target = (torch.randint(0, C, (B,), device=DEVICE) if loss == "ce"
                      else torch.rand(B, C, device=DEVICE))

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
                lo, med = timed_on_device(fn, args.runs)
                record(out, device, "torch " + torch.__version__, "pytorch", shape, op, args.runs, lo, med)
            if compiles:  # the first calls compile (timed() warms up twice; a third to be sure)
                compiled = torch.compile(head)

                def compiled_step():
                    compiled.zero_grad(set_to_none=True)
                    x.grad = None
                    loss_of(compiled(x), target, loss, combine).backward()

                compiled_step()
                lo, med = timed_on_device(compiled_step, args.runs)
                record(out, device, "torch " + torch.__version__, "pytorch-compile", shape, "train_step", args.runs,
                       lo, med)
            for dtype, x_type in ((torch.float16, "f16"), (torch.bfloat16, "bf16")):
                mixed = mixed_precision_step(head, x, target, loss, combine, dtype)
                if mixed is None:
                    print("  %-10s %-10s pytorch %s: CPU autocast does not take this dtype here" % (
                        name, "train_step", x_type))
                    continue
                lo, med = timed_on_device(mixed, args.runs)
                record(out, device, "torch " + torch.__version__, "pytorch", shape, "train_step", args.runs, lo, med,
                       x_type)


if __name__ == "__main__":
    main()
