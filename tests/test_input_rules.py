"""More bad inputs that must stop with a clear error before any output: non-finite numbers,
unknown focus, commitments that cannot hold, margins that cannot be positive, bad seeds, and the
CLI's answer when the general equilibrium has no solution."""

import numpy as np
import pytest
from click.testing import CliRunner

import engine
from engine import config
from engine.calibration.data import load_calibration
from engine.cli.main import EXIT_NO_SOLUTION, main
from engine.errors import InputError
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from tests.conftest import make_calibration, write_scenario

HEAD = 'name = "t"\nstart = "2025-01"\nperiods = 4\n'
DEMAND = '[[demand]]\ndate = "2025-02-01"\nimporter = "{importer}"\nexporter = "{exporter}"\nusd_per_year = {amount}\n'


def _model(tmp_path, text, calibration):
    return ScenarioModel(load_scenario(write_scenario(tmp_path, HEAD + text)), calibration)


def test_non_finite_numbers_in_a_scenario_are_rejected(tmp_path):
    path = write_scenario(tmp_path, HEAD + DEMAND.format(importer="JPN", exporter="USA", amount="nan"))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert "demand #1.usd_per_year" in str(info.value) and path.name in str(info.value)


def test_unknown_focus_region_is_rejected(tmp_path, default_calibration):
    with pytest.raises(InputError) as info:
        _model(tmp_path, 'focus = { exporter = "JAP", importer = "USA" }\n', default_calibration)
    assert info.value.field == "focus.exporter" and "JPN" in str(info.value)


def test_overlapping_commitments_are_rejected(tmp_path, default_calibration):
    text = DEMAND.format(importer="JPN", exporter="USA", amount=100) + DEMAND.format(
        importer="JPN", exporter="USA", amount=50)
    with pytest.raises(InputError) as info:
        _model(tmp_path, text, default_calibration).check_all_paths()
    assert info.value.field == "demand #2.usd_per_year" and "overlap" in str(info.value)


def test_commitment_on_cells_without_trade_is_rejected(tmp_path):
    flows = np.array([[[100.0], [0.0]], [[10.0], [200.0]]])
    calibration = load_calibration(make_calibration(tmp_path / "cal", flows))
    with pytest.raises(InputError) as info:
        _model(tmp_path, DEMAND.format(importer="R1", exporter="R0", amount=5), calibration).check_all_paths()
    assert "no baseline flow" in str(info.value)
    assert info.value.source.endswith(".toml") and info.value.field == "demand #1.usd_per_year"
    assert info.value.reason.endswith("choose cells that trade")


def test_event_that_touches_no_pair_is_rejected(tmp_path, default_calibration):
    text = '[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "USA"\nrate = 0.1\n'
    with pytest.raises(InputError) as info:
        _model(tmp_path, text, default_calibration)
    assert info.value.field == "tariff #1" and "touches no" in str(info.value)


def test_nested_branch_before_its_parent_is_rejected(tmp_path):
    text = ('[[branch]]\nname = "a"\ndate = "2025-03-01"\n[[branch.option]]\nname = "x"\nprobability = 1\n'
            '[[branch.option.branch]]\nname = "b"\ndate = "2025-02-01"\n[[branch.option.branch.option]]\n'
            'name = "y"\nprobability = 1\n')
    with pytest.raises(InputError) as info:
        load_scenario(write_scenario(tmp_path, HEAD + text))
    assert "parent branch" in str(info.value)


def test_a_margin_that_cannot_be_positive_is_rejected_before_any_output(tmp_path):
    """With no pass-through the exporter pays the tariff; above mu - 1 it would lose money on every
    sale, so no calibration can exist."""
    flows = np.array([[[100.0], [20.0]], [[10.0], [200.0]]])
    tariffs = np.zeros(flows.shape)
    tariffs[0, 1, 0] = 0.8  # above mu - 1 = 0.5 for sigma = 3
    folder = make_calibration(tmp_path / "cal", flows, tariffs=tariffs)
    scenario = write_scenario(tmp_path, HEAD + '[[parameter]]\nname = "pass_through"\ndist = "fixed"\nvalue = 0\n')
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        engine.simulate(scenario, draws=1, firms=200, calibration=folder, out=out)
    assert "lose money" in str(info.value)
    assert not out.exists()


def test_negative_seed_is_rejected():
    with pytest.raises(InputError) as info:
        engine.simulate(draws=1, firms=100, seed=-1)
    assert info.value.source == "--seed"


def test_cli_reports_a_general_equilibrium_without_solution(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "GE_MAX_ITERATIONS", 1)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "300", "--closure", "ge", "--dynamics", "static",
                                       "--out", str(out), "-q"])
    assert result.exit_code == EXIT_NO_SOLUTION, result.output
    assert "did not converge" in result.output and not out.exists()


def test_origins_only_for_pass_through(tmp_path):
    text = HEAD + '[[parameter]]\nname = "sigma"\norigins = ["JPN"]\ndist = "fixed"\nvalue = 3\n'
    with pytest.raises(InputError) as info:
        engine.simulate(write_scenario(tmp_path, text), draws=1, firms=100, out=tmp_path / "o")
    assert info.value.field == "parameter #1.origins" and not (tmp_path / "o").exists()
