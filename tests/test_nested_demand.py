r"""Nested demand (docs/model.md section 6.5) in the partial equilibrium with moving price indices.

The exact limit: Pareto productivity, no firm-destination shocks, full pass-through, static entry,
many firms. A cell's consumer spending is then (Chaney 2008; docs/model.md (13.1))

    x_i = x_i0 T_i^(1 - theta sigma/(sigma-1)) A_g^(theta/(sigma-1)),   T_i = (1 + t_i) / (1 + t_i0),

with ``A_g`` the demand level of the cell's nest (domestic or imports) relative to the baseline. A
nest's price index is ``P_g^(1-sigma) = (sum_g x_i / sum_g x_i0) / A_g`` and its spending
``E_g = E s_g (P_g / P)^(1-eta)`` with ``P^(1-eta) = sum_g s_g P_g^(1-eta)`` and ``E`` fixed. The test
solves the two nests' markets of the taxed destination with SciPy on these closed forms, on its own,
and compares the engine's static model with 200,000 firms per block.
"""

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy.optimize import fsolve

import engine
from engine.calibration.data import load_calibration
from engine.cli.main import main
from engine.closures.fixed_wage import baseline_accounts, solve_markets
from engine.errors import InputError
from engine.outputs.report.data import ScenarioData
from engine.firms.static import fit_baseline, policy_shift, simulate_population
from engine.paths import default_calibration_dir
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import DrawParameters, sample_parameters, stream_keys
from tests.conftest import make_calibration, write_scenario

SIGMA, THETA, N_FIRMS, ETA = 3.0, 8.0, 200_000, 1.5
#: R0 and R1 sell to R2, which buys most at home; every cell has an interior entry threshold.
FLOWS = np.array([[[1000.0], [150.0], [200.0]], [[120.0], [900.0], [300.0]], [[80.0], [90.0], [1500.0]]])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nested")
    share = np.full(FLOWS.shape, 0.2)
    share[np.arange(3), np.arange(3)] = 0.5
    calibration = load_calibration(make_calibration(folder / "cal", FLOWS, participation=share, sigma=SIGMA,
                                                    theta=THETA))
    params = DrawParameters.from_calibration(calibration)
    keys = stream_keys(2718)
    population = simulate_population((keys["productivity"], keys["shocks"]), 0, N_FIRMS, params, calibration.firms)
    return folder, calibration, params, population, fit_baseline(population, calibration)


def _solve(setup, exporters, rate, eta, fixed_spending=True):
    """Consumer sales (T, B, R) and the solved markets of a tariff of R2 on ``exporters``."""
    folder, calibration, params, population, baseline = setup
    events = "".join(f'[[tariff]]\ndate = "2025-02-01"\nimporter = "R2"\nexporter = "{e}"\nsectors = "ALL"\n'
                     f"rate = {rate}\n" for e in exporters)
    text = f'name = "x"\nstart = "2025-01"\nperiods = 2\n{events}'
    path = policy_path(load_scenario(write_scenario(folder, text, f"x{len(exporters)}")), calibration)
    params = replace(params, eta=None if eta is None else np.full(1, eta))
    log_demand_change, tariff, static = policy_shift(baseline, path, params, 1)
    markets = solve_markets(population, baseline, baseline_accounts(baseline, 1), log_demand_change, static,
                            tariff, params, True, fixed_spending=fixed_spending)
    sales = baseline.scale * np.exp(log_demand_change + markets.market_cells) * markets.sales_index
    return sales, markets


