"""CPU loops (Numba, ``prange``) over the firm population of one draw.

Layout: firms come in blocks, one per (origin i, sector k), ``b = i * n_sectors + k``; every block has
``n_firms`` simulated firms; a *cell* is (block, destination n). Kernels take preallocated outputs
last, do no I/O and hold no state. Each parallel task writes only its own output slots, and
partial sums are reduced in a fixed order, so results are bitwise identical for any thread count.

Two ways to get a cell's aggregates for a threshold ``h`` (active firms: ``entry_score >= h``):

- ``rank_cells`` + ``evaluate_cells``: sort each cell's firms by entry score once per draw and keep
  the tail sums of ``exp(sales_score)``; every later threshold (each period, each scenario,
  calibration) is then a binary search. Because the shocks of a firm-destination pair do not change
  over time, the active firms of a cell are always the top of this ranking (MODEL.md section 4).
- ``direct_cell_sums``: regenerate the random numbers and test every firm (no storage). Used to
  check the ranking path and as the brute-force benchmark.
"""

import math

import numpy as np
from numba import njit, prange

from kernels.firm import scaled_log_productivity, scores
from kernels.rng import derive_key
from kernels.sort import radix_argsort


@njit(cache=True)
def block_keys(stream_key, draw, n_blocks):
    """Keys of each block's random stream for one draw.

    Parameters
    ----------
    stream_key : uint64
        Key of the purpose stream (productivity or shocks), from the run's seed.
    draw : int
        Draw number.
    n_blocks : int
        Number of (origin, sector) blocks.

    Returns
    -------
    ndarray of uint64, shape (n_blocks,)
    """
    draw_key = derive_key(stream_key, np.uint64(draw))
    keys = np.empty(n_blocks, dtype=np.uint64)
    for b in range(n_blocks):
        keys[b] = derive_key(draw_key, np.uint64(b))
    return keys


@njit(cache=True, error_model="numpy")
def _fill_block_scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_firms,
                       n_dest, destination, scaled_log_phi, sales_score, entry_score):
    rho_c = math.sqrt(1.0 - rho * rho)
    for f in range(n_firms):
        if destination == 0:
            scaled_log_phi[f] = scaled_log_productivity(productivity_key, np.uint64(f), sm1_over_theta)
        pair = np.uint64(f * n_dest + destination)
        sales_score[f], entry_score[f] = scores(shock_key, pair, scaled_log_phi[f], s_a, s_e, rho, rho_c)


@njit(parallel=True, cache=True, error_model="numpy")
def rank_cells(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
               out_entry_sorted, out_tail_sales):
    """Sort every cell's firms by entry score and accumulate their sales from the top.

    Parameters
    ----------
    productivity_keys, shock_keys : ndarray of uint64, shape (B,)
        Per-block keys from ``block_keys``.
    sm1_over_theta, s_a, s_e, rho : ndarray of float64, shape (B,)
        Per-block ``(sigma - 1)/theta``, shock standard deviations and correlation.
    n_firms : int
        Simulated firms per block, ``M``.
    out_entry_sorted : ndarray of float64, shape (B, R, M)
        Output: each cell's entry scores in ascending order.
    out_tail_sales : ndarray of float64, shape (B, R, M + 1)
        Output: ``out_tail_sales[b, n, j]`` is the sum of ``exp(sales_score)`` over the firms of rank
        ``j`` and above (so ``[j] - [j+1]`` is one firm's and ``[M] = 0``).
    """
    n_blocks, n_dest = out_entry_sorted.shape[0], out_entry_sorted.shape[1]
    for b in prange(n_blocks):
        scaled_log_phi = np.empty(n_firms)
        sales_score = np.empty(n_firms)
        entry_score = np.empty(n_firms)
        order = np.empty(n_firms, dtype=np.int64)
        keys = np.empty(n_firms, dtype=np.uint64)
        scratch_keys = np.empty(n_firms, dtype=np.uint64)
        scratch_order = np.empty(n_firms, dtype=np.int64)
        counts = np.empty(2048, dtype=np.int64)
        for n in range(n_dest):
            _fill_block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b],
                               rho[b], n_firms, n_dest, n, scaled_log_phi, sales_score, entry_score)
            radix_argsort(entry_score, order, keys, scratch_keys, scratch_order, counts)
            sorted_scores = out_entry_sorted[b, n]
            tail = out_tail_sales[b, n]
            tail[n_firms] = 0.0
            acc = 0.0
            for j in range(n_firms - 1, -1, -1):
                f = order[j]
                sorted_scores[j] = entry_score[f]
                acc += math.exp(sales_score[f])
                tail[j] = acc


