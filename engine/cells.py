"""The cell algebra that every firm model and every closure shares, written once (docs/model.md sections 1, 3 and 5).

Layout: a *block* is (origin ``i``, sector ``k``), ``b = i * K + k``; a *cell* is (block,
destination ``n``), arrays ``(..., B, R)``; policy arrays ``(..., R, R, K)`` are
``[origin, destination, sector]`` and become cells by ``to_cells``; *market* arrays ``(..., R, K)``
are ``[destination, sector]``. Per-sector parameters ``(K,)`` become per-block columns ``(B, 1)``.

Formulas: the operating margin ``m = 1 - (1+t)^(1-kappa) (sigma-1)/sigma``, the exchange rate of a
cell ``e_in = FX_i / FX_n``, and the columns of ``CellResults`` from exports, prices and counts.
"""

from dataclasses import dataclass, fields

import numpy as np


def to_cells(x):
    """``(..., R, R, K)`` ``[origin, destination, sector]`` -> ``(..., B, R)`` ``[block, destination]``."""
    *lead, n_regions, _, n_sectors = x.shape
    return np.swapaxes(x, -1, -2).reshape(*lead, n_regions * n_sectors, n_regions)


def from_cells(x, n_sectors):
    """Inverse of ``to_cells``."""
    *lead, n_blocks, n_regions = x.shape
    return np.swapaxes(x.reshape(*lead, n_blocks // n_sectors, n_sectors, n_regions), -1, -2)


def per_block(values, n_regions):
    """A per-sector array ``(K,)`` repeated for every origin -> ``(B,)``."""
    return np.tile(values, n_regions)


def sigma_kappa(params, n_regions):
    """The elasticity ``sigma`` and the pass-through ``kappa`` of a draw as block columns ``(B, 1)``."""
    return per_block(params.sigma, n_regions)[:, None], params.pass_through.reshape(-1)[:, None]


def by_origin_region(x, n_sectors):
    """Per-origin-region values ``(..., R)`` -> every block of that origin ``(..., B, 1)``."""
    return np.repeat(x, n_sectors, axis=-1)[..., None]


def log_exchange(log_fx, n_sectors):
    """``log e_in = log FX_i - log FX_n`` per cell ``(T, B, R)`` from ``log FX`` ``(T, R)``."""
    return by_origin_region(log_fx, n_sectors) - log_fx[:, None, :]


def operating_margin(tariff, pass_through, sigma):
    """``m = 1 - (1+t)^(1-kappa) (sigma-1)/sigma``: operating profit per dollar of revenue net of tariff
    (``1/sigma`` when ``kappa = 1``)."""
    return 1.0 - (1.0 + tariff) ** (1.0 - pass_through) * (sigma - 1.0) / sigma


def log_margin(tariff, pass_through, sigma):
    """``log m``; ``-inf`` where the margin is not positive (no firm can profit there)."""
    margin = operating_margin(tariff, pass_through, sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(margin > 0, np.log(np.maximum(margin, 1e-300)), -np.inf)


def by_market(x, n_sectors):
    """Sum cell values ``(..., B, R)`` over origins -> ``(..., R_dest, K)``."""
    *lead, n_blocks, n_regions = x.shape
    summed = x.reshape(*lead, n_blocks // n_sectors, n_sectors, n_regions).sum(axis=-3)  # (..., K, R)
    return np.swapaxes(summed, -1, -2)


def to_market_cells(a, n_regions):
    """Market values ``(..., R_dest, K)`` -> every cell selling in that market ``(..., B, R)``."""
    n_sectors = a.shape[-1]
    swapped = np.swapaxes(a, -1, -2)  # (..., K, R_dest)
    return swapped[..., np.tile(np.arange(n_sectors), n_regions), :]


def by_origin(x, n_sectors):
    """Cell values ``(..., B, R)`` summed per origin region -> ``(..., R)``."""
    *lead, n_blocks, _ = x.shape
    return x.reshape(*lead, n_blocks // n_sectors, -1).sum(axis=-1)


def by_destination(x):
    """Cell values ``(..., B, R)`` summed per destination region -> ``(..., R)``."""
    return x.sum(axis=-2)


def quantity_index(exports, log_price):
    """``exports / period-0 exports / price index`` (T, B, R); 1 where period 0 has no exports."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(exports[:1] > 0, exports / exports[:1] / np.exp(log_price), 1.0)


@dataclass(frozen=True, eq=False)
class CellResults:
    """Per-period aggregates of one draw and scenario, arrays (T, R, R, K) ``[t, i, n, k]``.

    Units: values in USD million per year (annual rate); counts in real firms.
    """

    tariff: np.ndarray
    exports: np.ndarray
    sales: np.ndarray
    tariff_revenue: np.ndarray
    exporters: np.ndarray
    entries: np.ndarray
    exits: np.ndarray
    final_sales: np.ndarray
    stock_change: np.ndarray
    importer_stock: np.ndarray
    exports_intensive: np.ndarray
    exports_extensive: np.ndarray
    export_price_index: np.ndarray
    export_quantity_index: np.ndarray
    operating_profit: np.ndarray
    exports_halves: np.ndarray


def half_exports(unit, sales_index, split, base_index, base_split):
    """Exports of a cell's two half-populations (docs/model.md section 8.2), (2, T, B, R): the odd firms'
    half, then the even firms'.

    A half's sales index is ``sales_index +- split`` (its certainty pairs and its sampled pairs of one
    parity at twice their weight). Like the whole population it is calibrated to the baseline flow
    (its baseline index ``base_index +- base_split`` (B, R) is scaled to the whole's), then it sells at
    the cell's ``unit`` (exports per unit of sales index at the solved prices). A half with no exporter
    at the baseline exports nothing (purchase commitments are added by the caller).
    """
    halves = np.maximum(np.stack([sales_index + split, sales_index - split]), 0.0)
    base = np.maximum(np.stack([base_index + base_split, base_index - base_split]), 0.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rescale = np.where(base > 0, base_index / base, 0.0)
    return unit * rescale * halves


def trade_cells(tariff, exports, active, entries, exits, intensive, log_price, margin, log_fx_cell, exports_halves,
                stocks=None):
    """Every ``CellResults`` column per cell (T, B, R), from what a firm model and its closure solved.

    Parameters
    ----------
    tariff, exports : ndarray (T, B, R)
        Tariff in force and final sales (customs value of what buyers take, USD million a year).
    active, entries, exits : ndarray (T, B, R)
        Real firms selling, starting and stopping (each simulated pair counts the real pairs it stands
        for, ``engine.firms.sampling``; the marginal pair by its fraction).
    intensive : ndarray (T, B, R)
        The change of exports since period 0 of the firms selling both then and now.
    log_price, margin, log_fx_cell : ndarray (T, B, R)
        Customs unit value against period 0, operating margin and ``log e_in``.
    exports_halves : ndarray (2, T, B, R)
        Exports of the cell's two half-populations of simulated firms (``half_exports``; docs/model.md
        section 8.2), at the same prices and market levels.
    stocks : tuple, optional
        Importers' stocks (``engine.firms.inventories.importer_stocks``): (stock change (T, B, R), stock
        (T, B, R), the halves' stock changes (2, T, B, R)). Customs imports (``exports``) are final
        sales plus the stock change; without it they are equal.
    """
    change, stock, halves_change = stocks if stocks is not None else (np.zeros_like(exports),) * 2 + (0.0,)
    customs = exports + change
    return dict(
        tariff=tariff,
        exports=customs,
        sales=exports * (1.0 + tariff),
        tariff_revenue=customs * tariff,
        final_sales=exports,
        stock_change=change,
        importer_stock=stock,
        exporters=active,
        entries=entries,
        exits=exits,
        exports_intensive=intensive,
        exports_extensive=exports - exports[:1] - intensive,
        export_price_index=np.exp(log_price),
        export_quantity_index=quantity_index(customs, log_price),
        operating_profit=customs * margin * np.exp(-log_fx_cell),  # in the origin's currency
        exports_halves=exports_halves + halves_change,
    )


def cell_results(cells, n_sectors):
    """``CellResults`` from the per-cell columns of ``trade_cells`` (extra keys are ignored)."""
    return CellResults(**{f.name: from_cells(cells[f.name], n_sectors) for f in fields(CellResults)})
