"""Tail sums of the firm-destination fixed-cost shocks, from the ranking arrays (no I/O, no state).

A firm that sells in a cell pays the fixed cost ``F * eta * c`` (docs/model.md section 4), with
``eta = exp(s_e * e) = exp(sales_score - entry_score)``. The general-equilibrium closure needs the
fixed costs paid in each cell (they are labour income of the region whose labour provides them),
so it needs ``sum eta`` over the active firms, the top of the cell's ranking. ``kernels.static.rank_cells``
keeps, per cell, the entry scores sorted ascending and the tail sums of ``exp(sales_score)``; the
sales of the firm of rank ``j`` is the difference of two neighbouring tail sums, so

    eta_j = (tail_sales[j] - tail_sales[j + 1]) * exp(-entry_sorted[j])

and ``tail_cost[j] = sum_{l >= j} eta_l`` is accumulated from the top rank down, in the same order
as ``tail_sales``. The difference loses about ``eps * tail_sales[j] / exp(sales_score_j)`` relatively,
which stays far below the model's other approximations for populations up to 10^7 firms.
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def cost_tails(entry_sorted, tail_sales, out_tail_cost):
    """Tail sums of ``eta = exp(sales_score - entry_score)`` in every cell's ranking.

    Parameters
    ----------
    entry_sorted : ndarray of float64, shape (B, R, M)
        Entry scores sorted ascending (``rank_cells``).
    tail_sales : ndarray of float64, shape (B, R, M + 1)
        ``tail_sales[b, n, j]`` = sum of ``exp(sales_score)`` of the firms of rank ``j`` and above.
    out_tail_cost : ndarray of float64, shape (B, R, M + 1)
        Output: ``out[b, n, j]`` = sum of ``eta`` over the firms of rank ``j`` and above; ``out[..., M] = 0``.
    """
    n_blocks, n_dest, n_firms = entry_sorted.shape
    for b in prange(n_blocks):
        for n in range(n_dest):
            acc = 0.0
            out_tail_cost[b, n, n_firms] = 0.0
            for k in range(n_firms):
                j = n_firms - 1 - k
                sales = tail_sales[b, n, j] - tail_sales[b, n, j + 1]
                acc += sales * np.exp(-entry_sorted[b, n, j])
                out_tail_cost[b, n, j] = acc


@njit(cache=True, error_model="numpy")
def marginal_aggregates(entry_sorted, tail_sales, tail_count, tail_cost, thresholds, out_active, out_sales, out_cost):
    """Active real firms, sales index and cost index per cell at each threshold, with the marginal-firm
    rule of ``engine.firms.static.Population.evaluate`` (the highest-scoring non-seller phases in linearly
    as the threshold falls from the next seller's score to its own; above the top firm a virtual
    next score one top gap higher).

    Serial on purpose: the general-equilibrium solver calls it with a handful of thresholds per
    cell many times per period, where a thread pool costs more than the binary searches.

    Parameters
    ----------
    entry_sorted : ndarray (B, R, M)
    tail_sales, tail_count, tail_cost : ndarray (B, R, M + 1)
    thresholds : ndarray (T, B, R)
    out_active, out_sales, out_cost : ndarray (T, B, R)
    """
    n_periods, n_blocks, n_dest = thresholds.shape
    m = entry_sorted.shape[2]
    for t in range(n_periods):
        for b in range(n_blocks):
            for n in range(n_dest):
                scores = entry_sorted[b, n]
                h = thresholds[t, b, n]
                first = np.searchsorted(scores, h, side="left")
                active = tail_count[b, n, first]
                sales = tail_sales[b, n, first]
                cost = tail_cost[b, n, first]
                if first >= 1:
                    u_marginal = scores[first - 1]
                    if first < m:
                        u_next = scores[first]
                    else:
                        u_next = 2.0 * scores[m - 1] - scores[max(m - 2, 0)]
                    gap = u_next - u_marginal
                    if gap > 0:
                        fraction = min(max((u_next - h) / gap, 0.0), 1.0)
                        active += fraction * (tail_count[b, n, first - 1] - tail_count[b, n, first])
                        sales += fraction * (tail_sales[b, n, first - 1] - tail_sales[b, n, first])
                        cost += fraction * (tail_cost[b, n, first - 1] - tail_cost[b, n, first])
                out_active[t, b, n] = active
                out_sales[t, b, n] = sales
                out_cost[t, b, n] = cost
