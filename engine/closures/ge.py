"""The default general-equilibrium closure ``ge``: wages clear labour markets, profits and tariff
revenue are income, deficits are a fixed share of world GDP, purchase commitments are purchases.

The equations are in ``docs/model.md`` section 6.2; in brief, per period ``t``:

- Unknowns: the USD wage ``W_i = exp(lw_i)`` of every region (one is the numeraire while solving,
  see below), the market demand levels ``a_nk = log(A_nk / A_nk(0))`` and one government-purchase
  shift ``x_c`` per purchase commitment.
- A firm of ``i`` has unit cost ``W_i / phi`` (so ``log B`` of its cells moves by
  ``(1 - sigma_k) lw_i``) and pays its fixed cost to sell in ``n`` in the labour of ``n``
  (``F_ink W_n``; Arkolakis, Costinot & Rodriguez-Clare 2012 and Melitz-Redding: with Pareto
  productivity this keeps the macro model isomorphic to structural gravity with trade elasticity
  ``theta``). The entry threshold of a cell therefore moves by
  ``-(1 - sigma) lw_i - a_nk - x + lw_n`` on top of the policy's own move.
- Labour market of ``i``: ``W_i L_i = sum_cells of i (r - pi) + sum_cells selling in i FC``:
  variable costs of its firms plus the fixed costs every seller in ``i`` pays to ``i``'s labour.
  ``L_i`` is calibrated so that ``W_i(0) = 1``.
- Income ``I_n = W_n L_n + Pi_n + TR_n + D_n``, ``Pi_n`` the operating profits of ``n``'s firms
  net of the fixed costs they pay (to their home region), ``TR_n`` tariff revenue, ``D_n = delta_n Y_w``
  the deficit, a fixed share of world GDP ``Y_w = sum_i (W_i L_i + Pi_i)`` (Dekle, Eaton & Kortum
  2008). ``D_n(0)`` is the baseline spending less baseline income (goods and fixed-cost services).
- Government purchases (commitments) ``G_n``: the buyer's government buys the committed cells' goods,
  ``sum_cells r (1 - exp(-x_c)) = amount * Y_w / Y_w(0)`` (USD at baseline world GDP), paid out of
  ``I_n``; consumers spend ``E_n = I_n - G_n``, ``E_nk = beta_nk E_n``.
- Market ``(n, k)``: ``a + log Pi_nk - log E_nk = 0`` with ``Pi_nk`` the private price sum
  (``P_nk^(1-sigma)`` relative to baseline, times ``A``), as in ``engine.closures.fixed_wage``.

Exchange rates: values are in current US dollars and wages are flexible, so an exogenous path of
``FX_i`` only sets the local-currency wage ``W_i / FX_i``; with flexible prices it has no real effect
(the closure solves the FX-neutral path). It can matter only through prices sticky in an invoicing
currency (the firm-dynamics model).

Numeraire: world GDP ``Y_w(t) = Y_w(0)``. The solver pins one region's wage (the largest
economy) and rescales every nominal value afterwards; the system is homogeneous of degree one in
nominal values (deficits and commitments scale with ``Y_w``), so the choice changes no real result
(``tests/test_ge_closure.py``).

Interface with the firm model: only per-cell aggregates at a threshold (``cell_aggregates``: active
firms, sales index ``sum exp(sales_score)``, cost index ``sum eta``), so a dynamic firm model can
supply the same aggregates: ``Period.firm_side`` is the hook, which ``engine.closures.dynamic_ge`` overrides.

Solver: Newton's method on the stacked residuals with the Jacobian by the chain rule at every step
(``Period.jacobian``; the slopes of the cells' aggregates in their thresholds are centred
differences over a step sized to the firm count) and an Armijo backtracking line search on the sum
of squared residuals; after a failed line search the slope step widens tenfold (to 1e-2 at most).
"""

from dataclasses import dataclass

import numpy as np

from engine import config
from engine.cells import (by_destination, by_market, by_origin, by_origin_region, log_margin, sigma_kappa,
                          to_market_cells)
