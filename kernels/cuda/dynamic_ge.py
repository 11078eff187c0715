"""CUDA loops and launches of the dynamic model's per-period kernels (the ``ge`` closure,
``engine.closures.dynamic_ge``).

Each host function here takes the arguments of its CPU twin in ``kernels.dynamic_ge`` and fills the
same outputs (``engine.devices`` picks one or the other):

- ``dynamic_pair_scores``, ``dynamic_initial_state``, ``dynamic_z_advance``,
  ``dynamic_relationship_loss``, ``dynamic_period_aggregates``, ``dynamic_period_commit``.

The per-firm math is not here: ``z_initial``, ``z_step``, ``baseline_entry_cost``,
``inverse_uniform`` (``kernels.dynamic``), ``store_marginal_pair`` (``kernels.dynamic_ge``), the scores
and the strata rotation (``kernels.firm``) and the hashes (``kernels.rng``) are the CPU's plain
functions compiled as device functions (``kernels.cuda.device.device_function``). As on the CPU, a pair
draws its demand shock in its stratum (``engine.firms.sampling``) and stands for the stratum's weight of
real pairs: ``dynamic_pair_scores`` writes that weight, its sales and fixed-cost factor are weighted, and
the per-cell kernels count weights, not pairs.

Arrays may be NumPy arrays (copied to the device and, for outputs and arrays changed in place,
back) or device arrays (``device_empty``, ``device_copy``; used as they are). ``engine.closures.dynamic_ge``
keeps the per-pair state of a draw, (B, R, M) arrays, on the device this way, so that one Newton
step of the equilibrium moves only the (S, B, R) shifts and aggregates between host and device.

Layout: the per-firm kernels (scores, ``z`` transition) run one thread per firm of one (origin,
sector) block. The per-cell kernels run one CUDA block per output cell (and per shift): its threads
stride over the firms (firm ``tid + k * THREADS``, so reads of (B, R, M) arrays are coalesced), keep
partial sums, and reduce them in shared memory; thread 0 writes the cell. No atomics: the results
do not depend on the scheduling. Agreement with the CPU: counts, ``z`` indices and statuses are
equal; sums agree to rounding (about 1e-15 relative: the order of the float64 additions differs,
and the GPU may contract ``a * b + c`` into an FMA where the CPU does not). The marginal pair of
``dynamic_period_aggregates`` (the lowest non-exporter's entry point, ties to the lowest firm
index, as the CPU's sequential scan) is found by an exact min/max reduction, so it is the same pair.
"""

import math

import numpy as np

from kernels import dynamic as _dynamic
from kernels import dynamic_ge as _dynamic_ge
from kernels import firm as _firm
from kernels import rng as _rng
from kernels.cuda.device import THREADS, chunks, cuda, device_function, tree_reduce

_hash_at = device_function(_rng.hash_at)
_uniform_open0 = device_function(_rng.uniform_open0)
_scaled_log_productivity = device_function(_firm.scaled_log_productivity)
_scores = device_function(_firm.scores)
_stratum_offset = device_function(_firm.stratum_offset)
_half_sign = device_function(_firm.half_sign)
_z_initial = device_function(_dynamic.z_initial)
_z_step = device_function(_dynamic.z_step)
_loss_stream = device_function(_dynamic.loss_stream)
_relationship_lost = device_function(_dynamic.relationship_lost)
_baseline_entry_cost = device_function(_dynamic.baseline_entry_cost)
_inverse_uniform = device_function(_dynamic.inverse_uniform)
_store_marginal_pair = device_function(_dynamic_ge.store_marginal_pair)


# ---------------------------------------------------------------------------------- host helpers


def device_empty(shape, dtype=np.float64):
    """An uninitialised device array (the CUDA counterpart of ``numpy.empty``)."""
    return cuda.device_array(shape, dtype=dtype)


def device_copy(array):
    """A device copy of a device (or host) array (the CUDA counterpart of ``numpy.copy``)."""
    out = cuda.device_array(array.shape, dtype=array.dtype)
    out.copy_to_device(array)
    return out


def _on_host(array):
    return isinstance(array, np.ndarray)


def _in(array, dtype):
    """A device array for an input: device arrays as they are, host arrays copied."""
    if not _on_host(array):
        return array
    return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))


