# SPDX-License-Identifier: MIT
"""clmsd.Array: data on the device, in every element type, copied there and back bit for bit."""
import subprocess
import sys

import numpy as np
import pytest

import clmsd


def bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32}[a.dtype.itemsize])


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint16"])
def test_round_trip(ctx, rng, dtype):
    a = rng.integers(0, 2**16, size=(3, 5, 7)).astype(np.uint16)
    a = a.view(np.float16) if dtype == "float16" else a.astype(dtype)
    if dtype == "float32":
        a = rng.standard_normal((3, 5, 7), dtype=np.float32)
        a[0, 0, :3] = [np.nan, -0.0, np.inf]
    d = ctx.array(a)
    assert d.shape == (3, 5, 7) and d.ndim == 3 and d.size == 105 and d.nbytes == a.nbytes
    assert d.context is ctx
    back = d.numpy()
    assert back.shape == a.shape
    assert np.array_equal(bits(back), bits(a))
    assert np.array_equal(bits(np.asarray(d)), bits(a))  # __array__


def test_bfloat16_as_uint16_is_clmsd_bfloat16(ctx):
    a = np.array([0x3F80, 0xBF80, 0x7F80, 0x0001], dtype=np.uint16)  # 1, -1, inf, the least subnormal
    d = ctx.array(a)
    assert d.dtype == clmsd.bfloat16
    assert np.array_equal(d.numpy().view(np.uint16), a)
    assert "bfloat16" in repr(d)


def test_bfloat16_with_ml_dtypes(ctx):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    assert clmsd.bfloat16 == np.dtype(ml_dtypes.bfloat16)
    a = np.array([1.0, -2.5, 3.0e38, 1e-40], dtype=np.float32).astype(ml_dtypes.bfloat16)
    d = ctx.array(a)
    back = d.numpy()
    assert back.dtype == ml_dtypes.bfloat16
    assert np.array_equal(back.view(np.uint16), a.view(np.uint16))
    e = ctx.empty(4, "bfloat16")
    e.write(a)
    assert np.array_equal(e.numpy().view(np.uint16), a.view(np.uint16))


def test_bfloat16_without_ml_dtypes_is_uint16():
    """Where ml_dtypes does not import, bfloat16 data comes back as its bits in uint16."""
    code = ("import sys; sys.modules['ml_dtypes'] = None\n"
            "import numpy as np, clmsd\n"
            "assert clmsd.bfloat16 == np.dtype(np.uint16), clmsd.bfloat16\n"
            "with clmsd.Context() as c:\n"
            "    d = c.array(np.array([0x3F80], dtype=np.uint16))\n"
            "    assert d.dtype == np.uint16 and d.numpy().tolist() == [0x3F80]\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("dtype, src", [
    ("float32", np.arange(4, dtype=np.float32)),
    (np.float16, np.arange(4, dtype=np.float16)),
    (np.dtype("int32"), np.arange(4, dtype=np.int32)),
    ("bfloat16", np.array([0x3F80, 0x4000, 0x4040, 0x4080], dtype=np.uint16)),
    ("uint16", np.array([0x3F80, 0x4000, 0x4040, 0x4080], dtype=np.uint16)),
])
def test_empty_zeros_and_write(ctx, dtype, src):
    z = ctx.zeros((2, 3), dtype)
    assert z.shape == (2, 3)
    assert not z.numpy().view(np.uint8).any()
    e = ctx.empty([4], dtype)
    e.write(src)
    assert np.array_equal(bits(e.numpy()), bits(src))


def test_defaults_and_scalars(ctx):
    assert ctx.empty(3).dtype == np.float32 and ctx.empty(3).shape == (3,)
    z = ctx.zeros(())
    assert z.shape == () and z.size == 1 and z.numpy() == 0


def test_write_checks_dtype_shape_layout(ctx, rng):
    d = ctx.zeros((4, 6))
    with pytest.raises(TypeError, match="dtype float16"):
        d.write(np.zeros((4, 6), np.float16))
    with pytest.raises(ValueError, match=r"shape \(6, 4\)"):
        d.write(np.zeros((6, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        d.write(np.zeros((6, 4), np.float32).T)
    with pytest.raises(TypeError):
        d.write(ctx.zeros((4, 6)))
    with pytest.raises(TypeError):
        d.write([[0.0] * 6] * 4)
    assert not d.numpy().any()


def test_bad_arrays(ctx):
    with pytest.raises(TypeError, match="unsupported dtype"):
        ctx.array(np.zeros(3, np.float64))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ctx.array(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ctx.array(np.zeros(3, ">f4"))  # not the native byte order
    with pytest.raises(TypeError):
        ctx.array([1.0, 2.0])
    with pytest.raises(ValueError, match="C-contiguous"):
        ctx.array(np.zeros((4, 4), np.float32)[:, 1])
    with pytest.raises(ValueError, match="at least one element"):
        ctx.array(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="at least one element"):
        ctx.empty((2, 0))
    with pytest.raises(ValueError, match="non-negative"):
        ctx.empty((2, -1))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ctx.empty(3, "float64")
    with pytest.raises(TypeError, match="unsupported dtype"):
        ctx.zeros(3, "no such type")
    with pytest.raises(TypeError):
        ctx.empty("3")
    with pytest.raises(ValueError, match="dimensions"):
        ctx.empty((1,) * 9)
    with pytest.raises(TypeError, match="already a clmsd.Array"):
        ctx.array(ctx.zeros(1))


def test_arrays_of_a_closed_context():
    c = clmsd.Context()
    d = c.array(np.ones(3, np.float32))
    c.close()
    with pytest.raises(ValueError, match="closed"):
        d.numpy()
    with pytest.raises(ValueError, match="closed"):
        d.write(np.ones(3, np.float32))
    assert d.shape == (3,) and "closed" in repr(d)
