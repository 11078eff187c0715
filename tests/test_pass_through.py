"""Incomplete tariff pass-through (kappa < 1), exchange rates and trade costs, checked against the
primitives of docs/model.md sections 3-4 for one firm, not against the engine's own composite formulas.

Derivation (one firm of productivity ``phi`` selling good ``k`` from ``i`` in ``n``; unit cost 1 in
the origin currency; ``e = FX_i / FX_n`` the value of ``i``'s currency in ``n``'s):

- consumer price, in ``n``'s currency: ``p = mu tau e (1 + t)^kappa / phi`` with ``mu = sigma / (sigma - 1)``;
- quantity ``q = d A p^(-sigma)``; consumer spending ``x = p q``; the exporter receives
  ``r = x / (1 + t)`` (the tariff is paid on the customs value) and pays ``q tau e / phi`` (its
  cost of ``q tau`` shipped units, in ``n``'s currency);
- profit in its own currency ``pi = (r - q tau e / phi) / e``, and it sells when ``pi >= F``.

Substituting, ``pi = x / ((1 + t) e) * (1 - (1 + t)^(1 - kappa) / mu)``: the margin is
``m = 1 - (1 + t)^(1 - kappa) / mu``, which falls with the tariff when ``kappa < 1`` (the exporter
absorbs part of it). Since ``x`` is proportional to ``phi^(sigma - 1) = exp(u)`` (``u`` the entry
score, no EKK shocks here), ``pi(u) = exp(u) * pi(phi = 1)``, and the entry threshold ``u*`` solves
``pi(u*) = F``. So between the baseline and period ``t``::

    u*_t - u*_0 = -(log pi_t(phi = 1) - log pi_0(phi = 1)),

and a firm's exports change by ``r_t / r_0`` and its consumer spending by ``x_t / x_0 = (p_t / p_0)^(1 - sigma)``.
The tests compute ``p, q, r, pi`` from these primitives, with tariffs, exchange rates, trade costs and
demand shifters written down by hand from the scenario's events (not read from the engine's policy
arrays), at pass-through 0.3 to 0.8 and non-zero baseline tariffs. The market demand level ``A``
is fixed (partial equilibrium, static entry), so it cancels.

Exchange rates pass through fully into consumer prices in this model (docs/model.md section 3); a stronger
origin currency raises the price in ``n`` and squeezes the exporter's profit in its own currency twice.
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

SIGMA = 3.0
#: pass-through per (origin, sector)
KAPPA = np.array([[0.3, 0.6], [0.45, 0.8]])
#: baseline tariffs [origin, destination, sector]
T0 = np.array([[[0.0, 0.0], [0.05, 0.02]], [[0.08, 0.03], [0.0, 0.0]]])
FLOWS = np.array([[[1000.0, 500.0], [200.0, 100.0]], [[150.0, 80.0], [900.0, 700.0]]])
PERIODS = 6
EVENTS = """
[[tariff]]
date = "2025-02-01"
importer = "R1"
exporter = "R0"
sectors = "S0"
mode = "replace"
rate = 0.30

[[fx]]
date = "2025-03-01"
currency = "R0"
change = 0.10

[[trade_cost]]
date = "2025-04-01"
importer = "R0"
exporter = "R1"
sectors = "S1"
change = 0.05

[[tariff]]
date = "2025-04-01"
importer = "R0"
exporter = "R1"
sectors = "ALL"
rate = 0.15

[[demand]]
date = "2025-05-01"
importer = "R1"
exporter = "R0"
sectors = "S1"
percent = "-10%"

