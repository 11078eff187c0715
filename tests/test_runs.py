"""Runs that never lose data: locks, signals and resume, one schema per table, environment errors."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

import engine
import engine.runs.simulate
import engine.runs.store
from engine._version import __version__
from engine.cli.main import main
from engine.errors import InputError
from engine.outputs.schemas import OUTPUT_SCHEMA_VERSION
from engine.runs.plan import build_plan
from engine.runs.store import RunStore
from tests.conftest import write_scenario

TABLES = ("flows", "draws", "regions", "prices", "summary")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def table_bytes(folder, tables=TABLES):
    """{relative path: bytes} of every Parquet file of the run's tables."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for t in tables for p in sorted((folder / t).rglob("*.parquet"))}


def one_error_line(result):
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), lines
    assert "Traceback" not in result.output
    return lines[0]


# --------------------------------------------------------------------------- one schema per table

@pytest.fixture(scope="module")
def two_scenario_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "run"
    # firm rows come from the static firm model (the dynamic one writes none yet)
    return engine.simulate(["us_japan_2025", "liberation_day_2025"], draws=3, firms=300, seed=5, out=out,
                           draws_per_chunk=2, firm_output="sample", dynamics="static")


@pytest.mark.parametrize("table", [*TABLES, "firms"])
def test_every_table_reads_with_polars_pyarrow_and_duckdb_without_options(two_scenario_run, table):
    """The draws table of a two-scenario run once had part files with different schemas: Polars
    refused to scan it, pyarrow and DuckDB dropped every sampled-parameter column."""
    folder = two_scenario_run.path / table
    schemas = {str(pl.read_parquet_schema(p)) for p in folder.rglob("*.parquet")}
    assert len(schemas) == 1, schemas
    expected = two_scenario_run.scan(table).collect()
    polars_frame = pl.scan_parquet(folder).collect()
    arrow_table = ds.dataset(folder).to_table()
    duck = duckdb.sql(f"select * from read_parquet('{folder}/*/*.parquet')").pl()
    for frame in (polars_frame, pl.from_arrow(arrow_table), duck):
        assert frame.height == expected.height
        data_columns = [c for c in expected.columns if c != "scenario"]
        assert set(data_columns) <= set(frame.columns)
        for column in data_columns:  # every value survives, nulls included
            assert frame[column].null_count() == expected[column].null_count(), column


def test_draws_columns_are_the_union_with_nulls_where_they_do_not_apply(two_scenario_run):
    draws = two_scenario_run.draws
    sampled = [c for c in draws.columns if c.startswith(("theta", "pass_through", "sunk_cost_ratio"))]
    assert sampled, draws.columns
    japan = draws.filter(pl.col("scenario") == "us_japan_2025")
    liberation = draws.filter(pl.col("scenario") == "liberation_day_2025")
    assert japan.height == liberation.height == 3
    assert all(japan[c].null_count() == 0 for c in sampled)
    assert all(liberation[c].null_count() == liberation.height for c in sampled)


