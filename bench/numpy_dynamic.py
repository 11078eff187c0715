"""``kernels.dynamic.dynamic_cell_sums`` written with NumPy array operations, for the speed ratio.

The same model and random numbers (``bench.numpy_model``'s hash), vectorised over all firms and
destinations of a block, one period at a time: what a careful NumPy user would write. Like the
kernel, the later periods visit only the firms that export somewhere in period 0 or could pass a
later threshold somewhere (the kernel skips per pair, this version per firm).
"""

import numpy as np
from scipy.special import ndtri

from bench.numpy_model import _LOW32, _hash_at
from kernels.firm import stratum_offset


def _uniform(h):
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 + 2.0**-53


def _scores(productivity_key, shock_key, sm1_over_theta, s_a, s_e, rho, n_firms, n_dest, strata):
    """Sales and entry scores and the pairs' weights, (M, R) each; ``strata`` (3, M) as the kernel's."""
    firms = np.arange(n_firms, dtype=np.uint64)
    slp = -sm1_over_theta * np.log(_uniform(_hash_at(productivity_key, firms)))
    h = _hash_at(shock_key, firms[:, None] * np.uint64(n_dest) + np.arange(n_dest, dtype=np.uint64))
    u1 = ((h >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
    u2 = ((h & _LOW32).astype(np.float64) + 0.5) * 2.0**-32
    offsets = np.array([int(stratum_offset(shock_key, n, n_firms)) for n in range(n_dest)])
    stratum = (np.arange(n_firms)[:, None] + offsets[None, :]) % n_firms
    z1 = -ndtri(strata[0][stratum] + u1 * strata[1][stratum])
    z2 = ndtri(u2)
    sales = slp[:, None] + s_a * z1
    return sales, sales - s_e * (rho * z1 + np.sqrt(1 - rho**2) * z2), strata[2][stratum]


def _paths(z_key, n_firms, n_periods, cum_invariant, cum_transition):
    firms = np.arange(n_firms, dtype=np.uint64) << np.uint64(16)
    n = cum_invariant.size
    paths = np.empty((n_periods, n_firms), dtype=np.int64)
    state = np.minimum((_uniform(_hash_at(z_key, firms))[:, None] >= cum_invariant).sum(axis=1), n - 1)
    paths[0] = state
    for t in range(1, n_periods):
        u = _uniform(_hash_at(z_key, firms + np.uint64(t)))
        state = np.minimum((u[:, None] >= cum_transition[state]).sum(axis=1), n - 1)
        paths[t] = state
    return paths


def _first_above(y_low, y_step, values, level):
    """Vectorised ``kernels.dynamic.inverse_uniform``: ``values`` (F, Ny), ``level`` (F,)."""
    high = (values <= level[:, None]).sum(axis=1)
    n = values.shape[1]
    low = np.clip(high - 1, 0, n - 1)
    hi = np.clip(high, 0, n - 1)
    rows = np.arange(level.size)
    gap = values[rows, hi] - values[rows, low]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(gap > 0, (level - values[rows, low]) / gap, 1.0)
    out = y_low + y_step * (low + w)
    out = np.where(high == 0, -np.inf, out)
    return np.where(high >= n, np.inf, out)


def dynamic_cell_sums(productivity_keys, shock_keys, z_keys, status_keys, sm1_over_theta, s_a, s_e, rho, n_firms,
                      strata, z_score, cum_invariant, cum_transition, y_low, y_step, status_prob, stationary, offset,
                      thresholds):
    """The six outputs of the kernel, (6, T, B, R)."""
    n_periods, n_blocks, n_dest = thresholds.shape[:3]
    out = np.zeros((6, n_periods, n_blocks, n_dest))
    firms = np.arange(n_firms, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(n_blocks):
            sales, entry, weight = _scores(productivity_keys[b], shock_keys[b], sm1_over_theta[b], s_a[b], s_e[b],
                                           rho[b], n_firms, n_dest, strata[b])
            paths = _paths(z_keys[b], n_firms, n_periods, cum_invariant, cum_transition)
            z_exp = np.exp(z_score[b])
            value = weight * np.exp(sales)  # (M, R): the real pairs' sales
            j0 = paths[0]
            status = np.zeros((n_firms, n_dest), dtype=bool)
            for n in range(n_dest):
                us = _uniform(_hash_at(status_keys[b], firms * np.uint64(n_dest) + np.uint64(n)))
                g = _first_above(y_low, y_step, status_prob[b, j0], us)
                cost = np.minimum(stationary[b, j0, 0], np.maximum(stationary[b, j0, 1], g)) - entry[:, n]
                status[:, n] = offset[b, n] >= cost
            status &= offset[b] > -np.inf
            base = status.copy()
            base_value = value * z_exp[j0][:, None]
            out[0, 0, b] = np.where(base, weight, 0.0).sum(axis=0)
            out[1, 0, b] = out[4, 0, b] = out[5, 0, b] = np.where(base, base_value, 0.0).sum(axis=0)
            # the kernel's shortcut, per firm: skip firms that export nowhere in period 0 and whose
            # entry scores lie below every later threshold of each destination's cell
            lowest = thresholds[1:, b].min(axis=(0, 2, 3)) if n_periods > 1 else np.full(n_dest, np.inf)
            keep = (base | (entry >= lowest[None, :])).any(axis=1)
            entry, value, status, base, base_value = entry[keep], value[keep], status[keep], base[keep], base_value[keep]
            weight = weight[keep]
            paths = paths[:, keep]
            dest = np.arange(n_dest)
            for t in range(1, n_periods):
                j = paths[t]
                table = thresholds[t, b][dest[None, :], j[:, None], status.astype(np.int64)]  # (M, R)
                now = (entry >= table) & (offset[b] > -np.inf)
                current = value * z_exp[j][:, None]
                out[0, t, b] = np.where(now, weight, 0.0).sum(axis=0)
                out[1, t, b] = np.where(now, current, 0.0).sum(axis=0)
                out[2, t, b] = np.where(now & ~status, weight, 0.0).sum(axis=0)
                out[3, t, b] = np.where(~now & status, weight, 0.0).sum(axis=0)
                both = now & base
                out[4, t, b] = np.where(both, current, 0.0).sum(axis=0)
                out[5, t, b] = np.where(both, base_value, 0.0).sum(axis=0)
                status = now
    return out
