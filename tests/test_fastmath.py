"""The branch-free math of ``kernels.fastmath`` against NumPy, and the fast kernels against the plain ones.

Reference values are computed by NumPy in ``np.longdouble`` (80-bit extended precision on x86-64,
64-bit significand), so the measured errors are those of the fast functions, not of NumPy's
float64 functions; where ``longdouble`` is plain double (other platforms) the bounds are doubled.
Inputs are random numbers from the ``rng`` fixture (seeded from the test id, printed) plus fixed edge cases.
``ULP = 2**-52`` (2.2e-16); relative errors are ``|got - exact| / |exact|``.

Stated accuracy, asserted below (in brackets: the largest error seen in 15 runs of these tests):

- ``log``: relative error below 1 ULP for every positive double, subnormals included [0.67 ULP];
- ``exp``: relative error below 1 ULP for results in the normal range [0.64 ULP]; absolute error
  at most ``2**-1074`` (one subnormal step) for subnormal results [0.75 step]; ``exp_bounded``
  equal to ``exp`` in its range;
- float32 ``log_f32``/``log_positive_f32`` and ``exp_f32``/``exp_bounded_f32``: relative error
  below 1.5 float32 ulps ``1.5 * 2**-23`` = 1.8e-7 [0.95 and 0.66 ulps]; ``normal_quantile_f32`` (AS 241's PPND7, whose own error is 1.2e-7):
  relative error below 5e-7 against SciPy's ``ndtri`` in float64 [3.9e-7 over 15 runs of 2 million
  values];

The float32 kernel ``direct_cell_sums_f32`` draws the same random numbers as ``direct_cell_sums``
with float32 arithmetic. Its results match within: the real active pairs of a cell differ by at most
the weights of two pairs plus ``1e-4`` of the count, ``2 * max(weight) + 1e-4 * count`` (only pairs
whose entry score is within float32 rounding, about 1e-6, of the threshold can differ); where the
counts agree (the same pairs, whose weights both kernels add in the same order: equal bit for bit)
the summed sales agree to a relative 1e-5 (measured over 30 runs of 30 cells x 30,000 firms with
stratified weights, 0.75 to 60 real firms per simulated one: every count equal, sales within
7.3e-7; with Box-Muller normals and equal weights it was 5.4e-7).
"""

import numba
import numpy as np
import pytest
from numba import njit

import kernels
from engine.firms.sampling import block_strata
from kernels import fastmath
from kernels.reference import float32
from kernels.reference import static as brute
from kernels.sort import sort_scores

FM = fastmath.FASTMATH
LONG = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant  # extended precision available
ULP = 2.0**-52  # one float64 ulp of 1
ULP32 = 2.0**-23
SLACK = 1.0 if LONG else 2.0  # the bounds are stated against an exact reference


# The fast functions applied to arrays, compiled with the flags the kernels use (FMA contraction).

@njit(error_model="numpy", fastmath=FM)
def _log(x, out):
    for j in range(x.size):
        out[j] = fastmath.log(x[j])


@njit(error_model="numpy", fastmath=FM)
def _log_positive(x, out):
    for j in range(x.size):
        out[j] = fastmath.log_positive(x[j])


@njit(error_model="numpy", fastmath=FM)
def _exp(x, out):
    for j in range(x.size):
        out[j] = fastmath.exp(x[j])


@njit(error_model="numpy", fastmath=FM)
def _exp_bounded(x, out):
    for j in range(x.size):
        out[j] = fastmath.exp_bounded(x[j])


@njit(error_model="numpy", fastmath=FM)
def _log_f32(x, out):
    for j in range(x.size):
        out[j] = float32.log_f32(x[j])


@njit(error_model="numpy", fastmath=FM)
def _log_positive_f32(x, out):
    for j in range(x.size):
        out[j] = float32.log_positive_f32(x[j])


@njit(error_model="numpy", fastmath=FM)
def _exp_f32(x, out):
    for j in range(x.size):
        out[j] = float32.exp_f32(x[j])


@njit(error_model="numpy", fastmath=FM)
def _exp_bounded_f32(x, out):
    for j in range(x.size):
        out[j] = float32.exp_bounded_f32(x[j])


