"""What a new user meets: each misleading or missing message of the newcomer issue, with its text and
exit code (rounded probabilities, ragged CSV lines, misspelt codes blamed on the right file, a
calibration path that is a file, a foreign manifest, branch lines of another scenario, firm counts
and zero domestic cells, folders --overwrite must not delete, and where an interrupted run is)."""

import json
import logging
import shutil

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_scenario
from test_validation import assert_names, load_error, read_rows, set_field, write_rows

import engine.runs.simulate
from engine.calibration.data import load_calibration
from engine.cli.main import main
from engine.outputs.summary import branch_labels, branch_shares
from engine.paths import default_calibration_dir


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, *fragments, code=2):
    """The command failed with ``code`` and one ``Error:`` line on stderr holding every fragment."""
    assert result.exit_code == code, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.output
    return lines[0]


def branch_scenario(tmp_path, probabilities):
    options = "".join(f'[[branch.option]]\nname = "o{j}"\nprobability = {p}\n' for j, p in enumerate(probabilities))
    text = ('name = "b"\nstart = "2025-01"\nperiods = 4\n\n[[branch]]\nname = "deadline"\ndate = "2025-03-01"\n'
            + options)
    return write_scenario(tmp_path, text, "b")


# --------------------------------------------------------------------------- option probabilities

@pytest.mark.parametrize("probabilities", [[0.3333333] * 3, [0.333333] * 3, [0.5000001, 0.5], [1.0000001]])
def test_option_probabilities_rounded_to_a_few_decimals_are_accepted(tmp_path, probabilities):
    result = invoke("scenarios", "validate", branch_scenario(tmp_path, probabilities), "--draws", "3")
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


@pytest.mark.parametrize("probabilities, shown", [([0.333] * 3, "got 0.999"), ([0.5, 0.4], "got 0.9"),
                                                  ([0.6, 0.41], "got 1.01")])
def test_option_probabilities_off_by_more_than_rounding_are_refused_with_their_sum(tmp_path, probabilities, shown):
    path = branch_scenario(tmp_path, probabilities)
    line = one_error_line(invoke("scenarios", "validate", path), str(path), "must sum to 1", "within 1e-05", shown)
    assert "got 1 " not in line + " " and "got 1," not in line


# --------------------------------------------------------------------------- calibration tables

@pytest.fixture()
def calibration_copy(tmp_path):
    target = tmp_path / "calibration"
    shutil.copytree(default_calibration_dir(), target)
    return target


def simulate_with(calibration, tmp_path):
    """``engine simulate`` on a broken calibration: it fails before any draw, leaving no folder."""
    out = tmp_path / "out"
    result = invoke("simulate", "--calibration", calibration, "--draws", "1", "--firms", "50", "--out", out)
    assert not out.exists()
    return result


def test_a_flows_line_with_an_extra_field_names_the_file_the_line_and_the_columns(calibration_copy, tmp_path):
    path = calibration_copy / "flows.csv"
    rows = read_rows(path)
    rows[81].append("7")
    write_rows(path, rows)
    line = one_error_line(simulate_with(calibration_copy, tmp_path), "flows.csv", "line 82 has 5 fields",
                          "header (line 1) has 4", "origin, destination, sector, value_usd_m")
    assert "truncate_ragged_lines" not in line


def test_a_line_missing_its_last_field_is_named_too(calibration_copy, tmp_path):
    path = calibration_copy / "tariffs.csv"
    rows = read_rows(path)
    rows[9] = rows[9][:3]
    write_rows(path, rows)
    one_error_line(simulate_with(calibration_copy, tmp_path), "tariffs.csv", "line 10, field 'rate'", "is missing")


