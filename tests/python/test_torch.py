# SPDX-License-Identifier: MIT
"""clmsd.torch against the seed code (bench/seed_head.py's QuestHead, PyTorch float64) with clmsd's
masks replayed: the masks are rebuilt here in numpy from clmsd.stream_words and clmsd.rate_params
(docs/rng.md: element e = (row_offset + r) * cols + c takes word e & 3 of block e >> 2; keep =
word >= threshold, value keep * scale; a pooled head's layer l is sample 2^31 + l). Tolerances as
in bench/seed_head.py and reference.py: 2 n FLT_EPSILON max|ref|, n the terms of the longest float32
sum behind an output. Every test runs (Debian's python3-torch); none may skip."""
import pathlib
import sys

import numpy as np
import pytest
import torch

import clmsd
import clmsd.torch as ct
from reference import EPS, assert_close

SEED = 20260


def masks(ctx, seed, step, k, rows, cols, rate, row_offset=0):
    """clmsd's mask of one sample, keep * scale, [rows, cols] float64"""
    n = rows * cols
    e0 = row_offset * cols
    first = e0 >> 2
    words = clmsd.stream_words(ctx, seed, step, k, first, ((e0 + n - 1) >> 2) - first + 1)
    u = words[e0 - 4 * first:e0 - 4 * first + n]
    t, s = clmsd.rate_params("philox_v1", rate)
    return torch.tensor(((u >= t) * np.float64(s)).reshape(rows, cols))


# the seed code itself, bench/seed_head.py's QuestHead (its ReplayDropout modules are told the masks)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
from seed_head import QuestHead  # noqa: E402


def seed_head(hidden, classes, layers):
    return QuestHead(hidden, classes, layers, [], [])


def replay(ctx, model, step, batch, rate=0.5, layer_rate=0.1):
    """Tells the seed's dropout modules clmsd's masks of (SEED, step)."""
    L, H = model.layer_weights.shape[0], model.classifier.in_features
    model.dropout.masks = [masks(ctx, SEED, step, 0x80000000 + l, batch, H, layer_rate) for l in range(L)]
    model.high_dropout.masks = [masks(ctx, SEED, step, k, batch, H, rate) for k in range(5)]
    model.dropout.calls = model.high_dropout.calls = 0


def randomize(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)


L, B, T, H, C, K = 4, 6, 3, 40, 7, 5
TERMS = L + H + K * B + B * C  # bench/seed_head.py's


def test_quest_head_against_the_seed(ctx):
    gen = torch.Generator().manual_seed(1)
    seed = seed_head(H, C, L)
    randomize(seed, gen)
    ours = ct.QuestHead(H, C, L, seed=SEED, context=ctx, engine="fused")
    ours.load_state_dict(seed.state_dict())
    ours.step = 3
    replay(ctx, seed, 3, B)
    data = torch.randn(L, B, T, H, generator=gen, dtype=torch.float64)
    target = torch.rand(B, C, generator=gen, dtype=torch.float64)
    hs = [data[l].clone().requires_grad_(True) for l in range(L)]
    ho = [data[l].clone().requires_grad_(True) for l in range(L)]
    zs, zo = seed(hs), ours(ho)
    assert zo.shape == (B, C) and zo.dtype == torch.float32 and ours.step == 4
    assert_close(zo.detach().numpy(), zs.detach().numpy(), TERMS, "logits")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    bce(zs, target).backward()
    bce(zo.double(), target).backward()  # any loss the user writes on the logits
    for name in ("layer_weights", "classifier.weight", "classifier.bias"):
        got, want = dict(ours.named_parameters())[name].grad, dict(seed.named_parameters())[name].grad
        assert got.dtype == torch.float32
        assert_close(got.numpy(), want.numpy(), TERMS, name)
    for l in range(L):
        assert ho[l].grad.dtype == torch.float64
        assert_close(ho[l].grad.numpy(), hs[l].grad.numpy(), TERMS, "hidden %d" % l)
        assert not ho[l].grad[:, 1:, :].any()
    # the dropout is there: another step draws other masks
    assert not torch.equal(ours(ho).detach(), zo.detach())


def test_quest_head_average_losses(ctx):
    """combine='average_losses': every sample's logits [K, B, C], the same K products as the seed's"""
    gen = torch.Generator().manual_seed(2)
    seed = seed_head(H, C, L)
    randomize(seed, gen)
    ours = ct.QuestHead(H, C, L, seed=SEED, combine="average_losses", context=ctx, engine="fused")
    ours.load_state_dict(seed.state_dict())
    replay(ctx, seed, 0, B)
    hs = [torch.randn(B, T, H, generator=gen, dtype=torch.float64) for _ in range(L)]
    cls_outputs = torch.stack([seed.dropout(layer[:, 0, :]) for layer in hs], dim=2)
    pooled = (torch.softmax(seed.layer_weights, dim=0) * cls_outputs).sum(-1)
    want = torch.stack([seed.classifier(seed.high_dropout(pooled)) for _ in range(5)])
    got = ours(hs)
    assert got.shape == (K, B, C)
    assert_close(got.detach().numpy(), want.detach().numpy(), TERMS, "logits")