@njit(error_model="numpy", fastmath=FM)
def _normal_quantile_f32(v, out):
    for j in range(v.size):
        out[j] = float32.normal_quantile_f32(v[j])


def apply(fn, x, n_out=1):
    outs = [np.empty_like(x) for _ in range(n_out)]
    fn(x, *outs)
    return outs[0] if n_out == 1 else outs


def rel_error(got, exact):
    """``|got - exact| / |exact|`` in float64 (``exact`` in long double)."""
    exact = np.asarray(exact, dtype=np.longdouble)
    return np.asarray(np.abs(np.asarray(got, dtype=np.longdouble) - exact) / np.abs(exact), dtype=np.float64)


# ---------------------------------------------------------------------------------- float64

def test_log_is_within_one_ulp_on_every_scale(rng):
    x = np.exp2(rng.uniform(-1074, 1024, 200_000))  # every binade, subnormals included
    x = np.concatenate([x, rng.uniform(0.5, 2.0, 100_000), 1.0 + rng.normal(0, 1e-8, 10_000),
                        rng.integers(1, 2**32, 50_000) * 2.0**-32])  # near 1, and Box-Muller's uniforms
    x = x[np.isfinite(x) & (x > 0)]
    got = apply(_log, x)
    err = rel_error(got, np.log(x.astype(np.longdouble)))
    err[x == 1.0] = np.abs(got[x == 1.0])  # log(1) = 0 exactly
    assert err.max() < SLACK * ULP, err.max() / ULP
    np.testing.assert_array_equal(apply(_log_positive, x[x >= 2.0**-1022]), got[x >= 2.0**-1022])


def test_log_special_values():
    x = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1.0, 5e-324, 2.0**-1022, np.finfo(float).max])
    got = apply(_log, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got, np.log(x))


def test_exp_is_within_one_ulp_in_the_normal_range(rng):
    x = np.concatenate([rng.uniform(-708.39, 709.78, 200_000), rng.normal(0, 1, 100_000),
                        rng.uniform(-1e-10, 1e-10, 10_000)])
    got = apply(_exp, x)
    assert rel_error(got, np.exp(x.astype(np.longdouble))).max() < SLACK * ULP
    inside = (x >= -708.39) & (x <= 709.43)
    np.testing.assert_array_equal(apply(_exp_bounded, x[inside]), got[inside])


def test_exp_underflows_gradually_and_overflows_to_inf(rng):
    x = rng.uniform(-745.2, -708.4, 100_000)  # subnormal results
    got = apply(_exp, x)
    assert np.abs(got - np.exp(x.astype(np.longdouble))).max() <= SLACK * 2.0**-1074
    special = np.array([-np.inf, -1000.0, -745.2, 709.78, 709.79, 1000.0, np.inf, np.nan, 0.0, -0.0])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(apply(_exp, special), np.exp(special))
    bounded = apply(_exp_bounded, np.array([-1000.0, -708.4, 709.44, 1000.0, np.inf, -np.inf]))
    np.testing.assert_array_equal(bounded, [0.0, 0.0, np.inf, np.inf, np.inf, 0.0])


