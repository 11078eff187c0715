"""Kernel throughput: ``direct_cell_sums`` against the NumPy implementation of the same model.

Groups (``--benchmark-group-by=group`` is the default):

- ``default draw``: the engine's default draw (80 blocks x 20,000 firms x 10 destinations = 16 M
  firm-destination evaluations): NumPy (``bench/numpy_model.py``, float64 and float32, one thread:
  NumPy's element-wise functions do not use threads) and the kernel in float64 and float32 on 1 and
  2 Numba threads;
- ``firms scaling``: 1e4 .. 1e6 firms in total (80 blocks x 125 .. 12,500 firms, 10 destinations),
  kernel (float64, 2 threads) and NumPy; 1e7 firms (kernel only) is marked ``large``;
- ``destinations scaling``: 80 blocks x 5,000 firms x 1 .. 100 destinations;
- ``rank_cells``: one default draw ranked (the production path: the same random numbers, then a
  sort and tail sums per cell), 1 and 2 threads.

Every kernel call is compiled before it is timed. Each test also checks its result: the float64
kernel equals the NumPy model (real pairs and sums to 1e-12), the float32 kernel is within the
tolerance stated in ``tests/test_fastmath.py``, and ``rank_cells`` + ``evaluate_cells`` equal
``direct_cell_sums``. The inputs have stratified demand shocks (``bench.problems.Problem``).
"""

import functools

import numpy as np
import pytest

import kernels
from bench.numpy_model import direct_cell_sums as numpy_cell_sums
from bench.problems import DEFAULT_DRAW, Problem
from engine.config import FIRM_CHUNK
from kernels.reference import static as brute

KERNELS = {"float64": brute.direct_cell_sums, "float32": brute.direct_cell_sums_f32}


def _rounds(full, evaluations, budget=4e8, at_least=5, at_most=200):
    """Timed rounds: about ``budget`` evaluations in all (a few seconds), within the bounds."""
    return int(np.clip(budget / evaluations, at_least, at_most)) if full else 1


def _kernel_outputs(p):
    return np.empty((p.blocks, p.dest)), np.empty((p.blocks, p.dest))


def _run_kernel(fn, p, outputs):
    fn(*p.params(), p.thresholds, FIRM_CHUNK, *outputs)
    return outputs


@functools.lru_cache(maxsize=8)
def _numpy_result(blocks, firms, dest, dtype):
    p = Problem(blocks, firms, dest)
    return numpy_cell_sums(*p.params(), p.thresholds, dtype=dtype)


def _check(dtype, p, active, sales):
    """The kernel's result against the NumPy model's (computed once per size and dtype)."""
    _check_against(dtype, p, _numpy_result(p.blocks, p.firms, p.dest, dtype), active, sales)


def _check_against(dtype, p, numpy_result, active, sales):
    ref_active, ref_sales = numpy_result
    max_weight = p.strata[2].max(axis=1)[:, None]  # the real pairs of the block's heaviest pair
    if dtype == "float64":  # real pairs: the same weights added in another order
        np.testing.assert_allclose(active, ref_active, rtol=1e-12)
        np.testing.assert_allclose(sales, ref_sales, rtol=1e-12)
    else:  # float32 arithmetic in both, with different roundings: tests/test_fastmath.py
        assert np.all(np.abs(active - ref_active) <= 2 * max_weight + 1e-4 * ref_active)
        same = np.isclose(active, ref_active, rtol=1e-12, atol=0)
        np.testing.assert_allclose(sales[same], ref_sales[same], rtol=1e-5)


# ------------------------------------------------------------------------------ default draw

@pytest.mark.benchmark(group="default draw")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_default_draw(benchmark, problem, record, full, dtype):
    p = problem(**DEFAULT_DRAW)
    active, sales = benchmark.pedantic(numpy_cell_sums, args=(*p.params(), p.thresholds),
                                       kwargs=dict(dtype=dtype), rounds=3 if full else 1, iterations=1)
    record("default draw", f"numpy {dtype}", p.evaluations, implementation="numpy", dtype=dtype, threads=1,
           active_share=float(active.sum() / (p.real_firms.sum() * p.dest)))  # of the real pairs
    _check_against(dtype, p, (active, sales), *_run_kernel(KERNELS[dtype], p, _kernel_outputs(p)))


@pytest.mark.benchmark(group="default draw")
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_default_draw(benchmark, problem, record, threads, full, dtype, n_threads):
    threads(n_threads)
    p = problem(**DEFAULT_DRAW)
    outputs = _kernel_outputs(p)
    _run_kernel(KERNELS[dtype], p, outputs)  # compile (or load from the cache) outside the timing
    benchmark.pedantic(_run_kernel, args=(KERNELS[dtype], p, outputs), rounds=_rounds(full, p.evaluations),
                       iterations=1, warmup_rounds=1 if full else 0)
    record("default draw", f"kernel {dtype} {n_threads} thread{'s' * (n_threads > 1)}", p.evaluations,
           implementation="kernel", dtype=dtype, threads=n_threads)
    _check(dtype, p, *outputs)


