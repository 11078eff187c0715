"""The firm-sampling error of a cell's policy effect (docs/model.md section 8.2): the kernels' split of a
cell into two half-populations, the flows' ``exports_effect_halves_pp``, the summary's
``exports_effect_firm_se_pp`` and ``firms_for_precision``, and the printed warning.

The statistical tests run a scenario with nothing uncertain but the firms (no uncertain parameter,
branch or exchange-rate process), so the spread of a cell's effect across draws is the firm-sampling
error that the half-populations estimate.
"""

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import draw_population, make_calibration, write_scenario

import engine
from engine.calibration.data import load_calibration
from engine.cli.main import main
from engine.cells import half_exports
from engine.outputs.tables import firm_sampling_error, halves_difference
from kernels import firm_scores

#: Three regions, two sectors; export participation 10-30 %.
FLOWS = np.array([[[900.0, 400], [60.0, 30], [40.0, 20]], [[50.0, 30], [700.0, 300], [30.0, 20]],
                  [[20.0, 10], [25.0, 15], [500.0, 300]]])
SHARE = np.array([[[1.0, 1], [0.3, 0.2], [0.2, 0.2]], [[0.25, 0.2], [1.0, 1], [0.1, 0.1]],
                  [[0.15, 0.1], [0.2, 0.2], [1.0, 1]]])
#: R0 raises a tariff on R1 and R2 from March: four cells (both sectors) are touched, the 14 others not.
TOUCHED = [("R1", "R0"), ("R2", "R0")]


def _calibration(folder, real_firms):
    return make_calibration(folder / f"cal{real_firms:g}", FLOWS, participation=SHARE, firms=real_firms, sigma=3.0,
                            theta=4.0, shock_demand_sd=1.0, shock_cost_sd=0.3, shock_corr=-0.3)


def _scenario(folder, mode, sunk_cost_ratio):
    tariffs = "".join(f'\n[[tariff]]\ndate = "2025-03-01"\nimporter = "{n}"\nexporter = "{i}"\nrate = "25%"\n'
                      'measure = "m"\n' for i, n in TOUCHED)
    text = (f'name = "hike"\nstart = "2025-01"\nperiods = 6\nsunk_cost_ratio = {sunk_cost_ratio}\n'
            f'[dynamics]\nmode = "{mode}"\n{tariffs}')
    return str(write_scenario(folder, text, f"hike_{mode}"))


def _run(tmp_path, mode, real_firms, firms, draws, sunk_cost_ratio=1.0, seed=5, **options):
    calibration = _calibration(tmp_path, real_firms)
    return engine.simulate([_scenario(tmp_path, mode, sunk_cost_ratio)], draws=draws, firms=firms, seed=seed,
                           calibration=str(calibration), out=tmp_path / f"run-{mode}-{firms}", progress=False,
                           **options)


def _touched(frame):
    cells = pl.concat([frame.filter((pl.col("origin") == i) & (pl.col("destination") == n)) for i, n in TOUCHED])
    return cells.sort("origin", "sector")


def _last_period(result, table):
    frame = result.scan(table).collect()
    return frame.filter(pl.col("period") == frame["period"].max())


# ------------------------------------------------------------------------------- the kernels' split


