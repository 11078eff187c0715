"""Economic properties of one draw: calibration exactness, no-change baseline, calendar, margins."""

import datetime as dt

import numpy as np
import pytest

from engine.cells import from_cells, to_cells
from engine.closures.assemble import run_static
from engine.firms.static import sunk_cost_thresholds
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from tests.conftest import draw_population, write_scenario

DEAL = (("july_decision", "deal"),)  # the path that happened
NO_CHANGE = """
name = "no_change"
start = "2025-01"
periods = 4
"""


def test_cells_layout_round_trips(rng):
    x = rng.normal(size=(3, 4, 4, 5))
    cells = to_cells(x)
    assert cells.shape == (3, 20, 4)
    assert cells[1, 2 * 5 + 3, 1] == x[1, 2, 1, 3]  # block (origin 2, sector 3), destination 1
    np.testing.assert_array_equal(from_cells(cells, 5), x)


def test_calibration_reproduces_flows_and_shares_for_any_seed(default_calibration, rng, tmp_path):
    calibration = default_calibration
    n_firms = int(rng.integers(500, 3000))
    seed = int(rng.integers(0, 2**32))
    population, baseline, params = draw_population(calibration, n_firms, seed, int(rng.integers(0, 100)))
    scenario = load_scenario(write_scenario(tmp_path, NO_CHANGE))
    cells, _, _ = run_static(population, baseline, policy_path(scenario, calibration), params)
    flows = calibration.flows
    np.testing.assert_allclose(cells.exports[0], flows, rtol=1e-9, atol=0)
    assert np.all(flows > 0)
    # exporters: of the real-pair counts from some rank up, the nearest to share * N (a finite population
    # cannot do better: within half the weight of the pair at the margin, engine.firms.sampling)
    target = to_cells(calibration.participation * calibration.firms[:, None, :])
    exporters = to_cells(cells.exporters[0])
    nearest = np.abs(population.tail_count[..., :-1] - target[..., None]).min(axis=-1)
    np.testing.assert_allclose(np.abs(exporters - target), nearest, rtol=1e-12, atol=1e-9)
    assert (exporters > 0).all()
    np.testing.assert_allclose(cells.sales[0], flows * (1 + calibration.tariffs), rtol=1e-9)


def test_no_policy_change_reproduces_the_baseline_in_every_period(default_calibration, tmp_path, rng):
    population, baseline, params = draw_population(default_calibration, 1000, int(rng.integers(0, 2**32)))
    path = policy_path(load_scenario(write_scenario(tmp_path, NO_CHANGE)), default_calibration)
    cells, _, _ = run_static(population, baseline, path, params)
    for name in ("tariff", "exports", "sales", "tariff_revenue", "exporters"):
        values = getattr(cells, name)
        for t in range(1, values.shape[0]):
            np.testing.assert_array_equal(values[t], values[0], err_msg=name)
    assert not cells.entries.any() and not cells.exits.any()


def test_us_japan_calendar_rates(default_calibration):
    cal = default_calibration
    path = policy_path(load_scenario("us_japan_2025"), cal, DEAL)
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    cars, machines = cal.sectors.index("motor_vehicles_parts"), cal.sectors.index("machinery")
    month = {d: t for t, d in enumerate(path.dates)}
    rate = lambda d, k: path.tariff[month[d], jpn, usa, k]  # noqa: E731
    mfn_cars, mfn_machines = cal.tariffs[jpn, usa, cars], cal.tariffs[jpn, usa, machines]
    assert rate(dt.date(2025, 3, 1), cars) == mfn_cars
    # April: 25 % from the 3rd (28 of 30 days); machines 10 % from the 5th (26 days); the 24 %
    # announced and suspended on the 9th counts for nothing
    assert rate(dt.date(2025, 4, 1), cars) == pytest.approx(mfn_cars + 0.25 * 28 / 30, rel=1e-12)
    assert rate(dt.date(2025, 4, 1), machines) == pytest.approx(mfn_machines + 0.10 * 26 / 30, rel=1e-12)
    assert rate(dt.date(2025, 5, 1), cars) == pytest.approx(mfn_cars + 0.25, rel=1e-12)
    assert rate(dt.date(2025, 5, 1), machines) == pytest.approx(mfn_machines + 0.10, rel=1e-12)
    # the deal: 15 % all-in on machines from 7 August, on cars from 16 September
    assert rate(dt.date(2025, 8, 1), machines) == pytest.approx((6 * (mfn_machines + 0.10) + 25 * 0.15) / 31)
    assert rate(dt.date(2025, 10, 1), machines) == pytest.approx(0.15, rel=1e-12)
    assert rate(dt.date(2025, 9, 1), cars) == pytest.approx((15 * (mfn_cars + 0.25) + 15 * 0.15) / 30)
    assert rate(dt.date(2026, 12, 1), cars) == pytest.approx(0.15, rel=1e-12)
    # nothing else moves
    other = np.ones(path.tariff.shape[1:], dtype=bool)
    other[jpn, usa, :] = False
    assert np.all(path.tariff[:, other] == cal.tariffs[other])


