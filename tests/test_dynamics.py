"""The dynamic firm model (engine.firms.bellman, engine.firms.dynamic, kernels.dynamic).

Random inputs are drawn from a generator seeded by the test's node id (``tests.conftest.node_seed``,
printed on failure through the assertion messages), so a failure reruns exactly.
"""

import numpy as np
import polars as pl
import pytest
from numba import njit

import engine
from engine.errors import InputError
from engine.firms.bellman import Chain, rouwenhorst, solve_stationary, y_grid_for
from engine.firms.sampling import block_strata
from engine.scenario.read import load_scenario
from kernels.dynamic import (
    SEARCH_LEVELS,
    baseline_entry_cost,
    baseline_entry_cost_at,
    cost_search,
    dynamic_baseline_costs,
    dynamic_baseline_costs_of,
    dynamic_cell_sums,
    inverse_uniform,
    inverse_uniform_at,
)
from kernels.dynamic_ge import dynamic_pair_scores
from tests import reference_dynamic
from tests.conftest import node_seed, write_scenario


def _scenario(tmp_path, name, body="", periods=24, mode="forward", extra=""):
    text = (f'name = "{name}"\nstart = "2025-01"\nperiods = {periods}\nsunk_cost_ratio = 0.1\n'
            f'{extra}\n[dynamics]\nmode = "{mode}"\n{body}')
    return write_scenario(tmp_path, text, name)


def _pair(run, origin="R0", destination="R1"):
    return (run.flows.filter((pl.col("origin") == origin) & (pl.col("destination") == destination))
            .sort("draw", "period"))


