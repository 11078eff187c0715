"""The dynamic model's firm loop one period at a time, for the general-equilibrium closure
(``engine.closures.dynamic_ge``); the CUDA twins are in ``kernels.cuda.dynamic_ge``.

``kernels.dynamic`` runs every period of a pair in one go. The ``ge`` closure needs each period's
aggregates as a function of a per-cell threshold shift (the wages and market levels of that
period), before the state moves on. The kernels here split the same firm loop into: the pair
scores (``dynamic_pair_scores``, once per draw and scenario, cached), the state in period 0
(``dynamic_initial_state``), the ``z`` transition (``dynamic_z_advance``), the aggregates at
several shifts without touching the state (``dynamic_period_aggregates``, whose marginal pair is
stored by ``store_marginal_pair``; on the CPU mostly through a window of shifts that leaves only the
pairs near the margin to loop over, ``dynamic_window_prepare`` and ``dynamic_window_aggregates``) and
the commit at the solved shift (``dynamic_period_commit``). On the CPU ``dynamic_period_close`` ends a
period in one pass (the commit, the ``z`` step, the no-policy state's commit and the next window) over
the pairs of ``dynamic_visit_list``: those that export, or whose entry score reaches the entrants'
threshold less shift at a ``z`` index their firm takes (``dynamic_z_range``; a quarter of the pairs
at the default size), and the window's evaluations read its candidates as contiguous records
(``dynamic_window_records``).
With shift 0 they reproduce ``kernels.dynamic.dynamic_cell_sums`` bit for bit
(``tests/test_dynamic_ge.py``). The per-firm math (``z_initial``, ``z_step``, ``inverse_uniform_at``,
``exports_at_baseline``, ``relationship_lost``) and the pair scores (``block_scores``) are those of
``kernels.dynamic``; ``dynamic_relationship_loss`` draws the period's lost relationships.
Loops take preallocated outputs last, do no I/O and hold no state.
"""

import numpy as np
from numba import njit, prange

from kernels.dynamic import (
    block_scores,
    cost_search,
    exports_at_baseline,
    inverse_uniform_at,
    loss_stream,
    relationship_lost,
    z_initial,
    z_step,
)
from kernels.fastmath import FASTMATH
from kernels.firm import fill_scaled_log_productivity, half_sign
from kernels.rng import hash_at, uniform_open0


@njit(inline="always", cache=True, error_model="numpy")
def store_marginal_pair(low, high, next_high, shift, count, value, pair_cost, cost_slot, out_marginal, out_slope, s, b,
                        n):
    """A cell's marginal pair at a threshold shift: its active share and the slopes, into
    ``out_marginal[:, s, b, n]`` and ``out_slope[:, s, b, n]`` (left as they are outside its band).

    ``low`` is the largest ``h - u`` of the active pairs, ``high`` and ``next_high`` the two
    smallest of the inactive ones (the marginal pair has ``high``; its real pairs ``count``, sales ``value``, fixed-cost
    factor ``pair_cost`` and cost slot 2 (entrant) or 3 (incumbent)). The band below ``high`` runs
    down to ``low``; with no active pair it is as wide as the gap above ``high`` (or 1). Across the
    band the pair exports a share rising linearly from 0 to 1.
    """
    lower = low
    if not lower > -np.inf:
        lower = 2.0 * high - next_high if next_high < np.inf else high - 1.0
    if not high > lower:
        return
    fraction = min(max((shift - lower) / (high - lower), 0.0), 1.0)
    if fraction > 0.0:
        out_marginal[0, s, b, n] = fraction * count
        out_marginal[1, s, b, n] = fraction * value
        out_marginal[cost_slot, s, b, n] = fraction * pair_cost
    if lower <= shift < high:
        width = high - lower
        out_slope[0, s, b, n] = count / width
        out_slope[1, s, b, n] = value / width
        out_slope[cost_slot, s, b, n] = pair_cost / width




