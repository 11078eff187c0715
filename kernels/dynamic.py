"""Firm loops of the dynamic model (``engine.firms.bellman``): productivity that moves over time and
export participation that depends on last period's status.

Per firm and per firm-destination math is in plain functions (``z_initial``, ``z_step``,
``inverse_uniform``, ``baseline_entry_cost``) compiled with ``numba.njit`` and
inlined in the loops here; a CUDA backend compiles the same bodies as device functions. Loops take
preallocated outputs last, do no I/O and hold no state. Each parallel task (one (origin, sector)
block) writes only its own output slots, so results are bitwise identical for any thread count.

State of a firm-destination pair in period ``t`` (docs/model.md sections 2 and 4, made dynamic):

- ``u``, ``v``: the permanent entry and sales scores of ``kernels.firm.scores`` (Pareto
  productivity and the EKK firm-destination shocks), as in the static model;
- ``z``: the firm's log-productivity deviation, a Markov chain on a Rouwenhorst grid of ``Nz``
  points (``engine.firms.bellman``), the same in every destination; in score units it adds
  ``z_score[j] = (sigma - 1) * z_j`` to both scores;
- ``x``: whether the pair exported last period.

The firm exports in ``t`` when ``u >= threshold[t, j, x]`` (thresholds from the dynamic programme of
``engine.firms.bellman``); it then sells ``exp(v + z_score[j])`` times a cell factor.

Random numbers (counter-based, ``kernels.rng``): the chain's initial state and every transition
are drawn from the block's ``z`` stream at counter ``(firm << 16) + period`` (so a firm's path does
not depend on the horizon, the destination or the thread); the uniform that places a pair's
status before period 0 comes from the block's status stream at counter ``firm * R + n``.
"""

import numpy as np
from numba import njit, prange

from kernels.fastmath import FASTMATH
from kernels.firm import fill_scaled_log_productivity, fill_scores, half_sign, stratum_offset
from kernels.rng import derive_key, hash_at, uniform_open0

#: Bits of the period in a firm's ``z`` counter: horizons up to 65,535 periods.
PERIOD_BITS = 16
#: Label of the relationship-loss stream, derived from a block's status stream (``loss_stream``).
LOSS_LABEL = np.uint64(0x1055_0000_0000)


@njit(inline="always", cache=True)
def loss_stream(status_key):
    """The block's key of relationship-loss draws."""
    return derive_key(status_key, LOSS_LABEL)


@njit(inline="always", cache=True, error_model="numpy")
def relationship_lost(loss_key, pair, period, loss):
    """Whether pair ``pair`` (``firm * R + destination``) loses its relationship at the start of
    ``period`` (>= 1), with probability ``loss`` (docs/model.md section 11.2): it keeps its productivity
    and must pay the entry cost again. Drawn at counter ``(pair << PERIOD_BITS) + period``, so it does
    not depend on the pair's status or on the thread; never with ``loss = 0``."""
    if loss <= 0.0:
        return False
    counter = (np.uint64(pair) << np.uint64(PERIOD_BITS)) + np.uint64(period)
    return uniform_open0(hash_at(loss_key, counter)) < loss


@njit(inline="always", cache=True, error_model="numpy")
def z_initial(z_key, firm, cum_invariant):
    """Grid index of the firm's ``z`` in period 0, drawn from the chain's invariant distribution.

    ``cum_invariant`` (Nz,) is its cumulative distribution; the index is the first ``j`` with
    ``u < cum_invariant[j]`` for the firm's uniform ``u`` (inverse-CDF sampling).
    """
    u = uniform_open0(hash_at(z_key, np.uint64(firm) << np.uint64(PERIOD_BITS)))
    n = cum_invariant.size
    j = 0
    while j < n - 1 and u >= cum_invariant[j]:
        j += 1
    return j