[[fx]]
date = "2025-06-01"
currency = "R1"
change = -0.20
"""


def primitives():
    """Tariff, exchange rate ``e_in``, iceberg and demand shifter, (T, i, n, k), from EVENTS by hand."""
    tariff = np.broadcast_to(T0, (PERIODS, 2, 2, 2)).copy()
    tariff[1:, 0, 1, 0] = 0.30  # replace: the whole tariff is 30 %
    tariff[3:, 1, 0, :] += 0.15  # added on top of the baseline
    fx = np.ones((PERIODS, 2))
    fx[2:, 0] = 1.10
    fx[5:, 1] = 0.80
    exchange = fx[:, :, None, None] / fx[:, None, :, None] * np.ones((1, 1, 1, 2))
    tau = np.ones((PERIODS, 2, 2, 2))
    tau[3:, 1, 0, 1] = 1.05
    demand = np.ones((PERIODS, 2, 2, 2))
    demand[4:, 0, 1, 1] = 0.90
    return tariff, exchange, tau, demand


def firm_at_unit_productivity(tariff, exchange, tau, demand):
    """Consumer price, spending, exports and profit of a firm with ``phi = 1`` (A = 1, F aside)."""
    kappa = KAPPA[None, :, None, :]
    mu = SIGMA / (SIGMA - 1.0)
    price = mu * tau * exchange * (1.0 + tariff) ** kappa
    quantity = demand * price ** (-SIGMA)
    spending = price * quantity
    exports = spending / (1.0 + tariff)
    cost = quantity * tau * exchange  # q tau shipped units at unit cost 1, in the destination's currency
    profit = (exports - cost) / exchange
    return price, spending, exports, profit


@pytest.fixture()
def run(tmp_path):
    """The scenario on a 2-region, 2-sector calibration with non-zero baseline tariffs, PE, static entry.

    Function scope on purpose (a few tens of ms): mutmut maps each test to the code it runs, and a
    module-scoped fixture would credit the model code to the first test only (tests/mutation.py)."""
    folder = tmp_path
    calibration = load_calibration(make_calibration(folder / "cal", FLOWS, tariffs=T0, sigma=SIGMA, theta=4.0))
    population, baseline, params = draw_population(calibration, 400, seed=17)
    params = replace(params, pass_through=KAPPA.copy())
    scenario = load_scenario(write_scenario(folder, f'name = "pt"\nstart = "2025-01"\nperiods = {PERIODS}\n{EVENTS}'))
    path = policy_path(scenario, calibration)
    cells, state, regions = run_static(population, baseline, path, params, closure="pe")
    return calibration, path, cells, state, regions


def engine_cells(calibration, x):
    """Engine cell arrays (T, B, R) -> (T, i, n, k)."""
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    return np.swapaxes(x.reshape(x.shape[0], n_regions, n_sectors, n_regions), -1, -2)


def test_hand_written_policy_matches_the_compiled_path(run):
    """The primitives below are the scenario's events; if this fails, fix ``primitives``, not the model."""
    _, path, _, _, _ = run
    tariff, exchange, tau, demand = primitives()
    np.testing.assert_allclose(path.tariff, tariff, rtol=0, atol=1e-15)
    np.testing.assert_allclose(path.iceberg, tau, rtol=1e-15)
    np.testing.assert_allclose(path.demand, demand, rtol=1e-15)
    np.testing.assert_allclose(path.fx[:, :, None, None] / path.fx[:, None, :, None], exchange[..., :1], rtol=1e-15)


def test_margin_falls_with_the_tariff_below_full_pass_through():
    """The closed form ``pi = r * (1 - (1+t)^(1-kappa)/mu)`` equals profit from price, quantity and cost,
    and the margin falls with the tariff only when ``kappa < 1`` (the derivation in the module docstring)."""
    tariff, exchange, tau, demand = primitives()
    _, _, exports, profit = firm_at_unit_productivity(tariff, exchange, tau, demand)
    margin = 1.0 - (1.0 + tariff) ** (1.0 - KAPPA[None, :, None, :]) * (SIGMA - 1.0) / SIGMA
    np.testing.assert_allclose(profit * exchange, exports * margin, rtol=1e-13)
    # the 30 % tariff on R0 -> R1 S0 (kappa 0.3) cuts the margin from 1/3 by a lot, not by rounding
    assert margin[1, 0, 1, 0] < 0.85 * margin[0, 0, 1, 0]
    full = 1.0 - (1.0 + tariff) ** 0.0 * (SIGMA - 1.0) / SIGMA
    np.testing.assert_allclose(full, 1.0 / SIGMA)


