# SPDX-License-Identifier: MIT
"""Head.optimizer: AdamW and SGD steps against numpy float64 (torch.optim's definitions), on numpy
parameters updated in place and on device arrays with the same bits, and checkpoints that resume
bit for bit."""
import numpy as np
import pytest

import clmsd

B, H, C, L = 4, 12, 3, 3
EPS = np.finfo(np.float32).eps


def params(rng, layers=False):
    p = {"w": rng.standard_normal((C, H), dtype=np.float32), "bias": rng.standard_normal(C, dtype=np.float32)}
    if layers:
        p["layer_weights"] = rng.standard_normal(L, dtype=np.float32)
    return p


def grads(rng, p):
    return {"d" + k: rng.standard_normal(v.shape, dtype=np.float32) for k, v in p.items()}


def adamw64(p, g, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01):
    """torch.optim.AdamW on fixed gradients, in float64"""
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, steps + 1):
        p = p - lr * wd * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (np.sqrt(v) / np.sqrt(1 - beta2**t) + eps)
    return p


def sgd64(p, g, steps, lr, momentum, nesterov, wd):
    """torch.optim.SGD (dampening 0) on fixed gradients, in float64"""
    p = p.astype(np.float64)
    buf = None
    for _ in range(steps):
        d = g + wd * p
        buf = d if buf is None else momentum * buf + d
        p = p - lr * (d + momentum * buf if nesterov else buf)
    return p


def assert_steps_close(got, ref, steps, lr):
    """a few fp32 operations per step, each rounding once: the bound grows with the steps"""
    bound = steps * (16 * EPS * lr + 4 * EPS * np.abs(ref).max())
    assert np.abs(got - ref).max() <= bound


def test_adamw_equals_numpy_and_device_arrays_equal_numpy(ctx, make_head, rng):
    head = make_head(batch=B, features=H, classes=C, samples=1)
    p, steps, lr = params(rng), 3, 0.01
    g = grads(rng, p)
    host = {k: v.copy() for k, v in p.items()}
    dev = {k: ctx.array(v) for k, v in p.items()}
    dg = {k: ctx.array(v) for k, v in g.items()}
    a, b = head.optimizer("adamw"), head.optimizer("adamw", weight_decay=0.01)
    assert a.desc == b.desc == {"kind": "adamw", "momentum": 0.0, "nesterov": False, "beta1": 0.9, "beta2": 0.999,
                                "eps": 1e-8, "weight_decay": 0.01, "max_grad_norm": 0.0}
    for _ in range(steps):
        assert a.step(lr=lr, **host, **g) is None
        b.step(lr=lr, **dev, **dg)
    for k in p:
        assert np.array_equal(dev[k].numpy(), host[k]), k
        assert_steps_close(host[k], adamw64(p[k], g["d" + k], steps, lr), steps, lr)
    n, moments = a.state()
    assert n == steps and moments.dtype == np.float32 and moments.shape == (2 * (C * H + C),) == (a.state_floats,)
    assert a.head is head


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_equals_numpy(make_head, rng, momentum, nesterov):
    head = make_head(batch=B, features=H, classes=C, samples=1)
    p, steps, lr = params(rng), 3, 0.1
    g = grads(rng, p)
    opt = head.optimizer("sgd", momentum=momentum, nesterov=nesterov, weight_decay=0.001)
    host = {k: v.copy() for k, v in p.items()}
    for _ in range(steps):
        opt.step(lr=lr, **host, **g)
    for k in p:
        assert_steps_close(host[k], sgd64(p[k], g["d" + k], steps, lr, momentum, nesterov, 0.001), steps, lr)
    assert opt.state_floats == (0 if momentum == 0 else C * H + C)
    assert opt.state()[1].shape == (opt.state_floats,)


def test_checkpoint_resumes_bit_for_bit(make_head, rng):
    head = make_head(batch=B, features=H, classes=C, samples=1, layers=L)
    p = params(rng, layers=True)
    g = [grads(rng, p) for _ in range(4)]
    whole = {k: v.copy() for k, v in p.items()}
    opt = head.optimizer("adamw", max_grad_norm=1.0)
    for s in range(4):
        opt.step(lr=0.01, **whole, **g[s])
    split = {k: v.copy() for k, v in p.items()}
    first = head.optimizer("adamw", max_grad_norm=1.0)
    for s in range(2):
        first.step(lr=0.01, **split, **g[s])
    steps, moments = first.state()
    assert steps == 2 and moments.shape == (2 * (C * H + C + L),)
    second = head.optimizer("adamw", max_grad_norm=1.0)
    second.load_state(steps, moments)
    for s in range(2, 4):
        second.step(lr=0.01, **split, **g[s])
    for k in p:
        assert np.array_equal(split[k], whole[k]), k
    assert second.state()[0] == 4