@njit(inline="always", cache=True, error_model="numpy")
def z_step(z_key, firm, period, state, cum_transition):
    """Grid index in ``period`` (>= 1) from the index ``state`` of the previous period.

    ``cum_transition`` (Nz, Nz): row ``i`` is the cumulative distribution of the next index. The
    first ``j`` with ``u < cum_transition[state, j]`` (inverse-CDF sampling), searched from ``state``
    outwards: a persistent chain mostly stays, so this takes one or two comparisons (three times
    faster than a search from 0, the same index).
    """
    counter = (np.uint64(firm) << np.uint64(PERIOD_BITS)) + np.uint64(period)
    u = uniform_open0(hash_at(z_key, counter))
    n = cum_transition.shape[1]
    j = state
    if u >= cum_transition[state, j]:
        while j < n - 1 and u >= cum_transition[state, j]:
            j += 1
    else:
        while j > 0 and u < cum_transition[state, j - 1]:
            j -= 1
    return j


@njit(inline="always", cache=True, error_model="numpy")
def inverse_uniform(y_low, y_step, values, level):
    """The smallest ``y`` at which the linear interpolation of non-decreasing ``values`` exceeds ``level``.

    ``-inf`` when even the first value exceeds ``level``, ``+inf`` when no value does.
    """
    n = values.size
    if values[0] > level:
        return -np.inf
    if not values[n - 1] > level:
        return np.inf
    low, high = 0, n - 1  # values[low] <= level < values[high]
    while high - low > 1:
        mid = (low + high) // 2
        if values[mid] > level:
            high = mid
        else:
            low = mid
    gap = values[high] - values[low]
    w = (level - values[low]) / gap if gap > 0 else 1.0
    return y_low + y_step * (low + w)


@njit(inline="always", cache=True, error_model="numpy")
def baseline_entry_cost(u, status_uniform, y_low, y_step, status_prob_column, stay_threshold, entry_threshold):
    """The smallest cell offset ``c`` at which the pair exports in period 0: it exports at the
    baseline iff ``c >= baseline_entry_cost``.

    With ``y = u + c``, the pair was an exporter before period 0 iff ``status_uniform <
    P(y)`` (``status_prob_column``: probability of last-period status 1 at the baseline, rising in
    ``y``), i.e. iff ``y >= G = inverse_uniform(P, status_uniform)``; it exports iff ``y >=
    stay_threshold`` as an incumbent, ``y >= entry_threshold`` otherwise. Both rules rise with
    ``y``, so it exports iff ``y >= min(entry_threshold, max(stay_threshold, G))``.
    """
    g = inverse_uniform(y_low, y_step, status_prob_column, status_uniform)
    return min(entry_threshold, max(stay_threshold, g)) - u


#: Levels of the status uniform at which ``cost_search`` tabulates the search's start.
SEARCH_LEVELS = 512


@njit(cache=True, error_model="numpy")
def cost_search(y_low, y_step, status_prob, stationary_thresholds):
    """Where ``baseline_entry_cost_at`` starts its search, for one block (``status_prob`` (Nz, Ny),
    ``stationary_thresholds`` (Nz, 2)): ``(bounds, levels)``.

    ``bounds`` (Nz, 2): grid indices ``low``, ``high`` with ``y[low] <= stay`` and ``y[high] >=
    entry`` (a point to spare) unless clipped to the grid (then ``baseline_entry_cost_at`` reaches
    only the branches that hold there). ``levels`` (Nz, SEARCH_LEVELS + 2): per level
    ``k / SEARCH_LEVELS`` the last grid index whose status probability is at most it (0 when none
    is)."""
    n_z, n_y = status_prob.shape
    out_bounds = np.empty((n_z, 2), dtype=np.int64)
    out_levels = np.empty((n_z, SEARCH_LEVELS + 2), dtype=np.int64)
    n_levels = out_levels.shape[1]
    for j in range(n_z):
        stay, entry = stationary_thresholds[j, 1], stationary_thresholds[j, 0]
        below = min(max((stay - y_low) / y_step - 1.0, 0.0), n_y - 1.0) if np.isfinite(stay) else 0.0
        above = min(max((entry - y_low) / y_step + 1.0, 0.0), n_y - 1.0) if np.isfinite(entry) else n_y - 1.0
        out_bounds[j, 0], out_bounds[j, 1] = int(np.floor(below)), int(np.ceil(above))
        last = 0
        for k in range(n_levels):
            level = k / (n_levels - 2)
            while last + 1 < n_y and status_prob[j, last + 1] <= level:
                last += 1
            out_levels[j, k] = last
    return out_bounds, out_levels


