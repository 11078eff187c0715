"""Regional accounts and welfare with its decomposition, for every closure (docs/model.md section 10).

Welfare of region ``n`` is real private spending ``U_n = E_n / P_n`` with ``E_n`` what consumers
spend (income less government purchases) and ``P_n = prod_k P_nk^beta_nk`` (Cobb-Douglas over
sectors, CES within). With homothetic preferences the equivalent variation is
``EV_n = E_n(0) (U_n / U_n(0) - 1)``: the change in baseline-price spending worth the same utility.

Decomposition (exact, additive, by source of income; an adaptation of Caliendo & Parro 2015):
with ``E_n = sum_c I_c - G`` over the income sources ``c`` (labour, profits, tariff revenue,
deficit) and ``G`` government purchases,

    U_n / U_n(0) - 1 = sum_c (I_c(t) / P_hat - I_c(0)) / E(0)  -  G(t) / P_hat / E(0),

so each source contributes the change in its real value, in percent of baseline spending:

- ``welfare_labour_pct``: the real wage bill; in a one-factor economy this is the terms-of-trade
  channel (export prices move with the wage, import prices enter ``P_hat``) plus the part of the
  volume-of-trade channel that moves wages;
- ``welfare_profits_pct``: operating profits net of fixed and sunk costs (the firm-selection channel
  that gravity models without firms lack);
- ``welfare_tariff_revenue_pct``: Caliendo-Parro's volume-of-trade term measured as revenue;
- ``welfare_deficit_pct``: the deficit, fixed as a share of world GDP, deflated by ``P_hat``;
- ``welfare_purchases_pct``: the cost of purchase commitments.

An exchange-rate term is zero in both GE closures (exchange rates are nominal under flexible
prices; see docs/model.md) and is therefore not a column.
"""

from dataclasses import dataclass

import numpy as np

from engine.cells import by_market

#: Discount rate for present values over a path (a year), as in Alessandria, Choi & Ruhl (2021) style
#: transition welfare: 4 % a year (a stated assumption).
ANNUAL_DISCOUNT_RATE = 0.04

#: Income sources of the decomposition, in the order of the regions table.
SOURCES = ("labour", "profits", "tariff_revenue", "deficit")


@dataclass(frozen=True, eq=False)
class RegionResults:
    """Regional accounts of one draw and scenario: (T, R) unless stated; values USD million per year.

    ``price_index``, ``sector_price_index`` and ``sector_import_price_index`` (T, R, K) are relative to
    the baseline (1 = unchanged);
    ``real_income_change_pct`` is the welfare change (module docstring) and the ``welfare_*_pct``
    its exact decomposition; ``wage`` the wage index (baseline 1; the numeraire is world GDP in
    ``ge``, the outside good in ``ge_fixed_wage`` and ``pe``); shares are of consumer spending on the
    sector(s); ``ge_iterations``/``ge_residual`` (T,) are 0 in PE.
    """

    income: np.ndarray
    tariff_revenue: np.ndarray
    expenditure: np.ndarray
    price_index: np.ndarray
    real_income_change_pct: np.ndarray
    import_share: np.ndarray
    domestic_share: np.ndarray
    wage: np.ndarray
    employment: np.ndarray
    profits: np.ndarray
    deficit: np.ndarray
    purchases: np.ndarray
    welfare_labour_pct: np.ndarray
    welfare_profits_pct: np.ndarray
    welfare_tariff_revenue_pct: np.ndarray
    welfare_deficit_pct: np.ndarray
    welfare_purchases_pct: np.ndarray
    equivalent_variation: np.ndarray
    sector_expenditure: np.ndarray
    sector_price_index: np.ndarray
    sector_domestic_share: np.ndarray
    sector_import_price_index: np.ndarray
    ge_iterations: np.ndarray
    ge_residual: np.ndarray


