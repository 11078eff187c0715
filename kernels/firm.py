"""Per firm and per firm-destination math of MODEL.md section 2 and 4, written once.

These are plain scalar functions compiled with ``numba.njit`` (inlined into the loops of
``kernels.cpu``); a CUDA backend compiles the same bodies as device functions.

Notation (one (origin i, sector k) block, destination n):

- productivity ``phi = U**(-1/theta)``, ``U`` uniform on (0, 1] (Pareto, shape theta, bound 1;
  Melitz 2003, Chaney 2008);
- firm-destination shocks (Eaton, Kortum & Kramarz 2011): demand ``alpha = exp(s_a * a)`` and fixed
  cost ``eta = exp(s_e * e)``, ``(a, e)`` standard bivariate normal with correlation ``rho``;
- ``sales_score = (sigma - 1) log phi + s_a a``: the firm's log sales up to a cell constant
  (consumer spending ``x = alpha * B * phi**(sigma-1)``, MODEL.md section 3);
- ``entry_score = sales_score - s_e e``: the firm sells in the cell when
  ``entry_score >= threshold`` (MODEL.md section 4).
"""

import math

from numba import njit

from kernels.rng import hash_at, normal_pair, uniform_open0


@njit(inline="always", cache=True, error_model="numpy")
def scaled_log_productivity(productivity_key, firm, sigma_minus_1_over_theta):
    """``(sigma - 1) * log(phi)`` of ``firm`` (uint64 counter) in a block.

    ``phi = U**(-1/theta)`` so ``(sigma-1) log phi = -(sigma-1)/theta * log U``.
    """
    return -sigma_minus_1_over_theta * math.log(uniform_open0(hash_at(productivity_key, firm)))


@njit(inline="always", cache=True, error_model="numpy")
def scores(shock_key, pair, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """Sales score and entry score of one firm-destination pair.

    Parameters
    ----------
    shock_key : uint64
        Key of the block's shock stream for this draw.
    pair : uint64
        Counter of the pair, ``firm * n_destinations + destination``.
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
    z1, z2 = normal_pair(hash_at(shock_key, pair))
    demand_shock = z1
    cost_shock = rho * z1 + rho_complement * z2
    sales_score = scaled_log_phi + s_a * demand_shock
    return sales_score, sales_score - s_e * cost_shock