def _z_exp(z_score):
    """``exp(z_score)`` (B, Nz) on the device, taken once on the host (as the CPU kernels take it once per block)."""
    if not _on_host(z_score):
        z_score = z_score.copy_to_host()
    return cuda.to_device(np.exp(np.asarray(z_score, dtype=np.float64)))


class _Outputs:
    """Device arrays for outputs (host arrays get a device twin, copied back by ``finish``)."""

    def __init__(self, arrays, copy_in=False):
        self.arrays = arrays
        self.device = [(_in(a, a.dtype) if copy_in else cuda.device_array(a.shape, dtype=a.dtype))
                       if _on_host(a) else a for a in arrays]

    def finish(self):
        for host, device in zip(self.arrays, self.device):
            if _on_host(host):
                host[...] = device.copy_to_host()


# ------------------------------------------------------------------------------------ per firm


@cuda.jit
def _pair_scores_kernel(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata,
                        chunks_per_block, dests, n_regions, out_sales, out_entry, out_eta, out_weight):
    b = cuda.blockIdx.x // chunks_per_block
    f = (cuda.blockIdx.x % chunks_per_block) * THREADS + cuda.threadIdx.x
    if f >= n_firms:
        return
    m = strata.shape[2]
    r = rho[b]
    rho_c = math.sqrt(1.0 - r * r)
    slp = _scaled_log_productivity(productivity_keys[b], np.uint64(f), sm1_over_theta[b])
    for j in range(dests.size):
        n = dests[j]
        k = (f + np.int64(_stratum_offset(shock_keys[b], n, m))) % m
        sales, entry = _scores(shock_keys[b], np.uint64(f * n_regions + n), strata[b, 0, k], strata[b, 1, k], slp,
                               s_a[b], s_e[b], r, rho_c)
        weight = strata[b, 2, k]
        value = math.exp(sales) * weight
        out_sales[b, j, f] = value
        out_entry[b, j, f] = entry
        out_eta[b, j, f] = value * math.exp(-entry)
        out_weight[b, j, f] = weight


def dynamic_pair_scores(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata, out_sales,
                        out_entry, out_eta, out_weight, dests, n_regions):
    """``kernels.dynamic_ge.dynamic_pair_scores`` on the GPU: same arguments, same outputs."""
    n_blocks, n_dest = out_sales.shape[0], out_sales.shape[1]
    if n_blocks == 0 or n_dest == 0 or n_firms == 0:
        return
    outs = _Outputs((out_sales, out_entry, out_eta, out_weight))
    per_block = chunks(n_firms, THREADS)
    _pair_scores_kernel[n_blocks * per_block, THREADS](
        _in(productivity_keys, np.uint64), _in(shock_keys, np.uint64), _in(sm1_over_theta, np.float64),
        _in(s_a, np.float64), _in(s_e, np.float64), _in(rho, np.float64), np.int64(n_firms), _in(strata, np.float64),
        np.int64(per_block), _in(dests, np.int64), np.int64(n_regions), *outs.device)
    outs.finish()


@cuda.jit
def _z_advance_kernel(z_keys, period, cum_transition, chunks_per_block, z_index):
    b = cuda.blockIdx.x // chunks_per_block
    f = (cuda.blockIdx.x % chunks_per_block) * THREADS + cuda.threadIdx.x
    if f < z_index.shape[1]:
        z_index[b, f] = _z_step(z_keys[b], f, period, z_index[b, f], cum_transition)


def dynamic_z_advance(z_keys, period, cum_transition, z_index):
    """``kernels.dynamic_ge.dynamic_z_advance`` on the GPU: ``z_index`` (B, M) moves in place."""
    n_blocks, n_firms = z_index.shape
    if n_blocks == 0 or n_firms == 0:
        return
    state = _Outputs((z_index,), copy_in=True)
    per_block = chunks(n_firms, THREADS)
    _z_advance_kernel[n_blocks * per_block, THREADS](_in(z_keys, np.uint64), np.int64(period),
                                                     _in(cum_transition, np.float64), np.int64(per_block),
                                                     *state.device)
    state.finish()


