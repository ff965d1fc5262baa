# SPDX-License-Identifier: MIT
"""The layer-pooled head (layers >= 2, the QUEST model's): against numpy float64 without dropout,
and the CLS rows of hidden states read in place through the strides, with the same bits as the
dense layers."""
import numpy as np
import pytest

import reference
from reference import assert_close

L, B, T, H, C, K = 3, 4, 5, 16, 3, 2


def data(rng):
    hidden = rng.standard_normal((L, B, T, H), dtype=np.float32)  # L hidden states [B, T, H]
    dense = np.ascontiguousarray(hidden[:, :, 0, :])  # their CLS rows [L, B, H]
    w = (rng.standard_normal((C, H)) / np.sqrt(H)).astype(np.float32)
    bias = rng.standard_normal(C, dtype=np.float32)
    lw = rng.standard_normal(L, dtype=np.float32)
    t = rng.standard_normal((B, C), dtype=np.float32)
    return hidden, dense, w, bias, lw, t


def test_without_dropout_equals_numpy(make_head, rng):
    _, x, w, bias, lw, t = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, layers=L, loss="mse")
    s = head.train_step(x=x, w=w, bias=bias, target=t, layer_weights=lw, logits=True)
    assert set(s) == {"loss", "logits", "dx", "dw", "dbias", "dlayer_weights"}
    ref = reference.head(x, w, bias, t, "mse", layer_weights=lw)
    n = K * B + H + C + L
    assert_close(s["loss"], ref["loss"], K * B * C + H + L, "loss")
    assert_close(s["logits"], ref["logits"], H + K + L, "logits")
    assert s["dx"].shape == (L, B, H)
    assert_close(s["dx"], ref["dx"], K * C + H + L, "dx")
    assert_close(s["dw"], ref["dw"], n, "dw")
    assert_close(s["dbias"], ref["dbias"], n, "dbias")
    assert_close(s["dlayer_weights"], ref["dlayer_weights"], n + B * H, "dlayer_weights")
    assert_close(head.predict(x=x, w=w, bias=bias, layer_weights=lw), reference.predict(x, w, bias, lw), H + L,
                 "predict")


def test_hidden_states_in_place(ctx, make_head, rng):
    hidden, dense, w, bias, lw, t = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, layers=L, rate=0.3, layer_rate=0.2, loss="mse")
    strides = dict(x_layer_stride=B * T * H, x_row_stride=T * H)
    a = head.train_step(x=dense, w=w, bias=bias, target=t, layer_weights=lw, seed=11, step=3, logits=True)
    dhidden = np.zeros_like(hidden)
    b = head.train_step(x=hidden, w=w, bias=bias, target=t, layer_weights=lw, seed=11, step=3, logits=True,
                        dx=dhidden, dx_layer_stride=B * T * H, dx_row_stride=T * H, **strides)
    assert "dx" not in b
    for k in ("loss", "logits", "dw", "dbias", "dlayer_weights"):
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    assert np.array_equal(dhidden[:, :, 0, :], a["dx"])
    assert not dhidden[:, :, 1:, :].any()  # only the CLS rows are written
    # the same from device arrays
    dev = ctx.zeros(hidden.shape)
    c = head.train_step(x=ctx.array(hidden), w=w, bias=bias, target=t, layer_weights=ctx.array(lw), seed=11, step=3,
                        dx=dev, dx_layer_stride=B * T * H, dx_row_stride=T * H, **strides)
    assert np.array_equal(dev.numpy(), dhidden) and np.array_equal(c["dw"], a["dw"])
    p = head.predict(x=hidden, w=w, bias=bias, layer_weights=lw, **strides)
    assert np.array_equal(p, head.predict(x=dense, w=w, bias=bias, layer_weights=lw))
    with pytest.raises(ValueError, match="strides"):  # dx=True cannot know the caller's layout
        head.train_step(x=hidden, w=w, bias=bias, target=t, layer_weights=lw, dx_layer_stride=B * T * H,
                        dx_row_stride=T * H, **strides)


def test_layer_weights_are_the_pooled_heads(make_head, rng):
    _, x, w, bias, lw, t = data(rng)
    pooled = make_head(batch=B, features=H, classes=C, samples=K, layers=L, loss="mse")
    plain = make_head(batch=B, features=H, classes=C, samples=K, loss="mse")
    with pytest.raises(TypeError, match="layer_weights is required"):
        pooled.forward(x=x, w=w, bias=bias, target=t)
    with pytest.raises(ValueError, match="pooled head"):
        plain.forward(x=x[0], w=w, bias=bias, target=t, layer_weights=lw)
    with pytest.raises(ValueError, match="pooled head"):
        plain.forward(x=x[0], w=w, bias=bias, target=t, x_row_stride=H)
    with pytest.raises(ValueError, match=r"shape \(4, 16\), but this argument is \(3, 4, 16\)"):
        pooled.forward(x=x[0], w=w, bias=bias, target=t, layer_weights=lw)
    with pytest.raises(ValueError, match="layer_weights: shape"):
        pooled.forward(x=x, w=w, bias=bias, target=t, layer_weights=lw[:2])