@njit(inline="always", cache=True, error_model="numpy")
def add_pair(f, b, n, table, sales, entry, eta, weight, z_index, z_exp, status, shifts, out_active, out_sales,
             out_entrant_cost, out_incumbent_cost, low, high, next_high, marginal):
    """Pair ``(b, n, f)`` at every shift: into the hard sums if it exports (``u >= h - shift``), else into
    the two smallest entry points of the non-exporters (``high`` and its firm ``marginal``, ``next_high``);
    ``low`` keeps the exporters' largest (``dynamic_period_aggregates``)."""
    j = z_index[b, f]
    was = status[b, n, f]
    h = table[j, np.int64(was)]
    u = entry[b, n, f]
    point = h - u
    value = sales[b, n, f] * z_exp[j]
    cost = np.float64(eta[b, n, f])
    for s in range(shifts.shape[0]):
        if u >= h - shifts[s, b, n]:
            out_active[s, b, n] += weight[b, n, f]
            out_sales[s, b, n] += value
            if was:
                out_incumbent_cost[s, b, n] += cost
            else:
                out_entrant_cost[s, b, n] += cost
            if point > low[s]:
                low[s] = point
        elif point < high[s]:
            next_high[s] = high[s]
            high[s] = point
            marginal[s] = f
        elif point < next_high[s]:
            next_high[s] = point