def test_firm_rows_are_written_per_chunk(two_scenario_run):
    parts = sorted(p.name for p in (two_scenario_run.path / "firms" / "scenario=us_japan_2025").glob("*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
    manifest = two_scenario_run.manifest
    assert manifest["kind"] == "tradeflow-engine run" and manifest["schema_version"] == OUTPUT_SCHEMA_VERSION
    assert [c["part"] for c in manifest["chunks"]] == [0, 1]
    assert not (two_scenario_run.path / "_chunks").exists() and not (two_scenario_run.path / ".lock").exists()


# --------------------------------------------------------------------------- concurrency

def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path):
    out = tmp_path / "busy"
    plan = build_plan(draws=1, firms=300)
    holder = RunStore(out, plan.fingerprint())
    try:
        for extra in ([], ["--overwrite"], ["--resume"]):
            result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", out, "-q", *extra)
            assert result.exit_code == 2, (extra, result.output)
            line = one_error_line(result)
            assert "another engine run" in line and str(os.getpid()) in line, line
        assert not out.exists() and holder.partial.is_dir()
    finally:
        holder.abandon()


@pytest.mark.slow
def test_two_runs_started_together_into_one_out_cannot_both_succeed(tmp_path):
    out = tmp_path / "race"
    command = [sys.executable, "-m", "engine.cli.main", "simulate", "--draws", "4", "--firms", "2000",
               "--draws-per-chunk", "1", "--out", str(out), "-q"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    assert ("another engine run" in loser[2] or "exists and is not empty" in loser[2]), loser
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- signals and resume

def _wait_for_chunks(partial, count, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if len(list((partial / "_chunks").glob("part-*.json"))) >= count:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_killed_mid_way_resumes_to_the_same_bytes(tmp_path, signum):
    settings = ["--draws", "24", "--firms", "4000", "--draws-per-chunk", "1", "--seed", "11"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "simulate", *settings, "--out", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    partial = tmp_path / ".killed.partial"
    assert _wait_for_chunks(partial, 2, proc), proc.communicate()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, (stdout, stderr)
    assert "--resume" in stderr and str(partial) in stderr and "Traceback" not in stderr, stderr
    assert not out.exists()
    manifest = json.loads((partial / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["chunks_done"] >= 2
    done_before = len(list((partial / "_chunks").glob("*.json")))
    assert done_before < 24, "the run finished before the signal: use more draws"

    without = invoke("simulate", *settings, "--out", out, "-q")
    assert without.exit_code == 2 and "--resume" in one_error_line(without)
    resumed = invoke("simulate", *settings, "--out", out, "-q", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert not partial.exists()
    chunks = json.loads((out / "manifest.json").read_text())["chunks"]
    assert [c["part"] for c in chunks] == list(range(24))
    assert len({c["pid"] for c in chunks}) == 2  # really done by two processes

    reference = engine.simulate(draws=24, firms=4000, draws_per_chunk=1, seed=11, out=tmp_path / "whole")
    assert table_bytes(out) == table_bytes(reference.path)


def _interrupted_run(tmp_path, monkeypatch, after=1):
    """A real partial run, interrupted (as by SIGTERM) after ``after`` chunks."""
    from engine.runs import executors

    original = executors.run_chunk
    calls = []

    def interrupting(*args, **kwargs):
        if len(calls) == after:
            raise engine.runs.simulate.RunInterrupted(signal.SIGTERM)
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(executors, "run_chunk", interrupting)
    out = tmp_path / "run"
    with pytest.raises(engine.runs.simulate.RunInterrupted) as info:
        engine.simulate(draws=3, firms=300, draws_per_chunk=1, out=out)
    monkeypatch.setattr(executors, "run_chunk", original)
    assert info.value.exit_code == 143 and info.value.done == after and info.value.total == 3
    return out, info.value.partial


def test_resume_with_another_engine_or_schema_version_is_refused(tmp_path, monkeypatch):
    out, partial = _interrupted_run(tmp_path, monkeypatch)
    manifest = json.loads((partial / "manifest.json").read_text())
    for key, value in (("engine_version", "0.0.1"), ("schema_version", OUTPUT_SCHEMA_VERSION - 1)):
        (partial / "manifest.json").write_text(json.dumps({**manifest, key: value}))
        with pytest.raises(InputError, match="must not mix") as info:
            engine.simulate(draws=3, firms=300, draws_per_chunk=1, out=out, resume=True)
        assert str(value) in str(info.value) and __version__ in str(info.value)
    (partial / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="different settings .*draws"):
        engine.simulate(draws=4, firms=300, draws_per_chunk=1, out=out, resume=True)
    assert partial.is_dir() and not out.exists()
    result = engine.simulate(draws=3, firms=300, draws_per_chunk=1, out=out, resume=True)
    assert result.manifest["status"] == "complete" and len(result.manifest["chunks"]) == 3


def test_overwrite_discards_an_interrupted_run_and_resume_of_a_complete_run_is_refused(tmp_path, monkeypatch):
    out, partial = _interrupted_run(tmp_path, monkeypatch)
    result = engine.simulate(draws=2, firms=300, out=out, overwrite=True)
    assert result.manifest["draws"] == 2 and not partial.exists()
    with pytest.raises(InputError, match="already a complete run"):
        engine.simulate(draws=2, firms=300, out=out, resume=True)


def test_resume_without_an_interrupted_run_starts_one(tmp_path):
    result = engine.simulate(draws=1, firms=300, out=tmp_path / "fresh", resume=True)
    assert result.manifest["status"] == "complete"


# --------------------------------------------------------------------------- environment errors

def test_out_under_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", tmp_path / "afile" / "run", "-q")
    assert result.exit_code == 2
    assert "is a file" in one_error_line(result)
    assert (tmp_path / "afile").read_text() == "x"


def test_unwritable_folder_is_one_line_exit_2(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: the check is what we can test
        real_access = os.access
        monkeypatch.setattr(engine.runs.store.os, "access",
                            lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    try:
        result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", locked / "run", "-q")
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2
    assert "permission denied" in one_error_line(result)
    assert list(locked.iterdir()) == []


def test_disk_full_mid_run_is_one_line_and_resumable(tmp_path, monkeypatch):
    original = engine.runs.store.write_table
    calls = []

    def full_disk(path, table):
        calls.append(path)
        if len(calls) > 4:  # chunk 0's four tables fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, table)

    monkeypatch.setattr(engine.runs.store, "write_table", full_disk)
    out = tmp_path / "run"
    result = invoke("simulate", "--draws", "3", "--firms", "300", "--draws-per-chunk", "1", "--out", out, "-q")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "disk is full" in line and "--resume" in line, line
    assert not out.exists()
    monkeypatch.setattr(engine.runs.store, "write_table", original)
    resumed = invoke("simulate", "--draws", "3", "--firms", "300", "--draws-per-chunk", "1", "--out", out, "-q",
                     "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((out / "manifest.json").read_text())["chunks"]) == 3


def test_a_run_that_cannot_fit_in_memory_is_refused_with_what_would(tmp_path, monkeypatch):
    monkeypatch.setattr(engine.runs.simulate, "available_memory", lambda: 2 * 2**30)
    result = invoke("simulate", "--draws", "1", "--firms", "2000000", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "--firms" in line and "GiB" in line and "would fit" in line, line
    fits = int(line.split("at most about --firms ")[1].split()[0])
    plan = build_plan(draws=1, firms=fits)
    assert engine.runs.plan.memory_estimate(plan) <= 2 * 2**30 < engine.runs.plan.memory_estimate(build_plan(draws=1, firms=2000000))
    assert not (tmp_path / "run").exists() and list(tmp_path.iterdir()) == []


def test_an_absurd_firm_count_is_refused_on_this_machine_before_starting(tmp_path):
    result = invoke("simulate", "--draws", "1", "--firms", "100000000", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 2 and "memory" in one_error_line(result)


def test_a_huge_draw_count_does_not_hang_the_up_front_checks():
    started = time.monotonic()
    plan = build_plan(draws=10**12)
    assert plan.n_chunks == 10**12 // plan.draws_per_chunk
    assert next(iter(plan.chunks))[1] == range(0, plan.draws_per_chunk)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_scenario_files_in_utf8_with_or_without_bom_are_read(tmp_path, scenario_copy, encoding):
    path = tmp_path / "bom.toml"
    path.write_text(scenario_copy.read_text(encoding="utf-8"), encoding=encoding)
    assert engine.load_scenario(path).name == "us_japan_2025"


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("latin-1", "UTF-8")])
def test_scenario_files_in_other_encodings_are_named(tmp_path, encoding, name):
    path = tmp_path / "enc.toml"
    path.write_text('name = "café"\nstart = "2025-01"\nperiods = 3\n', encoding=encoding)
    result = invoke("scenarios", "validate", path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert str(path) in line and name in line, line


def test_a_scenario_built_in_code_runs_as_its_file_does(tmp_path, scenario_copy):
    """``simulate`` takes ``Scenario`` objects: parsed from text, one runs to the same tables as its file,
    and the manifest keeps its text and the source it was given."""
    from engine.scenario.read import parse_scenario

    text = scenario_copy.read_text(encoding="utf-8")
    built = engine.simulate(parse_scenario(text, "built in code"), draws=2, firms=300, seed=3)
    from_file = engine.simulate(scenario_copy, draws=2, firms=300, seed=3)
    assert built.flows.equals(from_file.flows)
    record = built.manifest["scenarios"][0]
    assert record["source"] == "built in code" and record["text"] == text


def test_bad_scenario_text_names_the_source_it_was_given():
    from engine.scenario.read import parse_scenario

    with pytest.raises(InputError) as err:
        parse_scenario('name = "x"\nstart = "2025-01"\nperiods = 3\nbogus = 1\n', "my notebook cell")
    assert err.value.source == "my notebook cell" and err.value.field == "bogus"


@pytest.mark.parametrize("key", ["source", "text"])
def test_keys_the_engine_fills_in_are_unknown_keys_in_a_file(key):
    from engine.scenario.read import parse_scenario

    with pytest.raises(InputError) as err:
        parse_scenario(f'name = "x"\nstart = "2025-01"\nperiods = 3\n{key} = "mine"\n', "a.toml")
    assert err.value.field == key and "unknown key" in str(err.value)


def test_runs_on_two_calibrations_in_one_process(tmp_path, small_calibration):
    """A process keeps the static model's population buffers between runs (engine.runs.executors); a
    run on another calibration with the same number of firms gets new ones, not a shape error."""
    scenario = write_scenario(tmp_path, 'name = "plain"\nstart = "2025-01"\nperiods = 3\n'
                              '[[tariff]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nrate = 0.1\n')
    small = engine.simulate(scenario, draws=1, firms=300, calibration=small_calibration, out=tmp_path / "a",
                            progress=False)
    default = engine.simulate(draws=1, firms=300, dynamics="static", out=tmp_path / "b", progress=False)
    assert small.flows["origin"].n_unique() == 3
    assert default.flows["origin"].n_unique() == 10 and default.flows["exports"].sum() > 0
