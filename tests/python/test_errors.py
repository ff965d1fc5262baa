# SPDX-License-Identifier: MIT
"""Bad input from Python, each refused with a clear error before anything reaches the device:
wrong dtypes, shapes and layouts, unknown names, negative or overflowing integers, arrays of
another context; and what the library refuses, as clmsd.Error with its status and message."""
import numpy as np
import pytest

import clmsd

B, H, C, K = 4, 8, 3, 2
DESC = dict(batch=B, features=H, classes=C, samples=K, rate=0.25, engine="fused")


@pytest.fixture
def head(make_head):
    return make_head(**DESC)


@pytest.fixture
def args(rng):
    return dict(x=rng.standard_normal((B, H), dtype=np.float32), w=rng.standard_normal((C, H), dtype=np.float32),
                bias=np.zeros(C, np.float32), target=np.arange(B, dtype=np.int32) % C)


def test_clmsd_error_carries_status_and_message(ctx):
    assert issubclass(clmsd.Error, RuntimeError)
    with pytest.raises(clmsd.Error) as e:
        ctx.head(**dict(DESC, batch=0))
    assert e.value.status == clmsd.ERROR_INVALID_SIZE
    assert e.value.status_name == "invalid size"
    assert str(e.value).startswith("clmsd_head_create: ") and "batch (0)" in str(e.value)


@pytest.mark.parametrize("field, value, error, match", [
    ("loss", "cross_entropy", ValueError, "loss must be 'softmax_cross_entropy', 'bce_with_logits', 'mse' or 'huber'"),
    ("combine", "mean", ValueError, "combine must be 'average_losses' or 'average_logits'"),
    ("engine", "cuda", ValueError, "engine must be 'auto', 'clblast' or 'fused'"),
    ("stream", "philox", ValueError, "stream must be 'philox_v1' or 'philox_v1_u8'"),
    ("x_type", "float64", ValueError, "x_type must be 'float32', 'float16' or 'bfloat16'"),
    ("dx_type", "int8", ValueError, "dx_type must be"),
    ("loss", 0, TypeError, "loss must be"),
    ("batch", -1, ValueError, "batch must be a non-negative integer"),
    ("features", -8, ValueError, "features must be a non-negative integer"),
    ("classes", -3, ValueError, "classes must be a non-negative integer"),
    ("samples", -2, ValueError, "samples must be a non-negative integer"),
    ("samples", 2**32, ValueError, "samples must be at most 4294967295"),
    ("layers", -2, ValueError, "layers must be a non-negative integer"),
    ("batch", 2**64, ValueError, "batch must be at most"),
    ("batch", 4.0, TypeError, "batch must be an integer"),
    ("batch", True, TypeError, "batch must be an integer"),
    ("rate", "0.5", TypeError, "rate must be a number"),
    ("rates", [0.1], ValueError, "rates holds 1 rates but samples is 2"),
    ("rates", 0.1, TypeError, "rates must be a sequence"),
    ("rates", [0.1, "a"], TypeError, "every rate of rates must be a number"),
    ("huber_delta", None, TypeError, "huber_delta must be a number"),
    ("nonsense", 1, TypeError, "unexpected keyword argument 'nonsense'"),
])
def test_bad_descriptors(ctx, field, value, error, match):
    desc = dict(DESC, **{field: value})
    if field == "rates":
        desc.pop("rate")
    with pytest.raises(error, match=match):
        ctx.head(**desc)


def test_descriptor_arguments(ctx):
    with pytest.raises(TypeError, match="samples is required"):
        ctx.head(batch=B, features=H, classes=C)
    with pytest.raises(TypeError, match="keyword arguments only"):
        ctx.head(B, H, C, K)
    with pytest.raises(ValueError, match="not both"):
        ctx.head(**dict(DESC, rates=[0.1, 0.2]))


@pytest.mark.parametrize("field, value, status", [
    ("rate", 1.0, clmsd.ERROR_INVALID_RATE),
    ("rate", float("nan"), clmsd.ERROR_INVALID_RATE),
    ("rates", [0.1, -0.1], clmsd.ERROR_INVALID_RATE),
    ("batch", 0, clmsd.ERROR_INVALID_SIZE),
    ("samples", 0, clmsd.ERROR_INVALID_SIZE),
    ("huber_delta", -1.0, clmsd.ERROR_INVALID_ARGUMENT),
])
def test_what_the_library_refuses(ctx, field, value, status):
    desc = dict(DESC, loss="huber", **{field: value})
    if field == "rates":
        desc.pop("rate")
    with pytest.raises(clmsd.Error) as e:
        ctx.head(**desc)
    assert e.value.status == status and str(e.value)


