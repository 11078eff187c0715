"""The brute-force cell sums on the CPU (reference and benchmark; not on the product path, see
``kernels.reference``): regenerate the random numbers and test every firm, no storage.

``direct_cell_sums`` gives, per cell, the real active pairs and the weighted sum of
``exp(sales_score)`` that ``kernels.static.rank_cells`` + ``evaluate_cells`` give by ranking (tests
check that the two agree): every pair is drawn in its stratum of the demand shock
(``engine.firms.sampling``; firm ``f`` takes stratum ``(f + stratum_offset) % M`` in each destination)
and stands for the real pairs of its stratum's weight. ``direct_cell_sums_f32`` is the same in float32
arithmetic (the same random numbers, from ``kernels.reference.float32``; results within about 1e-6,
see its docstring). Layout and determinism as in ``kernels.static``: each parallel task (a chunk of
``firm_chunk`` firms of one block) writes its own partial sums, reduced in a fixed order.

Speed: the inner loops run over slices of firms in short passes (``kernels.firm.fill_scores``,
``exp_where_active``, ``vector_sum``); both normal quantiles are branch-free and vectorise. Measured
on the 2-core development machine (Emerald Rapids, AVX-512, shared), default draw of 80 blocks x
20,000 firms x 10 destinations: ``direct_cell_sums`` about 81 M firm-destination evaluations per
second (float32: about 168 M); with Box-Muller normals it was 314 M on 1 thread and 616 M on 2
(float32 627 M and 1.25 G). ``bench/README.md`` has the numbers and the commands.
"""

import math

import numpy as np
from numba import njit, prange

from kernels.fastmath import FASTMATH, exp_bounded, prefer_wide_vectors
from kernels.firm import fill_scaled_log_productivity, fill_scores, stratum_offset
from kernels.reference.float32 import exp_bounded_f32, fill_scaled_log_productivity_f32, fill_scores_f32
from kernels.static import SUB_CHUNK


@njit(cache=True, error_model="numpy")
def take_rotated(values, start, out):
    """``out[j] = values[(start + j) % n]`` for ``j < out.size <= n``: the strata of a slice of firms in
    one destination (firm ``f`` takes stratum ``(f + offset) % n``, ``kernels.firm.stratum_offset``)."""
    n = values.size
    k = start % n
    head = min(out.size, n - k)
    out[:head] = values[k:k + head]
    out[head:] = values[:out.size - head]


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_where_active(sales_score, entry_score, threshold, pair_weight, out_sales, out_count):
    """Where ``entry_score[j] >= threshold``: ``out_sales[j] = exp(sales_score[j]) * pair_weight[j]`` and
    ``out_count[j] = pair_weight[j]`` (the real pairs the pair stands for); 0 elsewhere.

    ``exp_bounded``: a score below -708.39 adds 0 instead of a subnormal number. The product is the
    one ``kernels.static.rank_cells`` sums.
    """
    prefer_wide_vectors()
    for j in range(sales_score.size):
        active = entry_score[j] >= threshold
        out_count[j] = pair_weight[j] if active else 0.0
        out_sales[j] = exp_bounded(sales_score[j]) * pair_weight[j] if active else 0.0


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_where_active_f32(sales_score, entry_score, threshold, pair_weight, out_sales, out_count):
    """float32 ``exp_where_active`` (``threshold`` rounded to float32; ``exp_bounded_f32``: a score
    above 88.37 gives ``inf``, below -87.33 adds 0); the weights and the products are float64."""
    prefer_wide_vectors()
    h = np.float32(threshold)
    for j in range(sales_score.size):
        active = entry_score[j] >= h
        out_count[j] = pair_weight[j] if active else 0.0
        out_sales[j] = np.float64(exp_bounded_f32(sales_score[j])) * pair_weight[j] if active else 0.0


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


