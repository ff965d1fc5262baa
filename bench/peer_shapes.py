# SPDX-License-Identifier: MIT
"""The benchmark shapes the peers run (bench/torch_peer.py, bench/jax_peer.py): clmsd-bench's
(bench/bench.c), one definition for both."""

# name, K, B, H, C, loss, combine, rates, in --quick
SHAPES = [
    ("kaggle-ce", 8, 32, 768, 30, "ce", "losses", [0.5] * 8, True),
    ("quest", 5, 8, 1024, 30, "bce", "logits", [0.5] * 5, True),
    ("token", 5, 4096, 768, 15, "ce", "losses", [0.1, 0.2, 0.3, 0.4, 0.5], False),
    ("cifar", 8, 128, 512, 100, "ce", "losses", [0.5] * 8, False),
    ("imagenet", 8, 256, 2048, 1000, "ce", "losses", [0.5] * 8, False),
    ("binary", 16, 64, 1024, 2, "ce", "losses", [0.5] * 16, True),
]
