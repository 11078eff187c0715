"""A slow, obviously correct NumPy version of the model, to check the kernels against.

It re-implements the counter-based generator on uint64 arrays (NumPy wraps on overflow, as the
hash requires) and evaluates every firm-destination pair directly, with no sorting.
"""

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def finalize(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


def hash_at(key, counter):
    with np.errstate(over="ignore"):
        return finalize(np.uint64(key) + (np.asarray(counter, dtype=np.uint64) + np.uint64(1)) * GOLDEN)


def derive_key(key, label):
    with np.errstate(over="ignore"):
        return finalize(np.uint64(key) ^ finalize(np.uint64(label) * GOLDEN + MIX1))


def block_keys(stream_key, draw, n_blocks):
    draw_key = derive_key(stream_key, draw)
    return np.array([derive_key(draw_key, b) for b in range(n_blocks)], dtype=np.uint64)


def uniform_open0(h):
    return ((h >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53


STRATA_LABEL = np.uint64(0x57A7_A000_0000)


def open_uniforms(h):
    return (((h >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32,
            ((h & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32)


def strata_of(shock_key, n_firms, n_dest):
    """(M, R): the stratum of each pair (firm f takes stratum (f + offset_n) % M in destination n)."""
    offsets = np.array([int(derive_key(shock_key, np.uint64(n) + STRATA_LABEL) % np.uint64(n_firms))
                        for n in range(n_dest)])
    return (np.arange(n_firms)[:, None] + offsets[None, :]) % n_firms


def block_scores(productivity_key, shock_key, sigma, theta, s_a, s_e, rho, n_firms, n_dest, low, width, weight):
    """Scores and weights of every firm of one block in every destination: arrays of shape (M, R).

    The demand shock is the normal quantile (SciPy's, independent of the kernels') of a uniform in
    the pair's stratum of its upper-tail probability (``engine.firms.sampling``)."""
    from scipy.special import ndtri

    firms = np.arange(n_firms, dtype=np.uint64)
    phi = uniform_open0(hash_at(productivity_key, firms)) ** (-1.0 / theta)
    pairs = firms[:, None] * np.uint64(n_dest) + np.arange(n_dest, dtype=np.uint64)[None, :]
    u1, u2 = open_uniforms(hash_at(shock_key, pairs))
    stratum = strata_of(shock_key, n_firms, n_dest)
    a = -ndtri(low[stratum] + u1 * width[stratum])
    e = rho * a + np.sqrt(1 - rho**2) * ndtri(u2)
    sales_score = (sigma - 1) * np.log(phi)[:, None] + s_a * a
    entry_score = sales_score - s_e * e
    return phi, sales_score, entry_score, weight[stratum]


def cell_sums(productivity_keys, shock_keys, sigma, theta, s_a, s_e, rho, n_firms, thresholds, low, width, weight):
    """Real active firms and the weighted sum of exp(sales_score) per cell (block, destination), directly."""
    n_blocks, n_dest = thresholds.shape
    active = np.zeros((n_blocks, n_dest))
    sales = np.zeros((n_blocks, n_dest))
    for b in range(n_blocks):
        _, ss, es, w = block_scores(productivity_keys[b], shock_keys[b], sigma[b], theta[b], s_a[b],
                                    s_e[b], rho[b], n_firms, n_dest, low[b], width[b], weight[b])
        on = es >= thresholds[b][None, :]
        active[b] = np.where(on, w, 0.0).sum(axis=0)
        sales[b] = np.where(on, w * np.exp(ss), 0.0).sum(axis=0)
    return active, sales
