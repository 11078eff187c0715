"""The fixed-wage closure ``ge_fixed_wage`` (the former ``ge``; docs/model.md section 6.3) and partial
equilibrium ``pe``: price indices, expenditure, tariff revenue and real income. The default ``ge``
closure (wages, profits, deficits as a share of world GDP) is ``engine.closures.ge``; both are
written out in docs/model.md.

Equations, per period ``t``, destination ``n`` and sector ``k`` (values at baseline exchange rates):

- price index: ``P_nk^(1-sigma_k) = sum_i price_term_ink``, ``price_term = sum_f w alpha d p^(1-sigma)``
  over active firms, which is ``(B_ink / A_nk) * w * S_ink`` with ``S`` the cell's summed
  ``exp(sales_score)``;
- expenditure: ``E_nk = beta_nk (Y_n + TR_n + D_n)`` with ``Y_n`` income (wages are pinned by a
  freely traded outside good, Chaney 2008, so ``Y_n`` stays at its baseline value), ``TR_n`` the
  tariff revenue rebated to consumers, ``D_n`` the baseline trade deficit held fixed, and
  ``beta_nk`` baseline expenditure shares;
- demand level: ``A_nk = E_nk P_nk^(sigma_k - 1)``.

At the baseline, ``sum_i B_ink w S_ink = sum_i sales_ink = E_nk`` holds by calibration, so ``A_nk(0)``
is a free normalisation; we solve for ``a_nk = log(A_nk(t) / A_nk(0))``, which enters every cell of
market (n, k) as a demand shift: ``log B`` rises by ``a`` and the entry threshold falls by ``a``. With
``Pi_nk(a) = sum_i sales0_ink exp(dlogB_ink) S_ink(thr - a) / S0_ink`` (the price sum relative to its
baseline scale) the equilibrium is ``a + log Pi_nk(a) - log E_nk(a) = 0``, an increasing function of each market's ``a``. All markets
are solved at once, period after period (the sunk-cost rule links periods), by a safeguarded secant
method: each market steps along the secant of its last two evaluations and bisects its bracket
whenever the step would leave it (``_SafeguardedSecant``). ``Y_n`` is the baseline expenditure less baseline tariff revenue and
deficit, so ``E_n(0)`` equals the data.

Partial equilibrium (``pe``) keeps ``a = 0`` and reports the same accounts.

Welfare: real income ``W_n = (Y_n + TR_n + D_n) / prod_k P_nk^beta_nk``, reported as percent change
against the baseline, with ``P_nk(t) / P_nk(0) = (Pi_nk(t) / Pi_nk(0))^(1/(1-sigma_k))``.

Limits compared with CGE models (GTAP): one factor, no intermediate inputs or input-output links,
wages fixed by the outside good, deficits fixed in dollars, no capital accumulation or
labour-market frictions, entry only through the fixed pool of potential firms.
"""

from dataclasses import dataclass

import numpy as np

from engine import config
from engine.cells import by_market, to_market_cells
from engine.closures.nest import NEST_FLOOR, by_nest, import_price_of, nest_spending, to_nest_cells
from engine.closures.welfare import RegionResults, region_accounts  # noqa: F401 (RegionResults re-exported)
from engine.errors import ConvergenceError, InputError
from engine.firms.static import Baseline, continuation_threshold, sunk_cost_thresholds


@dataclass(frozen=True, eq=False)
class Accounts:
    """Baseline accounts of a draw. ``sales0`` (B, R); the rest per region (R,) or market (R, K)."""

    sales0: np.ndarray
    sales_index0: np.ndarray
    expenditure0: np.ndarray
    total_expenditure0: np.ndarray
    tariff_revenue0: np.ndarray
    deficit: np.ndarray
    income: np.ndarray
    beta: np.ndarray


def tariff_revenue_by_destination(tariff, exports, n_sectors):
    return by_market(tariff * exports, n_sectors).sum(axis=-1)


