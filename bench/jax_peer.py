#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The JAX/XLA peer of clmsd-bench: the same shapes, written the way a JAX user writes multi-sample
dropout (jax.random.bernoulli masks for the K samples under jax.vmap, one shared linear head, the
loss, jax.jit(jax.value_and_grad(...)) over the head's parameters and the features), on the CPU,
timed the same way (2 warm-up runs, then the minimum and median of N runs, each until
block_until_ready), written as the same JSON lines as bench/torch_peer.py.

usage: python bench/jax_peer.py [--quick] [--shapes LIST] [--runs N] [--json FILE]
(JAX from PyPI in a virtual environment: bench/run.sh makes one, bench/.venv-jax, when missing.)
"""
import argparse

import jax
import jax.numpy as jnp

from peer_common import record, selected, timed


def losses(z, target, loss):
    """Mean loss over the batch (CE) or over every element (BCE), as PyTorch's defaults."""
    if loss == "ce":
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), target[:, None], axis=1))
    return jnp.mean(jnp.maximum(z, 0) - z * target + jnp.log1p(jnp.exp(-jnp.abs(z))))


def make_ops(K, rates, loss, combine):
    keep = 1.0 - jnp.asarray(rates, dtype=jnp.float32)

    def logits(w, b, x, key):
        def one(k, p):  # one dropout sample through the shared head
            mask = jax.random.bernoulli(k, p, x.shape)
            return (jnp.where(mask, x / p, 0.0)) @ w.T + b
        return jax.vmap(one)(jax.random.split(key, K), keep)  # [K, B, C]

    def objective(w, b, x, target, key):
        z = logits(w, b, x, key)
        if combine == "losses":
            return jnp.mean(jax.vmap(lambda zk: losses(zk, target, loss))(z))
        return losses(jnp.mean(z, axis=0), target, loss)

    forward = jax.jit(lambda w, b, x, target, key: (objective(w, b, x, target, key),
                                                     jnp.mean(logits(w, b, x, key), axis=0)))
    train_step = jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2)))
    predict = jax.jit(lambda w, b, x: x @ w.T + b)
    return forward, train_step, predict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", default="jax-peer.jsonl")
    ap.add_argument("--shapes", help="comma-separated shape names (default all)")
    args = ap.parse_args()
    device = "JAX %s %s (XLA)" % (jax.__version__, jax.devices()[0].platform.upper())
    key = jax.random.PRNGKey(0)
    with open(args.json, "w") as out:
        for shape in selected(args.quick, args.shapes, pooled=False):  # (no JAX layer-pooled head yet)
            name, K, B, H, C, loss, combine, rates, _ = shape
            kx, kw, kt = jax.random.split(jax.random.fold_in(key, len(name)), 3)
            x = jax.random.normal(kx, (B, H), jnp.float32)
            w = jax.random.normal(kw, (C, H), jnp.float32) * 0.02
            b = jnp.zeros((C,), jnp.float32)
            target = (jax.random.randint(kt, (B,), 0, C) if loss == "ce" else jax.random.uniform(kt, (B, C)))
            forward, train_step, predict = make_ops(K, rates, loss, combine)
            step = jax.random.PRNGKey(1)
            for op, fn in (("forward", lambda: forward(w, b, x, target, step)),
                           ("train_step", lambda: train_step(w, b, x, target, step)),
                           ("predict", lambda: predict(w, b, x))):
                lo, med = timed(fn, args.runs, jax.block_until_ready)
                record(out, device, "jax " + jax.__version__, "jax", shape, op, args.runs, lo, med)


if __name__ == "__main__":
    main()
