"""The ``engine`` command: help, a small run, one-line errors with exit code 2, atomic --out folders."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_scenario

import engine
from engine.cli.main import main
from engine.errors import InputError

SMALL = ["--draws", "2", "--firms", "500"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def leftovers(out):
    """Hidden temporary folders (``.NAME.partial-*`` / ``.NAME.old-*``) left beside ``out``."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_help_shows_examples():
    result = invoke("simulate", "--help")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout
    assert "engine simulate us_japan_2025 --draws" in result.stdout
    for option in ("--draws", "--firms", "--seed", "--out", "--overwrite", "--calibration", "--firm-output"):
        assert option in result.stdout, option


def test_group_help_lists_simulate():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    assert "simulate" in result.stdout and "Examples:" in result.stdout


def test_small_run_prints_summary_and_path(tmp_path):
    out = tmp_path / "run"
    result = invoke("simulate", *SMALL, "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "JPN -> USA" in result.stdout
    assert "total" in result.stdout
    assert "motor_vehicles_parts" in result.stdout
    assert str(out.resolve()) in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["draws"] == 2 and manifest["firms_per_block"] == 500
    assert list((out / "flows" / "scenario=us_japan_2025").glob("part-*.parquet"))
    assert leftovers(out) == []


def test_quiet_run_prints_only_the_path(tmp_path):
    out = tmp_path / "run"
    result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", out, "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.strip() == str(out.resolve())
    assert result.stderr == ""
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


# --------------------------------------------------------------------------- bad inputs -> exit 2

def _malformed_toml(tmp_path):
    path = write_scenario(tmp_path, 'name = "broken"\nstart = "2025-01"\nperiods = = 24\n', name="broken")
    return [path], "broken.toml"


def _unknown_region(tmp_path):
    text = ('name = "badregion"\nstart = "2025-01"\nperiods = 6\n\n[[tariff]]\ndate = "2025-03-01"\n'
            'importer = "ATLANTIS"\nexporter = "JPN"\nrate = 0.1\n')
    return [write_scenario(tmp_path, text, name="badregion")], "badregion.toml"


def _negative_rate(tmp_path):
    text = ('name = "negrate"\nstart = "2025-01"\nperiods = 6\n\n[[tariff]]\ndate = "2025-03-01"\n'
            'importer = "USA"\nexporter = "JPN"\nrate = -0.25\n')
    return [write_scenario(tmp_path, text, name="negrate")], "negrate.toml"


def _missing_calibration_file(tmp_path):
    from engine.paths import default_calibration_dir
    calibration = tmp_path / "calib"
    shutil.copytree(default_calibration_dir(), calibration)
    (calibration / "flows.csv").unlink()
    return ["--calibration", calibration], "flows.csv"


def _zero_draws(tmp_path):
    return ["--draws", "0"], "--draws"


def _negative_precision(tmp_path):
    return ["--precision", "-1"], "--precision"


BAD_INPUTS = {
    "malformed-toml": _malformed_toml,
    "unknown-region": _unknown_region,
    "negative-rate": _negative_rate,
    "missing-calibration-file": _missing_calibration_file,
    "zero-draws": _zero_draws,
    "negative-precision": _negative_precision,
}


@pytest.mark.parametrize("quiet", [False, True], ids=["bar", "quiet"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_exit_2_no_folder(tmp_path, case, quiet):
    args, names = BAD_INPUTS[case](tmp_path)
    out = tmp_path / "runs" / "out"
    result = invoke("simulate", "--draws", "2", "--firms", "500", *args, "--out", out, *(["-q"] if quiet else []))
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("Error:"), lines
    assert names in lines[0], lines
    assert not out.exists()
    assert leftovers(out) == []
    assert "Traceback" not in result.output


def test_existing_out_without_overwrite_is_left_untouched(tmp_path):
    out = tmp_path / "existing"
    (out / "sub").mkdir(parents=True)
    (out / "keep.txt").write_text("precious")
    (out / "sub" / "data.bin").write_bytes(b"\x00\x01\x02")
    before = snapshot(out)
    result = invoke("simulate", *SMALL, "--out", out, "-q")
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), lines
    assert "existing" in lines[0] and "--overwrite" in lines[0], lines
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_existing_empty_out_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", out, "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_overwrite_replaces_existing_engine_run(tmp_path):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "tradeflow-engine run", "status": "complete"}')
    (out / "flows" / "scenario=old").mkdir(parents=True)
    (out / "flows" / "scenario=old" / "part-00000.parquet").write_text("old run")
    result = invoke("simulate", *SMALL, "--out", out, "--overwrite", "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    assert not (out / "flows" / "scenario=old").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert leftovers(out) == []


@pytest.mark.parametrize("manifest", [None, '{"status": "complete"}', "not json", '["a list"]'])
def test_overwrite_refuses_a_folder_that_is_not_an_engine_run(tmp_path, manifest):
    """``--out . --overwrite`` once deleted the user's other files: only an engine run folder is replaced."""
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("precious")
    if manifest is not None:
        (out / "manifest.json").write_text(manifest)
    before = snapshot(out)
    result = invoke("simulate", *SMALL, "--out", out, "--overwrite", "-q")
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "not an engine run folder" in lines[0], lines
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_overwrite_of_the_current_folder_is_refused(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("precious")
    monkeypatch.chdir(tmp_path)
    result = invoke("simulate", *SMALL, "--out", ".", "--overwrite", "-q")
    assert result.exit_code == 2, (result.output, result.exception)
    assert (tmp_path / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")) == []


def test_out_that_is_a_file_is_rejected_by_cli(tmp_path):
    target = tmp_path / "afile"
    target.write_text("precious")
    result = invoke("simulate", "--draws", "1", "--firms", "300", "--out", target, "--overwrite", "-q")
    assert result.exit_code == 2, (result.output, result.exception)
    assert target.read_text() == "precious"
    assert leftovers(target) == []


def test_api_out_that_is_a_file_with_overwrite_keeps_the_file(tmp_path):
    """``simulate(out=<a file>, overwrite=True)`` must refuse (or replace it cleanly), never lose it.

    Currently RunFolder.commit moves the file to ``.afile.old-*`` and then fails in ``shutil.rmtree``
    (NotADirectoryError): no output, the file gone from its path, a hidden leftover beside it.
    """
    target = tmp_path / "afile"
    target.write_text("precious")
    with pytest.raises(InputError) as info:
        engine.simulate(draws=1, firms=300, out=target, overwrite=True)
    assert str(target) in str(info.value)
    assert target.read_text() == "precious"
    assert leftovers(target) == []


# --------------------------------------------------------------------------- failure mid-run (API)

@pytest.fixture()
def fail_on_second_scenario_call(monkeypatch):
    """Make both firm models (``engine.closures.assemble.run_static``, ``run_dynamic``) raise RuntimeError
    after their first call."""
    from engine.closures import assemble

    calls = []

    def flaky(original):
        def run(*args, **kwargs):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("simulated failure in the middle of the run")
            return original(*args, **kwargs)
        return run

    for name in ("run_static", "run_dynamic"):
        monkeypatch.setattr(assemble, name, flaky(getattr(assemble, name)))
    return calls


@pytest.mark.parametrize("firm_output", [None, "sample"])
@pytest.mark.parametrize("draws_per_chunk", [1, 4])
def test_failure_mid_run_leaves_no_folder(tmp_path, fail_on_second_scenario_call, firm_output, draws_per_chunk):
    out = tmp_path / "runs" / "failed"
    with pytest.raises(RuntimeError, match="simulated failure"):
        engine.simulate(draws=2, firms=300, out=out, firm_output=firm_output, draws_per_chunk=draws_per_chunk,
                        dynamics="static")
    assert len(fail_on_second_scenario_call) == 2  # it did fail in the middle, after one draw
    assert not out.exists()
    assert leftovers(out) == []


def test_failure_mid_run_with_overwrite_keeps_previous_run(tmp_path, fail_on_second_scenario_call):
    out = tmp_path / "previous"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "tradeflow-engine run", "status": "complete", "note": "previous"}')
    before = snapshot(out)
    with pytest.raises(RuntimeError):
        engine.simulate(draws=2, firms=300, out=out, overwrite=True, draws_per_chunk=1)
    assert snapshot(out) == before
    assert leftovers(out) == []


# --------------------------------------------------------------------------- the installed command

@pytest.mark.slow
def test_installed_command_subprocess(tmp_path):
    out = tmp_path / "sub run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "simulate", "--draws", "1", "--firms", "300",
                           "--out", str(out), "-q"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out.resolve())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["draws"] == 1 and manifest["firms_per_block"] == 300
    assert "--draws 1" in manifest["command"]

    script = shutil.which("engine", path=str(Path(sys.executable).parent)) or shutil.which("engine")
    assert script is not None, "the 'engine' console script is not installed"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120, env=env)
    assert version.returncode == 0, version.stderr
    assert engine.__version__ in version.stdout
    assert version.stdout.startswith("engine")


def test_scenarios_list_shows_every_shipped_scenario():
    result = invoke("scenarios", "list")
    assert result.exit_code == 0
    assert "us_japan_2025" in result.output and "liberation_day_2025" in result.output


def test_scenarios_show_prints_the_calendar_of_every_path():
    result = invoke("scenarios", "show", "us_japan_2025")
    assert result.exit_code == 0, result.output
    assert result.output.count("\npath ") == 4  # deal, reinstated, extension then deal / reinstated
    assert "july_decision=deal  (probability 0.600)" in result.output
    deal = result.output.split("\npath ")[1]
    assert "2025-10" in deal and deal.split("2025-10")[1].split()[:8] == ["15.00"] * 8  # 15 % all-in

def test_scenarios_show_for_another_pair(default_calibration):
    """China's Annex I rate as announced (34 %) on top of MFN; cars get the 25 % car tariff instead."""
    cal = default_calibration
    result = invoke("scenarios", "show", "liberation_day_2025", "--exporter", "CHN", "--importer", "USA")
    assert result.exit_code == 0, result.output
    last = [line for line in result.output.splitlines() if line.startswith("2025-05")][0].split()[1:]
    mfn = cal.tariffs[cal.regions.index("CHN"), cal.regions.index("USA")] * 100
    cars = cal.sectors.index("motor_vehicles_parts")
    expected = [m + (25 if k == cars else 34) for k, m in enumerate(mfn)]
    assert [float(x) for x in last] == pytest.approx(expected, abs=0.006)


def test_scenarios_show_rejects_an_unknown_region():
    bad = invoke("scenarios", "show", "us_japan_2025", "--exporter", "XXX")
    assert bad.exit_code == 2 and "--exporter" in bad.output


def test_scenarios_validate_accepts_a_good_file_and_rejects_a_bad_one(tmp_path, scenario_copy):
    good = invoke("scenarios", "validate", scenario_copy)
    assert good.exit_code == 0 and "OK" in good.output and "4 path(s)" in good.output
    scenario_copy.write_text(scenario_copy.read_text().replace("probability = 0.25", "probability = 0.35"))
    bad = invoke("scenarios", "validate", scenario_copy)
    assert bad.exit_code == 2 and "sum to 1" in bad.output and scenario_copy.name in bad.output


def test_general_equilibrium_run_from_the_command_line(tmp_path):
    out = tmp_path / "ge"
    result = invoke("simulate", *SMALL, "--closure", "ge", "--dynamics", "static", "--out", out)
    assert result.exit_code == 0, result.output
    assert "GE closure" in result.output and "real income effect" in result.output
    assert "PV of EV over the path" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenarios"][0]["closure"] == "ge"
    assert (out / "regions" / "scenario=us_japan_2025").is_dir()


def test_general_equilibrium_with_the_dynamic_model_from_the_command_line(tmp_path):
    """``--closure ge`` runs the shipped scenario's own (forward-looking, dynamic) firm model
    (2,000 firms per block: with 1,000 or fewer a draw can fail to converge, docs/model.md)."""
    out = tmp_path / "ge_dynamic"
    result = invoke("simulate", "--draws", "2", "--firms", "2000", "--closure", "ge", "--out", out)
    assert result.exit_code == 0, result.output
    assert "real income effect" in result.output
    scenario = json.loads((out / "manifest.json").read_text())["scenarios"][0]
    assert scenario["closure"] == "ge" and scenario["dynamics"]["mode"] == "forward"
    refused = invoke("simulate", *SMALL, "--closure", "ge_fixed_wage", "--out", tmp_path / "refused")
    assert refused.exit_code == 2 and "--dynamics static" in refused.output
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("args", [["--help"], ["simulate", "--help"], ["diagnose", "--help"], ["scenarios", "list"]])
def test_help_and_the_scenario_list_load_no_numba_polars_or_pyarrow(args):
    """The command's help and ``scenarios list`` answer at once: none of the heavy libraries is imported
    (bench/test_bench_startup.py times ``engine --help`` against ``import click``)."""
    code = (f"import sys\nfrom engine.cli.main import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'polars', 'pyarrow'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
