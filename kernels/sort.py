"""Least-significant-digit radix argsort of float64 keys (stable, O(n)).

``numpy.argsort`` in Numba is a comparison quicksort (about 2.7 ms for 20,000 keys here); this
sorts the same keys in about a fifth of that by mapping each float to an unsigned integer with the
same order (flip every bit of negatives, the sign bit of positives) and doing six counting passes
of 11 bits. Passes where every key has the same digit are skipped. The result is the exact
ascending order (ties keep their input order); NaN is not expected.
"""

import numpy as np
from numba import njit

_BITS = 11
_BUCKETS = 1 << _BITS
_MASK = np.uint64(_BUCKETS - 1)
_SIGN = np.uint64(1) << np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True)
def radix_argsort(values, order, keys, scratch_keys, scratch_order, counts):
    """Write into ``order`` the indices that sort ``values`` ascending.

    Parameters
    ----------
    values : ndarray of float64, shape (n,)
    order : ndarray of int64, shape (n,)
        Output.
    keys, scratch_keys : ndarray of uint64, shape (n,)
        Scratch.
    scratch_order : ndarray of int64, shape (n,)
        Scratch.
    counts : ndarray of int64, shape (2048,)
        Scratch.
    """
    n = values.size
    bits = values.view(np.uint64)
    for j in range(n):
        b = bits[j]
        keys[j] = (b ^ _ALL) if (b & _SIGN) else (b | _SIGN)
        order[j] = j
    src_keys, src_order, dst_keys, dst_order = keys, order, scratch_keys, scratch_order
    swapped = False
    for shift in range(0, 64, _BITS):
        s = np.uint64(shift)
        counts[:] = 0
        for j in range(n):
            counts[(src_keys[j] >> s) & _MASK] += 1
        if counts[(src_keys[0] >> s) & _MASK] == n:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for d in range(_BUCKETS):
            c = counts[d]
            counts[d] = total
            total += c
        for j in range(n):
            d = (src_keys[j] >> s) & _MASK
            pos = counts[d]
            counts[d] = pos + 1
            dst_keys[pos] = src_keys[j]
            dst_order[pos] = src_order[j]
        src_keys, dst_keys = dst_keys, src_keys
        src_order, dst_order = dst_order, src_order
        swapped = not swapped
    if swapped:
        order[:] = src_order
