"""CPU loops (Numba, ``prange``) of the static model over the firm population of one draw; the
dynamic model's are in ``kernels.dynamic``.

Layout: firms come in blocks, one per (origin i, sector k), ``b = i * n_sectors + k``; every block has
``n_firms`` simulated firms; a *cell* is (block, destination n). Kernels take preallocated outputs
last, do no I/O and hold no state. Each parallel task writes only its own output slots, and
partial sums are reduced in a fixed order, so results are bitwise identical for any thread count.

A cell's aggregates for a threshold ``h`` (active firms: ``entry_score >= h``) come from
``rank_cells`` + ``evaluate_cells``: sort each cell's firms by entry score once per draw and keep
the tail sums of ``exp(sales_score)``; every later threshold (each period, each scenario,
calibration) is then a binary search. Because the shocks of a firm-destination pair do not change
over time, the active firms of a cell are always the top of this ranking (docs/model.md section 4).
The brute-force alternative (regenerate the random numbers and test every firm, no storage:
``direct_cell_sums``) checks this path and is the benchmark; it is in ``kernels.reference.static``.

Speed: the inner loops run over slices of firms in short passes that LLVM vectorises with
512-bit registers (``kernels.firm.fill_scores``, ``exp_into``): no libm calls (``kernels.fastmath``
has branch-free log, exp and sin/cos), FMA contraction (``fastmath.FASTMATH``), one destination per
pass with the pair counters stepped by addition. Measured on the 2-core development machine
(Emerald Rapids, AVX-512), default draw of 80 blocks x 20,000 firms x 10 destinations:
``rank_cells`` 0.15-0.18 s per draw on 2 threads (was 1.0-1.1 s). ``bench/README.md`` has the
numbers and the commands.
"""

import math

import numpy as np
from numba import njit, prange

from kernels.fastmath import FASTMATH, exp_bounded, prefer_wide_vectors
from kernels.firm import (fill_scaled_log_productivity, fill_scores, half_sign, scaled_log_productivity, scores,
                          stratum_offset)
from kernels.rng import derive_key
from kernels.sort import sort_scores

#: Firms per inner pass of ``rank_cells`` (and of ``kernels.reference.static.direct_cell_sums``): the
#: pass's four arrays (32 KB in float64) stay in the L1 cache.
SUB_CHUNK = 1024


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


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_into(x, out):
    """``out[j] = exp(x[j])`` (vectorised; ``exp_bounded``: results below 2**-1022 are 0)."""
    prefer_wide_vectors()
    for j in range(x.size):
        out[j] = exp_bounded(x[j])


@njit(cache=True, error_model="numpy")
def _tail_sums(order, weight, tail):
    """``tail[j] = sum(weight[order[j:]])`` accumulated from the top rank down; ``tail[n] = 0``."""
    n = order.size
    tail[n] = 0.0
    acc = 0.0
    for k in range(n):
        j = n - 1 - k
        acc += weight[order[j]]
        tail[j] = acc