@njit(inline="always", cache=True, error_model="numpy")
def inverse_uniform_at(y_low, y_step, status_prob, j, level, levels):
    """``inverse_uniform(y_low, y_step, status_prob[j], level)``, bit for bit, its bisection started
    from ``cost_search``'s ``levels`` one below and two above ``level``'s: the last index whose value
    is at most ``level``, so the answer, is the same from any bracket of it."""
    last = status_prob.shape[1] - 1
    if status_prob[j, 0] > level:
        return -np.inf
    if not status_prob[j, last] > level:
        return np.inf
    n_levels = levels.shape[1]
    k = int(level * (n_levels - 2))
    low = levels[j, max(k - 1, 0)]
    high = min(levels[j, min(k + 2, n_levels - 1)] + 1, last)
    while high - low > 1:
        mid = (low + high) // 2
        if status_prob[j, mid] > level:
            high = mid
        else:
            low = mid
    gap = status_prob[j, high] - status_prob[j, low]
    w = (level - status_prob[j, low]) / gap if gap > 0 else 1.0
    return y_low + y_step * (low + w)


@njit(inline="always", cache=True, error_model="numpy")
def baseline_entry_cost_at(u, status_uniform, y_low, y_step, status_prob, stationary_thresholds, j, bounds, levels):
    """``baseline_entry_cost`` of a pair at grid index ``j``, bit for bit, with the search for ``G``
    started from ``cost_search``'s tables (``status_prob``, ``stationary_thresholds``, ``bounds``,
    ``levels``: the block's, indexed here rather than sliced per pair, which costs more than the search).

    Only ``G`` between the two thresholds matters: below ``y[low]`` (so below ``stay``) the cost is
    ``min(entry, stay)``, at or above ``y[high]`` (so above ``entry``) it is ``entry``, and with
    ``stay >= entry`` it is ``entry`` whatever ``G`` (``inverse_uniform_at``)."""
    stay, entry = stationary_thresholds[j, 1], stationary_thresholds[j, 0]
    if not (np.isfinite(stay) and np.isfinite(entry)):
        return baseline_entry_cost(u, status_uniform, y_low, y_step, status_prob[j], stay, entry)
    if not stay < entry:
        return entry - u
    if status_uniform < status_prob[j, bounds[j, 0]]:
        return stay - u
    if not status_uniform < status_prob[j, bounds[j, 1]]:
        return entry - u
    g = inverse_uniform_at(y_low, y_step, status_prob, j, status_uniform, levels)
    return min(entry, max(stay, g)) - u