def _closed_form(taxed, rate, eta):
    """Period-1 consumer sales of R0, R1 and R2 in R2 relative to the baseline (the module docstring)."""
    x0 = FLOWS[:, 2, 0]
    tax = np.array([1.0 + rate if i in taxed else 1.0 for i in range(3)]) ** (1 - THETA * SIGMA / (SIGMA - 1))
    nests = [np.array([2]), np.array([0, 1])]
    share = np.array([x0[g].sum() for g in nests]) / x0.sum()

    def sales(log_a):
        return [x0[g] * tax[g] * np.exp(log_a[j] * THETA / (SIGMA - 1)) for j, g in enumerate(nests)]

    def excess(log_a):
        x = sales(log_a)
        price = np.array([(x[j].sum() / x0[g].sum() / np.exp(log_a[j])) ** (1 / (1 - SIGMA))
                          for j, g in enumerate(nests)])
        composite = (share * price ** (1 - eta)).sum() ** (1 / (1 - eta))
        spend = x0.sum() * share * (price / composite) ** (1 - eta)
        return [np.log(x[j].sum()) - np.log(spend[j]) for j in range(2)]

    log_a = fsolve(excess, [0.0, 0.0], xtol=1e-13)
    x = sales(log_a)
    out = np.empty(3)
    out[2], out[[0, 1]] = x[0][0] / x0[2], x[1] / x0[[0, 1]]
    return out, log_a


@pytest.mark.parametrize("taxed", [("R0",), ("R0", "R1")])
def test_nested_pe_matches_the_continuum_closed_form(setup, taxed):
    sales, markets = _solve(setup, taxed, 0.10, ETA)
    engine = sales[1, [0, 1, 2], 2] / sales[0, [0, 1, 2], 2]
    expected, log_a = _closed_form([int(e[1]) for e in taxed], 0.10, ETA)
    np.testing.assert_allclose(engine, expected, rtol=0.01)
    np.testing.assert_allclose(markets.market[1, 2, 0], log_a, atol=0.01)
    # markets with no policy stay where they were, and the equilibrium is solved to tolerance
    np.testing.assert_allclose(markets.market[1, :2], 0.0, atol=1e-9)
    assert markets.residual.max() < 1e-9


def test_the_nest_at_eta_equal_to_sigma_is_the_one_tier_model(setup):
    """``eta = sigma`` (up to 1e-9, so that the nested solver runs) gives the flat model's solution."""
    flat, flat_markets = _solve(setup, ("R0",), 0.10, None)
    nested, nested_markets = _solve(setup, ("R0",), 0.10, SIGMA * (1 + 1e-9))
    np.testing.assert_allclose(nested, flat, rtol=1e-7)
    np.testing.assert_allclose(nested_markets.market[..., 0], flat_markets.market, atol=1e-7)
    np.testing.assert_allclose(nested_markets.market[..., 1], flat_markets.market, atol=1e-7)
    np.testing.assert_allclose(nested_markets.price_sum, flat_markets.price_sum, rtol=1e-7)


def test_a_tariff_on_one_supplier_diverts_and_on_all_suppliers_does_not(setup):
    """One supplier taxed: its sales fall by at least 1.5x (in logs) what they fall when every
    supplier is taxed, and the untaxed supplier gains. At eta = sigma both fall nearly alike (the
    import share is small, so the market's price index barely moves)."""
    def log_change(taxed, eta):
        sales, _ = _solve(setup, taxed, 0.20, eta)
        return np.log(sales[1, [0, 1], 2] / sales[0, [0, 1], 2])

    one, every = log_change(("R0",), ETA), log_change(("R0", "R1"), ETA)
    assert one[0] < 1.5 * every[0] < 0
    assert one[1] > 0.01
    flat_one, flat_every = log_change(("R0",), None), log_change(("R0", "R1"), None)
    assert flat_one[0] < flat_every[0] < 0.8 * flat_one[0]


ETA_SCENARIO = """
name = "nest"
start = "2025-01"
periods = 3
closure = "ge_fixed_wage"
[dynamics]
mode = "static"

[[parameter]]
name = "eta"
sectors = ["machinery"]
dist = "uniform"
low = 1.0
high = 1.6

[[tariff]]
date = "2025-02-01"
importer = "USA"
exporter = "JPN"
sectors = "ALL"
rate = "20%"
"""