@njit(cache=True)
def rotated(values, offset, out):
    """``out[f] = values[(f + offset) % n]``: a block's strata as its firms take them in one destination."""
    n = values.size
    for f in range(n):
        k = f + offset
        out[f] = values[k - n if k >= n else k]


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _rank_block(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
                strata_weight, out_entry_sorted, out_tail_sales, out_tail_count, out_tail_split):
    """``rank_cells`` for one block: outputs of shapes (R, M), (R, M + 1), (R, M + 1) and (R, M + 1)."""
    n_dest = out_entry_sorted.shape[0]
    rho_c = math.sqrt(1.0 - rho * rho)
    slp = np.empty(n_firms)
    sales = np.empty(n_firms)
    entry = np.empty(n_firms)
    weight = np.empty(n_firms)
    low = np.empty(n_firms)
    width = np.empty(n_firms)
    pair_weight = np.empty(n_firms)
    signed = np.empty(n_firms)
    order = np.empty(n_firms, dtype=np.int64)
    packed = np.empty(n_firms, dtype=np.uint64)
    scratch = np.empty(n_firms, dtype=np.uint64)
    counts = np.empty(4096, dtype=np.int64)
    fill_scaled_log_productivity(productivity_key, np.uint64(0), sm1_over_theta, slp)
    for n in range(n_dest):
        offset = np.int64(stratum_offset(shock_key, n, n_firms))
        rotated(strata_low, offset, low)
        rotated(strata_width, offset, width)
        rotated(strata_weight, offset, pair_weight)
        for first in range(0, n_firms, SUB_CHUNK):  # slices that stay in L1 between the passes
            stop = min(first + SUB_CHUNK, n_firms)
            fill_scores(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), low[first:stop],
                        width[first:stop], slp[first:stop], s_a, s_e, rho, rho_c, sales[first:stop],
                        entry[first:stop])
            exp_into(sales[first:stop], weight[first:stop])
        for f in range(n_firms):
            weight[f] *= pair_weight[f]  # the real pairs it stands for (engine.firms.sampling)
            signed[f] = half_sign(f, pair_weight[f]) * weight[f]
        sort_scores(entry, out_entry_sorted[n], order, packed, scratch, counts)
        _tail_sums(order, weight, out_tail_sales[n])
        _tail_sums(order, pair_weight, out_tail_count[n])
        _tail_sums(order, signed, out_tail_split[n])


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def rank_cells(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
               strata_weight, out_entry_sorted, out_tail_sales, out_tail_count, out_tail_split):
    """Sort every cell's firms by entry score and accumulate their sales from the top.

    Parallel over blocks. Per destination, the scores of the block's firms are drawn in
    vectorised slices (``kernels.firm.fill_scores``, then ``exp``), sorted with
    ``kernels.sort.sort_scores`` and summed from the top rank down.

    Parameters
    ----------
    productivity_keys, shock_keys : ndarray of uint64, shape (B,)
        Per-block keys from ``block_keys``.
    sm1_over_theta, s_a, s_e, rho : ndarray of float64, shape (B,)
        Per-block ``(sigma - 1)/theta``, shock standard deviations and correlation.
    n_firms : int
        Simulated firms per block, ``M``.
    strata_low, strata_width, strata_weight : ndarray of float64, shape (B, M)
        Each block's strata of the demand shock and the real pairs a pair in each stands for
        (``engine.firms.sampling``); firm ``f`` takes stratum ``(f + stratum_offset) % M``.
    out_entry_sorted : ndarray of float64, shape (B, R, M)
        Output: each cell's entry scores in ascending order.
    out_tail_sales : ndarray of float64, shape (B, R, M + 1)
        Output: ``out_tail_sales[b, n, j]`` is the sum of ``weight * exp(sales_score)`` over the pairs
        of rank ``j`` and above (so ``[j] - [j+1]`` is one pair's, for all the real pairs it stands
        for, and ``[M] = 0``).
    out_tail_count : ndarray of float64, shape (B, R, M + 1)
        Output: the same sums of the weights: real pairs of rank ``j`` and above.
    out_tail_split : ndarray of float64, shape (B, R, M + 1)
        Output: the sums of ``out_tail_sales`` with each pair's term times its ``kernels.firm.half_sign``
        (``+1`` odd firm, ``-1`` even firm, ``0`` certainty pair): the cell's two half-populations
        above rank ``j`` sum to ``tail_sales +- tail_split`` (docs/model.md section 8.2).
    """
    n_blocks = out_entry_sorted.shape[0]
    for b in prange(n_blocks):
        _rank_block(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], n_firms,
                    strata_low[b], strata_width[b], strata_weight[b], out_entry_sorted[b], out_tail_sales[b],
                    out_tail_count[b], out_tail_split[b])


@njit(parallel=True, cache=True)
def evaluate_cells(entry_sorted, tail_sales, thresholds, out_first, out_sales_index):
    """The lowest active rank and the weighted sum of ``exp(sales_score)`` of the active pairs per
    cell, for many thresholds.

    Parameters
    ----------
    entry_sorted, tail_sales : ndarray of float64, shapes (B, R, M) and (B, R, M + 1)
        From ``rank_cells``.
    thresholds : ndarray of float64, shape (T, B, R)
        Entry thresholds; ``+inf`` closes a cell.
    out_first : ndarray of int64, shape (T, B, R)
        Output: rank of the lowest pair with ``entry_score >= threshold`` (``M``: none); the real
        pairs active are ``tail_count[..., first]``.
    out_sales_index : ndarray of float64, shape (T, B, R)
        Output: ``tail_sales[..., first]``.
    """
    n_periods, n_blocks, n_dest = thresholds.shape
    for b in prange(n_blocks):
        for n in range(n_dest):
            scores_bn = entry_sorted[b, n]
            for t in range(n_periods):
                first = np.searchsorted(scores_bn, thresholds[t, b, n], side="left")
                out_first[t, b, n] = first
                out_sales_index[t, b, n] = tail_sales[b, n, first]


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def firm_scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, strata, firms, n_dest,
                out_scaled_log_phi, out_sales_score, out_entry_score, out_weight):
    """Scores of selected firms of one block in every destination (for firm-level output).

    Parameters
    ----------
    productivity_key, shock_key : uint64
        The block's keys for this draw.
    sm1_over_theta, s_a, s_e, rho : float
        The block's parameters.
    strata : ndarray (3, M)
        The block's strata low edges, widths and weights (``engine.firms.sampling``).
    firms : ndarray of int64, shape (F,)
        Firm numbers within the block.
    n_dest : int
        Number of destinations.
    out_scaled_log_phi : ndarray of float64, shape (F,)
    out_sales_score, out_entry_score : ndarray of float64, shape (F, R)
    out_weight : ndarray of float64, shape (F, R)
        The real pairs each pair stands for.
    """
    rho_c = math.sqrt(1.0 - rho * rho)
    m = strata.shape[1]
    for j in range(firms.size):
        f = firms[j]
        slp = scaled_log_productivity(productivity_key, np.uint64(f), sm1_over_theta)
        out_scaled_log_phi[j] = slp
        for n in range(n_dest):
            k = (f + np.int64(stratum_offset(shock_key, n, m))) % m
            out_sales_score[j, n], out_entry_score[j, n] = scores(
                shock_key, np.uint64(f * n_dest + n), strata[0, k], strata[1, k], slp, s_a, s_e, rho, rho_c)
            out_weight[j, n] = strata[2, k]
