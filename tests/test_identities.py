"""Accounting identities hold in every closure and firm model, on random small cases (docs/model.md
section 5): per cell and period, ``exporters(t) - exporters(t - 1) = entries(t) - exits(t)`` with
entries and exits gross flows (non-negative, zero in period 0), and the flows add up to the regions
and prices tables (tariff revenue, import and domestic shares, and in the general equilibria
consumer spending plus government purchases = the sales into the region).

A case is one draw of one random scenario on a random calibration: three regions, two sectors,
random flows, baseline tariffs and participation; random tariff events (bilateral and universal,
some announced in advance), a trade-cost change, a purchase commitment, an exchange-rate move, an
exchange-rate process, a branch point with a tariff option, and uncertain ``sigma``, ``theta`` and
``lambda``, so every draw samples its own parameters, exchange-rate path, branch path and firms.
``CASES`` (50) cases per closure: ``CALIBRATIONS`` engine runs of ``SCENARIOS`` scenarios (the firm
models the closure allows, in turn) of ``DRAWS`` draws each. Each identity is checked to a relative
``RTOL`` of its largest term; the test reports the number of violations and requires 0.
"""

import numpy as np
import polars as pl
import pytest
from conftest import make_calibration, write_scenario

import engine
from engine.closures.registry import FIRM_MODELS, REGISTRY

N_REGIONS, N_SECTORS, PERIODS = 3, 2, 5
CALIBRATIONS, SCENARIOS, DRAWS = 2, 5, 5
CASES = CALIBRATIONS * SCENARIOS * DRAWS
RTOL = 1e-9
#: Sort keys of each table (region and sector codes sort in index order: R0 < R1 < R2, S0 < S1).
KEYS = {"flows": ("draw", "period", "origin", "destination", "sector"), "regions": ("draw", "period", "region"),
        "prices": ("draw", "period", "region", "sector")}


def firm_models(closure):
    """The ``[dynamics] mode``s that run in ``closure`` (``engine.closures.registry``)."""
    return [mode for mode, model in FIRM_MODELS.items() if (model, closure) in REGISTRY]


def random_calibration(folder, rng):
    home = np.arange(N_REGIONS)
    flows = rng.lognormal(3.0, 1.0, (N_REGIONS, N_REGIONS, N_SECTORS))
    flows[home, home, :] = rng.lognormal(6.5, 0.5, (N_REGIONS, N_SECTORS))
    tariffs = rng.uniform(0.0, 0.1, flows.shape)
    tariffs[home, home, :] = 0.0
    share = rng.uniform(0.1, 0.4, flows.shape)
    share[home, home, :] = 1.0
    calibration = make_calibration(folder / "cal", flows, tariffs=tariffs, participation=share, firms=3000.0,
                                   sigma=float(rng.uniform(2.5, 4.5)), theta=5.0, shock_demand_sd=0.4,
                                   shock_cost_sd=0.2, shock_corr=-0.2)
    return calibration, flows


