"""Per firm and per firm-destination math of docs/model.md sections 2 and 4, written once.

The scalar functions (``scaled_log_productivity``, ``scores``) are compiled with ``numba.njit``
and inlined where they are used; a CUDA backend compiles the same bodies as device functions. The
``fill_*`` functions apply the same arithmetic to a slice of firms in loops that LLVM vectorises
(``kernels.static`` calls them on short slices); both give the same numbers.

Notation (one (origin i, sector k) block, destination n):

- productivity ``phi = U**(-1/theta)``, ``U`` uniform on (0, 1] (Pareto, shape theta, bound 1;
  Melitz 2003, Chaney 2008);
- firm-destination shocks (Eaton, Kortum & Kramarz 2011): demand ``alpha = exp(s_a * a)`` and fixed
  cost ``eta = exp(s_e * e)``, ``(a, e)`` standard bivariate normal with correlation ``rho``;
- ``sales_score = (sigma - 1) log phi + s_a a``: the firm's log sales up to a cell constant
  (consumer spending ``x = alpha * B * phi**(sigma-1)``, docs/model.md section 3);
- ``entry_score = sales_score - s_e e``: the firm sells in the cell when
  ``entry_score >= threshold`` (docs/model.md section 4).

float32 variants (``*_f32``: the same hashes and uniforms, float32 arithmetic) are in
``kernels.reference.float32``.
"""

import numpy as np
from numba import njit