@pytest.mark.parametrize("name, bad, error, match", [
    ("x", lambda a: a["x"].astype(np.float64), TypeError, "x: unsupported dtype"),
    ("x", lambda a: a["x"].astype(np.float16), TypeError, "x: dtype float16, but this argument is float32"),
    ("x", lambda a: a["x"][:, :4].copy(), ValueError, r"x: shape \(4, 4\), but this argument is \(4, 8\)"),
    ("x", lambda a: a["x"].reshape(-1), ValueError, r"x: shape \(32,\), but this argument is \(4, 8\)"),
    ("x", lambda a: np.asfortranarray(a["x"]), ValueError, "x: the array is not C-contiguous"),
    ("x", lambda a: a["x"].tolist(), TypeError, "x: expected a numpy array or a clmsd.Array"),
    ("x", lambda a: None, TypeError, "x is required"),
    ("w", lambda a: np.repeat(a["w"], 2, axis=1)[:, ::2], ValueError, "w: the array is not C-contiguous"),
    ("bias", lambda a: np.zeros(C + 1, np.float32), ValueError, "bias: shape"),
    ("target", lambda a: a["target"].astype(np.int64), TypeError, "target: unsupported dtype"),
    ("target", lambda a: a["target"].astype(np.float32), TypeError, "target: dtype float32, but this argument is "
                                                                    "int32"),
    ("target", lambda a: None, TypeError, "target is required"),
    ("seed", lambda a: -1, ValueError, "seed must be a non-negative integer"),
    ("seed", lambda a: 2**64, ValueError, "seed must be at most 18446744073709551615"),
    ("step", lambda a: 1.5, TypeError, "step must be an integer"),
    ("row_offset", lambda a: -4, ValueError, "row_offset must be a non-negative integer"),
    ("dw", lambda a: np.zeros((C, H), np.float16), TypeError, "dw: dtype float16"),
    ("dw", lambda a: np.zeros((H, C), np.float32), ValueError, r"dw: shape \(8, 3\)"),
    ("dx", lambda a: np.zeros((B, H), np.float32)[::-1], ValueError, "dx: the array is not C-contiguous"),
    ("loss", lambda a: np.zeros(2, np.float32), ValueError, r"loss: shape \(2,\), but this argument is \(1,\)"),
    ("ignored", lambda a: np.zeros(1, np.float32), TypeError, "ignored: dtype float32, but this argument is int32"),
    ("layer_weights", lambda a: np.zeros(2, np.float32), ValueError, "pooled head"),
    ("x_layer_stride", lambda a: 8, ValueError, "pooled head"),
    ("accumulate", lambda a: np.array([1, 2]), TypeError, "accumulate must be true or false"),
    ("nonsense", lambda a: 1, TypeError, "train_step\\(\\) got an unexpected keyword argument 'nonsense'"),
])
def test_bad_call_arguments(head, args, name, bad, error, match):
    a = dict(args, **{name: bad(args)})
    if a[name] is None:
        del a[name]
    with pytest.raises(error, match=match):
        head.train_step(**a)


def test_read_only_outputs_and_inputs(head, args):
    out = np.zeros((C, H), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="dw: the output array is read-only"):
        head.train_step(dw=out, **args)
    x = args["x"].copy()
    x.flags.writeable = False  # read-only inputs are fine
    head.forward(**dict(args, x=x))


def test_call_arguments(head, args):
    with pytest.raises(TypeError, match="keyword arguments only"):
        head.forward(args["x"], args["w"])
    with pytest.raises(TypeError, match="forward\\(\\) got an unexpected keyword argument 'dw'"):
        head.forward(dw=True, **args)
    with pytest.raises(TypeError, match="predict\\(\\) got an unexpected keyword argument 'target'"):
        head.predict(**args)
    with pytest.raises(ValueError, match="logits cannot be False"):
        head.predict(x=args["x"], w=args["w"], logits=False)
    with pytest.raises(TypeError, match="w is required"):
        head.forward(x=args["x"])


def test_arrays_of_another_context(ctx, head, args):
    with clmsd.Context() as other:
        with pytest.raises(ValueError, match="x: a clmsd.Array of another context"):
            head.forward(**dict(args, x=other.array(args["x"])))
        with pytest.raises(ValueError, match="dw: a clmsd.Array of another context"):
            head.train_step(dw=other.zeros((C, H)), **args)
        with pytest.raises(ValueError, match="workspace: a clmsd.Array of another context"):
            ctx.head(workspace=other.zeros(1 << 16), **DESC)


def test_device_array_checks(ctx, head, args):
    with pytest.raises(TypeError, match="w: dtype float16"):
        head.forward(**dict(args, w=ctx.zeros((C, H), "float16")))
    with pytest.raises(ValueError, match=r"w: shape \(3, 8, 1\)"):
        head.forward(**dict(args, w=ctx.zeros((C, H, 1))))


def test_failed_calls_write_nothing(ctx, head, args):
    """The library validates before it enqueues: a refused call leaves the outputs as they were."""
    dw = ctx.array(np.full((C, H), 7.0, np.float32))
    with pytest.raises(clmsd.Error) as e:  # rows past the 2^34 elements of CLMSD_MAX_ELEMENTS
        head.train_step(dw=dw, row_offset=2**40, **args)
    assert e.value.status == clmsd.ERROR_INVALID_SIZE
    assert (dw.numpy() == 7.0).all()


def test_closed_context_on_every_object(args):
    c = clmsd.Context()
    head = c.head(**DESC)
    opt = head.optimizer("sgd")
    w = c.array(args["w"])
    c.close()
    uses = [lambda: head.forward(**args), lambda: head.train_step(**args), lambda: head.predict(x=args["x"], w=w),
            lambda: head.engine, lambda: head.optimizer("sgd"), lambda: opt.step(w=args["w"], dw=args["w"], lr=0.1),
            opt.state, lambda: opt.load_state(0, np.zeros(0, np.float32)), lambda: opt.state_floats, w.numpy,
            lambda: w.write(args["w"]), lambda: c.array(args["w"]), lambda: c.zeros(3)]
    for use in uses:
        with pytest.raises(ValueError, match="the context is closed"):
            use()
    assert head.batch == B and "closed" in repr(head)  # the descriptor stays readable