def random_scenario(rng, name, mode, flows):
    """A scenario with random events (module docstring); dates within the ``PERIODS`` months of 2025."""
    def month(low=2):
        return f"2025-{int(rng.integers(low, PERIODS)):02d}-01"

    def pair():
        importer, exporter = rng.choice(N_REGIONS, 2, replace=False)
        return f'importer = "R{importer}"\nexporter = "R{exporter}"\n'

    text = (f'name = "{name}"\nstart = "2025-01"\nperiods = {PERIODS}\nsunk_cost_ratio = {rng.uniform(0.2, 1.0):.3f}\n'
            f'[dynamics]\nmode = "{mode}"\n')
    for _ in range(int(rng.integers(1, 4))):
        announced = 'announced = "2025-02-01"\n' if rng.random() < 0.5 else ""
        text += f'[[tariff]]\ndate = "{month(3)}"\n{announced}{pair()}rate = {rng.uniform(0.05, 0.5):.3f}\n'
    text += f'[[tariff]]\ndate = "{month()}"\nimporter = "R{rng.integers(N_REGIONS)}"\nexporter = "ALL"\nrate = 0.1\n'
    text += f'[[trade_cost]]\ndate = "{month()}"\n{pair()}change = {rng.uniform(-0.2, 0.3):.3f}\n'
    buyer, seller = rng.choice(N_REGIONS, 2, replace=False)
    amount = flows[seller, buyer, 0] * rng.uniform(0.05, 0.3)
    text += (f'[[demand]]\ndate = "{month()}"\nimporter = "R{buyer}"\nexporter = "R{seller}"\nsectors = ["S0"]\n'
             f'usd_per_year = {amount:.4f}\n')
    text += (f'[[fx]]\ndate = "{month()}"\ncurrency = "R{rng.integers(N_REGIONS)}"\n'
             f'change = {rng.uniform(-0.1, 0.1):.3f}\n')
    text += f'[[fx_process]]\ncurrency = "R{rng.integers(N_REGIONS)}"\nmean_reversion = 0.05\nvolatility = 0.03\n'
    for parameter, low, high in (("sigma", 2.5, 4.5), ("theta", 4.0, 6.0), ("sunk_cost_ratio", 0.2, 1.0)):
        text += f'[[parameter]]\nname = "{parameter}"\ndist = "uniform"\nlow = {low}\nhigh = {high}\n'
    text += (f'[[branch]]\nname = "deadline"\ndate = "{month(3)}"\nannounced = "2025-02-01"\n'
             '[[branch.option]]\nname = "deal"\nprobability = 0.5\n'
             '[[branch.option]]\nname = "raise"\nprobability = 0.5\n'
             f'[[branch.option.tariff]]\ndate = "2025-{PERIODS:02d}-01"\n{pair()}rate = {rng.uniform(0.1, 0.6):.3f}\n')
    return text


def run_cases(tmp_path, rng, closure):
    """``CALIBRATIONS`` runs of ``SCENARIOS`` random scenarios x ``DRAWS`` draws: (flows, regions, prices)."""
    modes = firm_models(closure)
    frames = []
    for c in range(CALIBRATIONS):
        folder = tmp_path / f"case{c}"
        calibration, flows = random_calibration(folder, rng)
        scenarios = [write_scenario(folder, random_scenario(rng, f"s{s}", modes[(c * SCENARIOS + s) % len(modes)],
                                                            flows), f"s{s}") for s in range(SCENARIOS)]
        run = engine.simulate(scenarios, draws=DRAWS, firms=int(rng.integers(200, 400)),
                              seed=int(rng.integers(2**31)), calibration=calibration, closure=closure,
                              out=folder / "run", progress=False)
        frames.append([run.scan(t).with_columns(pl.lit(c).alias("case")).collect() for t in KEYS])
    return [pl.concat(f).sort("case", "scenario", *keys) for f, keys in zip(zip(*frames), KEYS.values())]


def violations(left, right, scale=None):
    """Entries where ``left`` and ``right`` differ by more than ``RTOL`` times the largest term."""
    scale = np.maximum(np.abs(left), np.abs(right)) if scale is None else scale
    return int((np.abs(left - right) > RTOL * np.maximum(scale, 1e-300)).sum())


