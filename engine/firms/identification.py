"""Identification of the dynamic model's productivity process and sunk cost from annual moments.

Three monthly parameters of ``engine.firms.bellman`` -- the persistence ``rho`` and stationary sd
``s_z`` of the AR(1) ``z`` and the continuation-to-entry cost ratio ``lambda`` -- are sought by the
simulated method of moments (three moments for three parameters) so that a simulated panel of the
engine's export cells reproduces, as closely as it can, three annual moments of exporters that the
literature reports (``TARGETS``, each with its source).

Moments are computed the way the literature computes them from annual firm data:

- a firm's annual exports are the sum of its 12 monthly sales; it is an *exporter* in a year if it
  exports in any month of it (so partial years count, as in customs and census data);
- (1) **exit rate**: the share of year-``y`` exporters that do not export in ``y + 1``;
- (2) **autocorrelation** of log annual export sales of continuing exporters (exporters in both
  ``y`` and ``y + 1``), pooled over years;
- (3) **dispersion of growth**: the standard deviation of ``log X_(y+1) - log X_y`` of
  continuing exporters, pooled over years.

How monthly values follow from annual ones: not by an analytic conversion but by simulating the
monthly model and aggregating it to years exactly as the data are built (time aggregation,
partial-year exporters and selection are all in the simulated moments). The search variable for
persistence is the annual-equivalent ``rho ** 12``.

Representative cells (the stated choice): the engine's own firms of the default calibration's
eight JPN -> USA cells (one per sector), with their EKK entry and sales scores from the engine's
counter-based streams, each cell's offset calibrated to its exporter share as the engine does
(``cell_offset``), pooled with their real-firm weights. A first attempt with a pure Pareto tail
(the limit of a small exporter share) gave very different moments -- exit rates twice as high,
autocorrelations far lower -- because at the default shares the entry score's distribution near
the threshold is shaped by EKK's large demand shock, not by the Pareto tail; so the panel uses the
engine's firms. ``engine_panel_moments`` recomputes the moments of one cell with the engine's own
``z`` streams and calibrated offset, a cross-check of this simulation.

Decisions are the model's own: ``engine.firms.bellman.solve_stationary`` on the engine's Rouwenhorst
chain with the default discount factor; ``z`` moves on that chain. Random numbers are common
across parameter trials (the firms' scores and the chain's uniforms are fixed), so the objective
moves little between nearby trials: a coarse grid search, then a local solver (``identify``).

Outcome (engine/firms/parameters.py, data/README.md "Dynamics parameters"): persistence and s_z solve
the autocorrelation and growth-sd targets; the 17% exit rate is out of the model's reach with
those two matched (5.5% at lambda = 0.1, about 11% with no sunk cost), and the joint fit of all
three parameters runs to lambda = 1, so lambda is not identified here and stays an assumption.
"""

from dataclasses import dataclass

import numpy as np

from engine.firms.bellman import Chain, rouwenhorst, solve_stationary, y_grid_for


@dataclass(frozen=True)
class Target:
    """One published moment: its value, where it comes from, and whether it was checked here."""

    value: float
    source: str
    verified: bool


#: The three annual moments the dynamic model is identified from.
TARGETS = {
    "exit_rate": Target(
        0.17,
        "US manufacturing plants, share of exporters that stop exporting the next year: the "
        "'stopper rate' target of Alessandria, Choi & Ruhl (2021, JIE), read in their replication "
        "files (github ruhl0029/trade-adjustment-dynamics, Model code/01Benchmark/Benchmark01.pgm: "
        "n_10 = 0.17, printed 'Stopper rate (17.0%)'); the same 17.0% target is printed by the "
        "Alessandria, Khan, Khederlarian, Ruhl & Steinberg code (github joesteinberg/tpu_akkrs, "
        "model/src/model.c). Verified in that code, not against the paper's text.",
        True),
    "sales_autocorrelation": Target(
        0.85,
        "autocorrelation of exporters' log annual export sales, 0.85: the repository's earlier "
        "default, of the order commonly reported for annual plant panels in the sunk-cost "
        "literature (Das, Roberts & Tybout 2007; Alessandria & Choi 2014); as commonly reported, "
        "not verified here.",
        False),
    "growth_sd": Target(
        0.5,
        "standard deviation of annual log export-sales growth of continuing exporters, 0.5: the "
        "repository's earlier default, of the order reported by Ruhl & Willis (2017, IER) and "
        "Fitzgerald, Haller & Yedid-Levi (2023); as commonly reported, not verified here.",
        False),
}

MOMENT_NAMES = ("exit_rate", "sales_autocorrelation", "growth_sd")