def test_float32_functions(rng):
    x = np.exp2(rng.uniform(-149, 128, 200_000)).astype(np.float32)
    x = x[np.isfinite(x) & (x > 0)]
    got = apply(_log_f32, x)
    err = rel_error(got, np.log(x.astype(np.longdouble)))
    err[x == 1] = 0.0
    assert err.max() < 3 * ULP32 / 2, err.max() / ULP32
    normal = x >= np.finfo(np.float32).tiny
    np.testing.assert_array_equal(apply(_log_positive_f32, x[normal]), got[normal])
    special = np.array([0, -1, np.inf, np.nan], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(apply(_log_f32, special), np.log(special))

    x = rng.uniform(-87.3, 88.7, 200_000).astype(np.float32)
    got = apply(_exp_f32, x)
    assert rel_error(got, np.exp(x.astype(np.longdouble))).max() < 3 * ULP32 / 2
    inside = (x >= np.float32(-87.33)) & (x <= np.float32(88.37))
    np.testing.assert_array_equal(apply(_exp_bounded_f32, x[inside]), got[inside])
    special = np.array([-np.inf, -200, 89, np.inf, np.nan], dtype=np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(apply(_exp_f32, special), np.exp(special))


def test_float32_normal_quantile(rng):
    """AS 241's PPND7 in float32 against SciPy's float64 ``ndtri`` of the probability the signed tail ``v``
    stands for (``p = v`` for ``v > 0``, ``1 + v`` otherwise): both tails down to the smallest normal float32."""
    from scipy.special import ndtri

    n = 500_000
    v = np.concatenate([rng.uniform(-0.5, 0.5, n), np.exp(rng.uniform(np.log(1e-37), np.log(0.5), n))
                        * rng.choice([-1.0, 1.0], n), [0.5, -0.5, 0.075, -0.075]]).astype(np.float32)
    v = v[v != 0]
    got = apply(_normal_quantile_f32, v)
    exact = np.sign(v) * ndtri(np.abs(v).astype(np.float64))  # Phi^-1(1 - r) = -Phi^-1(r)
    exact = np.where(v == np.float32(0.5), 0.0, exact)
    err = np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)
    err[exact == 0] = np.abs(got[exact == 0])
    assert err.max() < 5e-7, err.max()
    assert np.all(np.sign(got) == np.sign(exact))
    # a probability near 1 keeps its distance to 1: the tails of stratified_tails_f32
    tiny = apply(_normal_quantile_f32, np.array([-1e-30, 1e-30, -1e-45], dtype=np.float32))
    np.testing.assert_allclose(tiny[:2], [-ndtri(1e-30), ndtri(1e-30)], rtol=5e-7)
    assert np.isfinite(tiny[2]) and tiny[2] > 12.9  # |v| below the smallest normal float32: taken as it


# ------------------------------------------------------------------------------------ kernels

def _blocks(rng, n_blocks):
    sigma = rng.uniform(1.5, 6.0, n_blocks)
    theta = sigma - 1.0 + rng.uniform(0.2, 4.0, n_blocks)
    keys = rng.integers(0, 2**63, size=2, dtype=np.uint64)
    return ((sigma - 1) / theta, rng.uniform(0.0, 2.0, n_blocks), rng.uniform(0.0, 1.0, n_blocks),
            rng.uniform(-0.95, 0.95, n_blocks), kernels.block_keys(keys[0], 3, n_blocks),
            kernels.block_keys(keys[1], 3, n_blocks))


def _strata(rng, n_blocks, n_firms, s_a):
    """Strata of blocks with 0.75 to 60 times ``n_firms`` real firms (the default calibration's range;
    the first below ``n_firms``: equal weights)."""
    real = np.round(n_firms * np.exp(rng.uniform(np.log(0.75), np.log(60.0), n_blocks)))
    real[0] = np.round(0.75 * n_firms)
    return block_strata(real, n_firms, s_a)


def test_float32_kernel_matches_float64_within_the_stated_tolerance(rng):
    n_blocks, n_dest, n_firms = 6, 5, 30_000
    sm1, s_a, s_e, rho, pk, sk = _blocks(rng, n_blocks)
    strata = _strata(rng, n_blocks, n_firms, s_a)
    thresholds = rng.normal(0.5, 1.5, (n_blocks, n_dest))
    out = {}
    for name, fn in (("f64", brute.direct_cell_sums), ("f32", brute.direct_cell_sums_f32)):
        active = np.empty((n_blocks, n_dest))
        sales = np.empty((n_blocks, n_dest))
        fn(pk, sk, sm1, s_a, s_e, rho, n_firms, *strata, thresholds, 4096, active, sales)
        out[name] = active, sales
    (a64, s64), (a32, s32) = out["f64"], out["f32"]
    max_weight = strata[2].max(axis=1)[:, None]
    assert np.all(np.abs(a32 - a64) <= 2 * max_weight + 1e-4 * a64)
    assert (a32 == a64).mean() > 0.8  # the same pairs: the same weights added in the same order
    same = a32 == a64
    np.testing.assert_allclose(s32[same], s64[same], rtol=1e-5)


def test_kernels_do_not_depend_on_thread_count(rng):
    n_blocks, n_dest, n_firms = 4, 3, 5_000
    sm1, s_a, s_e, rho, pk, sk = _blocks(rng, n_blocks)
    strata = _strata(rng, n_blocks, n_firms, s_a)
    thresholds = rng.normal(0.5, 1.0, (n_blocks, n_dest))
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            run = []
            for fn in (brute.direct_cell_sums, brute.direct_cell_sums_f32):
                active = np.empty((n_blocks, n_dest))
                sales = np.empty((n_blocks, n_dest))
                fn(pk, sk, sm1, s_a, s_e, rho, n_firms, *strata, thresholds, 1024, active, sales)
                run += [active, sales]
            entry = np.empty((n_blocks, n_dest, n_firms))
            tails = [np.empty((n_blocks, n_dest, n_firms + 1)) for _ in range(3)]  # sales, count, split
            kernels.rank_cells(pk, sk, sm1, s_a, s_e, rho, n_firms, *strata, entry, *tails)
            results.append(run + [entry, *tails])
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(results[0], results[-1]):
        np.testing.assert_array_equal(a, b)


def test_firm_scores_give_the_ranked_scores_bit_for_bit(rng):
    """The scalar path (firm-level output) and the vectorised one (aggregates) agree exactly, so
    a firm is in the firm-level output exactly when the aggregates count it; with strata that give
    pairs unequal weights (more real firms than simulated ones) and equal ones (fewer)."""
    n_blocks, n_dest, n_firms = 2, 4, 3_001
    sm1, s_a, s_e, rho, pk, sk = _blocks(rng, n_blocks)
    strata = block_strata(np.array([2e5, 1e3]), n_firms, s_a)
    entry = np.empty((n_blocks, n_dest, n_firms))
    tail = np.empty((n_blocks, n_dest, n_firms + 1))
    count, split = np.empty((n_blocks, n_dest, n_firms + 1)), np.empty((n_blocks, n_dest, n_firms + 1))
    kernels.rank_cells(pk, sk, sm1, s_a, s_e, rho, n_firms, *strata, entry, tail, count, split)
    firms = np.arange(n_firms, dtype=np.int64)
    for b in range(n_blocks):
        slp = np.empty(n_firms)
        sales = np.empty((n_firms, n_dest))
        scores = np.empty((n_firms, n_dest))
        weight = np.empty((n_firms, n_dest))
        kernels.firm_scores(pk[b], sk[b], sm1[b], s_a[b], s_e[b], rho[b], np.stack([x[b] for x in strata]), firms,
                            n_dest, slp, sales, scores, weight)
        np.testing.assert_array_equal(np.sort(scores, axis=0).T, entry[b])
        order = np.argsort(scores, axis=0, kind="stable")
        top_down = np.take_along_axis(weight * np.exp(sales), order, axis=0)[::-1].cumsum(axis=0)[::-1].T
        np.testing.assert_allclose(tail[b, :, :-1], top_down, rtol=1e-13)
        real = np.take_along_axis(weight, order, axis=0)[::-1].cumsum(axis=0)[::-1].T
        np.testing.assert_allclose(count[b, :, :-1], real, rtol=1e-13)


@pytest.mark.parametrize("case", ["normal", "many", "ties", "crowded", "infinite", "tiny", "one"])
def test_sort_scores_is_the_stable_order(rng, case):
    n = 20_000
    values = {
        "normal": lambda: rng.normal(0, 3, n),  # keys packed in 32 bits
        "many": lambda: rng.normal(0, 3, 100_000),  # more than 2**16 values: keys packed in 64 bits
        "ties": lambda: np.round(rng.normal(0, 1, n), 2),  # with -0.0 and 0.0
        "crowded": lambda: np.r_[rng.normal(0, 1e-12, n), 1e6],  # one key for almost all: exact fallback
        "infinite": lambda: np.r_[rng.normal(0, 1, n), np.inf, -np.inf],  # exact fallback
        "tiny": lambda: rng.normal(0, 1, 3),
        "one": lambda: np.array([4.2]),
    }[case]()
    m = values.size
    out, order = np.empty(m), np.empty(m, dtype=np.int64)
    sort_scores(values, out, order, np.empty(m, np.uint64), np.empty(m, np.uint64), np.empty(4096, np.int64))
    expected = np.argsort(values, kind="stable")  # ties (and -0.0, 0.0) keep their input order
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(out, values[expected])