def test_state_dict_round_trip(ctx):
    gen = torch.Generator().manual_seed(3)
    seed = seed_head(H, C, L)
    randomize(seed, gen)
    ours = ct.QuestHead(H, C, L, context=ctx)
    assert set(ours.state_dict()) == set(seed.state_dict()) == {"layer_weights", "classifier.weight",
                                                                 "classifier.bias"}
    assert not ours.layer_weights.any()  # zeros, like the seed's
    ours.load_state_dict(seed.state_dict())
    for name, p in seed.state_dict().items():
        assert ours.state_dict()[name].dtype == torch.float32
        assert torch.equal(ours.state_dict()[name], p.float())
    back = seed_head(H, C, L)
    back.load_state_dict(ours.state_dict())
    for name, p in back.state_dict().items():
        assert p.dtype == torch.float64
        assert torch.equal(p, seed.state_dict()[name].float().double())
    plain = ct.MultiSampleDropoutHead(H, C, context=ctx)
    assert set(plain.state_dict()) == {"classifier.weight", "classifier.bias"}
    lin = torch.nn.Linear(H, C, dtype=torch.float64)
    plain.load_state_dict({"classifier." + k: v for k, v in lin.state_dict().items()})
    assert torch.equal(plain.classifier.weight, lin.weight.float())


class Backbone(torch.nn.Module):
    """A stand-in for RoBERTa: one Linear making L hidden states [B, T, H] from the data."""

    def __init__(self, inputs):
        super().__init__()
        self.proj = torch.nn.Linear(inputs, L * H, dtype=torch.float64)

    def forward(self, data):
        h = torch.tanh(self.proj(data)).view(data.shape[0], data.shape[1], L, H)
        return [h[:, :, l, :] for l in range(L)]


