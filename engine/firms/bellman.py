"""Adjustment dynamics and expectations (docs/model.md section 11): firm productivity that moves
over time, forward-looking export participation with sunk entry costs, a gradual intensive margin,
and prices sticky in their invoicing currency.

The model (monthly periods; symbols as in docs/model.md section 16):

- **Firms over time.** A firm's log productivity is its permanent Pareto draw plus ``z_t``, an
  AR(1) ``z_t = rho z_(t-1) + sqrt(1 - rho^2) s_z eps_t`` discretised on an ``Nz``-point
  Rouwenhorst grid (Rouwenhorst 1995; Kopecky & Suen 2010: exact conditional mean and variance,
  accurate for ``rho`` near 1). Scores move by ``(sigma - 1) z_t``. No firm birth or death: a
  constant population, so churn is entry into and exit from export markets.
- **Sunk entry costs with expectations** (Das, Roberts & Tybout 2007; Alessandria & Choi 2007;
  Handley & Limao 2017): per cell, flow profit of exporting ``M_t exp(y + (sigma-1) z)`` in units of
  the cell's entry cost ``F eta``, where ``y = u + c`` (``u`` the permanent entry score, ``c`` the
  calibrated cell offset) and ``M_t`` the policy multiplier; an entrant pays 1, an incumbent
  ``lambda`` (the convention of docs/model.md section 4). Bellman::

      W_t(y, z, x) = max( M_t e^(y + (s-1)z) - c(x) + beta E_t W_(t+1)(y, z', 1),  beta E_t W_(t+1)(y, z', 0) )

  ``E_t`` is over ``z'`` and over the branch paths of the scenario's tree still possible at ``t``
  (branch probabilities; an outcome is known from the month of its branch date). Events are known
  from the month of their ``announced`` date (default: their own date: a surprise); branch points
  from theirs (default: the scenario start). Period 0 is the stationary baseline. Terminal value:
  the path's last policy held for ever (the stationary problem shifted, since ``W`` depends on
  ``y`` and ``log M`` only through their sum). Solution: thresholds ``y*_t(z, x)``; the firm kernel
  (``kernels.dynamic``) compares each pair's ``u`` with ``y* - c``. Exchange rates and market
  demand are expected to stay where they are (a random walk belief), which shifts thresholds by
  ``-log`` of their profit effect exactly (homogeneity).
  ``mode = "myopic"`` sets ``beta = 0``: today's rule (docs/model.md section 4); with ``s_z = 0`` it is
  the static model's ``h_t`` recursion.
- **Gradual intensive margin** (customer capital; Drozd & Nosal 2012, Fitzgerald, Haller &
  Yedid-Levi 2023): buyers re-optimise their purchases gradually, so a cell's quantities move toward
  the frictionless CES level with half-life ``h``: ``q_t = d q_(t-1) + (1 - d) q*_t``,
  ``d = 2^(-1/h)``. It holds back quantities, not prices; it is a matching friction, not a taste
  shifter, so price indices use prices only. Idiosyncratic ``z`` moves sales at once.
- **Pricing to market and invoicing currency** (Gopinath et al. 2020, dominant currency pricing):
  tariff pass-through ``kappa`` sets the exporter's customs price at once (state-dependent: the
  2025 cuts in Japanese car export prices were immediate and large, Bank of Japan export price
  index); the exchange-rate part of prices is sticky in the invoicing currency: a share ``iota`` of
  trade is priced in dollars and resets with monthly probability ``lambda_p`` (Calvo), the rest in
  the producer's currency. The exporter's margin absorbs the difference.

``mode = "static"`` keeps the static model of ``engine.firms.static`` exactly (ranking kernel).
"""

from dataclasses import dataclass

import numpy as np

from kernels.bellman import backward_step, expect

#: Points of the grid of the profit score ``y`` on which the Bellman problem is solved.
Y_POINTS = 241


def rouwenhorst(n_points, persistence, stationary_sd):
    """Rouwenhorst discretisation of an AR(1) with the given persistence and stationary sd.

    Returns
    -------
    grid : ndarray (n,)
    transition : ndarray (n, n)
        Rows sum to 1.
    invariant : ndarray (n,)
        Binomial(n - 1, 1/2).
    """
    if n_points == 1 or stationary_sd == 0.0:
        return np.zeros(1), np.ones((1, 1)), np.ones(1)
    p = (1.0 + persistence) / 2.0
    matrix = np.array([[p, 1.0 - p], [1.0 - p, p]])
    for size in range(3, n_points + 1):
        grown = np.zeros((size, size))
        grown[:-1, :-1] += p * matrix
        grown[:-1, 1:] += (1.0 - p) * matrix
        grown[1:, :-1] += (1.0 - p) * matrix
        grown[1:, 1:] += p * matrix
        grown[1:-1] /= 2.0
        matrix = grown
    psi = stationary_sd * np.sqrt(n_points - 1.0)
    from math import comb

    invariant = np.array([comb(n_points - 1, j) for j in range(n_points)], dtype=float) / 2.0 ** (n_points - 1)
    return np.linspace(-psi, psi, n_points), matrix, invariant


