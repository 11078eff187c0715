"""A slow, obviously correct NumPy version of the dynamic firm loop (``kernels.dynamic``).

Scores and pair weights come from ``tests.reference.block_scores`` (its own generator, the strata
``low, width, weight`` (B, M) of ``engine.firms.sampling``); the chain, the baseline status and the
period-by-period rule are written out pair by pair, each pair counting the real pairs it stands for.
"""

import numpy as np

from tests.reference import block_scores, derive_key, hash_at, uniform_open0


def z_paths(z_key, n_firms, n_periods, cum_invariant, cum_transition):
    """(T, M) grid indices: inverse-CDF draws at counters ``(firm << 16) + period``."""
    paths = np.empty((n_periods, n_firms), dtype=np.int64)
    n = cum_invariant.size
    for f in range(n_firms):
        u = uniform_open0(hash_at(z_key, np.uint64(f) << np.uint64(16)))
        state = min(int(np.searchsorted(cum_invariant, u, side="right")), n - 1)
        paths[0, f] = state
        for t in range(1, n_periods):
            u = uniform_open0(hash_at(z_key, (np.uint64(f) << np.uint64(16)) + np.uint64(t)))
            state = min(int(np.searchsorted(cum_transition[state], u, side="right")), n - 1)
            paths[t, f] = state
    return paths


def first_above(y_grid, values, level):
    """Smallest y at which the piecewise-linear ``values`` exceeds ``level``."""
    if values[0] > level:
        return -np.inf
    if not values[-1] > level:
        return np.inf
    high = int(np.searchsorted(values, level, side="right"))
    low = high - 1
    gap = values[high] - values[low]
    return y_grid[low] + (y_grid[1] - y_grid[0]) * ((level - values[low]) / gap if gap > 0 else 1.0)


def lost(status_key, pair, period, loss):
    """Whether the pair's relationship is lost at the start of ``period`` (docs/model.md section 11.2): the
    uniform at counter ``(pair << 16) + period`` of the block's loss stream (its status key with the
    label ``0x1055_0000_0000`` derived) below ``loss``."""
    if loss <= 0.0:
        return False
    key = derive_key(np.uint64(status_key), np.uint64(0x1055_0000_0000))
    return uniform_open0(hash_at(key, np.uint64((pair << 16) + period))) < loss


def cell_sums(keys, sigma, theta, s_a, s_e, rho, n_firms, strata, z_score, cum_invariant, cum_transition, y_grid,
              status_prob, stationary, offset, thresholds, loss=0.0):
    """Every output of ``kernels.dynamic.dynamic_cell_sums``, (7, T, B, R); the last, the half-population
    split, adds each active pair's value with sign +1 (odd firm) or -1 (even firm) when it is sampled
    (weight above 1) and 0 when it stands for itself alone (docs/model.md section 8.2). An exporter whose
    relationship is lost (``lost``) faces the entrants' threshold; it is an exit, and an entry if it
    exports again."""
    productivity_keys, shock_keys, z_keys, status_keys = keys
    n_periods, n_blocks, n_dest = thresholds.shape[:3]
    out = np.zeros((7, n_periods, n_blocks, n_dest))
    for b in range(n_blocks):
        _, sales, entry, weight = block_scores(productivity_keys[b], shock_keys[b], sigma[b], theta[b], s_a[b],
                                               s_e[b], rho[b], n_firms, n_dest, *(s[b] for s in strata))
        paths = z_paths(z_keys[b], n_firms, n_periods, cum_invariant, cum_transition)
        for n in range(n_dest):
            if not offset[b, n] > -np.inf:
                continue
            for f in range(n_firms):
                j0 = paths[0, f]
                us = uniform_open0(hash_at(status_keys[b], np.uint64(f * n_dest + n)))
                g = first_above(y_grid, status_prob[b, j0], us)
                cost = min(stationary[b, j0, 0], max(stationary[b, j0, 1], g)) - entry[f, n]
                was = base = offset[b, n] >= cost
                w = weight[f, n]
                sign = 0.0 if w <= 1.0 + 1e-9 else (1.0 if f % 2 else -1.0)
                value0 = w * np.exp(sales[f, n] + z_score[b, j0])
                if base:
                    out[0, 0, b, n] += w
                    out[1, 0, b, n] += value0
                    out[4, 0, b, n] += value0
                    out[5, 0, b, n] += value0
                    out[6, 0, b, n] += sign * value0
                for t in range(1, n_periods):
                    j = paths[t, f]
                    kept = was and not lost(status_keys[b], f * n_dest + n, t, loss)
                    now = entry[f, n] >= thresholds[t, b, n, j, int(kept)]
                    value = w * np.exp(sales[f, n] + z_score[b, j])
                    if now:
                        out[0, t, b, n] += w
                        out[1, t, b, n] += value
                        out[6, t, b, n] += sign * value
                        out[2, t, b, n] += w * (not kept)
                        if base:
                            out[4, t, b, n] += value
                            out[5, t, b, n] += value0
                    if was and not (now and kept):
                        out[3, t, b, n] += w
                    was = now
    return out


def backward_step(mixed, multiplier, base_flow, cost, discount, loss, y_grid):
    """NumPy version of ``kernels.bellman.backward_step``: (this month's values, thresholds)."""
    from engine.firms.bellman import _continuation, _threshold_roots

    n_cells, n_y, n_z, _ = mixed.shape
    q_export = multiplier[:, None, None, None] * base_flow[None, :, :, None] - cost \
        + discount * _continuation(mixed, loss)
    q_stay_out = discount * mixed[..., 0:1]
    advantage = (q_export - q_stay_out).reshape(n_cells, n_y, 2 * n_z)
    return np.maximum(q_export, q_stay_out), _threshold_roots(advantage, y_grid).reshape(n_cells, n_z, 2)
