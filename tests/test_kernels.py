"""Kernels against the slow NumPy reference (tests/reference.py) on random inputs (``rng`` fixture:
seed from the test id, printed)."""

import numpy as np
import pytest

import kernels
from engine.firms.sampling import block_strata
from kernels.firm import stratified_normals
from kernels.reference import static as brute
from kernels.rng import hash_at, open_uniforms, uniform_open0
from kernels.sort import radix_argsort
from tests import reference as ref


def _random_blocks(rng, n_blocks):
    sigma = rng.uniform(1.5, 6.0, n_blocks)
    theta = sigma - 1.0 + rng.uniform(0.2, 4.0, n_blocks)
    s_a = rng.uniform(0.0, 2.0, n_blocks)
    s_e = rng.uniform(0.0, 1.0, n_blocks)
    rho = rng.uniform(-0.95, 0.95, n_blocks)
    return sigma, theta, s_a, s_e, rho


def _keys(rng, draw, n_blocks):
    seeds = rng.integers(0, 2**63, size=2, dtype=np.uint64)
    return (kernels.block_keys(seeds[0], draw, n_blocks), kernels.block_keys(seeds[1], draw, n_blocks))


def test_hash_matches_reference_bitwise(rng):
    key = rng.integers(0, 2**63, dtype=np.uint64)
    counters = rng.integers(0, 2**40, size=200, dtype=np.uint64)
    got = np.array([hash_at(np.uint64(key), c) for c in counters], dtype=np.uint64)
    np.testing.assert_array_equal(got, ref.hash_at(key, counters))
    draw = int(rng.integers(0, 10_000))
    np.testing.assert_array_equal(kernels.block_keys(np.uint64(key), draw, 7), ref.block_keys(key, draw, 7))


def test_uniforms_and_normals_have_the_right_distribution(rng):
    key = rng.integers(0, 2**63, dtype=np.uint64)
    h = ref.hash_at(key, np.arange(400_000, dtype=np.uint64))
    u = ref.uniform_open0(h)
    assert u.min() > 0.0 and u.max() <= 1.0
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)
    # a pair's two normals in the widest stratum (all of (0, 1)): standard and independent
    z = np.array([stratified_normals(*open_uniforms(v), 0.0, 1.0) for v in h[:100_000]])
    for column in z.T:
        assert abs(column.mean()) < 4 / np.sqrt(column.size)
        assert abs(column.var() - 1.0) < 4 * np.sqrt(2 / column.size)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 4 / np.sqrt(z.shape[0])
    # the compiled scalar functions give the same numbers as the array reference
    for j in rng.integers(0, h.size, 20):
        assert uniform_open0(h[j]) == u[j]
        assert open_uniforms(h[j]) == tuple(x[j] for x in ref.open_uniforms(h))