@cuda.jit
def _relationship_loss_kernel(status_keys, period, loss, dests, n_regions, chunks_per_block, status, out_lost,
                              out_kept):
    b = cuda.blockIdx.x // chunks_per_block
    f = (cuda.blockIdx.x % chunks_per_block) * THREADS + cuda.threadIdx.x
    if f >= status.shape[2]:
        return
    loss_key = _loss_stream(status_keys[b])
    for n in range(dests.size):
        gone = _relationship_lost(loss_key, f * n_regions + dests[n], period, loss)
        out_lost[b, n, f] = gone
        out_kept[b, n, f] = status[b, n, f] and not gone


def dynamic_relationship_loss(status_keys, period, loss, dests, n_regions, status, out_lost, out_kept):
    """``kernels.dynamic_ge.dynamic_relationship_loss`` on the GPU: same arguments, same outputs."""
    n_blocks, n_dest, n_firms = status.shape
    if n_blocks == 0 or n_dest == 0 or n_firms == 0:
        return
    outs = _Outputs((out_lost, out_kept))
    per_block = chunks(n_firms, THREADS)
    _relationship_loss_kernel[n_blocks * per_block, THREADS](
        _in(status_keys, np.uint64), np.int64(period), np.float64(loss), _in(dests, np.int64), np.int64(n_regions),
        np.int64(per_block), _in(status, np.bool_), *outs.device)
    outs.finish()


# ------------------------------------------------------------------------------------ per cell


@cuda.jit
def _initial_state_kernel(z_keys, status_keys, cum_invariant, y_low, y_step, status_prob, stationary_thresholds,
                          offset, z_exp, sales, entry, eta, weight, dests, out_z, out_status, out_active, out_sales,
                          out_entrant_cost, out_incumbent_cost, out_split):
    """One CUDA block per cell (b, n): ``dynamic_initial_state``'s loop over the cell's firms (``n``
    indexes ``dests``)."""
    n_dest = sales.shape[1]
    n_firms = sales.shape[2]
    n_regions = offset.shape[1]
    b = cuda.blockIdx.x // n_dest
    n = cuda.blockIdx.x % n_dest
    tid = cuda.threadIdx.x
    acc = cuda.shared.array((5, THREADS), np.float64)
    for i in range(5):
        acc[i, tid] = 0.0
    c = offset[b, dests[n]]
    open_cell = c > -np.inf
    f = tid
    while f < n_firms:
        j = _z_initial(z_keys[b], f, cum_invariant)
        if n == 0:
            out_z[b, f] = j
        if not open_cell:
            out_status[b, n, f] = False
        else:
            u = entry[b, n, f]
            us = _uniform_open0(_hash_at(status_keys[b], np.uint64(f * n_regions + dests[n])))
            cost = _baseline_entry_cost(u, us, y_low, y_step, status_prob[b, j], stationary_thresholds[b, j, 1],
                                        stationary_thresholds[b, j, 0])
            a = c >= cost
            out_status[b, n, f] = a
            if a:
                acc[0, tid] += weight[b, n, f]
                value = sales[b, n, f] * z_exp[b, j]
                acc[1, tid] += value
                acc[4, tid] += _half_sign(f, weight[b, n, f]) * value
                if c >= _inverse_uniform(y_low, y_step, status_prob[b, j], us) - u:
                    acc[3, tid] += np.float64(eta[b, n, f])
                else:
                    acc[2, tid] += np.float64(eta[b, n, f])
        f += THREADS
    tree_reduce(acc, 5, tid)
    if tid == 0:
        out_active[b, n] = acc[0, 0]
        out_sales[b, n] = acc[1, 0]
        out_entrant_cost[b, n] = acc[2, 0]
        out_incumbent_cost[b, n] = acc[3, 0]
        out_split[b, n] = acc[4, 0]


