"""Tail sums of the firm-destination fixed-cost shocks, from the ranking arrays (no I/O, no state).

A firm that sells in a cell pays the fixed cost ``F * eta * c`` (MODEL.md section 4), with
``eta = exp(s_e * e) = exp(sales_score - entry_score)``. The general-equilibrium closure needs the
fixed costs paid in each cell (they are labour income of the region whose labour provides them),
so it needs ``sum eta`` over the active firms, the top of the cell's ranking. ``kernels.cpu.rank_cells``
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
