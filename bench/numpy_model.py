"""The brute-force cell sums of ``kernels.reference.static.direct_cell_sums`` written with NumPy array operations.

The same model and the same random numbers: the splitmix64 hash of ``kernels.rng`` on uint64
arrays, the same uniforms, Box-Muller with NumPy's ``log``, ``sqrt``, ``cos`` and ``sin``, the same
scores and the same per-cell sums. It is what a careful NumPy user would write: vectorised over
chunks of firms (so the temporaries stay in cache) times all destinations, in-place operations
where they help, NumPy's own SIMD math functions. The benchmarks compare the Numba kernel with
it in the same run and check that both give the same numbers (float64: counts equal, sums to
1e-12; float32: within the tolerance stated in ``tests/test_fastmath.py``).
"""

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)

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


def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, thresholds,
                     dtype=np.float64, chunk=CHUNK):
    """Active firms and summed ``exp(sales_score)`` per cell, as ``kernels.reference.static.direct_cell_sums``.

    Parameters as the kernel's (without ``firm_chunk`` and the outputs); ``dtype`` float64 or
    float32 is the arithmetic of the scores and ``exp`` (float32: as ``direct_cell_sums_f32``,
    the uniforms rounded to float32). Returns ``(active, sales_index)``, shapes (B, R).
    """
    n_blocks, n_dest = thresholds.shape
    dtype = np.dtype(dtype)
    active = np.zeros((n_blocks, n_dest), dtype=np.int64)
    sales_index = np.zeros((n_blocks, n_dest))
    destinations = np.arange(n_dest, dtype=np.uint64)
    two_m32 = dtype.type(2.0**-32)
    two_pi = dtype.type(2 * np.pi)
    with np.errstate(over="ignore"):
        for b in range(n_blocks):
            a, e, r = (dtype.type(v) for v in (s_a[b], s_e[b], rho[b]))
            rc = dtype.type(np.sqrt(1.0 - rho[b] ** 2))
            threshold = dtype.type(thresholds[b])  # (R,)
            for start in range(0, n_firms, chunk):
                firms = np.arange(start, min(start + chunk, n_firms), dtype=np.uint64)
                h = _hash_at(productivity_keys[b], firms)
                u = ((h >> np.uint64(11)) + _ONE).astype(np.float64) * 2.0**-53
                slp = (np.log(u) * -sm1_over_theta[b]).astype(dtype)
                pairs = firms[:, None] * np.uint64(n_dest) + destinations
                h = _hash_at(shock_keys[b], pairs)
                u1 = ((h >> np.uint64(32)) + _ONE).astype(dtype)
                u1 *= two_m32
                u2 = (h & _LOW32).astype(dtype)
                u2 *= two_m32 * two_pi  # the angle 2 pi u2 (one rounding more than the kernel's)
                radius = np.log(u1, out=u1)
                radius *= dtype.type(-2.0)
                np.sqrt(radius, out=radius)
                z1 = np.cos(u2)
                z1 *= radius
                z2 = np.sin(u2, out=u2)
                z2 *= radius
                sales = z1 * a
                sales += slp[:, None]
                cost = z1
                cost *= r
                z2 *= rc
                cost += z2
                cost *= e
                entry = np.subtract(sales, cost, out=cost)
                on = entry >= threshold
                active[b] += on.sum(axis=0)
                np.exp(sales, out=sales)
                sales[~on] = 0
                sales_index[b] += sales.sum(axis=0, dtype=np.float64)
    return active, sales_index
