# SPDX-License-Identifier: MIT
"""clmsd.torch: clmsd's heads as torch.nn.Modules (docs/python.md, "clmsd.torch").

`MultiSampleDropoutHead` (features -> classes, K dropout samples) and `QuestHead` (the QUEST
model's layer-pooled head: softmax-weighted CLS rows of L hidden states, then K samples) hold their
parameters under the seed code's names (`layer_weights`, `classifier.weight`, `classifier.bias`),
so the seed's state_dict loads into them and back. Their forward and backward run through clmsd
(Head.logits / Head.backward, a torch.autograd.Function), so any loss written on the logits
trains them. clmsd computes in float32 on its OpenCL device; tensors are CPU tensors handed over
as numpy arrays. The masks are clmsd's, keyed on (seed, step): step counts the module's training
forward calls, so a forward run again for activation checkpointing (torch.utils.checkpoint) would
draw the next step's masks: do not checkpoint through these heads. In eval mode there is no
dropout (Head.predict).

Importing this module needs PyTorch; `import clmsd` does not.
"""
import numpy as np
import torch

import clmsd

__all__ = ["MultiSampleDropoutHead", "QuestHead", "default_context"]

_context = None


def default_context():
    """The process's shared clmsd.Context (made on first use): $CLMSD_DEVICE, else the first GPU,
    else the CPU."""
    global _context
    if _context is None or _context.closed:
        _context = clmsd.Context()
    return _context


def _np32(t):
    """A tensor as a C-contiguous float32 numpy array (shares memory where it can)."""
    return t.detach().to(dtype=torch.float32, device="cpu").contiguous().numpy()


def _arrays(x, w, b, lw):
    """The head call's inputs as numpy float32 (x, w, bias and, pooled, layer_weights)."""
    args = dict(x=_np32(x), w=_np32(w), bias=_np32(b))
    if lw is not None:
        args["layer_weights"] = _np32(lw)
    return args


class _HeadFunction(torch.autograd.Function):
    """logits = clmsd head(x; W, b, layer weights) with the masks of (seed, step); backward is
    clmsd_head_backward on the incoming gradient (eval: predict, backward through a rate-0 head)."""

    @staticmethod
    def forward(ctx, module, training, step, x, w, b, lw):
        head = module._head(x.shape[-2], training)
        args = _arrays(x, w, b, lw)
        if training:
            z = head.logits(seed=module.seed, step=step, **args)
        else:
            z = head.predict(**args)
            if module.combine == "average_losses":  # the shape of training's: every sample the same
                z = np.broadcast_to(z, (module.samples,) + z.shape).copy()
        ctx.module, ctx.training, ctx.seed, ctx.step = module, training, module.seed, step
        ctx.save_for_backward(x, w, b, lw)  # (so torch refuses a backward after an in-place change)
        return torch.from_numpy(z)

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        module, args = ctx.module, _arrays(*ctx.saved_tensors)
        pooled = "layer_weights" in args
        batch = args["x"].shape[-2]
        head = module._head(batch, True) if ctx.training else module._head(batch, False, plain=True)
        if pooled:
            args = dict(args, dlayer_weights=bool(need[6]))
        g = head.backward(
            dlogits=_np32(grad),
            seed=ctx.seed,
            step=ctx.step,
            dx=bool(need[3]),
            dw=bool(need[4]),
            dbias=bool(need[5]),
            **args,
        )
        out = [None, None, None]
        for name, i in (("dx", 3), ("dw", 4), ("dbias", 5), ("dlayer_weights", 6)):
            out.append(torch.from_numpy(g[name]) if need[i] and name in g else None)
        return tuple(out)