@njit(inline="always", cache=True, error_model="numpy")
def store_marginal_pairs(b, n, sales, eta, weight, z_index, z_exp, status, shifts, low, high, next_high, marginal,
                         out_marginal, out_slope):
    """``store_marginal_pair`` of cell ``(b, n)`` at every shift, after every pair went through ``add_pair``'s
    rule (``dynamic_window_aggregates`` applies it to its records)."""
    for s in range(shifts.shape[0]):
        f = marginal[s]
        if f >= 0:
            store_marginal_pair(low[s], high[s], next_high[s], shifts[s, b, n],
                                weight[b, n, f], sales[b, n, f] * z_exp[z_index[b, f]],
                                np.float64(eta[b, n, f]), 3 if status[b, n, f] else 2, out_marginal,
                                out_slope, s, b, n)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_pair_scores(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata, out_sales,
                        out_entry, out_eta, out_weight, dests, n_regions):
    """Per pair the real pairs it stands for ``w`` (``strata`` (B, 3, M), ``engine.firms.sampling``), their
    ``w exp(v)`` and the entry score ``u`` (``kernels.firm.fill_scores``), (B, D, M) each, and their
    fixed-cost factor ``w eta = w exp(v - u)`` in float32 (it only enters the cost index).

    ``dests`` (D,) int64: the destinations (of ``n_regions``) whose pairs are drawn, in this order; a
    destination's pairs are the same whichever others are drawn with it."""
    n_blocks = out_sales.shape[0]
    for b in prange(n_blocks):
        slp = np.empty(n_firms)
        sales = np.empty(n_firms)
        entry = np.empty(n_firms)
        weight = np.empty(n_firms)
        fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), sm1_over_theta[b], slp)
        for j in range(dests.size):
            block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], n_regions,
                         dests[j], strata[b], slp, sales, entry, weight)
            for f in range(n_firms):
                sales[f] = np.exp(sales[f]) * weight[f]
                out_sales[b, j, f] = sales[f]
                out_entry[b, j, f] = entry[f]
                out_eta[b, j, f] = sales[f] * np.exp(-entry[f])
                out_weight[b, j, f] = weight[f]


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_initial_state(z_keys, status_keys, cum_invariant, y_low, y_step, status_prob, stationary_thresholds,
                          offset, z_score, sales, entry, eta, weight, out_z, out_status, out_active, out_sales,
                          out_entrant_cost, out_incumbent_cost, out_split, dests):
    """Period 0 as in ``dynamic_cell_sums``: each firm's ``z`` index and each pair's status, in the
    destinations ``dests`` (D,) of ``offset``'s (the pair arrays and outputs are (B, D, ...)).

    Parameters
    ----------
    z_keys, status_keys, cum_invariant, y_low, y_step, status_prob, stationary_thresholds, offset, z_score :
        As in ``dynamic_cell_sums``.
    sales, entry, eta : ndarray (B, D, M)
        From ``dynamic_pair_scores`` with the same ``dests``.
    out_z : ndarray of int64 (B, M)
    out_status : ndarray of bool (B, D, M)
        Whether the pair exports in period 0 (``False`` in closed cells).
    out_active, out_sales : ndarray (B, D)
        Exporting pairs and their summed ``exp(v + z_score)``.
    out_entrant_cost, out_incumbent_cost : ndarray (B, R)
        Summed ``eta = exp(v - u)`` of the exporters that did not / did export before period 0
        (the first pay the fixed cost ``F``, the others ``lambda F``).
    out_split : ndarray (B, R)
        The exporters' summed ``exp(v + z_score)`` times their ``kernels.firm.half_sign``, as
        ``dynamic_cell_sums``'s ``out_split``.
    """
    n_blocks, n_dest, n_firms = sales.shape
    n_regions = offset.shape[1]
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        bounds, levels = cost_search(y_low, y_step, status_prob[b], stationary_thresholds[b])
        for f in range(n_firms):
            out_z[b, f] = z_initial(z_keys[b], f, cum_invariant)
        for n in range(n_dest):
            c = offset[b, dests[n]]
            active, total, entrants, incumbents, split = 0.0, 0.0, 0.0, 0.0, 0.0
            for f in range(n_firms):
                if not c > -np.inf:
                    out_status[b, n, f] = False
                    continue
                j = out_z[b, f]
                u = entry[b, n, f]
                pair = f * n_regions + dests[n]
                a = exports_at_baseline(c, u, status_keys[b], pair, y_low, y_step, status_prob[b],
                                        stationary_thresholds[b], j, bounds, levels)
                out_status[b, n, f] = a
                if a:
                    us = uniform_open0(hash_at(status_keys[b], np.uint64(pair)))
                    active += weight[b, n, f]
                    value = sales[b, n, f] * z_exp[j]
                    total += value
                    split += half_sign(f, weight[b, n, f]) * value
                    if c >= inverse_uniform_at(y_low, y_step, status_prob[b], j, us, levels) - u:
                        incumbents += eta[b, n, f]
                    else:
                        entrants += eta[b, n, f]
            out_active[b, n] = active
            out_sales[b, n] = total
            out_entrant_cost[b, n] = entrants
            out_incumbent_cost[b, n] = incumbents
            out_split[b, n] = split


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_z_advance(z_keys, period, cum_transition, z_index):
    """Move every firm's ``z`` index (B, M) in place from ``period - 1`` to ``period`` (``z_step``)."""
    n_blocks, n_firms = z_index.shape
    for b in prange(n_blocks):
        for f in range(n_firms):
            z_index[b, f] = z_step(z_keys[b], f, period, z_index[b, f], cum_transition)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_period_aggregates(sales, entry, eta, weight, z_index, z_score, status, thresholds, shifts, out_active, out_sales,
                              out_entrant_cost, out_incumbent_cost, out_marginal, out_slope):
    """One period's aggregates per cell at each of ``S`` threshold shifts; the state is not changed.

    A pair exports iff ``u >= thresholds[b, n, j, x] - shift`` (``j`` its ``z`` index, ``x`` its
    status last period): the hard rule of ``dynamic_cell_sums``. Its entry point is
    ``thresholds[b, n, j, x] - u`` (it exports once the shift reaches it).

    Marginal pair (as the static model's marginal-firm rule): between the entry points ``L <= shift
    < U`` of the highest exporter and of the lowest non-exporter (the marginal pair), the marginal
    pair counts with the fraction ``(shift - L) / (U - L)``; with no exporter, ``L`` is one gap
    (to the next entry point) below ``U``. Hard count plus marginal fraction is continuous and
    piecewise linear in the shift; the marginal part is returned apart (``out_marginal``).

    Parameters
    ----------
    sales, entry, eta : ndarray (B, R, M)
        ``exp(v)``, ``u`` and ``exp(v - u)`` (``dynamic_pair_scores``).
    z_index : ndarray of int64 (B, M)
        This period's ``z`` index of every firm.
    z_score : ndarray (B, Nz)
    status : ndarray of bool (B, R, M)
        Last period's status of every pair, after this period's lost relationships
        (``dynamic_relationship_loss``'s ``out_kept``).
    thresholds : ndarray (B, R, Nz, 2)
        This period's thresholds in ``u`` (as ``dynamic_cell_sums``'s ``thresholds[t]``).
    shifts : ndarray (S, B, R)
        Downward shifts of every threshold of the cell.
    out_active, out_sales, out_entrant_cost, out_incumbent_cost : ndarray (S, B, R)
        Hard rule: exporting pairs, summed ``exp(v + z_score)``, summed ``eta = exp(v - u)`` of
        exporters that did not export last period and of those that did.
    out_marginal : ndarray (4, S, B, R)
        The marginal pair's fractional part of the same four aggregates.
    out_slope : ndarray (4, S, B, R)
        Their slopes in the shift (the marginal pair's contribution over ``U - L``; right-hand at a knot).
    """
    n_shifts = shifts.shape[0]
    n_blocks, n_dest, n_firms = sales.shape
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        low = np.empty(n_shifts)
        high = np.empty(n_shifts)
        next_high = np.empty(n_shifts)
        marginal = np.empty(n_shifts, dtype=np.int64)
        for n in range(n_dest):
            for s in range(n_shifts):
                out_active[s, b, n] = 0.0
                out_sales[s, b, n] = 0.0
                out_entrant_cost[s, b, n] = 0.0
                out_incumbent_cost[s, b, n] = 0.0
                for k in range(4):
                    out_marginal[k, s, b, n] = 0.0
                    out_slope[k, s, b, n] = 0.0
                low[s] = -np.inf
                high[s] = np.inf
                next_high[s] = np.inf
                marginal[s] = -1
            table = thresholds[b, n]
            if not table.min() < np.inf:
                continue  # a closed cell (no baseline flow): nobody ever exports
            for f in range(n_firms):
                add_pair(f, b, n, table, sales, entry, eta, weight, z_index, z_exp, status, shifts, out_active,
                         out_sales, out_entrant_cost, out_incumbent_cost, low, high, next_high, marginal)
            store_marginal_pairs(b, n, sales, eta, weight, z_index, z_exp, status, shifts, low, high, next_high,
                                 marginal, out_marginal, out_slope)


