# SPDX-License-Identifier: MIT
"""What the peers of clmsd-bench (bench/torch_peer.py, bench/jax_peer.py) share: its shapes
(bench/bench.c), the way it times (2 warm-up runs, then the minimum and median of N runs), and its
JSON lines."""
import json
import statistics
import time

# name, K, B, H, C, loss, combine, rates, in --quick
SHAPES = [
    ("kaggle-ce", 8, 32, 768, 30, "ce", "losses", [0.5] * 8, True),
    ("quest", 5, 8, 1024, 30, "bce", "logits", [0.5] * 5, True),
    ("token", 5, 4096, 768, 15, "ce", "losses", [0.1, 0.2, 0.3, 0.4, 0.5], False),
    ("cifar", 8, 128, 512, 100, "ce", "losses", [0.5] * 8, False),
    ("imagenet", 8, 256, 2048, 1000, "ce", "losses", [0.5] * 8, False),
    ("binary", 16, 64, 1024, 2, "ce", "losses", [0.5] * 16, True),
    ("quest-seed", 5, 8, 1024, 30, "bce", "logits", [0.5] * 5, True),
]
# the layer-pooled shapes: name -> (L layers, their drop rate); the peers write them as the QUEST
# model's code is (bench/torch_peer.py)
LAYERS = {"quest-seed": (25, 0.1)}


def selected(quick, names, pooled=True):
    """The shapes of a run: --quick ones only, and only those --shapes names (comma-separated);
    pooled=False leaves out the layer-pooled shapes."""
    for shape in SHAPES:
        if (quick and not shape[8]) or (names and shape[0] not in names.split(",")):
            continue
        if not pooled and shape[0] in LAYERS:
            continue
        yield shape


def timed(fn, runs, sync=lambda result: result):
    """Minimum and median ms of `runs` calls after 2 warm-up calls; sync waits for a call's result."""
    for _ in range(2):
        sync(fn())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sync(fn())
        times.append((time.perf_counter() - start) * 1e3)
    return min(times), statistics.median(times)


def record(out, device, driver, engine, shape, op, runs, lo, med, x_type="f32"):
    """One JSON line as clmsd-bench writes it, and the line on stdout. A peer's masks come from its
    framework's own generator: "stream": "own"; x_type is the features' dtype (bf16: autocast)."""
    name, K, B, H, C, loss, combine = shape[:7]
    row = {"device": device, "driver": driver, "kind": "head", "shape": name, "K": K, "B": B, "H": H, "C": C,
           "L": LAYERS.get(name, (0, 0))[0], "loss": loss, "combine": combine, "op": op, "engine": engine,
           "stream": "own", "x_type": x_type, "runs": runs, "min_ms": lo, "median_ms": med}
    out.write(json.dumps(row) + "\n")
    label = engine if x_type == "f32" else "%s %s" % (engine, x_type)
    print("  %-10s %-10s %-12s min %9.3f ms  median %9.3f ms" % (name, op, label, lo, med), flush=True)
