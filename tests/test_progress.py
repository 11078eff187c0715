"""Progress where people wait: the compile line, ETA lines in logs, a progress bar in the API."""

from click.testing import CliRunner

import engine
import engine.run
from engine.cli import main


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
    monkeypatch.setattr(engine.run, "kernels_cached", lambda: False)
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "300", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("Compiling the kernels on first use")


def test_no_compile_line_once_compiled(tmp_path):
    engine.simulate(draws=1, firms=300)
    assert engine.run.kernels_cached()
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
