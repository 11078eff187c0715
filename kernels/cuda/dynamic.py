"""CUDA loop and launch of the dynamic firm model, all periods in one go: the twins of
``kernels.dynamic.dynamic_baseline_costs`` and ``kernels.dynamic.dynamic_cell_sums`` (same arguments,
same outputs; ``engine.devices`` picks one or the other).

The per-firm math is not here: every expression comes from ``kernels.firm``, ``kernels.rng`` and
``kernels.dynamic``, compiled as device functions by ``kernels.cuda.device.device_function``.

Layout (the one measured fastest for this computation on an H200; README, "GPU"): a CUDA block
takes ``THREADS * DYNAMIC_FIRMS_PER_THREAD`` firms of one (origin, sector) block; each thread loops
over its firms (firm ``first + tid + k * THREADS``) and the destinations, accumulating in its own
column of a shared-memory array; a tree reduction in shared memory then leaves one sum per output
cell and the block adds it with ONE atomic add per CUDA block and cell. Outputs are zeroed on the
device, filled by atomics and copied back once per call.

The demand shock is stratified as on the CPU (``engine.firms.sampling``): ``strata`` (B, 3, M) holds each
block's strata low edges, widths and weights, firm ``f`` takes stratum ``(f + stratum_offset) % M`` in a
destination (``kernels.firm.stratum_offset``, the rotation of ``kernels.dynamic.block_scores``), draws its
shock inside it (``kernels.firm.scores``) and counts for the stratum's weight, the real pairs it stands
for: counts (active, entries, exits) add the weight, sales are ``weight * exp(v)``.

Agreement with the CPU: the random numbers (counter-based hashes) and the strata are bitwise identical;
the floating-point scores agree to rounding (FMA contraction can differ in the last bit), so counts are
identical unless a score lies within about 1e-15 of a threshold, and sums agree to about 1e-15
relative (the order of the float64 additions differs). ``tests/test_cuda.py`` checks this under the
CUDA simulator.
"""

import math

import numpy as np

from kernels import dynamic as _dynamic
from kernels import firm as _firm
from kernels import rng as _rng
from kernels.cuda.device import SIMULATOR, THREADS, chunks, cuda, device_function, tree_reduce

#: Firms per thread of the dynamic kernel (a CUDA block takes THREADS times as many firms).
DYNAMIC_FIRMS_PER_THREAD = 4 if SIMULATOR else 16
_DYN_CHUNK = THREADS * DYNAMIC_FIRMS_PER_THREAD
#: Sums per cell of the dynamic kernel: active, sales, entries, exits, both, both_base, split.
_N_SUMS = 7

_hash_at = device_function(_rng.hash_at)
_uniform_open0 = device_function(_rng.uniform_open0)
_z_initial = device_function(_dynamic.z_initial)
_z_step = device_function(_dynamic.z_step)
_baseline_entry_cost = device_function(_dynamic.baseline_entry_cost)
_scaled_log_productivity = device_function(_firm.scaled_log_productivity)
_scores = device_function(_firm.scores)
_stratum_offset = device_function(_firm.stratum_offset)
_half_sign = device_function(_firm.half_sign)
_loss_stream = device_function(_dynamic.loss_stream)
_relationship_lost = device_function(_dynamic.relationship_lost)


@cuda.jit
def _baseline_costs_kernel(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                           strata, cum_invariant, y_low, y_step, status_prob, stationary_thresholds, chunks_per_block,
                           out_cost, out_initial_z):
    """One thread per firm: its period-0 ``z`` index and, per destination, ``baseline_entry_cost``."""
    b = cuda.blockIdx.x // chunks_per_block
    f = (cuda.blockIdx.x % chunks_per_block) * THREADS + cuda.threadIdx.x
    if f >= n_firms:
        return
    n_dest = out_cost.shape[1]
    m = strata.shape[2]
    r = rho[b]
    rho_c = math.sqrt(1.0 - r * r)
    slp = _scaled_log_productivity(productivity_keys[b], np.uint64(f), sm1_over_theta[b])
    j = _z_initial(z_keys[b], f, cum_invariant)
    out_initial_z[b, f] = j
    for n in range(n_dest):
        pair = np.uint64(f * n_dest + n)
        k = (f + np.int64(_stratum_offset(shock_keys[b], n, m))) % m
        sales, entry = _scores(shock_keys[b], pair, strata[b, 0, k], strata[b, 1, k], slp, s_a[b], s_e[b], r, rho_c)
        us = _uniform_open0(_hash_at(status_keys[b], pair))
        out_cost[b, n, f] = _baseline_entry_cost(entry, us, y_low, y_step, status_prob[b, j],
                                                 stationary_thresholds[b, j, 1], stationary_thresholds[b, j, 0])


