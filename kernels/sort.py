"""Least-significant-digit radix argsort of float64 keys (stable, O(n)).

``numpy.argsort`` in Numba is a comparison quicksort (about 2.7 ms for 20,000 keys here); this
sorts the same keys in about a fifth of that by mapping each float to an unsigned integer with the
same order (flip every bit of negatives, the sign bit of positives) and doing six counting passes
of 11 bits. Passes where every key has the same digit are skipped. The result is the exact
ascending order (ties keep their input order); NaN is not expected.

``sort_scores`` gives the same order for a cell's scores (and the sorted values) about 4x faster
again (20,000 values: 7-8 ns per value instead of 30-38): two counting passes on a short key scaled
from the range of the values, then an insertion sort that fixes the few values sharing a key (it
falls back to ``radix_argsort`` when that would be slow).
"""

import math

import numpy as np
from numba import njit

from kernels.fastmath import f64_bits, f64_from_bits, prefer_wide_vectors

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


# ----------------------------------------------------------------------------------------------
# Sorting a cell's scores: counting passes on a short key scaled from the range of the values, then
# an insertion fix-up of the values that share a key.

_I64_MAX = np.int64(0x7FFFFFFFFFFFFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S43 = np.uint64(43)
_KEY_MAX_64 = float((1 << 22) - 1)  # 64-bit path: a 22-bit key above a 32-bit index, two passes of 11 bits
_SMALL = 1 << 16  # up to this many values: key and index packed in 32 bits
_FIXUP_BUDGET = 8  # insertion moves per value before falling back to the exact 64-bit sort


@njit(cache=True, error_model="numpy")
def _ordered_range(values):
    """``(min, max)`` of ``values`` (float64, no NaN) through order-preserving int64 images of their bits.

    Integer min/max reductions vectorise without fast-math flags (float ones need ``nnan``).
    """
    prefer_wide_vectors()
    lo = _I64_MAX
    hi = -_I64_MAX - 1
    for j in range(values.size):
        b = f64_bits(values[j])
        k = b ^ (_I64_MAX if b < 0 else np.int64(0))
        lo = min(lo, k)
        hi = max(hi, k)
    lo = lo ^ (_I64_MAX if lo < 0 else np.int64(0))
    hi = hi ^ (_I64_MAX if hi < 0 else np.int64(0))
    return f64_from_bits(lo), f64_from_bits(hi)


@njit(cache=True, error_model="numpy")
def _pack64(values, lo, scale, packed):
    """``packed[j] = key << 32 | j``, ``key = floor((values[j] - lo) * scale)`` (monotone in the value)."""
    prefer_wide_vectors()
    for j in range(values.size):
        key = np.uint64((values[j] - lo) * scale)
        packed[j] = (key << _S32) | np.uint64(j)


@njit(cache=True, error_model="numpy")
def _pack32(values, lo, scale, index_bits, packed):
    """``packed[j] = key << index_bits | j`` in 32 bits."""
    prefer_wide_vectors()
    shift = np.uint32(index_bits)
    for j in range(values.size):
        key = np.uint32((values[j] - lo) * scale)
        packed[j] = (key << shift) | np.uint32(j)


@njit(cache=True)
def _counting_pass(src, dst, hist, shift, mask):
    """One stable counting-sort pass of ``src`` into ``dst`` on the digit ``(x >> shift) & mask``."""
    total = 0
    for d in range(hist.size):
        c = hist[d]
        hist[d] = total
        total += c
    for j in range(src.size):
        x = src[j]
        d = (x >> shift) & mask
        pos = hist[d]
        hist[d] = pos + 1
        dst[pos] = x


@njit(cache=True)
def _key_sort_32(values, lo, hi, packed, scratch, counts, order, out_sorted):
    """Sort by a key of ``32 - index_bits`` (at most 22) bits packed with the index in 32 bits."""
    n = values.size
    index_bits = max(1, int(math.ceil(math.log2(n))))
    key_bits = min(32 - index_bits, 22)
    low_bits = key_bits // 2
    high_bits = key_bits - low_bits
    _pack32(values, lo, float((1 << key_bits) - 1) / (hi - lo) if hi > lo else 0.0, index_bits, packed)
    low = counts[:1 << low_bits]
    high = counts[1 << low_bits:(1 << low_bits) + (1 << high_bits)]
    low[:] = 0
    high[:] = 0
    low_shift, low_mask = np.uint32(index_bits), np.uint32((1 << low_bits) - 1)
    high_shift, high_mask = np.uint32(index_bits + low_bits), np.uint32((1 << high_bits) - 1)
    for j in range(n):
        x = packed[j]
        low[(x >> low_shift) & low_mask] += 1
        high[(x >> high_shift) & high_mask] += 1
    _counting_pass(packed, scratch, low, low_shift, low_mask)
    _counting_pass(scratch, packed, high, high_shift, high_mask)
    index_mask = np.uint32((1 << index_bits) - 1)
    for j in range(n):
        i = np.int64(packed[j] & index_mask)
        order[j] = i
        out_sorted[j] = values[i]


@njit(cache=True)
def _key_sort_64(values, lo, hi, packed, scratch, counts, order, out_sorted):
    """Sort by a 22-bit key packed above a 32-bit index."""
    n = values.size
    _pack64(values, lo, _KEY_MAX_64 / (hi - lo) if hi > lo else 0.0, packed)
    low = counts[:_BUCKETS]
    high = counts[_BUCKETS:2 * _BUCKETS]
    low[:] = 0
    high[:] = 0
    for j in range(n):
        x = packed[j]
        low[(x >> _S32) & _MASK] += 1
        high[(x >> _S43) & _MASK] += 1
    _counting_pass(packed, scratch, low, _S32, _MASK)
    _counting_pass(scratch, packed, high, _S43, _MASK)
    for j in range(n):
        i = np.int64(packed[j] & _LOW32)
        order[j] = i
        out_sorted[j] = values[i]


@njit(cache=True)
def _insertion_fixup(out_sorted, order, budget):
    """Insertion sort of nearly sorted ``out_sorted`` (and ``order``); stops after ``budget`` moves."""
    moves = 0
    for j in range(1, out_sorted.size):
        v = out_sorted[j]
        if v < out_sorted[j - 1]:
            i = order[j]
            k = j
            while k > 0 and v < out_sorted[k - 1]:
                out_sorted[k] = out_sorted[k - 1]
                order[k] = order[k - 1]
                k -= 1
            out_sorted[k] = v
            order[k] = i
            moves += j - k
            if moves > budget:
                break
    return moves


@njit(cache=True)
def sort_scores(values, out_sorted, order, packed, scratch, counts):
    """Sort ``values`` ascending into ``out_sorted`` and their indices into ``order`` (stable).

    The stable ascending order (ties keep their input order, as ``np.argsort(kind="stable")``;
    the same as ``radix_argsort`` except that ``-0.0`` and ``0.0`` count as equal here), computed
    faster for the smooth distributions of scores:

    1. map each value to a short key ``floor((v - min) / (max - min) * (2**bits - 1))``, which is
       monotone in ``v`` (so sorting by key gives the right order up to values with equal keys),
       and pack it with the index: in 32 bits for up to 65,536 values (a key of up to 22 bits
       above the index, e.g. 17 bits for 20,000 values), else in 64 bits (a 22-bit key);
    2. two stable counting passes on the key's two halves;
    3. gather the values in that order and finish with an insertion sort, which only moves values
       that share a key (for 20,000 normal-like scores about one in ten, by one or two places).

    If the values are not all finite, or the insertion sort would move more than
    ``8 * n`` times (a distribution crowded into few keys), the exact 64-bit ``radix_argsort``
    is used instead (the same order, but ``-0.0`` before ``0.0``).

    Parameters
    ----------
    values : ndarray of float64, shape (n,), n < 2**32
    out_sorted : ndarray of float64, shape (n,)
        Output: ``values`` in ascending order.
    order : ndarray of int64, shape (n,)
        Output: ``out_sorted[j] == values[order[j]]``.
    packed, scratch : ndarray of uint64, shape (n,)
        Scratch.
    counts : ndarray of int64, shape (>= 4096,)
        Scratch.
    """
    n = values.size
    if n == 0:
        return
    lo, hi = _ordered_range(values)  # NaN is not expected; an infinite value takes the exact path
    if math.isfinite(hi - lo):
        if n <= _SMALL:
            halves = packed.view(np.uint32)  # 2n slots of 32 bits
            _key_sort_32(values, lo, hi, halves[:n], halves[n:], counts, order, out_sorted)
        else:
            _key_sort_64(values, lo, hi, packed, scratch, counts, order, out_sorted)
        if _insertion_fixup(out_sorted, order, _FIXUP_BUDGET * n) <= _FIXUP_BUDGET * n:
            return
    radix_argsort(values, order, packed, scratch, out_sorted.view(np.int64), counts[:_BUCKETS])
    for j in range(n):
        out_sorted[j] = values[order[j]]
