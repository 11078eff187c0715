"""A simulated panel of exporters and its annual moments, the way the literature measures them from
annual firm data (docs/model.md section 11.1); ``engine.firms.identification`` fits the
dynamic model's parameters to them.

- a firm's annual exports are the sum of its 12 monthly sales; it is an *exporter* in a year if it
  exports in any month of it (so partial years count, as in customs and census data);
- (1) **exit rate**: the share of year-``y`` exporters that do not export in ``y + 1``;
- (2) **autocorrelation** of log annual export sales of continuing exporters (exporters in both
  ``y`` and ``y + 1``), pooled over years;
- (3) **dispersion of growth**: the standard deviation of ``log X_(y+1) - log X_y`` of
  continuing exporters, pooled over years.

The panel is the engine's own firms of representative cells (``draw_panel``), their decisions the
model's own (``engine.firms.bellman``); ``engine_panel_moments`` recomputes one cell's moments with
the engine's ``z`` streams and calibrated offset, a cross-check of ``simulate_panel``.
"""

from dataclasses import dataclass, replace

import numpy as np

from engine.calibration.data import load_calibration
from engine.cells import to_cells
from engine.firms.bellman import Chain, rouwenhorst, solve_stationary, y_grid_for
from engine.firms.dynamic import dynamic_population
from engine.firms.sampling import block_strata
from engine.paths import default_calibration_dir
from engine.scenario.defaults import DEFAULT_SUNK_COST_RATIO, DYNAMICS_DEFAULTS
from engine.scenario.schema import Dynamics
from engine.scenario.uncertainty import DrawParameters, stream_keys
from kernels import block_keys
from kernels.dynamic import block_paths, block_scores
from kernels.firm import fill_scaled_log_productivity

MOMENT_NAMES = ("exit_rate", "sales_autocorrelation", "growth_sd")


