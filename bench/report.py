#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tables and plots from clmsd-bench, bench/torch_peer.py and bench/jax_peer.py JSON lines.

usage: bench/report.py OUT_DIR FILE.jsonl [FILE.jsonl ...]

Prints, per device, the limits and, per shape and op, every engine and the PyTorch and JAX peers
side by side (min and median ms, ratios to the CLBlast engine, PyTorch and JAX; the u8 stream's and
the fp16/bf16 rows also against their own engine with v1 masks and fp32 features), and the dropout
stream per call, stream and storage type; writes OUT_DIR/head.csv and
the gnuplot charts OUT_DIR/time.png (train_step time per engine and peer, per shape) and
OUT_DIR/roofline.png (achieved fraction of the device's roofline per engine and shape).
"""
import json
import os
import subprocess
import sys

ENGINES = ["fused", "fused-gpu", "fused-cpu", "clblast", "naive", "pytorch", "jax"]
# the other streams and storage types (train_step rows): "fused u8" is the fused engine on
# clmsd-philox-v1-u8, "pytorch bf16" the PyTorch peer under CPU autocast
VARIANTS = ["fused u8", "fused f16", "fused bf16", "fused u8 f16", "pytorch f16", "pytorch bf16"]
PEERS = ("pytorch", "jax")  # host frameworks: one row per shape and op, whatever the device


def label(r):
    """A row's engine, with its stream and storage type where they are not the defaults (v1, f32)."""
    extra = (["u8"] if r.get("stream") == "u8" else []) + ([r["x_type"]] if r.get("x_type", "f32") != "f32" else [])
    return " ".join([r["engine"]] + extra)


def base_of(name):
    """The engine of a variant's row: what its "vs v1 f32" ratio divides."""
    return name.split(" ")[0]


def dropout_table(rows):
    """The dropout stream per device: throughput of each call, stream and storage type."""
    drops = [r for r in rows if r["kind"] == "dropout"]
    for device in dict.fromkeys(r["device"] for r in drops):
        print("\n%s: the dropout stream\n%-9s %-6s %-4s %10s %10s %12s %10s" % (
            device, "call", "stream", "x", "min ms", "median", "G elem/s", "vs v1 f32"))
        for r in (r for r in drops if r["device"] == device):
            ratio = r.get("vs_v1_f32", 0)
            print("%-9s %-6s %-4s %10.3f %10.3f %12.3f %10s" % (
                r["op"], r.get("stream", "v1"), r.get("x_type", "f32"), r["min_ms"], r["median_ms"],
                r["elements_per_s"] / 1e9, "%.2fx" % ratio if ratio and ratio != 1 else ""))


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, rows = argv[1], load(argv[2:])
    os.makedirs(out, exist_ok=True)
    heads = [r for r in rows if r["kind"] == "head"]
    for r in heads:
        r["label"] = label(r)
    for r in rows:
        if r["kind"] == "limits":
            print("%s (driver %s): copy %.1f GB/s, write %.1f GB/s, FMA %.1f GFLOP/s, launch %.1f us, "
                  "Philox %.3f G words/s" % (r["device"], r["driver"], r["copy_gbps"], r["write_gbps"], r["gflops"],
                                             r["launch_us"], r["philox_gwords"]))
    shapes = list(dict.fromkeys(r["shape"] for r in heads))
    devices = list(dict.fromkeys(r["device"] for r in heads if r["engine"] not in PEERS))
    peer = {(r["label"], r["shape"], r["op"]): r for r in heads if r["engine"] in PEERS}
    with open(os.path.join(out, "head.csv"), "w") as csv:
        csv.write("device,shape,op,engine,min_ms,median_ms,roofline,vs_clblast,vs_pytorch,vs_jax,vs_v1_f32\n")
        for device in devices:
            print("\n%s\n%-10s %-10s %-12s %10s %10s %9s %10s %10s %10s %10s" % (
                device, "shape", "op", "engine", "min ms", "median", "roofline", "vs clblast", "vs pytorch", "vs jax",
                "vs v1 f32"))
            for shape in shapes:
                for op in ("forward", "train_step", "predict"):
                    mine = {r["label"]: r for r in heads
                            if r["device"] == device and r["shape"] == shape and r["op"] == op}
                    for (name, s, o), r in peer.items():
                        if s == shape and o == op:
                            mine[name] = r
                    base = mine.get("clblast", {}).get("min_ms")
                    torch_ms = mine.get("pytorch", {}).get("min_ms")
                    jax_ms = mine.get("jax", {}).get("min_ms")
                    for engine in ENGINES + VARIANTS:
                        if engine not in mine:
                            continue
                        r = mine[engine]
                        vs_c = "%.2fx" % (base / r["min_ms"]) if base and engine != "clblast" else ""
                        vs_t = "%.2fx" % (torch_ms / r["min_ms"]) if torch_ms and engine != "pytorch" else ""
                        vs_j = "%.2fx" % (jax_ms / r["min_ms"]) if jax_ms and engine != "jax" else ""
                        own = mine.get(base_of(engine), {}).get("min_ms") if engine in VARIANTS else None
                        vs_v = "%.2fx" % (own / r["min_ms"]) if own else ""
                        roof = "%.1f%%" % (100 * r["roofline"]) if "roofline" in r else ""
                        print("%-10s %-10s %-12s %10.3f %10.3f %9s %10s %10s %10s %10s" % (
                            shape, op, engine, r["min_ms"], r["median_ms"], roof, vs_c, vs_t, vs_j, vs_v))
                        csv.write("%s,%s,%s,%s,%.6f,%.6f,%s,%s,%s,%s,%s\n" % (
                            device.replace(",", ";"), shape, op, engine, r["min_ms"], r["median_ms"],
                            r.get("roofline", ""), vs_c.rstrip("x"), vs_t.rstrip("x"), vs_j.rstrip("x"),
                            vs_v.rstrip("x")))
    dropout_table(rows)
    plot(out, [r for r in heads if r["label"] == r["engine"]], shapes, devices)


def plot(out, heads, shapes, devices):
    """Grouped bars: train_step time (log scale) and roofline fraction, per shape and engine."""
    device = devices[0] if devices else ""
    engines = [e for e in ENGINES if any(r["engine"] == e and r["op"] == "train_step" for r in heads)]
    dat = os.path.join(out, "train_step.dat")
    with open(dat, "w") as f:
        f.write("shape " + " ".join(engines) + " " + " ".join(e + "_roof" for e in engines) + "\n")
        for shape in shapes:
            def pick(engine, key):
                for r in heads:
                    if (r["shape"] == shape and r["op"] == "train_step" and r["engine"] == engine
                            and (engine in PEERS or r["device"] == device)):
                        return "%.6g" % r[key] if key in r else "NaN"
                return "NaN"
            f.write(shape + " " + " ".join(pick(e, "min_ms") for e in engines) + " " +
                    " ".join(pick(e, "roofline") for e in engines) + "\n")
    n = len(engines)
    script = """set terminal pngcairo size 1100,500 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
set grid ytics
set xtics rotate by -20
set output '{out}/time.png'
set title 'train_step, minimum of the runs: {device}'
set ylabel 'milliseconds (log scale)'
set logscale y
plot for [i=2:{last}] '{dat}' using i:xtic(1) title columnheader(i)
set output '{out}/roofline.png'
set title 'achieved fraction of the roofline max(FLOP / FMA rate, bytes / copy bandwidth), train_step'
set ylabel 'fraction of the roofline'
unset logscale y
set yrange [0:*]
plot for [i={first_roof}:{last_roof}] '{dat}' using i:xtic(1) title columnheader(i)
""".format(out=out, device=device.replace("'", ""), dat=dat, last=n + 1, first_roof=n + 2,
           last_roof=n + 1 + len([e for e in engines if e not in PEERS]))
    gp = os.path.join(out, "plots.gp")
    with open(gp, "w") as f:
        f.write(script)
    if subprocess.call(["gnuplot", gp]) == 0:
        print("\nplots: %s/time.png, %s/roofline.png" % (out, out))


if __name__ == "__main__":
    main(sys.argv)