def test_eta_is_a_sampled_parameter_of_the_fixed_wage_closure(tmp_path):
    scenario = write_scenario(tmp_path, ETA_SCENARIO, "nest")
    calibration = load_calibration(default_calibration_dir())
    params, sampled = sample_parameters(load_scenario(scenario), calibration, 5, 0)
    machinery = calibration.sectors.index("machinery")
    assert 1.0 <= params.eta[machinery] <= 1.6 and sampled["eta.machinery"] == params.eta[machinery]
    others = np.arange(calibration.n_sectors) != machinery
    np.testing.assert_array_equal(params.eta[others], calibration.eta[others])  # the calibration's elsewhere
    run = engine.simulate(scenario, draws=2, firms=500, seed=5, out=tmp_path / "run")
    assert "eta.machinery" in run.draws.columns
    # pe holds every price index fixed, so a sampled eta would be silently ignored: refused instead
    pe = write_scenario(tmp_path, ETA_SCENARIO.replace('closure = "ge_fixed_wage"', 'closure = "pe"'), "pe")
    result = CliRunner().invoke(main, ["simulate", str(pe), "--out", str(tmp_path / "pe")])
    assert result.exit_code == 2 and "parameter #1: eta (nested demand" in result.output
    assert "--closure pe_moving" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "pe").exists()


def test_the_calibration_s_eta_column_is_optional_and_checked(calibration_copy):
    sectors = calibration_copy / "sectors.csv"
    frame = pl.read_csv(sectors)
    # shipped: 1, below the fitted sigma between suppliers (docs/model.md section 6.5)
    loaded = load_calibration(calibration_copy)
    np.testing.assert_array_equal(loaded.eta, 1.0)
    assert np.all(loaded.eta < loaded.sigma)
    frame.drop("eta").write_csv(sectors)
    assert load_calibration(calibration_copy).eta is None
    frame.with_columns(pl.lit(0.0).alias("eta")).write_csv(sectors)
    with pytest.raises(InputError, match="field 'eta': must be > 0"):
        load_calibration(calibration_copy)


# --------------------------------------------------------------------------- the Newton closures


def test_newton_s_moving_index_pe_equals_the_secant_solver(setup):
    """The moving-index partial equilibrium in ``engine.closures.ge.Period`` (Newton, wages and
    spending fixed: ``pe_moving``, and ``ge``'s per-period machinery) and in ``solve_markets``
    (safeguarded secant) solve the same nested equations (6.17)-(6.19) on the same static firms."""
    from engine.closures import newton as solver
    from engine.closures.ge import Period
    from engine.closures.ge_accounts import labour_accounts
    from kernels.fixed_costs import cost_tails

    folder, calibration, params, population, baseline = setup
    _, markets = _solve(setup, ("R0",), 0.10, ETA)
    events = '[[tariff]]\ndate = "2025-02-01"\nimporter = "R2"\nexporter = "R0"\nsectors = "ALL"\nrate = 0.1\n'
    path = policy_path(load_scenario(write_scenario(folder, f'name = "x"\nstart = "2025-01"\nperiods = 2\n{events}',
                                                    "newton")), calibration)
    params = replace(params, eta=np.full(1, ETA))
    ldc, tariff, static = policy_shift(baseline, path, params, 1)
    tail = np.empty_like(population.tail_sales)
    cost_tails(population.entry_sorted, population.tail_sales, tail)
    acc = labour_accounts(baseline, params, tail, population)
    period = Period(population, tail, acc, params, ldc[1], static[1], tariff[1], baseline.threshold, (), [], 0,
                    fixed_spending=True)
    assert period.nested and period.n_w == 0 and period.size() == 6  # two nests in each of 3 markets
    _z, state, evaluations, residual = solver.newton(period, np.zeros(period.size()), 50)
    assert residual < 1e-10
    np.testing.assert_allclose(state["a"], markets.market[1], atol=1e-8)
    assert abs(state["a"][2, 0, 1]) > 0.01  # the taxed destination's import nest moved