def test_entry_thresholds_move_by_minus_the_log_profit_change(run):
    """``u*_t - u*_0 = -(log pi_t - log pi_0)`` at ``phi = 1``, in every cell and period."""
    calibration, _, _, state, _ = run
    _, _, _, profit = firm_at_unit_productivity(*primitives())
    expected = -(np.log(profit) - np.log(profit[:1]))
    got = engine_cells(calibration, state.threshold)
    got = got - got[:1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # not trivial: the tariff cell moves through both the demand term and the margin
    assert abs(expected[1, 0, 1, 0]) > 0.1


@pytest.mark.parametrize("cell, period", [((0, 1, 0), 1), ((1, 0, 0), 3), ((1, 0, 1), 3)])
def test_margin_term_of_the_threshold_is_the_pass_through_one(run, cell, period):
    """The threshold change splits into the demand term ``-(log x_t - log x_0)``, the tariff term
    ``+log((1+t_t)/(1+t_0))``, the exchange-rate term ``+log e`` and the margin term
    ``-log(m_t/m_0)``; each is computed here from the primitives; their sum is the engine's threshold
    change, and the margin term is large (an engine that ignores it, or adds it with the wrong sign,
    misses by more than 0.01)."""
    calibration, _, _, state, _ = run
    tariff, exchange, tau, demand = primitives()
    _, spending, _, _ = firm_at_unit_productivity(tariff, exchange, tau, demand)
    i, n, k = cell
    kappa = KAPPA[i, k]
    margin = 1.0 - (1.0 + tariff[:, i, n, k]) ** (1.0 - kappa) * (SIGMA - 1.0) / SIGMA
    margin_term = -np.log(margin[period] / margin[0])
    rest = (-np.log(spending[period, i, n, k] / spending[0, i, n, k])
            + np.log((1.0 + tariff[period, i, n, k]) / (1.0 + tariff[0, i, n, k]))
            + np.log(exchange[period, i, n, k]))
    got = engine_cells(calibration, state.threshold)[:, i, n, k]
    assert got[period] - got[0] == pytest.approx(rest + margin_term, abs=1e-12)
    assert abs(margin_term) > 0.01
    assert abs((got[period] - got[0]) - (rest - margin_term)) > 0.02  # the sign matters


def test_firm_exports_and_consumer_spending_follow_the_price(run):
    """A given firm's exports change by ``r_t / r_0`` and its consumer spending by
    ``(p_t / p_0)^(1 - sigma)``: the consumer price moves by ``((1+t_t)/(1+t_0))^kappa``, not by the
    whole tariff."""
    calibration, _, _, state, _ = run
    tariff, exchange, tau, demand = primitives()
    price, spending, exports, _ = firm_at_unit_productivity(tariff, exchange, tau, demand)
    unit = engine_cells(calibration, state.unit_exports)
    np.testing.assert_allclose(unit / unit[:1], exports / exports[:1], rtol=1e-12)
    np.testing.assert_allclose((unit * (1.0 + tariff)) / (unit[:1] * (1.0 + tariff[:1])),
                               demand * (price / price[:1]) ** (1.0 - SIGMA), rtol=1e-12)
    # kappa = 0.3: a 30 % tariff (from 5 %) raises the consumer price by (1.3/1.05)^0.3 - 1 = 6.6 %
    assert price[1, 0, 1, 0] / price[0, 0, 1, 0] == pytest.approx((1.30 / 1.05) ** 0.3, rel=1e-12)


def test_sector_price_index_moves_with_consumer_spending_at_fixed_demand_level(run):
    """With ``A`` fixed (PE) and ``d = 1``, ``P^(1-sigma) = sum_i x_i / A``, so
    ``P_t / P_0 = (sum_i sales_it / sum_i sales_i0)^(1/(1-sigma))`` per market (R0 buys S0 from R0
    and R1; no demand shifter touches that market)."""
    _, _, cells, _, regions = run
    sales = cells.sales[:, :, 0, 0].sum(axis=1)  # market (R0, S0): every origin
    expected = (sales / sales[0]) ** (1.0 / (1.0 - SIGMA))
    np.testing.assert_allclose(regions.sector_price_index[:, 0, 0], expected, rtol=1e-12)
    assert expected[3] > 1.001  # the 15 % tariff on R1's goods raises R0's price of S0