def baseline_accounts(baseline, n_sectors):
    """Baseline sales, expenditure, tariff revenue, deficit and income (USD million per year)."""
    sales0 = baseline.scale * baseline.sales_index  # = flows * (1 + t0)
    exports0 = sales0 / (1.0 + baseline.tariff)
    n_regions = sales0.shape[1]
    expenditure0 = by_market(sales0, n_sectors)
    total0 = expenditure0.sum(axis=-1)
    tariff_revenue0 = tariff_revenue_by_destination(baseline.tariff, exports0, n_sectors)
    by_origin = exports0.reshape(n_regions, n_sectors, n_regions).sum(axis=1)  # (R_orig, R_dest)
    foreign = ~np.eye(n_regions, dtype=bool)
    deficit = np.where(foreign, by_origin, 0.0).sum(axis=0) - np.where(foreign, by_origin, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(total0[:, None] > 0, expenditure0 / total0[:, None], 0.0)
    return Accounts(sales0=sales0, sales_index0=baseline.sales_index, expenditure0=expenditure0,
                    total_expenditure0=total0, tariff_revenue0=tariff_revenue0, deficit=deficit,
                    income=total0 - tariff_revenue0 - deficit, beta=beta)


@dataclass(frozen=True, eq=False)
class Markets:
    """Solved markets of one draw and scenario.

    Attributes
    ----------
    threshold, active, sales_index : ndarray (T, B, R)
    market : ndarray (T, R, K)
        ``a = log(A(t) / A(0))``; zero in partial equilibrium.
    market_cells : ndarray (T, B, R)
        The log demand shift of each cell beyond ``policy_shift``: ``market`` spread to the cells of
        each market, plus purchase-commitment shifts.
    price_sum : ndarray (T, R, K)
        ``Pi``, the price sum relative to its baseline scale.
    import_price : ndarray (T, R, K)
        The import composite's price index against the baseline (docs/model.md (6.17)).
    expenditure : ndarray (T, R, K)
    tariff_revenue : ndarray (T, R)
    iterations : ndarray (T,) of int
        Evaluations of the whole system in the period (GE; commitment solves on their own cells
        are not counted).
    residual : ndarray (T,)
        ``max |log E - log Pi - a|`` at the solution (0 in PE).
    """

    threshold: np.ndarray
    active: np.ndarray
    sales_index: np.ndarray
    market: np.ndarray
    market_cells: np.ndarray
    price_sum: np.ndarray
    import_price: np.ndarray
    expenditure: np.ndarray
    tariff_revenue: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray


def market_price_sum(accounts, log_demand_change, sales_index, n_sectors, nested=False):
    """``Pi`` per market (R, K), or per nest (R, K, 2) with ``nested`` (docs/model.md section 6.5)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(accounts.sales_index0 > 0, sales_index / accounts.sales_index0, 0.0)
    return (by_nest if nested else by_market)(accounts.sales0 * np.exp(log_demand_change) * ratio, n_sectors)


def import_price_index(accounts, log_demand_change, sales_index, sigma):
    """The import composite's price index per market (..., R, K) against the baseline, (6.17)."""
    n_sectors = sigma.size
    nest_sum = market_price_sum(accounts, log_demand_change, sales_index, n_sectors, nested=True)
    return import_price_of(nest_sum, by_nest(accounts.sales0, n_sectors), sigma)


def market_expenditure(accounts, tariff_revenue):
    scale = 1.0 + (tariff_revenue - accounts.tariff_revenue0) / accounts.total_expenditure0
    return accounts.expenditure0 * scale[..., None]


def solve_markets(population, baseline, accounts, log_demand_change, static, tariff, params, general,
                  commitments=(), fixed_spending=False):
    """Entry thresholds, active firms and market demand levels in every period.

    Parameters
    ----------
    population : engine.firms.static.Population
    baseline : engine.firms.static.Baseline
    accounts : Accounts
    log_demand_change, static, tariff : ndarray (T, B, R)
        From ``engine.firms.static.policy_shift``.
    params : engine.scenario.uncertainty.DrawParameters
    general : bool
        Solve the general-equilibrium closure; otherwise partial equilibrium.
    commitments : sequence of (ndarray, ndarray, ndarray (T,), (str, str))
        Purchase commitments: block and destination indices of their cells, the amount in force
        per period (USD million per year) and where they are declared (for error messages). Each gets, per period, the demand shift ``x`` (a
        log shift of ``d`` common to its cells) that makes the cells' exports exceed, by the amount,
        what they are on the same path without any commitment (solved first, in the same closure;
        so the amount holds whatever sunk costs and market levels do).
    fixed_spending : bool
        With ``general``: each market's spending stays at its baseline (wages and incomes fixed, the
        partial equilibrium with moving price indices of docs/model.md section 6.5) instead of
        moving with tariff revenue. With ``params.eta`` different from ``sigma`` the market levels
        are solved per nest (domestic, imports), ``market`` is then (T, R, K, 2).

    Returns
    -------
    Markets

    Raises
    ------
    ConvergenceError
        When a period does not reach ``config.GE_TOLERANCE`` in ``config.GE_MAX_ITERATIONS``.
    """
    n_sectors = params.sigma.size
    n_periods, _, n_regions = static.shape
    unit_scale = baseline.scale * np.exp(log_demand_change) / (1.0 + tariff)
    if not general and not commitments:
        threshold = sunk_cost_thresholds(static, baseline.threshold, params.sunk_cost_ratio, n_periods)
        active, sales_index = population.evaluate(threshold)
        exports = unit_scale * sales_index
        revenue = tariff_revenue_by_destination(tariff, exports, n_sectors)
        zeros = np.zeros((n_periods, n_regions, n_sectors))
        return Markets(threshold=threshold, active=active, sales_index=sales_index, market=zeros,
                       market_cells=np.zeros_like(static),
                       price_sum=market_price_sum(accounts, log_demand_change, sales_index, n_sectors),
                       import_price=import_price_index(accounts, log_demand_change, sales_index, params.sigma),
                       expenditure=market_expenditure(accounts, revenue), tariff_revenue=revenue,
                       iterations=np.zeros(n_periods, dtype=np.int64), residual=np.zeros(n_periods))

    out = {name: np.empty_like(static) for name in ("threshold", "sales_index", "market_cells", "active")}
    eta = getattr(params, "eta", None)
    nested = general and eta is not None and bool(np.any(eta != params.sigma))
    spread = to_nest_cells if nested else to_market_cells
    market = np.zeros((n_periods, n_regions, n_sectors, 2) if nested else (n_periods, n_regions, n_sectors))
    price_sum = np.empty((n_periods, n_regions, n_sectors))
    import_price = np.empty_like(price_sum)
    expenditure = np.empty_like(price_sum)
    revenue = np.empty((n_periods, n_regions))
    iterations = np.zeros(n_periods, dtype=np.int64)
    residuals = np.zeros(n_periods)
    price_sum0 = by_nest(accounts.sales0, n_sectors) if nested else None
    open_market = price_sum0 > 0 if nested else accounts.expenditure0 > 0
    log_lambda = np.log(params.sunk_cost_ratio)
    previous = baseline.threshold
    a = np.zeros(market.shape[1:])
    x = np.zeros(len(commitments))
    if commitments:
        reference = solve_markets(population, baseline, accounts, log_demand_change, static, tariff, params,
                                  general, fixed_spending=fixed_spending)
        reference_exports = unit_scale * np.exp(reference.market_cells) * reference.sales_index
        reference = [reference_exports[:, blocks, dests].sum(axis=1) for blocks, dests, *_ in commitments]
    for t in range(n_periods):
        amounts = np.array([c[2][t] for c in commitments])
        targets = np.array([r[t] for r in reference]) + amounts if commitments else amounts
        for c in np.nonzero((amounts != 0) & (targets <= 0))[0]:
            source, key = commitments[c][3]
            raise InputError(source, f"in period {t} the cut of {-amounts[c]:g} USD million a year exceeds what "
                                     f"its cells export on this path ({targets[c] - amounts[c]:g})", key)

        def shift_cells(a, x):
            cells = spread(a, n_regions) if general else np.zeros_like(static[t])
            for (blocks, dests, *_), x_c in zip(commitments, x):
                cells[blocks, dests] += x_c
            return cells

        def state(a, x):
            """Everything at market levels ``a`` and commitment shifts ``x``."""
            shift = shift_cells(a, x)
            entrant = static[t] - shift
            threshold = continuation_threshold(entrant, previous, log_lambda)
            active, sales_index = population.evaluate(threshold[None])
            exports = unit_scale[t] * np.exp(shift) * sales_index[0]
            tr = tariff_revenue_by_destination(tariff[t], exports, n_sectors)
            # with fixed spending commitments are purchases on top of consumers' (as in pe): their
            # shift stays out of the price sums
            private = spread(a, n_regions) if fixed_spending else shift
            pi = market_price_sum(accounts, log_demand_change[t] + private - spread(a, n_regions),
                                  sales_index[0], n_sectors, nested)
            spend = accounts.expenditure0 if fixed_spending else market_expenditure(accounts, tr)
            return shift, threshold, active[0], sales_index[0], tr, spend, pi

        def committed_exports(a, x):
            """Exports of each commitment's cells (C,) at shifts ``a`` and ``x``."""
            totals = np.zeros(len(commitments))
            a_cells = spread(a, n_regions) if general else np.zeros_like(static[t])
            for c, (blocks, dests, *_) in enumerate(commitments):
                shift = a_cells[blocks, dests] + x[c]
                entrant = static[t, blocks, dests] - shift
                threshold = continuation_threshold(entrant, previous[blocks, dests], log_lambda)
                sales = population.evaluate(threshold, cells=(blocks, dests))[1]
                totals[c] = (unit_scale[t, blocks, dests] * np.exp(shift) * sales).sum()
            return totals

        def commitment_gap(a, x):
            """``log`` of committed exports against their targets; ``x`` where no amount is in force."""
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(amounts != 0, np.log(committed_exports(a, x)) - np.log(targets), x)

        evaluations = 0
        stepper = _SafeguardedSecant(a) if general else None
        for _outer in range(config.GE_MAX_ITERATIONS):
            shift, threshold, active, sales_index, tr, spend, pi = state(a, x)
            evaluations += 1
            excess = np.zeros_like(a)
            target = spend
            if nested:  # each nest's spending moves with its price index against the market's (6.19)
                pi = np.maximum(pi, NEST_FLOOR * price_sum0)
                target, composite = nest_spending(spend, pi, price_sum0, params.sigma, eta)
            if general:  # a + log Pi(a) - log E(a): increasing in a, zero at the equilibrium
                with np.errstate(divide="ignore", invalid="ignore"):
                    excess = np.where(open_market, a + np.log(pi) - np.log(target), 0.0)
            x_gap = commitment_gap(a, x) if commitments else np.zeros(0)
            # NaN must fail the test below (Python's max would drop it)
            residual = float(np.max(np.abs(np.concatenate([excess.ravel(), x_gap]))))
            if residual <= config.GE_TOLERANCE:
                break
            if general:
                a = stepper.step(a, excess)
            if commitments:
                x = _solve_increasing(lambda v: commitment_gap(a, v), x, x - commitment_gap(a, x))
        else:
            raise ConvergenceError(f"markets did not converge in period {t}: residual {residual:.3g} "
                                   f"after {evaluations} evaluations (tolerance {config.GE_TOLERANCE:g})")
        out["threshold"][t], out["sales_index"][t], out["active"][t] = threshold, sales_index, active
        out["market_cells"][t] = shift
        private = spread(a, n_regions) if fixed_spending else shift
        import_price[t] = import_price_index(accounts, log_demand_change[t] + private - spread(a, n_regions),
                                             sales_index, params.sigma)
        if nested:  # the market's price sum that gives its composite price index through (6.16)
            pi = accounts.expenditure0 * composite ** (1.0 - params.sigma)
        market[t], price_sum[t], expenditure[t], revenue[t] = a, pi, spend, tr
        iterations[t], residuals[t] = evaluations if general else 0, residual if general else 0.0
        previous = threshold
    return Markets(market=market, price_sum=price_sum, import_price=import_price, expenditure=expenditure,
                   tariff_revenue=revenue,
                   iterations=iterations, residual=residuals, **out)


class _SafeguardedSecant:
    """Root finding for many independent-ish increasing functions, one evaluation per step.

    Each market takes a secant step on its own excess function (slope from its last two
    evaluations, 2 at the start); a market keeps the bracket of its root seen so far and bisects it
    whenever the secant step would leave it (steep stretches of the marginal-firm ramp), so it
    converges like the secant method where the function is smooth and never worse than bisection.
    The weak links between markets (tariff revenue feeds every market of a region) are absorbed by
    re-evaluating the whole system at every step.
    """

    def __init__(self, start):
        self.low = np.full(start.shape, -np.inf)
        self.high = np.full(start.shape, np.inf)
        self.previous = None

    def step(self, a, excess):
        # a bracket can go stale when other markets move this market's root (through tariff
        # revenue): once it has shrunk to nothing without a root, forget it
        stale = (self.high - self.low) <= 1e-13 * (1.0 + np.abs(a))
        self.low = np.where(stale, -np.inf, self.low)
        self.high = np.where(stale, np.inf, self.high)
        self.low = np.where(excess < 0, np.maximum(self.low, a), self.low)
        self.high = np.where(excess > 0, np.minimum(self.high, a), self.high)
        slope = np.full(a.shape, 2.0)
        if self.previous is not None:
            a_prev, excess_prev = self.previous
            moved = np.abs(a - a_prev) > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate = np.where(moved, (excess - excess_prev) / np.where(moved, a - a_prev, 1.0), 2.0)
            slope = np.where(np.isfinite(estimate) & (estimate > 0.05), estimate, 2.0)
        self.previous = (a, excess)
        proposal = a - excess / slope
        bracketed = np.isfinite(self.low) & np.isfinite(self.high)
        outside = (proposal <= self.low) | (proposal >= self.high)
        with np.errstate(invalid="ignore"):
            return np.where(bracketed & outside, 0.5 * (self.low + self.high), proposal)


def _solve_increasing(function, start, guess):
    """Roots of a vector of independent increasing functions (``function`` maps an array to an
    array of values; here the purchase-commitment shifts), by bracketing and the Illinois variant
    of regula falsi.

    Returns the roots.
    """
    # no finite guess where a function is -inf at the start (a commitment's cells export nothing
    # there): bracket from the start and let the widening loop find the root
    guess = np.where(np.isfinite(guess), guess, start)
    low, high = np.minimum(start, guess), np.maximum(start, guess)
    width = np.maximum(high - low, 1e-3)
    low, high = low - width, high + width
    f_low, f_high = function(low), function(high)
    used = 2
    while np.any(f_low > 0) or np.any(f_high < 0):  # widen the bracket until it holds every root
        low = np.where(f_low > 0, low - 2 * width, low)
        high = np.where(f_high < 0, high + 2 * width, high)
        width *= 2
        f_low, f_high = function(low), function(high)
        used += 2
        if used > config.GE_MAX_ITERATIONS:
            raise ConvergenceError("purchase commitments: no demand shift reaches the committed amount")
    side = np.zeros(low.shape)
    x = 0.5 * (low + high)
    for _ in range(config.GE_MAX_ITERATIONS):
        span = f_high - f_low
        secant = np.isfinite(span) & (span > 0)  # else (an infinite end: log 0) bisect
        x = np.where(secant, high - f_high * (high - low) / np.where(secant, span, 1.0), 0.5 * (low + high))
        fx = function(x)
        used += 1
        if np.all((np.abs(fx) <= 0.1 * config.GE_TOLERANCE) | (high - low <= 1e-15 * (1 + np.abs(x)))):
            break
        above = fx > 0
        f_low = np.where(above & (side > 0), 0.5 * f_low, f_low)  # Illinois: the kept end twice in a row
        f_high = np.where(~above & (side < 0), 0.5 * f_high, f_high)
        high, f_high = np.where(above, x, high), np.where(above, fx, f_high)
        low, f_low = np.where(above, low, x), np.where(above, f_low, fx)
        side = np.where(above, 1.0, -1.0)
    return x


def region_results(accounts, markets, cells, params, n_sectors, fixed_spending=False):
    """Price indices, expenditure, welfare and trade shares from solved markets (``pe``,
    ``ge_fixed_wage`` and ``pe_moving``: income is the fixed baseline wage bill, no profits, no
    government purchases; commitments are demand shifts). ``fixed_spending``: consumers spend the
    markets' spending (``pe_moving``), not their income."""
    n_periods = markets.price_sum.shape[0]
    n_regions = accounts.income.size
    fixed = lambda v: np.broadcast_to(v, (n_periods, n_regions)).copy()  # noqa: E731
    return region_accounts(
        sales=cells["sales"], n_sectors=n_sectors, sigma=params.sigma, expenditure0=accounts.expenditure0,
        price_sum=markets.price_sum, sector_expenditure=markets.expenditure,
        income_parts={"labour": fixed(accounts.income), "profits": np.zeros((n_periods, n_regions)),
                      "tariff_revenue": markets.tariff_revenue, "deficit": fixed(accounts.deficit)},
        baseline_parts={"labour": accounts.income, "profits": np.zeros(n_regions),
                        "tariff_revenue": accounts.tariff_revenue0, "deficit": accounts.deficit},
        purchases=np.zeros((n_periods, n_regions)), wage=np.ones((n_periods, n_regions)),
        iterations=markets.iterations, residual=markets.residual, import_price=markets.import_price,
        spent=markets.expenditure.sum(axis=-1) if fixed_spending else None)


def dynamic_pe_regions(population, cells, params, reference=None, price_ratio=1.0, import_ratio=1.0):
    """``region_results`` of the dynamic model in ``pe``: its cells were simulated with market demand
    fixed; the baseline is period 0 of those cells (``engine.firms.dynamic.simulate_dynamic``).

    ``pe_moving`` (``engine.closures.moving_pe``): ``reference``, the draw's no-policy path
    (``simulate_dynamic``'s output), sets spending (held at that path's) and the price sums and
    import price indices, times ``price_ratio`` and ``import_ratio`` (T, R, K) of each market against
    it. By default the cells' own, and spending moves with tariff revenue.
    """
    n_sectors = params.sigma.size
    sales_index0 = cells["sales_index"][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sales_index0 > 0, population.flows * (1.0 + population.tariff) / sales_index0, 0.0)
    baseline = Baseline(threshold=population.offset, active=cells["active"][0], sales_index=sales_index0,
                        scale=scale, tariff=population.tariff)
    accounts = baseline_accounts(baseline, n_sectors)
    n_periods = cells["exports"].shape[0]
    revenue = tariff_revenue_by_destination(cells["tariff"], cells["exports"], n_sectors)
    spent = cells if reference is None else reference
    price_sum = market_price_sum(accounts, spent["log_price_term"], spent["sales_index"], n_sectors) * price_ratio
    import_price = import_price_index(accounts, spent["log_price_term"], spent["sales_index"],
                                      params.sigma) * import_ratio
    expenditure = market_expenditure(accounts, revenue if reference is None else tariff_revenue_by_destination(
        reference["tariff"], reference["exports"], n_sectors))
    markets = Markets(threshold=None, active=cells["active"], sales_index=cells["sales_index"],
                      market=np.zeros((n_periods, *accounts.beta.shape)), market_cells=None,
                      price_sum=price_sum, import_price=import_price, expenditure=expenditure, tariff_revenue=revenue,
                      iterations=np.zeros(n_periods, dtype=np.int64), residual=np.zeros(n_periods))
    return region_results(accounts, markets, cells, params, n_sectors, fixed_spending=reference is not None)
