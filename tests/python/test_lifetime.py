# SPDX-License-Identifier: MIT
"""Objects keep their context alive, close() releases everything in the right order whatever is
still referenced, and threads sharing a context take turns (clmsd's thread rule) with the GIL
released: the same bits as one thread."""
import gc
import threading

import numpy as np

import clmsd

B, H, C, K = 8, 16, 4, 3


def test_objects_keep_their_context_alive(rng):
    c = clmsd.Context()
    head = c.head(batch=B, features=H, classes=C, samples=K, rate=0.2, engine="fused")
    opt = head.optimizer("adamw")
    w = c.array(rng.standard_normal((C, H), dtype=np.float32))
    x = rng.standard_normal((B, H), dtype=np.float32)
    t = np.arange(B, dtype=np.int32) % C
    del c
    gc.collect()
    r = head.train_step(x=x, w=w, target=t)
    opt.step(w=w, dw=r["dw"], lr=0.01)
    assert head.context is w.context and not head.context.closed
    for order in ([head, opt, w], [w, opt, head]):  # any order of destruction
        objs = list(order)
        del order
        objs.clear()
    del head, opt, w
    gc.collect()


def test_close_with_live_objects(rng):
    c = clmsd.Context()
    heads = [c.head(batch=B, features=H, classes=C, samples=K, engine="fused", layers=layers) for layers in (0, 2)]
    opts = [h.optimizer(kind) for h in heads for kind in ("sgd", "adamw")]
    arrays = [c.zeros((B, H)) for _ in range(3)]
    c.close()
    assert c.closed
    del heads, opts, arrays  # released already: their deallocation does nothing more
    gc.collect()


def test_threads_share_a_context(ctx, rng):
    head = ctx.head(batch=B, features=H, classes=C, samples=K, rate=0.3, engine="fused")
    x = rng.standard_normal((B, H), dtype=np.float32)
    w = rng.standard_normal((C, H), dtype=np.float32)
    t = np.arange(B, dtype=np.int32) % C
    expected = [head.train_step(x=x, w=w, target=t, seed=3, step=s)["dw"] for s in range(6)]
    results, errors = {}, []

    def work(first):
        try:
            for s in range(first, 6, 2):
                results[s] = head.train_step(x=x, w=w, target=t, seed=3, step=s)["dw"]
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for s in range(6):
        assert np.array_equal(results[s], expected[s]), s
