# SPDX-License-Identifier: MIT
"""clmsd.stream_words and clmsd.rate_params (clmsd_stream_words, clmsd_stream_rate_params): the
golden values of docs/rng.md, and bad input refused before the library is called."""
import numpy as np
import pytest

import clmsd


def word(ctx, seed, step, k, e):
    return int(clmsd.stream_words(ctx, seed, step, k, e >> 2, 1)[e & 3])


def test_golden_words(ctx):
    w = clmsd.stream_words(ctx, 0, 0, 0, 0, 2)
    assert w.dtype == np.uint32 and w.shape == (8,)
    assert w[0] == 0x6627E8D5 and w[1] == 0xE169C58D and w[4] == 0xF8E4CCA4
    assert word(ctx, 42, 0, 0, 0) == 0x9CEAF053
    assert word(ctx, 42, 7, 3, 1000003) == 0x6CB4C9BB
    assert word(ctx, 0x0123456789ABCDEF, 0xFEDCBA9876543210, 5, 2**34 - 1) == 0x734CDCF5
    assert word(ctx, 2026, 1, 1, 12345) == 0x47D0B6D7
    assert clmsd.stream_words(context=ctx, seed=2026, step=1, k=1, first_block=12345 >> 2, blocks=1)[1] == 0x47D0B6D7


def test_golden_keep_bits(ctx):
    """seed 42, step 0, p = 0.5, a 2 x 5 matrix: sample 0 10001 01011, sample 1 00000 01100"""
    t, s = clmsd.rate_params("philox_v1", 0.5)
    for k, bits in ((0, "1000101011"), (1, "0000001100")):
        keep = clmsd.stream_words(ctx, 42, 0, k, 0, 3)[:10] >= t
        assert "".join("1" if v else "0" for v in keep) == bits
    assert s == 2.0


def test_rate_params():
    assert clmsd.rate_params("philox_v1", 0.1) == (429496729, np.float32(1.11111116))
    assert clmsd.rate_params("philox_v1", 0.9) == (3865470566, np.float32(10))
    assert clmsd.rate_params("philox_v1", 0) == (0, 1.0)
    assert clmsd.rate_params(stream="philox_v1_u8", rate=0.5) == (128, 2.0)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("ctx", -1, 0, 0, 0, 1), ValueError, "seed must be a non-negative integer"),
        (("ctx", 0, 1.5, 0, 0, 1), TypeError, "step must be an integer"),
        (("ctx", 0, 0, 2**32, 0, 1), ValueError, "k must be at most"),
        (("ctx", 0, 0, 0, 0, 0), ValueError, "blocks must be at least 1"),
        (("ctx", 0, 0, 0, 2**32 - 1, 2), ValueError, "first_block \\+ blocks must be at most 2\\^32"),
        (("ctx", 0, 0, 0, -1, 1), ValueError, "first_block must be a non-negative integer"),
        ((None, 0, 0, 0, 0, 1), TypeError, "context must be a clmsd.Context"),
        (("ctx", 0, 0, 0, 0), TypeError, "blocks"),
    ],
)
def test_stream_words_bad_input(ctx, args, error, match):
    args = tuple(ctx if a == "ctx" else a for a in args)
    with pytest.raises(error, match=match):
        clmsd.stream_words(*args)


def test_stream_words_closed_context():
    c = clmsd.Context()
    c.close()
    with pytest.raises(ValueError, match="the context is closed"):
        clmsd.stream_words(c, 0, 0, 0, 0, 1)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("philox_v2", 0.5), ValueError, "stream"),
        ((0, 0.5), TypeError, "stream"),
        (("philox_v1", "0.5"), TypeError, "rate must be a number"),
        (("philox_v1",), TypeError, "rate"),
    ],
)
def test_rate_params_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        clmsd.rate_params(*args)


@pytest.mark.parametrize("stream, rate", [("philox_v1", 1.0), ("philox_v1", -0.1), ("philox_v1", float("nan")),
                                          ("philox_v1_u8", 0.3)])
def test_rate_params_refused_by_the_library(stream, rate):
    with pytest.raises(clmsd.Error) as e:
        clmsd.rate_params(stream, rate)
    assert e.value.status == clmsd.ERROR_INVALID_RATE