#: Slack (in units of the shift) by which a pair's entry point must clear a window's edge to be fixed
#: as exporting or not at every shift of the window (``dynamic_window_prepare``): far above rounding.
WINDOW_SLACK = 1e-9


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_window_prepare(sales, entry, eta, weight, z_index, z_score, status, thresholds, lower, upper, out_fixed,
                           out_low, out_high, out_next_high, out_marginal_pair, candidates, out_count):
    """Split every cell's pairs for the shifts of a window ``[lower, upper]`` (B, R) of this period.

    A pair whose entry point ``h - u`` lies below the window exports at every shift in it, one above
    it at none; only the others (the candidates) can change. ``dynamic_window_aggregates`` then
    loops over the candidates alone and gives ``dynamic_period_aggregates``'s results at any shift
    inside the window (up to the order of summation).

    Outputs: ``out_fixed`` (4, B, R) the four hard sums of the pairs below the window; ``out_low``
    their largest entry point; ``out_high``, ``out_next_high`` the two smallest entry points above
    it and ``out_marginal_pair`` the firm of the smallest (-1: none); ``candidates`` (B, R, M) the
    candidates' firm numbers (int32), the first ``out_count`` (B, R) of each cell, in firm order.
    """
    n_blocks, n_dest = sales.shape[:2]
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        for n in range(n_dest):
            window_cell(b, n, sales, entry, eta, weight, z_index[b], z_exp, status, thresholds[b, n], lower[b, n],
                        upper[b, n], out_fixed, out_low, out_high, out_next_high, out_marginal_pair, candidates,
                        out_count)


@njit(inline="always", cache=True, error_model="numpy")
def window_cell(b, n, sales, entry, eta, weight, z, z_exp, status, table, lower, upper, out_fixed, out_low, out_high,
                out_next_high, out_marginal_pair, candidates, out_count):
    """``dynamic_window_prepare`` of cell ``(b, n)``: ``z`` (M,) the block's ``z`` indices, ``table``
    (Nz, 2) the cell's thresholds, ``lower`` and ``upper`` its window."""
    n_firms = sales.shape[2]
    for k in range(4):
        out_fixed[k, b, n] = 0.0
    low, high, next_high, marginal, count = -np.inf, np.inf, np.inf, -1, 0
    if table.min() < np.inf:
        below, above = lower - WINDOW_SLACK, upper + WINDOW_SLACK
        for f in range(n_firms):
            j = z[f]
            was = status[b, n, f]
            point = table[j, np.int64(was)] - entry[b, n, f]
            if point < below:
                out_fixed[0, b, n] += weight[b, n, f]
                out_fixed[1, b, n] += sales[b, n, f] * z_exp[j]
                if was:
                    out_fixed[3, b, n] += np.float64(eta[b, n, f])
                else:
                    out_fixed[2, b, n] += np.float64(eta[b, n, f])
                if point > low:
                    low = point
            elif point > above:
                if point < high:
                    next_high = high
                    high = point
                    marginal = f
                elif point < next_high:
                    next_high = point
            else:
                candidates[b, n, count] = f
                count += 1
    out_low[b, n] = low
    out_high[b, n] = high
    out_next_high[b, n] = next_high
    out_marginal_pair[b, n] = marginal
    out_count[b, n] = count


