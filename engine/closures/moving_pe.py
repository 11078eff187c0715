"""``pe_moving`` with the dynamic firm model: the partial equilibrium with moving price indices
(docs/model.md section 6.5).

The run is ``pe``'s (``engine.firms.dynamic.simulate_dynamic``) with the markets a policy touches
solved again, period by period, with their demand levels free:

1. ``pe`` on the policy path, every cell (market levels fixed), and on the draw's no-policy path in the
   cells the policy touches (cells are independent in ``pe``; the others are the policy run's).
2. The markets (destination-sector) with a touched cell: each nest's level ``a_t`` solved by Newton
   (``engine.closures.ge.Period`` with wages and spending fixed, ``engine.closures.dynamic_ge``'s firm
   side on those destinations' pairs only), against the no-policy path in the same month: spending
   and the nests' shares are that path's, so with no policy ``a = 0`` and the run is ``pe`` exactly.
   Markets clear on the firms' price terms (frictionless CES spending); the shift reaches quantities
   gradually and thresholds with its present-value weight, (6.22).
3. Every other market is ``pe``'s, unchanged.

Exchange rates move prices as in ``pe``; diversion is the policy's, measured against the no-policy
path that carries the same exchange rates. Purchase commitments are purchases on top, as in ``pe``.
Flows are the pairs that export at the solved shifts (the hard rule of the state carried forward,
so firm rows add up to them); the markets clear with the marginal pair's fraction (section 12), less
than one pair per cell from them.
"""

from dataclasses import dataclass, replace

import numpy as np

from engine.cells import (by_market, cell_results, half_exports, operating_margin, sigma_kappa, to_cells,
                          to_market_cells, trade_cells)
from engine.closures.dynamic_ge import DynamicFirms, _DynamicPeriod, end_period
from engine.closures.fixed_wage import dynamic_pe_regions
from engine.closures.ge import solve_period
from engine.closures.ge_accounts import accounts_from_cells
from engine.firms.dynamic import (cell_factors, demand_persistence, inventory_layer, purchases_of,
                                  simulate_dynamic)


@dataclass(frozen=True, eq=False)
class MovingState:
    """What the draw's other steps need of a ``pe_moving`` run: the no-policy path as the policy run
    computed it (its path, raw ``simulate_dynamic`` output and regions, which
    ``engine.closures.assemble.run_no_policy`` returns), and the policy run's thresholds at the solved
    shifts and unit exports (``engine.firms.dynamic.DynamicState``'s, for firm rows)."""

    path: object
    raw: dict
    regions: object
    thresholds: np.ndarray
    unit_exports: np.ndarray


def no_policy_of(path):
    """The no-policy path of ``path`` (``engine.scenario.uncertainty.no_policy_path``), with its
    exchange rates (the same draw of the same process) taken from ``path``."""
    model = path.beliefs.without_policy()
    return replace(model.arrays(path.branch_labels), branch_labels=path.branch_labels, beliefs=model, fx=path.fx,
                   no_policy=True)


def simulate_moving_pe(population, path, params):
    """One policy path in ``pe_moving``: (CellResults, MovingState, RegionResults)."""
    n_sectors = params.sigma.size
    labels = path.branch_labels
    raw = simulate_dynamic(population, path, params, path.beliefs, labels)
    touched = to_cells(path.beliefs.policy_cells())
    no_policy = no_policy_of(path)
    raw0 = (simulate_dynamic(population, no_policy, params, no_policy.beliefs, labels, only=touched,
                             others=raw["state"]) if touched.any() else raw)
    regions0 = dynamic_pe_regions(population, raw0, params)
    # the markets whose firms or prices the policy moves (a purchase commitment alone, added on top of
    # the firms' sales as in pe, moves neither)
    sums, sums0 = raw["state"].firm_sums, raw0["state"].firm_sums
    moved = touched & (np.any(raw["log_price_term"] != raw0["log_price_term"], axis=0)
                       | np.any(sums["sales_index"] != sums0["sales_index"], axis=0)
                       | np.any(sums["active"] != sums0["active"], axis=0))
    markets = by_market(moved.astype(float), n_sectors) > 0  # (R, K)
    if not markets.any():
        state = raw["state"]
        return (cell_results(raw, n_sectors), MovingState(no_policy, raw0, regions0, state.thresholds,
                                                          state.unit_exports), dynamic_pe_regions(population, raw, params))
    solved, price_ratio, import_ratio, thresholds, unit_exports = _solve_markets(population, path, params, raw, raw0,
                                                                                 markets)
    # every cell of a market not solved is pe's own (its values computed once, bit for bit)
    inside = to_market_cells(markets, markets.shape[0])
    cells = {name: np.where(inside, value, raw[name]) for name, value in solved.items()}
    unit_exports = np.where(inside, unit_exports, raw["state"].unit_exports)
    regions = dynamic_pe_regions(population, cells, params, reference=raw0, price_ratio=price_ratio,
                                 import_ratio=import_ratio)
    return cell_results(cells, n_sectors), MovingState(no_policy, raw0, regions0, thresholds, unit_exports), regions