def test_training_both_ways(ctx):
    """5 AdamW steps of backbone + head: the seed head (float64, clmsd's masks replayed) and
    clmsd.torch.QuestHead (float32) from the same parameters stay together."""
    steps, lr, inputs = 5, 1e-3, 12
    gen = torch.Generator().manual_seed(4)
    bb_seed, bb_ours = Backbone(inputs), Backbone(inputs)
    randomize(bb_seed, gen)
    bb_ours.load_state_dict(bb_seed.state_dict())
    seed = seed_head(H, C, L)
    randomize(seed, gen)
    ours = ct.QuestHead(H, C, L, seed=SEED, context=ctx, engine="fused")
    ours.load_state_dict(seed.state_dict())
    opt_seed = torch.optim.AdamW(list(bb_seed.parameters()) + list(seed.parameters()), lr=lr)
    opt_ours = torch.optim.AdamW(list(bb_ours.parameters()) + list(ours.parameters()), lr=lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for step in range(steps):
        data = torch.randn(B, T, inputs, generator=gen, dtype=torch.float64)
        target = torch.rand(B, C, generator=gen, dtype=torch.float64)
        replay(ctx, seed, step, B)
        for bb, head, opt in ((bb_seed, seed, opt_seed), (bb_ours, ours, opt_ours)):
            opt.zero_grad()
            loss = bce(head(bb(data)).double(), target)
            loss.backward()
            opt.step()
    assert ours.step == steps
    # AdamW moves every parameter by about lr a step whatever the gradient's size, so the float32
    # gradients' error (2 TERMS eps relative) moves a parameter by at most about that much of lr
    # a step, except where a gradient is near zero: there Adam's m / sqrt(v) turns the error into
    # up to lr. The bound: steps lr (2 TERMS eps)^(1/2), plus the float32 storage of the head's
    # parameters (eps max|p|).
    tol_update = steps * lr * np.sqrt(2 * TERMS * EPS)
    for (name, ps), po in zip(list(bb_seed.named_parameters()) + list(seed.named_parameters()),
                              list(bb_ours.parameters()) + list(ours.parameters())):
        err = (po.detach().double() - ps.detach()).abs().max().item()
        tol = tol_update + EPS * ps.detach().abs().max().item()
        assert err <= tol, "%s: %g over %g" % (name, err, tol)
    print("training: max parameter gap", max((po.detach().double() - ps.detach()).abs().max().item()
          for ps, po in zip(list(bb_seed.parameters()) + list(seed.parameters()),
                            list(bb_ours.parameters()) + list(ours.parameters()))))


@pytest.mark.parametrize("combine", ["average_logits", "average_losses"])
def test_multi_sample_dropout_head(ctx, combine):
    F, rates = 24, [0.1, 0.2, 0.3, 0.4, 0.5]
    gen = torch.Generator().manual_seed(5)
    head = ct.MultiSampleDropoutHead(F, C, samples=K, rate=rates, combine=combine, seed=SEED, context=ctx,
                                     engine="fused")
    lin = torch.nn.Linear(F, C, dtype=torch.float64)
    randomize(lin, gen)
    head.classifier.load_state_dict(lin.state_dict())
    x = torch.randn(B, F, generator=gen, dtype=torch.float64)
    t = torch.randn(B, C, generator=gen, dtype=torch.float64)
    terms = F + K * B + B * C
    for step in range(2):
        xr, xo = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        lin.zero_grad()
        head.zero_grad()
        zk = torch.stack([lin(xr * masks(ctx, SEED, step, k, B, F, rates[k])) for k in range(K)])
        want = zk.mean(0) if combine == "average_logits" else zk
        got = head(xo)
        assert got.shape == want.shape and head.step == step + 1
        assert_close(got.detach().numpy(), want.detach().numpy(), terms, "logits")
        ((want - t) ** 2).mean().backward()  # MSE, averaged over the samples too under average_losses
        ((got.double() - t) ** 2).mean().backward()
        assert_close(xo.grad.numpy(), xr.grad.numpy(), terms, "dx")
        assert_close(head.classifier.weight.grad.numpy(), lin.weight.grad.numpy(), terms, "dw")
        assert_close(head.classifier.bias.grad.numpy(), lin.bias.grad.numpy(), terms, "db")
    # eval: no dropout, the step stays
    head.eval()
    xr, xo = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    lin.zero_grad()
    head.zero_grad()
    want = lin(xr)
    got = head(xo)
    assert head.step == 2
    if combine == "average_losses":
        assert got.shape == (K, B, C) and all(torch.equal(got[k], got[0]) for k in range(K))
        want = want.expand(K, B, C)
    assert_close(got.detach().numpy(), want.detach().numpy(), terms, "eval logits")
    ((want - t) ** 2).mean().backward()
    ((got.double() - t) ** 2).mean().backward()
    assert_close(xo.grad.numpy(), xr.grad.numpy(), terms, "eval dx")
    assert_close(head.classifier.weight.grad.numpy(), lin.weight.grad.numpy(), terms, "eval dw")
    with torch.no_grad():
        assert torch.equal(head(x.float()), got.detach())


def test_batch_sizes_and_bad_input(ctx):
    head = ct.MultiSampleDropoutHead(8, 3, context=ctx, engine="fused")
    for b in (4, 4, 3):  # the last partial batch: another head, cached
        assert head(torch.randn(b, 8)).shape == (b, 3)
    assert sorted(head._heads) == [(3, False), (4, False)]
    with pytest.raises(ValueError, match="x must be"):
        head(torch.randn(4, 9))
    with pytest.raises(ValueError, match="combine"):
        ct.MultiSampleDropoutHead(8, 3, combine="average_probs", context=ctx)
    q = ct.QuestHead(8, 3, 2, context=ctx, engine="fused")
    with pytest.raises(ValueError, match="hidden_layers"):
        q([torch.randn(2, 3, 8)])
    with pytest.raises(ValueError, match="layers"):
        ct.QuestHead(8, 3, 1, context=ctx)


@pytest.mark.parametrize("path, after", [("README.md", "`clmsd.torch` puts"), ("docs/python.md", "## clmsd.torch")])
def test_docs_example_runs(ctx, path, after):
    """The README's and docs/python.md's QuestModel, with a stand-in for transformers' RoBERTa
    (25 hidden states [B, T, 1024])."""
    import re
    import sys
    import types
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / path).read_text(encoding="utf-8")
    code = re.compile(r"^```python\n(.*?)^```$", re.S | re.M).search(text, text.index(after)).group(1)

    class Roberta(torch.nn.Module):
        @classmethod
        def from_pretrained(cls, name, config=None):
            assert name == "roberta-large" and config.output_hidden_states
            return cls()

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(50, 1024)

        def forward(self, ids, attention_mask=None):
            h = self.embed(ids)
            return types.SimpleNamespace(hidden_states=tuple(torch.tanh(h * (l + 1)) for l in range(25)))

    fake = types.ModuleType("transformers")
    fake.RobertaModel = Roberta
    fake.RobertaConfig = types.SimpleNamespace(from_pretrained=lambda name, **kw: types.SimpleNamespace(**kw))
    saved = sys.modules.get("transformers")
    sys.modules["transformers"] = fake
    try:
        scope = {"torch": torch, "clmsd": clmsd, "RobertaConfig": fake.RobertaConfig, "RobertaModel": Roberta}
        exec(compile(code, path, "exec"), scope)
    finally:
        if saved is None:
            del sys.modules["transformers"]
        else:
            sys.modules["transformers"] = saved
    model = scope["QuestModel"]()
    ids = torch.randint(0, 50, (2, 3))
    logits = model(ids, torch.ones(2, 3))
    assert logits.shape == (2, 30)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.rand(2, 30)).backward()
    assert model.roberta.embed.weight.grad.abs().sum() > 0 and model.head.layer_weights.grad is not None


def test_heads_follow_the_default_context_after_a_close():
    """A head made on the shared context is made again once that context is closed (the next
    default_context() is a new one), not left on the closed one."""
    head = ct.MultiSampleDropoutHead(8, 3, samples=2, engine="fused")
    x = torch.ones(4, 8)
    first = head(x)
    ct.default_context().close()
    again = head(x)
    assert again.shape == first.shape == (4, 3)
    assert not head._heads[(4, False)].context.closed
