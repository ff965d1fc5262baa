# SPDX-License-Identifier: MIT
"""The head without dropout (rates 0) in numpy float64, from the mathematics of docs/api.md, and
the tolerance the C suite holds the CLBlast engine to: |got - ref| <= 2 n FLT_EPSILON max|ref|,
n the number of float terms that reach an element."""
import numpy as np

EPS = np.finfo(np.float32).eps


def assert_close(got, ref, terms, what=""):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, what
    bound = 2 * terms * EPS * max(np.abs(ref).max(), np.finfo(np.float32).tiny)
    err = np.abs(got - ref).max()
    assert err <= bound, "%s: error %g over the bound %g" % (what, err, bound)


def loss_and_grad(z, target, loss, huber_delta=1.0):
    """The mean loss over the logits z [B, C] and its gradient dL/dz, as PyTorch reduces."""
    b, c = z.shape
    if loss == "softmax_cross_entropy":
        valid = (target >= 0) & (target < c)
        n = valid.sum()
        m = z.max(axis=1, keepdims=True)
        logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        onehot = np.zeros_like(z)
        onehot[np.arange(b)[valid], target[valid]] = 1
        if n == 0:
            return 0.0, np.zeros_like(z)
        value = -(logp * onehot).sum() / n
        grad = (np.exp(logp) - onehot) * valid[:, None] / n
        return value, grad
    t = target.astype(np.float64)
    d = z - t
    if loss == "bce_with_logits":
        value = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        grad = 1 / (1 + np.exp(-z)) - t
    elif loss == "mse":
        value, grad = d * d, 2 * d
    else:
        small = np.abs(d) < huber_delta
        value = np.where(small, d * d / 2, huber_delta * (np.abs(d) - huber_delta / 2))
        grad = np.where(small, d, huber_delta * np.sign(d))
    return value.mean(), grad / (b * c)


def head(x, w, bias, target, loss="softmax_cross_entropy", huber_delta=1.0, layer_weights=None):
    """loss, logits, dx, dw, dbias (and dlayer_weights for a pooled x [L, B, H]) of the head
    without dropout: every sample is X itself, so either combine mode gives these."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    b = np.zeros(w.shape[0]) if bias is None else bias.astype(np.float64)
    out = {}
    if layer_weights is not None:
        lw = layer_weights.astype(np.float64)
        a = np.exp(lw - lw.max())
        a /= a.sum()
        p = np.tensordot(a, x, axes=1)
    else:
        p = x
    z = p @ w.T + b
    value, g = loss_and_grad(z, target, loss, huber_delta)
    dp = g @ w
    out.update(loss=value, logits=z, dw=g.T @ p, dbias=g.sum(axis=0))
    if layer_weights is not None:
        out["dx"] = a[:, None, None] * dp[None]
        da = np.einsum("bh,lbh->l", dp, x)
        out["dlayer_weights"] = a * (da - (a * da).sum())
    else:
        out["dx"] = dp
    return out


def predict(x, w, bias, layer_weights=None):
    x = x.astype(np.float64)
    if layer_weights is not None:
        lw = layer_weights.astype(np.float64)
        a = np.exp(lw - lw.max())
        x = np.tensordot(a / a.sum(), x, axes=1)
    z = x @ w.T.astype(np.float64)
    return z if bias is None else z + bias


def bf16_bits(values):
    """float32 values rounded to bfloat16 (nearest even), as their 16 bits"""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_values(bits):
    """bfloat16 bits as float32 values (exact)"""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
