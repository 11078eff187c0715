"""GPU kernel throughput (``kernels.cuda``): skipped without a usable NVIDIA GPU (and under the simulator).

- ``cuda default draws``: 16 draws of the default draw (80 blocks x 20,000 firms x 10 destinations,
  2.6e8 firm-destination evaluations) in one launch of ``direct_cell_sums_draws``, float64, float32 and float32_fast (against CPU float64);
- ``cuda dynamic``: ``dynamic_cell_sums`` on 40 blocks x 10 destinations x 20,000 firms x 24 periods;
- ``cuda dynamic ge``: one ``dynamic_period_aggregates`` call (two shifts) of the ge closure on 80 blocks
  x 10 destinations x 20,000 firms, the per-pair state in device memory (``kernels.cuda.dynamic_ge``).

With benchmarks disabled (the default test run) each runs once on a small problem and checks its
result against the CPU kernel. ``bench/gpu_check.py`` is the one-shot script for a lent GPU (agreement
and speed into a JSON file); these are the same measurements inside pytest-benchmark.
"""

import importlib.util
import os

import numpy as np
import pytest

from bench.conftest import benchmarks_disabled
from kernels import dynamic, dynamic_ge
from kernels.reference import static as cpu
from tests import cuda_cases, reference_cases


@pytest.fixture(scope="module")
def gpu():
    """``kernels.cuda`` when a real GPU is usable, else skip."""
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed (pip install '.[cuda]')")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("CUDA simulator: no GPU timings")
    from engine.devices import cuda_status

    usable, reason = cuda_status()
    if not usable:
        pytest.skip(f"no GPU: {reason}")
    from types import SimpleNamespace

    from kernels.cuda import dynamic as kdyn
    from kernels.reference.cuda import static as kstatic

    return SimpleNamespace(direct_cell_sums_draws=kstatic.direct_cell_sums_draws, dynamic_cell_sums=kdyn.dynamic_cell_sums)


@pytest.mark.benchmark(group="cuda default draws")
@pytest.mark.parametrize("precision", ["float64", "float32", "float32_fast"])
def test_cuda_default_draws(benchmark, request, gpu, precision):
    full = not benchmarks_disabled(request.config)
    blocks, dest, firms, draws = (80, 10, 20_000, 16) if full else (8, 4, 3000, 2)
    case = reference_cases.static_case(2025, blocks, dest, firms, n_draws=draws)
    active, sales = np.zeros(case[3].shape), np.zeros(case[3].shape)
    args = (case[0], case[1], *case[2], firms, *case[4], case[3], 4096, active, sales)
    gpu.direct_cell_sums_draws(*args, precision=precision)  # compile
    benchmark.pedantic(gpu.direct_cell_sums_draws, args=args, kwargs={"precision": precision},
                       rounds=20 if full else 1, iterations=1)
    evaluations = draws * blocks * dest * firms
    benchmark.extra_info.update(evaluations=evaluations, precision=precision)
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    kernel = cpu.direct_cell_sums_f32 if precision == "float32" else cpu.direct_cell_sums  # float32_fast: vs float64
    want_active, want_sales = reference_cases.run_static(kernel, (case[0][:1], case[1][:1], case[2], case[3][:1],
                                                                  case[4]), firms, 4096)
    same = np.isclose(active[:1], want_active, rtol=1e-12, atol=0)  # the same pairs, weights added in another order
    flips = np.abs(active[:1] - want_active) / case[4][2].max(axis=1)[None, :, None]  # in the heaviest pair's weights
    assert same.all() if precision == "float64" else flips.max() <= {"float32": 2, "float32_fast": 3}[precision]
    np.testing.assert_allclose(sales[:1][same], want_sales[same],
                               rtol={"float64": 1e-12, "float32": 1e-5, "float32_fast": 2e-5}[precision])


@pytest.mark.benchmark(group="cuda dynamic")
def test_cuda_dynamic_cell_sums(benchmark, request, gpu):
    full = not benchmarks_disabled(request.config)
    blocks, dest, firms, periods = (40, 10, 20_000, 24) if full else (4, 3, 2000, 6)
    baseline, sums = cuda_cases.dynamic_case(2025, blocks, dest, firms, periods)
    out = [np.zeros((periods, blocks, dest)) for _ in range(7)]
    gpu.dynamic_cell_sums(*sums, *out)  # compile
    benchmark.pedantic(gpu.dynamic_cell_sums, args=(*sums, *out), rounds=5 if full else 1, iterations=1)
    evaluations = blocks * dest * firms * periods
    benchmark.extra_info.update(firm_destination_periods=evaluations)
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    want = [np.zeros_like(o) for o in out]
    dynamic.dynamic_cell_sums(*sums, *want)
    np.testing.assert_array_equal(out[0], want[0])
    np.testing.assert_allclose(out[1], want[1], rtol=1e-12)


@pytest.mark.benchmark(group="cuda dynamic ge")
def test_cuda_dynamic_period_aggregates(benchmark, request, gpu):
    """One ``dynamic_period_aggregates`` call at two shifts (a Newton step of the dynamic ge closure),
    the per-pair state in device memory (``kernels.cuda.dynamic_ge``), against the CPU kernel's result."""
    from kernels.cuda import dynamic_ge as kd

    full = not benchmarks_disabled(request.config)
    blocks, dest, firms = (80, 10, 20_000) if full else (4, 3, 2000)
    case = cuda_cases.dynamic_ge_case(2025, blocks, dest, firms, n_periods=2)
    names = cuda_cases.DYNAMIC_GE_KERNELS
    want = cuda_cases.run_dynamic_ge({n: getattr(dynamic_ge, n) for n in names}, case)
    sales, entry = kd.device_empty((blocks, dest, firms)), kd.device_empty((blocks, dest, firms))
    eta, weight = kd.device_empty((blocks, dest, firms), np.float32), kd.device_empty((blocks, dest, firms))
    kd.dynamic_pair_scores(*case["keys"][:2], *case["params"], firms, case["strata"], sales, entry, eta, weight,
                           np.arange(dest, dtype=np.int64), dest)
    z, status = kd.device_copy(want["z"][-1]), kd.device_copy(want["status"][-2])
    table, shifts = np.ascontiguousarray(case["thresholds"][1]), np.ascontiguousarray(case["shifts"][1])
    outs = [np.empty(shifts.shape) for _ in range(4)] + [np.empty((4, *shifts.shape)) for _ in range(2)]
    args = (sales, entry, eta, weight, z, case["z_score"], status, table, shifts, *outs)
    kd.dynamic_period_aggregates(*args)  # compile
    benchmark.pedantic(kd.dynamic_period_aggregates, args=args, rounds=10 if full else 1, iterations=1)
    evaluations = blocks * dest * firms * shifts.shape[0]
    benchmark.extra_info.update(pair_shifts=evaluations)
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    flips = np.abs(outs[0] - want["aggregates"][0, 0])
    heaviest = case["strata"][:, 2].max()  # a pair counts for its stratum's weight of real pairs
    assert flips.max() <= heaviest, "a count flip: a score within rounding of a threshold (at most one pair per cell)"
    same = flips == 0
    np.testing.assert_allclose(outs[1][same], want["aggregates"][0, 1][same], rtol=1e-12)