def test_a_region_code_misspelt_in_regions_is_blamed_on_regions(calibration_copy, tmp_path):
    rows = read_rows(calibration_copy / "regions.csv")
    line = next(j for j, row in enumerate(rows, start=1) if row[0] == "JPN")
    set_field(calibration_copy / "regions.csv", line, "code", "jpn")
    text = one_error_line(simulate_with(calibration_copy, tmp_path), "regions.csv", f"line {line}", "field 'code'",
                          "'jpn' is written 'JPN' in flows.csv", "case-sensitive")
    assert text.index("regions.csv") < text.index("flows.csv")


def test_a_sector_code_misspelt_in_sectors_is_blamed_on_sectors(calibration_copy):
    set_field(calibration_copy / "sectors.csv", 3, "code", "Energy ")
    assert_names(load_error(calibration_copy), "sectors.csv", "'Energy' is written 'energy'", line=3)


def test_a_code_unknown_in_any_spelling_still_blames_the_table_that_uses_it(calibration_copy):
    set_field(calibration_copy / "flows.csv", 82, "origin", "ATL")
    assert_names(load_error(calibration_copy), "flows.csv", "unknown region code", line=82)


def test_a_calibration_path_that_is_a_file_says_so(tmp_path):
    path = tmp_path / "flows.csv"
    shutil.copy(default_calibration_dir() / "flows.csv", path)
    line = one_error_line(simulate_with(path, tmp_path), str(path), "is a file", "a calibration is a folder")
    assert "does not exist" not in line


@pytest.mark.parametrize("value, fragment", [("10.5", "must be a whole number"), ("0.5", "must be at least 1"),
                                             ("0", "must be at least 1")])
def test_firm_counts_that_are_not_whole_numbers_of_firms_are_refused(calibration_copy, tmp_path, value, fragment):
    set_field(calibration_copy / "firms.csv", 5, "firms", value)
    one_error_line(simulate_with(calibration_copy, tmp_path), "firms.csv", "line 5", "field 'firms'", fragment,
                   f"got {float(value)!r}")


def test_a_block_of_one_real_firm_is_accepted_with_a_warning_saying_why(calibration_copy, caplog):
    original = set_field(calibration_copy / "firms.csv", 5, "firms", "1")
    with caplog.at_level(logging.WARNING, logger="engine.calibration.data"):
        calibration = load_calibration(calibration_copy)
    assert calibration.firms.min() == 1.0
    (record,) = [r for r in caplog.records if "firms" in r.getMessage()]
    message = record.getMessage()
    for fragment in ("firms.csv", "line 5", "field 'firms'", "1 real firms", original["origin"], original["sector"],
                     "fewer than 10 firms"):
        assert fragment in message, (fragment, message)


def test_a_zero_domestic_cell_is_accepted_with_a_warning_saying_what_it_means(calibration_copy, caplog):
    rows = read_rows(calibration_copy / "flows.csv")
    line = next(j for j, row in enumerate(rows, start=1) if row[0] == row[1] == "KOR" and row[2] == "energy")
    set_field(calibration_copy / "flows.csv", line, "value_usd_m", "0")
    with caplog.at_level(logging.WARNING, logger="engine.calibration.data"):
        load_calibration(calibration_copy)
    (record,) = [r for r in caplog.records if "domestic" in r.getMessage()]
    message = record.getMessage()
    for fragment in ("flows.csv", f"line {line}", "KOR -> KOR, energy is 0", "yet KOR exports",
                     "every firm of a block sell at home"):
        assert fragment in message, (fragment, message)


def test_the_embedded_calibration_loads_without_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="engine.calibration.data"):
        load_calibration(default_calibration_dir())
    assert caplog.records == []


# --------------------------------------------------------------------------- run folders

def test_report_on_a_folder_with_a_foreign_manifest_says_it_is_not_an_engine_run(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"name": "my web app", "version": 3}))
    line = one_error_line(invoke("report", folder), "manifest.json", "not written by engine simulate",
                          "not an engine run folder")
    assert "status is None" not in line


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    engine.simulate(draws=1, firms=200, out=out, dynamics="static", progress=False)
    return out