def _solve_markets(population, path, params, raw, raw0, markets):
    """Cells (T, B, R) of the policy path with the markets ``markets`` (R, K) solved, each market's
    price sum and import price index against the no-policy path's (T, R, K), and the thresholds at
    the solved shifts (T, B, R, Nz, 2) and unit exports (T, B, R) of firm rows."""
    n_sectors = params.sigma.size
    n_periods = path.fx.shape[0]
    n_regions = population.offset.shape[1]
    sums, sums0 = raw["state"].firm_sums, raw0["state"].firm_sums
    thresholds = raw["state"].thresholds
    factors = cell_factors(path, population.tariff, params, n_sectors)
    tariff, tariff0 = factors["tariff"], population.tariff
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sums["sales_index"][0] > 0, population.flows * (1.0 + tariff0) / sums["sales_index"][0], 0.0)
    zero = np.zeros(scale.shape)
    # the other destinations' cells are pe's (fixed costs do not enter pe_moving's accounts)
    kept = ("active", "sales_index", "entries", "exits", "both", "both_base", "split")
    costs = {"entrants_cost": zero, "incumbents_cost": zero}
    firms = DynamicFirms(population, np.flatnonzero(markets.any(axis=1)),
                         lambda t: {**{name: sums[name][t] for name in kept}, **costs}, periods=n_periods)
    sigma, kappa = sigma_kappa(params, n_regions)
    margin0 = operating_margin(tariff0, kappa, sigma)
    keep, weight = demand_persistence(params.dynamics)
    quantity_shift = zero
    names = ("active", "sales_index", "entries", "exits", "both", "both_base", "split", "shift", "threshold_shift")
    out = {name: [] for name in names}
    price_ratio, import_ratio = [], []
    z = previous = None
    period_thresholds = np.ascontiguousarray(thresholds[0])
    for t in range(n_periods):
        # the no-policy path's price terms this month: its spending and nest shares (section 6.5)
        reference = scale * np.exp(raw0["log_price_term"][t]) * sums0["sales_index"][t]
        acc = accounts_from_cells(scale, tariff0, reference, margin0, zero, zero, n_sectors)
        period = _DynamicPeriod(firms, period_thresholds, t == 0, acc, params,
                                raw["log_price_term"][t], tariff[t], factors["margin"][t], (), [], 0,
                                fixed_spending=True, markets=markets)
        period.threshold_weight, period.threshold_offset = 1.0 - weight, weight * quantity_shift
        z, state, _evaluations, _residual = solve_period(period, z, t, previous)
        previous = period
        committed, _, period_thresholds, shift = end_period(firms, thresholds, t, period_thresholds, state)
        quantity_shift = keep * quantity_shift + (1.0 - keep) * state["shift"]
        for name in ("active", "sales_index", "entries", "exits", "both", "both_base", "split"):
            out[name].append(committed[name])
        out["shift"].append(quantity_shift)
        out["threshold_shift"].append(shift)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(markets & (acc.expenditure0 > 0), period.market_price_sum(state) / acc.expenditure0, 1.0)
        price_ratio.append(ratio)
        import_ratio.append(np.where(markets, period.import_price(state), 1.0))
    solved = {name: np.stack(value) for name, value in out.items()}
    # pe's arithmetic (engine.firms.dynamic.simulate_dynamic), so a month with no shift is pe's bit for bit
    base = sums["sales_index"][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_index = np.where(base > 0, population.flows / base, 0.0)
    value = np.exp(factors["log_value"]) * np.exp(solved["shift"])
    unit_exports = per_index * value
    exports = unit_exports * solved["sales_index"]
    intensive = per_index * (value * solved["both"] - solved["both_base"])
    halves = half_exports(unit_exports, solved["sales_index"], solved["split"], solved["sales_index"][0],
                          solved["split"][0])
    purchases = purchases_of(path, population.flows)
    stocks = inventory_layer(np.concatenate([exports[None], halves]), factors["log_price"], path, params,
                             path.beliefs, path.branch_labels, tariff0)
    cells = trade_cells(tariff, exports + purchases, solved["active"], solved["entries"], solved["exits"], intensive,
                        factors["log_price"], factors["margin"], factors["log_exchange"], halves + purchases, stocks)
    cells = dict(cells, sales_index=solved["sales_index"], active=solved["active"])
    # firm rows: each pair exports iff its entry score clears the threshold less the solved shift,
    # the comparison dynamic_period_commit makes
    shifted = thresholds - solved["threshold_shift"][..., None, None]
    return cells, np.stack(price_ratio), np.stack(import_ratio), shifted, unit_exports