from kernels.fastmath import FASTMATH, log_positive, prefer_wide_vectors
from kernels.normal import normal_quantile
from kernels.rng import (
    GOLDEN,
    derive_key,
    finalize,
    hash_at,
    open_uniforms,
    stream_position,
    uniform_open0,
)


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def scaled_log_productivity(productivity_key, firm, sigma_minus_1_over_theta):
    """``(sigma - 1) * log(phi)`` of ``firm`` (uint64 counter) in a block.

    ``phi = U**(-1/theta)`` so ``(sigma-1) log phi = -(sigma-1)/theta * log U``.
    """
    return -sigma_minus_1_over_theta * log_positive(uniform_open0(hash_at(productivity_key, firm)))


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def combine(z1, z2, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """``(sales_score, entry_score)`` from the pair's demand shock ``z1`` and an independent normal
    ``z2`` (see ``scores``): the cost shock is ``rho * z1 + rho_complement * z2``.

    Written as a chain in which every addition has one product (``(s - a z1) - b z2``), so FMA
    contraction has one way to go: of a sum of two products either may be fused, and the scalar
    and vectorised loops then differ in the last bit.
    """
    sales_score = scaled_log_phi + s_a * z1
    return sales_score, (sales_score - s_e * rho * z1) - s_e * rho_complement * z2


@njit(inline="always", cache=True, error_model="numpy")
def stratified_normals(u1, u2, stratum_low, stratum_width):
    """The pair's demand shock, drawn in its stratum ``[low, low + width)`` of the shock's upper-tail
    probability (``engine.firms.sampling``), and an independent standard normal."""
    return -normal_quantile(stratum_low + u1 * stratum_width), normal_quantile(u2)


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def scores(shock_key, pair, stratum_low, stratum_width, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """Sales score and entry score of one firm-destination pair.

    Parameters
    ----------
    shock_key : uint64
        Key of the block's shock stream for this draw.
    pair : uint64
        Counter of the pair, ``firm * n_destinations + destination``.
    stratum_low, stratum_width : float64
        The pair's stratum of the demand shock's upper-tail probability (``engine.firms.sampling``;
        ``stratum_offset`` says which).
    scaled_log_phi : float64
        ``(sigma - 1) * log(phi)`` of the firm.
    s_a, s_e, rho : float64
        Standard deviations of the log demand and log fixed-cost shocks and their correlation.
    rho_complement : float64
        ``sqrt(1 - rho**2)``.

    Returns
    -------
    (float64, float64)
        ``(sales_score, entry_score)``.
    """
    u1, u2 = open_uniforms(hash_at(shock_key, pair))
    z1, z2 = stratified_normals(u1, u2, stratum_low, stratum_width)
    return combine(z1, z2, scaled_log_phi, s_a, s_e, rho, rho_complement)


@njit(inline="always", cache=True)
def stratum_offset(shock_key, destination, n_firms):
    """The rotation of the strata in one destination: firm ``f`` of the block takes stratum
    ``(f + offset) % n_firms`` there, so a firm's strata in different destinations are unrelated."""
    return derive_key(shock_key, np.uint64(destination) + STRATA_LABEL) % np.uint64(n_firms)


#: Label of the strata rotation in a block's shock stream (``stratum_offset``).
STRATA_LABEL = np.uint64(0x57A7_A000_0000)


#: A pair whose weight is at most this stands for itself alone: a *certainty* pair (the top of a cell,
#: simulated at its real count; ``engine.firms.sampling``). Above it a pair is *sampled*.
CERTAINTY_WEIGHT = 1.0 + 1e-9


@njit(inline="always", cache=True)
def half_sign(firm, weight):
    """The pair's sign in the split of a cell into two half-populations (docs/model.md section 8.2):
    ``+1`` for a sampled pair of an odd firm, ``-1`` for one of an even firm, ``0`` for a certainty
    pair (``weight <= CERTAINTY_WEIGHT``), which belongs to both halves.

    With ``X`` a cell's weighted sum and ``S`` the same sum with each pair's term times its sign, the
    half-populations (certainty pairs, and the sampled pairs of one parity at twice their weight) sum
    to ``X + S`` (odd firms) and ``X - S`` (even firms).
    """
    if weight <= CERTAINTY_WEIGHT:
        return 0.0
    return 1.0 if firm % 2 == 1 else -1.0


# Loops over slices, written for LLVM's loop vectoriser (see bench/README.md): each
# runs from zero over its slice with every iteration independent; the hash state is an induction
# variable (one addition per element, see ``kernels.rng.stream_position``); and the draw is
# split into three passes through the output arrays: (hash, uniforms), (the two branch-free normal
# quantiles), (scores). Short passes let the CPU overlap many iterations (a single pass has a chain
# of two 64-bit multiplies, a logarithm, a square root and several rational functions per element),
# and in float32 only the hash pass works on 64-bit lanes. Every function asks for 512-bit vectors
# (``prefer_wide_vectors``).


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def fill_scaled_log_productivity(productivity_key, first_firm, sigma_minus_1_over_theta, out):
    """``out[j] = scaled_log_productivity(productivity_key, first_firm + j, ...)`` for every ``j``."""
    prefer_wide_vectors()
    position = stream_position(productivity_key, first_firm)
    for j in range(out.size):
        out[j] = -sigma_minus_1_over_theta * log_positive(uniform_open0(finalize(position)))
        position += GOLDEN


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def fill_scores(shock_key, first_pair, pair_stride, stratum_low, stratum_width, scaled_log_phi, s_a, s_e, rho,
                rho_complement, out_sales, out_entry):
    """``scores`` of the pairs ``first_pair + j * pair_stride`` of firms with ``scaled_log_phi[j]``,
    in strata ``stratum_low[j]``, ``stratum_width[j]``.

    With firms ``f0 + j`` and ``pair_stride = n_dest``, ``first_pair = f0 * n_dest + n`` gives
    destination ``n`` of each firm. ``out_sales`` and ``out_entry`` (same length as
    ``scaled_log_phi``) are also the scratch of the first two passes.
    """
    prefer_wide_vectors()
    position = stream_position(shock_key, first_pair)
    step = pair_stride * GOLDEN
    for j in range(scaled_log_phi.size):
        out_sales[j], out_entry[j] = open_uniforms(finalize(position))
        position += step
    for j in range(scaled_log_phi.size):
        out_sales[j], out_entry[j] = stratified_normals(out_sales[j], out_entry[j], stratum_low[j], stratum_width[j])
    for j in range(scaled_log_phi.size):
        out_sales[j], out_entry[j] = combine(out_sales[j], out_entry[j], scaled_log_phi[j], s_a, s_e, rho,
                                             rho_complement)