def test_training_loop_on_the_device(ctx, make_head, rng):
    """A few train steps and AdamW updates with every tensor on the device: the loss falls."""
    x = rng.standard_normal((B, H), dtype=np.float32)
    t = rng.integers(0, C, size=B).astype(np.int32)
    head = make_head(batch=B, features=H, classes=C, samples=4, rate=0.1)
    w, b = ctx.zeros((C, H)), ctx.zeros(C)
    dw, db = ctx.empty((C, H)), ctx.empty(C)
    xd, td = ctx.array(x), ctx.array(t)
    opt = head.optimizer("adamw")
    losses = []
    for step in range(20):
        r = head.train_step(x=xd, w=w, bias=b, target=td, seed=1, step=step, dx=False, dw=dw, dbias=db)
        opt.step(w=w, dw=dw, bias=b, dbias=db, lr=0.05)
        losses.append(r["loss"])
    assert losses[0] == pytest.approx(np.log(C), rel=1e-6)  # zero weights: uniform softmax
    assert losses[-1] < 0.5 * losses[0]


def test_bad_optimizer_input(ctx, make_head, rng):
    head = make_head(batch=B, features=H, classes=C, samples=1)
    p = params(rng)
    g = grads(rng, p)
    opt = head.optimizer("adamw")
    with pytest.raises(ValueError, match="kind must be 'sgd' or 'adamw'"):
        head.optimizer("adam")
    with pytest.raises(clmsd.Error) as e:
        head.optimizer("adamw", beta1=1.5)
    assert e.value.status == clmsd.ERROR_INVALID_ARGUMENT and "beta" in str(e.value)
    with pytest.raises(clmsd.Error) as e:
        head.optimizer("sgd", nesterov=True)
    assert e.value.status == clmsd.ERROR_INVALID_ARGUMENT
    w0 = p["w"].copy()
    with pytest.raises(clmsd.Error) as e:
        opt.step(lr=-1.0, **p, **g)
    assert e.value.status == clmsd.ERROR_INVALID_ARGUMENT and np.array_equal(p["w"], w0)
    with pytest.raises(clmsd.Error):
        opt.step(lr=float("nan"), **p, **g)
    with pytest.raises(TypeError, match="lr is required"):
        opt.step(**p, **g)
    with pytest.raises(TypeError, match="give both"):
        opt.step(w=p["w"], dw=g["dw"], bias=p["bias"], lr=0.1)
    with pytest.raises(TypeError, match="required"):
        opt.step(bias=p["bias"], dbias=g["dbias"], lr=0.1)
    with pytest.raises(ValueError, match="pooled head"):
        opt.step(w=p["w"], dw=g["dw"], layer_weights=np.zeros(L, np.float32), dlayer_weights=np.zeros(L, np.float32),
                 lr=0.1)
    with pytest.raises(TypeError, match="bool"):
        opt.step(w=True, dw=g["dw"], lr=0.1)
    read_only = p["w"].copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.step(w=read_only, dw=g["dw"], lr=0.1)
    with pytest.raises(ValueError, match=r"w: shape \(12, 3\)"):
        opt.step(w=np.ascontiguousarray(p["w"].T), dw=g["dw"], lr=0.1)
    with pytest.raises(ValueError, match="moments must be"):
        opt.load_state(0, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="moments must be"):
        opt.load_state(0, np.zeros(opt.state_floats, np.float16))
    bad = np.zeros(opt.state_floats, np.float32)
    bad[-1] = -1.0  # a negative v
    with pytest.raises(clmsd.Error) as e:
        opt.load_state(0, bad)
    assert e.value.status == clmsd.ERROR_INVALID_ARGUMENT
    with pytest.raises(ValueError, match="non-negative"):
        opt.load_state(-1, np.zeros(opt.state_floats, np.float32))