@njit(parallel=True, cache=True, error_model="numpy")
def dynamic_window_records(sales, entry, eta, weight, z_index, z_score, status, thresholds, candidates, counts, starts,
                           out_threshold, out_entry, out_value, out_weight, out_cost, out_was):
    """The candidates of a window (``dynamic_window_prepare``'s ``candidates`` and ``counts``) as
    contiguous records, cell ``(b, n)``'s from ``starts[b, n]`` on: each one's threshold ``h`` and entry
    score ``u``, sales ``w exp(v + z_score)``, real pairs ``w``, fixed-cost factor and last status.
    ``dynamic_window_aggregates`` reads these instead of gathering the candidates from the (B, R, M)
    arrays at every evaluation."""
    n_blocks, n_dest = counts.shape
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        for n in range(n_dest):
            table = thresholds[b, n]
            k = starts[b, n]
            for c in range(counts[b, n]):
                f = candidates[b, n, c]
                j = z_index[b, f]
                was = status[b, n, f]
                out_threshold[k] = table[j, np.int64(was)]
                out_entry[k] = entry[b, n, f]
                out_value[k] = sales[b, n, f] * z_exp[j]
                out_weight[k] = weight[b, n, f]
                out_cost[k] = np.float64(eta[b, n, f])
                out_was[k] = was
                k += 1


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_window_aggregates(sales, eta, weight, z_index, z_score, status, shifts, fixed, fixed_low, fixed_high,
                              fixed_next_high, fixed_marginal, candidates, counts, starts, threshold, entry, value,
                              real, cost, was, out_active, out_sales, out_entrant_cost, out_incumbent_cost,
                              out_marginal, out_slope):
    """``dynamic_period_aggregates`` at shifts inside a window of ``dynamic_window_prepare`` (its
    outputs are the arguments from ``fixed`` to ``counts``; ``starts`` to ``was`` are
    ``dynamic_window_records``'): the pairs fixed by the window enter as sums and extreme entry points,
    the candidates record by record with the same rule as ``add_pair``."""
    n_shifts = shifts.shape[0]
    n_blocks, n_dest = counts.shape
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        low = np.empty(n_shifts)
        high = np.empty(n_shifts)
        next_high = np.empty(n_shifts)
        marginal = np.empty(n_shifts, dtype=np.int64)
        for n in range(n_dest):
            for s in range(n_shifts):
                out_active[s, b, n] = fixed[0, b, n]
                out_sales[s, b, n] = fixed[1, b, n]
                out_entrant_cost[s, b, n] = fixed[2, b, n]
                out_incumbent_cost[s, b, n] = fixed[3, b, n]
                for k in range(4):
                    out_marginal[k, s, b, n] = 0.0
                    out_slope[k, s, b, n] = 0.0
                low[s] = fixed_low[b, n]
                high[s] = fixed_high[b, n]
                next_high[s] = fixed_next_high[b, n]
                marginal[s] = fixed_marginal[b, n]
            first = starts[b, n]
            for c in range(counts[b, n]):
                k = first + c
                h, u = threshold[k], entry[k]
                point = h - u
                for s in range(n_shifts):
                    if u >= h - shifts[s, b, n]:
                        out_active[s, b, n] += real[k]
                        out_sales[s, b, n] += value[k]
                        if was[k]:
                            out_incumbent_cost[s, b, n] += cost[k]
                        else:
                            out_entrant_cost[s, b, n] += cost[k]
                        if point > low[s]:
                            low[s] = point
                    elif point < high[s]:
                        next_high[s] = high[s]
                        high[s] = point
                        marginal[s] = candidates[b, n, c]
                    elif point < next_high[s]:
                        next_high[s] = point
            store_marginal_pairs(b, n, sales, eta, weight, z_index, z_exp, status, shifts, low, high, next_high,
                                 marginal, out_marginal, out_slope)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_period_commit(sales, entry, eta, weight, z_index, z_base, z_score, status, base, lost, thresholds, shift,
                          out_active, out_sales, out_entries, out_exits, out_both, out_both_base, out_entrant_cost,
                          out_incumbent_cost, out_split):
    """Move every pair's status to this period at the solved shift (B, R) (hard rule: no fraction).

    The loop body is ``dynamic_cell_sums``'s period loop with ``thresholds - shift``: with a zero
    shift the outputs (B, R) are that kernel's period ``t`` bit for bit (``out_split`` included).
    ``z_base`` (B, M) and ``base`` (B, R, M): each firm's ``z`` index and each pair's status in period 0.
    ``lost`` (B, R, M): the pairs whose relationship is lost this period (``dynamic_relationship_loss``);
    an exporter that lost it is an entrant (an exit and an entry if it exports again).
    """
    n_blocks, n_dest, n_firms = sales.shape
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        for n in range(n_dest):
            table = thresholds[b, n]
            g = shift[b, n]
            active, total, entries, exits, both, both_base, split = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            entrants, incumbents = 0.0, 0.0
            for f in range(n_firms):
                j = z_index[b, f]
                was = status[b, n, f]
                kept = was and not lost[b, n, f]
                a = entry[b, n, f] >= table[j, np.int64(kept)] - g
                value = sales[b, n, f] * z_exp[j]
                if a:
                    active += weight[b, n, f]
                    total += value
                    split += half_sign(f, weight[b, n, f]) * value
                    if base[b, n, f]:
                        both += value
                        both_base += sales[b, n, f] * z_exp[z_base[b, f]]
                    if not kept:
                        entries += weight[b, n, f]
                        entrants += eta[b, n, f]
                    else:
                        incumbents += eta[b, n, f]
                if was and not (a and kept):
                    exits += weight[b, n, f]
                status[b, n, f] = a
            out_active[b, n] = active
            out_sales[b, n] = total
            out_entries[b, n] = entries
            out_exits[b, n] = exits
            out_both[b, n] = both
            out_both_base[b, n] = both_base
            out_entrant_cost[b, n] = entrants
            out_incumbent_cost[b, n] = incumbents
            out_split[b, n] = split