def annual_moments(monthly_sales, months_per_year=12, weights=None):
    """The three annual moments of a monthly panel of export sales.

    Parameters
    ----------
    monthly_sales : ndarray (T, N)
        Export sales of ``N`` firms in ``T`` consecutive months (0 where a firm does not export);
        ``T`` a multiple of ``months_per_year``, starting at a year's first month.
    weights : ndarray (N,), optional
        Sampling weight of each firm (importance sampling; default: equal weights).

    Returns
    -------
    dict
        ``exit_rate``, ``sales_autocorrelation``, ``growth_sd`` (see the module docstring) and the
        counts they rest on: ``exporter_years`` (exporters in years with a following year) and
        ``continuing`` (pairs of consecutive exporter years).
    """
    sales = np.asarray(monthly_sales, dtype=float)
    n_months, n_firms = sales.shape
    if n_months % months_per_year or n_months < 2 * months_per_year:
        raise ValueError(f"need whole years, at least two: got {n_months} months")
    annual = sales.reshape(n_months // months_per_year, months_per_year, n_firms).sum(axis=1)
    exporter = annual > 0.0
    now, nxt = exporter[:-1], exporter[1:]
    w = np.ones(n_firms) if weights is None else np.asarray(weights, dtype=float)
    w = np.broadcast_to(w, now.shape)
    exporter_years = int(now.sum())
    continuing = now & nxt
    n_cont = int(continuing.sum())
    exit_rate = float(w[now & ~nxt].sum() / w[now].sum()) if exporter_years else np.nan
    if n_cont >= 2:
        log_now = np.log(annual[:-1][continuing])
        log_next = np.log(annual[1:][continuing])
        wc = w[continuing] / w[continuing].sum()
        mean_now, mean_next = wc @ log_now, wc @ log_next
        cov = wc @ ((log_now - mean_now) * (log_next - mean_next))
        autocorrelation = float(cov / np.sqrt((wc @ (log_now - mean_now) ** 2) * (wc @ (log_next - mean_next) ** 2)))
        growth = log_next - log_now
        growth_sd = float(np.sqrt(wc @ (growth - wc @ growth) ** 2))
    else:
        autocorrelation = growth_sd = np.nan
    return {"exit_rate": exit_rate, "sales_autocorrelation": autocorrelation, "growth_sd": growth_sd,
            "exporter_years": exporter_years, "continuing": n_cont}


@dataclass(frozen=True)
class Panel:
    """The firms of the identification panel and its common random numbers (fixed across trials).

    Scores are the engine's own (counter-based streams of one draw of the default calibration);
    the ``z`` uniforms come from NumPy's PCG64 with the same seed.
    """

    entry_score: np.ndarray  # (N,) u of each firm-destination pair
    sales_score: np.ndarray  # (N,) v
    cell: np.ndarray  # (N,) index into ``share`` and ``sigma``
    share: np.ndarray  # (C,) calibrated exporter share of each cell
    sigma: np.ndarray  # (C,)
    weight: np.ndarray  # (N,) real pairs per simulated pair (engine.firms.sampling)
    z_start: np.ndarray  # (N,) uniforms: initial z
    z_moves: np.ndarray  # (T, N) uniforms: z transitions
    seed: int = 0  # of the relationship-loss uniforms (drawn month by month, the same in every trial)


def draw_panel(seed, n_firms=10000, years=10, burn_in_years=10, exporter="JPN", importer="USA", sectors=None,
               calibration=None):
    """The firms of every sector's (or of ``sectors``') ``exporter -> importer`` cell.

    ``n_firms`` simulated firms per cell; their entry and sales scores are those the engine draws
    for draw 0 with ``seed`` (``engine.runs.simulate`` keys), so the panel holds the engine's own firms.
    """

    cal = load_calibration(calibration or default_calibration_dir())
    regions, n_sectors = list(cal.regions), cal.n_sectors
    origin, dest = regions.index(exporter), regions.index(importer)
    n_blocks = cal.n_regions * n_sectors
    keys = stream_keys(seed)
    productivity_keys = block_keys(np.uint64(keys["productivity"]), 0, n_blocks)
    shock_keys = block_keys(np.uint64(keys["shocks"]), 0, n_blocks)
    participation = to_cells(cal.participation)
    firms = np.asarray(cal.firms, dtype=float).reshape(-1)
    entry, sales, cell, weight = [], [], [], []
    chosen = list(range(n_sectors)) if sectors is None else [list(cal.sectors).index(code) for code in sectors]
    sigma = np.asarray(cal.sigma, dtype=float)
    theta = np.asarray(cal.theta, dtype=float)
    for c, k in enumerate(chosen):
        b = origin * n_sectors + k
        slp, v, u = np.empty(n_firms), np.empty(n_firms), np.empty(n_firms)
        fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), (sigma[k] - 1.0) / theta[k], slp)
        rho, s_a = float(cal.shock_corr[k]), float(cal.shock_demand_sd[k])
        strata = np.stack(block_strata(firms[b:b + 1], n_firms, np.array([s_a])), axis=1)[0]
        w = np.empty(n_firms)
        block_scores(productivity_keys[b], shock_keys[b], (sigma[k] - 1.0) / theta[k], s_a,
                     float(cal.shock_cost_sd[k]), rho, cal.n_regions, dest, strata, slp, v, u, w)
        entry.append(u)
        sales.append(v)
        cell.append(np.full(n_firms, c))
        weight.append(w)
    rng = np.random.default_rng(seed)
    n = len(chosen) * n_firms
    months = 12 * (burn_in_years + years)
    blocks = [origin * n_sectors + k for k in chosen]
    return Panel(entry_score=np.concatenate(entry), sales_score=np.concatenate(sales), cell=np.concatenate(cell),
                 share=participation[blocks, dest].astype(float), sigma=sigma[chosen],
                 weight=np.concatenate(weight), z_start=rng.random(n), z_moves=rng.random((months, n)), seed=seed)


