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
  check the ranking path and as the brute-force benchmark; ``direct_cell_sums_f32`` is the same in
  float32 arithmetic (the same random numbers; results within about 1e-6, see its docstring).

Speed: the inner loops run over slices of firms in short passes that LLVM vectorises with
512-bit registers (``kernels.firm.fill_scores``, ``exp_where_active``, ``vector_sum``): no libm
calls (``kernels.fastmath`` has branch-free log, exp and sin/cos), FMA contraction
(``fastmath.FASTMATH``), one destination per pass with the pair counters stepped by addition.
Measured on the 2-core development machine (Emerald Rapids, AVX-512), default draw of 80 blocks x
20,000 firms x 10 destinations: ``direct_cell_sums`` about 250 M firm-destination evaluations per
second on 1 thread and 450-545 M on 2 (float32: about 480 M and 850 M-1 G), 30-37x the same model
in NumPy (it was 18-27 M); ``rank_cells`` 0.15-0.18 s per draw on 2 threads (was 1.0-1.1 s).
``bench/README.md`` has the numbers and the commands.
"""

import math

import numpy as np
from numba import njit, prange

from kernels.fastmath import FASTMATH, exp_bounded, exp_bounded_f32, prefer_wide_vectors
from kernels.firm import (fill_scaled_log_productivity, fill_scaled_log_productivity_f32, fill_scores,
                          fill_scores_f32, scaled_log_productivity, scores)
from kernels.rng import derive_key
from kernels.sort import sort_scores

#: Firms per inner pass of ``direct_cell_sums``: the pass's four arrays (32 KB in float64) stay in
#: the L1 cache.
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


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _rank_block(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_firms, out_entry_sorted,
                out_tail_sales):
    """``rank_cells`` for one block: outputs of shapes (R, M) and (R, M + 1)."""
    n_dest = out_entry_sorted.shape[0]
    rho_c = math.sqrt(1.0 - rho * rho)
    slp = np.empty(n_firms)
    sales = np.empty(n_firms)
    entry = np.empty(n_firms)
    weight = np.empty(n_firms)
    order = np.empty(n_firms, dtype=np.int64)
    packed = np.empty(n_firms, dtype=np.uint64)
    scratch = np.empty(n_firms, dtype=np.uint64)
    counts = np.empty(4096, dtype=np.int64)
    fill_scaled_log_productivity(productivity_key, np.uint64(0), sm1_over_theta, slp)
    for n in range(n_dest):
        for first in range(0, n_firms, SUB_CHUNK):  # slices that stay in L1 between the passes
            stop = min(first + SUB_CHUNK, n_firms)
            fill_scores(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), slp[first:stop], s_a, s_e,
                        rho, rho_c, sales[first:stop], entry[first:stop])
            exp_into(sales[first:stop], weight[first:stop])
        sort_scores(entry, out_entry_sorted[n], order, packed, scratch, counts)
        _tail_sums(order, weight, out_tail_sales[n])


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def rank_cells(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
               out_entry_sorted, out_tail_sales):
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
    out_entry_sorted : ndarray of float64, shape (B, R, M)
        Output: each cell's entry scores in ascending order.
    out_tail_sales : ndarray of float64, shape (B, R, M + 1)
        Output: ``out_tail_sales[b, n, j]`` is the sum of ``exp(sales_score)`` over the firms of rank
        ``j`` and above (so ``[j] - [j+1]`` is one firm's and ``[M] = 0``).
    """
    n_blocks = out_entry_sorted.shape[0]
    for b in prange(n_blocks):
        _rank_block(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], n_firms,
                    out_entry_sorted[b], out_tail_sales[b])


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


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_where_active(sales_score, entry_score, threshold, out):
    """``out[j] = exp(sales_score[j])`` where ``entry_score[j] >= threshold``, else 0; returns the count.

    ``exp_bounded``: a score below -708.39 adds 0 instead of a subnormal number.
    """
    prefer_wide_vectors()
    count = 0
    for j in range(sales_score.size):
        active = entry_score[j] >= threshold
        count += np.int64(active)
        out[j] = exp_bounded(sales_score[j]) if active else 0.0
    return count


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_where_active_f32(sales_score, entry_score, threshold, out):
    """float32 ``exp_where_active`` (``threshold`` rounded to float32; ``exp_bounded_f32``: a score
    above 88.37 gives ``inf``, below -87.33 adds 0)."""
    prefer_wide_vectors()
    h = np.float32(threshold)
    zero = np.float32(0.0)
    count = np.int32(0)  # int32 lanes: the loop runs 16 float32 lanes per vector (int64 would halve it)
    for j in range(sales_score.size):
        active = entry_score[j] >= h
        count = np.int32(count + np.int32(active))
        out[j] = exp_bounded_f32(sales_score[j]) if active else zero
    return np.int64(count)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def vector_sum(x):
    """Sum of ``x`` in float64, in the order of a vectorised loop (several partial sums).

    The order depends only on ``x.size`` (and the compiled vector width), never on threads.
    ``reassoc`` is set here only: it lets LLVM keep one running sum per vector lane.
    """
    prefer_wide_vectors()
    total = 0.0
    for j in range(x.size):
        total += np.float64(x[j])
    return total


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_task(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, start, stop, thresholds,
                 out_active, out_sales):
    """Cell sums of firms ``start .. stop - 1`` of one block into ``out_active``/``out_sales`` (R,)."""
    n_dest = thresholds.size
    rho_c = math.sqrt(1.0 - rho * rho)
    slp_buf = np.empty(SUB_CHUNK)
    sales_buf = np.empty(SUB_CHUNK)
    entry_buf = np.empty(SUB_CHUNK)
    weight_buf = np.empty(SUB_CHUNK)
    for first in range(start, stop, SUB_CHUNK):
        m = min(SUB_CHUNK, stop - first)
        slp = slp_buf[:m]
        sales = sales_buf[:m]
        entry = entry_buf[:m]
        weight = weight_buf[:m]
        fill_scaled_log_productivity(productivity_key, np.uint64(first), sm1_over_theta, slp)
        for n in range(n_dest):
            fill_scores(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), slp, s_a, s_e, rho, rho_c,
                        sales, entry)
            out_active[n] += exp_where_active(sales, entry, thresholds[n], weight)
            out_sales[n] += vector_sum(weight)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_task_f32(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, start, stop, thresholds,
                     out_active, out_sales):
    """float32 ``_direct_task``: scores and exp in float32, sums in float64."""
    n_dest = thresholds.size
    rho_c = math.sqrt(1.0 - rho * rho)
    slp_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    sales_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    entry_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    weight_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    for first in range(start, stop, SUB_CHUNK):
        m = min(SUB_CHUNK, stop - first)
        slp = slp_buf[:m]
        sales = sales_buf[:m]
        entry = entry_buf[:m]
        weight = weight_buf[:m]
        fill_scaled_log_productivity_f32(productivity_key, np.uint64(first), sm1_over_theta, slp)
        for n in range(n_dest):
            fill_scores_f32(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), slp, s_a, s_e, rho,
                            rho_c, sales, entry)
            out_active[n] += exp_where_active_f32(sales, entry, thresholds[n], weight)
            out_sales[n] += vector_sum(weight)