@njit(inline="always", cache=True, error_model="numpy")
def exports_at_baseline(c, u, status_key, pair, y_low, y_step, status_prob, stationary_thresholds, j, bounds, levels):
    """Whether pair ``pair`` (``firm * R + destination``) at grid index ``j`` exports in period 0:
    ``c >= baseline_entry_cost`` with its status uniform drawn at ``pair`` (the block's arrays as in
    ``baseline_entry_cost_at``). A pair below the lower of the two thresholds (``u + c < min(entry,
    stay)``) does not export, whatever its status, so its uniform is not drawn: the same answer
    (``min(entry, max(stay, G)) >= min(entry, stay)``, and subtracting ``u`` keeps the order)."""
    if c < min(stationary_thresholds[j, 0], stationary_thresholds[j, 1]) - u:
        return False
    us = uniform_open0(hash_at(status_key, np.uint64(pair)))
    return c >= baseline_entry_cost_at(u, us, y_low, y_step, status_prob, stationary_thresholds, j, bounds, levels)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def block_paths(z_key, n_firms, n_periods, cum_invariant, cum_transition, out):
    """``out[t, f]``: grid index of firm ``f``'s ``z`` in period ``t``."""
    for f in range(n_firms):
        state = z_initial(z_key, f, cum_invariant)
        out[0, f] = state
        for t in range(1, n_periods):
            state = z_step(z_key, f, t, state, cum_transition)
            out[t, f] = state


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def block_scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_dest, n, strata, slp, sales, entry,
                 weight):
    """Destination ``n``'s sales and entry scores of a block's firms into ``sales``, ``entry`` and the real
    pairs each stands for into ``weight`` (``slp``: their scaled log productivity,
    ``kernels.firm.fill_scaled_log_productivity``; ``strata`` (3, M): the block's strata low edges,
    widths and weights, ``engine.firms.sampling``, rotated per destination)."""
    rho_c = np.sqrt(1.0 - rho * rho)
    m = strata.shape[1]  # the block's M (``slp`` may hold only its first firms, for firm rows)
    offset = np.int64(stratum_offset(shock_key, n, m))
    low = np.empty(slp.size)
    width = np.empty(slp.size)
    # firm f takes stratum (f + offset) % M: two contiguous runs of the strata
    head = min(slp.size, m - offset)
    low[:head], width[:head], weight[:head] = strata[0, offset:offset + head], strata[1, offset:offset + head], \
        strata[2, offset:offset + head]
    tail = slp.size - head
    low[head:], width[head:], weight[head:] = strata[0, :tail], strata[1, :tail], strata[2, :tail]
    fill_scores(shock_key, np.uint64(n), np.uint64(n_dest), low, width, slp, s_a, s_e, rho, rho_c, sales, entry)


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def destination_costs(entry, initial_z, status_key, n, n_dest, y_low, y_step, status_prob, stationary_thresholds,
                      bounds, levels, out_cost):
    """One block's ``baseline_entry_cost`` in destination ``n`` per firm (``entry``, ``initial_z``,
    ``out_cost``: (M,); ``status_prob`` (Nz, Ny), ``stationary_thresholds`` (Nz, 2) and ``cost_search``'s
    ``bounds`` and ``levels``: the block's)."""
    for f in range(entry.size):
        j = initial_z[f]
        us = uniform_open0(hash_at(status_key, np.uint64(f * n_dest + n)))
        out_cost[f] = baseline_entry_cost_at(entry[f], us, y_low, y_step, status_prob, stationary_thresholds, j, bounds,
                                             levels)


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_baseline_costs(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho,
                           n_firms, strata, cum_invariant, y_low, y_step, status_prob, stationary_thresholds, out_cost,
                           out_initial_z):
    """Per pair, the smallest cell offset at which it exports in period 0 (``baseline_entry_cost``).

    Parameters
    ----------
    productivity_keys, shock_keys, z_keys, status_keys : ndarray of uint64 (B,)
    sm1_over_theta, s_a, s_e, rho : ndarray of float64 (B,)
    n_firms : int
    cum_invariant : ndarray (Nz,)
    y_low, y_step : float
        The grid of the profit score ``y`` on which ``status_prob`` is given.
    status_prob : ndarray (B, Nz, Ny)
        Probability that a pair at grid index ``j`` and score ``y`` exported last period, at the
        baseline (the invariant distribution of ``engine.firms.bellman``).
    stationary_thresholds : ndarray (B, Nz, 2)
        Baseline thresholds in ``y`` for new entrants (``[..., 0]``) and incumbents (``[..., 1]``).
    out_cost : ndarray (B, R, M)
        Output.
    out_initial_z : ndarray of int64 (B, M)
        Output: each firm's grid index in period 0.
    """
    n_blocks, n_dest = out_cost.shape[0], out_cost.shape[1]
    for b in prange(n_blocks):
        slp = np.empty(n_firms)
        sales = np.empty(n_firms)
        entry = np.empty(n_firms)
        weight = np.empty(n_firms)
        fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), sm1_over_theta[b], slp)
        for f in range(n_firms):
            out_initial_z[b, f] = z_initial(z_keys[b], f, cum_invariant)
        bounds, levels = cost_search(y_low, y_step, status_prob[b], stationary_thresholds[b])
        for n in range(n_dest):
            block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], n_dest, n,
                         strata[b], slp, sales, entry, weight)
            destination_costs(entry, out_initial_z[b], status_keys[b], n, n_dest, y_low, y_step, status_prob[b],
                              stationary_thresholds[b], bounds, levels, out_cost[b, n])


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_baseline_costs_of(entry, z_keys, status_keys, cum_invariant, y_low, y_step, status_prob,
                              stationary_thresholds, out_cost, out_initial_z):
    """``dynamic_baseline_costs`` from entry scores already drawn: ``entry`` (B, R, M) as
    ``kernels.dynamic_ge.dynamic_pair_scores`` gives them over all ``R`` destinations (the same
    outputs, bit for bit, without drawing the scores again)."""
    n_blocks, n_dest, n_firms = entry.shape
    for b in prange(n_blocks):
        for f in range(n_firms):
            out_initial_z[b, f] = z_initial(z_keys[b], f, cum_invariant)
        bounds, levels = cost_search(y_low, y_step, status_prob[b], stationary_thresholds[b])
        for n in range(n_dest):
            destination_costs(entry[b, n], out_initial_z[b], status_keys[b], n, n_dest, y_low, y_step, status_prob[b],
                              stationary_thresholds[b], bounds, levels, out_cost[b, n])


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_cell_sums(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                      strata, z_score, cum_invariant, cum_transition, y_low, y_step, status_prob, stationary_thresholds,
                      offset, thresholds, loss, out_active, out_sales, out_entries, out_exits, out_both, out_both_base,
                      out_split):
    """Simulate every firm-destination pair over the periods and sum per cell.

    Period 0 reproduces the calibration: a pair exports iff ``offset >= baseline_entry_cost`` (the
    same function as ``dynamic_baseline_costs``). In period ``t >= 1`` it exports iff
    ``u >= thresholds[t, b, n, j, x]`` with ``j`` its ``z`` index and ``x`` its status in ``t - 1``.

    Parameters
    ----------
    z_score : ndarray (B, Nz)
        ``(sigma - 1) * z_j`` per block.
    cum_invariant, cum_transition : ndarray (Nz,), (Nz, Nz)
    y_low, y_step, status_prob, stationary_thresholds :
        As in ``dynamic_baseline_costs``.
    offset : ndarray (B, R)
        Calibrated cell offset ``c`` (``y = u + c``); a cell with no baseline flow has ``-inf``
        and stays closed.
    thresholds : ndarray (T, B, R, Nz, 2)
        Entry-score thresholds by period, grid index and last status (period 0 is not used).
    loss : float
        Monthly probability that an exporter loses its relationship (``relationship_lost``): it is then
        read with the entrants' threshold, and counted as an exit (and an entry if it exports again).
    out_active, out_sales, out_entries, out_exits : ndarray (T, B, R)
        Outputs: exporting simulated firms, their summed ``exp(v + z_score)``, entries and exits
        against the previous period (0 in period 0).
    out_both, out_both_base : ndarray (T, B, R)
        Outputs: over pairs exporting both in ``t`` and in period 0, the summed ``exp(v + z_score)``
        at ``t``'s and at period 0's ``z`` (the intensive margin of docs/model.md section 5).
    out_split : ndarray (T, B, R)
        Output: the summed ``exp(v + z_score)`` of the exporting pairs, each times its
        ``kernels.firm.half_sign`` (``+1`` odd firm, ``-1`` even firm, ``0`` certainty pair): the two
        half-populations of the cell sum to ``out_sales +- out_split`` (docs/model.md section 8.2).
    """
    n_periods, n_blocks, n_dest = out_active.shape
    for b in prange(n_blocks):
        for t in range(n_periods):  # a closed cell keeps these zeros
            for n in range(n_dest):
                out_active[t, b, n] = 0.0
                out_sales[t, b, n] = 0.0
                out_entries[t, b, n] = 0.0
                out_exits[t, b, n] = 0.0
                out_both[t, b, n] = 0.0
                out_both_base[t, b, n] = 0.0
                out_split[t, b, n] = 0.0
        if not offset[b].max() > -np.inf:  # no open cell (the no-policy path's untouched blocks)
            continue
        slp = np.empty(n_firms)
        sales = np.empty(n_firms)
        entry = np.empty(n_firms)
        status = np.empty(n_firms, dtype=np.bool_)
        base = np.empty(n_firms, dtype=np.bool_)
        visit = np.empty(n_firms, dtype=np.int64)
        weight = np.empty(n_firms)
        half = np.empty(n_firms)
        paths = np.empty((n_periods, n_firms), dtype=np.int64)
        bounds, levels = cost_search(y_low, y_step, status_prob[b], stationary_thresholds[b])
        z_exp = np.exp(z_score[b])
        loss_key = loss_stream(status_keys[b])
        fill_scaled_log_productivity(productivity_keys[b], np.uint64(0), sm1_over_theta[b], slp)
        block_paths(z_keys[b], n_firms, n_periods, cum_invariant, cum_transition, paths)
        for n in range(n_dest):
            if not offset[b, n] > -np.inf:
                continue
            block_scores(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b], rho[b], n_dest, n,
                         strata[b], slp, sales, entry, weight)
            c = offset[b, n]
            # a pair that does not export in period 0 and whose entry score lies below every later
            # threshold of its cell never exports: the later periods visit only the others (the
            # sums run over the same pairs in the same order, so they are unchanged bit for bit)
            lowest = np.inf
            for t in range(1, n_periods):
                lowest = min(lowest, thresholds[t, b, n].min())
            active, total, split = 0.0, 0.0, 0.0
            n_visit = 0
            for f in range(n_firms):
                j = paths[0, f]
                a = exports_at_baseline(c, entry[f], status_keys[b], f * n_dest + n, y_low, y_step, status_prob[b],
                                        stationary_thresholds[b], j, bounds, levels)
                status[f] = a
                base[f] = a
                if a or entry[f] >= lowest:
                    visit[n_visit] = f
                    n_visit += 1
                sales[f] = np.exp(sales[f]) * weight[f]  # from here on: the real pairs' exp(v)
                half[f] = half_sign(f, weight[f])
                if a:
                    active += weight[f]
                    value = sales[f] * z_exp[j]
                    total += value
                    split += half[f] * value
            out_active[0, b, n] = active
            out_sales[0, b, n] = total
            out_both[0, b, n] = total
            out_both_base[0, b, n] = total
            out_split[0, b, n] = split
            for t in range(1, n_periods):
                table = thresholds[t, b, n]
                active, total, entries, exits, both, both_base, split = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
                for k in range(n_visit):
                    f = visit[k]
                    j = paths[t, f]
                    was = status[f]
                    kept = was and not relationship_lost(loss_key, f * n_dest + n, t, loss)
                    a = entry[f] >= table[j, np.int64(kept)]
                    value = sales[f] * z_exp[j]
                    if a:
                        active += weight[f]
                        total += value
                        split += half[f] * value
                        if base[f]:
                            both += value
                            both_base += sales[f] * z_exp[paths[0, f]]
                        if not kept:
                            entries += weight[f]
                    if was and not (a and kept):
                        exits += weight[f]
                    status[f] = a
                out_active[t, b, n] = active
                out_sales[t, b, n] = total
                out_entries[t, b, n] = entries
                out_exits[t, b, n] = exits
                out_both[t, b, n] = both
                out_both_base[t, b, n] = both_base
                out_split[t, b, n] = split


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def dynamic_firm_paths(productivity_key, shock_key, z_key, status_key, sm1_over_theta, s_a, s_e, rho, strata,
                       cum_invariant, cum_transition, y_low, y_step, status_prob, stationary_thresholds, offset,
                       thresholds, loss, out_slp, out_z, out_sales_score, out_weight, out_active):
    """The first ``F`` firms of one block, pair by pair and period by period (firm-level output).

    The same decisions as ``dynamic_cell_sums`` makes for these firms (the same functions and
    random numbers): over all ``M`` firms, the active pairs' ``weight * exp(v + z_score[j])`` sum to
    its ``out_sales``. ``out_weight`` (F, R): the real pairs each pair stands for.

    Parameters
    ----------
    productivity_key, shock_key, z_key, status_key : uint64
        The block's keys.
    sm1_over_theta, s_a, s_e, rho : float
        The block's kernel parameters.
    cum_invariant, cum_transition, y_low, y_step :
        As in ``dynamic_cell_sums``.
    status_prob : ndarray (Nz, Ny)
    stationary_thresholds : ndarray (Nz, 2)
    offset : ndarray (R,)
    thresholds : ndarray (T, R, Nz, 2)
    loss : float
        As in ``dynamic_cell_sums``.
    out_slp : ndarray (F,)
        Output: each firm's scaled log productivity ``(sigma - 1) log phi``.
    out_z : ndarray of int64 (T, F)
        Output: grid index of each firm's ``z`` by period.
    out_sales_score : ndarray (F, R)
        Output: the pair's sales score ``v`` (it sells ``exp(v + z_score[j])`` times the cell factor).
    out_active : ndarray of bool (T, F, R)
        Output: whether the pair exports.
    """
    n_periods, n_dest = thresholds.shape[0], thresholds.shape[1]
    n_firms = out_slp.size
    sales = np.empty(n_firms)
    entry = np.empty(n_firms)
    weight = np.empty(n_firms)
    loss_key = loss_stream(status_key)
    fill_scaled_log_productivity(productivity_key, np.uint64(0), sm1_over_theta, out_slp)
    block_paths(z_key, n_firms, n_periods, cum_invariant, cum_transition, out_z)
    for n in range(n_dest):
        block_scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_dest, n, strata, out_slp, sales, entry,
                     weight)
        out_weight[:, n] = weight
        if not offset[n] > -np.inf:  # a cell with no baseline flow stays closed, as in dynamic_cell_sums
            for f in range(n_firms):
                out_sales_score[f, n] = sales[f]
                for t in range(n_periods):
                    out_active[t, f, n] = False
            continue
        for f in range(n_firms):
            out_sales_score[f, n] = sales[f]
            j = out_z[0, f]
            us = uniform_open0(hash_at(status_key, np.uint64(f * n_dest + n)))
            cost = baseline_entry_cost(entry[f], us, y_low, y_step, status_prob[j], stationary_thresholds[j, 1],
                                       stationary_thresholds[j, 0])
            was = offset[n] >= cost
            out_active[0, f, n] = was
            for t in range(1, n_periods):
                kept = was and not relationship_lost(loss_key, f * n_dest + n, t, loss)
                was = entry[f] >= thresholds[t, n, out_z[t, f], np.int64(kept)]
                out_active[t, f, n] = was


