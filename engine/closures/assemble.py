"""One scenario on one draw's firms: the market closure around the firm model.

``engine.firms.static`` is the static firm model (population, calibration, policy shifts, prices);
``engine.firms.dynamic`` the dynamic one; ``engine.closures.fixed_wage`` (``pe``, ``ge_fixed_wage``) and
``engine.closures.ge`` (``ge``) close the markets. This module puts them together (``run_static``,
``run_dynamic``; ``engine.closures.registry`` says which pairs exist) and is the only one that imports
them all, so none of them imports another's caller (no import cycle).
"""

from dataclasses import replace

import numpy as np

from engine.cells import by_origin_region, cell_results, half_exports, to_cells, trade_cells
from engine.closures.dynamic_ge import GeState, KnownReference, PathOffReference, simulate_dynamic_ge
from engine.closures.fixed_wage import baseline_accounts, dynamic_pe_regions, region_results, solve_markets
from engine.closures.ge import solve_wage_equilibrium
from engine.closures.ge_accounts import wage_region_results
from engine.closures.moving_pe import MovingState, simulate_moving_pe
from engine.firms.dynamic import simulate_dynamic
from engine.firms.static import CellState, flexible_prices, policy_shift


def run_static(population, baseline, path, params, closure="pe"):
    """The static firm model in a closure: aggregates of every cell in every period of one policy path.

    Parameters
    ----------
    population : Population
    baseline : Baseline
    path : engine.scenario.policy.PolicyPath
    params : DrawParameters
    closure : {"pe", "ge", "ge_fixed_wage", "pe_moving"}
        Partial equilibrium (market demand levels fixed), general equilibrium with wages, profits
        and deficits (``engine.closures.ge``) or with wages fixed by an outside good
        (``engine.closures.fixed_wage``), or partial equilibrium with moving price indices (wages
        and spending fixed, section 6.5); docs/model.md.

    Returns
    -------
    CellResults, CellState, engine.closures.fixed_wage.RegionResults
    """
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
                               closure != "pe", commitments, fixed_spending=closure == "pe_moving")
    active, sales_index, threshold = solved.active, solved.sales_index, solved.threshold
    unit_scale = baseline.scale * np.exp(log_demand_change + solved.market_cells) / (1.0 + tariff)
    exports = unit_scale * sales_index
    # margins (docs/model.md section 5): sellers are always the top of the ranking, so the firms selling
    # both now and at the baseline are those above the higher of the two thresholds
    both = population.evaluate(np.maximum(threshold, threshold[:1]))[1]
    intensive = (unit_scale - unit_scale[:1]) * both
    previous = np.concatenate([active[:1], active[:-1]])
    log_price, margin, log_fx_cell = flexible_prices(baseline, path, params, n_sectors)
    if closure == "ge":  # unit costs, and with them prices, move with the origin's wage
        log_wage = np.log(solved.wage / solved.wage[:1])  # (T, R)
        log_price = log_price + by_origin_region(log_wage, n_sectors)
    # the firm sample's two half-populations at the solved thresholds and prices (docs/model.md section 8.2)
    halves = half_exports(unit_scale, sales_index, population.split(threshold), baseline.sales_index,
                          population.split(baseline.threshold[None])[0])
    cells = trade_cells(tariff, exports, active, np.maximum(active - previous, 0),
                        np.maximum(previous - active, 0), intensive, log_price, margin, log_fx_cell, halves)
    regions = (wage_region_results(accounts, solved, cells, params) if closure == "ge"
               else region_results(accounts, solved, cells, params, n_sectors, closure == "pe_moving"))
    return cell_results(cells, n_sectors), CellState(threshold=threshold, unit_exports=unit_scale), regions


def run_dynamic(population, baseline, path, params, closure):
    """``run_static`` for the dynamic model (``baseline`` is None: it calibrates itself), closures ``pe``,
    ``ge`` and ``pe_moving`` (``engine.closures.dynamic_ge``): (CellResults, state, RegionResults).

    ``state`` is the ``engine.firms.dynamic.DynamicState`` in ``pe`` (firm-level rows are built
    from it), in ``ge`` an ``engine.closures.dynamic_ge.GeState`` (the firm side of the draw's no-policy
    path, and what firm rows need), in ``pe_moving`` a ``engine.closures.moving_pe.MovingState`` (that
    path, and what firm rows need).
    """

    n_sectors = params.sigma.size
    if closure == "ge":
        cells, regions, solved = simulate_dynamic_ge(population, path, params)
        state = GeState(KnownReference(population, solved["references"]), solved["pe_thresholds"],
                        solved["threshold_shift"], solved["unit_exports"])
        return cell_results(cells, n_sectors), state, regions
    if closure == "pe_moving":
        cells, no_policy, regions = simulate_moving_pe(population, path, params)
        return cells, no_policy, regions
    if closure != "pe":
        raise ValueError(f"the dynamic model runs in pe, ge and pe_moving, not {closure!r} "
                         "(engine.closures.registry)")
    cells = simulate_dynamic(population, path, params, path.beliefs, path.branch_labels)
    return cell_results(cells, n_sectors), cells["state"], dynamic_pe_regions(population, cells, params)


def run_no_policy(firm_model, population, baseline, path, params, closure, touched, state):
    """The draw's no-policy path (docs/model.md section 8.1) on the same firms: (CellResults,
    RegionResults).

    ``path`` is ``engine.scenario.uncertainty.no_policy_path``. In ``pe`` the dynamic model's firm loop
    runs only in the cells a policy touches (``touched``, (B, R)); the others are those of the policy
    run (``state``, its ``DynamicState``): in partial equilibrium cells are independent, so theirs are
    the same. The static model (a binary search per cell and period) and ``ge_fixed_wage`` (every
    market moves) run in full; the dynamic model's ``ge`` takes the firm side from the policy run's
    reference state (``state.reference``, a ``KnownReference``), and solves in full only if the path leaves it;
    ``pe_moving`` computed the path in its policy run (``state``, a ``MovingState``): its no-policy path
    is ``pe``'s.
    """
    n_sectors = params.sigma.size
    if firm_model == "static":
        cells, _, regions = run_static(population, baseline, path, params, closure)
        return cells, regions
    if closure == "pe":
        raw = simulate_dynamic(population, path, params, path.beliefs, path.branch_labels, only=touched,
                               others=state)
        return cell_results(raw, n_sectors), dynamic_pe_regions(population, raw, params)
    if isinstance(state, MovingState):  # pe_moving: the policy run solved against this very path
        if _same_path(state.path, path):
            return cell_results(state.raw, n_sectors), state.regions
        return run_no_policy(firm_model, population, baseline, path, params, "pe", touched, state.raw["state"])
    if isinstance(state, GeState):
        try:
            cells, regions, _solved = simulate_dynamic_ge(population, path, params, firms=state.reference)
            return cell_results(cells, n_sectors), regions
        except PathOffReference:
            pass
    cells, _, regions = run_dynamic(population, None, path, params, closure)
    return cells, regions


def _same_path(a, b):
    """Whether two policy paths have the same inputs (``pe_moving``'s no-policy path against the plan's)."""
    return a.branch_labels == b.branch_labels and all(
        np.array_equal(getattr(a, name), getattr(b, name)) for name in ("tariff", "iceberg", "demand", "fx"))
