"""The ``ge`` closure's accounts (docs/model.md section 6.2): the firm side's per-cell aggregates at a
threshold, the baseline labour endowments, profits, deficits and fixed costs calibrated to the data,
and the regional results of a solved path.
"""

from dataclasses import dataclass

import numpy as np

from engine.cells import by_destination, by_market, by_origin, log_margin, sigma_kappa
from engine.closures.welfare import region_accounts
from kernels.fixed_costs import marginal_aggregates


def cell_aggregates(population, tail_cost, thresholds):
    """Active firms, sales index and cost index of every cell at the given thresholds.

    The marginal-firm rule of ``Population.evaluate`` applies to all three (the marginal firm counts
    with its active fraction).

    Parameters
    ----------
    population : engine.firms.static.Population
    tail_cost : ndarray (B, R, M + 1)
        ``kernels.fixed_costs.cost_tails`` of the population.
    thresholds : ndarray (T, B, R)

    Returns
    -------
    active, sales_index, cost_index : ndarray (T, B, R)
        ``cost_index`` is ``sum eta`` over active firms (fixed cost paid = ``w F c * cost_index``).
    """
    thresholds = np.ascontiguousarray(thresholds, dtype=np.float64)
    active, sales_index, cost_index = (np.empty(thresholds.shape) for _ in range(3))
    marginal_aggregates(population.entry_sorted, population.tail_sales, population.tail_count, tail_cost, thresholds,
                        active, sales_index, cost_index)
    return active, sales_index, cost_index


@dataclass(frozen=True, eq=False)
class LabourAccounts:
    """Baseline of the ``ge`` closure, per cell (B, R), market (R, K) or region (R,)."""

    scale: np.ndarray
    tariff0: np.ndarray
    sales0: np.ndarray
    fixed_cost_unit: np.ndarray
    labour: np.ndarray
    profits0: np.ndarray
    tariff_revenue0: np.ndarray
    deficit_share: np.ndarray
    expenditure0: np.ndarray
    spending0: np.ndarray
    world_gdp0: float
    beta: np.ndarray


def labour_accounts(baseline, params, tail_cost, population):
    """Calibrate labour endowments, profits, deficits and fixed costs to the baseline cells."""
    n_sectors = params.sigma.size
    sigma, kappa = sigma_kappa(params, baseline.scale.shape[1])
    _, sales_index, cost_index = cell_aggregates(population, tail_cost, baseline.threshold[None])
    sales0 = baseline.scale * sales_index[0]
    margin0 = np.exp(log_margin(baseline.tariff, kappa, sigma))
    open_cell = baseline.active > 0
    with np.errstate(over="ignore", invalid="ignore"):
        unit = np.where(open_cell, baseline.scale * margin0 / (1.0 + baseline.tariff)
                        * np.exp(np.where(open_cell, baseline.threshold, 0.0)), 0.0)
    fixed0 = params.sunk_cost_ratio * unit * cost_index[0]  # baseline sellers are incumbents
    return accounts_from_cells(baseline.scale, baseline.tariff, sales0, margin0, fixed0, unit, n_sectors)


def accounts_from_cells(scale, tariff0, sales0, margin0, fixed0, fixed_cost_unit, n_sectors):
    """``LabourAccounts`` from baseline cells (B, R): consumer sales, margins and fixed costs paid.

    Variable costs are paid in the origin's labour, fixed costs in the destination's; profits net of
    fixed costs go to the origin; the deficit is what a region spends beyond its income, kept as a
    share of world GDP."""
    exports0 = sales0 / (1.0 + tariff0)
    operating0 = exports0 * margin0
    labour = by_origin(exports0 - operating0, n_sectors) + by_destination(fixed0)
    profits0 = by_origin(operating0 - fixed0, n_sectors)
    revenue0 = by_destination(tariff0 * exports0)
    expenditure0 = by_market(sales0, n_sectors)
    spending0 = expenditure0.sum(axis=-1)
    world_gdp0 = float((labour + profits0).sum())
    deficit0 = spending0 - labour - profits0 - revenue0
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(spending0[:, None] > 0, expenditure0 / spending0[:, None], 0.0)
    return LabourAccounts(scale=scale, tariff0=tariff0, sales0=sales0, fixed_cost_unit=fixed_cost_unit,
                          labour=labour, profits0=profits0, tariff_revenue0=revenue0,
                          deficit_share=deficit0 / world_gdp0, expenditure0=expenditure0, spending0=spending0,
                          world_gdp0=world_gdp0, beta=beta)


def income_parts(solved, labour):
    """Income by source (``engine.closures.welfare.SOURCES``) of a solved path; ``labour`` (R,) or (T, R)."""
    return {"labour": solved.wage * labour, "profits": solved.profits, "tariff_revenue": solved.tariff_revenue,
            "deficit": solved.deficit}


def baseline_parts(acc):
    """Income by source at the baseline accounts ``acc`` (``LabourAccounts``)."""
    return {"labour": acc.labour, "profits": acc.profits0, "tariff_revenue": acc.tariff_revenue0,
            "deficit": acc.deficit_share * acc.world_gdp0}


def wage_region_results(acc, solved, cells, params, labour=None):
    """``engine.closures.welfare.RegionResults`` of the ``ge`` closure from the baseline accounts ``acc``
    and a solved path (``WageMarkets`` or an object with its fields); ``labour``, (R,) or (T, R):
    endowments (default the baseline's), times the path's ``employment``."""
    labour = (acc.labour if labour is None else labour) * solved.employment
    return region_accounts(
        sales=cells["sales"], n_sectors=params.sigma.size, sigma=params.sigma, expenditure0=acc.expenditure0,
        price_sum=solved.price_sum, sector_expenditure=solved.expenditure,
        income_parts=income_parts(solved, labour), baseline_parts=baseline_parts(acc),
        purchases=solved.purchases, wage=solved.wage, iterations=solved.iterations, residual=solved.residual,
        import_price=solved.import_price, ge=params.ge, tax=solved.tax, employment=solved.employment)
