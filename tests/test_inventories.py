"""Importers' stocks between final sales and customs imports (engine.firms.inventories; docs/model.md
section 11.9).

The closed form (11.14) is checked against a slow reference that solves the first-order conditions
(11.13) as a boundary-value problem in every month, with that month's expectations, on random inputs;
the model's runs against the issue's must-shows: announced tariffs are bought ahead of, stocks are
drawn down after, final sales do not move, and everything is as before with stocks off.
"""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

import engine
from engine.firms.inventories import expected_cost_drive, importer_stocks
from engine.scenario.beliefs import Epoch
from tests.conftest import write_scenario

BETA = 0.99


def _settings(rng):
    return SimpleNamespace(discount=BETA, inventory_months=float(rng.uniform(0.5, 4.0)),
                           inventory_adjustment=float(rng.uniform(0.1, 0.7)),
                           inventory_price_response=float(rng.uniform(0.5, 4.0)))


def reference_stock_units(quantity, expected_log_cost, settings, horizon=400):
    """``s_t`` by solving (11.13) in each month ``t`` for ``s_t .. s_(t+horizon)``, with ``q`` expected to
    stay at ``q_t``, ``expected_log_cost[t]`` the log landed cost path expected in ``t`` (held after its
    end) and ``s`` back at ``q_t`` at the far end; the first element is the month's stock."""
    mu = 1.0 - settings.inventory_adjustment
    phi = 1.0 / settings.inventory_price_response
    psi = phi * mu / ((1.0 - mu) * (1.0 - BETA * mu))
    n_periods = quantity.size
    units = np.ones(n_periods)
    for t in range(1, n_periods):
        path = np.concatenate([expected_log_cost[t][t:], np.full(horizon + 1, expected_log_cost[t][-1])])
        d = -BETA * np.diff(path)[:horizon]
        matrix = np.zeros((horizon, horizon))
        rhs = d - phi * quantity[t]
        for j in range(horizon):
            matrix[j, j] = -(phi + psi * (1.0 + BETA))
            if j > 0:
                matrix[j, j - 1] = psi
            else:
                rhs[j] -= psi * units[t - 1]
            if j + 1 < horizon:
                matrix[j, j + 1] = BETA * psi
            else:
                rhs[j] -= BETA * psi * quantity[t]
        units[t] = np.linalg.solve(matrix, rhs)[0]
    return units


def _model(paths, probabilities, info_keys):
    epoch = Epoch(first_period=1, labels=[(("b", str(j)),) for j in range(len(paths))],
                  probabilities=probabilities, paths=paths, info_keys=info_keys)
    return SimpleNamespace(epochs=[epoch])


def _run_layer(quantity, log_price, drive, settings):
    base = 100.0
    final_sales = (base * quantity * np.exp(log_price))[:, None, None]
    change, stock = importer_stocks(final_sales, log_price[:, None, None], drive, settings, np.array([[True]]))
    units = stock[:, 0, 0] * 12.0 / (settings.inventory_months * base * np.exp(log_price))
    return change[:, 0, 0], units, final_sales[:, 0, 0]


def test_closed_form_solves_the_first_order_conditions(rng):
    """(11.14) with the drive of a known landed-cost path equals the month-by-month solution of (11.13)."""
    settings = _settings(rng)
    n_periods = 18
    quantity = 1.0 + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.01, n_periods - 1))])
    log_cost = np.concatenate([np.zeros(3), rng.normal(0.0, 0.05, n_periods - 3).cumsum()])
    log_price = rng.normal(0.0, 0.02, n_periods)
    log_price[0] = 0.0
    model = _model([log_cost[:, None, None]], [1.0], [[(("b", "0"),)]] * n_periods)
    drive = expected_cost_drive(model, (("b", "0"),), lambda path: path, settings, n_periods)
    change, units, final_sales = _run_layer(quantity, log_price, drive, settings)
    want = reference_stock_units(quantity, [log_cost] * n_periods, settings)
    np.testing.assert_allclose(units, want, rtol=0, atol=1e-9)
    # customs imports are final sales plus the stock change at this month's price (11.15)
    np.testing.assert_allclose(change[1:], settings.inventory_months * 100.0 * np.exp(log_price[1:])
                               * np.diff(units), rtol=1e-12)
    assert change[0] == 0.0


