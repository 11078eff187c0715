"""The ``ge`` closure in the continuum limit: exact hat algebra of Melitz-Pareto gravity and ACR.

Derivation (docs/model.md section 13). With Pareto productivity (shape theta, bound 1), no
firm-destination shocks, full pass-through, a fixed pool of potential firms per origin (Chaney 2008)
and the fixed cost of selling in ``n`` paid in ``n``'s labour, consumer spending of ``n`` on the
goods of ``i`` in a sector is

    X_in = N_i (tau_in W_i)^(-theta) (1 + t_in)^(1 - theta sigma / (sigma - 1))
           (W_n f_in)^(-(theta - sigma + 1) / (sigma - 1)) A_n^(theta / (sigma - 1)),

so shares within a market are ``X_in0 (tau_hat W_hat_i)^(-theta) (1+t)_hat^(1 - theta sigma/(sigma-1))``
normalised; of exports ``r = X / (1 + t)`` a share ``1/sigma`` is operating profit, ``(theta - sigma + 1)
/ (sigma theta)`` fixed costs (labour of ``n``) and ``(sigma - 1)/sigma`` variable costs (labour of ``i``).
Wages clear ``W_i L_i = sum_n r_in (sigma-1)/sigma + sum_j FC_ji``; income is ``W L + profits +
tariff revenue + D`` with ``D = delta Y_w``; the price index moves as
``P_hat^(1-sigma) = E_hat / A_hat``. This module solves that system by Newton's method on its own
(``hat_algebra``), nothing shared with the engine but the calibration numbers, and compares.

The engine's finite population matches the continuum up to sampling noise in the calibrated
cells (the empirical quantile of the firms' scores and the tail of their sales), which falls as
firms grow (measured, seed 11, welfare changes of about 1 %; the numbers are printed by the
test): see docs/model.md section 13.
"""

import numpy as np
import pytest

from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from tests.conftest import draw_population, make_calibration, write_scenario

pytestmark = pytest.mark.usefixtures("one_numba_thread")

SIGMA, THETA = 3.0, 5.0
#: (R, R, K) = 3 regions, 2 sectors; rows are origins. Unbalanced on purpose (deficits).
FLOWS = np.array([[[900.0, 700.0], [120.0, 60.0], [90.0, 40.0]],
                  [[150.0, 100.0], [800.0, 500.0], [70.0, 90.0]],
                  [[60.0, 50.0], [110.0, 70.0], [1000.0, 600.0]]])
TARIFF0 = np.where(np.eye(3, dtype=bool)[:, :, None], 0.0, 0.05) * np.ones((1, 1, 2))
EVENTS = """
[[tariff]]
date = "2025-02-01"
importer = "R0"
exporter = "R1"
rate = 0.25
mode = "replace"

[[trade_cost]]
date = "2025-02-01"
importer = "R2"
exporter = "ALL"
change = -0.2
"""