@njit(cache=True)
def _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index):
    """Add the per-task rows of each block in chunk order (fixed order: thread-count independent)."""
    n_blocks, n_dest = out_active.shape
    for b in range(n_blocks):
        for n in range(n_dest):
            active = 0
            sales = 0.0
            for c in range(n_chunks):
                active += part_active[b * n_chunks + c, n]
                sales += part_sales[b * n_chunks + c, n]
            out_active[b, n] = active
            out_sales_index[b, n] = sales


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                     thresholds, firm_chunk, out_active, out_sales_index):
    """Brute force: the same aggregates as ``evaluate_cells`` for one threshold per cell.

    Parallel over (block, chunk of ``firm_chunk`` firms) tasks; each task sums into its own row
    of a scratch array and the rows are added in chunk order afterwards, so the result does not
    depend on the number of threads (it depends on ``firm_chunk`` only through rounding).
    Within a task, firms go in slices of ``SUB_CHUNK`` through vectorised passes: the scores of
    one destination, then ``exp`` where active, then the sums (``_direct_task``).

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
        _direct_task(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], start,
                     stop, thresholds[b], part_active[task], part_sales[task])
    _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def direct_cell_sums_f32(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                         thresholds, firm_chunk, out_active, out_sales_index):
    """``direct_cell_sums`` with the scores and ``exp`` in float32 arithmetic (sums in float64).

    Same random numbers (the hashes and uniforms are those of the float64 kernel, rounded to
    float32), same arguments and outputs. Scores differ from the float64 ones by about 1e-5, so a
    firm within that distance of a threshold can be counted differently: compared with
    ``direct_cell_sums``, counts agree to a few firms per cell and sums to about 1e-5 relative
    (``tests/test_fastmath.py`` states and checks the tolerance).
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
        _direct_task_f32(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], start,
                         stop, thresholds[b], part_active[task], part_sales[task])
    _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
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
