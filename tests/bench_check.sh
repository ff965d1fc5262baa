#!/bin/sh
# SPDX-License-Identifier: MIT
# `clmsd-bench --quick` runs to completion on the default device and writes valid JSON lines with
# the device's limits, the dropout stream and every engine of the quick shapes, each stream and
# storage type ("stream", "x_type"); its log, not a terminal, holds no carriage return and no
# escape sequence.
set -eu
bench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bench" --quick --json "$dir/out.jsonl" >"$dir/log" 2>&1 || { cat "$dir/log"; echo "FAIL: clmsd-bench exited with an error"; exit 1; }
if grep -q "$(printf '[\r\033]')" "$dir/log"; then echo "FAIL: the log holds a carriage return or an escape sequence"; exit 1; fi
python3 - "$dir/out.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
kinds = {r["kind"] for r in rows}
assert kinds == {"limits", "dropout", "head"}, kinds
heads = [r for r in rows if r["kind"] == "head"]
seen = {(r["shape"], r["op"], r["engine"]) for r in heads}
for shape in ("kaggle-ce", "quest", "binary"):
    for op in ("forward", "train_step", "predict"):
        for engine in ("fused", "clblast"):
            assert (shape, op, engine) in seen, (shape, op, engine)
    assert (shape, "forward", "naive") in seen, shape
for r in rows:
    if r["kind"] != "limits":
        assert r["stream"] in ("v1", "u8") and r["x_type"] in ("f32", "f16", "bf16"), r
drops = {(r["op"], r["stream"], r["x_type"]) for r in rows if r["kind"] == "dropout"}
for op in ("mask", "forward", "backward"):
    assert (op, "v1", "f32") in drops and (op, "u8", "f32") in drops, op
assert ("forward", "v1", "f16") in drops and ("backward", "v1", "bf16") in drops, drops
variants = {(r["shape"], r["stream"], r["x_type"]) for r in heads if r["engine"] == "fused" and r["op"] == "train_step"}
for shape in ("kaggle-ce", "quest", "binary"):
    for stream, x_type in (("v1", "f32"), ("u8", "f32"), ("v1", "f16"), ("v1", "bf16"), ("u8", "f16")):
        assert (shape, stream, x_type) in variants, (shape, stream, x_type)
# fp16 features move fewer bytes than fp32 ones: the counts follow the type
step = {(r["shape"], r["stream"], r["x_type"]): r for r in heads if r["engine"] == "fused" and r["op"] == "train_step"}
assert step[("binary", "v1", "f16")]["bytes"] < step[("binary", "v1", "f32")]["bytes"]
for r in heads:
    assert r["runs"] >= 10 and 0 < r["min_ms"] <= r["median_ms"], r
    assert r["flops"] > 0 and r["bytes"] > 0 and 0 < r["roofline"], r
    for key in ("device", "driver", "K", "B", "H", "C", "gflops", "gbps"):
        assert key in r, key
print("PASS: clmsd-bench --quick wrote %d valid JSON lines" % len(rows))
PY