DYNAMIC = """name = "{name}"
start = "2025-01"
periods = 25
sunk_cost_ratio = 0.5
focus = {{ exporter = "R0", importer = "R2" }}
[dynamics]
mode = "forward"
{body}"""
ETA_FIXED = '[[parameter]]\nname = "eta"\ndist = "fixed"\nvalue = {eta}\n'
TARIFF = '[[tariff]]\ndate = "2025-03-01"\nimporter = "R2"\nexporter = {exporter}\nrate = "20%"\n'


def _dynamic_run(folder, calibration, name, body, closure, **kw):
    path = write_scenario(folder, DYNAMIC.format(name=name, body=body), name)
    return engine.simulate([path], closure=closure, calibration=calibration, seed=5, out=folder / f"{name}_{closure}",
                           **{"draws": 2, "firms": 1500, **kw})


def _supplier_log_change(run, origin):
    """Per draw, log of ``origin``'s customs exports to R2 in year 2 (months 13-24) against period 0."""
    flows = (run.scan("flows").filter((pl.col("destination") == "R2") & (pl.col("origin") == origin))
             .collect().sort("draw", "period"))
    x = flows["exports"].to_numpy().reshape(flows["draw"].n_unique(), -1)
    return np.log(x[:, 13:].mean(axis=1) / x[:, 0])


def test_pe_moving_with_no_policy_is_pe(tmp_path, small_calibration):
    """With no policy the moving-index closure is ``pe`` (every nest at its no-policy level), flows and
    price indices alike, though the dynamic firms churn all the while."""
    body = ETA_FIXED.format(eta=1.5)
    moving = _dynamic_run(tmp_path, small_calibration, "quiet", body, "pe_moving")
    fixed = _dynamic_run(tmp_path, small_calibration, "quiet", "", "pe")
    key = ["draw", "period", "origin", "destination"]
    a, b = moving.flows.sort(key), fixed.flows.sort(key)
    for column in ("exports", "exporters", "entries", "exits", "final_sales", "stock_change"):
        np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), rtol=1e-12, atol=1e-9,
                                   err_msg=column)
    assert b["entries"].sum() > 0
    for table, key in (("regions", ["draw", "period", "region"]), ("prices", ["draw", "period", "region", "sector"])):
        a, b = (r.scan(table).collect().sort(key) for r in (moving, fixed))
        for column in ("price_index", "price_index_effect_pct", "import_price_index", "expenditure"):
            if column in a.columns:
                np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), rtol=1e-12, atol=1e-12,
                                           err_msg=f"{table}.{column}")


@pytest.fixture()
def small_supplier(tmp_path):
    """The dynamic model's small case (``small_calibration``) with R0 a small supplier of R2 (1/9 of
    its imports, as Japan is a small supplier of the US)."""
    flows = np.array([[[900.0], [60.0], [10.0]], [[50.0], [700.0], [80.0]], [[20.0], [25.0], [500.0]]])
    share = np.array([[[1.0], [0.3], [0.2]], [[0.25], [1.0], [0.3]], [[0.15], [0.2], [1.0]]])
    return make_calibration(tmp_path / "cal", flows, participation=share, firms=2000.0, sigma=3.0, theta=4.0,
                            shock_demand_sd=0.5, shock_cost_sd=0.3, shock_corr=-0.3)


