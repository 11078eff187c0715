"""Identification of the dynamic model's productivity process and sunk cost from annual moments.

Three monthly parameters of ``engine.firms.bellman`` -- the persistence ``rho`` and stationary sd
``s_z`` of the AR(1) ``z`` and the continuation-to-entry cost ratio ``lambda`` -- are sought by the
simulated method of moments (three moments for three parameters) so that a simulated panel of the
engine's export cells reproduces, as closely as it can, three annual moments of exporters that the
literature reports (``TARGETS``, each with its source).

The moments are those of ``engine.firms.panel`` (exit rate, autocorrelation of log annual sales,
sd of annual growth), computed from annual aggregates of a simulated monthly panel.

How monthly values follow from annual ones: not by an analytic conversion but by simulating the
monthly model and aggregating it to years exactly as the data are built (time aggregation,
partial-year exporters and selection are all in the simulated moments). The search variable for
persistence is the annual-equivalent ``rho ** 12``.

Representative cells (the stated choice): the engine's own firms of the default calibration's
eight JPN -> USA cells (one per sector), with their EKK entry and sales scores from the engine's
counter-based streams, each cell's offset calibrated to its exporter share as the engine does
(``engine.firms.panel.cell_offset``), pooled with their real-firm weights. A first attempt with a pure Pareto tail
(the limit of a small exporter share) gave very different moments -- exit rates twice as high,
autocorrelations far lower -- because at the default shares the entry score's distribution near
the threshold is shaped by EKK's large demand shock, not by the Pareto tail; so the panel uses the
engine's firms. ``engine.firms.panel.engine_panel_moments`` recomputes the moments of one cell with the engine's own
``z`` streams and calibrated offset, a cross-check of this simulation.

Decisions are the model's own: ``engine.firms.bellman.solve_stationary`` on the engine's Rouwenhorst
chain with the default discount factor; ``z`` moves on that chain. Random numbers are common
across parameter trials (the firms' scores and the chain's uniforms are fixed), so the objective
moves little between nearby trials: a coarse grid search, then a local solver (``identify``).

Outcome (engine/scenario/defaults.py, data/README.md "Dynamics parameters"): persistence and s_z solve
the autocorrelation and growth-sd targets; the 17% exit rate is out of the model's reach with
those two matched (5.5% at lambda = 0.1, about 11% with no sunk cost), and the joint fit of all
three parameters runs to lambda = 1, so lambda is not identified here and stays an assumption.
"""

from dataclasses import dataclass

import numpy as np

from engine.firms.panel import MOMENT_NAMES, draw_panel, model_moments


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


#: Weights on the relative misses: the exit rate, the one target verified in its source, counts
#: three times; the two unverified targets once. The sources give no standard errors.
WEIGHTS = {"exit_rate": 3.0, "sales_autocorrelation": 1.0, "growth_sd": 1.0}


#: Coarse grid of (annual persistence, stationary sd, lambda) searched before the local solver.
SEARCH_GRID = ((0.3, 0.5, 0.7, 0.85, 0.95), (0.2, 0.3, 0.4, 0.5, 0.7), (0.05, 0.1, 0.3, 0.6, 1.0))


#: Coarse grid of the monthly loss of relationships searched with ``identify(relationship_loss=None)``.
LOSS_GRID = (0.0, 0.02, 0.05)


