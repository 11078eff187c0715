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
from engine.cli.main import main
from engine.closures import newton

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
    monkeypatch.setattr(newton, "FALLBACK_BUDGET", 1)  # the retry gets no more evaluations
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "-c", str(calibration), "--closure", "ge",
                                       "--draws", "2", "--firms", "500", "--out", str(out)])
    assert result.exit_code == 3, result.output
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("draws ")]  # no progress lines
    # every draw fails, its retry too: nothing to report
    for fragment in ("Error: scenario p, draw 0: period 1: general equilibrium did not converge: residual",
                     "after 2 evaluations", "largest residual in the", "every other draw of the scenario failed",
                     "no output was written"):
        assert fragment in line, (fragment, line)
    assert "Traceback" not in result.output and not out.exists()


# --------------------------------------------------------------------------- a draw that fails

def flaky(monkeypatch, fail_fallback):
    """Make draw 1's equilibrium fail (its first attempt, and its fallback too if ``fail_fallback``);
    draws run in order in this process, one call per draw and attempt. Returns the calls' fallback flags."""
    from engine.closures import assemble
    from engine.closures.newton import fallback_active
    from engine.errors import ConvergenceError

    original, calls = assemble.run_static, []  # failing_run's scenario runs the static model

    def run(population, baseline, path, params, closure):
        if path.no_policy:  # each draw also runs its no-policy path: not counted, never failed here
            return original(population, baseline, path, params, closure)
        calls.append(fallback_active())
        draw = calls.count(False) - 1
        if draw == 1 and (fail_fallback or not calls[-1]):
            raise ConvergenceError("period 1: general equilibrium did not converge: residual 0.001 after 400 "
                                   "evaluations (tolerance 1e-10)", ("market", 1, 0))
        return original(population, baseline, path, params, closure)

    monkeypatch.setattr(assemble, "run_static", run)
    return calls


def failing_run(tmp_path, *options):
    calibration, flows, rate, fraction = random_case(tmp_path, 0)
    scenario = write_scenario(tmp_path, scenario_text("static", rate, float(flows[2, 1, 0] * fraction)), "p")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "-c", str(calibration), "--closure", "ge",
                                       "--draws", "3", "--firms", "500", "--out", str(out), *options])
    return result, out


def test_a_draw_that_fails_is_retried_with_the_fallback_solver(tmp_path, monkeypatch):
    calls = flaky(monkeypatch, fail_fallback=False)
    result, out = failing_run(tmp_path)
    assert result.exit_code == 0, result.output
    assert calls == [False, False, True, False]  # draw 1 again, inside fallback_solver
    from engine.runs.folder import open_run

    assert open_run(out).manifest["failed_draws"] == []
    assert "failed" not in result.stdout


def test_a_draw_that_fails_twice_is_marked_and_the_others_are_kept(tmp_path, monkeypatch, caplog):
    import logging

    import polars as pl

    from engine.runs.folder import open_run

    calls = flaky(monkeypatch, fail_fallback=True)
    with caplog.at_level(logging.WARNING, logger="engine.runs.simulate"):
        result, out = failing_run(tmp_path)
    assert result.exit_code == 4, result.output
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "engine.runs.simulate"]
    assert warning.startswith("1 draw(s) failed and are left out") and "scenario p, draw 1" in warning, warning
    run = open_run(out)
    assert run.manifest["status"] == "complete"
    assert [(f["scenario"], f["draw"]) for f in run.manifest["failed_draws"]] == [("p", 1)]
    draws = run.draws.sort("draw")
    assert draws["draw"].to_list() == [0, 1, 2]
    assert draws["failure"][0] is None and draws["failure"][2] is None
    assert "scenario p, draw 1: period 1" in draws["failure"][1]
    assert "largest residual in the S0 market of R1" in draws["failure"][1]
    for table in ("flows", "regions", "prices"):
        assert sorted(run.scan(table).select(pl.col("draw").unique()).collect()["draw"].to_list()) == [0, 2], table
    assert "1 of the 3 draws failed (draw 1:" in result.stdout
    calls.clear()
    quiet, _ = failing_run(tmp_path / "quiet", "-q")
    assert quiet.exit_code == 4 and quiet.stdout.strip().endswith("run")


def test_a_scenario_whose_every_draw_fails_writes_nothing(tmp_path, monkeypatch):
    from engine.closures import assemble
    from engine.errors import ConvergenceError

    def never(*args):
        raise ConvergenceError("general equilibrium did not converge: residual 0.001 after 400 evaluations")

    monkeypatch.setattr(assemble, "run_static", never)
    result, out = failing_run(tmp_path)
    assert result.exit_code == 3, result.output
    assert "every other draw of the scenario failed" in result.stderr
    assert not out.exists()


def test_a_failing_no_policy_path_is_named(tmp_path, monkeypatch):
    """The draw's no-policy path is solved on its own (and retried on its own): its failure says so."""
    from engine.closures import assemble
    from engine.errors import ConvergenceError
    from engine.runs.folder import open_run

    original = assemble.run_static

    def run(population, baseline, path, params, closure):
        if path.no_policy and population.draw == 1:
            raise ConvergenceError("period 2: general equilibrium did not converge", ("labour", 0))
        return original(population, baseline, path, params, closure)

    monkeypatch.setattr(assemble, "run_static", run)
    result, out = failing_run(tmp_path)
    assert result.exit_code == 4, result.output
    failure = open_run(out).draws.sort("draw")["failure"][1]
    assert failure.startswith("scenario p, draw 1: its no-policy path: period 2") and "labour market of R0" in failure