def identity_violations(flows, regions, prices, closure):
    """Violations of each identity over every case, cell, region and period."""
    n_runs = flows.select("case", "scenario", "draw").unique().height
    shape = (n_runs, PERIODS, N_REGIONS, N_REGIONS, N_SECTORS)  # (case, period, origin, destination, sector)
    f = {c: flows[c].to_numpy().reshape(shape) for c in ("exporters", "entries", "exits", "exports", "sales",
                                                         "tariff", "tariff_revenue", "tariff_revenue_no_policy",
                                                         "exports_intensive", "exports_extensive", "final_sales",
                                                         "stock_change")}
    r = {c: regions[c].to_numpy().reshape(shape[:3]) for c in ("tariff_revenue", "tariff_revenue_no_policy",
                                                               "import_share", "domestic_share", "expenditure",
                                                               "purchases")}
    p = {c: prices[c].to_numpy().reshape(n_runs, PERIODS, N_REGIONS, N_SECTORS)
         for c in ("expenditure", "domestic_share")}
    change = np.diff(f["exporters"], axis=1)
    entries, exits = f["entries"][:, 1:], f["exits"][:, 1:]
    into = f["sales"].sum(axis=(2, 4))  # (case, period, destination)
    home = np.arange(N_REGIONS)
    domestic = f["sales"][:, :, home, home, :]  # (case, period, region, sector)
    found = {
        "exporters(t) - exporters(t-1) = entries(t) - exits(t)": violations(
            change, entries - exits, np.maximum.reduce([np.abs(change), entries, exits, f["exporters"][:, 1:],
                                                        f["exporters"][:, :-1]])),
        "entries, exits >= 0 and 0 in period 0": int((f["entries"] < 0).sum() + (f["exits"] < 0).sum()
                                                     + (f["entries"][:, 0] != 0).sum() + (f["exits"][:, 0] != 0).sum()),
        "sales = final_sales (1 + tariff)": violations(f["sales"], f["final_sales"] * (1.0 + f["tariff"])),
        "tariff_revenue = exports tariff": violations(f["tariff_revenue"], f["exports"] * f["tariff"]),
        "exports = final_sales + stock_change": violations(f["exports"], f["final_sales"] + f["stock_change"],
                                                           np.maximum(f["exports"], f["final_sales"])),
        "no stock change in domestic cells or period 0": int(
            (f["stock_change"][:, :, home, home, :] != 0).sum() + (f["stock_change"][:, 0] != 0).sum()),
        "intensive + extensive + stock_change = exports - exports(0)": violations(
            f["exports_intensive"] + f["exports_extensive"] + f["stock_change"], f["exports"] - f["exports"][:, :1],
            np.maximum(f["exports"], f["exports"][:, :1])),
        # regional accounts collect the tariff at the border, but in ge they are those of final sales
        # (the equilibrium's; docs/model.md section 11.9)
        "regions tariff_revenue = sum of flows into the region": violations(
            r["tariff_revenue"], (f["final_sales"] * f["tariff"] if closure == "ge"
                                  else f["tariff_revenue"]).sum(axis=(2, 4))),
        "regions domestic_share = domestic sales / sales into the region": violations(
            r["domestic_share"], domestic.sum(axis=-1) / into, np.ones(into.shape)),
        "regions import_share = 1 - domestic_share": violations(
            r["import_share"], 1.0 - domestic.sum(axis=-1) / into, np.ones(into.shape)),
        "prices domestic_share = domestic sales / sales in the market": violations(
            p["domestic_share"], domestic / f["sales"].sum(axis=2), np.ones(domestic.shape)),
        "regions expenditure = sum of prices expenditure": violations(r["expenditure"], p["expenditure"].sum(axis=-1)),
    }
    if closure != "ge":
        found["regions tariff_revenue_no_policy = sum of flows"] = violations(
            r["tariff_revenue_no_policy"], f["tariff_revenue_no_policy"].sum(axis=(2, 4)))
    if closure not in ("pe", "pe_moving"):
        # market demand clears (pe holds demand levels fixed, pe_moving clears the dynamic firms' price
        # terms while quantities catch up: sales need not match spending)
        found["expenditure + purchases = sales into the region"] = violations(r["expenditure"] + r["purchases"], into)
        found["prices expenditure = sales in the market (sector S1: no purchases)"] = violations(
            p["expenditure"][..., 1:], f["sales"].sum(axis=2)[..., 1:])
    return found, n_runs


@pytest.mark.parametrize("closure", ["pe", "ge", "ge_fixed_wage", "pe_moving"])
def test_accounting_identities_hold_on_50_random_cases(tmp_path, rng, closure):
    flows, regions, prices = run_cases(tmp_path, rng, closure)
    found, cases = identity_violations(flows, regions, prices, closure)
    print(f"{closure}: {cases} cases, violations {found}")
    assert cases == CASES
    assert set(flows["scenario"].unique()) == {f"s{s}" for s in range(SCENARIOS)}
    assert flows["exports"].sum() > 0 and (flows["entries"].sum() > 0 or flows["exits"].sum() > 0)
    assert sum(found.values()) == 0, {k: v for k, v in found.items() if v}