#: Weights on the relative misses: the exit rate, the one target verified in its source, counts
#: three times; the two unverified targets once. The sources give no standard errors.
WEIGHTS = {"exit_rate": 3.0, "sales_autocorrelation": 1.0, "growth_sd": 1.0}


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
    weight: np.ndarray  # (N,) real firms per simulated firm
    z_start: np.ndarray  # (N,) uniforms: initial z
    z_moves: np.ndarray  # (T, N) uniforms: z transitions


def draw_panel(seed, n_firms=10000, years=10, burn_in_years=10, exporter="JPN", importer="USA", sectors=None,
               calibration=None):
    """The firms of every sector's (or of ``sectors``') ``exporter -> importer`` cell.

    ``n_firms`` simulated firms per cell; their entry and sales scores are those the engine draws
    for draw 0 with ``seed`` (``engine.runs.simulate`` keys), so the panel holds the engine's own firms.
    """
    from engine.calibration.data import load_calibration
    from engine.firms.static import to_cells
    from engine.paths import default_calibration_dir
    from engine.scenario.uncertainty import stream_keys
    from kernels import block_keys
    from kernels.dynamic import block_scores
    from kernels.firm import fill_scaled_log_productivity

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
        rho = float(cal.shock_corr[k])
        block_scores(productivity_keys[b], shock_keys[b], (sigma[k] - 1.0) / theta[k], float(cal.shock_demand_sd[k]),
                      float(cal.shock_cost_sd[k]), rho, cal.n_regions, dest, slp, v, u)
        entry.append(u)
        sales.append(v)
        cell.append(np.full(n_firms, c))
        weight.append(np.full(n_firms, firms[b] / n_firms))
    rng = np.random.default_rng(seed)
    n = len(chosen) * n_firms
    months = 12 * (burn_in_years + years)
    blocks = [origin * n_sectors + k for k in chosen]
    return Panel(entry_score=np.concatenate(entry), sales_score=np.concatenate(sales), cell=np.concatenate(cell),
                 share=participation[blocks, dest].astype(float), sigma=sigma[chosen],
                 weight=np.concatenate(weight), z_start=rng.random(n), z_moves=rng.random((months, n)))


def default_model_constants():
    """Grid points and monthly discount of the default dynamics (engine/firms/parameters.py)."""
    from engine.firms.parameters import DYNAMICS_DEFAULTS

    return {"grid_points": DYNAMICS_DEFAULTS["grid_points"], "discount": DYNAMICS_DEFAULTS["discount"]}


def export_probability(stationary, invariant):
    """Invariant probability of exporting at each ``y`` of the grid (Ny,), rising in ``y``.

    ``sum_j pi_j [1(y >= y*_j,entrant) + 1(y*_j,incumbent <= y < y*_j,entrant) P(x = 1 | z_j, y)]``.
    """
    y = stationary.y_grid[None, :]
    enter, stay = stationary.thresholds[:, 0:1], stationary.thresholds[:, 1:2]
    by_node = np.where(y >= enter, 1.0, np.where(y >= stay, stationary.status_prob, 0.0))
    return np.maximum.accumulate(invariant @ by_node)


def cell_offset(entry_score, share, probability, y_grid):
    """The offset ``c`` at which the cell's invariant exporter share is ``share`` (bisection).

    The engine calibrates ``c`` so that exactly ``round(share * M)`` pairs export in period 0,
    with their status drawn from the invariant distribution; this is its expectation.
    """
    low, high = y_grid[0] - entry_score.max(), y_grid[-1] - entry_score.min()
    for _ in range(60):
        mid = 0.5 * (low + high)
        if np.interp(entry_score + mid, y_grid, probability).mean() > share:
            high = mid
        else:
            low = mid
    return 0.5 * (low + high)


