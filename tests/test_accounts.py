"""The regional accounts of ``engine.closures.fixed_wage`` against identities derived from the cell results.

With one factor and no intermediate inputs, a region's income is the value of what its firms sell
(net of tariffs) to every destination, home included: from ``E_n = sum_i X_in (1 + t_in)``,
``TR_n = sum_i t_in X_in`` and the deficit ``D_n = sum_(i != n) X_in - sum_(m != n) X_nm``,
``Y_n = E_n - TR_n - D_n = sum_m X_nm`` (baseline flows). In general equilibrium spending equals
``Y + TR + D`` and real income is that over the price index; domestic shares are domestic sales over
all sales of the market, at consumer prices.
"""

from dataclasses import replace

import numpy as np
import pytest

from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from tests.conftest import draw_population, make_calibration, write_scenario

pytestmark = pytest.mark.usefixtures("one_numba_thread")

FLOWS = np.array([[[1000.0, 500.0], [200.0, 100.0], [60.0, 40.0]],
                  [[150.0, 80.0], [900.0, 700.0], [70.0, 30.0]],
                  [[90.0, 20.0], [50.0, 110.0], [800.0, 600.0]]])
T0 = np.zeros(FLOWS.shape)
T0[1, 0] = 0.04
T0[0, 2] = 0.07
EVENTS = """
[[tariff]]
date = "2025-02-01"
importer = "R0"
exporter = "R1"
rate = 0.25

[[tariff]]
date = "2025-03-01"
importer = "R2"
exporter = "ALL"
sectors = "S1"
rate = 0.1
"""


@pytest.fixture(params=["pe", "ge_fixed_wage"])  # income fixed: the wage closure has its own tests
def run(request, tmp_path):
    calibration = load_calibration(make_calibration(tmp_path / "cal", FLOWS, tariffs=T0))
    population, baseline, params = draw_population(calibration, 600, seed=31)
    scenario = load_scenario(write_scenario(tmp_path, f'name = "a"\nstart = "2025-01"\nperiods = 4\n{EVENTS}'))
    path = policy_path(scenario, calibration)
    cells, _, regions = run_static(population, baseline, path, replace(params, sunk_cost_ratio=0.7),
                                          closure=request.param)
    return request.param, cells, regions


def test_income_is_the_value_of_each_regions_sales(run):
    _, _, regions = run
    np.testing.assert_allclose(regions.income, np.broadcast_to(FLOWS.sum(axis=(1, 2)), regions.income.shape),
                               rtol=1e-9)


def test_tariff_revenue_and_domestic_shares_come_from_the_cells(run):
    _, cells, regions = run
    np.testing.assert_allclose(regions.tariff_revenue, cells.tariff_revenue.sum(axis=(1, 3)), rtol=1e-12)
    sales = cells.sales  # (T, i, n, k)
    spending = sales.sum(axis=1)  # (T, n, k)
    domestic = np.stack([sales[:, n, n, :] for n in range(3)], axis=1)
    np.testing.assert_allclose(regions.sector_domestic_share, domestic / spending, rtol=1e-12)
    np.testing.assert_allclose(regions.domestic_share, domestic.sum(axis=-1) / spending.sum(axis=-1), rtol=1e-12)
    np.testing.assert_allclose(regions.import_share, 1.0 - regions.domestic_share, rtol=1e-12)
    assert regions.tariff_revenue[-1, 0] > 1.5 * regions.tariff_revenue[0, 0]  # the tariff raised revenue


def test_ge_spending_is_income_plus_revenue_plus_deficit_and_welfare_is_its_real_value(run):
    closure, cells, regions = run
    deficit = np.array([sum(FLOWS[i, n].sum() for i in range(3) if i != n) - sum(FLOWS[n, m].sum()
                        for m in range(3) if m != n) for n in range(3)])
    total = FLOWS.sum(axis=(1, 2)) + regions.tariff_revenue + deficit
    np.testing.assert_allclose(regions.expenditure, total, rtol=1e-9)
    welfare = 100.0 * (total / total[0] / regions.price_index - 1.0)
    np.testing.assert_allclose(regions.real_income_change_pct, welfare, rtol=1e-9, atol=1e-9)
    if closure == "ge_fixed_wage":  # markets clear: consumer spending on the sectors is what the region spends
        np.testing.assert_allclose(cells.sales.sum(axis=(1, 3)), total, rtol=1e-8)
    assert np.abs(regions.real_income_change_pct[-1]).max() > 0.01
