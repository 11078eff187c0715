"""Nested demand (docs/model.md section 6.5): in each destination-sector an upper tier between the
domestic composite and the import composite with elasticity ``eta``; inside each composite the firms
with ``sigma``. ``eta = sigma`` is the one-tier CES of the other sections.

Arrays: a market value is ``(..., R_dest, K)``; a nest value ``(..., R_dest, K, 2)``, nest 0 the
domestic cell ``(n, n, k)``, nest 1 every foreign origin's cell.
"""

import numpy as np

from engine.cells import by_market

DOMESTIC, IMPORTS = 0, 1


def import_mask(n_regions, n_sectors):
    """(B, R) True for the cells whose origin is not their destination (the import nest)."""
    origin = np.repeat(np.arange(n_regions), n_sectors)
    return origin[:, None] != np.arange(n_regions)[None, :]


def by_nest(x, n_sectors):
    """Cell values ``(..., B, R)`` summed per destination-sector and nest -> ``(..., R, K, 2)``."""
    n_regions = x.shape[-1]
    imports = import_mask(n_regions, n_sectors)
    return np.stack([by_market(np.where(imports, 0.0, x), n_sectors), by_market(np.where(imports, x, 0.0),
                                                                               n_sectors)], axis=-1)


def to_nest_cells(a, n_regions):
    """Nest values ``(..., R_dest, K, 2)`` -> every cell selling in that nest ``(..., B, R)``."""
    n_sectors = a.shape[-2]
    swapped = np.moveaxis(a, -3, -2)  # (..., K, R_dest, 2)
    cells = swapped[..., np.tile(np.arange(n_sectors), n_regions), :, :]  # (..., B, R_dest, 2)
    imports = import_mask(n_regions, n_sectors)
    return np.where(imports, cells[..., IMPORTS], cells[..., DOMESTIC])


def nest_prices(price_sum, price_sum0, sigma):
    """Nest price indices relative to the baseline, ``P_g(t) / P_g(0) = (Pi_g / Pi_g0)^(1/(1-sigma))``
    (6.17); 1 in an empty nest."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(price_sum0 > 0, price_sum / np.where(price_sum0 > 0, price_sum0, 1.0), 1.0)
        return ratio ** (1.0 / (1.0 - sigma[:, None]))


#: A nest's price sum is floored at this share of its baseline's in the solvers: a nest every seller has
#: left (a prohibitive tariff on every import) has no price index, and its market residual would be
#: -inf; floored, it is large and finite, and the nest's level rises until some seller comes back.
NEST_FLOOR = 1e-12


def import_price_of(price_sum, price_sum0, sigma):
    """The import nest's price index (..., R, K) from the nests' price sums (6.17): 1 in a market
    without imports at the baseline, NaN in one whose imports have all stopped (no price exists)."""
    price = nest_prices(price_sum, price_sum0, sigma)[..., IMPORTS]
    return np.where(np.isfinite(price), price, np.nan)


def composite_price(nest_price, share0, eta):
    """The destination-sector's price index relative to the baseline (6.18):
    ``P^(1-eta) = sum_g s_g P_g^(1-eta)``, the Cobb-Douglas limit at ``eta = 1``."""
    eta = np.broadcast_to(eta, nest_price.shape[:-1])
    one = np.abs(1.0 - eta) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.where(one, 1.0, 1.0 - eta)
        ces = (share0 * nest_price ** power[..., None]).sum(axis=-1) ** (1.0 / power)
        cobb = np.exp((share0 * np.log(nest_price)).sum(axis=-1))
    return np.where(one, cobb, ces)


def nest_spending(spending, price_sum, price_sum0, sigma, eta):
    """Spending on each nest (6.19), ``E_g = E s_g (P_g / P)^(1-eta)``, and the composite price index.

    Parameters
    ----------
    spending : ndarray (..., R, K)
        The destination-sector's spending ``E``.
    price_sum, price_sum0 : ndarray (..., R, K, 2) and (R, K, 2)
        Each nest's price sum now and at the baseline (``engine.closures.fixed_wage.market_price_sum``
        per nest); ``s_g`` is the nest's baseline share of the market.
    sigma, eta : ndarray (K,)

    Returns
    -------
    ndarray (..., R, K, 2), ndarray (..., R, K)
    """
    total0 = price_sum0.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share0 = np.where(total0 > 0, price_sum0 / np.where(total0 > 0, total0, 1.0), 0.0)
    nest_price = nest_prices(price_sum, price_sum0, sigma)
    price = composite_price(nest_price, share0, eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = (nest_price / price[..., None]) ** (1.0 - eta)[:, None]
    return spending[..., None] * share0 * relative, price
