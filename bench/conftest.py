"""Set-up shared by the kernel benchmarks (``bench/test_bench_kernels.py``, ``bench/test_bench_startup.py``).

- Problem sizes: the real sizes run only with ``--benchmark-enable``; with the default
  ``--benchmark-disable`` (pyproject's addopts) every benchmark runs a tiny problem once and checks
  its result, so the plain test command stays fast.
- ``--bench-large``: also run the benchmarks marked ``large`` (1e7 firms, about a minute); without
  it they are skipped when benchmarks are enabled (and run tiny when disabled).
- Every benchmark stores ``evaluations`` (firm-destination pairs per call) and, after timing,
  ``evaluations_per_s`` (from the median time) in ``benchmark.extra_info``; the kernel-against-NumPy
  ratios of the same run are added to the JSON report (``"kernel_summary"``) and printed at the end.
"""

import platform

import numba
import numpy as np
import pytest

from bench.problems import TINY, Problem

_RESULTS = pytest.StashKey[dict]()

def pytest_addoption(parser):
    parser.addoption("--bench-large", action="store_true", default=False,
                     help="also run the kernel benchmarks marked 'large' (1e7 firms)")


def pytest_configure(config):
    config.addinivalue_line("markers", "large: kernel benchmarks with 1e7 firms; run with --bench-large")
    config.stash[_RESULTS] = {}
    if not benchmarks_disabled(config) and (config.getoption("numprocesses", None) or 0) != 0:
        # pyproject's addopts run the tests on parallel workers; timings need the machine to themselves
        raise pytest.UsageError("--benchmark-enable needs -n 0 (no parallel test workers): "
                                "python -m pytest -n 0 bench --benchmark-enable")


def benchmarks_disabled(config):
    """pytest-benchmark's own rule: ``--benchmark-enable`` overrides ``--benchmark-disable``."""
    return config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")


def pytest_collection_modifyitems(config, items):
    if benchmarks_disabled(config) or config.getoption("--bench-large"):
        return
    skip = pytest.mark.skip(reason="1e7 firms: add --bench-large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def full(request):
    """True when benchmarks are enabled (real sizes), False for the quick tiny check."""
    return not benchmarks_disabled(request.config)


@pytest.fixture
def problem(full):
    """``problem(**size)``: a ``Problem`` of that size, or the tiny one when benchmarks are disabled."""
    def make(blocks, firms, dest):
        return Problem(blocks, firms, dest) if full else Problem(**TINY)
    return make


@pytest.fixture
def threads():
    """``threads(n)`` sets Numba's thread count for the test (skips if fewer are available)."""
    previous = numba.get_num_threads()

    def set_threads(n):
        if n > numba.config.NUMBA_NUM_THREADS:
            pytest.skip(f"{n} threads requested, {numba.config.NUMBA_NUM_THREADS} available")
        numba.set_num_threads(n)
        return n

    yield set_threads
    numba.set_num_threads(previous)


@pytest.fixture
def record(request, benchmark):
    """``record(group_key, label, evaluations, **info)`` after a timed call: extra_info and the summary."""
    def save(group_key, label, evaluations, **info):
        benchmark.extra_info.update(evaluations=evaluations, **info)
        if benchmark.stats is None:  # benchmarks disabled: nothing was timed
            return None
        stats = benchmark.stats.stats
        rate = evaluations / stats.median
        benchmark.extra_info.update(evaluations_per_s=rate, evaluations_per_s_best=evaluations / stats.min)
        results = request.config.stash[_RESULTS]
        results[(group_key, label)] = dict(median_s=stats.median, min_s=stats.min, rounds=stats.rounds,
                                           evaluations=evaluations, evaluations_per_s=rate, **info)
        numpy = results.get((group_key, f"numpy {info.get('dtype')}"))
        if info.get("implementation") == "kernel" and numpy:
            benchmark.extra_info["ratio_to_numpy"] = rate / numpy["evaluations_per_s"]
        return rate
    return save


def ratios(results):
    """Kernel / NumPy rate for each kernel result that has a NumPy result of the same group and dtype."""
    out = {}
    for (group, label), r in results.items():
        if r.get("implementation") != "kernel":
            continue
        base = results.get((group, f"numpy {r['dtype']}"))
        if base:
            out[f"{group}: {label}"] = r["evaluations_per_s"] / base["evaluations_per_s"]
    return out


def pytest_benchmark_update_json(config, benchmarks, output_json):
    results = config.stash.get(_RESULTS, {})
    if results:
        output_json["kernel_summary"] = {
            "results": {f"{g}: {label}": r for (g, label), r in results.items()},
            "ratio_to_numpy": ratios(results),
            "machine": {"processor": platform.processor(), "cpu_count": numba.config.NUMBA_NUM_THREADS,
                        "numba": numba.__version__, "numpy": np.__version__},
        }


def pytest_terminal_summary(terminalreporter, config):
    results = config.stash.get(_RESULTS, {})
    if not results:
        return
    rel = ratios(results)
    tr = terminalreporter
    tr.section("kernel benchmarks: million firm-destination evaluations per second")
    tr.write_line(f"{'group':<24} {'variant':<28} {'median s':>9} {'median':>8} {'best':>8} {'x NumPy':>8}")
    for (group, label), r in results.items():
        ratio = rel.get(f"{group}: {label}")
        tr.write_line(f"{group:<24} {label:<28} {r['median_s']:>9.4f} {r['evaluations_per_s'] / 1e6:>8.1f} "
                      f"{r['evaluations'] / r['min_s'] / 1e6:>8.1f} {'' if ratio is None else f'{ratio:.1f}':>8}")
    tr.write_line("median: from the median time; best: from the fastest round; x NumPy: kernel median rate / "
                  "NumPy median rate, same group and dtype")
