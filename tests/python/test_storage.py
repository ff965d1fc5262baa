# SPDX-License-Identifier: MIT
"""Storage types and streams: fp16 and bf16 features load exactly (the same bits as float32
features holding their values), dx stores round once to nearest even; the u8 stream's rates."""
import numpy as np
import pytest

import clmsd
import reference

B, H, C, K = 8, 32, 4, 3


def data(rng):
    x = rng.standard_normal((B, H), dtype=np.float32)
    w = (rng.standard_normal((C, H)) / np.sqrt(H)).astype(np.float32)
    bias = rng.standard_normal(C, dtype=np.float32)
    t = rng.integers(0, C, size=B).astype(np.int32)
    return x, w, bias, t


def as_storage(x32, x_type):
    """x in its storage type and the float32 values it holds"""
    if x_type == "float16":
        x = x32.astype(np.float16)
        return x, x.astype(np.float32)
    bits = reference.bf16_bits(x32)
    return bits, reference.bf16_values(bits)


@pytest.mark.parametrize("x_type", ["float16", "bfloat16"])
@pytest.mark.parametrize("dx_type", ["float32", "float16", "bfloat16"])
def test_storage_types(make_head, rng, x_type, dx_type):
    x32, w, bias, t = data(rng)
    x, values = as_storage(x32, x_type)
    plain = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25)
    mixed = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25, x_type=x_type, dx_type=dx_type)
    a = plain.train_step(x=values, w=w, bias=bias, target=t, seed=4, step=1, logits=True)
    b = mixed.train_step(x=x, w=w, bias=bias, target=t, seed=4, step=1, logits=True)
    for k in ("loss", "logits", "dw", "dbias"):
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    if dx_type == "float32":
        assert np.array_equal(b["dx"], a["dx"])
    elif dx_type == "float16":
        assert b["dx"].dtype == np.float16 and np.array_equal(b["dx"], a["dx"].astype(np.float16))
    else:
        assert b["dx"].dtype == clmsd.bfloat16
        assert np.array_equal(b["dx"].view(np.uint16), reference.bf16_bits(a["dx"]))
    assert np.array_equal(mixed.predict(x=x, w=w, bias=bias), plain.predict(x=values, w=w, bias=bias))


def test_bfloat16_features_from_ml_dtypes(make_head, rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x32, w, bias, t = data(rng)
    bits, values = as_storage(x32, "bfloat16")
    head = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25, x_type="bfloat16", dx_type="bfloat16")
    a = head.train_step(x=bits, w=w, bias=bias, target=t, seed=4, step=1)
    b = head.train_step(x=bits.view(ml_dtypes.bfloat16), w=w, bias=bias, target=t, seed=4, step=1)
    assert b["dx"].dtype == ml_dtypes.bfloat16
    for k in ("loss", "dw", "dbias"):
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    assert np.array_equal(a["dx"].view(np.uint16), b["dx"].view(np.uint16))


def test_wrong_storage_type_is_refused(make_head, rng):
    x32, w, bias, t = data(rng)
    head = make_head(batch=B, features=H, classes=C, samples=K, x_type="float16")
    with pytest.raises(TypeError, match="x: dtype float32, but this argument is float16"):
        head.forward(x=x32, w=w)
    with pytest.raises(TypeError, match="x: dtype bfloat16, but this argument is float16"):
        head.forward(x=reference.bf16_bits(x32), w=w)


def test_u8_stream(make_head, rng):
    x, w, bias, t = data(rng)
    v1 = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25)
    u8 = make_head(batch=B, features=H, classes=C, samples=K, rate=0.25, stream="philox_v1_u8")
    a = v1.train_step(x=x, w=w, bias=bias, target=t, seed=4, step=1)
    b = u8.train_step(x=x, w=w, bias=bias, target=t, seed=4, step=1)
    c = u8.train_step(x=x, w=w, bias=bias, target=t, seed=4, step=1)
    assert not np.array_equal(a["dw"], b["dw"]) and np.array_equal(b["dw"], c["dw"])
    with pytest.raises(clmsd.Error) as e:
        make_head(batch=B, features=H, classes=C, samples=K, rate=0.1, stream="philox_v1_u8")
    assert e.value.status == clmsd.ERROR_INVALID_RATE
    assert "256" in str(e.value)  # the message names the two nearest rates the stream can draw
