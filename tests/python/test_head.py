# SPDX-License-Identifier: MIT
"""Head.forward, .train_step and .predict: against numpy float64 without dropout (every loss, both
combine modes), and with dropout equal to themselves: a second call, device arrays instead of
numpy ones, a batch split by row_offset, accumulation."""
import numpy as np
import pytest

import clmsd
import reference
from reference import assert_close

B, H, C, K = 8, 24, 5, 4


def targets(rng, loss, b=B, c=C):
    if loss == "softmax_cross_entropy":
        t = rng.integers(0, c, size=b).astype(np.int32)
        t[1] = -100  # PyTorch's ignore_index: left out of loss and gradients
        return t
    if loss == "bce_with_logits":
        return rng.random((b, c), dtype=np.float32)
    return rng.standard_normal((b, c), dtype=np.float32)


def data(rng, b=B, h=H, c=C):
    x = rng.standard_normal((b, h), dtype=np.float32)
    w = (rng.standard_normal((c, h)) / np.sqrt(h)).astype(np.float32)
    bias = rng.standard_normal(c, dtype=np.float32)
    return x, w, bias


@pytest.mark.parametrize("combine", ["average_losses", "average_logits"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "bce_with_logits", "mse", "huber"])
def test_without_dropout_equals_numpy(make_head, rng, loss, combine):
    x, w, bias = data(rng)
    t = targets(rng, loss)
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.0, loss=loss, combine=combine,
                     huber_delta=0.5)
    ref = reference.head(x, w, bias, t, loss, huber_delta=0.5)
    f = head.forward(x=x, w=w, bias=bias, target=t, seed=3, step=1)
    assert set(f) == {"loss", "logits"} and isinstance(f["loss"], float)
    s = head.train_step(x=x, w=w, bias=bias, target=t, seed=3, step=1, logits=True)
    assert set(s) == {"loss", "logits", "dx", "dw", "dbias"}
    for r in (f, s):
        assert_close(r["loss"], ref["loss"], K * B * C + H, "loss")
        assert_close(r["logits"], ref["logits"], H + K, "logits")
    assert s["dx"].dtype == np.float32 and s["dx"].shape == (B, H)
    assert_close(s["dx"], ref["dx"], K * C + H, "dx")
    assert_close(s["dw"], ref["dw"], K * B + H + C, "dw")
    assert_close(s["dbias"], ref["dbias"], K * B + H + C, "dbias")
    assert_close(head.predict(x=x, w=w, bias=bias), reference.predict(x, w, bias), H, "predict")


def test_no_bias(make_head, rng):
    x, w, _ = data(rng)
    t = targets(rng, "mse")
    head = make_head(batch=B, features=H, classes=C, samples=2, loss="mse")
    s = head.train_step(x=x, w=w, target=t)
    assert "dbias" not in s
    ref = reference.head(x, w, None, t, "mse")
    assert_close(s["dw"], ref["dw"], 2 * B + H + C, "dw")
    assert_close(head.predict(x=x, w=w), reference.predict(x, w, None), H, "predict")


def test_dropout_calls_are_deterministic(make_head, rng):
    x, w, bias = data(rng)
    t = targets(rng, "softmax_cross_entropy")
    head = make_head(batch=B, features=H, classes=C, samples=K, rates=[0.1, 0.2, 0.3, 0.5])
    a = head.train_step(x=x, w=w, bias=bias, target=t, seed=42, step=7, logits=True)
    b = head.train_step(x=x, w=w, bias=bias, target=t, seed=42, step=7, logits=True)
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    f = head.forward(x=x, w=w, bias=bias, target=t, seed=42, step=7)
    assert f["loss"] == a["loss"] and np.array_equal(f["logits"], a["logits"])
    c = head.train_step(x=x, w=w, bias=bias, target=t, seed=42, step=8)
    assert not np.array_equal(c["dw"], a["dw"])  # fresh masks every step
    # dropout leaves predict alone
    assert_close(head.predict(x=x, w=w, bias=bias), reference.predict(x, w, bias), H, "predict")


def test_device_arrays_give_the_same_bits(ctx, make_head, rng):
    x, w, bias = data(rng)
    t = targets(rng, "softmax_cross_entropy")
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25, combine="average_logits")
    host = head.train_step(x=x, w=w, bias=bias, target=t, seed=5, step=2, logits=True, ignored=True)
    dx, dw, db = ctx.empty((B, H)), ctx.empty((C, H)), ctx.empty(C)
    loss, logits = ctx.empty(1), ctx.empty((B, C))
    dev = head.train_step(x=ctx.array(x), w=ctx.array(w), bias=ctx.array(bias), target=ctx.array(t), seed=5, step=2,
                          loss=loss, logits=logits, dx=dx, dw=dw, dbias=db, ignored=True)
    assert dev == {"ignored": 1} and host["ignored"] == 1
    assert loss.numpy()[0] == np.float32(host["loss"])
    for name, d in (("logits", logits), ("dx", dx), ("dw", dw), ("dbias", db)):
        assert np.array_equal(d.numpy(), host[name]), name
    # numpy arrays given as outputs are written in place
    out = np.full((C, H), np.nan, np.float32)
    r = head.train_step(x=x, w=w, bias=bias, target=t, seed=5, step=2, dw=out, dx=False, dbias=False, loss=False)
    assert r == {} and np.array_equal(out, host["dw"])