def dynamic_baseline_costs(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                           strata, cum_invariant, y_low, y_step, status_prob, stationary_thresholds, out_cost,
                           out_initial_z):
    """``kernels.dynamic.dynamic_baseline_costs`` on the GPU: same arguments, same outputs."""
    n_blocks = out_cost.shape[0]
    if n_blocks == 0 or n_firms == 0:
        return
    per_block = chunks(n_firms, THREADS)
    d_cost = cuda.device_array(out_cost.shape, dtype=np.float64)
    d_initial = cuda.device_array(out_initial_z.shape, dtype=np.int64)
    _baseline_costs_kernel[n_blocks * per_block, THREADS](
        *_to_device_keys(productivity_keys, shock_keys, z_keys, status_keys),
        *_to_device_params(sm1_over_theta, s_a, s_e, rho), np.int64(n_firms), _f64(strata), _f64(cum_invariant),
        np.float64(y_low), np.float64(y_step), _f64(status_prob), _f64(stationary_thresholds), np.int64(per_block),
        d_cost, d_initial)
    out_cost[...] = d_cost.copy_to_host()
    out_initial_z[...] = d_initial.copy_to_host()


def _f64(x):
    return cuda.to_device(np.ascontiguousarray(x, dtype=np.float64))


def _to_device_keys(*keys):
    return [cuda.to_device(np.ascontiguousarray(k, dtype=np.uint64)) for k in keys]


def _to_device_params(*params):
    return [_f64(p) for p in params]


@cuda.jit
def _dynamic_sums_kernel(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                         strata, z_exp, cum_invariant, cum_transition, y_low, y_step, status_prob,
                         stationary_thresholds, offset, thresholds, loss, chunks_per_block, out):
    """Per CUDA block: ``THREADS * DYNAMIC_FIRMS_PER_THREAD`` firms of one block, every destination and period.

    A thread keeps the state of its firms (``z`` index, status, baseline status and sales, the real
    pairs each stands for and their ``exp(v)``, entry score) in local arrays and, per (destination,
    period), adds its firms' contributions to its column of a shared (6, THREADS) array; the block
    reduces it and adds ``out[:, t, b, n]`` with one atomic add per sum. The ``z`` path is redrawn per
    destination from the counter-based stream (cheaper than storing it; identical numbers).
    """
    b = cuda.blockIdx.x // chunks_per_block
    first = (cuda.blockIdx.x % chunks_per_block) * _DYN_CHUNK
    tid = cuda.threadIdx.x
    n_periods = thresholds.shape[0]
    n_dest = thresholds.shape[2]
    m = strata.shape[2]
    acc = cuda.shared.array((_N_SUMS, THREADS), np.float64)
    slp = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)
    entry = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)
    weight = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)  # real pairs of the pair (stratum weight)
    exp_v = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)  # weight * exp(v)
    state = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.int64)
    status = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.int64)
    base = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.int64)
    base_weight = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)
    half = cuda.local.array(DYNAMIC_FIRMS_PER_THREAD, np.float64)  # kernels.firm.half_sign of the pair
    z_key = z_keys[b]
    loss_key = _loss_stream(status_keys[b])
    r = rho[b]
    rho_c = math.sqrt(1.0 - r * r)
    mine = 0  # firms of this thread: first + tid + k * THREADS for k < mine
    for k in range(DYNAMIC_FIRMS_PER_THREAD):
        f = first + tid + k * THREADS
        if f < n_firms:
            slp[k] = _scaled_log_productivity(productivity_keys[b], np.uint64(f), sm1_over_theta[b])
            mine = k + 1
    for n in range(n_dest):
        c = offset[b, n]
        if not c > -np.inf:  # a closed cell: the same for every thread of the block
            continue
        for i in range(_N_SUMS):
            acc[i, tid] = 0.0
        rotation = np.int64(_stratum_offset(shock_keys[b], n, m))
        for k in range(mine):
            f = first + tid + k * THREADS
            pair = np.uint64(f * n_dest + n)
            q = (f + rotation) % m
            sales, u = _scores(shock_keys[b], pair, strata[b, 0, q], strata[b, 1, q], slp[k], s_a[b], s_e[b], r,
                               rho_c)
            j = _z_initial(z_key, f, cum_invariant)
            us = _uniform_open0(_hash_at(status_keys[b], pair))
            cost = _baseline_entry_cost(u, us, y_low, y_step, status_prob[b, j], stationary_thresholds[b, j, 1],
                                        stationary_thresholds[b, j, 0])
            a = c >= cost
            state[k] = j
            entry[k] = u
            weight[k] = strata[b, 2, q]
            exp_v[k] = math.exp(sales) * weight[k]
            status[k] = a
            base[k] = a
            base_weight[k] = exp_v[k] * z_exp[b, j]
            half[k] = _half_sign(f, weight[k])
            if a:
                acc[0, tid] += weight[k]
                acc[1, tid] += base_weight[k]
                acc[6, tid] += half[k] * base_weight[k]
        acc[4, tid] = acc[1, tid]
        acc[5, tid] = acc[1, tid]
        _reduce_and_add(acc, out, 0, b, n, tid)
        for t in range(1, n_periods):
            for i in range(_N_SUMS):
                acc[i, tid] = 0.0
            for k in range(mine):
                f = first + tid + k * THREADS
                j0 = state[k]
                j = _z_step(z_key, f, t, j0, cum_transition)
                state[k] = j
                was = status[k]
                kept = 0
                if was and not _relationship_lost(loss_key, f * n_dest + n, t, loss):
                    kept = 1
                a = entry[k] >= thresholds[t, b, n, j, kept]
                value = exp_v[k] * z_exp[b, j]
                if a:
                    acc[0, tid] += weight[k]
                    acc[1, tid] += value
                    acc[6, tid] += half[k] * value
                    if base[k]:
                        acc[4, tid] += value
                        acc[5, tid] += base_weight[k]
                    if not kept:
                        acc[2, tid] += weight[k]
                if was and not (a and kept):
                    acc[3, tid] += weight[k]
                status[k] = a
            _reduce_and_add(acc, out, t, b, n, tid)


