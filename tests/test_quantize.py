"""tqa.features.quantize: features rounded to a few mantissa bits at the cache boundary (issue 23).

Oracle: the same rounding done in float64 with ``np.frexp`` / ``np.ldexp`` (value = m * 2**e,
0.5 <= |m| < 1; keep ``bits + 1`` significant bits of m, half away from zero), independent of
the bit-pattern arithmetic under test.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from test_media import face_frames, tone

from tqa.core.params import load_params
from tqa.features.decode import write_video
from tqa.features.pipeline import FeatureExtractor
from tqa.features.quantize import quantize_mantissa


def _oracle(x: np.ndarray, bits: int) -> np.ndarray:
    m, e = np.frexp(x.astype(np.float64))
    scale = 2.0 ** (bits + 1)  # the leading bit + ``bits`` kept fraction bits
    q = np.sign(m) * np.floor(np.abs(m) * scale + 0.5) / scale
    return np.ldexp(q, e).astype(np.float32)


def _normal_floats(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mag = 10.0 ** rng.uniform(-30, 30, n)  # well inside float32's normal range
    return (mag * rng.choice([-1.0, 1.0], n)).astype(np.float32)


@pytest.mark.parametrize("bits", [1, 5, 10, 14, 20, 22])
def test_matches_the_frexp_oracle_bit_for_bit(bits: int) -> None:
    x = _normal_floats(20_000, seed=bits)
    got = quantize_mantissa(x, bits)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), _oracle(x, bits).view(np.uint32))
    assert np.all(np.abs(got / x - 1) <= 2.0 ** -(bits + 1) * 1.0001)  # half a step at most


def test_ties_round_away_from_zero_and_carry_into_the_exponent() -> None:
    # 1 + 2**-3 is exactly half way between two 2-bit values 1.0 and 1.25
    x = np.array([1.125, -1.125, 1.875, 0.0, -0.0], np.float32)
    np.testing.assert_array_equal(
        quantize_mantissa(x, 2), np.array([1.25, -1.25, 2.0, 0.0, -0.0], np.float32)
    )


def test_nan_inf_pass_through_and_23_bits_is_identity() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 3.14159], np.float32)
    q = quantize_mantissa(x, 8)
    assert np.isnan(q[0]) and q[1] == np.inf and q[2] == -np.inf
    y = _normal_floats(1000)
    np.testing.assert_array_equal(quantize_mantissa(y, 23), y)
    with pytest.raises(ValueError, match="bits"):
        quantize_mantissa(y, 0)


def test_last_bit_noise_mostly_lands_on_the_same_value() -> None:
    """One float32 ulp up or down (another CPU's SIMD sum) changes the 14-bit value only
    when the exact value sits within an ulp of a rounding boundary: ~2**-9 of the values."""
    x = _normal_floats(200_000, seed=3)
    up = np.nextafter(x, np.float32(np.inf))
    down = np.nextafter(x, np.float32(-np.inf))
    raw_differ = np.mean(up != down)
    q_differ = np.mean(quantize_mantissa(up, 14) != quantize_mantissa(down, 14))
    assert raw_differ == 1.0
    assert 0 < q_differ < 4 * 2.0**-9


def test_the_extractor_rounds_every_stream_and_the_sync_triple(tmp_path) -> None:
    p = copy.deepcopy(load_params())
    # 3.2 s: the sync triple needs 60 pairs at every lag (sync_correlation.MIN_FALLBACK_PAIRS)
    p["features"].update({"n_frames": 80, "workers": 1, "quantize_bits": 6})
    path = tmp_path / "v.mp4"
    write_video(path, face_frames(80, 128), 25, tone(3.2, 300, 0.3))
    fe = FeatureExtractor(p)
    vf = fe.extract_video(str(path), "v")
    low_bits = np.uint32((1 << (23 - 6)) - 1)  # the dropped mantissa bits are all zero
    for arr in [*vf.streams.values(), vf.sync]:
        finite = np.isfinite(arr)
        assert finite.any()
        assert not np.any(arr[finite].view(np.uint32) & low_bits)
    unrounded = copy.deepcopy(p)
    unrounded["features"]["quantize_bits"] = 23
    assert FeatureExtractor(unrounded).config_hash != fe.config_hash  # re-extracts