def simulate_panel(persistence, productivity_sd, sunk_cost_ratio, panel, burn_in_years=10, constants=None):
    """Monthly export sales of the panel's firms after a burn-in, with their weights.

    ``persistence`` is monthly. Per cell, the stationary problem is solved and the cell offset
    calibrated to its exporter share; firms start from the chain's invariant ``z`` and as
    non-exporters, and ``burn_in_years`` are simulated and dropped. A firm exports in month ``t``
    iff ``u + c >= y*(z_t, x_(t-1))`` and then sells ``exp(v + (sigma - 1) z_t)``. Firms that can
    never export (below every threshold) are left out.

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
            st = solve_stationary(zs, chain, k["discount"], sunk_cost_ratio, y_grid_for(zs, sunk_cost_ratio))
            solved[sigma] = (zs, st, export_probability(st, invariant))
        zs, st, probability = solved[sigma]
        mine = panel.cell == c
        y[mine] = panel.entry_score[mine] + cell_offset(panel.entry_score[mine], panel.share[c], probability, st.y_grid)
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
    for t in range(n_months):
        if t > 0:
            moves = panel.z_moves[t, keep]
            state = np.minimum((moves[:, None] >= cum_transition[state]).sum(axis=1), grid.size - 1)
        exporting = y >= thresholds[cell, state, status]
        status = exporting.astype(np.int64)
        if t >= burn:
            sales[t - burn] = np.where(exporting, np.exp(log_sales + z_score[cell, state]), 0.0)
    return sales, panel.weight[keep]


def model_moments(annual_persistence, productivity_sd, sunk_cost_ratio, panel, burn_in_years=10, constants=None):
    """The three annual moments at monthly persistence ``annual_persistence ** (1/12)``."""
    sales, weights = simulate_panel(annual_persistence ** (1.0 / 12.0), productivity_sd, sunk_cost_ratio, panel,
                                    burn_in_years, constants)
    return annual_moments(sales, weights=weights)


#: Coarse grid of (annual persistence, stationary sd, lambda) searched before the local solver.
SEARCH_GRID = ((0.3, 0.5, 0.7, 0.85, 0.95), (0.2, 0.3, 0.4, 0.5, 0.7), (0.05, 0.1, 0.3, 0.6, 1.0))


def identify(targets=None, seed=20251, n_firms=10000, years=10, burn_in_years=10, grid=SEARCH_GRID,
             sunk_cost_ratio=None):
    """Solve for (annual persistence, s_z[, lambda]) so that the simulated moments meet the targets.

    With ``sunk_cost_ratio`` None, all three parameters minimise the weighted relative misses of
    the three moments: the sum of squared ``WEIGHTS * (m - target) / target``. With a given
    ``sunk_cost_ratio``, persistence and s_z solve the two equations of the autocorrelation and
    the growth sd (exactly, when attainable) and the exit rate is an outcome. A coarse grid search
    (``grid``) picks the start; ``scipy.optimize.least_squares`` refines it with finite
    differences on common random numbers. The returned ``moments`` show how close the fit is.

    Returns
    -------
    dict
        ``persistence`` (monthly), ``annual_persistence``, ``productivity_sd``, ``sunk_cost_ratio``,
        ``moments`` (simulated at the solution), ``targets``, ``start``, ``cost`` and the panel's
        ``seed`` and ``n_firms``.
    """
    from itertools import product

    from scipy.optimize import least_squares  # optional dependency (extra "calibrate")

    goal = np.array([(targets or {}).get(m, TARGETS[m].value) for m in MOMENT_NAMES])
    panel = draw_panel(seed, n_firms, years, burn_in_years)
    if sunk_cost_ratio is None:
        used, weight = slice(0, 3), np.array([WEIGHTS[m] for m in MOMENT_NAMES])
        unpack = tuple
        starts = product(*grid)
        low, high = [0.3, 0.05, 0.005], [0.995, 3.0, 1.0]
    else:
        used, weight = slice(1, 3), np.ones(2)
        unpack = lambda x: (x[0], x[1], sunk_cost_ratio)  # noqa: E731
        starts = product(grid[0], grid[1])
        low, high = [0.3, 0.05], [0.995, 3.0]

    def residual(x):
        got = model_moments(*unpack(x), panel, burn_in_years)
        miss = (np.array([got[m] for m in MOMENT_NAMES]) - goal) / np.abs(goal)
        return (weight * miss[used]) if sunk_cost_ratio is None else miss[used]

    start = min(starts, key=lambda x: float(np.sum(residual(np.array(x)) ** 2)))
    if sunk_cost_ratio is None:
        x = least_squares(residual, np.asarray(start, dtype=float), bounds=(low, high), diff_step=0.02, xtol=1e-4,
                          ftol=1e-6).x
    else:
        x = _damped_newton(residual, np.asarray(start, dtype=float), np.array(low), np.array(high))
    a, s, lam = unpack(x)
    moments = model_moments(a, s, lam, panel, burn_in_years)
    return {"persistence": float(a ** (1.0 / 12.0)), "annual_persistence": float(a), "productivity_sd": float(s),
            "sunk_cost_ratio": float(lam), "moments": moments, "targets": dict(zip(MOMENT_NAMES, goal.tolist())),
            "start": tuple(float(v) for v in start), "cost": float(0.5 * np.sum(residual(x) ** 2)), "seed": seed,
            "n_firms": n_firms}


def _damped_newton(residual, x, low, high, step=0.02, iterations=8, tolerance=2e-3, rcond=0.1):
    """Gauss-Newton on a square system with a forward-difference Jacobian of fixed ``step``, a
    truncated pseudo-inverse and step halving until the residual norm falls.

    ``scipy.optimize.least_squares`` stalls on this objective: with common random numbers it is
    smooth at the scale of ``step`` but not at the solver's own tiny trial steps, so its trust
    region shrinks to nothing. The autocorrelation and the growth sd move almost together in
    (persistence, s_z) (both follow ``1 - g^2 / (2 var)`` closely), so the Jacobian is nearly
    singular: directions with singular values below ``rcond`` times the largest are not moved
    along, and the solution is the root nearest the grid start along the weak direction.
    """
    r = residual(x)
    for _ in range(iterations):
        if np.max(np.abs(r)) < tolerance:
            break
        jacobian = np.column_stack([(residual(x + step * e) - r) / step for e in np.eye(x.size)])
        move = np.linalg.lstsq(jacobian, -r, rcond=rcond)[0]
        for _ in range(6):
            trial = np.clip(x + move, low, high)
            r_trial = residual(trial)
            if np.sum(r_trial ** 2) < np.sum(r ** 2):
                x, r = trial, r_trial
                break
            move = move / 2.0
        else:
            break
    return x


def fresh_panel_moments(annual_persistence, productivity_sd, sunk_cost_ratio, seeds=range(100, 108), n_firms=10000):
    """Mean and standard deviation of the moments over independent panels (Monte Carlo check).

    Returns
    -------
    dict
        Moment name -> (mean, sd across the panels).
    """
    rows = []
    for seed in seeds:
        got = model_moments(annual_persistence, productivity_sd, sunk_cost_ratio, draw_panel(seed, n_firms))
        rows.append([got[m] for m in MOMENT_NAMES])
    rows = np.array(rows)
    return {m: (float(rows[:, i].mean()), float(rows[:, i].std(ddof=1))) for i, m in enumerate(MOMENT_NAMES)}


def default_cell_population(n_firms, seed=2025, draw=0, sunk_cost_ratio=None, calibration=None):
    """One draw's dynamic population of the default calibration with the default dynamics.

    Returns the ``engine.firms.dynamic.DynamicPopulation`` and the calibration (for codes).
    """
    from engine.calibration.data import load_calibration
    from engine.firms.dynamic import dynamic_population
    from engine.firms.static import DrawParameters
    from engine.firms.parameters import DEFAULT_SUNK_COST_RATIO
    from engine.paths import default_calibration_dir
    from engine.scenario.schema import Dynamics
    from engine.scenario.uncertainty import stream_keys

    cal = load_calibration(calibration or default_calibration_dir())
    lam = DEFAULT_SUNK_COST_RATIO if sunk_cost_ratio is None else sunk_cost_ratio
    params = DrawParameters(sigma=np.asarray(cal.sigma, dtype=float), theta=np.asarray(cal.theta, dtype=float),
                            shock_demand_sd=np.asarray(cal.shock_demand_sd, dtype=float),
                            shock_cost_sd=np.asarray(cal.shock_cost_sd, dtype=float),
                            shock_corr=np.asarray(cal.shock_corr, dtype=float),
                            pass_through=np.ones((cal.n_regions, cal.n_sectors)), sunk_cost_ratio=lam,
                            dynamics=Dynamics(mode="forward"))
    keys = stream_keys(seed)
    return dynamic_population((keys["productivity"], keys["shocks"]), draw, n_firms, params, cal), cal


def engine_panel_moments(population, block, destination, years=10, burn_in_years=10):
    """The three annual moments of one cell of the engine's own firms (a cross-check).

    The firms, their EKK scores and their ``z`` paths are the engine's (the kernel's counter-based
    streams); export decisions use the stationary thresholds and the calibrated cell offset, as the
    kernel does with no policy change. Export status starts at 0 and ``burn_in_years`` are dropped
    (instead of the kernel's invariant draw of the period-0 status).
    """
    from kernels.dynamic import block_paths, block_scores
    from kernels.firm import fill_scaled_log_productivity

    b, n = block, destination
    productivity_keys, shock_keys, z_keys, _ = population.keys
    sm1_over_theta, s_a, s_e, rho = (np.asarray(p)[b] for p in population.kernel_params)
    m = population.n_firms
    n_dest = population.offset.shape[1]
    slp, sales_score, entry_score = np.empty(m), np.empty(m), np.empty(m)
    fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), sm1_over_theta, slp)
    block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta, s_a, s_e, rho, n_dest, n, slp, sales_score,
                  entry_score)
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
    return annual_moments(sales)