@njit(parallel=True, cache=True)
def evaluate_cells(entry_sorted, tail_sales, thresholds, out_active, out_sales_index):
    """Active firms and their summed ``exp(sales_score)`` per cell for many thresholds.

    Parameters
    ----------
    entry_sorted, tail_sales : ndarray of float64, shapes (B, R, M) and (B, R, M + 1)
        From ``rank_cells``.
    thresholds : ndarray of float64, shape (T, B, R)
        Entry thresholds; ``+inf`` closes a cell.
    out_active : ndarray of int64, shape (T, B, R)
        Output: number of simulated firms with ``entry_score >= threshold``.
    out_sales_index : ndarray of float64, shape (T, B, R)
        Output: sum of ``exp(sales_score)`` over those firms.
    """
    n_periods, n_blocks, n_dest = thresholds.shape
    n_firms = entry_sorted.shape[2]
    for b in prange(n_blocks):
        for n in range(n_dest):
            scores_bn = entry_sorted[b, n]
            for t in range(n_periods):
                first = np.searchsorted(scores_bn, thresholds[t, b, n], side="left")
                out_active[t, b, n] = n_firms - first
                out_sales_index[t, b, n] = tail_sales[b, n, first]


@njit(parallel=True, cache=True, error_model="numpy")
def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                     thresholds, firm_chunk, out_active, out_sales_index):
    """Brute force: the same aggregates as ``evaluate_cells`` for one threshold per cell.

    Parallel over (block, chunk of ``firm_chunk`` firms) tasks; each task sums into its own row
    of a scratch array and the rows are added in chunk order afterwards, so the result does not
    depend on the number of threads (it depends on ``firm_chunk`` only through rounding).

    Parameters
    ----------
    thresholds : ndarray of float64, shape (B, R)
    firm_chunk : int
        Firms per parallel task.
    out_active : ndarray of int64, shape (B, R)
    out_sales_index : ndarray of float64, shape (B, R)
    Other parameters as in ``rank_cells``.
    """
    n_blocks, n_dest = thresholds.shape
    n_chunks = (n_firms + firm_chunk - 1) // firm_chunk
    n_tasks = n_blocks * n_chunks
    part_active = np.zeros((n_tasks, n_dest), dtype=np.int64)
    part_sales = np.zeros((n_tasks, n_dest))
    for task in prange(n_tasks):
        b = task // n_chunks
        start = (task % n_chunks) * firm_chunk
        stop = min(start + firm_chunk, n_firms)
        rho_c = math.sqrt(1.0 - rho[b] * rho[b])
        for f in range(start, stop):
            slp = scaled_log_productivity(productivity_keys[b], np.uint64(f), sm1_over_theta[b])
            for n in range(n_dest):
                sales, entry = scores(shock_keys[b], np.uint64(f * n_dest + n), slp, s_a[b], s_e[b],
                                      rho[b], rho_c)
                if entry >= thresholds[b, n]:
                    part_active[task, n] += 1
                    part_sales[task, n] += math.exp(sales)
    for b in range(n_blocks):
        for n in range(n_dest):
            active = 0
            sales = 0.0
            for c in range(n_chunks):
                active += part_active[b * n_chunks + c, n]
                sales += part_sales[b * n_chunks + c, n]
            out_active[b, n] = active
            out_sales_index[b, n] = sales


@njit(cache=True, error_model="numpy")
def firm_scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, firms, n_dest,
                out_scaled_log_phi, out_sales_score, out_entry_score):
    """Scores of selected firms of one block in every destination (for firm-level output).

    Parameters
    ----------
    productivity_key, shock_key : uint64
        The block's keys for this draw.
    sm1_over_theta, s_a, s_e, rho : float
        The block's parameters.
    firms : ndarray of int64, shape (F,)
        Firm numbers within the block.
    n_dest : int
        Number of destinations.
    out_scaled_log_phi : ndarray of float64, shape (F,)
    out_sales_score, out_entry_score : ndarray of float64, shape (F, R)
    """
    rho_c = math.sqrt(1.0 - rho * rho)
    for j in range(firms.size):
        f = firms[j]
        slp = scaled_log_productivity(productivity_key, np.uint64(f), sm1_over_theta)
        out_scaled_log_phi[j] = slp
        for n in range(n_dest):
            out_sales_score[j, n], out_entry_score[j, n] = scores(
                shock_key, np.uint64(f * n_dest + n), slp, s_a, s_e, rho, rho_c)
