"""Counter-based random numbers: pure functions of (key, counter).

Every random number of the model is ``hash_at(key, counter)`` for a 64-bit ``key`` derived from
(seed, stream, draw, block) and a counter that names the firm (or firm-destination pair). There is
no generator state, so results do not depend on thread count, chunking or device (docs/model.md section 2).

The hash is the output function of splitmix64 (Steele, Lea & Flood 2014, "Fast splittable
pseudorandom number generators"): ``hash_at(key, i)`` is the ``i``-th output of a splitmix64
sequence started at ``key``. It passes BigCrush as a generator; we use it only as a mixing function.

Normals come from the normal quantile (``kernels.normal``) of the two open uniforms of one hash
(``open_uniforms``), so one hash gives a pair of independent standard normals, cut at 6.34 standard
deviations (tail probability 2.3e-10); the demand shock's uniform is placed in its stratum first
(``kernels.firm.stratified_normals``, docs/model.md section 2.1).

All functions are ``numba.njit`` and work on scalars (``numpy.uint64``); the NumPy reference in
``tests/reference.py`` mirrors them on arrays bit for bit.
"""

import numpy as np
from numba import njit


GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)
_TWO_M53 = 2.0**-53
_TWO_M32 = 2.0**-32


@njit(inline="always", cache=True)
def finalize(z):
    """splitmix64 output function (a bijection of uint64 with full avalanche)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def hash_at(key, counter):
    """The ``counter``-th splitmix64 output of the sequence keyed by ``key`` (both uint64)."""
    return finalize(key + (counter + _ONE) * GOLDEN)


@njit(inline="always", cache=True)
def stream_position(key, counter):
    """The splitmix64 state whose output is ``hash_at(key, counter)``: ``finalize`` of it.

    Counters ``c + j * d`` have positions ``stream_position(key, c) + j * (d * GOLDEN)`` (uint64
    arithmetic wraps), so a loop can step the state by one addition instead of multiplying, which
    lets LLVM keep it as a vector induction variable.
    """
    return key + (counter + _ONE) * GOLDEN


@njit(inline="always", cache=True)
def derive_key(key, label):
    """Key of a sub-stream ``label`` (uint64) of ``key``; used for stream -> draw -> block."""
    return finalize(key ^ finalize(label * GOLDEN + _MIX1))


@njit(inline="always", cache=True, error_model="numpy")
def uniform_open0(h):
    """Uniform on (0, 1] from the top 53 bits of ``h``; never 0, so ``log`` is finite.

    ``((h >> 11) + 1) * 2**-53``, with the ``+ 1`` done exactly in floating point (in a vector loop,
    LLVM materialises the integer ``+ 1`` with an instruction that falsely depends on a register
    last written by a slow division, which serialised the loop iterations).
    """
    return np.float64(h >> _S11) * _TWO_M53 + _TWO_M53


@njit(inline="always", cache=True, error_model="numpy")
def open_uniforms(h):
    """Two uniforms on the open interval (0, 1) from the 32-bit halves of ``h``:
    ``(k + 1/2) * 2**-32``, so a quantile function of either is finite."""
    return (np.float64(h >> _S32) + 0.5) * _TWO_M32, (np.float64(h & _LOW32) + 0.5) * _TWO_M32
