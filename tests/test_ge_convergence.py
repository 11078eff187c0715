"""The general equilibrium converges on every draw of small random calibrations with deficits, tariffs
and a purchase commitment, for the static and the dynamic firm models at 1,000 and 20,000 firms
(100,000 under the ``slow`` marker, which the default test command runs too); and when it does fail,
the one-line error names the scenario, the draw, the market with the largest residual and the residual.

The static cases at 100,000 firms are the ones that stalled before the slope step could narrow
(2 of 20 cases of 10 draws: residuals 4e-9 and 6e-9 after 400 evaluations)."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_calibration, write_scenario

import engine
from engine import config
from engine.cli import main

N_REGIONS, N_SECTORS = 4, 2


def random_case(folder, case):
    """A calibration with trade deficits (random flows), baseline tariffs and varied sigma, and a scenario
    with a bilateral and a universal tariff and a purchase commitment of 5-30 % of its cell."""
    rng = np.random.default_rng(1000 + case)
    home = np.arange(N_REGIONS)
    flows = rng.lognormal(3.0, 1.2, (N_REGIONS, N_REGIONS, N_SECTORS))
    flows[home, home, :] = rng.lognormal(7.0, 0.5, (N_REGIONS, N_SECTORS))
    tariffs = rng.uniform(0.0, 0.15, flows.shape)
    tariffs[home, home, :] = 0.0
    share = rng.uniform(0.05, 0.4, flows.shape)
    share[home, home, :] = 1.0
    calibration = make_calibration(folder / "cal", flows, tariffs=tariffs, participation=share, firms=5000.0,
                                   sigma=rng.uniform(2.5, 5.0), theta=6.0, shock_demand_sd=0.4, shock_cost_sd=0.2,
                                   shock_corr=-0.2)
    return calibration, flows, rng.uniform(0.05, 0.5), rng.uniform(0.05, 0.3)


def scenario_text(mode, rate, amount):
    return (f'name = "p"\nstart = "2025-01"\nperiods = 4\nsunk_cost_ratio = 0.3\n[dynamics]\nmode = "{mode}"\n'
            f'[[tariff]]\ndate = "2025-02-01"\nimporter = "R0"\nexporter = "R1"\nrate = {rate}\n'
            '[[tariff]]\ndate = "2025-03-01"\nimporter = "R3"\nexporter = "ALL"\nrate = 0.1\n'
            '[[demand]]\ndate = "2025-03-01"\nimporter = "R1"\nexporter = "R2"\nsectors = ["S0"]\n'
            f'usd_per_year = {amount}\n')


def converge_on_every_draw(tmp_path, mode, firms, cases, draws):
    for case in range(cases):
        folder = tmp_path / f"case{case}"
        calibration, flows, rate, fraction = random_case(folder, case)
        scenario = write_scenario(folder, scenario_text(mode, rate, float(flows[2, 1, 0] * fraction)), "p")
        run = engine.simulate([scenario], draws=draws, firms=firms, seed=case, calibration=calibration,
                              closure="ge", out=folder / "run", progress=False)
        regions = run.scan("regions").collect()
        assert regions["draw"].n_unique() == draws
        assert regions["ge_residual"].max() <= config.GE_TOLERANCE, f"case {case}"


@pytest.mark.parametrize("mode", ["static", "forward"])
@pytest.mark.parametrize("firms", [1000, 20000])
def test_ge_converges_on_200_draws(tmp_path, mode, firms):
    converge_on_every_draw(tmp_path, mode, firms, cases=20, draws=10)


@pytest.mark.slow
@pytest.mark.parametrize("mode, cases, draws", [("static", 20, 10), ("forward", 5, 4)])
def test_ge_converges_at_100k_firms(tmp_path, mode, cases, draws):
    converge_on_every_draw(tmp_path, mode, 100_000, cases, draws)


def test_a_failure_names_the_scenario_the_draw_the_market_and_the_residual(tmp_path, monkeypatch):
    calibration, flows, rate, fraction = random_case(tmp_path, 0)
    scenario = write_scenario(tmp_path, scenario_text("static", rate, float(flows[2, 1, 0] * fraction)), "p")
    monkeypatch.setattr(config, "GE_MAX_ITERATIONS", 2)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "-c", str(calibration), "--closure", "ge",
                                       "--draws", "2", "--firms", "500", "--out", str(out)])
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.splitlines()
    for fragment in ("Error: scenario p, draw 0: period 1: general equilibrium did not converge: residual",
                     "after 2 evaluations", "largest residual in the", "no output was written"):
        assert fragment in line, (fragment, line)
    assert "Traceback" not in result.output and not out.exists()