@cuda.jit(device=True)
def _reduce_and_add(acc, out, t, b, n, tid):
    """Reduce the block's (7, THREADS) sums and add them to ``out[:, t, b, n]`` (one atomic each)."""
    tree_reduce(acc, _N_SUMS, tid)
    if tid < _N_SUMS:
        cuda.atomic.add(out, (tid, t, b, n), acc[tid, 0])
    cuda.syncthreads()


def dynamic_cell_sums(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                      strata, z_score, cum_invariant, cum_transition, y_low, y_step, status_prob, stationary_thresholds,
                      offset, thresholds, loss, out_active, out_sales, out_entries, out_exits, out_both, out_both_base,
                      out_split):
    """``kernels.dynamic.dynamic_cell_sums`` on the GPU: same arguments, same outputs.

    ``exp(z_score)`` is taken once on the host (NumPy) instead of per block in the kernel.
    """
    outs = (out_active, out_sales, out_entries, out_exits, out_both, out_both_base, out_split)
    n_periods, n_blocks, n_dest = out_active.shape
    d_out = cuda.to_device(np.zeros((_N_SUMS, n_periods, n_blocks, n_dest)))
    if n_periods > 0 and n_blocks > 0 and n_dest > 0 and n_firms > 0:
        per_block = chunks(n_firms, _DYN_CHUNK)
        _dynamic_sums_kernel[n_blocks * per_block, THREADS](
            *_to_device_keys(productivity_keys, shock_keys, z_keys, status_keys),
            *_to_device_params(sm1_over_theta, s_a, s_e, rho), np.int64(n_firms), _f64(strata),
            _f64(np.exp(z_score)), _f64(cum_invariant), _f64(cum_transition), np.float64(y_low), np.float64(y_step),
            _f64(status_prob), _f64(stationary_thresholds), _f64(offset), _f64(thresholds), np.float64(loss),
            np.int64(per_block), d_out)
    result = d_out.copy_to_host()
    for i, out in enumerate(outs):
        out[...] = result[i]
