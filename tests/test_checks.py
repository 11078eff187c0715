"""Validation that matches the run: analytic supports, plausibility bounds with units, no
non-finite output; ``scenarios validate --draws --seed``."""

import numpy as np
import pytest
from click.testing import CliRunner

import engine
from engine.cli.main import main
from engine.errors import InputError
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import sample_parameters

HEAD = 'name = "t"\nstart = "2025-01"\nperiods = 3\n'


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result):
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in result.output, lines
    return lines[0]


def write(tmp_path, text, name="t"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


THETA_WIDE = HEAD + ('[[parameter]]\nname = "theta"\ndist = "truncnormal"\nmean = 1.23\nsd = 0.1\n'
                     'low = 0.45\nhigh = 2.0\n')
SIGMA_WIDE = HEAD + '[[parameter]]\nname = "sigma"\ndist = "uniform"\nlow = 1.2\nhigh = 2.5\n'


@pytest.mark.parametrize("text, name", [(THETA_WIDE, "theta"), (SIGMA_WIDE, "sigma")])
def test_a_support_that_allows_theta_below_sigma_minus_one_is_an_error_whatever_the_seed(tmp_path, default_calibration,
                                                                                         text, name):
    path = write(tmp_path, text)
    if name == "theta":  # theta < 0.5 is 7.3 sd below the mean: no sampled draw shows it
        scenario = load_scenario(path)
        for draw in range(20):
            sample_parameters(scenario, default_calibration, 0, draw)
    line = one_error_line(invoke("scenarios", "validate", path))
    assert str(path) in line and "whatever the seed" in line and "sigma - 1" in line and name in line, line
    with pytest.raises(InputError, match="whatever the seed"):
        engine.simulate(path, draws=1, firms=100, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("spec, words", [
    ('name = "pass_through"\ndist = "uniform"\nlow = 0.5\nhigh = 1.2', "pass_through outside [0, 1]"),
    ('name = "shock_corr"\ndist = "truncnormal"\nmean = 0\nsd = 0.5\nlow = -1.0\nhigh = 0.5', "|shock_corr| >= 1"),
    ('name = "sigma"\ndist = "normal"\nmean = 3\nsd = 0.1', "sigma <= 1"),
    ('name = "sunk_cost_ratio"\ndist = "choice"\nvalues = [0.5, 1.5]', "sunk_cost_ratio outside (0, 1]"),
])
def test_supports_of_every_rule_are_checked(tmp_path, spec, words):
    line = one_error_line(invoke("scenarios", "validate", write(tmp_path, HEAD + "[[parameter]]\n" + spec + "\n")))
    assert words in line and "whatever the seed" in line, line


def test_validate_samples_the_draws_and_seed_asked_for(scenario_copy):
    result = invoke("scenarios", "validate", scenario_copy, "--draws", "7", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "7 draw(s) sampled with seed 3" in result.stdout
    assert "--draws" in one_error_line(invoke("scenarios", "validate", scenario_copy, "--draws", "0"))


@pytest.mark.parametrize("amount", ["8000000000", "1e308", "-1e308"])
def test_a_commitment_beyond_the_buyers_spending_is_an_error_naming_the_unit(tmp_path, scenario_copy, amount):
    """``usd_per_year = 8000000000`` (meaning $8bn; the unit is USD million) gave +2343 % welfare."""
    text = scenario_copy.read_text().replace("usd_per_year = 8000\n", f"usd_per_year = {amount}\n", 1)
    path = write(tmp_path, text, "units")
    for args in (("scenarios", "validate", path),
                 ("simulate", path, "--draws", "1", "--firms", "300", "--out", tmp_path / "run", "-q")):
        line = one_error_line(invoke(*args))
        assert str(path) in line and "usd_per_year" in line, line
        assert "USD million" in line or "exceeds the baseline" in line, line
    assert not (tmp_path / "run").exists()


def test_a_plausible_commitment_is_accepted(scenario_copy):
    assert invoke("scenarios", "validate", scenario_copy).exit_code == 0


def test_non_finite_results_are_an_error_and_never_written(tmp_path, monkeypatch):
    from engine.closures import assemble

    original = assemble.run_dynamic  # the default scenario's firm model

    def overflowing(*args, **kwargs):
        cells, state, accounts = original(*args, **kwargs)
        cells.exports[..., 0] = np.inf
        return cells, state, accounts

    monkeypatch.setattr(assemble, "run_dynamic", overflowing)
    out = tmp_path / "run"
    line = one_error_line(invoke("simulate", "--draws", "2", "--firms", "300", "--out", out, "-q"))
    assert "non-finite exports" in line and "draw 0" in line, line
    assert list(tmp_path.iterdir()) == []