def test_row_offset_splits_the_batch(make_head, rng):
    """Masks are keyed on global rows: each half of a batch, called with its row_offset, gets the
    logits rows of the whole batch's call."""
    x, w, bias = data(rng)
    t = targets(rng, "mse")
    whole = make_head(batch=B, features=H, classes=C, samples=K, rate=0.4, loss="mse")
    half = make_head(batch=B // 2, features=H, classes=C, samples=K, rate=0.4, loss="mse")
    z = whole.forward(x=x, w=w, bias=bias, target=t, seed=9, step=4)["logits"]
    for first in (0, B // 2):
        rows = slice(first, first + B // 2)
        zh = half.forward(x=np.ascontiguousarray(x[rows]), w=w, bias=bias, seed=9, step=4, row_offset=first)
        assert set(zh) == {"logits"}  # no target: no loss
        assert np.array_equal(zh["logits"], z[rows])


def test_accumulate_adds_into_the_outputs(ctx, make_head, rng):
    x, w, bias = data(rng)
    t = targets(rng, "bce_with_logits")
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.5, loss="bce_with_logits")
    once = head.train_step(x=x, w=w, bias=bias, target=t, seed=1, step=0)
    dx, dw, db = ctx.zeros((B, H)), ctx.zeros((C, H)), ctx.zeros(C)
    host_dw = np.zeros((C, H), np.float32)
    for _ in range(2):
        head.train_step(x=x, w=w, bias=bias, target=t, seed=1, step=0, accumulate=True, dx=dx, dw=dw, dbias=db)
        # (accumulating, the gradients not named are not computed)
        head.train_step(x=x, w=w, bias=bias, target=t, seed=1, step=0, accumulate=True, dw=host_dw)
    for name, d in (("dx", dx.numpy()), ("dw", dw.numpy()), ("dbias", db.numpy()), ("host dw", host_dw)):
        assert np.array_equal(d, 2 * once[name.split()[-1]]), name  # g + g is 2 g exactly
    with pytest.raises(ValueError, match="accumulate"):
        head.train_step(x=x, w=w, bias=bias, target=t, accumulate=True, dx=True)  # nothing to add into


def test_ignored_class_ids(make_head, rng):
    x, w, bias = data(rng)
    t = np.array([0, -100, C, 1, 2, 2**31 - 1, 3, 4], dtype=np.int32)
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.1)
    f = head.forward(x=x, w=w, bias=bias, target=t, ignored=True)
    assert f["ignored"] == 3 and isinstance(f["ignored"], int)
    t[:] = -1
    s = head.train_step(x=x, w=w, bias=bias, target=t, ignored=True)
    assert s["ignored"] == B and s["loss"] == 0.0 and not s["dw"].any()


def test_every_descriptor_field(ctx, make_head):
    desc = dict(batch=4, features=8, classes=3, samples=2, rates=[0.25, 0.5], loss="huber", combine="average_logits",
                engine="fused", layers=2, layer_rate=0.125, stream="philox_v1_u8", x_type="float16",
                dx_type="bfloat16", huber_delta=2.0)
    head = ctx.head(**desc)
    got = head.desc
    assert got.pop("rates") == (0.25, 0.5) and got.pop("rate") == 0.0
    desc.pop("rates")
    assert got == desc
    assert (head.batch, head.features, head.classes, head.samples, head.layers) == (4, 8, 3, 2, 2)
    assert (head.loss, head.combine, head.stream, head.x_type, head.dx_type) == (
        "huber", "average_logits", "philox_v1_u8", "float16", "bfloat16")
    assert head.engine == "fused" and head.context is ctx and "huber" in repr(head)
    assert make_head(batch=4, features=8, classes=3, samples=1, engine="auto").engine in ("clblast", "fused")
    # the CLBlast engine is planned here, not run (its first call compiles CLBlast's GEMM)
    assert make_head(batch=4, features=8, classes=3, samples=1, engine="clblast").engine == "clblast"


def test_workspace(ctx, make_head, rng):
    x, w, bias = data(rng)
    t = targets(rng, "softmax_cross_entropy")
    desc = dict(batch=B, features=H, classes=C, samples=K, rate=0.3, engine="fused")
    size = clmsd.head_workspace_size(**desc)
    assert size > 0
    workspace = ctx.empty((size + 3) // 4)  # float32: at least `size` bytes
    own = make_head(**desc)
    given = ctx.head(workspace=workspace, **desc)
    assert given.desc["workspace"] is workspace
    a = own.train_step(x=x, w=w, bias=bias, target=t, seed=2, step=3)
    b = given.train_step(x=x, w=w, bias=bias, target=t, seed=2, step=3)
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    with pytest.raises(clmsd.Error) as e:
        ctx.head(workspace=ctx.empty(1), **desc)
    assert e.value.status == clmsd.ERROR_INVALID_BUFFER
    with pytest.raises(TypeError):
        clmsd.head_workspace_size(workspace=workspace, **desc)
    with pytest.raises(TypeError, match="clmsd.Array"):
        ctx.head(workspace=np.zeros(size, np.uint8), **desc)