from engine.closures import newton as solver
from engine.closures.ge_accounts import cell_aggregates, labour_accounts
from engine.closures.nest import NEST_FLOOR, by_nest, import_price_of, nest_spending, to_nest_cells
from engine.errors import ConvergenceError
from engine.firms.static import continuation_threshold
from kernels.fixed_costs import cost_tails


@dataclass(frozen=True, eq=False)
class WageMarkets:
    """Solved ``ge`` closure of one draw and scenario, in the world-GDP numeraire.

    ``threshold, active, sales_index, market_cells`` (T, B, R) as ``engine.closures.fixed_wage.Markets``
    (``market_cells`` includes the wage term ``(1 - sigma) lw_i``, the government-purchase shift
    and the numeraire rescaling); ``regions`` the regional accounts (``engine.closures.welfare``).
    """

    threshold: np.ndarray
    active: np.ndarray
    sales_index: np.ndarray
    market_cells: np.ndarray
    wage: np.ndarray
    profits: np.ndarray
    tariff_revenue: np.ndarray
    deficit: np.ndarray
    purchases: np.ndarray
    price_sum: np.ndarray
    expenditure: np.ndarray
    employment: np.ndarray  # (T, R) labour supplied against the baseline (1 with fixed labour)
    tax: np.ndarray  # (T, R) income-tax rate that tariff revenue replaces (0 unless revenue = "income_tax")
    import_price: np.ndarray  # (T, R, K) the import composite's price index against the baseline (6.17)
    iterations: np.ndarray
    residual: np.ndarray