def test_expectations_weigh_the_paths_not_yet_told_apart(rng):
    """Two branch paths, revealed in month 6: before it the importer expects their probability-weighted
    cost; from it, the draw's own path's."""
    settings = _settings(rng)
    n_periods, reveal, p = 14, 6, float(rng.uniform(0.2, 0.8))
    high = np.where(np.arange(n_periods) >= 9, 0.3, 0.0)
    low = np.where(np.arange(n_periods) >= 9, 0.05, 0.0)
    keys = [[(), ()] if t < reveal else [(("b", "0"),), (("b", "1"),)] for t in range(n_periods)]
    model = _model([high[:, None, None], low[:, None, None]], [p, 1.0 - p], keys)
    quantity = np.ones(n_periods)
    units = {}
    for j, own in enumerate((high, low)):
        drive = expected_cost_drive(model, (("b", str(j)),), lambda path: path, settings, n_periods)
        expected = [p * high + (1.0 - p) * low if t < reveal else own for t in range(n_periods)]
        _, units[j], _ = _run_layer(quantity, np.zeros(n_periods), drive, settings)
        np.testing.assert_allclose(units[j], reference_stock_units(quantity, expected, settings), rtol=0, atol=1e-9)
    # the same stock until the outcome is known; then more of it ahead of the larger increase
    np.testing.assert_array_equal(units[0][:reveal], units[1][:reveal])
    assert np.all(units[0][reveal:9] > units[1][reveal:9])


def test_orders_and_stocks_never_go_negative(rng):
    """A collapse of final sales and a known large cost cut: the floors hold orders and stocks at zero."""
    settings = _settings(rng)
    n_periods = 12
    quantity = np.where(np.arange(n_periods) >= 4, 0.05, 1.0)
    log_cost = np.where(np.arange(n_periods) >= 8, -1.5, 0.0)
    model = _model([log_cost[:, None, None]], [1.0], [[(("b", "0"),)]] * n_periods)
    drive = expected_cost_drive(model, (("b", "0"),), lambda path: path, settings, n_periods)
    change, units, final_sales = _run_layer(quantity, np.zeros(n_periods), drive, settings)
    assert np.all(units >= 0.0)
    assert np.all(final_sales + change >= -1e-9)
    assert np.min(final_sales + change) < 1e-9  # a floor binds somewhere


def _tariff_scenario(folder, name, announced, extra=""):
    lines = [f'name = "{name}"', 'start = "2025-01"', "periods = 8", "sunk_cost_ratio = 0.1", "[dynamics]",
             'mode = "forward"', extra, "[[tariff]]", 'date = "2025-05-01"', 'importer = "USA"', 'exporter = "JPN"',
             'rate = "20%"', 'measure = "test"']
    if announced:
        lines.append('announced = "2025-02-01"')
    return write_scenario(folder, "\n".join(lines) + "\n", name)


@pytest.fixture(scope="module")
def announced_runs(tmp_path_factory):
    """The issue's case on the default calibration, firm model and closure: +20 pp on Japan from 1 May
    2025, announced on 1 February or a surprise, stocks on and off; common random numbers."""
    folder = tmp_path_factory.mktemp("inventories")
    scenarios = [_tariff_scenario(folder, "announced", True), _tariff_scenario(folder, "surprise", False),
                 _tariff_scenario(folder, "announced_off", True, "inventories = false")]
    run = engine.simulate(scenarios, draws=2, firms=4000, seed=11, out=folder / "run", progress=False)
    return run.flows.sort("scenario", "draw", "period", "origin", "destination", "sector")