# ------------------------------------------------------------------------------------ scaling

FIRMS = [("kernel", 10_000), ("kernel", 100_000), ("kernel", 1_000_000),
         pytest.param("kernel", 10_000_000, marks=pytest.mark.large),
         ("numpy", 10_000), ("numpy", 100_000), ("numpy", 1_000_000)]  # NumPy at 1e7 firms: 10 s a call
DESTINATIONS = [("kernel", 1), ("kernel", 3), ("kernel", 10), ("kernel", 30), ("kernel", 100),
                ("numpy", 1), ("numpy", 3), ("numpy", 10), ("numpy", 30)]


def _scaling(benchmark, record, full, p, group, implementation, **info):
    if implementation == "numpy":
        result = benchmark.pedantic(numpy_cell_sums, args=(*p.params(), p.thresholds),
                                    rounds=_rounds(full, p.evaluations, budget=1e7, at_least=2), iterations=1)
        record(group, "numpy float64", p.evaluations, implementation="numpy", dtype="float64", threads=1, **info)
        _check("float64", p, *result)
        return
    outputs = _kernel_outputs(p)
    _run_kernel(brute.direct_cell_sums, p, outputs)
    benchmark.pedantic(_run_kernel, args=(brute.direct_cell_sums, p, outputs),
                       rounds=_rounds(full, p.evaluations), iterations=1, warmup_rounds=1 if full else 0)
    record(group, "kernel float64 2 threads", p.evaluations, implementation="kernel", dtype="float64", threads=2,
           **info)
    if p.evaluations <= 10**7:
        _check("float64", p, *outputs)


@pytest.mark.benchmark(group="firms scaling")
@pytest.mark.parametrize(("implementation", "total_firms"), FIRMS)
def test_firms_scaling(benchmark, problem, record, threads, full, implementation, total_firms):
    threads(2)
    p = problem(blocks=80, firms=total_firms // 80, dest=10)
    _scaling(benchmark, record, full, p, f"firms {total_firms:.0e}", implementation, total_firms=total_firms)


@pytest.mark.benchmark(group="destinations scaling")
@pytest.mark.parametrize(("implementation", "dest"), DESTINATIONS)
def test_destinations_scaling(benchmark, problem, record, threads, full, implementation, dest):
    threads(2)
    p = problem(blocks=80, firms=5_000, dest=dest)
    _scaling(benchmark, record, full, p, f"destinations {dest}", implementation, dest=dest)


# ---------------------------------------------------------------------------------- rank_cells

def _rank(p, entry, tail, count, split):
    kernels.rank_cells(*p.params(), entry, tail, count, split)
    return entry, tail, count


@pytest.mark.benchmark(group="rank_cells")
@pytest.mark.parametrize("n_threads", [1, 2])
def test_rank_cells_default_draw(benchmark, problem, record, threads, full, n_threads):
    """One draw of the production path: draw every pair, sort each cell, tail sums."""
    threads(n_threads)
    p = problem(**DEFAULT_DRAW)
    entry = np.empty((p.blocks, p.dest, p.firms))
    tail = np.empty((p.blocks, p.dest, p.firms + 1))
    tail_count, tail_split = np.empty_like(tail), np.empty_like(tail)
    _rank(p, entry, tail, tail_count, tail_split)
    benchmark.pedantic(_rank, args=(p, entry, tail, tail_count, tail_split), rounds=10 if full else 1, iterations=1,
                       warmup_rounds=1 if full else 0)
    record("rank_cells (one draw)", f"rank_cells {n_threads} thread{'s' * (n_threads > 1)}", p.evaluations,
           implementation="rank_cells", dtype="float64", threads=n_threads)
    # the ranking gives the brute-force sums at any threshold
    assert np.all(np.diff(entry, axis=2) >= 0)
    first = np.empty((1, p.blocks, p.dest), dtype=np.int64)
    sales = np.empty((1, p.blocks, p.dest))
    kernels.evaluate_cells(entry, tail, p.thresholds[None], first, sales)
    active, direct = _run_kernel(brute.direct_cell_sums, p, _kernel_outputs(p))
    blocks, dests = np.indices((p.blocks, p.dest))
    np.testing.assert_allclose(tail_count[blocks, dests, first[0]], active, rtol=1e-12)
    np.testing.assert_allclose(sales[0], direct, rtol=1e-12)