def test_static_tail_split_is_the_signed_sum_over_the_ranked_pairs(tmp_path):
    """``rank_cells``'s ``out_tail_split`` against NumPy from the pairs' own scores and weights
    (``firm_scores``): above a rank, the sampled pairs' weighted ``exp(v)`` with +1 for odd firms and
    -1 for even ones (certainty pairs, weight 1, left out); the two halves then sum to 2 ``X``."""
    calibration = load_calibration(_calibration(tmp_path, 5000.0))
    m = 400
    population, _, params = draw_population(calibration, m, seed=3)
    b, n_dest = 4, calibration.n_regions  # origin R2, sector S0
    strata = population.strata[b]
    sm1 = (params.sigma[0] - 1.0) / params.theta[0]
    out = [np.empty((m, n_dest)) for _ in range(3)]
    slp = np.empty(m)
    firm_scores(population.productivity_keys[b], population.shock_keys[b], sm1, params.shock_demand_sd[0],
                params.shock_cost_sd[0], params.shock_corr[0], strata, np.arange(m), n_dest, slp, *out[:2], out[2])
    sales, entry, weight = out
    sign = np.where(weight <= 1.0 + 1e-9, 0.0, np.where(np.arange(m)[:, None] % 2 == 1, 1.0, -1.0))
    assert (sign == 0).any() and (sign != 0).any(), "the case needs certainty and sampled pairs"
    for n in range(n_dest):
        tail = population.tail_split[b, n]
        scores = np.concatenate([[-np.inf], population.entry_sorted[b, n], [np.inf]])
        for rank in (0, m // 3, m - 5, m):
            active = entry[:, n] >= 0.5 * (scores[rank] + scores[rank + 1])  # between two ranks
            want = (sign[:, n] * weight[:, n] * np.exp(sales[:, n]))[active].sum()
            total = population.tail_sales[b, n, rank]
            np.testing.assert_allclose(tail[rank], want, rtol=0, atol=1e-12 * max(total, 1.0), err_msg=f"{n} {rank}")
            assert abs(tail[rank]) <= total * (1 + 1e-12)  # each half is at least zero


def test_population_split_follows_the_marginal_firm_rule(tmp_path):
    """``Population.split`` at a threshold between two scores adds the marginal pair's signed share
    with the fraction ``evaluate`` gives its sales."""
    calibration = load_calibration(_calibration(tmp_path, 5000.0))
    population, _, _ = draw_population(calibration, 300, seed=4)
    scores = population.entry_sorted
    at = scores[..., 150]
    below = scores[..., 149]
    for weight in (0.0, 0.25, 1.0):
        threshold = (at - weight * (at - below))[None]
        sales = population.evaluate(threshold)[1][0]
        split = population.split(threshold)[0]
        tail_sales, tail_split = population.tail_sales, population.tail_split
        fraction = (sales - tail_sales[..., 150]) / (tail_sales[..., 149] - tail_sales[..., 150])
        np.testing.assert_allclose(fraction, weight, atol=1e-9)
        np.testing.assert_allclose(split, tail_split[..., 150] + weight * (tail_split[..., 149] - tail_split[..., 150]),
                                   rtol=1e-12, atol=1e-12 * sales.max())


def test_half_exports_are_calibrated_like_the_whole_and_their_effects_differ():
    """Each half's baseline is scaled to the whole's (so a half that is 10 % larger at the baseline is
    not a 10 % larger cell), purchases (added by the caller) go to both alike; the difference of the halves' effects is 0
    where the paths are the same and NaN where a half has no-policy exports 0 and policy exports not."""
    unit = np.array([[2.0], [3.0]])  # (T, cell)
    index, split = np.array([[100.0], [80.0]]), np.array([[10.0], [4.0]])
    halves = half_exports(unit, index, split, index[0], split[0]) + 5.0
    np.testing.assert_allclose(halves[:, 0, 0], [205.0, 205.0])  # period 0: the whole's level
    np.testing.assert_allclose(halves[:, 1, 0], [3 * 84 * 100 / 110 + 5, 3 * 76 * 100 / 90 + 5])
    policy = np.array([[110.0], [90.0]])
    none = np.array([[130.0], [110.0]])
    np.testing.assert_allclose(halves_difference(policy, none), [100 * (110 / 130 - 90 / 110)])
    assert halves_difference(policy, policy)[0] == 0.0
    closed = np.zeros((2, 1))
    assert halves_difference(closed, closed)[0] == 0.0
    assert np.isnan(halves_difference(np.array([[1.0], [2.0]]), np.array([[0.0], [2.0]]))[0])
    se, needed = firm_sampling_error(np.array([[3.0, np.nan, 0.0], [-5.0, np.nan, 0.0]]), 1000, 1.0)
    np.testing.assert_allclose(se, [np.sqrt(17.0) / 2, np.nan, 0.0])
    np.testing.assert_array_equal(needed, [np.ceil(1000 * 17.0 / 4), np.nan, 1000.0])


# ------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("mode", ["static", "forward"])
def test_the_halves_predict_the_spread_of_the_effect_across_draws(tmp_path, mode):
    """With only the firms random, the standard error of one draw's effect from the half-populations
    (pooled over draws) is the spread of the effect across draws: per touched cell within a factor 2,
    pooled over the four within 0.65-1.5 (the spread of 40 draws is itself 11 % uncertain)."""
    result = _run(tmp_path, mode, real_firms=5e4, firms=150, draws=40, sunk_cost_ratio=1.0 if mode == "static" else 0.5)
    flows = _touched(_last_period(result, "flows").group_by("origin", "destination", "sector").agg(
        pl.col("exports_effect_pct").std().alias("sd"), pl.col("exports_effect_pct").mean().alias("effect")))
    summary = _touched(_last_period(result, "summary").filter(pl.col("sector") != "ALL"))
    se, sd = summary["exports_effect_firm_se_pp"].to_numpy(), flows["sd"].to_numpy()
    assert np.all(flows["effect"].to_numpy() < -5) and np.all(sd > 0.3), flows  # the tariff moves firms out
    ratio = se / sd
    assert np.all((0.5 < ratio) & (ratio < 2.0)), (ratio, se, sd)
    pooled = np.sqrt(np.mean(se ** 2) / np.mean(sd ** 2))
    assert 0.65 < pooled < 1.5, (pooled, se, sd)


def test_the_error_is_zero_with_every_pair_at_its_real_count_and_falls_with_more_firms(tmp_path):
    """``--firms`` at least the real firms: every pair stands for itself alone, both halves are the
    whole cell and the error is exactly 0 (``firms_for_precision`` is the run's firms). With fewer, it
    is positive and falls about like ``1 / sqrt(firms)``: four times the firms halve it (1.4-2.9)."""
    for firms in (600, 900):
        summary = _last_period(_run(tmp_path, "static", real_firms=600, firms=firms, draws=3), "summary")
        cells = summary.filter(pl.col("sector") != "ALL")
        assert (cells["exports_effect_firm_se_pp"] == 0).all() and (cells["firms_for_precision"] == firms).all()
    se = {}
    for firms in (100, 400):
        summary = _last_period(_run(tmp_path / "more", "static", real_firms=5e4, firms=firms, draws=30), "summary")
        se[firms] = _touched(summary.filter(pl.col("sector") != "ALL"))["exports_effect_firm_se_pp"].to_numpy()
        assert np.all(se[firms] > 0)
    ratio = np.sqrt(np.mean(se[100] ** 2) / np.mean(se[400] ** 2))
    assert 1.4 < ratio < 2.9, (ratio, se)


def test_cells_no_policy_touches_have_exactly_zero_halves_difference_in_pe(tmp_path):
    """In ``pe`` the dynamic model takes the untouched cells of the no-policy path, their split included,
    from the scenario's run (docs/model.md section 8.1): both halves have no effect there, exactly."""
    result = _run(tmp_path, "forward", real_firms=5e4, firms=200, draws=2, sunk_cost_ratio=0.5, closure="pe")
    flows = result.scan("flows").collect()
    touched = pl.any_horizontal([(pl.col("origin") == i) & (pl.col("destination") == n) for i, n in TOUCHED])
    assert (flows.filter(~touched)["exports_effect_halves_pp"] == 0).all()
    assert (flows.filter(touched & (pl.col("period") >= 2))["exports_effect_halves_pp"] != 0).all()
    summary = result.scan("summary").collect().filter(~touched & (pl.col("sector") != "ALL"))
    assert (summary["exports_effect_firm_se_pp"] == 0).all()


# ---------------------------------------------------------------------------------------- the warning


def test_the_summary_warns_for_too_few_firms_and_not_for_enough(tmp_path):
    calibration = _calibration(tmp_path, 600)
    scenario = _scenario(tmp_path, "static", 1.0)
    common = ["simulate", scenario, "--calibration", str(calibration), "--draws", "3", "--dynamics", "static"]
    few = CliRunner().invoke(main, [*common, "--firms", "20", "--out", str(tmp_path / "few")])
    assert few.exit_code == 0, (few.output, few.exception)
    warning = [line for line in few.stdout.splitlines() if line.startswith("Precision:")]
    assert len(warning) == 1 and "firm-sampling error above 1 pp" in warning[0], few.stdout
    assert "R1 -> R0" in warning[0] or "R2 -> R0" in warning[0], warning
    assert "--firms" in warning[0]
    assert json.loads((tmp_path / "few" / "manifest.json").read_text())["precision"] == 1.0
    enough = CliRunner().invoke(main, [*common, "--firms", "600", "--out", str(tmp_path / "enough")])
    assert enough.exit_code == 0, (enough.output, enough.exception)
    assert "Precision:" not in enough.stdout and "firm-sampling" not in enough.stdout
    # a looser stated precision silences the warning of the small run's summary
    loose = CliRunner().invoke(main, [*common, "--firms", "20", "--precision", "1000", "--out",
                                      str(tmp_path / "loose")])
    assert loose.exit_code == 0 and "Precision:" not in loose.stdout, loose.output


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_precision_not_above_zero_is_one_clear_error(tmp_path, value):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", "--draws", "1", "--firms", "50", "--precision", value, "--out",
                                       str(out)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --precision: must be a number of percentage points above 0")
    assert "Traceback" not in result.output and not out.exists()
    with pytest.raises(engine.InputError, match="--precision"):
        engine.simulate(draws=1, firms=50, precision=-1.0)
