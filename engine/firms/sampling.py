"""Stratified sampling of the firm-destination demand shock: the largest pairs of a cell are simulated
at their real count, weights only where pairs are many (docs/model.md section 2.1, draft).

A block (origin i, sector k) has ``N`` real firms and ``M`` simulated ones. With uniform weights each
simulated pair stands for ``N / M`` real pairs, so one large simulated pair's productivity shock is
copied onto many real ones and a cell with no policy moves as if it had ``M`` firms, not ``N``
(Gabaix 2011). Cell sales are dominated by the demand shock ``a`` (sd ``s_a`` = 1.69 in logs against
0.41 for productivity), so the strata are on ``q = P(A > a)``, the upper-tail probability of the
pair's demand shock:

- the density of simulated pairs per real pair is ``r(q) = min(1, C exp(s_a a(q)))``, the Neyman
  allocation for a sum (sampling density proportional to the pair's expected sales, which is
  proportional to ``exp(s_a a)``), capped at one simulated pair per real one: the top is simulated
  at its real count;
- ``C`` makes ``N int r = M``; strata hold equal mass ``N int r = 1``; a pair drawn uniformly inside
  stratum ``j`` of width ``dq_j`` stands for ``N dq_j`` real pairs (unbiased for any function of the
  pair, Horvitz-Thompson).

Closed form: with ``a*`` where ``C exp(s_a a*) = 1``, the mass above ``a`` is ``N Q(a)`` for
``a >= a*`` and ``N Q(a*) + N exp(s_a^2/2 - s_a a*) (Phi(a* - s_a) - Phi(a - s_a))`` below, since
``int exp(s a) phi(a) da = exp(s^2/2) Phi(a - s)``. ``a*`` solves ``total mass = M`` (monotone in
``a*``). When ``M >= N`` every pair has the uniform weight ``N / M``.
"""

import numpy as np
from scipy.special import ndtr, ndtri


def _total(a_star, n_real, s):
    return n_real * (ndtr(-a_star) + np.exp(s * s / 2.0 - s * a_star) * ndtr(a_star - s))


def demand_strata(n_real, n_sim, s_a):
    """Strata edges ``q_0 = 0 < ... < q_M = 1`` of the demand shock's upper-tail probability and
    the weight of a pair in each (real pairs per simulated pair).

    Returns
    -------
    edges : ndarray (M + 1,)
    weights : ndarray (M,)
    """
    n_real, n_sim = float(n_real), int(n_sim)
    if n_sim >= n_real or s_a <= 0.0:
        edges = np.linspace(0.0, 1.0, n_sim + 1)
        return edges, np.full(n_sim, n_real / n_sim)
    low, high = -40.0, 40.0  # _total falls from N Q(-40) + ... to about 0 as a* rises
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _total(mid, n_real, s_a) > n_sim else (low, mid)
    a_star = 0.5 * (low + high)
    top = n_real * ndtr(-a_star)  # mass (= real pairs) above a*
    j = np.arange(n_sim + 1, dtype=float)
    edges = np.empty(n_sim + 1)
    above = j <= top
    edges[above] = j[above] / n_real
    scale = np.exp(s_a * a_star - s_a * s_a / 2.0) / n_real
    level = ndtr(a_star - s_a) - (j[~above] - top) * scale
    a = s_a + ndtri(np.clip(level, 0.0, 1.0))
    edges[~above] = ndtr(-a)
    edges[0], edges[-1] = 0.0, 1.0
    return edges, n_real * np.diff(edges)


def block_strata(real_firms, n_sim, s_a):
    """Every block's strata: ``(low, width, weight)``, each (B, M) (``demand_strata`` per block, for
    its real firms ``real_firms`` (B,) and demand-shock sd ``s_a`` (B,))."""
    low = np.empty((real_firms.size, n_sim))
    width, weight = np.empty_like(low), np.empty_like(low)
    cache = {}
    for b, (n_real, sd) in enumerate(zip(real_firms, s_a)):
        key = (float(n_real), float(sd))
        if key not in cache:
            edges, w = demand_strata(n_real, n_sim, sd)
            cache[key] = edges[:-1], np.diff(edges), w
        low[b], width[b], weight[b] = cache[key]
    return low, width, weight
