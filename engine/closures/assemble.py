"""One scenario on one draw's firms: the market closure around the firm model.

``engine.firms.static`` is the static firm model (population, calibration, policy shifts, prices);
``engine.firms.dynamic`` the dynamic one; ``engine.closures.fixed_wage`` (``pe``, ``ge_fixed_wage``) and
``engine.closures.ge`` (``ge``) close the markets. This module puts them together and is the only
one that imports them all, so none of them imports another's caller (no import cycle).
"""

from dataclasses import replace

import numpy as np

from engine.closures.dynamic_ge import simulate_dynamic_ge
from engine.firms.dynamic import simulate_dynamic
from engine.closures.fixed_wage import (
    Markets,
    _expenditure,
    _price_sum,
    _tariff_revenue_by_destination,
    baseline_accounts,
    region_results,
    solve_markets,
)
from engine.errors import InputError
from engine.firms.static import (
    Baseline,
    CellResults,
    CellState,
    flexible_prices,
    from_cells,
    policy_shift,
    price_volume,
    to_cells,
)
from engine.closures.ge import solve_wage_equilibrium, wage_region_results


def simulate_scenario(population, baseline, path, params, closure="pe"):
    """Aggregates of every cell in every period of one policy path.

    Parameters
    ----------
    population : Population
    baseline : Baseline
    path : engine.scenario.policy.PolicyPath
    params : DrawParameters
    closure : {"pe", "ge", "ge_fixed_wage"}
        Partial equilibrium (market demand levels fixed), general equilibrium with wages, profits
        and deficits (``engine.closures.ge``) or with wages fixed by an outside good
        (``engine.closures.fixed_wage``); docs/model.md.

    Returns
    -------
    CellResults, CellState, engine.closures.fixed_wage.RegionResults
    """
    if params.dynamics is not None and params.dynamics.mode != "static":
        return simulate_dynamic_scenario(population, path, params, closure)
    n_sectors = params.sigma.size
    if closure == "ge":  # flexible wages absorb exchange rates: the path is solved FX-neutral (docs/model.md)
        path = replace(path, fx=np.ones_like(path.fx))
    log_demand_change, tariff, static = policy_shift(baseline, path, params, n_sectors)
    commitments = [(*np.nonzero(to_cells(mask)), amounts, where) for mask, amounts, where in path.commitments]
    if closure == "ge":
        solved, accounts = solve_wage_equilibrium(population, baseline, log_demand_change, static, tariff, params,
                                                  commitments)
    else:
        accounts = baseline_accounts(baseline, n_sectors)
        solved = solve_markets(population, baseline, accounts, log_demand_change, static, tariff, params,
                               closure == "ge_fixed_wage", commitments)
    active, sales_index, threshold = solved.active, solved.sales_index, solved.threshold
    weight = baseline.weight[:, None]
    unit_scale = baseline.scale * np.exp(log_demand_change + solved.market_cells) / (1.0 + tariff)
    exports = unit_scale * sales_index
    # margins (MODEL.md section 5): sellers are always the top of the ranking, so the firms selling
    # both now and at the baseline are those above the higher of the two thresholds
    both = population.evaluate(np.maximum(threshold, threshold[:1]))[1]
    intensive = (unit_scale - unit_scale[:1]) * both
    previous = np.concatenate([active[:1], active[:-1]])
    log_price, margin, log_exchange = flexible_prices(baseline, path, params, n_sectors)
    if closure == "ge":  # unit costs, and with them prices, move with the origin's wage
        log_wage = np.log(solved.wage / solved.wage[:1])  # (T, R)
        log_price = log_price + np.repeat(log_wage, n_sectors, axis=1)[:, :, None]
    cells = dict(
        tariff=tariff,
        exports=exports,
        sales=exports * (1.0 + tariff),
        tariff_revenue=exports * tariff,
        exporters=weight * active,
        entries=weight * np.maximum(active - previous, 0),
        exits=weight * np.maximum(previous - active, 0),
        exports_intensive=intensive,
        exports_extensive=exports - exports[:1] - intensive,
        **price_volume(exports, log_price, margin, log_exchange),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_exports = unit_scale / weight
    regions = (wage_region_results(accounts, solved, cells, params) if closure == "ge"
               else region_results(accounts, solved, cells, params, n_sectors))
    return (CellResults(**{k: from_cells(v, n_sectors) for k, v in cells.items()}),
            CellState(threshold=threshold, unit_exports=unit_exports), regions)


def simulate_dynamic_scenario(population, path, params, closure="pe"):
    """``simulate_scenario`` for the dynamic model: (CellResults, state, RegionResults).

    ``state`` is the ``engine.firms.dynamic.DynamicState`` in ``pe`` (firm-level rows are built
    from it) and None in ``ge``.

    ``closure`` ``pe`` or ``ge`` (``engine.closures.dynamic_ge``); ``ge_fixed_wage`` is refused.
    """

    n_sectors = params.sigma.size
    if closure == "ge":
        cells, regions, _solved = simulate_dynamic_ge(population, path, params)
        return CellResults(**{k: from_cells(v, n_sectors) for k, v in cells.items()}), None, regions
    if closure != "pe":
        raise InputError("--closure", f"closure {closure!r} is not available with the dynamic model (dynamics.mode = "
                                      f"{params.dynamics.mode!r}) in this version; use --closure ge or pe, or "
                                      "dynamics.mode = 'static'")
    cells = simulate_dynamic(population, path, params, path.beliefs, path.branch_labels)
    sales_index0 = cells["sales_index"][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sales_index0 > 0, population.flows * (1.0 + population.tariff) / sales_index0, 0.0)
    baseline = Baseline(threshold=population.offset, active=cells["active"][0], sales_index=sales_index0,
                        weight=population.weight, scale=scale, tariff=population.tariff)
    accounts = baseline_accounts(baseline, n_sectors)
    n_periods = path.fx.shape[0]
    revenue = _tariff_revenue_by_destination(cells["tariff"], cells["exports"], n_sectors)
    markets = Markets(threshold=None, active=cells["active"], sales_index=cells["sales_index"],
                      market=np.zeros((n_periods, *accounts.beta.shape)), market_cells=None,
                      price_sum=_price_sum(accounts, cells["log_price_term"], cells["sales_index"], n_sectors),
                      expenditure=_expenditure(accounts, revenue), tariff_revenue=revenue,
                      iterations=np.zeros(n_periods, dtype=np.int64), residual=np.zeros(n_periods))
    fields = {name: from_cells(cells[name], n_sectors) for name in CellResults.__dataclass_fields__}
    regions = region_results(accounts, markets, cells, params, n_sectors)
    return CellResults(**fields), cells["state"], regions