def dynamic_initial_state(z_keys, status_keys, cum_invariant, y_low, y_step, status_prob, stationary_thresholds,
                          offset, z_score, sales, entry, eta, weight, out_z, out_status, out_active, out_sales,
                          out_entrant_cost, out_incumbent_cost, out_split, dests):
    """``kernels.dynamic_ge.dynamic_initial_state`` on the GPU: same arguments, same outputs."""
    n_blocks, n_dest, n_firms = sales.shape
    if n_blocks == 0 or n_dest == 0:
        return
    outs = _Outputs((out_z, out_status, out_active, out_sales, out_entrant_cost, out_incumbent_cost, out_split))
    _initial_state_kernel[n_blocks * n_dest, THREADS](
        _in(z_keys, np.uint64), _in(status_keys, np.uint64), _in(cum_invariant, np.float64), np.float64(y_low),
        np.float64(y_step), _in(status_prob, np.float64), _in(stationary_thresholds, np.float64),
        _in(offset, np.float64), _z_exp(z_score), _in(sales, np.float64), _in(entry, np.float64),
        _in(eta, np.float32), _in(weight, np.float64), _in(dests, np.int64), *outs.device)
    outs.finish()


@cuda.jit
def _period_aggregates_kernel(sales, entry, eta, weight, z_index, z_exp, status, thresholds, shifts, out_active,
                              out_sales, out_entrant_cost, out_incumbent_cost, out_marginal, out_slope):
    """One CUDA block per (cell (b, n), shift s): hard sums, and the marginal pair by exact reductions."""
    n_dest = sales.shape[1]
    n_firms = sales.shape[2]
    b = cuda.blockIdx.x // n_dest
    n = cuda.blockIdx.x % n_dest
    s = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    acc = cuda.shared.array((4, THREADS), np.float64)
    low = cuda.shared.array(THREADS, np.float64)  # highest entry point of an exporter
    high = cuda.shared.array(THREADS, np.float64)  # lowest entry point of a non-exporter ...
    next_high = cuda.shared.array(THREADS, np.float64)  # ... the next one (with multiplicity)
    marginal = cuda.shared.array(THREADS, np.int64)  # ... and its firm (the lowest index among ties)
    for i in range(4):
        acc[i, tid] = 0.0
    low[tid] = -np.inf
    high[tid] = np.inf
    next_high[tid] = np.inf
    marginal[tid] = -1
    n_z = thresholds.shape[2]
    smallest = np.inf
    for j in range(n_z):
        smallest = min(smallest, min(thresholds[b, n, j, 0], thresholds[b, n, j, 1]))
    open_cell = smallest < np.inf  # a closed cell (no baseline flow): nobody ever exports
    g = shifts[s, b, n]
    f = tid
    while open_cell and f < n_firms:  # firms in increasing order within the thread, as the CPU's scan
        j = z_index[b, f]
        was = status[b, n, f]
        h = thresholds[b, n, j, 1 if was else 0]
        u = entry[b, n, f]
        point = h - u
        if u >= h - g:
            acc[0, tid] += weight[b, n, f]
            acc[1, tid] += sales[b, n, f] * z_exp[b, j]
            if was:
                acc[3, tid] += np.float64(eta[b, n, f])
            else:
                acc[2, tid] += np.float64(eta[b, n, f])
            if point > low[tid]:
                low[tid] = point
        elif point < high[tid]:
            next_high[tid] = high[tid]
            high[tid] = point
            marginal[tid] = f
        elif point < next_high[tid]:
            next_high[tid] = point
        f += THREADS
    tree_reduce(acc, 4, tid)  # (synchronises first)
    step = THREADS // 2
    while step > 0:
        if tid < step:
            other = tid + step
            low[tid] = max(low[tid], low[other])
            # the two smallest of both multisets; the marginal pair is the smallest's (lowest firm on ties)
            tie = high[other] == high[tid] and marginal[other] >= 0 and marginal[other] < marginal[tid]
            if high[other] < high[tid] or tie:
                next_high[tid] = min(high[tid], next_high[other])
                high[tid] = high[other]
                marginal[tid] = marginal[other]
            else:
                next_high[tid] = min(next_high[tid], high[other])
        cuda.syncthreads()
        step //= 2
    if tid != 0:
        return
    out_active[s, b, n] = acc[0, 0]
    out_sales[s, b, n] = acc[1, 0]
    out_entrant_cost[s, b, n] = acc[2, 0]
    out_incumbent_cost[s, b, n] = acc[3, 0]
    for k in range(4):
        out_marginal[k, s, b, n] = 0.0
        out_slope[k, s, b, n] = 0.0
    f = marginal[0]
    if f >= 0:
        _store_marginal_pair(low[0], high[0], next_high[0], g, weight[b, n, f],
                             sales[b, n, f] * z_exp[b, z_index[b, f]], np.float64(eta[b, n, f]),
                             3 if status[b, n, f] else 2, out_marginal, out_slope, s, b, n)


