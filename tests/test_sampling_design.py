"""The stratified design of the demand shock (``engine.firms.sampling``) and the normal quantile it
samples with (``kernels.normal``)."""

import numpy as np
import pytest
from numba import njit
from scipy.special import ndtri

from engine.firms.sampling import FLOOR, demand_strata
from kernels.normal import normal_quantile


@njit(cache=True)
def _quantiles(p):
    out = np.empty_like(p)
    for i in range(p.size):
        out[i] = normal_quantile(p[i])
    return out


def test_normal_quantile_is_scipys_to_rounding():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.random(20_000), 10.0 ** -rng.uniform(0, 300, 5_000),
                        1 - 10.0 ** -rng.uniform(1, 15, 5_000), [0.5, 0.075, 0.925]])
    got, want = _quantiles(p), ndtri(p)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    ends = _quantiles(np.array([0.0, 1.0]))  # floored tail probability: finite, beyond any open uniform's
    assert ends[0] == -ends[1] and -38.0 < ends[0] < -37.0


@pytest.mark.parametrize("n_real, n_sim", [(15_415, 2_000), (868_385, 2_000), (868_385, 20_000), (1_000, 2_000)])
def test_strata_are_unbiased_and_put_the_top_at_its_real_count(n_real, n_sim):
    s_a = 1.69
    edges, weights = demand_strata(n_real, n_sim, s_a)
    assert edges[0] == 0 and edges[-1] == 1 and np.all(np.diff(edges) > 0) and edges.size == n_sim + 1
    np.testing.assert_allclose(weights, n_real * np.diff(edges), rtol=1e-12)
    if n_sim < n_real:
        assert weights[0] == pytest.approx(1.0) and weights.min() >= 1 - 1e-9  # never more than 1 per real pair
        assert np.all(np.diff(weights) >= -1e-9)  # weights grow down the distribution
        assert weights.max() <= n_real / (FLOOR * n_sim) * (1 + 1e-9)  # the defensive floor bounds them
    rng = np.random.default_rng(7)
    replicates = 400
    sums = np.empty((replicates, 3))
    for r in range(replicates):
        a = -ndtri(edges[:-1] + np.diff(edges) * rng.random(n_sim))
        sums[r] = [np.sum(weights * np.exp(s_a * a)), np.sum(weights * (a > 2.0)), np.sum(weights * a)]
    truth = np.array([n_real * np.exp(s_a**2 / 2), n_real * 0.022750131948179195, 0.0])
    error = sums.std(axis=0) / np.sqrt(replicates)
    assert np.all(np.abs(sums.mean(axis=0) - truth) < 4 * error + 1e-9 * n_real), (sums.mean(axis=0), truth, error)


def test_stratified_sums_are_far_less_noisy_than_uniform_weights():
    """The point of the design: a cell's sum of sales has the noise of its real number of pairs."""
    n_real, n_sim, s_a = 62_137, 2_000, 1.69
    edges, weights = demand_strata(n_real, n_sim, s_a)
    rng = np.random.default_rng(3)
    stratified = [np.sum(weights * np.exp(s_a * -ndtri(edges[:-1] + np.diff(edges) * rng.random(n_sim))))
                  for _ in range(300)]
    uniform = [n_real / n_sim * np.sum(np.exp(s_a * rng.standard_normal(n_sim))) for _ in range(300)]
    assert np.std(stratified) < 0.25 * np.std(uniform)


def test_weighted_offsets_export_the_nearest_real_count():
    from engine.firms.dynamic import weighted_offsets

    rng = np.random.default_rng(5)
    costs = rng.normal(size=(3, 4, 50))
    strata_weight = rng.uniform(1.0, 20.0, size=(3, 50))
    rotation = rng.integers(0, 50, size=(3, 4))
    weights = np.array([[strata_weight[b, (np.arange(50) + rotation[b, n]) % 50] for n in range(4)] for b in range(3)])
    target = rng.uniform(0.0, 1.2, size=(3, 4)) * weights.sum(axis=2)
    offset = weighted_offsets(costs, strata_weight, rotation, target)
    exporting = costs <= offset[..., None]
    assert (exporting.sum(axis=2) >= 1).all()
    real = np.where(exporting, weights, 0.0).sum(axis=2)
    for b, n in np.ndindex(target.shape):  # no other cut of the cost ranking comes nearer
        cuts = np.cumsum(weights[b, n][np.argsort(costs[b, n])])
        assert abs(real[b, n] - target[b, n]) <= np.abs(cuts - target[b, n]).min() + 1e-9
        assert not np.isclose(costs[b, n], offset[b, n]).any()  # no pair on the edge