@dataclass(frozen=True, eq=False)
class Chain:
    """The discretised productivity process shared by all firms of a draw."""

    grid: np.ndarray
    transition: np.ndarray
    invariant: np.ndarray

    @property
    def cum_transition(self):
        return np.cumsum(self.transition, axis=1)

    @property
    def cum_invariant(self):
        return np.cumsum(self.invariant)


def _threshold_roots(advantage, y_grid):
    """Where ``advantage`` (..., Ny, S) first crosses zero along the y axis, linearly interpolated.

    Returns (..., S): ``-inf`` where it is non-negative on the whole grid, ``+inf`` where negative.
    """
    positive = advantage >= 0.0
    first = np.argmax(positive, axis=-2)  # (..., S)
    anywhere = positive.any(axis=-2)
    lower = np.maximum(first - 1, 0)
    d_high = np.take_along_axis(advantage, first[..., None, :], axis=-2)[..., 0, :]
    d_low = np.take_along_axis(advantage, lower[..., None, :], axis=-2)[..., 0, :]
    step = y_grid[1] - y_grid[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(d_high > d_low, -d_low / (d_high - d_low), 1.0)
    root = y_grid[lower] + step * np.clip(w, 0.0, 1.0)
    root = np.where(first == 0, -np.inf, root)
    return np.where(anywhere, root, np.inf)


@dataclass(frozen=True, eq=False)
class Stationary:
    """Stationary solution of one sector's problem at ``M = 1`` on a grid of ``y``.

    Attributes
    ----------
    y_grid : ndarray (Ny,)
    value : ndarray (Ny, Nz, 2)
        ``W(y, z_j, x_prev)``.
    thresholds : ndarray (Nz, 2)
        ``y*`` for entrants (``[:, 0]``) and incumbents (``[:, 1]``).
    status_prob : ndarray (Nz, Ny)
        Invariant probability of last-period status 1 given ``(z_j, y)``, non-decreasing in ``y``.
    """

    y_grid: np.ndarray
    value: np.ndarray
    thresholds: np.ndarray
    status_prob: np.ndarray


def _flow(y_grid, z_score, multiplier=1.0):
    return multiplier * np.exp(y_grid[..., :, None] + z_score)  # (..., Ny, Nz)


def y_grid_for(z_score, sunk_cost_ratio, points=Y_POINTS):
    """A grid of ``y`` wide enough for every threshold: from far below the incumbents' static
    threshold at the best ``z`` to well above the entrants' one at the worst."""
    low = np.log(sunk_cost_ratio) - z_score.max() - 8.0
    high = -z_score.min() + 6.0
    return np.linspace(low, high, points)


def _status_transition(decision, transition, loss):
    """(Ny, Nz, 2, Nz, 2): from ``(z_j, x_prev)`` to ``(z_j', x_next)`` under ``decision`` (Ny, Nz, 2):
    an exporter keeps its relationship with probability ``1 - loss`` (``x_next = 1``) and loses it
    with ``loss`` (``x_next = 0``: it must pay the entry cost again; docs/model.md section 11.2)."""
    n_y, n_z, _ = decision.shape
    chosen = decision[..., None].astype(float)  # (Ny, Nz, 2, 1)
    matrix = np.zeros((n_y, n_z, 2, n_z, 2))
    matrix[..., 1] = chosen * (1.0 - loss) * transition[None, :, None, :]
    matrix[..., 0] = (1.0 - chosen * (1.0 - loss)) * transition[None, :, None, :]
    return matrix


def _continuation(expected, loss):
    """``E W`` next month after exporting now: the relationship survives with ``1 - loss``."""
    if loss == 0.0:
        return expected[..., 1:2]
    return (1.0 - loss) * expected[..., 1:2] + loss * expected[..., 0:1]


def solve_stationary(z_score, chain, discount, sunk_cost_ratio, y_grid, loss=0.0):
    """Policy iteration on the stationary problem, every ``y`` of the grid at once (``loss``: the
    monthly probability that an exporter loses its relationship, section 11.2)."""
    n_y, n_z = y_grid.size, z_score.size
    cost = np.array([1.0, sunk_cost_ratio])
    flow = _flow(y_grid, z_score)  # (Ny, Nz)
    reward1 = flow[..., None] - cost  # (Ny, Nz, 2): export now, by last status
    decision = reward1 > 0.0
    transition = chain.transition
    value = np.zeros((n_y, n_z, 2))
    for _ in range(200):
        if discount > 0.0:
            # states s = 2 j + x_prev; from (j, x_prev) to (j', decision) with P[j, j']
            matrix = _status_transition(decision, transition, loss)
            system = np.eye(2 * n_z)[None] - discount * matrix.reshape(n_y, 2 * n_z, 2 * n_z)
            value = np.linalg.solve(system, np.where(decision, reward1, 0.0).reshape(n_y, 2 * n_z, 1))
            value = value.reshape(n_y, n_z, 2)
        expected = transition @ value  # E W(y, z', x_next) given z_j: (Ny, Nz, 2)
        q_export = reward1 + discount * _continuation(expected, loss)
        q_stay_out = discount * expected[..., 0:1]
        new_decision = q_export > q_stay_out
        if discount == 0.0 or np.array_equal(new_decision, decision):
            value = np.maximum(q_export, q_stay_out)
            break
        decision = new_decision
    else:
        raise RuntimeError("policy iteration did not converge")
    advantage = q_export - q_stay_out  # (Ny, Nz, 2)
    thresholds = _threshold_roots(advantage.reshape(n_y, 2 * n_z), y_grid).reshape(n_z, 2)
    status = _invariant_status(decision, transition, loss)
    return Stationary(y_grid=y_grid, value=value, thresholds=thresholds, status_prob=status)


def _invariant_status(decision, transition, loss=0.0):
    """P(last status = 1 | z_j, y) in the long-run distribution of the chain on (z, x_prev), the
    status after this month's loss of relationships (``loss``).

    The chain is started from the invariant ``z`` distribution and no exporting (a firm that
    never exported) and run for 2**14 months by repeated squaring. Where the invariant
    distribution is unique (productivity shocks: ``z`` mixes) this is it; without shocks, firms
    inside the sunk-cost band keep the status they start with, so they are non-exporters: the
    static model's baseline, where exactly the firms above the entrants' threshold export.
    """
    n_y, n_z, _ = decision.shape
    power = _status_transition(decision, transition, loss).reshape(n_y, 2 * n_z, 2 * n_z)
    for _ in range(14):
        power = power @ power
    start = np.zeros(2 * n_z)
    grid_invariant = np.linalg.matrix_power(transition, 2**14)[0] if n_z > 1 else np.ones(1)
    start[0::2] = grid_invariant
    pi = np.einsum("s,yst->yt", start, power).reshape(n_y, n_z, 2)
    total = pi.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(total > 1e-300, pi[..., 1] / total, 0.0)
    prob = np.maximum.accumulate(np.clip(prob, 0.0, 1.0), axis=0)
    return np.ascontiguousarray(prob.T)  # (Nz, Ny)


def shifted_values(stationary, shift):
    """``W(y + shift)`` of the stationary solution for per-cell shifts (C,): (C, Ny, Nz, 2), clamped."""
    y = stationary.y_grid
    step = y[1] - y[0]
    position = np.clip((y[None, :] + shift[:, None] - y[0]) / step, 0.0, y.size - 1.0)
    j = np.minimum(position.astype(np.int64), y.size - 2)
    w = (position - j)[..., None, None]
    return stationary.value[j] * (1.0 - w) + stationary.value[j + 1] * w


def backward_thresholds(stationary, z_score, chain, discount, sunk_cost_ratio, multipliers, info_keys,
                        probabilities, first_period, loss=0.0):
    """Thresholds of the finite-horizon problem with beliefs over branch paths.

    Parameters
    ----------
    multipliers : ndarray (J, T, C)
        Policy multiplier ``M`` of each belief path, period and cell (this sector's cells).
    info_keys : list (T) of list (J) of hashable
        Paths with equal keys in period ``t`` cannot be told apart in ``t``.
    probabilities : ndarray (J,)
    first_period : int
        Solve back to this period.
    loss : float
        Monthly probability that an exporter loses its relationship (as ``solve_stationary``).

    Returns
    -------
    ndarray (J, T, C, Nz, 2) of thresholds in ``y`` (periods before ``first_period``: nan).
    """
    n_paths, n_periods, n_cells = multipliers.shape
    y = stationary.y_grid
    n_z = z_score.size
    cost = np.array([1.0, sunk_cost_ratio])
    out = np.full((n_paths, n_periods, n_cells, n_z, 2), np.nan)
    with np.errstate(divide="ignore"):
        terminal = np.where(multipliers[:, -1] > 0, np.log(np.maximum(multipliers[:, -1], 1e-300)), -1e3)
    values = [shifted_values(stationary, terminal[j]) for j in range(n_paths)]  # W_(T) per path: (C, Ny, Nz, 2)
    base_flow = np.ascontiguousarray(np.exp(y[:, None] + z_score))  # (Ny, Nz)
    transition = np.ascontiguousarray(chain.transition)
    for t in range(n_periods - 1, first_period - 1, -1):
        # E W(y, z', x) given z_j (kernels.bellman: one pass, no temporaries)
        expected = [np.empty(v.shape) for v in values]
        for v, e in zip(values, expected):
            expect(transition, np.ascontiguousarray(v), e)
        keys = info_keys[t]
        new_values = []
        for j in range(n_paths):
            same = [k for k in range(n_paths) if keys[k] == keys[j]]
            if len(same) == 1:  # the path is known this month (1.0 x expected, exactly)
                mixed = expected[j]
            else:
                weight = probabilities[same] / probabilities[same].sum()
                mixed = sum(w * expected[k] for w, k in zip(weight, same))  # (C, Ny, Nz, 2)
            value = np.empty(mixed.shape)
            backward_step(np.ascontiguousarray(mixed), np.ascontiguousarray(multipliers[j, t]), base_flow, cost,
                          discount, loss, y, value, out[j, t])
            new_values.append(value)
        values = new_values
    return out