def default_model_constants():
    """Grid points and monthly discount of the default dynamics (engine/scenario/defaults.py)."""

    return {"grid_points": DYNAMICS_DEFAULTS["grid_points"], "discount": DYNAMICS_DEFAULTS["discount"]}


def export_probability(stationary, invariant):
    """Invariant probability of exporting at each ``y`` of the grid (Ny,), rising in ``y``.

    ``sum_j pi_j [1(y >= y*_j,entrant) + 1(y*_j,incumbent <= y < y*_j,entrant) P(x = 1 | z_j, y)]``.
    """
    y = stationary.y_grid[None, :]
    enter, stay = stationary.thresholds[:, 0:1], stationary.thresholds[:, 1:2]
    by_node = np.where(y >= enter, 1.0, np.where(y >= stay, stationary.status_prob, 0.0))
    return np.maximum.accumulate(invariant @ by_node)


def cell_offset(entry_score, share, probability, y_grid, weight):
    """The offset ``c`` at which the cell's invariant exporter share of real pairs is ``share``
    (bisection; ``weight``: the real pairs each simulated pair stands for).

    The engine calibrates ``c`` so that the real pairs exporting in period 0, with their status
    drawn from the invariant distribution, are nearest ``share * N``; this is its expectation.
    """
    low, high = y_grid[0] - entry_score.max(), y_grid[-1] - entry_score.min()
    w = weight / weight.sum()
    for _ in range(60):
        mid = 0.5 * (low + high)
        if w @ np.interp(entry_score + mid, y_grid, probability) > share:
            high = mid
        else:
            low = mid
    return 0.5 * (low + high)


def simulate_panel(persistence, productivity_sd, sunk_cost_ratio, panel, burn_in_years=10, constants=None,
                   relationship_loss=0.0):
    """Monthly export sales of the panel's firms after a burn-in, with their weights.

    ``persistence`` is monthly. Per cell, the stationary problem is solved and the cell offset
    calibrated to its exporter share; firms start from the chain's invariant ``z`` and as
    non-exporters, and ``burn_in_years`` are simulated and dropped. A firm exports in month ``t``
    iff ``u + c >= y*(z_t, x_(t-1))`` and then sells ``exp(v + (sigma - 1) z_t)``; an exporter loses
    its relationship with probability ``relationship_loss`` a month (then ``x = 0``: docs/model.md
    section 11.2). Firms that can never export (below every threshold) are left out.

    Returns
    -------
    sales : ndarray (T, N') ; weights : ndarray (N',)
    """
    k = default_model_constants() if constants is None else constants
    grid, transition, invariant = rouwenhorst(k["grid_points"], persistence, productivity_sd)
    chain = Chain(grid, transition, invariant)
    solved = {}
    y = np.empty(panel.entry_score.size)
    thresholds = np.empty((panel.share.size, grid.size, 2))
    z_score = np.empty((panel.share.size, grid.size))
    for c in range(panel.share.size):
        sigma = float(panel.sigma[c])
        if sigma not in solved:
            zs = (sigma - 1.0) * grid
            st = solve_stationary(zs, chain, k["discount"], sunk_cost_ratio, y_grid_for(zs, sunk_cost_ratio),
                                  relationship_loss)
            solved[sigma] = (zs, st, export_probability(st, invariant))
        zs, st, probability = solved[sigma]
        mine = panel.cell == c
        y[mine] = panel.entry_score[mine] + cell_offset(panel.entry_score[mine], panel.share[c], probability, st.y_grid,
                                                             panel.weight[mine])
        thresholds[c], z_score[c] = st.thresholds, zs
    lowest = np.nanmin(np.where(np.isfinite(thresholds), thresholds, np.nan), axis=(1, 2))
    keep = np.flatnonzero(y >= lowest[panel.cell])
    y, cell = y[keep], panel.cell[keep]
    log_sales = panel.sales_score[keep]
    cum_transition = np.cumsum(transition, axis=1)
    state = np.minimum(np.searchsorted(np.cumsum(invariant), panel.z_start[keep], side="right"), grid.size - 1)
    status = np.zeros(keep.size, dtype=np.int64)
    n_months = panel.z_moves.shape[0]
    burn = 12 * burn_in_years
    sales = np.zeros((n_months - burn, keep.size))
    losses = np.random.default_rng([panel.seed, 1])
    for t in range(n_months):
        if t > 0:
            moves = panel.z_moves[t, keep]
            state = np.minimum((moves[:, None] >= cum_transition[state]).sum(axis=1), grid.size - 1)
            if relationship_loss > 0.0:
                status = status * (losses.random(panel.entry_score.size)[keep] >= relationship_loss)
        exporting = y >= thresholds[cell, state, status]
        status = exporting.astype(np.int64)
        if t >= burn:
            sales[t - burn] = np.where(exporting, np.exp(log_sales + z_score[cell, state]), 0.0)
    return sales, panel.weight[keep]


