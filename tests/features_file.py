#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Features files for `clmsd train --features` written the way numpy users write them, and the
checks of what clmsd writes back, with a tiny safetensors reader and writer of our own: Debian 12
packages no python3-safetensors, and nothing may download at run time (its format: an 8-byte
little-endian header length, a JSON header, the tensors' raw little-endian bytes).

Usage: features_file.py write DIR        plain.safetensors (CE, [N, H] F32; "soft" BCE targets) and pooled.safetensors
                                          (BCE, [N, L, H] BF16, a validation index tensor)
       features_file.py check DIR CKPT PRED  the checkpoint loads, and PRED's logits are numpy's
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BF16": np.uint16}


def save(path, tensors, metadata=None):
    """tensors: name -> (dtype name, numpy array); the reference layout, header padded to 8 bytes"""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, array) in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(path):
    """name -> numpy array (BF16 widened to float32), and the metadata"""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        v = np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.dtype(DTYPES[t["dtype"]]).newbyteorder("<"))
        if t["dtype"] == "BF16":
            v = (v.astype(np.uint32) << 16).view(np.float32)
        out[name] = v.reshape(t["shape"])
    return out, metadata


def bf16(x):
    """float32 -> bfloat16 bits, rounded to nearest even"""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write(folder):
    rng = np.random.default_rng(2019)
    # plain: 3 classes from a hidden linear rule, [600, 32] F32, int64 ids
    x = rng.standard_normal((600, 32)).astype(np.float32)
    y = np.argmax(x @ rng.standard_normal((32, 3)), axis=1).astype(np.int64)
    soft = (0.8 * np.eye(3)[y] + 0.1).astype(np.float32)  # smoothed one-hot: BCE (and --mpi's) targets
    save(f"{folder}/plain.safetensors", {"features": ("F32", x), "targets": ("I64", y), "soft": ("F32", soft)},
         {"source": "numpy"})
    # pooled: 4 layers of 16, targets in [0, 1] from the mean of the layers, BF16, a fixed split
    x = rng.standard_normal((500, 4, 16)).astype(np.float32)
    t = 1 / (1 + np.exp(-(x.mean(axis=1) @ rng.standard_normal((16, 5)))))
    val = np.arange(0, 500, 5, dtype=np.int64)
    save(f"{folder}/pooled.safetensors", {"hidden": ("BF16", bf16(x)), "ratings": ("F32", t.astype(np.float32)),
                                          "val_rows": ("I64", val)})


def check(folder, ckpt, pred):
    head, meta = load(f"{ckpt}/head.safetensors")
    assert meta["format"] == "clmsd-checkpoint-1", meta
    w, b = head["weight"], head["bias"]
    x, _ = load(f"{folder}/pooled.safetensors") if "layer_weights" in head else load(f"{folder}/plain.safetensors")
    x = x["hidden"] if "layer_weights" in head else x["features"]
    if "layer_weights" in head:
        lw = head["layer_weights"].astype(np.float64)
        s = np.exp(lw - lw.max())
        x = np.einsum("l,nlh->nh", s / s.sum(), x.astype(np.float64))
    logits = x.astype(np.float64) @ w.T.astype(np.float64) + b
    got, _ = load(pred)
    # each logit is a float32 dot product of H terms: its error is below H ulps of the sum of |terms|
    bound = (x.shape[1] + 2) * np.finfo(np.float32).eps * (np.abs(x) @ np.abs(w.T) + np.abs(b) + 1)
    err = np.abs(got["logits"] - logits)
    assert (err <= bound).all(), f"logits differ from numpy's by {err.max()} (bound {bound.min()})"
    assert "probabilities" in got and got["probabilities"].shape == logits.shape
    print(f"checked {ckpt}: W {w.shape}, b {b.shape}, the predictions of {len(logits)} rows are numpy's")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check(*sys.argv[2:5])