@njit(cache=True)
def _destination_offsets(shock_key, n_dest, n_firms):
    """``stratum_offset`` of each destination (R,)."""
    offsets = np.empty(n_dest, dtype=np.int64)
    for n in range(n_dest):
        offsets[n] = np.int64(stratum_offset(shock_key, n, n_firms))
    return offsets


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_task(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, strata_low, strata_width, strata_weight,
                 start, stop, thresholds, out_active, out_sales):
    """Cell sums of firms ``start .. stop - 1`` of one block into ``out_active``/``out_sales`` (R,)."""
    n_dest = thresholds.size
    rho_c = math.sqrt(1.0 - rho * rho)
    offsets = _destination_offsets(shock_key, n_dest, strata_low.size)
    slp_buf = np.empty(SUB_CHUNK)
    sales_buf = np.empty(SUB_CHUNK)
    entry_buf = np.empty(SUB_CHUNK)
    low_buf = np.empty(SUB_CHUNK)
    width_buf = np.empty(SUB_CHUNK)
    weight_buf = np.empty(SUB_CHUNK)
    weighted_buf = np.empty(SUB_CHUNK)
    count_buf = np.empty(SUB_CHUNK)
    for first in range(start, stop, SUB_CHUNK):
        m = min(SUB_CHUNK, stop - first)
        slp = slp_buf[:m]
        sales = sales_buf[:m]
        entry = entry_buf[:m]
        low = low_buf[:m]
        width = width_buf[:m]
        weight = weight_buf[:m]
        weighted = weighted_buf[:m]
        count = count_buf[:m]
        fill_scaled_log_productivity(productivity_key, np.uint64(first), sm1_over_theta, slp)
        for n in range(n_dest):
            take_rotated(strata_low, first + offsets[n], low)
            take_rotated(strata_width, first + offsets[n], width)
            take_rotated(strata_weight, first + offsets[n], weight)
            fill_scores(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), low, width, slp, s_a, s_e, rho,
                        rho_c, sales, entry)
            exp_where_active(sales, entry, thresholds[n], weight, weighted, count)
            out_active[n] += vector_sum(count)
            out_sales[n] += vector_sum(weighted)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_task_f32(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, strata_low, strata_width,
                     strata_weight, start, stop, thresholds, out_active, out_sales):
    """float32 ``_direct_task``: scores and exp in float32; strata, weights and sums in float64."""
    n_dest = thresholds.size
    rho_c = math.sqrt(1.0 - rho * rho)
    offsets = _destination_offsets(shock_key, n_dest, strata_low.size)
    slp_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    sales_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    entry_buf = np.empty(SUB_CHUNK, dtype=np.float32)
    low_buf = np.empty(SUB_CHUNK)
    width_buf = np.empty(SUB_CHUNK)
    weight_buf = np.empty(SUB_CHUNK)
    weighted_buf = np.empty(SUB_CHUNK)
    count_buf = np.empty(SUB_CHUNK)
    for first in range(start, stop, SUB_CHUNK):
        m = min(SUB_CHUNK, stop - first)
        slp = slp_buf[:m]
        sales = sales_buf[:m]
        entry = entry_buf[:m]
        low = low_buf[:m]
        width = width_buf[:m]
        weight = weight_buf[:m]
        weighted = weighted_buf[:m]
        count = count_buf[:m]
        fill_scaled_log_productivity_f32(productivity_key, np.uint64(first), sm1_over_theta, slp)
        for n in range(n_dest):
            take_rotated(strata_low, first + offsets[n], low)
            take_rotated(strata_width, first + offsets[n], width)
            take_rotated(strata_weight, first + offsets[n], weight)
            fill_scores_f32(shock_key, np.uint64(first * n_dest + n), np.uint64(n_dest), low, width, slp, s_a, s_e,
                            rho, rho_c, sales, entry)
            exp_where_active_f32(sales, entry, thresholds[n], weight, weighted, count)
            out_active[n] += vector_sum(count)
            out_sales[n] += vector_sum(weighted)


