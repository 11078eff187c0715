"""Executors: draws per second with the local executor and a Dask LocalCluster of 1 and 2 worker
processes, and the overhead of one Dask task.

Full sizes only with ``--benchmark-enable`` (16 draws of the default scenario at 20,000 firms, one
draw per chunk, so 16 tasks); with the default ``--benchmark-disable`` each runs a tiny version once
and checks that the executors wrote the same bytes. Cluster start-up is not timed (the cluster is
started once per executor, outside the timing); each timed round writes a fresh run folder.
"""

import itertools
from pathlib import Path

import pytest

import engine
from bench.conftest import benchmarks_disabled

pytest.importorskip("dask.distributed")

_ROUND = itertools.count()


def _size(request):
    full = not benchmarks_disabled(request.config)
    return (dict(draws=16, firms=20_000, draws_per_chunk=1) if full else dict(draws=2, firms=200, draws_per_chunk=1)), full


def _flows(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(Path(path, "flows").rglob("*.parquet"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, request):
    size, _ = _size(request)
    return engine.simulate(out=tmp_path_factory.mktemp("ref") / "run", seed=3, **size)


@pytest.mark.parametrize("executor", ["local", "dask-1", "dask-2"])
def test_draws_per_second(benchmark, request, tmp_path, reference, executor):
    from engine.runs.executors import DaskExecutor, LocalExecutor

    size, full = _size(request)
    runner = LocalExecutor() if executor == "local" else DaskExecutor(workers=int(executor[-1]))
    try:
        engine.simulate(out=tmp_path / "warm", seed=3, executor=runner, **size)  # compile on every worker

        def run():
            return engine.simulate(out=tmp_path / f"run{next(_ROUND)}", seed=3, executor=runner, **size)

        result = benchmark.pedantic(run, rounds=3 if full else 1, iterations=1)
    finally:
        runner.close()
    assert _flows(result.path) == _flows(reference.path)
    benchmark.extra_info["draws"] = size["draws"]
    if benchmark.stats is not None:
        benchmark.extra_info["draws_per_s"] = size["draws"] / benchmark.stats.stats.median


def test_overhead_per_dask_task(benchmark, request, tmp_path):
    """A tiny run (1 draw per task, 50 firms) on one worker: nearly all of its time per task is
    Dask's (submit, schedule, result) plus writing the part files."""
    from engine.runs.executors import DaskExecutor, LocalExecutor

    full = not benchmarks_disabled(request.config)
    size = dict(draws=16 if full else 2, firms=50, draws_per_chunk=1)
    dask, local = DaskExecutor(workers=1), LocalExecutor(threads=1)
    try:
        engine.simulate(out=tmp_path / "warm", executor=dask, **size)
        local_run = engine.simulate(out=tmp_path / "local", executor=local, **size)

        def run():
            return engine.simulate(out=tmp_path / f"run{next(_ROUND)}", executor=dask, **size)

        result = benchmark.pedantic(run, rounds=3 if full else 1, iterations=1)
    finally:
        dask.close()
    assert _flows(result.path) == _flows(local_run.path)
    benchmark.extra_info["tasks"] = size["draws"]
    benchmark.extra_info["local_run_s"] = local_run.manifest["timings"]["total_s"]
    if benchmark.stats is not None:
        benchmark.extra_info["overhead_per_task_s"] = (
            (benchmark.stats.stats.median - local_run.manifest["timings"]["total_s"]) / size["draws"])