def hat_algebra(flows, tariff0, tariff1, iceberg_hat, sigma, theta, reference=0):
    """Exact hat algebra of the continuum model (module docstring). Returns welfare hat (R,),
    wage hat (R,, numeraire world GDP) and the new consumer flows (R, R, K)."""
    n_regions = flows.shape[0]
    exports0 = flows  # data are exports (net of tariff), as the engine calibrates them
    sales0 = exports0 * (1.0 + tariff0)
    fc_share, vc_share, profit_share = (theta - sigma + 1) / (sigma * theta), (sigma - 1) / sigma, 1.0 / sigma
    labour = vc_share * exports0.sum(axis=(1, 2)) + fc_share * exports0.sum(axis=(0, 2))
    profits0 = (profit_share - fc_share) * exports0.sum(axis=(1, 2))
    revenue0 = (tariff0 * exports0).sum(axis=(0, 2))
    spending0 = sales0.sum(axis=(0, 2))
    world0 = (labour + profits0).sum()
    deficit_share = (spending0 - labour - profits0 - revenue0) / world0
    beta = sales0.sum(axis=0) / spending0[:, None]  # (n, k)
    tariff_term = ((1 + tariff1) / (1 + tariff0)) ** (1 - theta * sigma / (sigma - 1))

    def state(log_w):
        w = np.exp(log_w)
        weights = sales0 * (iceberg_hat * w[:, None, None]) ** (-theta) * tariff_term
        shares = weights / weights.sum(axis=0, keepdims=True)
        # income depends on flows which depend on income: a linear system in spending
        # r_in = shares_in * beta_nk * I_n / (1 + t1); solve I = W L + Pi(I) + TR(I) + delta Y_w(I)
        a_matrix = shares * beta[None] / (1 + tariff1)  # exports per unit of the destination's income
        profit_of = (profit_share - fc_share) * a_matrix.sum(axis=2)  # (i, n)
        tr_of = (tariff1 * a_matrix).sum(axis=(0, 2))  # (n,)
        # I_n = W_n L_n + sum_m profit_of[n, m] I_m + tr_of[n] I_n + delta_n * sum_j (W_j L_j + sum_m profit_of[j, m] I_m)
        world_profit = profit_of.sum(axis=0)  # (m,)
        system = np.eye(n_regions) - profit_of - np.diag(tr_of) - np.outer(deficit_share, world_profit)
        rhs = w * labour + deficit_share * (w * labour).sum()
        income = np.linalg.solve(system, rhs)
        exports = a_matrix * income[None, :, None]
        demand = vc_share * exports.sum(axis=(1, 2)) + fc_share * exports.sum(axis=(0, 2))
        return w, income, exports, demand

    log_w = np.zeros(n_regions)
    free = np.arange(n_regions) != reference
    for _ in range(100):
        w, income, exports, demand = state(log_w)
        gap = (log_w + np.log(labour) - np.log(demand))[free]
        if np.max(np.abs(gap)) < 1e-13:
            break
        jac = np.empty((gap.size, gap.size))
        for j, col in enumerate(np.nonzero(free)[0]):
            moved = log_w.copy()
            moved[col] += 1e-7
            _, _, _, d = state(moved)
            jac[:, j] = ((moved + np.log(labour) - np.log(d))[free] - gap) / 1e-7
        log_w[free] -= np.linalg.solve(jac, gap)
    else:
        raise AssertionError("hat algebra did not converge")
    # price index: P_hat^(1-sigma) = E_hat / A_hat and A_hat^(theta/(sigma-1)) = E_hat / sum(...)
    spending = beta * income[:, None]
    denominator = ((sales0 / sales0.sum(axis=0, keepdims=True)) * (iceberg_hat * w[:, None, None]) ** (-theta)
                   * tariff_term).sum(axis=0) * w[:, None] ** (-(theta - sigma + 1) / (sigma - 1))
    e_hat = spending / (beta * spending0[:, None])
    a_hat = (e_hat / denominator) ** ((sigma - 1) / theta)
    price_hat = (e_hat / a_hat) ** (1 / (1 - sigma))
    welfare = (income / spending0) / np.exp((beta * np.log(price_hat)).sum(axis=1))
    world = (w * labour).sum() + ((profit_share - fc_share) * exports.sum(axis=(1, 2))).sum()
    return welfare, w * world0 / world, exports * world0 / world


def _engine(folder, flows, tariff0, events, n_firms, seed=11, draws=1):
    participation = np.full(flows.shape, 0.1)
    participation[np.arange(flows.shape[0]), np.arange(flows.shape[0])] = 0.5
    calibration = load_calibration(make_calibration(folder / "cal", flows, tariffs=tariff0,
                                                    participation=participation, sigma=SIGMA, theta=THETA))
    text = f'name = "hat"\nstart = "2025-01"\nperiods = 2\n{events}'
    path = policy_path(load_scenario(write_scenario(folder, text, "hat")), calibration)
    out = []
    for draw in range(draws):
        population, baseline, params = draw_population(calibration, n_firms, seed=seed, draw=draw)
        out.append(run_static(population, baseline, path, params, closure="ge"))
    return calibration, path, out


