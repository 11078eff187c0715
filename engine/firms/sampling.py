"""Stratified sampling of the firm-destination demand shock: the largest pairs of a cell are simulated
at their real count, weights only where pairs are many (docs/model.md section 2.1).

A block (origin i, sector k) has ``N`` real firms and ``M`` simulated ones. With uniform weights each
simulated pair stands for ``N / M`` real pairs, so one large simulated pair's productivity shock is
copied onto many real ones and a cell with no policy moves as if it had ``M`` firms, not ``N``
(Gabaix 2011). Cell sales are dominated by the demand shock ``a`` (sd ``s_a`` = 1.69 in logs against
0.41 for productivity), so the strata are on ``q = P(A > a)``, the upper-tail probability of the
pair's demand shock:

- the density of simulated pairs per real pair is ``r(a) = min(1, C exp(s_a a) + D)``: the Neyman
  allocation for a sum (sampling density proportional to the pair's expected sales, which is
  proportional to ``exp(s_a a)``), capped at one simulated pair per real one, so the top is
  simulated at its real count, plus a defensive floor ``D = FLOOR * M / N`` (Hesterberg 1995,
  "Weighted average importance sampling and defensive mixture distributions", Technometrics 37(2)),
  so no pair stands for more than ``N / (FLOOR * M)`` real ones: counts of exporters stay about as
  precise as with uniform weights, and no single pair at an extensive margin carries a large share
  of the cell (the general-equilibrium solver sees small steps);
- ``C`` makes ``N int r = M``; strata hold equal mass ``N int r = 1``; a pair drawn uniformly inside
  stratum ``j`` of width ``dq_j`` stands for ``N dq_j`` real pairs. That is unbiased for any
  function of the pair whatever the edges (Horvitz-Thompson): the density only sets the precision.

With ``a*`` where ``C exp(s_a a*) + D = 1``, the mass above ``a`` is ``N Q(a)`` for ``a >= a*`` and
``N Q(a*) + N (1 - D) exp(s_a^2/2 - s_a a*) (Phi(a* - s_a) - Phi(a - s_a)) + N D (Phi(a*) - Phi(a))``
below, since ``int exp(s a) phi(a) da = exp(s^2/2) Phi(a - s)``. ``a*`` solves ``total mass = M``
(bisection); the edges below ``a*`` solve ``mass = j`` (Newton from the edge before, bracketed).
When ``M >= N`` every pair has the uniform weight ``N / M``.
"""

import functools
import math

import numpy as np
from numba import njit

#: The defensive floor: the share of the simulated pairs spread like the real ones (``D = FLOOR M / N``).
FLOOR = 0.25


@njit(cache=True)
def _cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit(cache=True)
def _mass_below(a, a_star, s, d, n_real):
    """Real-pair-weighted strata mass between ``a`` and ``a* (>= a)``."""
    return n_real * ((1.0 - d) * math.exp(s * s / 2.0 - s * a_star) * (_cdf(a_star - s) - _cdf(a - s))
                     + d * (_cdf(a_star) - _cdf(a)))


@njit(cache=True)
def _edges(n_real, n_sim, s, d):
    low, high = -40.0, 40.0  # the total falls from about N to D N < M as a* rises
    for _ in range(200):
        mid = 0.5 * (low + high)
        if n_real * _cdf(-mid) + _mass_below(-math.inf, mid, s, d, n_real) > n_sim:
            low = mid
        else:
            high = mid
    a_star = 0.5 * (low + high)
    top = n_real * _cdf(-a_star)  # mass (= real pairs) above a*
    edges = np.empty(n_sim + 1)
    a = a_star
    for j in range(n_sim + 1):
        if j <= top:
            edges[j] = j / n_real
            continue
        target = j - top
        lower, upper = -40.0, a  # mass(lower) >= target >= mass(upper)
        for _ in range(100):
            density = n_real * min(1.0, (1.0 - d) * math.exp(s * (a - a_star)) + d) * math.exp(-0.5 * a * a) \
                / math.sqrt(2.0 * math.pi)
            gap = _mass_below(a, a_star, s, d, n_real) - target
            if gap > 0.0:
                lower = a
            else:
                upper = a
            if abs(gap) <= 1e-12 * max(target, 1.0) or upper - lower < 1e-15:
                break
            step = a + gap / density if density > 0.0 else 0.5 * (lower + upper)
            a = step if lower < step < upper else 0.5 * (lower + upper)
        edges[j] = _cdf(-a)
    edges[0], edges[n_sim] = 0.0, 1.0
    return edges


def demand_strata(n_real, n_sim, s_a):
    """Strata edges ``q_0 = 0 < ... < q_M = 1`` of the demand shock's upper-tail probability and
    the weight of a pair in each (real pairs per simulated pair); read-only arrays, computed once
    per ``(N, M, s_a)`` in a process (every draw with the same parameters has the same strata).

    Returns
    -------
    edges : ndarray (M + 1,)
    weights : ndarray (M,)
    """
    return _strata(float(n_real), int(n_sim), float(s_a))


@functools.lru_cache(maxsize=1024)
def _strata(n_real, n_sim, s_a):
    if n_sim >= n_real or s_a <= 0.0:
        edges = np.linspace(0.0, 1.0, n_sim + 1)
        weights = np.full(n_sim, n_real / n_sim)
    else:
        edges = _edges(n_real, n_sim, s_a, FLOOR * n_sim / n_real)
        weights = n_real * np.diff(edges)
    edges.flags.writeable = weights.flags.writeable = False
    return edges, weights


def block_strata(real_firms, n_sim, s_a):
    """Every block's strata: ``(low, width, weight)``, each (B, M) (``demand_strata`` per block, for
    its real firms ``real_firms`` (B,) and demand-shock sd ``s_a`` (B,))."""
    low = np.empty((real_firms.size, n_sim))
    width, weight = np.empty_like(low), np.empty_like(low)
    for b, (n_real, sd) in enumerate(zip(real_firms, s_a)):
        edges, weight[b] = demand_strata(n_real, n_sim, sd)
        low[b], width[b] = edges[:-1], np.diff(edges)
    return low, width, weight
