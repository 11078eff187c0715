"""The default ``ge`` closure (``engine.closures.ge``, docs/model.md): fixed-cost kernel against
NumPy, the baseline as a fixed point, numeraire invariance, exchange-rate neutrality, purchase
commitments as purchases, the welfare decomposition and Japan's welfare on the deal path."""

from dataclasses import replace

import numpy as np
import pytest

from engine import config
from engine.closures.assemble import run_static
from engine.closures.ge import solve_wage_equilibrium
from engine.closures.ge_accounts import cell_aggregates, labour_accounts
from engine.errors import ConvergenceError
from engine.firms.static import policy_shift
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from engine.scenario.schema import GeneralEquilibrium
from engine.scenario.uncertainty import draw_policy
from kernels.fixed_costs import cost_tails
from tests.conftest import draw_population, write_scenario

pytestmark = pytest.mark.usefixtures("one_numba_thread")

DEAL = (("july_decision", "deal"),)
WELFARE_PARTS = ("welfare_labour_pct", "welfare_profits_pct", "welfare_tariff_revenue_pct", "welfare_deficit_pct",
                 "welfare_purchases_pct")


@pytest.fixture(scope="module")
def default_draw(default_calibration):
    return draw_population(default_calibration, 1000, seed=5)


def _scenario(folder, body, periods=3, name="t"):
    text = f'name = "{name}"\nstart = "2025-01"\nperiods = {periods}\n{body}'
    return load_scenario(write_scenario(folder, text, name))


# --------------------------------------------------------------------------- kernel


def test_cost_tails_match_numpy_on_fresh_random_inputs():
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n_blocks, n_dest, m = 3, 4, 257
    sales_score = rng.normal(size=(n_blocks, n_dest, m))
    entry_score = sales_score - 0.4 * rng.normal(size=(n_blocks, n_dest, m))
    order = np.argsort(entry_score, axis=-1)
    entry_sorted = np.take_along_axis(entry_score, order, -1)
    sales_sorted = np.exp(np.take_along_axis(sales_score, order, -1))
    tail_sales = np.concatenate([np.cumsum(sales_sorted[..., ::-1], -1)[..., ::-1], np.zeros((n_blocks, n_dest, 1))], -1)
    eta = np.exp(np.take_along_axis(sales_score - entry_score, order, -1))
    expected = np.concatenate([np.cumsum(eta[..., ::-1], -1)[..., ::-1], np.zeros((n_blocks, n_dest, 1))], -1)
    out = np.empty_like(tail_sales)
    cost_tails(entry_sorted, tail_sales, out)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)


def test_marginal_aggregates_match_the_population_rule(default_draw):
    """The serial kernel's active count and sales index equal ``Population.evaluate`` (the model's
    marginal-firm rule), and its cost index equals the NumPy sum of eta over the hard sellers plus
    the marginal firm's share, on random thresholds around the baseline (seed printed)."""
    population, baseline, _ = default_draw
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print("seed", seed)
    rng = np.random.default_rng(seed)
    thresholds = baseline.threshold[None] + rng.normal(scale=0.3, size=(3, *baseline.threshold.shape))
    tail = np.empty_like(population.tail_sales)
    cost_tails(population.entry_sorted, population.tail_sales, tail)
    active, sales_index, cost_index = cell_aggregates(population, tail, thresholds)
    expected_active, expected_sales = population.evaluate(thresholds)
    np.testing.assert_allclose(active, expected_active, rtol=1e-12)
    np.testing.assert_allclose(sales_index, expected_sales, rtol=1e-12)
    _, _, fraction, _ = population.marginal(thresholds)
    eta = np.diff(-population.tail_sales, axis=-1) * np.exp(-population.entry_sorted)  # per rank, weighted
    for t, b, n in zip(*(rng.integers(0, s, 40) for s in thresholds.shape)):
        first = np.searchsorted(population.entry_sorted[b, n], thresholds[t, b, n], side="left")
        expected = eta[b, n, first:].sum() + (fraction[t, b, n] * eta[b, n, first - 1] if first >= 1 else 0.0)
        assert cost_index[t, b, n] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("ge, nested, fixed_spending", [
    (None, False, False), (GeneralEquilibrium(labour_supply=0.5), False, False),
    (GeneralEquilibrium(labour_supply=0.5, revenue="income_tax"), False, False), (None, True, False),
    (GeneralEquilibrium(labour_supply=0.5), True, False), (None, True, True), (None, False, True)],
    ids=["fixed_labour", "labour_supply", "income_tax", "nested", "nested_labour_supply", "nested_pe_moving",
         "pe_moving"])