@njit(cache=True)
def _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index):
    """Add the per-task rows of each block in chunk order (fixed order: thread-count independent)."""
    n_blocks, n_dest = out_active.shape
    for b in range(n_blocks):
        for n in range(n_dest):
            active = 0.0
            sales = 0.0
            for c in range(n_chunks):
                active += part_active[b * n_chunks + c, n]
                sales += part_sales[b * n_chunks + c, n]
            out_active[b, n] = active
            out_sales_index[b, n] = sales


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
                     strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
    """Brute force: the same aggregates as ``rank_cells`` + ``evaluate_cells`` for one threshold per cell.

    Every pair is drawn as in ``rank_cells`` (firm ``f`` of block ``b`` in destination ``n`` in stratum
    ``(f + stratum_offset) % M`` of the block's strata, ``engine.firms.sampling``) and weighted by the
    real pairs it stands for: ``out_active`` is ``tail_count[first]`` and ``out_sales_index`` is
    ``tail_sales[first]`` of the ranking path, up to the order of the float64 additions.

    Parallel over (block, chunk of ``firm_chunk`` firms) tasks; each task sums into its own row
    of a scratch array and the rows are added in chunk order afterwards, so the result does not
    depend on the number of threads (it depends on ``firm_chunk`` only through rounding).
    Within a task, firms go in slices of ``SUB_CHUNK`` through vectorised passes: the scores of
    one destination, then ``exp`` and the weights where active, then the sums (``_direct_task``).

    Parameters
    ----------
    strata_low, strata_width, strata_weight : ndarray of float64, shape (B, M)
        As in ``rank_cells``.
    thresholds : ndarray of float64, shape (B, R)
    firm_chunk : int
        Firms per parallel task.
    out_active : ndarray of float64, shape (B, R)
        Real pairs active: the sum of the weights of the pairs with ``entry_score >= threshold``.
    out_sales_index : ndarray of float64, shape (B, R)
        The sum of ``weight * exp(sales_score)`` over them.
    Other parameters as in ``rank_cells``.
    """
    n_blocks, n_dest = thresholds.shape
    n_chunks = (n_firms + firm_chunk - 1) // firm_chunk
    n_tasks = n_blocks * n_chunks
    part_active = np.zeros((n_tasks, n_dest))
    part_sales = np.zeros((n_tasks, n_dest))
    for task in prange(n_tasks):
        b = task // n_chunks
        start = (task % n_chunks) * firm_chunk
        stop = min(start + firm_chunk, n_firms)
        _direct_task(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], strata_low[b],
                     strata_width[b], strata_weight[b], start, stop, thresholds[b], part_active[task],
                     part_sales[task])
    _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def direct_cell_sums_f32(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low,
                         strata_width, strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
    """``direct_cell_sums`` with the scores and ``exp`` in float32 arithmetic (strata, weights and sums in float64).

    Same random numbers (the hashes and uniforms are those of the float64 kernel; the normals'
    probabilities are rounded to float32 once, keeping the precision of both tails:
    ``kernels.reference.float32.stratified_tails_f32``), same arguments and outputs. Scores differ
    from the float64 ones by about 1e-5, so a pair within that distance of a threshold can be
    counted differently: compared with ``direct_cell_sums``, counts agree to the weights of a few
    pairs per cell and sums to about 1e-5 relative (``tests/test_fastmath.py`` states and checks the
    tolerance).
    """
    n_blocks, n_dest = thresholds.shape
    n_chunks = (n_firms + firm_chunk - 1) // firm_chunk
    n_tasks = n_blocks * n_chunks
    part_active = np.zeros((n_tasks, n_dest))
    part_sales = np.zeros((n_tasks, n_dest))
    for task in prange(n_tasks):
        b = task // n_chunks
        start = (task % n_chunks) * firm_chunk
        stop = min(start + firm_chunk, n_firms)
        _direct_task_f32(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b],
                         strata_low[b], strata_width[b], strata_weight[b], start, stop, thresholds[b],
                         part_active[task], part_sales[task])
    _reduce_tasks(part_active, part_sales, n_chunks, out_active, out_sales_index)