def dynamic_period_aggregates(sales, entry, eta, weight, z_index, z_score, status, thresholds, shifts, out_active,
                              out_sales, out_entrant_cost, out_incumbent_cost, out_marginal, out_slope):
    """``kernels.dynamic_ge.dynamic_period_aggregates`` on the GPU: same arguments, same outputs."""
    n_shifts = shifts.shape[0]
    n_blocks, n_dest, _ = sales.shape
    if n_shifts == 0 or n_blocks == 0 or n_dest == 0:
        return
    outs = _Outputs((out_active, out_sales, out_entrant_cost, out_incumbent_cost, out_marginal, out_slope))
    _period_aggregates_kernel[(n_blocks * n_dest, n_shifts), THREADS](
        _in(sales, np.float64), _in(entry, np.float64), _in(eta, np.float32), _in(weight, np.float64),
        _in(z_index, np.int64), _z_exp(z_score), _in(status, np.bool_), _in(thresholds, np.float64),
        _in(shifts, np.float64), *outs.device)
    outs.finish()


@cuda.jit
def _period_commit_kernel(sales, entry, eta, weight, z_index, z_base, z_exp, status, base, lost, thresholds, shift,
                          out):
    """One CUDA block per cell (b, n): ``dynamic_period_commit``'s loop; ``out`` (9, B, R)."""
    n_dest = sales.shape[1]
    n_firms = sales.shape[2]
    b = cuda.blockIdx.x // n_dest
    n = cuda.blockIdx.x % n_dest
    tid = cuda.threadIdx.x
    acc = cuda.shared.array((9, THREADS), np.float64)
    for i in range(9):
        acc[i, tid] = 0.0
    g = shift[b, n]
    f = tid
    while f < n_firms:
        j = z_index[b, f]
        was = status[b, n, f]
        kept = was and not lost[b, n, f]
        a = entry[b, n, f] >= thresholds[b, n, j, 1 if kept else 0] - g
        value = sales[b, n, f] * z_exp[b, j]
        if a:
            acc[0, tid] += weight[b, n, f]
            acc[1, tid] += value
            acc[8, tid] += _half_sign(f, weight[b, n, f]) * value
            if base[b, n, f]:
                acc[4, tid] += value
                acc[5, tid] += sales[b, n, f] * z_exp[b, z_base[b, f]]
            if not kept:
                acc[2, tid] += weight[b, n, f]
                acc[6, tid] += np.float64(eta[b, n, f])
            else:
                acc[7, tid] += np.float64(eta[b, n, f])
        if was and not (a and kept):
            acc[3, tid] += weight[b, n, f]
        status[b, n, f] = a
        f += THREADS
    tree_reduce(acc, 9, tid)
    if tid < 9:
        out[tid, b, n] = acc[tid, 0]


def dynamic_period_commit(sales, entry, eta, weight, z_index, z_base, z_score, status, base, lost, thresholds, shift,
                          out_active, out_sales, out_entries, out_exits, out_both, out_both_base, out_entrant_cost,
                          out_incumbent_cost, out_split):
    """``kernels.dynamic_ge.dynamic_period_commit`` on the GPU: same arguments, same outputs (``status`` in place)."""
    outs = (out_active, out_sales, out_entries, out_exits, out_both, out_both_base, out_entrant_cost,
            out_incumbent_cost, out_split)
    n_blocks, n_dest, _ = sales.shape
    if n_blocks == 0 or n_dest == 0:
        return
    state = _Outputs((status,), copy_in=True)
    d_out = cuda.device_array((9, n_blocks, n_dest), dtype=np.float64)
    _period_commit_kernel[n_blocks * n_dest, THREADS](
        _in(sales, np.float64), _in(entry, np.float64), _in(eta, np.float32), _in(weight, np.float64),
        _in(z_index, np.int64), _in(z_base, np.int64), _z_exp(z_score), *state.device, _in(base, np.bool_),
        _in(lost, np.bool_), _in(thresholds, np.float64), _in(shift, np.float64), d_out)
    state.finish()
    result = d_out.copy_to_host()
    for i, out in enumerate(outs):
        out[...] = result[i]