@pytest.mark.parametrize("closure", ["pe_moving", "ge"])
def test_a_tariff_on_one_supplier_diverts_with_the_dynamic_firms(tmp_path, small_supplier, closure):
    """The issue's must-show on a small case with the dynamic firm model: +20 pp on R0 alone cuts
    R0's exports to R2 by at least 1.5x (in logs) what the same tariff on R0 and R1 does, R1 gains,
    and R2's import price index rises; at eta = sigma (one tier) in pe_moving both cuts are alike."""
    small_calibration = small_supplier
    one = _dynamic_run(tmp_path, small_calibration, "one", ETA_FIXED.format(eta=1.5) + TARIFF.format(exporter='"R0"'),
                       closure)
    every = _dynamic_run(tmp_path, small_calibration, "every",
                         ETA_FIXED.format(eta=1.5) + TARIFF.format(exporter='"ALL"'), closure)
    alone, shared = _supplier_log_change(one, "R0"), _supplier_log_change(every, "R0")
    assert np.all(alone < 1.5 * shared) and np.all(shared < 0), (alone, shared)
    assert np.all(_supplier_log_change(one, "R1") > 0.005)
    # R2's import prices rise against the no-policy path (in ge the prices table is against it, in
    # pe_moving against period 0, as pe's: compared with a run with no policy on the same draws)
    def import_prices(run):
        return run.scan("prices").filter((pl.col("region") == "R2") & (pl.col("period") == 24)).collect().sort(
            "draw")["import_price_index"].to_numpy()

    quiet = 1.0 if closure == "ge" else import_prices(_dynamic_run(tmp_path, small_calibration, "quiet",
                                                                   ETA_FIXED.format(eta=1.5), closure))
    assert np.all(import_prices(one) / quiet > 1.001)
    # the report's diversion chart: the taxed supplier loses, the other supplier and R2's own producers gain
    suppliers = ScenarioData(one, one.manifest["scenarios"][0]).suppliers()
    median = dict(zip(suppliers["supplier"], suppliers["p50"]))
    assert median["R0"] < -5 and median["R1"] > 0.5 and median["R2 (domestic)"] > 0, median
    if closure == "pe_moving":
        flat_one = _dynamic_run(tmp_path, small_calibration, "flat_one", TARIFF.format(exporter='"R0"'), closure)
        flat_every = _dynamic_run(tmp_path, small_calibration, "flat_every", TARIFF.format(exporter='"ALL"'), closure)
        ratio = _supplier_log_change(flat_one, "R0") / _supplier_log_change(flat_every, "R0")
        assert np.all((ratio > 0.9) & (ratio < 1.3)), ratio


def test_the_dynamic_nest_at_eta_equal_to_sigma_is_the_one_tier_model(tmp_path, small_calibration):
    body = TARIFF.format(exporter='"R0"')
    flat = _dynamic_run(tmp_path, small_calibration, "flat", body, "ge")
    nested = _dynamic_run(tmp_path, small_calibration, "nested", ETA_FIXED.format(eta=3.0 * (1 + 1e-9)) + body, "ge")
    key = ["draw", "period", "origin", "destination"]
    a, b = nested.flows.sort(key), flat.flows.sort(key)
    np.testing.assert_allclose(a["exports"].to_numpy(), b["exports"].to_numpy(), rtol=1e-6)
    ra, rb = (r.scan("regions").collect().sort("draw", "period", "region") for r in (nested, flat))
    np.testing.assert_allclose(ra["wage"].to_numpy(), rb["wage"].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(ra["real_income_change_pct"].to_numpy(), rb["real_income_change_pct"].to_numpy(),
                               atol=1e-6)


def test_pe_moving_changes_only_the_markets_a_policy_touches(tmp_path, small_supplier):
    """``engine.closures.moving_pe``: the no-policy path is ``pe``'s, and so is every market no policy
    touches (destinations other than R2 here); only R2's market moves, on the same draws."""
    body = ETA_FIXED.format(eta=1.5) + TARIFF.format(exporter='"R0"')
    moving = _dynamic_run(tmp_path, small_supplier, "one", body, "pe_moving")
    fixed = _dynamic_run(tmp_path, small_supplier, "one", TARIFF.format(exporter='"R0"'), "pe")
    key = ["draw", "period", "origin", "destination"]
    a, b = moving.flows.sort(key), fixed.flows.sort(key)
    for column in ("exports_no_policy", "exporters_no_policy"):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), err_msg=column)
    other = (a["destination"] != "R2").to_numpy()
    for column in ("exports", "exporters", "entries", "exits", "stock_change"):
        np.testing.assert_array_equal(a[column].to_numpy()[other], b[column].to_numpy()[other], err_msg=column)
    moved = np.abs(a["exports"].to_numpy()[~other] / b["exports"].to_numpy()[~other] - 1.0)
    assert moved.max() > 0.01