def _window(flows, scenario, first, last, column="exports"):
    pair = (pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
    return flows.filter((pl.col("scenario") == scenario) & pair & pl.col("period").is_between(first, last))[column].sum()


def test_announced_tariff_is_bought_ahead_and_stocks_drawn_down_after(announced_runs):
    """Customs imports over the three months before the date at least 1% above the surprise case's,
    and below them over the three months after."""
    before = _window(announced_runs, "announced", 1, 3) / _window(announced_runs, "surprise", 1, 3) - 1.0
    after = _window(announced_runs, "announced", 4, 6) / _window(announced_runs, "surprise", 4, 6) - 1.0
    assert before >= 0.01, before
    assert after < 0.0, after
    # the stock of the announced case rises ahead of the date and is above its baseline on the eve
    stock = (announced_runs.filter((pl.col("scenario") == "announced") & (pl.col("origin") == "JPN")
                                   & (pl.col("destination") == "USA"))
             .group_by("period").agg(pl.col("importer_stock").sum()).sort("period")["importer_stock"].to_numpy())
    assert stock[3] > stock[0] and stock[3] > stock[1], stock


def test_stocks_change_customs_imports_only(announced_runs):
    """With stocks on, final sales and everything the firms do are the stocks-off run's, bit for bit; customs
    imports are final sales plus the stock change; tariff revenue is paid at the border; domestic
    cells and period 0 have no stock change."""
    on = announced_runs.filter(pl.col("scenario") == "announced")
    off = announced_runs.filter(pl.col("scenario") == "announced_off")
    firm_columns = ["final_sales", "sales", "exporters", "entries", "exits", "exports_intensive",
                    "exports_extensive", "export_price_index"]
    for column in firm_columns:
        assert on[column].equals(off[column]), column
    assert on["final_sales"].equals(off["exports"])
    assert (off["stock_change"] == 0.0).all() and (off["importer_stock"] == 0.0).all()
    np.testing.assert_allclose(on["exports"], on["final_sales"] + on["stock_change"], rtol=1e-13, atol=1e-9)
    np.testing.assert_allclose(on["tariff_revenue"], on["exports"] * on["tariff"], rtol=1e-13)
    domestic = on.filter(pl.col("origin") == pl.col("destination"))
    assert (domestic["stock_change"] == 0.0).all() and (domestic["importer_stock"] == 0.0).all()
    first = on.filter(pl.col("period") == 0)
    assert (first["stock_change"] == 0.0).all()
    np.testing.assert_allclose(first["importer_stock"],
                               np.where(first["origin"] == first["destination"], 0.0, 2.0 * first["final_sales"] / 12),
                               rtol=1e-12)
    assert on["stock_change"].abs().max() > 0.0


def test_a_surprise_moves_nothing_before_its_date(announced_runs):
    """Before its date a surprise is not known: customs imports are the draw's no-policy path's
    (docs/model.md section 8.1; to rounding: ``ge``, the default closure, solves each month's
    equilibrium, here to a residual of 2e-15; in ``pe_moving`` they were equal bit for bit);
    announced, the pair's move from the announcement on."""
    before = pl.col("period") <= 3
    surprise = announced_runs.filter((pl.col("scenario") == "surprise") & before)
    np.testing.assert_allclose(surprise["exports"].to_numpy(), surprise["exports_no_policy"].to_numpy(), rtol=1e-12,
                               atol=0)
    pair = (pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
    announced = announced_runs.filter((pl.col("scenario") == "announced") & before & pair)
    moved = (announced["exports"] - announced["exports_no_policy"]).abs().to_numpy()
    assert np.all(moved[announced["period"].to_numpy() >= 1] > 0.0)


def test_ge_restocks_flows_but_keeps_the_equilibrium(tmp_path, small_calibration):
    """In ``ge`` the stocks re-time the flows' customs values and tariff revenue; the equilibrium and the
    regions table are those of final sales (docs/model.md section 11.9)."""
    texts = {}
    for name, extra in (("on", ""), ("off", "inventories = false")):
        texts[name] = write_scenario(tmp_path, "\n".join([
            f'name = "{name}"', 'start = "2025-01"', "periods = 6", "sunk_cost_ratio = 0.1", 'closure = "ge"',
            "[dynamics]", 'mode = "forward"', extra, "[[tariff]]", 'date = "2025-04-01"', 'announced = "2025-02-01"',
            'importer = "R1"', 'exporter = "R0"', 'rate = "25%"']) + "\n", name)
    run = engine.simulate(list(texts.values()), draws=1, firms=1500, seed=4, calibration=small_calibration,
                          out=tmp_path / "run", progress=False)
    keys = ["draw", "period", "origin", "destination", "sector"]
    on = run.flows.filter(pl.col("scenario") == "on").sort(keys)
    off = run.flows.filter(pl.col("scenario") == "off").sort(keys)
    assert on["final_sales"].equals(off["exports"])
    assert on["stock_change"].abs().max() > 0.0
    regions = run.scan("regions").collect()
    regions_on = regions.filter(pl.col("scenario") == "on").sort("draw", "period", "region").drop("scenario")
    regions_off = regions.filter(pl.col("scenario") == "off").sort("draw", "period", "region").drop("scenario")
    assert regions_on.equals(regions_off)