def region_accounts(sales, n_sectors, sigma, expenditure0, price_sum, sector_expenditure, income_parts,
                    baseline_parts, purchases, wage, iterations, residual, import_price, ge=None, tax=None,
                    employment=None, spent=None):
    """Price indices, welfare, its decomposition and trade shares.

    Parameters
    ----------
    sales : ndarray (T, B, R)
        Consumer value of every cell (private and government purchases).
    n_sectors : int
    sigma : ndarray (K,)
    expenditure0 : ndarray (R, K)
        Baseline consumer spending per market.
    price_sum : ndarray (T, R, K)
        ``Pi``: ``P_nk^(1-sigma)`` relative to baseline, times ``E_nk(0)``.
    sector_expenditure : ndarray (T, R, K)
        Private consumer spending per market.
    income_parts, baseline_parts : dict of ndarray (T, R) and (R,)
        Income by source (``SOURCES``) in the period and at the baseline.
    purchases : ndarray (T, R)
        Government purchases (consumer value).
    wage : ndarray (T, R)
    iterations, residual : ndarray (T,)
    import_price : ndarray (T, R, K)
        The import composite's price index per market against the baseline (docs/model.md (6.17)).
    ge : engine.scenario.schema.GeneralEquilibrium, optional
        Labour supply and the use of tariff revenue (docs/model.md section 6.6); None: fixed labour,
        lump-sum rebate (the welfare above).
    tax : ndarray (T, R), optional
        The income-tax rate that tariff revenue replaces (``revenue = "income_tax"``).
    employment : ndarray (T, R), optional
        Labour supplied against the baseline (default 1: fixed labour).
    spent : ndarray (T, R), optional
        Consumer spending where it is not income less purchases: ``pe_moving`` holds it at the
        no-policy path's and does not spend tariff revenue (docs/model.md section 6.5). Real income
        is still income less purchases over the price index.

    Returns
    -------
    RegionResults
    """
    n_periods, _, n_regions = sales.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(expenditure0 > 0, price_sum / expenditure0, 1.0)
    sector_price = relative ** (1.0 / (1.0 - sigma))[None, None, :]
    spending0 = expenditure0.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(spending0[:, None] > 0, expenditure0 / spending0[:, None], 0.0)
    price_index = np.exp((beta[None] * np.log(sector_price)).sum(axis=-1))
    income = sum(income_parts[s] for s in SOURCES)
    spending = income - purchases
    if ge is None or (ge.labour_supply == 0.0 and ge.revenue == "lump_sum"):
        parts = {s: 100.0 * (income_parts[s] / price_index - baseline_parts[s]) / spending0 for s in SOURCES}
        parts_purchases = -100.0 * purchases / price_index / spending0
        welfare = 100.0 * (spending / spending0 / price_index - 1.0)
        value0 = spending0
    else:
        parts, parts_purchases, welfare, value0 = _welfare_with_work(income_parts, baseline_parts, purchases,
                                                                     price_index, ge, tax)
    domestic_cells = np.zeros(sales.shape[1:], dtype=bool)
    for i in range(n_regions):
        domestic_cells[i * n_sectors:(i + 1) * n_sectors, i] = True
    domestic = by_market(np.where(domestic_cells, sales, 0.0), n_sectors)
    market_sales = by_market(sales, n_sectors)
    with np.errstate(divide="ignore", invalid="ignore"):
        sector_domestic = np.where(market_sales > 0, domestic / market_sales, np.nan)
        overall_domestic = domestic.sum(axis=-1) / market_sales.sum(axis=-1)
    return RegionResults(
        income=income - income_parts["deficit"] - income_parts["tariff_revenue"],
        tariff_revenue=income_parts["tariff_revenue"], expenditure=spending if spent is None else spent,
        price_index=price_index,
        real_income_change_pct=welfare, import_share=1.0 - overall_domestic, domestic_share=overall_domestic,
        wage=wage, employment=np.ones_like(wage) if employment is None else employment,
        profits=income_parts["profits"], deficit=income_parts["deficit"], purchases=purchases,
        welfare_labour_pct=parts["labour"], welfare_profits_pct=parts["profits"],
        welfare_tariff_revenue_pct=parts["tariff_revenue"], welfare_deficit_pct=parts["deficit"],
        welfare_purchases_pct=parts_purchases, equivalent_variation=welfare / 100.0 * value0,
        sector_expenditure=sector_expenditure, sector_price_index=sector_price,
        sector_domestic_share=sector_domestic, sector_import_price_index=import_price, ge_iterations=iterations,
        ge_residual=residual)


def _welfare_with_work(income_parts, baseline_parts, purchases, price_index, ge, tax):
    """Welfare with labour supply and the use of tariff revenue (docs/model.md section 6.6): the money
    value of utility ``V = C - kappa / (1 + kappa) (1 - tax) W L / P`` (consumption less the disutility
    of work, GHH preferences), against its baseline; the disutility is counted in the labour part.
    With ``revenue = "government"`` tariff revenue buys goods consumers do not value: it is left out of
    consumption in both periods. Returns (parts, purchases part, welfare, baseline value), percent."""
    effort = ge.labour_supply / (1.0 + ge.labour_supply)
    tax = np.zeros_like(price_index) if tax is None else tax
    private = [s for s in SOURCES if not (s == "tariff_revenue" and ge.revenue == "government")]
    labour0 = baseline_parts["labour"]
    value0 = sum(baseline_parts[s] for s in private) - effort * (1.0 - tax) * labour0
    parts = {s: 100.0 * (income_parts[s] / price_index - baseline_parts[s]) / value0 if s in private
             else np.zeros_like(price_index) for s in SOURCES}
    # the after-tax wage bill of the period (tax 0: revenue replaced it) against the baseline's (1 - tax)
    parts["labour"] = parts["labour"] - 100.0 * effort * (income_parts["labour"] / price_index
                                                           - (1.0 - tax) * labour0) / value0
    parts_purchases = -100.0 * purchases / price_index / value0
    welfare = sum(parts.values()) + parts_purchases
    return parts, parts_purchases, welfare, value0


def present_value(equivalent_variation, periods_per_year=12, rate=ANNUAL_DISCOUNT_RATE):
    """Present value at period 0 of a path of equivalent variations (annual rates, one per period).

    ``PV = sum_t EV_t / periods_per_year * (1 + rate) ** (-t / periods_per_year)``: welfare over the
    whole transition, not only its last period (Alessandria, Choi & Ruhl 2021), over the horizon of
    the scenario (no continuation value after its last period).

    Parameters
    ----------
    equivalent_variation : ndarray (..., T)
        USD million per year.

    Returns
    -------
    ndarray (...,), USD million.
    """
    ev = np.asarray(equivalent_variation, dtype=float)
    t = np.arange(ev.shape[-1])
    return (ev / periods_per_year * (1.0 + rate) ** (-t / periods_per_year)).sum(axis=-1)