@njit(cache=True)
def _swap(values, weights, i, j):
    values[i], values[j] = values[j], values[i]
    weights[i], weights[j] = weights[j], weights[i]


@njit(cache=True)
def _weighted_cut(values, weights, goal):
    """Reorders ``values`` (with their ``weights``) so that ``values[:k + 1]`` are the ``k + 1``
    smallest, ``k`` the last of the smallest values whose weights add up nearest ``goal`` (at
    least one), and returns ``k``. Expected linear time (quickselect on the running weight, then a
    sort of the last few)."""
    m = values.size
    lo, hi, below = 0, m, 0.0  # the cut lies in [lo, hi); ``below``: the weight of values[:lo]
    while hi - lo > 32:
        a, b, c = values[lo], values[(lo + hi) // 2], values[hi - 1]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i, left = lo, 0.0
        for j in range(lo, hi):
            if values[j] < pivot:
                _swap(values, weights, i, j)
                left += weights[i]
                i += 1
        if i == lo:  # the pivot is the smallest: split off the values equal to it
            for j in range(lo, hi):
                if values[j] <= pivot:
                    _swap(values, weights, i, j)
                    left += weights[i]
                    i += 1
            if i == hi:
                break  # all equal
        if below + left >= goal:
            hi = i
        else:
            below += left
            lo = i
    order = np.argsort(values[lo:hi], kind="mergesort")
    part_values, part_weights = values[lo:hi][order], weights[lo:hi][order]
    values[lo:hi], weights[lo:hi] = part_values, part_weights
    total = below
    for k in range(lo, hi):
        before = total
        total += weights[k]
        if total >= goal:  # the first pair that reaches the goal, or the one before it if nearer
            if k == 0 or total - goal < goal - before:
                return k
            if k == lo:  # the one before is the largest of values[:lo]: bring it next to the cut
                top = np.argmax(values[:lo])
                _swap(values, weights, top, lo - 1)
            return k - 1
    return hi - 1


@njit(parallel=True, cache=True)
def weighted_cuts(costs, strata_weight, rotation, target, out_at, out_next, out_previous):
    """Per cell, the cost of the last of the lowest-cost pairs whose weights add up nearest
    ``target`` (at least one pair), and its neighbours in cost order.

    Parameters
    ----------
    costs : ndarray (B, R, M)
        Each pair's ``baseline_entry_cost``.
    strata_weight : ndarray (B, M)
        The real pairs of each stratum (``engine.firms.sampling``).
    rotation : ndarray of int64 (B, R)
        Each cell's strata rotation (``kernels.firm.stratum_offset``): pair ``f`` has
        ``strata_weight[b, (f + rotation) % M]``.
    target : ndarray (B, R)
        Real exporters wanted.
    out_at, out_next, out_previous : ndarray (B, R)
        Outputs: that cost, the next larger (``+inf`` when every pair is in) and the next smaller
        (``-inf`` when only one pair is).
    """
    n_blocks, n_dest, m = costs.shape
    for b in prange(n_blocks):
        values = np.empty(m)
        weights = np.empty(m)
        for n in range(n_dest):
            values[:] = costs[b, n]
            for f in range(m):
                k = f + rotation[b, n]
                weights[f] = strata_weight[b, k - m if k >= m else k]
            last = _weighted_cut(values, weights, target[b, n])
            out_at[b, n] = values[last]
            out_next[b, n] = values[last + 1:].min() if last + 1 < m else np.inf
            out_previous[b, n] = values[:last].max() if last > 0 else -np.inf


@njit(cache=True)
def cell_rotations(shock_keys, n_dest, n_firms):
    """(B, R): each cell's strata rotation ``kernels.firm.stratum_offset``."""
    out = np.empty((shock_keys.size, n_dest), dtype=np.int64)
    for b in range(shock_keys.size):
        for n in range(n_dest):
            out[b, n] = np.int64(stratum_offset(shock_keys[b], n, n_firms))
    return out