def test_rouwenhorst_matches_the_ar1_moments():
    """Rouwenhorst's chain has the AR(1)'s conditional mean ``rho z`` and variance
    ``(1 - rho^2) s^2`` at every node, and a binomial invariant distribution with variance ``s^2``."""
    rho, sd = 0.97, 0.6
    grid, transition, invariant = rouwenhorst(9, rho, sd)
    np.testing.assert_allclose(transition.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(transition @ grid, rho * grid, atol=1e-12)
    conditional_var = transition @ grid**2 - (transition @ grid) ** 2
    np.testing.assert_allclose(conditional_var, (1 - rho**2) * sd**2, rtol=1e-10)
    np.testing.assert_allclose(invariant @ transition, invariant, atol=1e-14)
    np.testing.assert_allclose(invariant @ grid**2, sd**2, rtol=1e-12)


def test_stationary_thresholds_have_the_sunk_cost_band_and_myopic_closed_form():
    """Incumbents stay below the entrants' threshold (hysteresis: ``y*(1) < y*(0)``), and with
    ``beta = 0`` the thresholds are the static rule ``e^(y + z) = c``: ``y* = log c - z``."""
    grid, transition, invariant = rouwenhorst(7, 0.98, 0.5)
    chain = Chain(grid, transition, invariant)
    z = 2.0 * grid
    y = y_grid_for(z, 0.2)
    forward = solve_stationary(z, chain, 0.99, 0.2, y)
    assert np.all(forward.thresholds[:, 1] < forward.thresholds[:, 0] - 0.2)
    myopic = solve_stationary(z, chain, 0.0, 0.2, y)
    np.testing.assert_allclose(myopic.thresholds[:, 0], -z, atol=1e-3)
    np.testing.assert_allclose(myopic.thresholds[:, 1], np.log(0.2) - z, atol=1e-3)
    # the option value of staying: a forward-looking incumbent stays at losses a myopic one avoids
    assert np.all(forward.thresholds[:, 1] < myopic.thresholds[:, 1])
    assert np.all(np.diff(forward.status_prob, axis=1) >= 0)


def test_losing_relationships_makes_exporting_worth_less():
    """The loss of export relationships (docs/model.md section 11.2). If every relationship is lost
    each month (``loss`` near 1) exporting today buys nothing tomorrow, so the thresholds are the
    static rule ``e^(y + z) = c(x)`` however patient the firm; in between, a likelier loss makes
    entering and staying worth less (both thresholds rise) and fewer firms hold the exporter status."""
    grid, transition, invariant = rouwenhorst(7, 0.98, 0.5)
    chain = Chain(grid, transition, invariant)
    z = 2.0 * grid
    y = y_grid_for(z, 0.2)
    solved = {loss: solve_stationary(z, chain, 0.99, 0.2, y, loss) for loss in (0.0, 0.02, 0.1, 1.0 - 1e-12)}
    certain = solved[1.0 - 1e-12]
    np.testing.assert_allclose(certain.thresholds[:, 0], -z, atol=1e-3)
    np.testing.assert_allclose(certain.thresholds[:, 1], np.log(0.2) - z, atol=1e-3)
    for low, high in ((0.0, 0.02), (0.02, 0.1)):
        assert np.all(solved[high].thresholds > solved[low].thresholds), (low, high)
        assert np.all(solved[high].status_prob <= solved[low].status_prob + 1e-12), (low, high)
        assert solved[high].status_prob.sum() < solved[low].status_prob.sum()


@pytest.mark.parametrize("loss", [0.0, 0.08])
def test_kernel_matches_numpy_reference_on_random_inputs(request, loss):
    """``dynamic_cell_sums`` against the NumPy reference, with and without the loss of relationships
    (``loss``: an exporter that loses it faces the entrants' threshold; docs/model.md section 11.2)."""
    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    n_blocks, n_dest, n_firms, n_periods = 3, 3, 250, 6
    grid, transition, invariant = rouwenhorst(5, 0.9, 0.4)
    chain = Chain(grid, transition, invariant)
    keys = tuple(rng.integers(0, 2**63, n_blocks, dtype=np.uint64) for _ in range(4))
    sigma, theta = np.full(n_blocks, 3.0), rng.uniform(3.0, 5.0, n_blocks)
    s_a, s_e, rho = rng.uniform(0.1, 0.8, n_blocks), rng.uniform(0.1, 0.5, n_blocks), rng.uniform(-0.5, 0.5, n_blocks)
    z_score = np.tile(2.0 * grid, (n_blocks, 1))
    y = np.linspace(-6, 6, 61)
    status_prob = np.sort(rng.uniform(0, 1, (n_blocks, 5, y.size)), axis=2)
    stationary = np.sort(rng.normal(0, 1, (n_blocks, 5, 2)), axis=2)[..., ::-1].copy()  # incumbents lower
    offset = rng.normal(0, 1, (n_blocks, n_dest))
    offset[0, 2] = -np.inf  # a cell with no flow
    thresholds = rng.normal(1.0, 1.0, (n_periods, n_blocks, n_dest, 5, 2))
    strata = block_strata(rng.permutation([100.0, 5e4, 5e4]), n_firms, s_a)  # equal and unequal weights
    out = [np.empty((n_periods, n_blocks, n_dest)) for _ in range(7)]
    dynamic_cell_sums(*keys, (sigma - 1) / theta, s_a, s_e, rho, n_firms, np.stack(strata, axis=1), z_score,
                      chain.cum_invariant, chain.cum_transition, y[0], y[1] - y[0], status_prob, stationary, offset,
                      thresholds, loss, *out)
    expected = reference_dynamic.cell_sums(keys, sigma, theta, s_a, s_e, rho, n_firms, strata, z_score,
                                           chain.cum_invariant, chain.cum_transition, y, status_prob, stationary,
                                           offset, thresholds, loss)
    for name, got, want in zip(("active", "sales", "entries", "exits", "both", "both_base"), out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name}, seed {seed}")
    # the half-population split: a signed sum, so compared against the size of the cell's sales
    np.testing.assert_allclose(out[6], expected[6], rtol=0, atol=1e-9 * out[1].max(), err_msg=f"split, seed {seed}")
    certain = strata[2].max(axis=1) <= 1.0  # fewer real firms than simulated: every pair at its real count
    assert np.all(out[6][:, certain] == 0.0) and np.any(out[6][:, ~certain] != 0.0), f"seed {seed}"
    assert np.all(np.abs(out[6]) <= out[1] * (1 + 1e-12)), f"a half below zero, seed {seed}"
    assert out[2][1:].sum() > 0 and out[3][1:].sum() > 0, f"no churn in the random case, seed {seed}"
    # gross flows add up: entries - exits is the change in exporters, lost relationships included
    np.testing.assert_allclose(out[2][1:] - out[3][1:], np.diff(out[0], axis=0), rtol=0, atol=1e-9 * out[0].max())


@njit(cache=False)
def _searches(y_low, y_step, status_prob, thresholds, z_index, uniforms, scores, out_fast, out_plain):
    """Per case the tabulated searches (``out_fast``) and the plain ones (``out_plain``): ``G`` and the cost."""
    bounds, levels = cost_search(y_low, y_step, status_prob, thresholds)
    for i in range(uniforms.size):
        j, us, u = z_index[i], uniforms[i], scores[i]
        out_fast[i, 0] = inverse_uniform_at(y_low, y_step, status_prob, j, us, levels)
        out_plain[i, 0] = inverse_uniform(y_low, y_step, status_prob[j], us)
        out_fast[i, 1] = baseline_entry_cost_at(u, us, y_low, y_step, status_prob, thresholds, j, bounds, levels)
        out_plain[i, 1] = baseline_entry_cost(u, us, y_low, y_step, status_prob[j], thresholds[j, 1], thresholds[j, 0])


def test_tabulated_search_equals_the_bisection_bitwise(request):
    """``inverse_uniform_at`` and ``baseline_entry_cost_at`` (the search started from ``cost_search``'s
    tables) return what the plain bisection does, bit for bit: on smooth, step-like and flat status
    probabilities, uniforms on the table's levels and on the probabilities themselves, and thresholds
    inside, outside and beyond the grid, in either order."""
    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    y = np.linspace(-6.0, 6.0, 61)
    smooth = np.sort(rng.uniform(0, 1, (4, y.size)), axis=1)
    steps = np.repeat(np.array([[0.0, 0.5, 1.0]]), 4, axis=0)[:, np.minimum(np.arange(y.size) // 20, 2)]
    flat = np.round(smooth * 4) / 4  # plateaus: many points on each value
    status_prob = np.ascontiguousarray(np.concatenate([smooth, steps, flat]))
    n_z = status_prob.shape[0]
    thresholds = rng.normal(0.0, 4.0, (n_z, 2))  # some outside the grid, either order
    thresholds[0] = [np.inf, 0.5]
    thresholds[5] = [1.0, -np.inf]
    thresholds[6] = [7.0, -7.0]  # both beyond the grid's ends
    n = 20_000
    uniforms = np.concatenate([rng.uniform(0, 1, n), rng.choice(status_prob.ravel(), n),
                               rng.integers(0, SEARCH_LEVELS + 1, n) / SEARCH_LEVELS, [1.0, 0.0, 1e-300]])
    z_index = rng.integers(0, n_z, uniforms.size)
    scores = rng.normal(0.0, 2.0, uniforms.size)
    fast, plain = np.empty((uniforms.size, 2)), np.empty((uniforms.size, 2))
    _searches(y[0], y[1] - y[0], status_prob, thresholds, z_index, uniforms, scores, fast, plain)
    np.testing.assert_array_equal(fast, plain, err_msg=f"seed {seed}")
    inside = np.isfinite(plain[:, 0])
    assert inside.mean() > 0.5 and (~inside).any(), f"the cases miss a branch, seed {seed}"


def test_baseline_costs_from_drawn_scores_equal_the_fused_kernel_bitwise(request):
    """``dynamic_baseline_costs_of`` (from the scores ``dynamic_pair_scores`` drew, as ``ge`` keeps
    them) gives ``dynamic_baseline_costs``'s costs and period-0 ``z`` bit for bit."""
    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    n_blocks, n_dest, n_firms = 3, 4, 300
    grid, transition, invariant = rouwenhorst(5, 0.9, 0.4)
    chain = Chain(grid, transition, invariant)
    keys = tuple(rng.integers(0, 2**63, n_blocks, dtype=np.uint64) for _ in range(4))
    params = (rng.uniform(0.3, 0.6, n_blocks), rng.uniform(0.1, 0.8, n_blocks), rng.uniform(0.1, 0.5, n_blocks),
              rng.uniform(-0.5, 0.5, n_blocks))
    strata = np.stack(block_strata(rng.permutation([100.0, 5e4, 5e4]), n_firms, params[1]), axis=1)
    y = np.linspace(-6, 6, 61)
    status_prob = np.sort(rng.uniform(0, 1, (n_blocks, 5, y.size)), axis=2)
    stationary = np.sort(rng.normal(0, 1, (n_blocks, 5, 2)), axis=2)[..., ::-1].copy()
    grid_args = (chain.cum_invariant, y[0], y[1] - y[0], status_prob, stationary)
    costs, initial = np.empty((n_blocks, n_dest, n_firms)), np.empty((n_blocks, n_firms), dtype=np.int64)
    dynamic_baseline_costs(*keys, *params, n_firms, strata, *grid_args, costs, initial)
    scores = [np.empty((n_blocks, n_dest, n_firms), dtype) for dtype in (np.float64, np.float64, np.float32,
                                                                        np.float64)]
    dynamic_pair_scores(keys[0], keys[1], *params, n_firms, strata, *scores, np.arange(n_dest), n_dest)
    got_costs, got_initial = np.empty_like(costs), np.empty_like(initial)
    dynamic_baseline_costs_of(scores[1], keys[2], keys[3], *grid_args, got_costs, got_initial)
    np.testing.assert_array_equal(got_costs, costs, err_msg=f"seed {seed}")
    np.testing.assert_array_equal(got_initial, initial, err_msg=f"seed {seed}")
    assert np.isfinite(costs).all() and np.ptp(costs) > 0, f"seed {seed}"


def test_period0_exact_and_no_policy_stays_at_baseline_in_expectation(tmp_path, small_calibration):
    """Period 0 equals the data in every draw; with no policy change later periods keep the
    baseline on average (the invariant distribution), with entry and exit every month."""
    path = _scenario(tmp_path, "quiet")
    run = engine.simulate([path], draws=3, firms=3000, seed=11, calibration=small_calibration)
    flows = run.flows
    period0 = flows.filter(pl.col("period") == 0).group_by("origin", "destination").agg(pl.col("exports").sum())
    data = pl.read_csv(small_calibration / "flows.csv").group_by("origin", "destination").agg(
        (pl.col("value_usd_m") * 3).sum().alias("data"))
    joined = period0.join(data, on=["origin", "destination"])
    np.testing.assert_allclose(joined["exports"], joined["data"], rtol=1e-9)
    later = _pair(run).filter(pl.col("period") >= 1)
    mean_ratio = later["exports"].mean() / _pair(run).filter(pl.col("period") == 0)["exports"].mean()
    assert abs(mean_ratio - 1) < 0.05, mean_ratio
    exporters = later["exporters"].mean() / _pair(run).filter(pl.col("period") == 0)["exporters"].mean()
    assert abs(exporters - 1) < 0.05, exporters
    assert later["entries"].sum() > 0 and later["exits"].sum() > 0


def _branch_scenario(tmp_path, name, probability):
    body = f"""
[[branch]]
name = "threat"
date = "2025-10-01"

  [[branch.option]]
  name = "tariff"
  probability = {probability}

    [[branch.option.tariff]]
    date = "2025-10-01"
    importer = "R1"
    exporter = "R0"
    rate = "40%"

  [[branch.option]]
  name = "none"
  probability = {1 - probability}
"""
    return _scenario(tmp_path, name, body)


def test_a_likelier_tariff_deters_more_entry(tmp_path, small_calibration):
    """Handley & Limao (2017): before the decision, firms enter less when the tariff is likelier."""
    low, high = _branch_scenario(tmp_path, "p20", 0.2), _branch_scenario(tmp_path, "p80", 0.8)
    run = engine.simulate([low, high], draws=2, firms=3000, seed=5, calibration=small_calibration)
    before = run.flows.filter((pl.col("origin") == "R0") & (pl.col("destination") == "R1")
                              & pl.col("period").is_between(1, 8))
    entries = before.group_by("scenario").agg(pl.col("entries").sum()).sort("scenario")
    exporters = before.group_by("scenario").agg(pl.col("exporters").mean()).sort("scenario")
    assert entries["entries"][1] < 0.9 * entries["entries"][0], entries
    assert exporters["exporters"][1] < exporters["exporters"][0], exporters


def test_temporary_tariff_causes_less_exit_than_permanent(tmp_path, small_calibration):
    hike = '\n[[tariff]]\ndate = "2025-03-01"\nimporter = "R1"\nexporter = "R0"\nrate = "40%"\nmeasure = "m"\n'
    end = ('\n[[tariff]]\ndate = "2025-09-01"\nannounced = "2025-03-01"\nimporter = "R1"\nexporter = "R0"\n'
           'rate = "0%"\nmeasure = "m"\n')
    permanent = _scenario(tmp_path, "permanent", hike)
    temporary = _scenario(tmp_path, "temporary", hike + end)
    run = engine.simulate([permanent, temporary], draws=2, firms=3000, seed=3, calibration=small_calibration)
    during = run.flows.filter((pl.col("origin") == "R0") & (pl.col("destination") == "R1")
                              & pl.col("period").is_between(2, 7))
    exits = during.group_by("scenario").agg(pl.col("exits").sum()).sort("scenario")
    assert exits["exits"][1] < 0.85 * exits["exits"][0], exits  # permanent first, temporary second


def test_myopic_without_shocks_is_the_static_model(tmp_path, small_calibration):
    """With no productivity shocks, no discounting, instant adjustment and flexible prices, the
    dynamic kernel is the static model with sunk costs (docs/model.md section 4), up to the static
    model's one fractional marginal firm per cell."""
    body = '\n[[tariff]]\ndate = "2025-03-01"\nimporter = "R1"\nexporter = "R0"\nrate = "30%"\n'
    settings = "productivity_sd = 0.0\nhalf_life = 0.0\nprice_reset = 1.0\n"
    dynamic = _scenario(tmp_path, "dyn", "\n" + settings + body, mode="myopic", periods=8)
    static = _scenario(tmp_path, "stat", body, mode="static", periods=8)
    a = engine.simulate([dynamic, static], draws=2, firms=3000, seed=9, calibration=small_calibration,
                        closure="pe").flows
    d = a.filter(pl.col("scenario") == "dyn").sort("draw", "period", "origin", "destination")
    s = a.filter(pl.col("scenario") == "stat").sort("draw", "period", "origin", "destination")
    one_firm = 2000.0 / 3000
    assert np.max(np.abs(d["exporters"].to_numpy() - s["exporters"].to_numpy())) <= one_firm + 1e-9
    # the static model has no importers' stocks (docs/model.md section 11.9): its exports are final sales
    np.testing.assert_allclose(d["final_sales"].to_numpy(), s["exports"].to_numpy(), rtol=0.02)
    changed = d.filter((pl.col("origin") == "R0") & (pl.col("destination") == "R1") & (pl.col("period") == 5))
    assert changed["final_sales"].sum() < 0.7 * d.filter((pl.col("origin") == "R0") & (pl.col("destination") == "R1")
                                                          & (pl.col("period") == 0))["final_sales"].sum()


def test_gradual_adjustment_makes_the_short_run_elasticity_smaller(small_calibration):
    from engine.runs.diagnose import diagnose

    d = diagnose(small_calibration, exporter="R0", importer="R1", tariff=0.05, draws=2, firms=2000,
                 fgkk_exporter=None, progress=False)
    by = {r["horizon"]: r for r in d.profile.iter_rows(named=True)}
    assert by["year 1"]["elasticity"] < 0 and by["years 8-10"]["elasticity"] < 0
    assert abs(by["year 1"]["elasticity"]) < 0.6 * abs(by["years 8-10"]["elasticity"]), by
    assert 0 < d.churn < 0.2
    # BLP's annual profile: h = 0..10, growing in size; a change in January weighs on all of year 0, one in
    # July on half of it, the average over the months in between
    annual = d.annual.sort("h")
    assert annual["h"].to_list() == list(range(11))
    e = annual["elasticity"].to_numpy()
    assert np.all(e < 0) and np.all(np.diff(e[:6]) < 0), e
    h0 = annual.row(0, named=True)
    assert h0["january"] < h0["elasticity"] < h0["july"] < 0, h0
    assert d.long_run[0] == pytest.approx(e[8:].mean(), rel=1e-9)
    assert 0.0 < d.stopper < 0.5  # the annual stopper rate of the pair's exporters, with no policy


def test_relative_log_change_differences_out_the_untaxed_suppliers():
    """BLP's comparison (``engine.runs.diagnose._relative_log_change``) on made-up flows with a known
    answer: the taxed pair's log change less the other suppliers', per sector, weighted by the pair's
    period-0 exports; the importer's own sales never enter."""
    from engine.runs.diagnose import _relative_log_change

    rows = []
    for scenario, taxed, other, home in (("with_tariff", (0.8, 0.5), (1.1, 1.3), 9.0),
                                         ("without_tariff", (1.0, 1.0), (1.0, 1.0), 1.0)):
        for k, sector in enumerate(("a", "b")):
            for period in (0, 1, 2):
                scale = 1.0 if period == 0 else 1.0 + period  # the market grows; the ratios hold
                base = (3.0, 1.0)[k]  # the pair's period-0 weights: 3 and 1
                for origin, factor in (("X", taxed[k]), ("Y", other[k]), ("M", home)):
                    value = base * scale * (1.0 if period == 0 else factor)
                    rows.append((scenario, 0, period, origin, sector, value))
    market = pl.DataFrame(rows, schema=["scenario", "draw", "period", "origin", "sector", "exports"], orient="row")
    got = _relative_log_change(market, "X", "M", 1, 2)
    expected = (3 * (np.log(0.8) - np.log(1.1)) + 1 * (np.log(0.5) - np.log(1.3))) / 4
    np.testing.assert_allclose(got, [expected], rtol=1e-12)
    alone = _relative_log_change(market, "X", "M", 1, 2, sectors=["b"], against_others=False)
    np.testing.assert_allclose(alone, [np.log(0.5)], rtol=1e-12)


def test_the_2018_19_experiment_is_faster_without_gradual_adjustment():
    """The 2018-19 experiment on the default calibration (small): the targeted sectors fall against the
    untargeted ones, and more within the year when the intensive margin adjusts at once."""
    from engine.runs.diagnose import diagnose

    def fgkk(**dynamics):
        return diagnose(exporter="JPN", importer="USA", draws=1, firms=300, periods=24, dynamics=dynamics,
                        progress=False).fgkk[0]

    default, instant = fgkk(), fgkk(half_life=0.0)
    assert instant < default < 0, (instant, default)


def test_diagnose_settings_change_what_they_name(small_calibration):
    """``engine diagnose --set``: with no partial adjustment (half-life 0) the first month's volume
    response is the frictionless one, larger than with the default half-life; a lower sigma lowers
    it again (intensive margin about -sigma with full pass-through)."""
    from engine.runs.diagnose import diagnose

    def first_month(**settings):
        d = diagnose(small_calibration, exporter="R0", importer="R1", tariff=0.05, draws=1, firms=2000, periods=24,
                     fgkk_exporter=None, progress=False, **settings)
        return {r["horizon"]: r for r in d.profile.iter_rows(named=True)}["1 months"]["intensive"]

    default = first_month()
    instant = first_month(dynamics={"half_life": 0.0})
    instant_low_sigma = first_month(dynamics={"half_life": 0.0}, parameters={"sigma": 2.0})
    assert instant < 2 * default < 0, (instant, default)
    assert instant < instant_low_sigma < 0
    assert 0.5 < instant_low_sigma / instant < 0.8  # (sigma - 1 ...) about 2 / 3 of the sigma = 3 response


def test_diagnose_cli_refuses_bad_settings_with_one_line():
    from click.testing import CliRunner

    from engine.cli.main import main

    for item, message in (("foo=1", "unknown name 'foo'"), ("theta", "NAME=VALUE"), ("theta=abc", "NAME=VALUE")):
        result = CliRunner().invoke(main, ["diagnose", "--set", item])
        assert result.exit_code == 2 and "--set" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output


def test_diagnose_errors_name_its_settings(small_calibration):
    """The experiment's scenarios are built in code: a bad choice is blamed on the settings."""
    from engine.runs.diagnose import SETTINGS, diagnose

    with pytest.raises(InputError) as err:
        diagnose(small_calibration, exporter="XXX", importer="R1", draws=1, firms=300, fgkk_exporter=None,
                 progress=False)
    assert err.value.source == SETTINGS and "XXX" in str(err.value)
    # the 2018-19 experiment needs the default calibration's sectors: refused before anything runs
    with pytest.raises(InputError) as err:
        diagnose(small_calibration, exporter="R0", importer="R1", draws=1, firms=300, fgkk_exporter="R0",
                 progress=False)
    assert err.value.source == "--fgkk-exporter" and "machinery" in str(err.value) and "'none'" in str(err.value)
    with pytest.raises(InputError, match="is the importer"):
        diagnose(small_calibration, exporter="R0", importer="R1", draws=1, firms=300, fgkk_exporter="R1",
                 progress=False)


@pytest.mark.parametrize("key, value, message", [
    ("persistence", "1.0", "less than 1"),
    ("half_life", "-3", "greater than or equal to 0"),
    ("dollar_invoicing", "1.5", "less than or equal to 1"),
])
def test_bad_dynamics_settings_name_the_key(tmp_path, key, value, message):
    path = write_scenario(tmp_path, f'name = "x"\nstart = "2025-01"\nperiods = 3\n[dynamics]\n{key} = {value}\n')
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert f"dynamics.{key}" in str(err.value) and message in str(err.value)


def test_an_unsolvable_productivity_dispersion_is_one_input_error(tmp_path, small_calibration):
    """A dispersion the schema allows but the stationary problem cannot be solved at: one error
    naming the setting, and no run folder."""
    path = _scenario(tmp_path, "wide", periods=3, body="productivity_sd = 5.0\n")
    with pytest.raises(InputError, match="productivity_sd") as err:
        engine.simulate([path], draws=1, firms=200, calibration=small_calibration, out=tmp_path / "out")
    assert "smaller productivity_sd" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_dynamic_model_refuses_ge_fixed_wage_with_a_clear_error(tmp_path, small_calibration):
    path = _scenario(tmp_path, "ge_dyn", periods=3)
    with pytest.raises(InputError, match="--dynamics static"):
        engine.simulate([path], draws=1, firms=500, calibration=small_calibration, closure="ge_fixed_wage")


@pytest.mark.parametrize("m", [7, 50, 2_000])
def test_weighted_cut_kernel_matches_a_sort(request, m):
    """``weighted_cuts`` (quickselect on the running weight) against a full sort: the cut comes
    nearest the target and the neighbours are the next costs in order, for cells with a pair that
    never exports, targets below the lightest pair and above the total, and ties."""
    from kernels.dynamic import weighted_cuts

    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    costs = rng.normal(size=(3, 4, m))
    costs[0, 0, 3] = np.inf  # a pair that never exports
    costs[2, 3, : m // 2] = 0.25  # ties
    strata_weight = rng.uniform(0.5, 20.0, size=(3, m))
    rotation = rng.integers(0, m, size=(3, 4))
    weights = np.array([[strata_weight[b, (np.arange(m) + rotation[b, n]) % m] for n in range(4)] for b in range(3)])
    target = rng.uniform(0.0, 1.0, size=(3, 4)) * weights.sum(axis=2)
    target[0, 1], target[0, 2] = 0.0, 2.0 * weights[0, 2].sum()
    at, nxt, prev = (np.empty((3, 4)) for _ in range(3))
    weighted_cuts(costs, strata_weight, rotation, target, at, nxt, prev)
    for b, n in np.ndindex(3, 4):
        ordered = np.sort(costs[b, n])
        exporting = costs[b, n] <= at[b, n]
        real = weights[b, n][exporting].sum()
        cuts = np.cumsum(weights[b, n][np.argsort(costs[b, n], kind="stable")])
        tied = (costs[b, n] == at[b, n]).sum() > 1  # a cut inside ties counts the whole tie here
        assert exporting.any(), (seed, b, n)
        if not tied:
            assert abs(real - target[b, n]) <= np.abs(cuts - target[b, n]).min() + 1e-9 * cuts[-1], (seed, b, n)
        above, below = ordered[ordered > at[b, n]], ordered[ordered < at[b, n]]
        # neighbours in cost order: the next distinct costs, or the cut's own where it splits ties
        assert nxt[b, n] == (above.min() if above.size else np.inf) or (tied and nxt[b, n] == at[b, n]), (seed, b, n)
        assert prev[b, n] == (below.max() if below.size else -np.inf) or (tied and prev[b, n] == at[b, n]), (seed, b, n)