def _errors(tmp_path, n_firms, draws):
    calibration, path, runs = _engine(tmp_path, FLOWS, TARIFF0, EVENTS, n_firms, draws=draws)
    tariff1 = path.tariff[1]
    welfare, wage, exports = hat_algebra(FLOWS, TARIFF0, tariff1, path.iceberg[1], SIGMA, THETA)
    change = np.log(welfare)
    errs = []
    for cells, _, regions in runs:
        engine_change = np.log1p(regions.real_income_change_pct[1] / 100)
        errs.append(np.max(np.abs(engine_change - change)) / np.max(np.abs(change)))
        wage_err = np.max(np.abs(np.log(regions.wage[1]) - np.log(wage))) / np.max(np.abs(np.log(wage)))
        errs[-1] = max(errs[-1], wage_err)
        np.testing.assert_allclose(cells.exports[1].sum(axis=-1), exports.sum(axis=-1), rtol=0.05)
    return float(np.mean(errs)), change


def test_ge_converges_to_exact_hat_algebra_as_firms_grow(tmp_path):
    """Relative error of the welfare and wage changes (largest over regions, mean over 3 draws)
    against the continuum hat algebra: below 1 % at 100,000 firms per block and smaller than at
    5,000 (measured, seed 11: printed)."""
    small, change = _errors(tmp_path / "small", 5_000, 3)
    large, _ = _errors(tmp_path / "large", 100_000, 3)
    print(f"hat algebra: welfare changes {np.round(100 * change, 3)} %; relative error 5k firms {small:.4f}, "
          f"100k firms {large:.4f}")
    assert np.max(np.abs(change)) > 2e-3  # the check is not trivial: welfare moves
    assert large < 0.01, large
    assert large < small, (large, small)


def test_hat_algebra_reference_is_homogeneous_in_the_numeraire():
    """The reference solver itself: pinning another region's wage gives the same real results."""
    tariff1 = TARIFF0.copy()
    tariff1[1, 0] = 0.25
    iceberg = np.ones_like(FLOWS)
    a = hat_algebra(FLOWS, TARIFF0, tariff1, iceberg, SIGMA, THETA, reference=0)
    b = hat_algebra(FLOWS, TARIFF0, tariff1, iceberg, SIGMA, THETA, reference=2)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-9)


# --------------------------------------------------------------------------- ACR (2012)

ACR_FLOWS = np.array([[[1000.0], [200.0], [150.0]],
                      [[200.0], [900.0], [110.0]],
                      [[150.0], [110.0], [1100.0]]])  # symmetric: balanced trade, no deficits
ACR_EVENTS = """
[[trade_cost]]
date = "2025-02-01"
importer = "ALL"
exporter = "R2"
change = -0.15
"""


def test_acr_welfare_is_the_domestic_share_formula(tmp_path):
    """No tariffs, balanced trade, one sector: ``W_hat = lambda_hat_nn^(-1/theta)`` (Arkolakis,
    Costinot & Rodriguez-Clare 2012) for the engine's welfare, not only for its price index. Up to
    sampling noise: 3 % of the welfare change at 100,000 firms, measured 0.3-0.8 %."""
    _, _, runs = _engine(tmp_path, ACR_FLOWS, np.zeros_like(ACR_FLOWS), ACR_EVENTS, 100_000)
    _, _, regions = runs[0]
    share_hat = regions.domestic_share[1] / regions.domestic_share[0]
    acr = -np.log(share_hat) / THETA
    engine_change = np.log1p(regions.real_income_change_pct[1] / 100)
    print("ACR:", acr, engine_change)
    assert np.min(np.abs(acr)) > 1e-3
    np.testing.assert_allclose(engine_change, acr, rtol=0.03)