def test_tariff_lowers_exports_and_exporters_of_that_cell_only(default_calibration):
    population, baseline, params = draw_population(default_calibration, 2000, 11)
    cal = default_calibration
    cells, _, _ = run_static(population, baseline, policy_path(load_scenario("us_japan_2025"), cal, DEAL), params)
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    last = 12  # January 2026: the deal's 15 % on everything (from 24 Feb 2026 only cars keep a tariff)
    assert np.all(cells.exports[last, jpn, usa] < cells.exports[0, jpn, usa])
    assert np.all(cells.exporters[last, jpn, usa] <= cells.exporters[0, jpn, usa])
    assert cells.exits[:, jpn, usa].sum() > 0
    agri = cal.sectors.index("agri_food")
    mask = np.ones(cells.exports.shape[1:], dtype=bool)
    mask[jpn, usa] = False
    mask[usa, jpn, agri] = False
    np.testing.assert_array_equal(cells.exports[last][mask], cells.exports[0][mask])  # partial equilibrium
    # the deal's purchase commitment: Japan buys exactly $8bn a year more US farm goods
    assert cells.exports[last, usa, jpn, agri] - cells.exports[0, usa, jpn, agri] == pytest.approx(8000, abs=1e-6)
    # entries and exits account for every change in the number of exporters
    change = cells.exporters[1:] - cells.exporters[:-1]
    np.testing.assert_allclose(change, cells.entries[1:] - cells.exits[1:], atol=1e-9)


def test_sunk_costs_keep_incumbents_through_a_temporary_rise(rng):
    static = np.zeros((5, 2, 3))
    static[1:3] = 0.3  # a temporary rise of the entry threshold
    h = sunk_cost_thresholds(static, static[0], 0.5, 5)
    # incumbents stay while their score is above thr + log(0.5) < 0: the threshold does not rise
    np.testing.assert_array_equal(h, np.zeros_like(static))
    assert np.array_equal(sunk_cost_thresholds(static, static[0], 1.0, 5), static)


def _marginal_rule(scores, sales, weight, threshold):
    """``Population.evaluate``'s rule for one cell, written out: firms with score >= threshold are
    active; the marginal firm (highest score below) is active with the fraction
    ``(u_next - threshold) / (u_next - u_marginal)``, ``u_next`` the lowest active score, or, with no
    active firm, the top score plus the gap between the top two."""
    order = np.argsort(scores)
    scores, sales, weight = scores[order], sales[order], weight[order]
    active = scores >= threshold
    below = np.nonzero(~active)[0]
    if below.size == 0:
        return float(weight[active].sum()), float(sales[active].sum())
    marginal = below[-1]
    u_next = scores[marginal + 1] if marginal + 1 < scores.size else 2 * scores[-1] - scores[-2]
    fraction = min(max((u_next - threshold) / (u_next - scores[marginal]), 0.0), 1.0)
    return weight[active].sum() + fraction * weight[marginal], sales[active].sum() + fraction * sales[marginal]


def test_marginal_firm_phases_in_across_the_whole_range_including_the_top_firm(rng, default_calibration):
    """Thresholds from below the lowest simulated firm to above the virtual score past the top one
    (where the top firm phases out and the cell closes), on a 6-firm population: ``evaluate``
    follows the written-out rule, and the active count falls from all the block's real firms to 0
    without a jump at the top."""
    population, _, _ = draw_population(default_calibration, 6, seed=int(rng.integers(2**31)))
    b, n = int(rng.integers(population.entry_sorted.shape[0])), int(rng.integers(default_calibration.n_regions))
    scores = population.entry_sorted[b, n]
    sales = -np.diff(population.tail_sales[b, n])  # each pair's weighted exp(sales score), in score order
    weight = -np.diff(population.tail_count[b, n])  # the real pairs each stands for
    top, gap = scores[-1], scores[-1] - scores[-2]
    grid = np.linspace(scores[0] - 1.0, top + 1.5 * gap, 301)
    thresholds = np.zeros((grid.size, population.entry_sorted.shape[0], default_calibration.n_regions))
    thresholds[:, b, n] = grid
    active, sales_index = population.evaluate(thresholds)
    expected = np.array([_marginal_rule(scores, sales, weight, u) for u in grid])
    np.testing.assert_allclose(active[:, b, n], expected[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sales_index[:, b, n], expected[:, 1], rtol=1e-10, atol=1e-300)
    real_firms = default_calibration.firms.reshape(-1)[b]
    assert active[0, b, n] == pytest.approx(real_firms, rel=1e-12) and active[-1, b, n] == 0
    on_scores = np.zeros((2, *thresholds.shape[1:]))
    on_scores[:, b, n] = scores[-1], scores[-1] + gap  # the top pair: fully in, then fully out
    np.testing.assert_allclose(population.evaluate(on_scores)[0][:, b, n], [weight[-1], 0.0], atol=1e-12)


def test_population_tables_have_one_tail_sum_per_rank_plus_the_empty_one(default_calibration):
    """``tail_sales[b, n, r]`` is the sum of ``exp(sales score)`` of ranks ``r..M-1``: M + 1 columns,
    the last (no firm) zero, each step one firm's positive sales."""
    population, _, _ = draw_population(default_calibration, 50, seed=9)
    blocks = default_calibration.n_regions * default_calibration.n_sectors
    assert population.entry_sorted.shape == (blocks, default_calibration.n_regions, 50)
    assert population.tail_sales.shape == (blocks, default_calibration.n_regions, 51)
    assert np.all(population.tail_sales[..., -1] == 0)
    assert np.all(np.diff(population.tail_sales, axis=-1) < 0)
    assert np.all(np.diff(population.entry_sorted, axis=-1) >= 0)