def test_chain_rule_jacobian_matches_finite_differences(default_calibration, ge, nested, fixed_spending):
    """The solver's Jacobian (``Period.jacobian``) against one-sided finite differences of the
    residuals, at a random point of the deal path in September (commitment in force, sunk costs);
    with a labour supply (docs/model.md section 6.6) also its rows and columns: log employment as
    unknowns, the real after-tax wage through the price index and the tax that revenue replaces;
    with nested demand (section 6.5, ``eta = sigma / 2``) the two nests' market rows, and with
    fixed spending and wages (``pe_moving``) the market rows alone, thresholds moving with part of
    the shift."""
    from engine.cells import to_cells
    from engine.closures.ge import Period
    from engine.closures.newton import jacobian

    population, baseline, params = draw_population(default_calibration, 20_000, seed=5)
    params = replace(params, sunk_cost_ratio=0.6, ge=ge, eta=params.sigma / 2 if nested else None)
    path = policy_path(load_scenario("us_japan_2025"), default_calibration, DEAL)
    ldc, tariff, static = policy_shift(baseline, path, params, params.sigma.size)
    tail = np.empty_like(population.tail_sales)
    cost_tails(population.entry_sorted, population.tail_sales, tail)
    acc = labour_accounts(baseline, params, tail, population)
    commitments = [(*np.nonzero(to_cells(mask)), amounts, where) for mask, amounts, where in path.commitments]
    t = 12
    assert commitments[0][2][t] > 0
    period = Period(population, tail, acc, params, ldc[t], static[t], tariff[t], baseline.threshold, commitments,
                     [c[2][t] for c in commitments], 0, fixed_spending=fixed_spending)
    assert period.nested == nested and period.n_w == (0 if fixed_spending else default_calibration.n_regions - 1)
    if fixed_spending:  # pe_moving's gradual demand: thresholds move with part of the shift (dynamic_ge)
        period.threshold_weight = 0.8
        period.threshold_offset = np.random.default_rng(1).normal(scale=0.01, size=static[t].shape)
    z = np.random.default_rng(0).normal(scale=0.02, size=period.size())
    # both centred over the same narrow step: where a threshold sits on a kink of the marginal-firm
    # ramp (as calibration puts the baseline's), the mean of its two sides; a wider step lets a
    # ramp's end fall inside it, and then single entries differ
    period.fd_step = 1e-8
    f, state = period.state(z)
    analytic = period.jacobian(state)
    numeric = jacobian(period, z)
    assert np.linalg.norm(analytic - numeric) < 1e-4 * np.linalg.norm(numeric)
    assert np.abs(analytic - numeric).max() < 1e-3
    if ge is not None:
        assert period.n_l == default_calibration.n_regions
        supply = slice(period.size() - period.n_l, None)  # the new rows and columns, smooth in the unknowns
        np.testing.assert_allclose(analytic[supply], numeric[supply], atol=2e-3)
        np.testing.assert_allclose(analytic[:, supply], numeric[:, supply], atol=1e-6)


def test_fixed_costs_paid_never_exceed_operating_profits_at_the_baseline(default_calibration, default_draw):
    """Every active firm covers its fixed cost, so each cell's fixed costs are at most its operating
    profits; and the baseline accounts add up (income + deficit = spending)."""
    population, baseline, params = default_draw
    tail = np.empty_like(population.tail_sales)
    cost_tails(population.entry_sorted, population.tail_sales, tail)
    acc = labour_accounts(baseline, params, tail, population)
    _, _, cost_index = cell_aggregates(population, tail, baseline.threshold[None])
    fixed = acc.fixed_cost_unit * cost_index[0]
    exports = acc.sales0 / (1 + acc.tariff0)
    sigma = np.tile(params.sigma, default_calibration.n_regions)[:, None]
    assert np.all(fixed <= exports / sigma * (1 + 1e-9))
    assert np.all(acc.profits0 > 0) and np.all(acc.labour > 0)
    income = acc.labour + acc.profits0 + acc.tariff_revenue0 + acc.deficit_share * acc.world_gdp0
    np.testing.assert_allclose(income, acc.spending0, rtol=1e-12)
    assert abs(acc.deficit_share.sum()) < 1e-12