def test_a_market_whose_imports_all_stop(tmp_path, small_supplier):
    """A prohibitive tariff (1000 %) on every supplier of R2: in pe its import price index no longer
    exists (null, not inf); where the nest's level is solved, the level rises until some importers
    sell again (the nest's price sum is floored, engine.closures.nest.NEST_FLOOR), so the run completes."""
    body = '[[tariff]]\ndate = "2025-03-01"\nimporter = "R2"\nexporter = "ALL"\nrate = "1000%"\n'
    cases = [("static", "pe", ""), ("static", "pe_moving", ETA_FIXED.format(eta=1.5)),
             ("static", "ge_fixed_wage", ETA_FIXED.format(eta=1.5)), ("forward", "pe_moving", ETA_FIXED.format(eta=1.5))]
    for mode, closure, parameter in cases:
        text = (f'name = "shut"\nstart = "2025-01"\nperiods = 6\n[dynamics]\nmode = "{mode}"\n{parameter}{body}')
        run = engine.simulate([write_scenario(tmp_path, text, "shut")], closure=closure, calibration=small_supplier,
                              seed=5, draws=2, firms=500, out=tmp_path / f"{mode}_{closure}", progress=False)
        prices = run.scan("prices").filter((pl.col("region") == "R2") & (pl.col("period") == 5)).collect()
        index = prices["import_price_index"].to_numpy()
        if closure == "pe" and mode == "static":
            assert np.isnan(index).all()
        else:
            assert np.isfinite(index).all() and (index > 2.0).all(), (mode, closure, index)


def test_static_pe_moving_commitments_come_on_top(tmp_path, small_supplier):
    """As in pe, a purchase commitment in pe_moving is bought on top of consumers' spending: the
    committed cell's exports rise by the amount against the same run without it. Its market's other
    suppliers lose only through the commitment's entry margin (the sellers it brings in sell to
    consumers too, which lowers the import price index): less than half the amount here, where the
    commitment is half the cell's trade."""
    base = ETA_FIXED.format(eta=1.5) + '[[tariff]]\ndate = "2025-02-01"\nimporter = "R2"\nexporter = "ALL"\nrate = "30%"\n'
    deal = base + ('[[demand]]\ndate = "2025-03-01"\nimporter = "R2"\nexporter = "R0"\nsectors = "ALL"\n'
                   'usd_per_year = 5\n')
    runs = []
    for name, body in (("plain", base), ("deal", deal)):
        text = f'name = "{name}"\nstart = "2025-01"\nperiods = 5\n[dynamics]\nmode = "static"\n{body}'
        runs.append(engine.simulate([write_scenario(tmp_path, text, name)], closure="pe_moving",
                                    calibration=small_supplier, seed=5, draws=1, firms=2000, out=tmp_path / name,
                                    progress=False).flows.filter(pl.col("destination") == "R2").sort("period", "origin"))
    plain, deal = runs
    gap = (deal["exports"] - plain["exports"]).to_numpy().reshape(-1, 3)  # (period, origin)
    np.testing.assert_allclose(gap[3:, 0], 5.0, rtol=1e-6)
    assert (gap[3:, 1:] <= 0).all() and -gap[3:, 1:].sum(axis=1).min() < 2.5, gap