class Period:
    """Residuals of one period's equilibrium as a function of the stacked unknowns."""

    def __init__(self, population, tail_cost, acc, params, log_demand_change, static, tariff, previous,
                 commitments, amounts, reference, fixed_spending=False, markets=None):
        self.population, self.tail_cost, self.acc, self.params = population, tail_cost, acc, params
        self.ldc, self.static, self.tariff, self.previous = log_demand_change, static, tariff, previous
        self.commitments, self.amounts = commitments, amounts
        n_regions = acc.labour.size
        self.n_regions, self.n_sectors = n_regions, params.sigma.size
        sigma, kappa = sigma_kappa(params, n_regions)
        self.one_minus_sigma = 1.0 - sigma
        self.margin = np.exp(log_margin(tariff, kappa, 1.0 - self.one_minus_sigma))
        # nested demand (docs/model.md section 6.5): one market level per nest (domestic, imports)
        eta = params.eta
        self.nested = eta is not None and bool(np.any(eta != params.sigma))
        if self.nested:
            self.eta = eta
            self.nest_sales0 = by_nest(acc.sales0, self.n_sectors)
            self.open_market = self.nest_sales0 > 0
        else:
            self.open_market = acc.expenditure0 > 0
        if markets is not None:  # only these markets (R, K) are solved; the others keep a = 0
            self.open_market = self.open_market & (markets[..., None] if self.nested else markets)
        # the moving-index partial equilibrium (section 6.5): wages and consumer spending fixed
        self.fixed_spending = fixed_spending
        self.threshold_weight, self.threshold_offset = 1.0, 0.0
        self.free_wage = np.zeros(n_regions, dtype=bool) if fixed_spending else np.ones(n_regions, dtype=bool)
        self.free_wage[reference] = False
        self.log_lambda = np.log(params.sunk_cost_ratio)
        self.fd_step = 1e-6 * max(1.0, population.n_firms / 1e4)
        self.base_committed = [max(float((acc.sales0[b, n] / (1.0 + acc.tariff0[b, n])).sum()), 1e-12)
                               for b, n, *_ in commitments]
        # labour supply (docs/model.md section 6.6): one more unknown per region, log employment
        settings = params.ge
        self.labour_elasticity = 0.0 if settings is None else float(settings.labour_supply)
        self.tax_relief = settings is not None and settings.revenue == "income_tax"
        self.n_l = n_regions if self.labour_elasticity > 0 else 0
        self._structure()

    def _structure(self):
        """Index arrays of the chain rule (``jacobian``): the column of each cell's market level,
        origin wage and destination wage (-1: not an unknown), and each cell's groups."""
        n_regions, n_sectors = self.n_regions, self.n_sectors
        n_blocks = n_regions * n_sectors
        block, dest = np.indices((n_blocks, n_regions)).reshape(2, -1)
        origin, sector = block // n_sectors, block % n_sectors
        # market index n * K + k, or with nests (n * K + k) * 2 + g (g = 1: an import cell)
        markets = np.flatnonzero(self.open_market.ravel())
        self.n_nests = 2 if self.nested else 1
        free = np.flatnonzero(self.free_wage)
        n_a, n_w = markets.size, free.size
        market_column = np.full(self.open_market.size, -1)
        market_column[markets] = np.arange(n_a)
        wage_column = np.full(n_regions, -1)
        wage_column[free] = n_a + np.arange(n_w)
        self.cell_market = (dest * n_sectors + sector) * self.n_nests + (origin != dest) * (self.n_nests - 1)
        self.col_market = market_column[self.cell_market]
        self.col_origin_wage, self.col_dest_wage = wage_column[origin], wage_column[dest]
        self.cell_origin, self.cell_dest = origin, dest
        self.sigma_cell = self.one_minus_sigma[block, 0]
        self.commit_cells = [blocks * n_regions + dests for blocks, dests, *_rest in self.commitments]
        self.market_row = np.full(self.open_market.size, -1)
        self.market_row[markets] = np.arange(n_a)
        self.market_sector = (markets // self.n_nests) % n_sectors
        self.market_region = markets // (self.n_nests * n_sectors)
        self.markets, self.free, self.n_a, self.n_w = markets, free, n_a, n_w

    def _accumulate(self, group, n_groups, by_shift, by_wage):
        """``d(sum over cells of a group of y) / dz`` (n_groups, Z) for cell quantities ``y`` with
        ``dy = by_shift ds + by_wage dlw_n`` (``group`` -1: the cell counts nowhere)."""
        size = self.size()
        out = np.zeros(n_groups * size)
        for column, weight in ((self.col_market, by_shift), (self.col_origin_wage, by_shift * self.sigma_cell),
                               (self.col_dest_wage, by_wage)):
            use = (column >= 0) & (group >= 0)
            out += np.bincount(group[use] * size + column[use], weights=weight[use], minlength=n_groups * size)
        out = out.reshape(n_groups, size)
        for c, cells in enumerate(self.commit_cells):
            use = group[cells] >= 0
            out[:, self.n_a + self.n_w + c] += np.bincount(group[cells][use], weights=by_shift[cells][use],
                                                           minlength=n_groups)
        return out

    def unpack(self, z):
        """Market levels (R, K) (with nests (R, K, 2)), log wages (R,), commitment shifts (C,) and log
        employment (R,)."""
        n_a, n_w, n_c = self.n_a, self.n_w, len(self.commitments)
        a = np.zeros(self.open_market.shape)
        a[self.open_market] = z[:n_a]
        lw = np.zeros(self.n_regions)
        lw[self.free_wage] = z[n_a:n_a + n_w]
        log_employment = z[n_a + n_w + n_c:] if self.n_l else np.zeros(self.n_regions)
        return a, lw, z[n_a + n_w:n_a + n_w + n_c], log_employment

    def size(self):
        return int(self.open_market.sum() + self.free_wage.sum()) + len(self.commitments) + self.n_l

    def unknown(self, j):
        """Where the ``j``-th residual is: ``("market", n, k)`` (with nests ``("market", n, k, nest)``),
        ``("labour", n)`` or ``("commitment", c)``."""
        if j < self.n_a:
            market = divmod(int(self.markets[j]) // self.n_nests, self.n_sectors)
            nest = (("domestic", "imports")[int(self.markets[j]) % 2],) if self.nested else ()
            return ("market", *market, *nest)
        if j < self.n_a + self.n_w:
            return ("labour", int(self.free[j - self.n_a]))
        if j < self.n_a + self.n_w + len(self.commitments):
            return ("commitment", j - self.n_a - self.n_w)
        return ("labour supply", j - self.n_a - self.n_w - len(self.commitments))

    def state(self, z):
        a, lw, x, log_employment = self.unpack(z)
        n_sectors = self.n_sectors
        origin_lw = by_origin_region(lw, n_sectors)
        a_cells = (to_nest_cells if self.nested else to_market_cells)(a, self.n_regions)
        x_cells = np.zeros_like(a_cells)
        for (blocks, dests, *_), x_c in zip(self.commitments, x):
            x_cells[blocks, dests] += x_c
        shift = self.one_minus_sigma * origin_lw + a_cells + x_cells
        # fixed costs in the destination's labour; thresholds move with the share ``threshold_weight`` of
        # the shift and ``threshold_offset`` (pe_moving's gradual demand, engine.closures.dynamic_ge)
        entrant = self.static - (self.threshold_weight * shift + self.threshold_offset) + lw[None, :]
        firms = self.firm_side(entrant)
        threshold, active, sales_index = firms["threshold"], firms["active"], firms["sales_index"]
        with np.errstate(over="ignore", invalid="ignore"):
            sales = np.where(sales_index > 0, self.acc.scale * np.exp(self.ldc + shift) * sales_index, 0.0)
        exports = sales / (1.0 + self.tariff)
        operating = exports * self.margin
        fixed = self.acc.fixed_cost_unit * np.exp(lw)[None, :] * (
            firms["entrants_cost"] + np.exp(self.log_lambda) * firms["incumbents_cost"])
        labour_demand = by_origin(exports - operating, n_sectors) + by_destination(fixed)
        profits = by_origin(operating - fixed, n_sectors)
        revenue = by_destination(self.tariff * exports)
        employment = np.exp(log_employment)
        labour_income = np.exp(lw) * self.acc.labour * employment
        # with fixed spending (and wages) nothing is nominal to rescale: world GDP stays the numeraire's
        world_gdp = self.acc.world_gdp0 if self.fixed_spending else float((labour_income + profits).sum())
        growth = world_gdp / self.acc.world_gdp0
        deficit = self.acc.deficit_share * world_gdp
        purchases = np.zeros(self.n_regions)
        commit_gap = np.zeros(len(self.commitments))
        private = sales * np.exp(-x_cells)
        for c, (blocks, dests, *_rest) in enumerate(self.commitments):
            bought_exports = (exports[blocks, dests] * (1.0 - np.exp(-x[c]))).sum()
            np.add.at(purchases, dests, sales[blocks, dests] - private[blocks, dests])
            commit_gap[c] = ((bought_exports - self.amounts[c] * growth) / self.base_committed[c]
                             if self.amounts[c] != 0 else x[c])
        income = labour_income + profits + revenue + deficit
        # consumers' spending; fixed, government purchases come on top (as in pe)
        spending = self.acc.spending0 if self.fixed_spending else income - purchases
        expenditure = self.acc.beta * spending[:, None]
        if self.nested:  # each nest's spending (6.19) and the market's composite price index (6.18)
            price_sum = np.maximum(by_nest(private * np.exp(-a_cells), n_sectors), NEST_FLOOR * self.nest_sales0)
            target, composite = nest_spending(expenditure, price_sum, self.nest_sales0, self.params.sigma, self.eta)
        else:
            price_sum = by_market(private * np.exp(-a_cells), n_sectors)
            target, composite = expenditure, None
        with np.errstate(divide="ignore", invalid="ignore"):
            market_gap = np.where(self.open_market, a + np.log(price_sum) - np.log(target), 0.0)
            labour_gap = lw + np.log(self.acc.labour) + log_employment - np.log(labour_demand)
        tax = (revenue - self.acc.tariff_revenue0 * growth) / (labour_income + profits) if self.tax_relief else 0.0
        gaps = [market_gap[self.open_market], labour_gap[self.free_wage], commit_gap]
        if self.n_l:  # employment = (real after-tax wage)^kappa, against the baseline
            log_price = self.log_price_index(price_sum, composite)
            gaps.append(log_employment - self.labour_elasticity * (lw - np.log1p(-tax) - log_price))
        residual = np.concatenate(gaps)
        with np.errstate(over="ignore", invalid="ignore"):
            unit_sales = np.where(sales_index > 0, self.acc.scale * np.exp(self.ldc + shift), 0.0)
        slopes = dict(sales=np.nan_to_num(unit_sales * firms["slope_sales"]) * firms["moves"],
                      fixed=self.acc.fixed_cost_unit * np.exp(lw)[None, :] * firms["slope_fixed"])
        return residual, dict(threshold=threshold, active=active, sales_index=sales_index, shift=shift,
                              lw=lw, profits=profits, revenue=revenue, deficit=deficit, purchases=purchases,
                              price_sum=price_sum, expenditure=expenditure, world_gdp=world_gdp, x=x,
                              target=target, composite=composite, a_cells=a_cells,
                              a=a, sales=sales, exports=exports, fixed=fixed, private=private, spending=spending,
                              labour_demand=labour_demand, slopes=slopes, employment=employment,
                              labour_income=labour_income, tax=np.broadcast_to(tax, profits.shape))

    def log_price_index(self, price_sum, composite=None):
        """Log consumer price index of every region against the baseline (R,), from the markets' price
        sums in this period's units (Cobb-Douglas over sectors, docs/model.md section 10); with nests
        from the markets' composite price indices (6.18)."""
        if composite is not None:
            return (self.acc.beta * np.log(composite)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_sector = np.where(self.open_market, np.log(price_sum / self.acc.expenditure0), 0.0)
        return (self.acc.beta * log_sector / self.one_minus_sigma[:self.n_sectors, 0]).sum(axis=1)

    def market_price_sum(self, state):
        """Each market's price sum (R, K) in this period's units: with nests the one that gives the
        composite price index through (6.16), ``E_nk(0) P_hat^(1 - sigma)``."""
        if not self.nested:
            return state["price_sum"]
        return self.acc.expenditure0 * state["composite"] ** self.one_minus_sigma[:self.n_sectors, 0]

    def firm_side(self, entrant):
        """The firm model's side of the period at the cells' entrant thresholds (B, R): the
        thresholds in force, active firms, sales index, ``sum eta`` of entrants (full ``F``) and of
        last period's sellers (``lambda F``), and the slopes in the threshold of the sales index
        (with ``moves``, where the threshold follows ``entrant``) and of ``entrants + lambda
        incumbents`` cost. The static firm model with the marginal-firm rule; the dynamic one
        overrides this (``engine.closures.dynamic_ge``)."""
        threshold = continuation_threshold(entrant, self.previous, self.log_lambda)
        incumbent = np.maximum(threshold, self.previous)
        d = self.fd_step
        both = np.stack([threshold, incumbent, threshold + d, threshold - d, incumbent + d, incumbent - d])
        active, sales_index, cost_index = cell_aggregates(self.population, self.tail_cost, both)
        with np.errstate(invalid="ignore"):  # centred slopes over +-fd_step (0 in closed cells: inf - inf)
            slope_sales = np.nan_to_num((sales_index[2] - sales_index[3]) / (2 * d))
            slope_cost = np.nan_to_num((cost_index[2] - cost_index[3]) / (2 * d))
            slope_cost_incumbent = np.nan_to_num((cost_index[4] - cost_index[5]) / (2 * d))
        # h = min(e, max(h_prev, e + log lambda)) follows the entrant threshold e except strictly inside
        # the sunk-cost band (e + log lambda < h_prev < e), where last period's sellers hold it
        moves = ~((entrant + self.log_lambda < self.previous) & (self.previous < entrant))
        above = moves & (threshold >= self.previous)  # the incumbents' threshold max(h, h_prev) moves with h
        return dict(threshold=threshold, active=active[0], sales_index=sales_index[0],
                    entrants_cost=cost_index[0] - cost_index[1],  # sold now, not last period: full F
                    incumbents_cost=cost_index[1], slope_sales=slope_sales, moves=moves,
                    slope_fixed=slope_cost * moves - (1.0 - np.exp(self.log_lambda)) * slope_cost_incumbent * above)

    def jacobian(self, state):
        """Jacobian of the residuals at ``state`` by the chain rule.

        Each cell's aggregates depend on the unknowns only through its demand shift ``s`` (wage of
        the origin, market level, commitment shift) and its destination's wage ``lw_n`` (fixed costs),
        and through its threshold ``h = static - s + lw_n`` (where sunk costs do not hold it). The
        slopes of the sales and cost indices in ``h`` are centred differences over ``+-fd_step``
        (the marginal-firm rule makes them piecewise constant; with many firms the step spans
        several firms and smooths their noise). Everything else is exact. Assembled by sparse
        accumulation: a cell touches at most four unknowns.
        """
        ravel = lambda v: v.reshape(-1)  # noqa: E731
        sales, fixed, private = ravel(state["sales"]), ravel(state["fixed"]), ravel(state["private"])
        slope_sales, slope_fixed = ravel(state["slopes"]["sales"]), ravel(state["slopes"]["fixed"])
        one_plus_t, margin, tariff = ravel(1.0 + self.tariff), ravel(self.margin), ravel(self.tariff)
        keep = np.ones_like(sales)
        for cells, x_c in zip(self.commit_cells, state["x"]):
            keep[cells] *= np.exp(-x_c)
        n_a, n_w, size, n_regions = self.n_a, self.n_w, self.size(), self.n_regions
        # dh = dlw_n - ds: sales = q S(h) -> dsales = sales ds + q S' dh
        weight = self.threshold_weight
        sales_s, sales_w = sales - weight * slope_sales, slope_sales
        fixed_s, fixed_w = -weight * slope_fixed, fixed + slope_fixed
        exports_s, exports_w = sales_s / one_plus_t, sales_w / one_plus_t
        acc = self._accumulate
        origin, dest = self.cell_origin, self.cell_dest
        d_profits = acc(origin, n_regions, margin * exports_s - fixed_s, margin * exports_w - fixed_w)
        d_demand = (acc(origin, n_regions, (1 - margin) * exports_s, (1 - margin) * exports_w)
                    + acc(dest, n_regions, fixed_s, fixed_w))
        d_revenue = acc(dest, n_regions, tariff * exports_s, tariff * exports_w)
        # purchases = sales - private, private = keep * sales; x also lowers private directly
        d_purchases = acc(dest, n_regions, (1 - keep) * sales_s, (1 - keep) * sales_w)
        d_private = acc(self.market_row[self.cell_market], n_a, keep * sales_s, keep * sales_w)
        for c, cells in enumerate(self.commit_cells):
            np.add.at(d_purchases[:, n_a + n_w + c], dest[cells], private[cells])
            rows = self.market_row[self.cell_market[cells]]
            np.add.at(d_private[:, n_a + n_w + c], rows[rows >= 0], -private[cells][rows >= 0])
        labour = state["labour_income"]
        d_labour_income = np.zeros((n_regions, size))
        d_labour_income[self.free, n_a + np.arange(n_w)] = labour[self.free]
        employment_column = n_a + n_w + len(self.commitments) + np.arange(self.n_l)
        if self.n_l:
            d_labour_income[np.arange(n_regions), employment_column] = labour
        # with fixed spending world GDP is held at the baseline's (``state``)
        d_world = np.zeros(size) if self.fixed_spending else d_labour_income.sum(axis=0) + d_profits.sum(axis=0)
        d_spending = (d_labour_income + d_profits + d_revenue + np.outer(self.acc.deficit_share, d_world)
                      - d_purchases)
        price_sum = state["price_sum"].reshape(-1)[self.markets]
        a_flat = state["a"].reshape(-1)[self.markets]
        d_price_sum = np.exp(-a_flat)[:, None] * d_private
        d_price_sum[np.arange(n_a), np.arange(n_a)] -= price_sum
        market_region = self.market_region
        d_log_pi = d_price_sum / price_sum[:, None]
        if self.nested:  # a nest at its floor (``state``) does not move with the unknowns
            d_log_pi[price_sum <= NEST_FLOOR * self.nest_sales0.reshape(-1)[self.markets]] = 0.0
        rows = [np.eye(n_a, size) + d_log_pi]
        if not self.fixed_spending:
            rows[0] -= d_spending[market_region] / state["spending"][market_region, None]
        if self.nested:  # (6.19): d log E_g = d log E + (1-eta)/(1-sigma) (d log Pi_g - sum_h w_h d log Pi_h)
            weight = self.nest_weight(state)
            market = self.markets // 2
            mean = np.zeros((self.open_market.size // 2, size))
            np.add.at(mean, market, weight[:, None] * d_log_pi)
            c = ((1.0 - self.eta[self.market_sector]) / self.one_minus_sigma[self.market_sector, 0])[:, None]
            rows[0] -= c * (d_log_pi - mean[market])
        d_lw = np.zeros((n_w, size))
        d_lw[np.arange(n_w), n_a + np.arange(n_w)] = 1.0
        if self.n_l:
            d_lw[np.arange(n_w), employment_column[self.free]] = 1.0
        rows.append(d_lw - d_demand[self.free] / state["labour_demand"][self.free, None])
        exports = sales / one_plus_t
        for c, cells in enumerate(self.commit_cells):
            if self.amounts[c] == 0:
                row = np.zeros(size)
                row[n_a + n_w + c] = 1.0
            else:
                group = np.full(sales.size, -1)
                group[cells] = 0
                row = acc(group, 1, (1 - keep) * exports_s, (1 - keep) * exports_w)[0]
                row[n_a + n_w + c] += (exports[cells] * keep[cells]).sum()
                row -= self.amounts[c] * d_world / self.acc.world_gdp0
                row /= self.base_committed[c]
            rows.append(row[None])
        if self.n_l:
            rows.append(self._supply_rows(state, d_labour_income, d_profits, d_revenue, d_world, d_price_sum,
                                          price_sum, employment_column))
        return np.concatenate(rows)

    def _supply_rows(self, state, d_labour_income, d_profits, d_revenue, d_world, d_price_sum, price_sum, column):
        """Rows of the labour-supply residuals ``log l - kappa (lw - log(1 - tax) - log P)``."""
        n_regions, n_a = self.n_regions, self.n_a
        market_region, market_sector = self.market_region, self.market_sector
        beta = self.acc.beta.reshape(-1)[self.markets // self.n_nests]
        nest_weight = self.nest_weight(state) if self.nested else 1.0  # d log P = sum_h w_h d log P_h (6.18)
        weight = (beta * nest_weight / self.one_minus_sigma[market_sector, 0])[:, None]
        d_log_price = np.zeros((n_regions, self.size()))
        np.add.at(d_log_price, market_region, weight * d_price_sum / price_sum[:, None])
        d_real = -d_log_price
        d_real[self.free, n_a + np.arange(self.n_w)] += 1.0
        if self.tax_relief:
            tax, gdp = state["tax"], state["labour_income"] + state["profits"]
            d_tax = (d_revenue - np.outer(self.acc.tariff_revenue0, d_world) / self.acc.world_gdp0
                     - tax[:, None] * (d_labour_income + d_profits)) / gdp[:, None]
            d_real += d_tax / (1.0 - tax)[:, None]
        rows = -self.labour_elasticity * d_real
        rows[np.arange(n_regions), column] += 1.0
        return rows

    def import_price(self, state):
        """The import composite's price index against this period's baseline (R, K), (6.17) (1 in a
        market without imports, NaN in one whose imports have all stopped), with or without nests."""
        if self.nested:
            nest_sum, nest_sum0 = state["price_sum"], self.nest_sales0
        else:
            nest_sum = by_nest(state["private"] * np.exp(-state["a_cells"]), self.n_sectors)
            nest_sum0 = by_nest(self.acc.sales0, self.n_sectors)
        return import_price_of(nest_sum, nest_sum0, self.params.sigma)

    def nest_weight(self, state):
        """Each open nest's share of its market's spending now, ``w_g`` of (6.18)-(6.19) (n_a,)."""
        market = self.markets // 2
        target = state["target"].reshape(-1)
        return target[self.markets] / state["expenditure"].reshape(-1)[market]


#: What ``record_period`` keeps of each solved period.
RECORDED = ("threshold", "active", "sales_index", "market_cells", "wage", "profits", "tariff_revenue", "deficit",
            "purchases", "price_sum", "expenditure", "employment", "tax", "import_price")


def solve_period(period, z, t, previous=None):
    """Newton (``engine.closures.newton``) on period ``t`` from ``z`` (None: zeros); a failure names the period.

    ``previous``: the ``Period`` that ``z`` solved, when the unknowns may differ from month to month (a
    nest that opens or closes in the dynamic model's reference): ``z`` is carried over by unknown, 0
    for a new one.

    Returns (z, state, evaluations, residual)."""
    if z is not None and previous is not None and not (
            np.array_equal(previous.markets, period.markets) and np.array_equal(previous.free, period.free)):
        known = {previous.unknown(j): value for j, value in enumerate(z)}
        z = np.array([known.get(period.unknown(j), 0.0) for j in range(period.size())])
    z = np.zeros(period.size()) if z is None else z
    try:
        return solver.newton(period, z, config.GE_MAX_ITERATIONS)
    except ConvergenceError as error:
        raise ConvergenceError(f"period {t}: {error}", error.worst) from None


def record_period(out, state, acc, sigma, period):
    """Append a solved period's ``RECORDED`` values to the lists of ``out``, in the world-GDP numeraire
    (every nominal value times ``Y_w(0) / Y_w``; ``Pi_nk`` times its power ``1 - sigma_k``)."""
    rescale = acc.world_gdp0 / state["world_gdp"]
    out["threshold"].append(state["threshold"])
    out["active"].append(state["active"])
    out["sales_index"].append(state["sales_index"])
    out["market_cells"].append(state["shift"] + np.log(rescale))
    out["wage"].append(np.exp(state["lw"]) * rescale)
    for name in ("profits", "deficit", "purchases", "expenditure"):
        out[name].append(state[name] * rescale)
    out["tariff_revenue"].append(state["revenue"] * rescale)
    out["price_sum"].append(period.market_price_sum(state) * rescale ** (1.0 - sigma)[None, :])
    out["import_price"].append(period.import_price(state) * rescale)
    out["employment"].append(state["employment"])
    out["tax"].append(state["tax"])


def solve_wage_equilibrium(population, baseline, log_demand_change, static, tariff, params, commitments=(),
                           reference=None):
    """Solve the ``ge`` closure in every period.

    Parameters
    ----------
    population : engine.firms.static.Population
    baseline : engine.firms.static.Baseline
    log_demand_change, static, tariff : ndarray (T, B, R)
        From ``engine.firms.static.policy_shift`` on the path with exchange rates at baseline (nominal only).
    params : engine.scenario.uncertainty.DrawParameters
    commitments : sequence of (blocks, dests, amounts (T,), where)
        Government purchases of the cells' goods, USD million a year at baseline world GDP.
    reference : int, optional
        The region whose wage is pinned while solving (default: the largest labour income). Results
        are reported in the world-GDP numeraire whatever it is; only rounding differs.

    Returns
    -------
    WageMarkets, LabourAccounts

    Raises
    ------
    ConvergenceError
    """
    tail_cost = np.empty_like(population.tail_sales)
    cost_tails(population.entry_sorted, population.tail_sales, tail_cost)
    acc = labour_accounts(baseline, params, tail_cost, population)
    n_periods = static.shape[0]
    reference = int(np.argmax(acc.labour)) if reference is None else reference
    previous = baseline.threshold
    z = None
    out = {k: [] for k in RECORDED}
    iterations = np.zeros(n_periods, dtype=np.int64)
    residuals = np.zeros(n_periods)
    for t in range(n_periods):
        amounts = [c[2][t] for c in commitments]
        period = Period(population, tail_cost, acc, params, log_demand_change[t], static[t], tariff[t],
                         previous, commitments, amounts, reference)
        z, state, iterations[t], residuals[t] = solve_period(period, z, t)
        previous = state["threshold"]
        record_period(out, state, acc, params.sigma, period)
    arrays = {k: np.stack(v) for k, v in out.items()}
    return WageMarkets(iterations=iterations, residual=residuals, **arrays), acc