class _ClmsdHead(torch.nn.Module):
    """What both heads share: the classifier, the cached clmsd heads (one per batch size and mode),
    the step counter."""

    def __init__(self, features, classes, samples, rate, combine, seed, context, layers, layer_rate, head_options):
        super().__init__()
        if combine not in ("average_logits", "average_losses"):
            raise ValueError("combine must be 'average_logits' or 'average_losses', not %r" % (combine,))
        self.features, self.classes, self.samples = int(features), int(classes), int(samples)
        self.rate, self.combine, self.seed = rate, combine, int(seed)
        self.layers, self.layer_rate = int(layers), float(layer_rate)
        self.context = context
        self.head_options = dict(head_options)
        self.step = 0  # training forward calls so far: the masks' step
        self.classifier = torch.nn.Linear(self.features, self.classes)
        self._heads = {}

    def _head(self, batch, training, plain=False):
        """The clmsd head for this batch size: with dropout (training, predict), or without
        (plain: the backward of eval mode)."""
        key = (batch, plain)
        head = self._heads.get(key)
        if head is not None and head.context.closed:  # (the default context made anew since)
            self._heads.clear()
            head = None
        if head is None:
            ctx = self.context if self.context is not None else default_context()
            desc = dict(self.head_options, batch=batch, features=self.features, classes=self.classes,
                        samples=self.samples, combine=self.combine)
            if plain:
                desc["rate"] = 0.0
            elif isinstance(self.rate, (int, float)):
                desc["rate"] = float(self.rate)
            else:
                desc["rates"] = [float(r) for r in self.rate]
            if self.layers >= 2:
                desc.update(layers=self.layers, layer_rate=0.0 if plain else self.layer_rate)
            head = self._heads[key] = ctx.head(**desc)
        return head

    def _run(self, x, lw):
        step = self.step
        if self.training:
            self.step += 1
        x32 = x.to(torch.float32) if x.dtype != torch.float32 else x
        return _HeadFunction.apply(self, self.training, step, x32, self.classifier.weight, self.classifier.bias, lw)

    def extra_repr(self):
        return "features=%d, classes=%d, samples=%d, rate=%r, combine=%r, seed=%d%s" % (
            self.features, self.classes, self.samples, self.rate, self.combine, self.seed,
            ", layers=%d, layer_rate=%g" % (self.layers, self.layer_rate) if self.layers >= 2 else "")


class MultiSampleDropoutHead(_ClmsdHead):
    """K dropout samples of x [B, features] through one linear layer (classifier) to [B, classes].

    combine='average_logits': the mean of the samples' logits, [B, C] (the Kaggle form);
    'average_losses': every sample's logits, [K, B, C] (average the loss over K yourself).
    `rate` is one rate or K rates; `head_options` go to clmsd's head (engine, stream, ...)."""

    def __init__(self, features, classes, samples=5, rate=0.5, combine="average_logits", seed=0, context=None,
                 **head_options):
        super().__init__(features, classes, samples, rate, combine, seed, context, 0, 0.0, head_options)

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.features:
            raise ValueError("x must be [B, %d], not %s" % (self.features, list(x.shape)))
        return self._run(x, None)


class QuestHead(_ClmsdHead):
    """The QUEST model's head: the CLS rows of L hidden states, each dropped out (layer_rate),
    pooled with softmax(layer_weights), then K samples at `rate` through classifier.

    forward(hidden_layers): a sequence of L tensors [B, T, H] (the backbone's hidden states, as the
    seed code takes them); returns [B, C] (average_logits, the seed's) or [K, B, C]."""

    def __init__(self, hidden, classes, layers, samples=5, rate=0.5, layer_rate=0.1, combine="average_logits", seed=0,
                 context=None, **head_options):
        if int(layers) < 2:
            raise ValueError("layers must be at least 2, not %r" % (layers,))
        super().__init__(hidden, classes, samples, rate, combine, seed, context, layers, layer_rate, head_options)
        self.layer_weights = torch.nn.Parameter(torch.zeros(self.layers))

    def forward(self, hidden_layers):
        if len(hidden_layers) != self.layers:
            raise ValueError("hidden_layers: %d tensors, but this head pools %d" % (len(hidden_layers), self.layers))
        x = torch.stack([layer[:, 0, :] for layer in hidden_layers], dim=0)  # [L, B, H]: autograd reaches them
        if x.shape[2] != self.features:
            raise ValueError("hidden_layers: hidden size %d, but this head's is %d" % (x.shape[2], self.features))
        return self._run(x, self.layer_weights)
