#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tables and plots from clmsd-bench, bench/torch_peer.py and bench/jax_peer.py JSON lines.

usage: bench/report.py OUT_DIR FILE.jsonl [FILE.jsonl ...]

Prints, per device, the limits and, per shape and op, every engine and the PyTorch and JAX peers
side by side (min and median ms, ratios to the CLBlast engine, PyTorch and JAX); writes OUT_DIR/head.csv and
the gnuplot charts OUT_DIR/time.png (train_step time per engine and peer, per shape) and
OUT_DIR/roofline.png (achieved fraction of the device's roofline per engine and shape).
"""
import json
import os
import subprocess
import sys

ENGINES = ["fused", "fused-gpu", "fused-cpu", "clblast", "naive", "pytorch", "jax"]
PEERS = ("pytorch", "jax")  # host frameworks: one row per shape and op, whatever the device


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
    for r in rows:
        if r["kind"] == "limits":
            print("%s (driver %s): copy %.1f GB/s, write %.1f GB/s, FMA %.1f GFLOP/s, launch %.1f us, "
                  "Philox %.3f G words/s" % (r["device"], r["driver"], r["copy_gbps"], r["write_gbps"], r["gflops"],
                                             r["launch_us"], r["philox_gwords"]))
    shapes = list(dict.fromkeys(r["shape"] for r in heads))
    devices = list(dict.fromkeys(r["device"] for r in heads if r["engine"] not in PEERS))
    peer = {(r["engine"], r["shape"], r["op"]): r for r in heads if r["engine"] in PEERS}
    with open(os.path.join(out, "head.csv"), "w") as csv:
        csv.write("device,shape,op,engine,min_ms,median_ms,roofline,vs_clblast,vs_pytorch,vs_jax\n")
        for device in devices:
            print("\n%s\n%-10s %-10s %-8s %10s %10s %9s %10s %10s %10s" % (
                device, "shape", "op", "engine", "min ms", "median", "roofline", "vs clblast", "vs pytorch", "vs jax"))
            for shape in shapes:
                for op in ("forward", "train_step", "predict"):
                    mine = {r["engine"]: r for r in heads
                            if r["device"] == device and r["shape"] == shape and r["op"] == op}
                    for name in PEERS:
                        if (name, shape, op) in peer:
                            mine[name] = peer[(name, shape, op)]
                    base = mine.get("clblast", {}).get("min_ms")
                    torch_ms = mine.get("pytorch", {}).get("min_ms")
                    jax_ms = mine.get("jax", {}).get("min_ms")
                    for engine in ENGINES:
                        if engine not in mine:
                            continue
                        r = mine[engine]
                        vs_c = "%.2fx" % (base / r["min_ms"]) if base and engine != "clblast" else ""
                        vs_t = "%.2fx" % (torch_ms / r["min_ms"]) if torch_ms and engine != "pytorch" else ""
                        vs_j = "%.2fx" % (jax_ms / r["min_ms"]) if jax_ms and engine != "jax" else ""
                        roof = "%.1f%%" % (100 * r["roofline"]) if "roofline" in r else ""
                        print("%-10s %-10s %-8s %10.3f %10.3f %9s %10s %10s %10s" % (
                            shape, op, engine, r["min_ms"], r["median_ms"], roof, vs_c, vs_t, vs_j))
                        csv.write("%s,%s,%s,%s,%.6f,%.6f,%s,%s,%s,%s\n" % (
                            device.replace(",", ";"), shape, op, engine, r["min_ms"], r["median_ms"],
                            r.get("roofline", ""), vs_c.rstrip("x"), vs_t.rstrip("x"), vs_j.rstrip("x")))
    plot(out, heads, shapes, devices)


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
