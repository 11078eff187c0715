"""Executors: the same seed gives the same bytes locally and on Dask (LocalCluster of 2 worker
processes, and an existing cluster by its scheduler address); the SLURM example builds its cluster."""

import importlib.util
from pathlib import Path

import pytest

import engine
from engine.runs.plan import build_plan, simulate_draw

pytest.importorskip("dask.distributed")

REPO = Path(__file__).resolve().parent.parent
SETTINGS = dict(draws=4, firms=300, seed=17, draws_per_chunk=1)


def table_bytes(folder):
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return engine.simulate(["us_japan_2025", "liberation_day_2025"], out=tmp_path_factory.mktemp("x") / "local",
                           **SETTINGS)


def test_local_cluster_of_two_worker_processes_gives_the_same_bytes(local_run, tmp_path):
    run = engine.simulate(["us_japan_2025", "liberation_day_2025"], out=tmp_path / "dask", local_cluster=2,
                          **SETTINGS)
    assert run.manifest["executor"] == "dask"
    local, dask = table_bytes(local_run.path), table_bytes(run.path)
    assert any(name.startswith("flows/") for name in local)
    assert local.keys() == dask.keys() and local == dask
    assert len({c["pid"] for c in run.manifest["chunks"]} - {c["pid"] for c in local_run.manifest["chunks"]}) >= 1


def test_an_existing_cluster_by_scheduler_address_gives_the_same_bytes(local_run, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        run = engine.simulate(["us_japan_2025", "liberation_day_2025"], out=tmp_path / "remote",
                              scheduler=cluster.scheduler_address, **SETTINGS)
    assert table_bytes(run.path) == table_bytes(local_run.path)


def test_the_unit_of_work_is_pure(local_run):
    """simulate_draw gives the same numbers twice, in any order, with or without scratch buffers."""
    import numpy as np

    plan = build_plan(["us_japan_2025", "liberation_day_2025"], **SETTINGS)
    scratch = []
    late = simulate_draw(plan, 3, scratch)
    early = simulate_draw(plan, 0, scratch)
    again = simulate_draw(plan, 3)
    for name in late:
        assert np.array_equal(late[name].cells.exports, again[name].cells.exports)
        assert late[name].record == again[name].record
    frame = local_run.flows.filter(local_run.flows["draw"] == 0)
    frame = frame.filter(frame["scenario"] == "us_japan_2025").sort("period", "origin", "destination", "sector")
    assert np.array_equal(np.sort(frame["exports"].to_numpy()), np.sort(early["us_japan_2025"].cells.exports.ravel()))


def test_the_slurm_example_builds_its_cluster_and_job_script():
    pytest.importorskip("dask_jobqueue")
    spec = importlib.util.spec_from_file_location("slurm_dask", REPO / "docs" / "examples" / "slurm_dask.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cluster = module.make_cluster(queue="short", account="trade", cores=4, memory="8GiB", walltime="00:30:00")
    try:
        script = cluster.job_script()
        for line in ("#SBATCH -p short", "#SBATCH -A trade", "#SBATCH --cpus-per-task=4", "#SBATCH -t 00:30:00",
                     "export NUMBA_NUM_THREADS=1", "--nworkers 4"):
            assert line in script, (line, script)
        assert cluster.scheduler_address.startswith("tcp://")
    finally:
        cluster.close()


def test_the_cli_runs_on_a_scheduler_and_refuses_a_bad_worker_count(local_run, tmp_path):
    from click.testing import CliRunner
    from dask.distributed import LocalCluster

    from engine.cli.main import main

    args = ["simulate", "us_japan_2025", "liberation_day_2025", "--draws", "4", "--firms", "300", "--seed", "17",
            "--draws-per-chunk", "1", "-q"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cli"), "--scheduler",
                                           cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert table_bytes(tmp_path / "cli") == table_bytes(local_run.path)
    bad = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "bad"), "--local-cluster", "0"])
    assert bad.exit_code == 2 and "--local-cluster" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))
