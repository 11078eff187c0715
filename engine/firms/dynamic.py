"""One draw of the dynamic model (``engine.firms.bellman``): calibration and a scenario's aggregates.

Calibration (period 0 reproduces the data exactly, in every draw): each pair's baseline state is
drawn from the invariant distribution of the discretised chain under the baseline policy (its
``z`` from the binomial invariant distribution, its last status from the invariant conditional
probability ``P(x = 1 | z, y)``). A pair then exports in period 0 iff the cell offset ``c`` is at
least a pair-specific cost (``kernels.dynamic.baseline_entry_cost``), so an offset between two
order statistics of those costs leaves exactly ``round(share * M)`` exporters. Exports are then
scaled to the data as in the static model. The Bellman problem is homogeneous of degree one in
(B, F): scaling both leaves the thresholds where they are, so only the offset ``c = log(B m / F)``
is calibrated.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from engine import devices
from engine.cells import (by_origin_region, half_exports, log_exchange, operating_margin, sigma_kappa, to_cells,
                          trade_cells)
from engine.errors import InputError
from engine.firms.bellman import (
    Chain,
    backward_thresholds,
    rouwenhorst,
    solve_stationary,
    y_grid_for,
)
from engine.firms.inventories import expected_cost_drive, importer_stocks
from engine.firms.static import kernel_parameters
from engine.scenario.beliefs import belief_epochs
from engine.scenario.defaults import SALES_DISPERSION, productivity_sd_for
from kernels import block_keys, derive_key
from engine.firms.sampling import block_strata
from kernels.dynamic import cell_rotations, weighted_cuts

#: Labels deriving the ``z`` and status streams from a block's productivity and shock keys.
Z_STREAM = np.uint64(0x7A5F_0001)
STATUS_STREAM = np.uint64(0x57A7_0002)


@dataclass(frozen=True, eq=False)
class DynamicPopulation:
    """The calibrated firms of one draw in the dynamic model (arrays per block (B,) unless stated)."""

    draw: int
    n_firms: int
    settings: object
    sunk_cost_ratio: float
    chain: Chain
    z_score: np.ndarray  # (B, Nz)
    stationary: list  # per sector: engine.firms.bellman.Stationary
    y_grid: np.ndarray
    status_prob: np.ndarray  # (B, Nz, Ny)
    thresholds: np.ndarray  # (B, Nz, 2) stationary thresholds in y
    offset: np.ndarray  # (B, R)
    keys: tuple  # productivity, shock, z, status keys (B,) each
    kernel_params: tuple  # (sigma-1)/theta, s_a, s_e, rho per block
    strata: np.ndarray  # (B, 3, M) strata low edges, widths and weights (engine.firms.sampling)
    flows: np.ndarray  # (B, R) baseline exports (data)
    tariff: np.ndarray  # (B, R) baseline tariff
    device: str = "cpu"  # where the firm loops run (engine.devices): "cpu" or "cuda"
    # the pairs' scores over all destinations, as dynamic_pair_scores gives them (CPU, kept for ge)
    scores: tuple | None = None


@dataclass(frozen=True, eq=False)
class DynamicState:
    """What firm-level rows of a dynamic PE draw need (``engine.firms.rows.dynamic_rows``).

    thresholds : ndarray (T, B, R, Nz, 2)
        The entry-score thresholds the firm loop used.
    unit_exports : ndarray (T, B, R)
        Customs value of a simulated pair with sales score ``v + z_score = 0`` when it exports: it
        sells ``unit_exports * exp(v + z_score[j])`` (all the real firms it stands for together).
    """

    thresholds: np.ndarray
    unit_exports: np.ndarray
    firm_sums: dict | None = None  # the firm loop's sums, for the no-policy path's untouched cells


def prepare(population, calibration, params, device="cpu", keep_scores=False):
    """Solve the stationary problem and calibrate the cell offsets of one draw.

    ``population`` is an ``engine.firms.static.Population`` (its per-block keys are reused). ``device``
    ("cpu" or "cuda", resolved) runs the firm loops (``engine.devices``); the dynamic programme and
    the order statistics stay on the CPU. ``keep_scores`` (CPU): draw the pairs' scores once into
    arrays that ``engine.closures.dynamic_ge.DynamicFirms`` reuses (28 bytes per pair) and compute the
    baseline costs from them.
    """
    settings = params.dynamics
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    lam = params.sunk_cost_ratio
    s_z = productivity_sd_for(settings, params.sigma)
    grid, transition, invariant = rouwenhorst(settings.grid_points, settings.persistence, s_z)
    chain = Chain(grid, transition, invariant)
    discount = 0.0 if settings.mode == "myopic" else settings.discount
    z_scores = [(s - 1.0) * grid for s in params.sigma]
    y_grid = y_grid_for(np.concatenate(z_scores), lam)
    solved = {}  # sectors with the same sigma share one stationary solution
    for s, z in zip(params.sigma, z_scores):
        if float(s) not in solved:
            try:
                solved[float(s)] = solve_stationary(z, chain, discount, lam, y_grid, settings.relationship_loss)
            except RuntimeError:
                raise InputError("[dynamics]", f"the firms' stationary export problem has no solution the policy "
                                               f"iteration finds at productivity_sd = {s_z:g} "
                                               f"with sigma = {s:g} (sales dispersion (sigma - 1) s_z = "
                                               f"{(s - 1.0) * s_z:.3g}); use a smaller "
                                               "productivity_sd (the default is the identified sales dispersion "
                                               f"{SALES_DISPERSION:.4g} over sigma - 1)",
                                 "productivity_sd") from None
    stationary = [solved[float(s)] for s in params.sigma]
    z_score = np.ascontiguousarray(np.stack([z_scores[b % n_sectors] for b in range(n_regions * n_sectors)]))
    status_prob = np.ascontiguousarray(np.stack([stationary[b % n_sectors].status_prob
                                                 for b in range(n_regions * n_sectors)]))
    thresholds = np.ascontiguousarray(np.stack([stationary[b % n_sectors].thresholds
                                                for b in range(n_regions * n_sectors)]))
    z_keys = np.array([derive_key(k, Z_STREAM) for k in population.productivity_keys], dtype=np.uint64)
    status_keys = np.array([derive_key(k, STATUS_STREAM) for k in population.shock_keys], dtype=np.uint64)
    keys = (population.productivity_keys, population.shock_keys, z_keys, status_keys)
    kernel_params = kernel_parameters(params, n_regions)
    m = population.n_firms
    strata = np.ascontiguousarray(np.stack(block_strata(calibration.firms.reshape(-1), m, kernel_params[1]), axis=1))
    costs = np.empty((n_regions * n_sectors, n_regions, m))
    initial = np.empty((n_regions * n_sectors, m), dtype=np.int64)
    grid = (chain.cum_invariant, y_grid[0], y_grid[1] - y_grid[0], status_prob, thresholds, costs, initial)
    scores = None
    if keep_scores and device == "cpu":
        shape = (n_regions * n_sectors, n_regions, m)
        scores = tuple(np.empty(shape, dtype) for dtype in (np.float64, np.float64, np.float32, np.float64))
        devices.kernel("dynamic_pair_scores", device)(population.productivity_keys, population.shock_keys,
                                                      *kernel_params, m, strata, *scores,
                                                      np.arange(n_regions, dtype=np.int64), n_regions)
        devices.kernel("dynamic_baseline_costs_of", device)(scores[1], z_keys, status_keys, *grid)
    else:
        devices.dynamic_baseline_costs(device)(*keys, *kernel_params, m, strata, *grid)
    flows = to_cells(calibration.flows)
    rotation = cell_rotations(population.shock_keys, n_regions, m)
    target = to_cells(calibration.participation) * calibration.firms.reshape(-1)[:, None]
    offset = np.where(flows > 0, weighted_offsets(costs, np.ascontiguousarray(strata[:, 2]), rotation, target),
                      -np.inf)
    return DynamicPopulation(draw=population.draw, n_firms=m, settings=settings, sunk_cost_ratio=lam, chain=chain,
                             z_score=z_score, stationary=stationary, y_grid=y_grid, status_prob=status_prob,
                             thresholds=thresholds, offset=offset, keys=keys, kernel_params=kernel_params,
                             strata=strata, flows=flows,
                             tariff=to_cells(calibration.tariffs), device=device, scores=scores)


def weighted_offsets(costs, strata_weight, rotation, target):
    """Per cell, the offset at which the real pairs exporting in period 0 (those whose cost is at or
    below it) come nearest ``target`` (at least one pair): halfway between the last such cost and
    the next (one gap above the largest when every pair exports), so that no pair sits on the edge,
    where the last bit of a floating-point sum would decide.

    Parameters
    ----------
    costs : ndarray (B, R, M)
        Each pair's ``baseline_entry_cost``.
    strata_weight, rotation : ndarray (B, M), ndarray of int64 (B, R)
        The real pairs of each stratum and each cell's strata rotation (``kernels.dynamic.weighted_cuts``).
    target : ndarray (B, R)
        Real exporters wanted (share times real firms).
    """
    low, above, below = (np.empty(target.shape) for _ in range(3))
    weighted_cuts(costs, strata_weight, rotation, np.ascontiguousarray(target, dtype=np.float64), low, above, below)
    gap = np.where(np.isfinite(above), above - low, low - below)
    gap = np.where(np.isfinite(gap) & (gap > 0), gap, 1.0)
    return low + 0.5 * gap


def cell_factors(path, baseline_tariff, params, n_sectors, calendar_fx=None):
    """Prices, quantities, margins and the profit multiplier of every cell and period, (T, B, R).

    Returns a dict: ``log_price`` (customs unit value vs baseline), ``log_value`` (per-firm customs
    value factor, before ``z``), ``margin`` and ``margin0``, ``multiplier`` (``M``: operating profit
    in the origin's currency vs baseline, per firm), ``log_consumer_price`` and ``tariff``.
    """
    settings = params.dynamics
    n_regions = path.fx.shape[1]
    sigma, kappa = sigma_kappa(params, n_regions)
    tariff = to_cells(path.tariff)
    log_t = np.log1p(tariff) - np.log1p(baseline_tariff)
    log_fx = np.log(path.fx if calendar_fx is None else calendar_fx)  # (T, R)
    log_fx_origin = by_origin_region(log_fx, n_sectors)  # (T, B, 1)
    log_tau = np.log(to_cells(path.iceberg))
    # Calvo-averaged dollar value of the origin's currency in dollar-invoiced prices
    sticky = np.empty_like(log_fx)
    level = np.zeros(n_regions)
    for t in range(log_fx.shape[0]):
        level = (1.0 - settings.price_reset) * level + settings.price_reset * log_fx[t]
        sticky[t] = level
    sticky_origin = by_origin_region(sticky, n_sectors)
    iota = settings.dollar_invoicing
    log_e = log_exchange(log_fx, n_sectors)
    log_price = log_tau + (kappa - 1.0) * log_t + log_e - iota * (log_fx_origin - sticky_origin)
    log_cost = log_tau + log_e
    margin0 = operating_margin(baseline_tariff, kappa, sigma)
    margin = 1.0 - (1.0 - margin0) * np.exp(log_cost - log_price)
    log_consumer_price = log_price + log_t
    desired = np.log(to_cells(path.demand)) - sigma * log_consumer_price
    log_value = log_price + gradual(desired, settings)
    with np.errstate(divide="ignore", invalid="ignore"):
        multiplier = np.exp(log_value - log_e) * margin / margin0
    return {"log_price": log_price, "log_value": log_value, "margin": margin, "margin0": margin0,
            "multiplier": np.where(np.isfinite(multiplier), multiplier, 0.0), "tariff": tariff,
            "log_consumer_price": log_consumer_price, "log_exchange": log_e}


def demand_persistence(settings):
    """``d`` of (11.7) (0: quantities move at once) and the present-value weight ``omega`` that a
    firm expecting a demand level to persist puts on the part of it quantities have not reached:
    the discounted mean of ``d^(k+1)`` over future months ``k``, ``d (1 - delta) / (1 - delta d)``
    (``delta`` the monthly discount with exporter survival; 0 when myopic, so ``omega = d``)."""
    keep = 0.0 if settings.half_life == 0.0 or settings.mode == "static" else 2.0 ** (-1.0 / settings.half_life)
    delta = settings.discount if settings.mode == "forward" else 0.0
    return keep, keep * (1.0 - delta) / (1.0 - delta * keep)


def gradual(desired, settings):
    """Log quantities (T, ...) that move toward ``desired`` with the half-life of customer capital,
    (11.7); ``desired`` itself without it (static model, or ``half_life = 0``)."""
    keep = demand_persistence(settings)[0]
    quantity = np.empty_like(desired)
    previous = np.zeros(desired.shape[1:])
    for t in range(desired.shape[0]):
        previous = keep * previous + (1.0 - keep) * desired[t]
        quantity[t] = previous
    return quantity


def entry_thresholds(population, path, params, model, labels, factors):
    """Entry-score thresholds (T, B, R, Nz, 2) of one draw's path, with the scenario's beliefs."""
    n_sectors = params.sigma.size
    n_periods = path.fx.shape[0]
    n_blocks, n_dest = population.offset.shape
    n_z = population.z_score.shape[1]
    stationary_y = population.thresholds[:, None, :, :]  # (B, 1, Nz, 2)
    policy_y = np.broadcast_to(stationary_y, (n_periods, n_blocks, n_dest, n_z, 2)).copy()
    discount = 0.0 if population.settings.mode == "myopic" else population.settings.discount
    realized_policy = cell_factors(path, population.tariff, params, n_sectors, calendar_fx=_calendar_fx(model, labels))
    if population.settings.mode != "static":
        epochs = belief_epochs(model)
        for e, epoch in enumerate(epochs):
            last = epochs[e + 1].first_period if e + 1 < len(epochs) else n_periods
            multipliers = np.stack([cell_factors(p, population.tariff, params, n_sectors)["multiplier"]
                                    for p in epoch.paths])  # (J, T, B, R)
            changed = np.abs(multipliers[:, 1:] - 1.0).max(axis=(0, 1)) > 1e-12  # (B, R)
            j_real = epoch.realized(labels)
            for k in range(n_sectors):
                cells = np.argwhere(changed & (np.arange(n_blocks) % n_sectors == k)[:, None])
                if cells.size == 0:
                    continue
                solved = backward_thresholds(population.stationary[k], population.z_score[k], population.chain,
                                             discount, population.sunk_cost_ratio,
                                             multipliers[:, :, cells[:, 0], cells[:, 1]], epoch.info_keys,
                                             np.asarray(epoch.probabilities), epoch.first_period,
                                             population.settings.relationship_loss)
                for t in range(epoch.first_period, last):
                    policy_y[t, cells[:, 0], cells[:, 1]] = solved[j_real, t]
    # exchange rates and market demand beyond the calendar: expected to persist, a shift of log M
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = factors["multiplier"] / realized_policy["multiplier"]
        shift = np.where(ratio > 0, np.log(ratio), -np.inf)
    shift = np.where((factors["multiplier"] > 0) & (realized_policy["multiplier"] <= 0), 0.0, shift)
    thresholds = policy_y - population.offset[None, :, :, None, None] - shift[..., None, None]
    return np.where(np.isnan(thresholds), np.inf, thresholds)


def _calendar_fx(model, labels):
    """The path's exchange rates without the draw's random part (deterministic events only)."""
    return model.arrays(tuple(labels)).fx


def simulate_dynamic(population, path, params, model, labels, only=None, others=None):
    """Aggregates of every cell in every period of one draw's policy path (partial equilibrium).

    With ``only`` ((B, R) bool) the firm loop runs in those cells only and every other cell is
    taken from ``others`` (the ``state`` of a result of this function on the same draw): cells are independent in
    partial equilibrium, so a cell whose inputs are the same in both paths has the same results
    (the no-policy path, docs/model.md section 8.1).

    Returns
    -------
    dict of (T, B, R) arrays: the ``engine.cells.CellResults`` fields, and ``log_price_term``
    (the log change of each firm's contribution to the CES price index, for regional accounts);
    and ``state``, the ``DynamicState`` that firm-level rows and the no-policy path are built from.
    """
    n_sectors = params.sigma.size
    n_periods = path.fx.shape[0]
    factors = cell_factors(path, population.tariff, params, n_sectors)
    thresholds = np.ascontiguousarray(entry_thresholds(population, path, params, model, labels, factors))
    shape = (n_periods, *population.offset.shape)
    out = [np.empty(shape) for _ in range(7)]
    firm_loop = devices.dynamic_cell_sums(population.device)
    offset = population.offset if only is None else np.where(only, population.offset, -np.inf)
    firm_loop(*population.keys, *population.kernel_params, population.n_firms, population.strata, population.z_score,
              population.chain.cum_invariant, population.chain.cum_transition, population.y_grid[0],
              population.y_grid[1] - population.y_grid[0], population.status_prob, population.thresholds,
              offset, thresholds, population.settings.relationship_loss, *out)
    names = ("active", "sales_index", "entries", "exits", "both", "both_base", "split")
    if only is not None:
        out = [np.where(only, value, others.firm_sums[name]) for name, value in zip(names, out)]
    active, sales_index, entries, exits, both, both_base, split = out
    base = sales_index[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_index = np.where(base > 0, population.flows / base, 0.0)
    value = np.exp(factors["log_value"])
    exports = per_index * value * sales_index
    intensive = per_index * (value * both - both_base)
    tariff = factors["tariff"]
    purchases = purchases_of(path, population.flows)
    halves = half_exports(per_index * value, sales_index, split, base, split[0])
    stocks = inventory_layer(np.concatenate([exports[None], halves]), factors["log_price"], path, params, model,
                             labels, population.tariff)
    cells = trade_cells(tariff, exports + purchases, active, entries, exits, intensive, factors["log_price"],
                        factors["margin"], factors["log_exchange"], halves + purchases, stocks)
    return dict(cells, sales_index=sales_index, active=active,
                state=DynamicState(thresholds=thresholds, unit_exports=per_index * value,
                                   firm_sums=dict(zip(names, out))),
                log_price_term=np.log(to_cells(path.demand)) + (1.0 - sigma_kappa(params, path.fx.shape[1])[0])
                * factors["log_consumer_price"])


def inventory_layer(final_sales, log_price, path, params, model, labels, baseline_tariff):
    """Importers' stocks (``engine.firms.inventories``) of the firms' final sales and their halves
    ((3, T, B, R): the whole, then the two halves): the ``stocks`` argument of
    ``engine.cells.trade_cells``, or None when ``[dynamics] inventories`` is off or the model is static.

    Purchase commitments are not stocked: they are added to customs imports as they are.
    """
    settings = params.dynamics
    if not settings.inventories or settings.mode == "static":
        return None
    n_sectors = params.sigma.size
    n_regions = path.fx.shape[1]

    def log_landed_cost(calendar):
        return cell_factors(calendar, baseline_tariff, params, n_sectors)["log_consumer_price"]

    drive = expected_cost_drive(model, labels, log_landed_cost, settings, final_sales.shape[1])
    importer = np.arange(n_regions * n_sectors)[:, None] // n_sectors != np.arange(n_regions)[None, :]
    change, stock = importer_stocks(final_sales, log_price, drive, settings, importer)
    return change[0], stock[0], change[1:]


def purchases_of(path, flows):
    """Purchase commitments as purchases: the amount in force, spread over its cells by baseline flow."""
    extra = np.zeros((len(path.dates), *flows.shape))
    for mask, amounts, _where in path.commitments:
        cells = to_cells(mask)
        share = np.where(cells, flows, 0.0)
        share = share / share.sum()
        extra += amounts[:, None, None] * share[None]
    return extra


def dynamic_population(stream_keys, draw, n_firms, params, calibration, device="cpu", keep_scores=False):
    """Keys and calibration of one draw's firms for the dynamic model (no ranking is needed);
    ``keep_scores`` as in ``prepare``."""
    n_blocks = calibration.n_regions * calibration.n_sectors
    keys = SimpleNamespace(draw=draw, n_firms=n_firms,
                           productivity_keys=block_keys(np.uint64(stream_keys[0]), draw, n_blocks),
                           shock_keys=block_keys(np.uint64(stream_keys[1]), draw, n_blocks))
    return prepare(keys, calibration, params, device, keep_scores)
