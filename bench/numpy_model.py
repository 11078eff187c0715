"""The brute-force cell sums of ``kernels.reference.static.direct_cell_sums`` written with NumPy array operations.

The same model and the same random numbers: the splitmix64 hash of ``kernels.rng`` on uint64
arrays, the same uniforms, the same strata of the demand shock (``engine.firms.sampling``) rotated
per destination, SciPy's normal quantile ``ndtri`` (its own algorithm) for the two normals, the same
scores and the same weighted per-cell sums. It is what a careful NumPy user would write: vectorised
over chunks of firms (so the temporaries stay in cache) times all destinations, in-place operations
where they help, NumPy's and SciPy's own vectorised functions. The benchmarks compare the Numba
kernel with it in the same run and check that both give the same numbers (float64: real pairs and
sums to 1e-12; float32: within the tolerance stated in ``tests/test_fastmath.py``).
"""

import numpy as np
from scipy.special import ndtri

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
#: ``kernels.firm.STRATA_LABEL``.
STRATA_LABEL = np.uint64(0x57A7_A000_0000)

#: Firms per chunk: chunk x destinations values per temporary (20,480 x 8 bytes for 2048 x 10;
#: 1024 to 8192 measured within 10% of each other).
CHUNK = 2048


def _finalize(z):
    """splitmix64 output function, in place on a uint64 array (wraps on overflow)."""
    z ^= z >> np.uint64(30)
    z *= MIX1
    z ^= z >> np.uint64(27)
    z *= MIX2
    z ^= z >> np.uint64(31)
    return z


def _hash_at(key, counters):
    """``kernels.rng.hash_at`` on an array of uint64 counters (a new array)."""
    z = counters + _ONE
    z *= GOLDEN
    z += np.uint64(key)
    return _finalize(z)


def _stratum_offsets(shock_key, n_dest, n_firms):
    """``kernels.firm.stratum_offset`` of each destination (``derive_key`` on uint64 arrays)."""
    with np.errstate(over="ignore"):
        labels = np.arange(n_dest, dtype=np.uint64) + STRATA_LABEL
        z = _finalize(labels * GOLDEN + MIX1)
        z ^= np.uint64(shock_key)
        return (_finalize(z) % np.uint64(n_firms)).astype(np.int64)


def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
                     strata_weight, thresholds, dtype=np.float64, chunk=CHUNK):
    """Real active pairs and their weighted ``exp(sales_score)`` per cell, as
    ``kernels.reference.static.direct_cell_sums``.

    Parameters as the kernel's (without ``firm_chunk`` and the outputs); ``dtype`` float64 or
    float32 is the arithmetic of the scores and ``exp`` (float32: as ``direct_cell_sums_f32``, the
    normals' probabilities rounded to float32 as signed tails, weights and sums in float64). Returns
    ``(active, sales_index)``, shapes (B, R), both float64.
    """
    n_blocks, n_dest = thresholds.shape
    dtype = np.dtype(dtype)
    active = np.zeros((n_blocks, n_dest))
    sales_index = np.zeros((n_blocks, n_dest))
    destinations = np.arange(n_dest, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(n_blocks):
            a, e, r = (dtype.type(v) for v in (s_a[b], s_e[b], rho[b]))
            rc = dtype.type(np.sqrt(1.0 - rho[b] ** 2))
            threshold = dtype.type(thresholds[b])  # (R,)
            offsets = _stratum_offsets(shock_keys[b], n_dest, n_firms)
            for start in range(0, n_firms, chunk):
                firms = np.arange(start, min(start + chunk, n_firms), dtype=np.uint64)
                h = _hash_at(productivity_keys[b], firms)
                u = ((h >> np.uint64(11)) + _ONE).astype(np.float64) * 2.0**-53
                slp = (np.log(u) * -sm1_over_theta[b]).astype(dtype)
                pairs = firms[:, None] * np.uint64(n_dest) + destinations
                h = _hash_at(shock_keys[b], pairs)
                stratum = (firms.astype(np.int64)[:, None] + offsets) % n_firms
                p1 = ((h >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
                p1 *= strata_width[b][stratum]
                p1 += strata_low[b][stratum]
                p2 = ((h & _LOW32).astype(np.float64) + 0.5) * 2.0**-32
                z1 = _quantile(p1, dtype)
                z1 *= -1  # the demand shock: p1 is its upper-tail probability
                z2 = _quantile(p2, dtype)
                sales = z1 * a
                sales += slp[:, None]
                cost = z1
                cost *= r
                z2 *= rc
                cost += z2
                cost *= e
                entry = np.subtract(sales, cost, out=cost)
                on = entry >= threshold
                weight = np.where(on, strata_weight[b][stratum], 0.0)
                active[b] += weight.sum(axis=0)
                np.exp(sales, out=sales)
                weight *= sales
                sales_index[b] += weight.sum(axis=0)
    return active, sales_index


def _quantile(p, dtype):
    """``Phi^-1(p)`` in ``dtype`` from float64 ``p``, by the nearer tail (so that ``p`` near 1 keeps its
    distance to 1 when ``dtype`` is float32)."""
    upper = p > 0.5
    tail = np.where(upper, 1.0 - p, p).astype(dtype)
    z = ndtri(tail)
    np.negative(z, out=z, where=upper)
    return z