@njit(parallel=True, cache=True, error_model="numpy")
def dynamic_relationship_loss(status_keys, period, loss, dests, n_regions, status, out_lost, out_kept):
    """Draw which pairs lose their relationship at the start of ``period`` (``kernels.dynamic.relationship_lost``,
    the draws of ``dynamic_cell_sums``) into ``out_lost`` (B, D, M), and each pair's status with the loss
    (``status`` and not lost) into ``out_kept``: the status the thresholds of ``period`` are read with."""
    n_blocks, n_dest, n_firms = status.shape
    for b in prange(n_blocks):
        loss_key = loss_stream(status_keys[b])
        for n in range(n_dest):
            for f in range(n_firms):
                gone = relationship_lost(loss_key, f * n_regions + dests[n], period, loss)
                out_lost[b, n, f] = gone
                out_kept[b, n, f] = status[b, n, f] and not gone


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_z_range(z_keys, first, last, cum_transition, z_index, out_low, out_high):
    """The lowest and highest ``z`` index (B, M) each firm takes from its index now (``z_index``) over
    periods ``first`` to ``last`` (``z_step``; ``z_index`` is not moved)."""
    n_blocks, n_firms = z_index.shape
    for b in prange(n_blocks):
        for f in range(n_firms):
            j = z_index[b, f]
            low, high = j, j
            for t in range(first, last + 1):
                j = z_step(z_keys[b], f, t, j, cum_transition)
                low, high = min(low, j), max(high, j)
            out_low[b, f] = low
            out_high[b, f] = high


