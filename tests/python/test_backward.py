# SPDX-License-Identifier: MIT
"""A loss of your own: Head.logits gives every sample's logits (average_losses) or their mean
(average_logits), Head.backward the gradients from the caller's dL/dlogits with the same masks:
against numpy float64 without dropout, and with dropout against the train step of the head's own
loss, its gradient computed in numpy from the logits."""
import numpy as np
import pytest

import reference
from reference import assert_close

B, H, C, K, L = 8, 24, 5, 4, 3


def data(rng, layers=0):
    shape = (layers, B, H) if layers else (B, H)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = (rng.standard_normal((C, H)) / np.sqrt(H)).astype(np.float32)
    bias = rng.standard_normal(C, dtype=np.float32)
    t = rng.standard_normal((B, C), dtype=np.float32)
    lw = rng.standard_normal(layers, dtype=np.float32) if layers else None
    return x, w, bias, t, lw


def mse_grad(z, t, combine):
    """dL/dz of the head's MSE, L = mean over the K samples (or of their mean) of mean((z - t)^2)"""
    z = z.astype(np.float64)
    k = z.shape[0] if combine == "average_losses" else 1
    return (2 * (z - t) / (k * B * C)).astype(np.float32)


@pytest.mark.parametrize("combine", ["average_losses", "average_logits"])
def test_without_dropout_equals_numpy(make_head, rng, combine):
    x, w, bias, t, _ = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, combine=combine, loss="mse")
    z = head.logits(x=x, w=w, bias=bias)
    ref = reference.head(x, w, bias, t, "mse")
    assert z.shape == ((K, B, C) if combine == "average_losses" else (B, C))
    assert_close(z, np.broadcast_to(ref["logits"], z.shape), H + K, "logits")
    g = mse_grad(z, t, combine)
    r = head.backward(x=x, w=w, bias=bias, dlogits=g)
    assert set(r) == {"dx", "dw", "dbias"}
    assert_close(r["dx"], ref["dx"], K * C + H, "dx")
    assert_close(r["dw"], ref["dw"], K * B + H + C, "dw")
    assert_close(r["dbias"], ref["dbias"], K * B + H + C, "dbias")


@pytest.mark.parametrize("layers", [0, L])
@pytest.mark.parametrize("combine", ["average_losses", "average_logits"])
def test_with_dropout_the_train_steps_masks(make_head, rng, combine, layers):
    x, w, bias, t, lw = data(rng, layers)
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.4, layers=layers, layer_rate=0.25,
                     combine=combine, loss="mse")
    call = dict(x=x, w=w, bias=bias, seed=17, step=5, **({"layer_weights": lw} if layers else {}))
    z = head.logits(**call)
    step = head.train_step(target=t, logits=True, **call)
    mean = z.astype(np.float64).mean(axis=0) if combine == "average_losses" else z
    assert_close(mean, step["logits"], H + K + L, "mean logits")
    r = head.backward(dlogits=mse_grad(z, t, combine), **call)
    n = K * B + H + C + L
    for name, terms in (("dx", K * C + H + L), ("dw", n), ("dbias", n)) + ((("dlayer_weights", n + B * H),) if
                                                                           layers else ()):
        assert_close(r[name], step[name], terms, name)
    again = head.backward(dlogits=mse_grad(z, t, combine), **call)
    for name in r:
        assert np.array_equal(again[name], r[name]), name
    other = head.logits(**dict(call, step=6))  # fresh masks every step
    assert not np.array_equal(other, z)


def test_outputs_and_accumulate(ctx, make_head, rng):
    x, w, bias, t, _ = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.3, loss="mse")
    z = ctx.empty((K, B, C))
    assert head.logits(x=x, w=w, bias=bias, logits=z) is z
    g = mse_grad(z.numpy(), t, "average_losses")
    once = head.backward(x=x, w=w, dlogits=g)
    assert set(once) == {"dx", "dw"}  # no bias: no dbias unless asked
    dw, dx = ctx.zeros((C, H)), ctx.zeros((B, H))
    for _ in range(2):
        assert head.backward(x=x, w=w, dlogits=ctx.array(g), dw=dw, dx=dx, accumulate=True) == {}
    assert np.array_equal(dw.numpy(), 2 * once["dw"]) and np.array_equal(dx.numpy(), 2 * once["dx"])


def test_bad_input(make_head, rng):
    x, w, bias, t, _ = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.3)
    g = np.zeros((B, C), np.float32)
    with pytest.raises(TypeError, match="dlogits is required"):
        head.backward(x=x, w=w)
    with pytest.raises(ValueError, match=r"dlogits: shape \(8, 5\), but this argument is \(4, 8, 5\)"):
        head.backward(x=x, w=w, dlogits=g)
    with pytest.raises(TypeError, match="dlogits: dtype float16"):
        head.backward(x=x, w=w, dlogits=np.zeros((K, B, C), np.float16))
    with pytest.raises(TypeError, match="backward\\(\\) got an unexpected keyword argument 'target'"):
        head.backward(x=x, w=w, dlogits=g, target=np.zeros(B, np.int32))
    with pytest.raises(TypeError, match="logits\\(\\) got an unexpected keyword argument 'dw'"):
        head.logits(x=x, w=w, dw=True)
    with pytest.raises(ValueError, match="logits cannot be False"):
        head.logits(x=x, w=w, logits=False)
    with pytest.raises(ValueError, match=r"logits: shape \(8, 5\), but this argument is \(4, 8, 5\)"):
        head.logits(x=x, w=w, logits=np.zeros((B, C), np.float32))
