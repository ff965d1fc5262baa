#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""clmsd's optimizers against PyTorch's on the same gradients: torch.optim.SGD (momentum,
Nesterov, weight decay), torch.optim.AdamW, and torch.nn.utils.clip_grad_norm_, float32 both, a
learning rate that changes every step. clmsd runs on the default OpenCL device (tests/optim_trace).

Tolerance, from float32: each step rounds a parameter's update a few times (at most 6 roundings
of about |p| + |update|), so after S steps |clmsd - torch| <= S * 8 * eps32 * (max |p| + max
step); clipping scales the gradients by a factor whose norm both sum in their own order over n
elements (relative error <= n * eps32), which moves an SGD step by at most that much of it (AdamW
divides it out but for eps). Exit 77 (skip) without PyTorch."""
import struct
import subprocess
import sys

try:
    import torch
except ImportError:
    print("SKIP: PyTorch is not installed (Debian: python3-torch)")
    sys.exit(77)

C, H, STEPS = 4, 51, 12
EPS32 = 2.0 ** -23

CASES = [  # name, kind, momentum, nesterov, beta1, beta2, eps, weight_decay, max_norm
    ("sgd", "sgd", 0.0, 0, 0, 0, 0, 0.0, 0.0),
    ("sgd momentum wd", "sgd", 0.9, 0, 0, 0, 0, 0.01, 0.0),
    ("sgd nesterov clipped", "sgd", 0.8, 1, 0, 0, 0, 0.0, 0.5),
    ("adamw", "adamw", 0, 0, 0.9, 0.999, 1e-8, 0.01, 0.0),
    ("adamw clipped", "adamw", 0, 0, 0.8, 0.99, 1e-3, 0.1, 1.0),
]


def run_case(trace, name, kind, momentum, nesterov, beta1, beta2, eps, wd, max_norm):
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(C, H, generator=gen, dtype=torch.float32)
    b = torch.randn(C, generator=gen, dtype=torch.float32)
    grads = [(torch.randn(C, H, generator=gen) * 3, torch.randn(C, generator=gen) * 3) for _ in range(STEPS)]
    lrs = [0.05 * (1 + s) / STEPS for s in range(STEPS)]

    blob = w.numpy().tobytes() + b.numpy().tobytes()
    for lr, (gw, gb) in zip(lrs, grads):
        blob += struct.pack("=d", lr) + gw.numpy().tobytes() + gb.numpy().tobytes()
    args = [trace, str(C), str(H), str(STEPS), kind, repr(momentum), str(nesterov), repr(beta1), repr(beta2),
            repr(eps), repr(wd), repr(max_norm)]
    out = subprocess.run(args, input=blob, stdout=subprocess.PIPE, check=True).stdout
    got = torch.frombuffer(bytearray(out), dtype=torch.float32)

    pw, pb = torch.nn.Parameter(w.clone()), torch.nn.Parameter(b.clone())
    if kind == "sgd":
        opt = torch.optim.SGD([pw, pb], lr=lrs[0], momentum=momentum, nesterov=bool(nesterov), weight_decay=wd)
    else:
        opt = torch.optim.AdamW([pw, pb], lr=lrs[0], betas=(beta1, beta2), eps=eps, weight_decay=wd)
    biggest_p = biggest_step = 0.0
    for lr, (gw, gb) in zip(lrs, grads):
        before = torch.cat([pw.detach().flatten(), pb.detach()]).clone()
        pw.grad, pb.grad = gw.clone(), gb.clone()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_([pw, pb], max_norm)
        opt.param_groups[0]["lr"] = lr
        opt.step()
        after = torch.cat([pw.detach().flatten(), pb.detach()])
        biggest_p = max(biggest_p, after.abs().max().item(), before.abs().max().item())
        biggest_step = max(biggest_step, (after - before).abs().max().item())
    want = torch.cat([pw.detach().flatten(), pb.detach()])

    n = C * H + C
    tol = STEPS * 8 * EPS32 * (biggest_p + biggest_step)
    if max_norm > 0 and kind == "sgd":
        tol += STEPS * n * EPS32 * biggest_step
    diff = (got.double() - want.double()).abs().max().item()
    verdict = "ok" if diff <= tol else "FAIL"
    print("%-22s max |clmsd - torch| %.3g, tolerance %.3g: %s" % (name, diff, tol, verdict))
    return diff <= tol


def main():
    trace = sys.argv[1]
    print("PyTorch %s" % torch.__version__)
    ok = all([run_case(trace, *case) for case in CASES])
    print("PASS" if ok else "FAIL: clmsd's optimizer differs from PyTorch's beyond float32 rounding")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
