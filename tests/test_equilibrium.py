"""The fixed-wage closure ``ge_fixed_wage`` (the former ``ge``; docs/model.md section 6.3, ``engine.closures.fixed_wage``): the baseline is a
fixed point, the Arkolakis-Costinot-Rodriguez-Clare (2012) formula in the Pareto limit, trade
diversion, convergence on the shipped scenarios, a clear error when it fails, and welfare signs.
"""

import numpy as np
import polars as pl
import pytest

import engine
from engine import config
from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.errors import ConvergenceError
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from tests.conftest import draw_population, make_calibration, write_scenario

DEAL = (("july_decision", "deal"),)


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _scenario(folder, body, periods=3, name="t"):
    text = f'name = "{name}"\nstart = "2025-01"\nperiods = {periods}\n{body}'
    return load_scenario(write_scenario(folder, text, name))


@pytest.fixture(scope="module")
def default_draw(default_calibration):
    return draw_population(default_calibration, 1000, seed=5)


# --------------------------------------------------------------------------- the baseline is a fixed point

def test_no_policy_change_ge_returns_the_baseline_in_every_period(tmp_path, default_calibration, default_draw):
    population, baseline, params = default_draw
    path = policy_path(_scenario(tmp_path, "", periods=4), default_calibration)
    cells, _, regions = run_static(population, baseline, path, params, closure="ge_fixed_wage")
    for name in ("tariff", "exports", "sales", "tariff_revenue", "exporters"):
        values = getattr(cells, name)
        for t in range(1, 4):
            np.testing.assert_array_equal(values[t], values[0], err_msg=name)
    np.testing.assert_allclose(cells.exports[0], default_calibration.flows, rtol=1e-9)
    np.testing.assert_allclose(regions.sector_price_index, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(regions.price_index, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(regions.real_income_change_pct, 0.0, rtol=0, atol=1e-9)
    for name in ("sector_domestic_share", "domestic_share", "import_share", "tariff_revenue", "expenditure"):
        values = getattr(regions, name)
        np.testing.assert_allclose(values, np.broadcast_to(values[0], values.shape), rtol=1e-12, err_msg=name)
    assert np.all(regions.ge_iterations >= 1)
    assert np.all(regions.ge_residual <= config.GE_TOLERANCE)


# --------------------------------------------------------------------------- ACR (2012)

ACR_SIGMA, ACR_THETA, ACR_DRAWS = 3.0, 6.0, 8
ACR_EVENTS = """
[[trade_cost]]
date = "2025-02-01"
importer = "R0"
exporter = "R1"
change = 0.2

[[trade_cost]]
date = "2025-02-01"
importer = "ALL"
exporter = "R2"
change = -0.1

[[trade_cost]]
date = "2025-03-01"
importer = "R1"
exporter = "R0"
change = -0.15
"""
ACR_FLOWS = np.array([[[1000.0, 600.0], [200.0, 100.0], [150.0, 90.0]],
                      [[180.0, 120.0], [900.0, 700.0], [110.0, 60.0]],
                      [[130.0, 70.0], [160.0, 140.0], [1100.0, 800.0]]])


def _acr_errors(folder, n_firms, domestic_share, draws):
    """``log P_hat - log(lambda_hat^(1/theta))`` per draw, period >= 1, region and sector, and the
    largest ``|log P_hat|``."""
    participation = np.full(ACR_FLOWS.shape, 0.1)
    participation[np.arange(3), np.arange(3)] = domestic_share
    calibration = load_calibration(make_calibration(folder / f"cal_{domestic_share}", ACR_FLOWS,
                                                    participation=participation, sigma=ACR_SIGMA, theta=ACR_THETA))
    assert np.all(calibration.tariffs == 0) and np.all(calibration.shock_demand_sd == 0)
    assert np.all(calibration.shock_cost_sd == 0)
    path = policy_path(_scenario(folder, ACR_EVENTS, name="acr"), calibration)
    errors, moves = [], []
    for draw in range(draws):
        population, baseline, params = draw_population(calibration, n_firms, seed=2012, draw=draw)
        _, _, regions = run_static(population, baseline, path, params, closure="ge_fixed_wage")
        assert np.all(regions.ge_residual <= config.GE_TOLERANCE)
        price = regions.sector_price_index[1:]
        share = regions.sector_domestic_share[1:] / regions.sector_domestic_share[0]
        errors.append(np.log(price) - np.log(share) / ACR_THETA)
        moves.append(np.abs(np.log(price)).max())
    return np.array(errors), max(moves)


def test_acr_price_index_change_is_the_domestic_share_change_to_the_power_one_over_theta(tmp_path):
    """Pareto productivity, no EKK shocks, full pass-through, zero tariffs and a change in iceberg
    costs only: with wages fixed (outside good), no tariff revenue and fixed deficits, expenditure
    is fixed, and Chaney (2008) gives P_hat_nk = lambda_hat_nnk^(1/theta) in every market (ACR 2012).
    It needs the Pareto margin at home too, so every cell has participation < 1 (domestic 0.5,
    foreign 0.1).

    A finite population matches it up to sampling noise, which falls as firms grow. Measured over
    8 draws (seed 2012), in log points, against price moves of about 0.053: 20,000 firms per block,
    max error 1.0e-3 (RMS 2.8e-4); 200,000 firms, max 3.8e-4 (RMS 8.6e-5). Tolerances: 3e-3 and
    1e-3 (under 6 % and 2 % of the price move), and the larger population must do better on both
    the max and the RMS error. 8 draws (about 1 s in all) because one draw's max error is too noisy
    to rank the two sizes (heavy-tailed sales: theta / (sigma - 1) = 3); the signed errors average
    to zero across draws (no bias)."""
    small, move_small = _acr_errors(tmp_path, 20_000, 0.5, ACR_DRAWS)
    large, move_large = _acr_errors(tmp_path, 200_000, 0.5, ACR_DRAWS)
    assert min(move_small, move_large) > 0.03  # the check is not trivial: prices move
    max_small, max_large = np.abs(small).max(), np.abs(large).max()
    rms_small, rms_large = np.sqrt((small ** 2).mean()), np.sqrt((large ** 2).mean())
    assert max_small < 3e-3, max_small
    assert max_large < 1e-3, max_large
    assert max_large < max_small, (max_large, max_small)
    assert rms_large < rms_small, (rms_large, rms_small)


def test_acr_needs_the_pareto_margin_at_home(tmp_path):
    """A control: with every firm selling at home (participation 1) the domestic cell has no
    selection, so the formula fails by more than the tolerance above, and more firms do not help
    (measured: max error 6.9e-3 with 20,000 firms, 5.3e-3 with 200,000)."""
    errors, _ = _acr_errors(tmp_path, 20_000, 1.0, 2)
    assert np.abs(errors).max() > 3e-3


# --------------------------------------------------------------------------- trade diversion

@pytest.fixture(scope="module")
def us_tariff_on_japan(tmp_path_factory, default_calibration, default_draw):
    folder = tmp_path_factory.mktemp("diversion")
    body = '[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "JPN"\nrate = "25%"\n'
    path = policy_path(_scenario(folder, body), default_calibration)
    population, baseline, params = default_draw
    return {closure: run_static(population, baseline, path, params, closure=closure)
            for closure in ("pe", "ge_fixed_wage")}


def test_us_tariff_on_japan_diverts_us_purchases_to_other_suppliers_in_ge_only(default_calibration,
                                                                             us_tariff_on_japan):
    cal = default_calibration
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    others = [i for i in range(cal.n_regions) if i not in (jpn, usa)]
    pe, ge = us_tariff_on_japan["pe"][0], us_tariff_on_japan["ge_fixed_wage"][0]
    for cells in (pe, ge):
        assert np.all(cells.exports[2, jpn, usa] < cells.exports[0, jpn, usa])
    # PE: the demand level of the US market is fixed, other suppliers sell exactly what they did
    np.testing.assert_array_equal(pe.exports[2, others, usa], pe.exports[0, others, usa])
    np.testing.assert_array_equal(pe.exports[2, usa, usa], pe.exports[0, usa, usa])
    # GE: the US price index rises, so every other supplier (and US firms at home) sells more
    assert np.all(ge.exports[2, others, usa] > ge.exports[0, others, usa])
    assert np.all(ge.exports[2, usa, usa] > ge.exports[0, usa, usa])
    assert np.all(ge.exporters[2, others, usa] >= ge.exporters[0, others, usa])
    regions = us_tariff_on_japan["ge_fixed_wage"][2]
    assert np.all(regions.sector_price_index[2, usa] > 1)
    # markets the tariff does not reach stay where they were
    np.testing.assert_allclose(ge.exports[2][:, np.arange(cal.n_regions) != usa],
                               ge.exports[0][:, np.arange(cal.n_regions) != usa], rtol=1e-9)


# --------------------------------------------------------------------------- convergence

#: Most fixed-point evaluations a period needed on the shipped scenarios (measured 61 for
#: us_japan_2025 and 216 for liberation_day_2025 with 4 draws, 3000 firms, seed 2025).
MAX_EVALUATIONS = 300


def test_ge_converges_on_the_shipped_scenarios_for_every_draw(tmp_path):
    """4 draws x 3000 firms of both shipped scenarios in GE (about 3 s on one thread: the size the
    issue asks for). ``threads=1``: results do not depend on it (test_reproducibility), and with
    3000 firms the many small market evaluations are slower on several threads."""
    run = engine.simulate(["us_japan_2025", "liberation_day_2025"], draws=4, firms=3000, seed=2025,
                          closure="ge_fixed_wage", out=tmp_path / "run", threads=1, dynamics="static")
    regions = run.scan("regions").collect()
    per_period = regions.group_by("scenario", "draw", "period").agg(
        pl.col("ge_iterations").max(), pl.col("ge_residual").max())
    assert per_period.height == 2 * 4 * 24
    assert per_period["ge_iterations"].min() >= 1
    worst = per_period.group_by("scenario").agg(pl.col("ge_iterations").max(), pl.col("ge_residual").max())
    for row in worst.iter_rows(named=True):
        assert row["ge_iterations"] <= MAX_EVALUATIONS, row
        assert row["ge_residual"] <= config.GE_TOLERANCE, row
    # the iterations were needed: prices moved
    prices = run.scan("prices").filter(pl.col("region") == "USA").collect()
    assert (prices["price_index"] - 1).abs().max() > 1e-3


@pytest.fixture()
def small_ge(tmp_path):
    flows = ACR_FLOWS
    folder = make_calibration(tmp_path / "cal", flows)
    scenario = write_scenario(tmp_path, 'name = "t"\nstart = "2025-01"\nperiods = 3\nclosure = "ge_fixed_wage"\n'
                                        '[[tariff]]\ndate = "2025-02-01"\nimporter = "R0"\nexporter = "R1"\n'
                                        'rate = 0.2\n', "t")
    return folder, scenario


@pytest.mark.parametrize("max_iterations, tolerance", [(2, None), (3, 0.0)])
def test_no_convergence_is_a_clear_error_and_leaves_no_output(monkeypatch, tmp_path, small_ge, max_iterations,
                                                              tolerance):
    folder, scenario_path = small_ge
    monkeypatch.setattr(config, "GE_MAX_ITERATIONS", max_iterations)
    if tolerance is not None:
        monkeypatch.setattr(config, "GE_TOLERANCE", tolerance)
    calibration = load_calibration(folder)
    population, baseline, params = draw_population(calibration, 500, seed=5)
    path = policy_path(load_scenario(scenario_path), calibration)
    with pytest.raises(ConvergenceError) as info:
        run_static(population, baseline, path, params, closure="ge_fixed_wage")
    message = str(info.value)
    assert "period 1" in message and "residual" in message and f"tolerance {config.GE_TOLERANCE:g}" in message
    residual = float(message.split("residual ")[1].split()[0])
    assert residual > config.GE_TOLERANCE
    out = tmp_path / "run"
    with pytest.raises(ConvergenceError):
        engine.simulate(scenario_path, draws=2, firms=200, calibration=folder, out=out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]  # no partial folder either


# --------------------------------------------------------------------------- welfare

@pytest.fixture(scope="module")
def deal_ge(default_calibration, default_draw):
    population, baseline, params = default_draw
    path = policy_path(load_scenario("us_japan_2025"), default_calibration, DEAL)
    return run_static(population, baseline, path, params, closure="ge_fixed_wage")


def test_us_tariff_on_japan_raises_us_tariff_revenue_in_ge(default_calibration, deal_ge):
    cal = default_calibration
    usa = cal.regions.index("USA")
    regions = deal_ge[2]
    april = 3
    assert np.all(regions.tariff_revenue[april:, usa] > regions.tariff_revenue[0, usa])
    assert regions.tariff_revenue[-1, usa] > regions.tariff_revenue[0, usa]
    assert np.all(regions.ge_residual <= config.GE_TOLERANCE)


def test_welfare_follows_prices_and_tariff_revenue_in_ge(default_calibration, us_tariff_on_japan):
    """Real income is (Y + TR + D) / P with income Y pinned by the outside good (docs/model.md section 6.3;
    firms' profits are not part of it, a stated limit: docs/model.md section 14). So under a plain US tariff on
    Japan, Japan's welfare moves only through its price index, and the US gains tariff revenue while
    paying higher prices."""
    cal = default_calibration
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    regions = us_tariff_on_japan["ge_fixed_wage"][2]
    expected_jpn = 100.0 * (1.0 / regions.price_index[-1, jpn] - 1.0)
    assert regions.real_income_change_pct[-1, jpn] == pytest.approx(expected_jpn, abs=1e-9)
    assert regions.tariff_revenue[-1, usa] > regions.tariff_revenue[0, usa]
    assert regions.price_index[-1, usa] > 1.0
    income_ratio = (regions.expenditure[-1, usa] / regions.expenditure[0, usa])
    expected_usa = 100.0 * (income_ratio / regions.price_index[-1, usa] - 1.0)
    assert regions.real_income_change_pct[-1, usa] == pytest.approx(expected_usa, abs=1e-9)
