"""Progress where people wait: the compile line, ETA lines in logs, a progress bar in the API (on a
terminal by default), engine diagnose, and a Dask run without the cluster's INFO lines."""

import io
import os
import subprocess
import sys

from click.testing import CliRunner

import engine
import engine.devices
import engine.progress
import engine.runs.simulate
from engine.cli.main import main


def test_eta_lines_when_output_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_PROGRESS_EVERY", "0")
    result = CliRunner().invoke(main, ["simulate", "--draws", "3", "--firms", "300", "--draws-per-chunk", "1",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("draws ")]
    assert [line.split(" (")[0] for line in lines] == ["draws 1/3", "draws 2/3", "draws 3/3"], result.stderr
    assert all("elapsed" in line and "ETA" in line for line in lines)
    assert lines[-1].startswith("draws 3/3 (100%)")


def test_a_line_says_the_kernels_compile_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setattr(engine.progress, "kernels_cached", lambda: False)
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "300", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("Compiling the kernels on first use")


def test_no_compile_line_once_compiled(tmp_path):
    engine.simulate(draws=1, firms=300)
    assert engine.devices.kernels_cached()
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "300", "--out", str(tmp_path / "run")])
    assert "Compiling" not in result.stderr


def test_the_python_api_shows_a_progress_bar_when_asked(capsys):
    engine.simulate(draws=3, firms=300, draws_per_chunk=1, progress=True)
    err = capsys.readouterr().err
    assert "Simulating draws" in err and "3/3" in err, err


def test_a_progress_callable_sees_every_draw():
    seen = []
    engine.simulate(draws=3, firms=300, draws_per_chunk=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_python_api_shows_a_bar_on_a_terminal_and_nothing_otherwise(capsys, monkeypatch):
    engine.simulate(draws=2, firms=200, dynamics="static")  # progress="auto", stderr is not a terminal
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    engine.simulate(draws=2, firms=200, dynamics="static")
    assert "Simulating draws" in terminal.getvalue() and "2/2" in terminal.getvalue(), terminal.getvalue()
    terminal.truncate(0)
    engine.simulate(draws=2, firms=200, dynamics="static", progress=False)
    assert terminal.getvalue() == ""


def test_diagnose_shows_progress_and_is_quiet_when_asked(monkeypatch):
    monkeypatch.setenv("ENGINE_PROGRESS_EVERY", "0")
    args = ["diagnose", "--mode", "static", "--draws", "2", "--firms", "200", "--fgkk-exporter", "none"]
    shown = CliRunner().invoke(main, args)
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.splitlines()[0].startswith("Simulating 2 draw(s) of static firms"), shown.stderr
    assert [line.split(" (")[0] for line in shown.stderr.splitlines() if line.startswith("draws ")] == [
        "draws 1/2", "draws 2/2"], shown.stderr
    quiet = CliRunner().invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert quiet.stdout == shown.stdout  # the same profile


def test_a_dask_run_shows_progress_without_the_clusters_info_lines(tmp_path):
    """A LocalCluster logs about 30 INFO lines; the command shows them only with -v."""
    command = [sys.executable, "-m", "engine.cli.main", "simulate", "--local-cluster", "2", "--draws", "2", "--firms",
               "200", "--dynamics", "static", "--draws-per-chunk", "1"]
    env = {**os.environ, "ENGINE_PROGRESS_EVERY": "0"}
    env.pop("DASK_LOGGING__DISTRIBUTED", None)
    shown = subprocess.run([*command, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env,
                           timeout=600)
    assert shown.returncode == 0, shown.stderr
    assert "INFO" not in shown.stderr, shown.stderr
    assert [line.split(" (")[0] for line in shown.stderr.splitlines() if line.startswith("draws ")] == [
        "draws 1/2", "draws 2/2"], shown.stderr
    verbose = subprocess.run([sys.executable, "-m", "engine.cli.main", "-v", *command[3:], "--out", str(tmp_path / "b"),
                              "-q"], capture_output=True, text=True, env=env, timeout=600)
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO distributed" in verbose.stderr


def test_quiet_asks_the_api_for_no_progress(tmp_path, monkeypatch):
    """``-q`` passes ``progress=False``: the API's default ("auto") would draw a bar on a terminal."""
    seen = {}
    real = engine.runs.simulate.simulate

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.runs.simulate, "simulate", spy)
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "200", "--dynamics", "static", "-q",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert seen["progress"] is False