def test_rank_and_evaluate_match_reference(rng):
    n_blocks, n_dest, n_firms, n_periods = 5, 4, int(rng.integers(500, 3000)), 3
    sigma, theta, s_a, s_e, rho = _random_blocks(rng, n_blocks)
    pk, sk = _keys(rng, int(rng.integers(0, 1000)), n_blocks)
    real = rng.integers(n_firms // 2, 50 * n_firms, n_blocks).astype(float)  # some blocks below M: equal strata
    low, width, weight = block_strata(real, n_firms, s_a)
    entry_sorted = np.empty((n_blocks, n_dest, n_firms))
    tail, count, split = (np.empty((n_blocks, n_dest, n_firms + 1)) for _ in range(3))
    kernels.rank_cells(pk, sk, (sigma - 1) / theta, s_a, s_e, rho, n_firms, low, width, weight, entry_sorted, tail,
                       count, split)
    assert np.all(np.diff(entry_sorted, axis=2) >= 0)
    np.testing.assert_allclose(count[..., 0], np.broadcast_to(real[:, None], count[..., 0].shape), rtol=1e-12)
    thresholds = rng.normal(0.5, 1.5, (n_periods, n_blocks, n_dest))
    thresholds[0, 0, 0] = np.inf  # a closed cell
    thresholds[1, 0, 0] = -np.inf  # every firm active
    first = np.empty(thresholds.shape, dtype=np.int64)
    sales = np.empty(thresholds.shape)
    kernels.evaluate_cells(entry_sorted, tail, thresholds, first, sales)
    blocks, dests = np.indices((n_blocks, n_dest))
    for t in range(n_periods):
        ref_active, ref_sales = ref.cell_sums(pk, sk, sigma, theta, s_a, s_e, rho, n_firms, thresholds[t], low, width,
                                              weight)
        np.testing.assert_allclose(count[blocks, dests, first[t]], ref_active, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sales[t], ref_sales, rtol=1e-9, atol=0)
    assert first[0, 0, 0] == n_firms and sales[0, 0, 0] == 0.0
    assert first[1, 0, 0] == 0
    # the half-population split (docs/model.md section 8.2): above a rank, the sampled pairs' weighted
    # exp(sales score) with +1 for odd firms and -1 for even ones; certainty pairs (weight 1) count 0
    for b in range(n_blocks):
        _, v, u, w = ref.block_scores(pk[b], sk[b], sigma[b], theta[b], s_a[b], s_e[b], rho[b], n_firms, n_dest,
                                      low[b], width[b], weight[b])
        sign = np.where(w <= 1.0 + 1e-9, 0.0, np.where(np.arange(n_firms)[:, None] % 2 == 1, 1.0, -1.0))
        for n in range(n_dest):
            scores = np.concatenate([[-np.inf], entry_sorted[b, n], [np.inf]])
            for rank in (0, n_firms // 2, n_firms - 1, n_firms):
                above = u[:, n] >= 0.5 * (scores[rank] + scores[rank + 1])  # between two ranks: no last-bit tie
                want = (sign[:, n] * w[:, n] * np.exp(v[:, n]))[above].sum()
                np.testing.assert_allclose(split[b, n, rank], want, rtol=0, atol=1e-9 * tail[b, n, rank] + 1e-300)
        if w.max() <= 1.0:
            assert np.all(split[b] == 0.0)


@pytest.mark.parametrize("firm_chunk", [1, 97, 4096])
def test_direct_cell_sums_match_reference_and_ranking(rng, firm_chunk):
    """The brute force counts real pairs and weighted sales as the NumPy reference and as ``rank_cells`` +
    ``evaluate_cells`` (``tail_count[first]``, ``tail_sales[first]``), with strata of blocks that have
    fewer real firms than ``M`` (equal weights below one), a few times more and many times more."""
    n_blocks, n_dest, n_firms = 4, 3, int(rng.integers(300, 2000))
    sigma, theta, s_a, s_e, rho = _random_blocks(rng, n_blocks)
    pk, sk = _keys(rng, 0, n_blocks)
    real = np.round(n_firms * np.array([0.6, 3.0, 40.0, 700.0]))
    low, width, weight = block_strata(real, n_firms, s_a)
    assert weight.min() < 1.0 and weight.max() > 100.0
    thresholds = rng.normal(0.5, 1.0, (n_blocks, n_dest))
    thresholds[0, 0], thresholds[-1, -1] = np.inf, -np.inf  # a closed cell and one open to every pair
    active = np.full((n_blocks, n_dest), np.nan)
    sales = np.full((n_blocks, n_dest), np.nan)
    brute.direct_cell_sums(pk, sk, (sigma - 1) / theta, s_a, s_e, rho, n_firms, low, width, weight, thresholds,
                           firm_chunk, active, sales)
    ref_active, ref_sales = ref.cell_sums(pk, sk, sigma, theta, s_a, s_e, rho, n_firms, thresholds, low, width,
                                          weight)
    np.testing.assert_allclose(active, ref_active, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sales, ref_sales, rtol=1e-12, atol=0)
    assert active[0, 0] == 0.0 and sales[0, 0] == 0.0
    np.testing.assert_allclose(active[-1, -1], real[-1], rtol=1e-12)
    assert 0 < active.sum() < real.sum() * n_dest
    entry_sorted = np.empty((n_blocks, n_dest, n_firms))
    tail, count, split = (np.empty((n_blocks, n_dest, n_firms + 1)) for _ in range(3))
    kernels.rank_cells(pk, sk, (sigma - 1) / theta, s_a, s_e, rho, n_firms, low, width, weight, entry_sorted, tail,
                       count, split)
    first = np.empty((1, n_blocks, n_dest), dtype=np.int64)
    ranked_sales = np.empty((1, n_blocks, n_dest))
    kernels.evaluate_cells(entry_sorted, tail, thresholds[None], first, ranked_sales)
    blocks, dests = np.indices((n_blocks, n_dest))
    np.testing.assert_allclose(active, count[blocks, dests, first[0]], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(sales, ranked_sales[0], rtol=1e-12, atol=0)


def test_firm_scores_match_reference(rng):
    sigma, theta, s_a, s_e, rho = (float(x[0]) for x in _random_blocks(rng, 1))
    pk, sk = (int(k[0]) for k in _keys(rng, 3, 1))
    n_firms, n_dest = 800, 5
    low, width, weight = (x[0] for x in block_strata(np.array([50.0 * n_firms]), n_firms, np.array([s_a])))
    firms = np.sort(rng.choice(n_firms, 50, replace=False)).astype(np.int64)
    slp = np.empty(firms.size)
    sales = np.empty((firms.size, n_dest))
    entry = np.empty((firms.size, n_dest))
    pair_weight = np.empty((firms.size, n_dest))
    kernels.firm_scores(np.uint64(pk), np.uint64(sk), (sigma - 1) / theta, s_a, s_e, rho,
                        np.stack([low, width, weight]), firms, n_dest, slp, sales, entry, pair_weight)
    phi, ref_sales, ref_entry, ref_weight = ref.block_scores(pk, sk, sigma, theta, s_a, s_e, rho, n_firms, n_dest,
                                                             low, width, weight)
    np.testing.assert_allclose(np.exp(slp / (sigma - 1)), phi[firms], rtol=1e-12)
    np.testing.assert_allclose(sales, ref_sales[firms], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(entry, ref_entry[firms], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pair_weight, ref_weight[firms])


def test_radix_argsort_is_the_stable_order(rng):
    n = int(rng.integers(1, 5000))
    values = rng.normal(0, 10, n) * rng.choice([1e-300, 1.0, 1e300], n)
    values[rng.integers(0, n, n // 10)] = values[0]  # ties
    values[rng.integers(0, n, 3)] = -0.0
    values[rng.integers(0, n, 3)] = np.inf
    values[rng.integers(0, n, 3)] = -np.inf
    order = np.empty(n, dtype=np.int64)
    scratch = (np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n, np.int64), np.empty(2048, np.int64))
    radix_argsort(values, order, *scratch)
    expected = np.argsort(values, kind="stable")
    # -0.0 and 0.0 compare equal for NumPy but are ordered by the radix keys; compare values, not ties
    np.testing.assert_array_equal(values[order], values[expected])
    assert sorted(order.tolist()) == list(range(n))