def test_overwrite_refuses_an_engine_run_folder_holding_a_users_own_file(engine_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    (run / "notes.txt").write_text("my notes")
    (run / "plots").mkdir()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    result = invoke("simulate", "--draws", "1", "--firms", "200", "--dynamics", "static", "--out", run,
                    "--overwrite")
    one_error_line(result, str(run), "holds notes.txt, plots", "did not write", "--overwrite will not replace it")
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert (run / "notes.txt").read_text() == "my notes"


def test_overwrite_still_replaces_a_run_holding_only_what_the_engine_wrote(engine_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    (run / "report.html").write_text("<html></html>")  # what engine report writes by default
    result = invoke("simulate", "--draws", "1", "--firms", "200", "--dynamics", "static", "--out", run,
                    "--overwrite", "-q")
    assert result.exit_code == 0, result.output
    assert not (run / "report.html").exists()


def test_an_interrupted_run_says_where_its_hidden_folder_is_and_that_resume_finishes_it(tmp_path, monkeypatch):
    partial = tmp_path / ".run.partial"

    def interrupted(*args, **kwargs):
        raise engine.runs.simulate.RunInterrupted(2, partial, 1, 3)

    monkeypatch.setattr(engine.runs.simulate, "simulate", interrupted)
    result = invoke("simulate", "--out", tmp_path / "run")
    assert result.exit_code == 130, result.output
    (line,) = result.stderr.splitlines()
    for fragment in ("Interrupted by SIGINT", "1 of 3 chunks", f"hidden folder {partial}", "--resume"):
        assert fragment in line, (fragment, line)


# --------------------------------------------------------------------------- summary

def test_a_scenario_without_branches_prints_no_branch_lines_of_another_scenario():
    # the draws table of a scenario without branches, in a run whose other scenario has them: the
    # shared schema gives it the other scenario's branch columns, all null
    theirs = pl.DataFrame({"draw": [0, 1, 2], "branch.july": [None, None, None],
                           "branch.july/extension/november": [None, None, None]}, schema_overrides={
                               "branch.july": pl.String, "branch.july/extension/november": pl.String})
    assert branch_shares(theirs, []) == []


def test_a_nested_branch_no_draw_reached_is_still_reported_for_its_own_scenario():
    own = pl.DataFrame({"draw": [0, 1], "branch.july": ["deal", "deal"],
                        "branch.july/extension/november": [None, None]},
                       schema_overrides={"branch.july/extension/november": pl.String})
    assert branch_shares(own, ["july", "july/extension/november"]) == [
        "  branch july: deal 100% of 2 draws", "  branch july/extension/november: reached by none of the 2 draws"]


def test_a_code_spelt_both_ways_in_one_table_blames_its_odd_line(calibration_copy):
    set_field(calibration_copy / "flows.csv", 3, "origin", "usa")
    assert_names(load_error(calibration_copy), "flows.csv", "unknown code 'usa'; did you mean 'USA'?", line=3)


def test_a_scenarios_own_branch_labels_pick_its_branch_lines():
    # two scenarios share the top-level branch 'july'; only the other one nests 'november' under it
    text = ('name = "mine"\nstart = "2025-01"\nperiods = 4\n[[branch]]\nname = "july"\ndate = "2025-03-01"\n'
            '[[branch.option]]\nname = "deal"\nprobability = 1.0\n')
    assert branch_labels(text) == ["july"]
    draws = pl.DataFrame({"draw": [0, 1], "branch.july": ["deal", "deal"],
                          "branch.july/extension/november": [None, None]},
                         schema_overrides={"branch.july/extension/november": pl.String})
    assert branch_shares(draws, branch_labels(text)) == ["  branch july: deal 100% of 2 draws"]
    nested = text + ('[[branch.option.branch]]\nname = "november"\ndate = "2025-04-01"\n'
                     '[[branch.option.branch.option]]\nname = "x"\nprobability = 1.0\n')
    assert branch_labels(nested) == ["july", "july/deal/november"]
