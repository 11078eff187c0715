r"""The Chaney (2008) limit: no firm-destination shocks, full pass-through, Pareto, many firms.

Derivation (one cell, destination demand level fixed: partial equilibrium). A firm of productivity
``phi`` sells ``x = B phi^(sigma-1)`` with ``B = A (mu tau (1+t))^(1-sigma)``, earns ``r = x/(1+t)``
net of tariff and profit ``pi = r / sigma``; it exports when ``pi >= F``, i.e. when

    phi^(sigma-1) >= sigma F (1+t) / B,   so   phi*^(sigma-1)  is proportional to  tau^(sigma-1) (1+t)^sigma.

With ``phi`` Pareto(theta) on [1, inf), the number of exporters is ``N phi*^(-theta)``, so

    d log(exporters) = -theta d log tau - theta sigma/(sigma-1) d log(1+t).

Exports net of tariff are ``N/(1+t) * B * int_{phi*} phi^(sigma-1) dG = N B/(1+t) theta/(theta-sigma+1)
phi*^(sigma-1-theta)``; substituting ``B`` and ``phi*`` gives

    d log(exports) = -theta d log tau - theta sigma/(sigma-1) d log(1+t),

and average exports per exporter do not change at all (elasticity 0): the intensive margin of the
incumbents is exactly offset by the smaller new entrants (Chaney 2008, section III). Consumer
sales ``(1+t) * exports`` have tariff elasticity ``1 - theta sigma/(sigma-1)``.

The simulation approximates these with a finite population (200,000 firms, 20,000 exporters at
the baseline); the tolerance (1 %) is about three standard errors of the count ratio, and the sales
sums use theta/(sigma-1) = 4 so that their variance is finite.
"""

import numpy as np
import pytest

from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.firms.static import fit_baseline, simulate_population
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import DrawParameters, stream_keys
from tests.conftest import make_calibration, write_scenario

SIGMA, THETA, N_FIRMS = 3.0, 8.0, 200_000


@pytest.fixture(scope="module")
def chaney_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chaney")
    flows = np.array([[[1000.0], [200.0]], [[150.0], [900.0]]])
    calibration = load_calibration(make_calibration(folder / "cal", flows, sigma=SIGMA, theta=THETA))
    params = DrawParameters.from_calibration(calibration)
    keys = stream_keys(12345)
    population = simulate_population((keys["productivity"], keys["shocks"]), 0, N_FIRMS, params, calibration.firms)
    return folder, calibration, params, population, fit_baseline(population, calibration)


def _ratios(setup, event):
    folder, calibration, params, population, baseline = setup
    text = f'name = "x"\nstart = "2025-01"\nperiods = 2\n{event}'
    path = policy_path(load_scenario(write_scenario(folder, text)), calibration)
    cells, _, _ = run_static(population, baseline, path, params)
    exports = cells.exports[1, 0, 1, 0] / cells.exports[0, 0, 1, 0]
    exporters = cells.exporters[1, 0, 1, 0] / cells.exporters[0, 0, 1, 0]
    return exports, exporters, exports / exporters, cells


@pytest.mark.parametrize("change", [0.05, 0.10, -0.05])
def test_iceberg_cost_change(chaney_setup, change):
    event = (f'[[trade_cost]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nsectors = "ALL"\n'
             f'change = {change}')
    exports, exporters, per_firm, cells = _ratios(chaney_setup, event)
    expected = (1 + change) ** (-THETA)
    assert exports == pytest.approx(expected, rel=0.01)
    assert exporters == pytest.approx(expected, rel=0.01)
    assert per_firm == pytest.approx(1.0, rel=0.01)
    # the other cells do not move in partial equilibrium
    np.testing.assert_array_equal(cells.exports[1, 1], cells.exports[0, 1])


@pytest.mark.parametrize("rate", [0.05, 0.10])
def test_tariff(chaney_setup, rate):
    event = (f'[[tariff]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nsectors = "ALL"\n'
             f'rate = {rate}')
    exports, exporters, per_firm, cells = _ratios(chaney_setup, event)
    expected = (1 + rate) ** (-THETA * SIGMA / (SIGMA - 1))
    assert exports == pytest.approx(expected, rel=0.01)
    assert exporters == pytest.approx(expected, rel=0.01)
    assert per_firm == pytest.approx(1.0, rel=0.01)
    sales_ratio = cells.sales[1, 0, 1, 0] / cells.sales[0, 0, 1, 0]
    assert sales_ratio == pytest.approx((1 + rate) ** (1 - THETA * SIGMA / (SIGMA - 1)), rel=0.01)
    assert cells.tariff_revenue[1, 0, 1, 0] == pytest.approx(rate * cells.exports[1, 0, 1, 0], rel=1e-12)


def test_shocks_break_the_pareto_answer(tmp_path):
    """A control: with EKK shocks, the number of exporters no longer falls at the Pareto rate
    (so the tests above really test the shock-free limit)."""
    flows = np.array([[[1000.0], [200.0]], [[150.0], [900.0]]])
    calibration = load_calibration(make_calibration(tmp_path / "cal", flows, sigma=SIGMA, theta=THETA,
                                                    shock_demand_sd=1.5, shock_cost_sd=1.0))
    params = DrawParameters.from_calibration(calibration)
    keys = stream_keys(7)
    population = simulate_population((keys["productivity"], keys["shocks"]), 0, 50_000, params, calibration.firms)
    setup = (tmp_path, calibration, params, population, fit_baseline(population, calibration))
    event = '[[trade_cost]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nchange = 0.10'
    _, exporters, _, _ = _ratios(setup, event)
    assert abs(exporters - 1.1 ** (-THETA)) > 0.05


def test_margins_split_the_export_change_exactly(chaney_setup):
    """docs/model.md section 5: the change in exports splits into an intensive part (firms selling in
    both periods) and an extensive part (entry and exit). A 5 % iceberg rise only pushes firms out,
    so every period-1 seller also sold at the baseline: the intensive part is their change,
    ``exports_1 * (1 - 1.05^(sigma-1))``, and the extensive part is the lost exits' sales."""
    event = '[[trade_cost]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nchange = 0.05'
    *_, cells = _ratios(chaney_setup, event)
    change = cells.exports[1] - cells.exports[0]
    np.testing.assert_allclose(cells.exports_intensive[1] + cells.exports_extensive[1], change, atol=1e-9)
    assert cells.exports_intensive[1, 0, 1, 0] == pytest.approx(
        cells.exports[1, 0, 1, 0] * (1 - 1.05 ** (SIGMA - 1)), rel=1e-9)
    assert cells.exports_extensive[1, 0, 1, 0] < 0
    assert not cells.exports_intensive[0].any() and not cells.exports_extensive[0].any()
    assert cells.exports_intensive[1, 1, 0, 0] == 0.0  # the untouched cell