@njit(parallel=True, cache=True, error_model="numpy")
def dynamic_visit_list(entry, status, cutoff, z_low, z_high, cells, out_visit, out_count, out_skipped_max):
    """The pairs a period's pass must visit: per cell, those that export now (``status`` (B, D, M)) or
    whose entry score reaches ``cutoff`` (B, D, Nz) at some ``z`` index their firm takes (``z_low`` to
    ``z_high`` (B, M), ``dynamic_z_range``), in firm order, into ``out_visit`` (B, D, M) (int32, the
    first ``out_count`` (B, D) of each cell). ``out_skipped_max`` (B, D, Nz): the largest entry score of
    the others whose firm takes each index (``-inf``: none). A pair left out exports at no threshold
    ``h`` and shift ``s`` of its indices with ``h - s >= cutoff`` (it exports iff ``u >= h - s``), so
    while the thresholds stay there it neither starts nor stops. Only the cells where ``cells`` (B, D)
    is true are listed (the others' outputs are left as they are)."""
    n_blocks, n_dest, n_firms = entry.shape
    n_z = cutoff.shape[2]
    for b in prange(n_blocks):
        # per range of indices (low, high): the lowest cutoff over it, and the others' largest score
        lowest = np.empty((n_z, n_z))
        skipped = np.empty((n_z, n_z))
        for n in range(n_dest):
            if not cells[b, n]:
                continue
            for low in range(n_z):
                c = cutoff[b, n, low]
                for high in range(low, n_z):
                    c = min(c, cutoff[b, n, high])
                    lowest[low, high] = c
                    skipped[low, high] = -np.inf
            count = 0
            for f in range(n_firms):
                u = entry[b, n, f]
                low, high = z_low[b, f], z_high[b, f]
                if u >= lowest[low, high] or status[b, n, f]:
                    out_visit[b, n, count] = f
                    count += 1
                else:
                    skipped[low, high] = max(skipped[low, high], u)
            for j in range(n_z):
                top = -np.inf
                for low in range(j + 1):
                    for high in range(j, n_z):
                        top = max(top, skipped[low, high])
                out_skipped_max[b, n, j] = top
            out_count[b, n] = count


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_period_close(sales, entry, eta, weight, z_keys, next_period, cum_transition, z_index, z_base, z_score,
                         status_keys, loss, dests, n_regions, visit, visit_count, skipped_max, commit, thresholds,
                         shift, status, base, lost, kept, reference, reference_thresholds, reference_status,
                         next_thresholds, lower, upper, out_commit, out_reference, out_fixed, out_low, out_high,
                         out_next_high, out_marginal_pair, candidates, out_count):
    """End one period and start the next in one pass over the pairs of ``visit`` (CPU): what
    ``dynamic_period_commit`` (the scenario's state at ``shift``, if ``commit``), ``dynamic_z_advance``
    and ``dynamic_relationship_loss`` (to ``next_period``), ``dynamic_period_commit`` again (the
    no-policy state at ``reference_thresholds`` and zero shift, if ``reference``) and
    ``dynamic_window_prepare`` (``next_thresholds``, window ``[lower, upper]``) do one after the other,
    with the same sums bit for bit: each runs over the same pairs in the same order.

    ``visit``, ``visit_count``, ``skipped_max``: ``dynamic_visit_list``'s, with a cutoff per ``z`` index
    that every entrants' threshold of that index less its shift reaches here (``thresholds - shift``,
    ``reference_thresholds``, ``next_thresholds - upper``, column 0) and ``z`` ranges that cover this
    period and the next: the pairs left out export in neither state, so they meet only entrants'
    thresholds, start at none of these and add nothing to any sum (``lost`` is not drawn for them:
    it is read only for exporters). They can only hold the window's two smallest entry points above
    it, and a cell whose second smallest lies above their lowest possible one (over the indices,
    ``next_thresholds[j, 0] - skipped_max[j]``) is prepared again over all its pairs
    (``window_cell``). The candidates can differ from ``dynamic_window_prepare``'s only by a left-out
    pair within rounding of the window's upper edge, which changes no aggregate inside the window.

    ``out_commit`` and ``out_reference`` (9, B, R): ``dynamic_period_commit``'s outputs in its order
    (left as they are when not asked for); the window's outputs as ``dynamic_window_prepare``'s.
    ``z_index`` is moved to ``next_period`` in place; ``status``, ``lost``, ``kept`` and
    ``reference_status`` as the separate kernels move them (``kept`` must be ``status`` when ``loss``
    is 0, as in ``DynamicFirms``: then ``lost`` and ``kept`` are not written).
    """
    n_blocks, n_dest, n_firms = sales.shape
    for b in prange(n_blocks):
        z_exp = np.exp(z_score[b])
        z_next = np.empty(n_firms, dtype=np.int64)
        for f in range(n_firms):
            z_next[f] = z_step(z_keys[b], f, next_period, z_index[b, f], cum_transition)
        loss_key = loss_stream(status_keys[b])
        for n in range(n_dest):
            table = thresholds[b, n]
            g = shift[b, n]
            active, total, entries, exits, both, both_base, split = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            entrants, incumbents = 0.0, 0.0
            r_active, r_total, r_entries, r_exits, r_both, r_both_base, r_split = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            r_entrants, r_incumbents = 0.0, 0.0
            reference_table = reference_thresholds[b, n]
            next_table = next_thresholds[b, n]
            prepare = next_table.min() < np.inf
            below, above = lower[b, n] - WINDOW_SLACK, upper[b, n] + WINDOW_SLACK
            fixed0, fixed1, fixed2, fixed3 = 0.0, 0.0, 0.0, 0.0
            low, high, next_high, marginal, count = -np.inf, np.inf, np.inf, -1, 0
            for i in range(visit_count[b, n]):
                f = visit[b, n, i]
                j = z_index[b, f]
                jn = z_next[f]
                u = entry[b, n, f]
                w = weight[b, n, f]
                # this period's commit (dynamic_period_commit)
                a = status[b, n, f]
                if commit:
                    was = a
                    held = was and not lost[b, n, f]
                    a = u >= table[j, np.int64(held)] - g
                    value = sales[b, n, f] * z_exp[j]
                    if a:
                        active += w
                        total += value
                        split += half_sign(f, w) * value
                        if base[b, n, f]:
                            both += value
                            both_base += sales[b, n, f] * z_exp[z_base[b, f]]
                        if not held:
                            entries += w
                            entrants += eta[b, n, f]
                        else:
                            incumbents += eta[b, n, f]
                    if was and not (a and held):
                        exits += w
                    status[b, n, f] = a
                # the next period's lost relationships (dynamic_relationship_loss)
                gone = False
                if loss > 0.0:  # without losses ``kept`` is ``status`` and nothing is lost
                    gone = relationship_lost(loss_key, f * n_regions + dests[n], next_period, loss)
                    lost[b, n, f] = gone
                    kept[b, n, f] = a and not gone
                held_next = a and not gone
                # the no-policy state's commit in the next period at zero shift
                if reference:
                    was = reference_status[b, n, f]
                    held = was and not gone
                    ra = u >= reference_table[jn, np.int64(held)] - 0.0
                    if ra:
                        value_next = sales[b, n, f] * z_exp[jn]
                        r_active += w
                        r_total += value_next
                        r_split += half_sign(f, w) * value_next
                        if base[b, n, f]:
                            r_both += value_next
                            r_both_base += sales[b, n, f] * z_exp[z_base[b, f]]
                        if not held:
                            r_entries += w
                            r_entrants += eta[b, n, f]
                        else:
                            r_incumbents += eta[b, n, f]
                    if was and not (ra and held):
                        r_exits += w
                    reference_status[b, n, f] = ra
                # the next period's window (dynamic_window_prepare)
                if prepare:
                    point = next_table[jn, np.int64(held_next)] - u
                    if point < below:
                        fixed0 += w
                        fixed1 += sales[b, n, f] * z_exp[jn]  # as window_cell writes it (the same rounding)
                        if held_next:
                            fixed3 += np.float64(eta[b, n, f])
                        else:
                            fixed2 += np.float64(eta[b, n, f])
                        if point > low:
                            low = point
                    elif point > above:
                        if point < high:
                            next_high = high
                            high = point
                            marginal = f
                        elif point < next_high:
                            next_high = point
                    else:
                        candidates[b, n, count] = f
                        count += 1
            if commit:
                out_commit[0, b, n] = active
                out_commit[1, b, n] = total
                out_commit[2, b, n] = entries
                out_commit[3, b, n] = exits
                out_commit[4, b, n] = both
                out_commit[5, b, n] = both_base
                out_commit[6, b, n] = entrants
                out_commit[7, b, n] = incumbents
                out_commit[8, b, n] = split
            if reference:
                out_reference[0, b, n] = r_active
                out_reference[1, b, n] = r_total
                out_reference[2, b, n] = r_entries
                out_reference[3, b, n] = r_exits
                out_reference[4, b, n] = r_both
                out_reference[5, b, n] = r_both_base
                out_reference[6, b, n] = r_entrants
                out_reference[7, b, n] = r_incumbents
                out_reference[8, b, n] = r_split
            bound = np.inf  # the lowest entry point a left-out pair can have in the next period
            for j in range(next_table.shape[0]):
                bound = min(bound, next_table[j, 0] - skipped_max[b, n, j])
            if prepare and next_high > bound:
                # a pair left out may hold one of the two smallest entry points above the window
                window_cell(b, n, sales, entry, eta, weight, z_next, z_exp, kept, next_table, lower[b, n],
                            upper[b, n], out_fixed, out_low, out_high, out_next_high, out_marginal_pair, candidates,
                            out_count)
                continue
            out_fixed[0, b, n] = fixed0
            out_fixed[1, b, n] = fixed1
            out_fixed[2, b, n] = fixed2
            out_fixed[3, b, n] = fixed3
            out_low[b, n] = low
            out_high[b, n] = high
            out_next_high[b, n] = next_high
            out_marginal_pair[b, n] = marginal
            out_count[b, n] = count
        for f in range(n_firms):
            z_index[b, f] = z_next[f]