# --------------------------------------------------------------------------- fixed point, numeraire


def test_no_policy_change_returns_the_baseline(tmp_path, default_calibration, default_draw):
    population, baseline, params = default_draw
    path = policy_path(_scenario(tmp_path, "", periods=3), default_calibration)
    cells, _, regions = run_static(population, baseline, path, params, closure="ge")
    np.testing.assert_allclose(cells.exports, np.broadcast_to(default_calibration.flows, cells.exports.shape),
                               rtol=1e-9)
    np.testing.assert_allclose(regions.wage, 1.0, atol=1e-9)
    np.testing.assert_allclose(regions.real_income_change_pct, 0.0, atol=1e-8)
    assert np.all(regions.ge_residual <= config.GE_TOLERANCE)


@pytest.fixture(scope="module")
def tariff_shock(tmp_path_factory, default_calibration, default_draw):
    folder = tmp_path_factory.mktemp("shock")
    body = '[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "ALL"\nrate = "20%"\n'
    return policy_path(_scenario(folder, body), default_calibration)


def test_numeraire_choice_changes_no_real_result(default_draw, tariff_shock):
    """Pinning different regions' wages while solving gives the same wages (in the world-GDP
    numeraire), flows and welfare: the system is homogeneous of degree one in nominal values."""
    population, baseline, params = default_draw
    ldc, tariff, static = policy_shift(baseline, tariff_shock, params, params.sigma.size)
    runs = [solve_wage_equilibrium(population, baseline, ldc, static, tariff, params, reference=r)[0]
            for r in (0, 3, 9)]
    for other in runs[1:]:
        for name in ("wage", "profits", "tariff_revenue", "deficit", "expenditure", "price_sum"):
            np.testing.assert_allclose(getattr(other, name), getattr(runs[0], name), rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(other.sales_index, runs[0].sales_index, rtol=1e-7)
    assert np.abs(runs[0].wage[-1] - 1).max() > 1e-3  # wages moved


def test_welfare_decomposition_is_exact_and_ev_is_in_usd(default_draw, tariff_shock):
    population, baseline, params = default_draw
    _, _, regions = run_static(population, baseline, tariff_shock, params, closure="ge")
    total = sum(getattr(regions, name) for name in WELFARE_PARTS)
    np.testing.assert_allclose(total, regions.real_income_change_pct, atol=1e-9)
    spending0 = regions.expenditure[0]
    np.testing.assert_allclose(regions.equivalent_variation, regions.real_income_change_pct / 100 * spending0,
                               rtol=1e-12)
    assert np.abs(regions.welfare_profits_pct[-1]).max() > 1e-4  # profits are a live channel


# --------------------------------------------------------------------------- exchange rates


def test_an_exchange_rate_path_has_no_real_effect_with_flexible_wages(tmp_path, default_calibration, default_draw,
                                                                      tariff_shock):
    """A 10 % yen appreciation changes nothing real in ``ge`` (it sets Japan's local-currency
    wage), whereas in ``ge_fixed_wage`` (wages fixed in local currency) it moves welfare."""
    population, baseline, params = default_draw
    moved_fx = tariff_shock.fx.copy()
    moved_fx[1:, default_calibration.regions.index("JPN")] = 1.1
    moved = replace(tariff_shock, fx=moved_fx)
    ge = [run_static(population, baseline, p, params, closure="ge") for p in (tariff_shock, moved)]
    np.testing.assert_array_equal(ge[0][2].real_income_change_pct, ge[1][2].real_income_change_pct)
    np.testing.assert_array_equal(ge[0][0].exports, ge[1][0].exports)
    fixed = [run_static(population, baseline, p, params, closure="ge_fixed_wage")[2]
             for p in (tariff_shock, moved)]
    assert np.abs(fixed[0].real_income_change_pct - fixed[1].real_income_change_pct).max() > 0.05


def test_the_zero_mean_yen_process_does_not_change_expected_welfare(default_calibration, default_draw):
    """The default scenario's yen process, draw by draw: welfare on the drawn FX path equals welfare
    with the yen at its baseline value, so the expectation is unchanged at every order."""
    from engine.scenario.policy import ScenarioModel

    population, baseline, params = default_draw
    model = ScenarioModel(load_scenario("us_japan_2025"), default_calibration)
    jpn = default_calibration.regions.index("JPN")
    checked = 0
    for draw in range(4):
        path, _ = draw_policy(model, 2025, draw)
        if np.allclose(path.fx, 1.0):
            continue
        neutral = replace(path, fx=np.ones_like(path.fx))
        with_fx = run_static(population, baseline, path, params, closure="ge")[2]
        without = run_static(population, baseline, neutral, params, closure="ge")[2]
        np.testing.assert_array_equal(with_fx.real_income_change_pct[:, jpn], without.real_income_change_pct[:, jpn])
        checked += 1
    assert checked >= 2


# --------------------------------------------------------------------------- commitments, Japan


@pytest.fixture(scope="module")
def deal(default_calibration, default_draw):
    population, baseline, params = default_draw
    path = policy_path(load_scenario("us_japan_2025"), default_calibration, DEAL)
    assert path.commitments
    without = replace(path, commitments=())
    return {name: run_static(population, baseline, p, params, closure="ge")
            for name, p in (("with", path), ("without", without))}, path


def test_purchase_commitment_is_bought_and_paid_by_the_buyer(default_calibration, deal):
    runs, path = deal
    cal = default_calibration
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    with_it, without = runs["with"][2], runs["without"][2]
    mask, amounts, _ = path.commitments[0]
    live = amounts > 0
    assert live.any()
    # the buyer's government pays about the amount (consumer value, incl. Japan's own tariff)
    assert np.all(with_it.purchases[live, jpn] >= amounts[live] * 0.99)
    assert np.all(with_it.purchases[~live] == 0)
    # the buyer loses welfare, the seller's exports of those goods rise
    assert np.all(with_it.real_income_change_pct[live, jpn] < without.real_income_change_pct[live, jpn])
    assert np.all(with_it.welfare_purchases_pct[live, jpn] < 0)
    exports = [r[0].exports[:, usa, jpn][:, mask[usa, jpn]].sum(axis=-1) for r in (runs["with"], runs["without"])]
    assert np.all(exports[0][live] > exports[1][live])


def test_japan_does_not_gain_from_us_tariffs_on_the_deal_path(default_calibration, deal):
    """Without the commitment (the tariffs alone) Japan's welfare is never above its baseline."""
    jpn = default_calibration.regions.index("JPN")
    runs, _ = deal
    assert np.all(runs["without"][2].real_income_change_pct[:, jpn] <= 1e-9)
    assert runs["without"][2].real_income_change_pct[-1, jpn] < -0.05
    assert np.all(runs["with"][2].real_income_change_pct[:, jpn] <= 1e-9)


def test_no_convergence_raises(monkeypatch, default_draw, tariff_shock):
    population, baseline, params = default_draw
    monkeypatch.setattr(config, "GE_MAX_ITERATIONS", 3)
    with pytest.raises(ConvergenceError, match="period 1.*residual"):
        run_static(population, baseline, tariff_shock, params, closure="ge")


def test_ge_converges_on_the_shipped_scenarios(tmp_path):
    """2 draws x 1500 firms of both shipped scenarios in ``ge`` (sampled parameters, sunk costs,
    branches): every period converges and wages move."""
    import polars as pl

    import engine

    run = engine.simulate(["us_japan_2025", "liberation_day_2025"], draws=2, firms=1500, seed=2025,
                          closure="ge", out=tmp_path / "run", threads=1, dynamics="static")
    regions = run.scan("regions").collect()
    assert regions["ge_residual"].max() <= config.GE_TOLERANCE
    assert regions["ge_iterations"].max() <= config.GE_MAX_ITERATIONS
    assert (regions["wage"] - 1).abs().max() > 1e-3
    total = regions.select(sum(pl.col(c) for c in WELFARE_PARTS) - pl.col("real_income_change_pct"))
    assert total.to_series().abs().max() < 1e-8


def test_present_value_discounts_monthly_annual_rates():
    from engine.closures.welfare import present_value

    months = np.arange(24)
    expected = (120.0 / 12 * 1.04 ** (-months / 12)).sum()
    assert present_value(np.full(24, 120.0)) == pytest.approx(expected, rel=1e-12)
    assert expected < 240.0 and expected > 230.0  # two years of 120 a year, discounted
    np.testing.assert_allclose(present_value(np.array([[0.0, 12.0], [12.0, 0.0]])), [1.04 ** (-1 / 12), 1.0])
