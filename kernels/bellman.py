"""One backward step of the dynamic model's finite-horizon entry problem (``engine.firms.bellman``,
docs/model.md section 11.4) for many cells at once.

Given next month's expected values ``E W(y, z', x)`` conditional on today's ``z_j`` (already mixed
over the branch paths a firm cannot tell apart), the step forms the values of exporting and of
staying out on the ``y`` grid, keeps their maximum (this month's value) and finds, per ``z_j`` and
last status ``x``, where the advantage of exporting first crosses zero along ``y`` (linearly
interpolated: the entry threshold). One pass over the grid instead of the NumPy version's five
full-size temporaries; the arithmetic is the same, operation for operation, so results are
bitwise those of ``tests/reference_dynamic.py``'s ``backward_step``.
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def backward_step(mixed, multiplier, base_flow, cost, discount, loss, y_grid, value_out, roots_out):
    """Values and thresholds of one period for every cell.

    Parameters
    ----------
    mixed : ndarray (C, Ny, Nz, 2)
        ``E W`` next month given ``z_j`` and the status chosen now (0: out, 1: exporting).
    multiplier : ndarray (C,)
        The cell's policy multiplier ``M`` this month.
    base_flow : ndarray (Ny, Nz)
        ``exp(y + z_score[j])``.
    cost : ndarray (2,)
        Fixed cost of exporting for an entrant (``x = 0``) and an incumbent (``x = 1``).
    discount, loss : float
        Monthly discount and probability of losing the relationship.
    y_grid : ndarray (Ny,)
        Evenly spaced.
    value_out : ndarray (C, Ny, Nz, 2)
        This month's value ``max(Q_export, Q_out)``.
    roots_out : ndarray (C, Nz, 2)
        Threshold in ``y``: ``-inf`` where exporting pays on the whole grid, ``+inf`` where nowhere.
    """
    n_cells, n_y, n_z, _ = mixed.shape
    step = y_grid[1] - y_grid[0]
    for c in prange(n_cells):
        m = multiplier[c]
        for j in range(n_z):
            for x in range(2):
                first = -1
                d_low = 0.0
                d_high = 0.0
                previous = 0.0
                for iy in range(n_y):
                    out = mixed[c, iy, j, 0]
                    stay = mixed[c, iy, j, 1]
                    if loss != 0.0:
                        stay = (1.0 - loss) * stay + loss * out
                    q_export = m * base_flow[iy, j] - cost[x] + discount * stay
                    q_out = discount * out
                    value_out[c, iy, j, x] = q_export if q_export >= q_out else q_out
                    advantage = q_export - q_out
                    if first < 0 and advantage >= 0.0:
                        first = iy
                        d_high = advantage
                        d_low = previous if iy > 0 else advantage
                    previous = advantage
                if first < 0:
                    roots_out[c, j, x] = np.inf
                elif first == 0:
                    roots_out[c, j, x] = -np.inf
                else:
                    w = -d_low / (d_high - d_low) if d_high > d_low else 1.0
                    w = min(max(w, 0.0), 1.0)
                    roots_out[c, j, x] = y_grid[first - 1] + step * w


@njit(parallel=True, cache=True, error_model="numpy")
def expect(transition, value, out):
    """``out[c, y, j, x] = sum_j' transition[j, j'] value[c, y, j', x]``: ``E W`` next month given
    today's ``z_j`` (``transition @ value`` of NumPy, summed in the order of ``j'``)."""
    n_cells, n_y, n_z, n_x = value.shape
    for c in prange(n_cells):
        for iy in range(n_y):
            for j in range(n_z):
                for x in range(n_x):
                    total = 0.0
                    for k in range(n_z):
                        total += transition[j, k] * value[c, iy, k, x]
                    out[c, iy, j, x] = total