def model_moments(annual_persistence, productivity_sd, sunk_cost_ratio, panel, burn_in_years=10, constants=None,
                  relationship_loss=0.0):
    """The three annual moments at monthly persistence ``annual_persistence ** (1/12)``."""
    sales, weights = simulate_panel(annual_persistence ** (1.0 / 12.0), productivity_sd, sunk_cost_ratio, panel,
                                    burn_in_years, constants, relationship_loss)
    return annual_moments(sales, weights=weights)


def default_cell_population(n_firms, seed=2025, draw=0, sunk_cost_ratio=None, calibration=None):
    """One draw's dynamic population of the default calibration with the default dynamics.

    Returns the ``engine.firms.dynamic.DynamicPopulation`` and the calibration (for codes).
    """

    cal = load_calibration(calibration or default_calibration_dir())
    lam = DEFAULT_SUNK_COST_RATIO if sunk_cost_ratio is None else sunk_cost_ratio
    params = replace(DrawParameters.from_calibration(cal), sunk_cost_ratio=lam, dynamics=Dynamics(mode="forward"))
    keys = stream_keys(seed)
    return dynamic_population((keys["productivity"], keys["shocks"]), draw, n_firms, params, cal), cal


def engine_panel_moments(population, block, destination, years=10, burn_in_years=10):
    """The three annual moments of one cell of the engine's own firms (a cross-check).

    The firms, their EKK scores and their ``z`` paths are the engine's (the kernel's counter-based
    streams); export decisions use the stationary thresholds and the calibrated cell offset, as the
    kernel does with no policy change. Export status starts at 0 and ``burn_in_years`` are dropped
    (instead of the kernel's invariant draw of the period-0 status).
    """

    b, n = block, destination
    productivity_keys, shock_keys, z_keys, _ = population.keys
    sm1_over_theta, s_a, s_e, rho = (np.asarray(p)[b] for p in population.kernel_params)
    m = population.n_firms
    n_dest = population.offset.shape[1]
    slp, sales_score, entry_score, weight = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), sm1_over_theta, slp)
    block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta, s_a, s_e, rho, n_dest, n, population.strata[b],
                 slp, sales_score, entry_score, weight)
    n_months = 12 * (burn_in_years + years)
    chain = population.chain
    paths = np.empty((n_months, m), dtype=np.int64)
    block_paths(z_keys[b], m, n_months, chain.cum_invariant, chain.cum_transition, paths)
    y = entry_score + population.offset[b, n]
    thresholds = population.thresholds[b]
    z_score = population.z_score[b]
    status = np.zeros(m, dtype=np.int64)
    burn = 12 * burn_in_years
    sales = np.zeros((n_months - burn, m))
    for t in range(n_months):
        exporting = y >= thresholds[paths[t], status]
        status = exporting.astype(np.int64)
        if t >= burn:
            sales[t - burn] = np.where(exporting, np.exp(sales_score + z_score[paths[t]]), 0.0)
    return annual_moments(sales, weights=weight)
