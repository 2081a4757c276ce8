"""tqa.core.scalar_math: C-library transcendentals element-wise (same bits on any x86-64 CPU).

Oracles: numpy's own ufuncs (within 2 ulp: both are faithful to the exact value) and the
closed forms exp(0) = 1, sin(pi/2) = 1, x**1 = x, 4**0.5 = 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tqa.core import scalar_math


@pytest.mark.parametrize(
    ("fn", "ref", "lo", "hi"),
    [
        (scalar_math.exp, np.exp, -50.0, 50.0),
        (scalar_math.sin, np.sin, -20.0, 20.0),
        (lambda x: scalar_math.power(x, 0.6), lambda x: np.power(x, 0.6), 0.0, 10.0),
    ],
)
def test_agrees_with_numpy_within_two_ulp_and_keeps_the_shape(fn, ref, lo, hi) -> None:
    x = np.random.default_rng(0).uniform(lo, hi, (7, 31))
    got = fn(x)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_array_max_ulp(got, ref(x), maxulp=2)


def test_closed_forms_and_the_c_library_bit_for_bit() -> None:
    assert scalar_math.exp(0.0) == 1.0 and scalar_math.sin(math.pi / 2) == 1.0
    assert scalar_math.power(np.array([4.0]), 0.5)[0] == 2.0
    x = np.linspace(0.01, 3.0, 101)
    np.testing.assert_array_equal(scalar_math.power(x, 1.0), x)
    assert all(scalar_math.exp(x)[i] == math.exp(v) for i, v in enumerate(x))
    assert np.isnan(scalar_math.exp(np.nan))
