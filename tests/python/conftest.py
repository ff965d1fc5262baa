# SPDX-License-Identifier: MIT
"""The pytest suite of the Python package clmsd (docs/python.md), run by tools/python_check.sh on
the package installed into a temporary virtual environment. One context for the whole session:
its kernels compile once (the fused engine only: the CLBlast engine's first call compiles for
20 to 40 s)."""
import zlib

import numpy as np
import pytest

import clmsd


@pytest.fixture(scope="session")
def ctx():
    """The session's context: $CLMSD_DEVICE, else the first GPU, else the CPU (pocl here)."""
    context = clmsd.Context()
    yield context
    context.close()


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name: the same data on every run."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


@pytest.fixture
def make_head(ctx):
    """ctx.head with the fused engine unless told (the CLBlast engine compiles for long)."""

    def make(**desc):
        desc.setdefault("engine", "fused")
        return ctx.head(**desc)

    return make
