"""``kernels.bellman.backward_step`` equals its NumPy version (``tests/reference_dynamic.py``) bit for
bit on fresh random inputs, including grids where exporting pays everywhere or nowhere."""

import numpy as np
import pytest

from kernels.bellman import backward_step, expect
from tests import reference_dynamic as ref


@pytest.mark.parametrize("loss", [0.0, 0.03])
def test_backward_step_equals_the_numpy_version(rng, loss):
    n_cells, n_y, n_z = 7, 41, 5
    y = np.linspace(-4.0, 3.0, n_y)
    z_score = np.sort(rng.normal(size=n_z))
    base_flow = np.ascontiguousarray(np.exp(y[:, None] + z_score))
    # values rising in y (as W does), with cells whose advantage is positive or negative everywhere
    mixed = np.cumsum(rng.uniform(0.0, 0.3, size=(n_cells, n_y, n_z, 2)), axis=1)
    multiplier = rng.uniform(0.5, 1.5, n_cells)
    multiplier[0], multiplier[1] = 0.0, 1e4
    cost = np.array([1.0, rng.uniform(0.05, 0.3)])
    value, roots = np.empty(mixed.shape), np.empty((n_cells, n_z, 2))
    backward_step(mixed, multiplier, base_flow, cost, 0.99, loss, y, value, roots)
    expected_value, expected_roots = ref.backward_step(mixed, multiplier, base_flow, cost, 0.99, loss, y)
    np.testing.assert_array_equal(value, expected_value)
    np.testing.assert_array_equal(roots, expected_roots)
    # every branch of the root search is exercised: nowhere, everywhere, interpolated
    assert np.isposinf(roots[0]).any() and np.isneginf(roots[1]).all() and np.isfinite(roots[2:]).any()


@pytest.mark.parametrize("n_z", [1, 5, 9])
def test_expect_is_the_transition_times_the_values(rng, n_z):
    transition = rng.uniform(size=(n_z, n_z))
    transition /= transition.sum(axis=1, keepdims=True)
    value = rng.normal(size=(6, 41, n_z, 2))
    out = np.empty(value.shape)
    expect(transition, value, out)
    # NumPy's matmul may sum in another order (BLAS): equal to rounding
    np.testing.assert_allclose(out, transition @ value, rtol=1e-14, atol=1e-14)
    j = rng.integers(n_z)
    assert out[3, 7, j, 1] == pytest.approx(sum(transition[j, m] * value[3, 7, m, 1] for m in range(n_z)), abs=1e-14)