def identify(targets=None, seed=20251, n_firms=10000, years=10, burn_in_years=10, grid=SEARCH_GRID,
             sunk_cost_ratio=None, relationship_loss=0.0):
    """Solve for (annual persistence, s_z[, lambda or the loss]) so that the simulated moments meet the targets.

    With ``sunk_cost_ratio`` None, all three parameters minimise the weighted relative misses of
    the three moments: the sum of squared ``WEIGHTS * (m - target) / target``. With a given
    ``sunk_cost_ratio`` and ``relationship_loss`` None, the third parameter is the monthly loss of
    export relationships (docs/model.md section 11.2), fitted the same way (grid ``LOSS_GRID``). With
    both given, persistence and s_z solve the two equations of the autocorrelation and
    the growth sd (exactly, when attainable) and the exit rate is an outcome. A coarse grid search
    (``grid``) picks the start; ``scipy.optimize.least_squares`` refines it with finite
    differences on common random numbers. The returned ``moments`` show how close the fit is.

    Returns
    -------
    dict
        ``persistence`` (monthly), ``annual_persistence``, ``productivity_sd``, ``sunk_cost_ratio``,
        ``relationship_loss``, ``moments`` (simulated at the solution), ``targets``, ``start``, ``cost`` and the panel's
        ``seed`` and ``n_firms``.
    """
    from itertools import product

    from scipy.optimize import least_squares  # optional dependency (extra "calibrate")

    goal = np.array([(targets or {}).get(m, TARGETS[m].value) for m in MOMENT_NAMES])
    panel = draw_panel(seed, n_firms, years, burn_in_years)
    if sunk_cost_ratio is None and relationship_loss is None:
        raise ValueError("identify fits lambda or the loss of relationships as its third parameter, not both")
    three = sunk_cost_ratio is None or relationship_loss is None
    if sunk_cost_ratio is None:
        used, weight = slice(0, 3), np.array([WEIGHTS[m] for m in MOMENT_NAMES])
        unpack = lambda x: (x[0], x[1], x[2], relationship_loss)  # noqa: E731
        starts = product(*grid)
        low, high = [0.3, 0.05, 0.005], [0.995, 3.0, 1.0]
    elif relationship_loss is None:
        used, weight = slice(0, 3), np.array([WEIGHTS[m] for m in MOMENT_NAMES])
        unpack = lambda x: (x[0], x[1], sunk_cost_ratio, x[2])  # noqa: E731
        starts = product(grid[0], grid[1], LOSS_GRID)
        low, high = [0.3, 0.05, 0.0], [0.995, 3.0, 0.3]
    else:
        used, weight = slice(1, 3), np.ones(2)
        unpack = lambda x: (x[0], x[1], sunk_cost_ratio, relationship_loss)  # noqa: E731
        starts = product(grid[0], grid[1])
        low, high = [0.3, 0.05], [0.995, 3.0]

    def moments_at(x):
        a, s, lam, loss = unpack(x)
        return model_moments(a, s, lam, panel, burn_in_years, relationship_loss=loss)

    def residual(x):
        got = moments_at(x)
        miss = (np.array([got[m] for m in MOMENT_NAMES]) - goal) / np.abs(goal)
        return (weight * miss[used]) if three else miss[used]

    start = min(starts, key=lambda x: float(np.sum(residual(np.array(x)) ** 2)))
    if three:
        x = least_squares(residual, np.asarray(start, dtype=float), bounds=(low, high), diff_step=0.02, xtol=1e-4,
                          ftol=1e-6).x
    else:
        x = _damped_newton(residual, np.asarray(start, dtype=float), np.array(low), np.array(high))
    a, s, lam, loss = unpack(x)
    moments = moments_at(x)
    return {"persistence": float(a ** (1.0 / 12.0)), "annual_persistence": float(a), "productivity_sd": float(s),
            "sunk_cost_ratio": float(lam), "relationship_loss": float(loss), "moments": moments, "targets": dict(zip(MOMENT_NAMES, goal.tolist())),
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


def fresh_panel_moments(annual_persistence, productivity_sd, sunk_cost_ratio, seeds=range(100, 108), n_firms=10000,
                        relationship_loss=0.0):
    """Mean and standard deviation of the moments over independent panels (Monte Carlo check).

    Returns
    -------
    dict
        Moment name -> (mean, sd across the panels).
    """
    rows = []
    for seed in seeds:
        got = model_moments(annual_persistence, productivity_sd, sunk_cost_ratio, draw_panel(seed, n_firms),
                            relationship_loss=relationship_loss)
        rows.append([got[m] for m in MOMENT_NAMES])
    rows = np.array(rows)
    return {m: (float(rows[:, i].mean()), float(rows[:, i].std(ddof=1))) for i, m in enumerate(MOMENT_NAMES)}
