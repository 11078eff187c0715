"""The ``ge`` closure (``engine.closures.ge``) with the dynamic firm model (``engine.firms.dynamic``).

Expectations (``docs/model.md`` section 12): firms take
market demand paths as given when they form expectations. Each period they expect today's market
level, wages and commitment purchases to persist; with that belief, the equilibrium moves every
threshold of a cell (each ``z`` and last status) by exactly ``-g``, ``g = s - lw_n`` the log of the
profit effect (``s`` the demand shift of the cell: origin wage, market level, purchases; ``lw_n``
the destination's wage, in which the fixed and sunk costs are paid). The Bellman problem is
homogeneous of degree one in (profit level, fixed cost), so this is the rule
``engine.firms.dynamic.entry_thresholds`` already applies to exchange rates. Policy beliefs (the
scenario's tree) are those of the partial-equilibrium run.

Per period ``t``: the firms' state (each pair's status last period, each firm's ``z``) is that of
``t - 1``; Newton's method of ``engine.closures.ge`` clears the period's markets with the
aggregates of ``kernels.dynamic_ge.dynamic_period_aggregates`` at the cells' shifts ``g`` (a marginal
pair per cell phases in linearly between knots, so the aggregates are continuous and piecewise
linear, equal to the hard count at ``g = 0``; their slopes in ``g`` come exact from the kernel); then
``dynamic_period_commit`` moves the state at the solved ``g`` (hard rule: the fractional pair, at
most one per cell, is in that period's aggregates only, not in the state carried forward).

Baseline of each period: the draw's no-policy path. The labour endowments, deficit shares and
expenditure shares of period ``t`` are those of the same firms simulated without any policy
change (common random numbers): in the continuum they equal the period-0 values (the invariant
distribution), and with finitely many firms they keep the churn noise of the no-policy path out of
the equilibrium, so a scenario with no policy change is its own equilibrium (``z = 0``) and
reproduces the partial-equilibrium run (to rounding: the solver's window sums in another order). Period 0 reproduces the data exactly, as in PE.

Exchange rates: as in the static ``ge`` closure, the exogenous FX path is nominal and solved
FX-neutral (wages flexible); the sticky-invoicing channel of the dynamic PE model is not in this
closure in this version.
"""

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np

from engine import devices
from engine.cells import by_origin_region, half_exports, operating_margin, sigma_kappa, to_cells, trade_cells
from engine.closures.ge import RECORDED, Period, record_period, solve_period
from engine.closures.ge_accounts import accounts_from_cells, baseline_parts, income_parts, wage_region_results
from engine.closures.welfare import region_accounts
from engine.firms.dynamic import cell_factors, entry_thresholds, inventory_layer

#: How far below the lowest entrants' threshold less shift of a period the cutoff of the pairs a pass
#: visits is set (``DynamicFirms._visit_list``): room for later periods' thresholds and shifts before a
#: cell's list must be built again. Only speed depends on it.
VISIT_MARGIN = 0.1

#: The aggregates ``dynamic_period_commit`` returns, in its order.
COMMITTED = ("active", "sales_index", "entries", "exits", "both", "both_base", "entrants_cost", "incumbents_cost",
             "split")

#: Half-width of the window of threshold shifts around those asked for (``DynamicFirms``): Newton's
#: later steps in a period move the shifts by less than this in nearly every cell.
WINDOW_HALF_WIDTH = 0.1


class DynamicFirms:
    """The firm-destination pairs of one draw and scenario, one period at a time.

    Scores are generated once (``dynamic_pair_scores``, or taken from ``population.scores``) and cached:
    ``exp(v)``, ``u`` and the real pairs ``w`` as float64 (B, R, M) each and ``eta = exp(v - u)`` as
    float32, 28 bytes per pair (4 more on the CPU for the window's list of candidates and 4 for the
    list of pairs a period's pass visits) (450 MB for 20,000 firms, 80 blocks and 10 destinations),
    plus the bool arrays of the pairs' status. Two states move side by side on the same ``z`` paths:
    the scenario's and the no-policy path's (``reference``).

    The kernels are those of ``population.device`` (``engine.devices``: ``kernels.dynamic_ge`` or
    their CUDA twins); the per-pair and per-firm arrays live where they run (``state_arrays``: on
    the GPU they stay in device memory for the whole draw, and each call moves only per-cell arrays).

    With ``dests`` only those destinations' pairs are drawn and moved (the same pairs as in a full
    run); every (B, R) array in and out is still over all cells, the others' values coming from
    ``background(period)`` (a dict of (B, R) arrays: the names of ``commit``'s outputs and the two
    cost indices), as ``engine.closures.moving_pe`` needs. ``periods``: how many the draw runs (on the
    CPU a period's pass then leaves out the pairs that cannot export at any ``z`` their firm takes
    before the last; without it, at any ``z``).
    """

    def __init__(self, population, dests=None, background=None, periods=None):
        self.population = population
        self.periods = periods
        n_regions = population.offset.shape[1]
        self.dests = np.arange(n_regions, dtype=np.int64) if dests is None else np.asarray(dests, dtype=np.int64)
        self.background = background
        self._cut = None  # (thresholds given, their columns of ``dests``)
        device = population.device
        self._kernel = {name: devices.kernel(name, device) for name in (
            "dynamic_pair_scores", "dynamic_initial_state", "dynamic_z_advance", "dynamic_period_aggregates",
            "dynamic_period_commit", "dynamic_relationship_loss")}
        if device == "cpu":
            self._kernel.update({name: devices.kernel(name, "cpu") for name in (
                "dynamic_window_prepare", "dynamic_window_aggregates", "dynamic_period_close", "dynamic_visit_list", "dynamic_z_range",
                "dynamic_window_records")})
        arrays = devices.state_arrays(device)
        n_blocks, n_dest = population.offset.shape[0], self.dests.size
        m = population.n_firms
        self.n_firms = m
        productivity_keys, shock_keys, self.z_keys, self.status_keys = population.keys
        status_keys = self.status_keys
        if population.scores is not None and dests is None:  # drawn once by engine.firms.dynamic.prepare
            self.sales, self.entry, self.eta, self.weight = population.scores
        else:
            self.sales, self.entry, self.weight = (arrays.empty((n_blocks, n_dest, m), np.float64) for _ in range(3))
            self.eta = arrays.empty((n_blocks, n_dest, m), np.float32)
            self._kernel["dynamic_pair_scores"](productivity_keys, shock_keys, *population.kernel_params, m,
                                                population.strata, self.sales, self.entry, self.eta, self.weight,
                                                self.dests, n_regions)
        self.z = arrays.empty((n_blocks, m), np.int64)
        self.base = arrays.empty((n_blocks, n_dest, m), np.bool_)
        out = [np.empty((n_blocks, n_dest)) for _ in range(5)]
        y = population.y_grid
        self._kernel["dynamic_initial_state"](
            self.z_keys, status_keys, population.chain.cum_invariant, y[0], y[1] - y[0], population.status_prob,
            population.thresholds, population.offset, population.z_score, self.sales, self.entry, self.eta, self.weight,
            self.z, self.base, *out, self.dests)
        self.period = 0
        self.initial = self._full(dict(zip(("active", "sales_index", "entrants_cost", "incumbents_cost", "split"),
                                           out)))
        self.z_base = arrays.copy(self.z)
        self.status = arrays.copy(self.base)
        # the no-policy path's state moves alongside (``ge``); with ``background`` the caller has it
        self.reference_status = arrays.copy(self.base) if background is None else None
        # relationships lost this period (none in period 0) and the status the thresholds are read with
        self.loss = float(population.settings.relationship_loss)
        self.lost = arrays.copy(np.zeros((n_blocks, n_dest, m), dtype=np.bool_))
        self.kept = self.status if self.loss == 0.0 else arrays.copy(self.status)
        with np.errstate(invalid="ignore"):
            reference = population.thresholds[:, None, :, :] - population.offset[:, self.dests, None, None]
        self.reference_thresholds = np.ascontiguousarray(np.where(np.isnan(reference), np.inf, reference))
        self._zero_period, self._zero_marginal = -1, None
        self._window = None  # (period, thresholds, lower, upper, prepared arrays, records): CPU only
        self._prepared = None
        self._visit = None  # (cutoff, arrays of dynamic_visit_list): CPU only
        self._z_range = None

    def _part(self, x):
        """The ``dests`` columns of a (..., B, R) array (itself with every destination)."""
        return x if self.background is None else np.ascontiguousarray(x[..., self.dests])

    def _part_thresholds(self, thresholds):
        """The ``dests`` of thresholds (B, R, Nz, 2), the same object for the same argument (the
        window of shifts is kept per thresholds object)."""
        if self.background is None:
            return thresholds
        if self._cut is None or self._cut[0] is not thresholds:
            self._cut = (thresholds, np.ascontiguousarray(thresholds[:, self.dests]))
        return self._cut[1]

    def _full(self, values, fill=None):
        """Per-cell values of the ``dests`` columns spread over every cell: the others from
        ``background`` (or ``fill``)."""
        if self.background is None:
            return values
        out = {}
        for name, value in values.items():
            whole = np.full(value.shape[:-1] + (self.population.offset.shape[1],), fill) if fill is not None else \
                np.array(self.background(self.period)[name], dtype=float)
            whole[..., self.dests] = value
            out[name] = whole
        return out

    def _period_aggregates(self, thresholds, stacked, hard, marginal, slope):
        """``dynamic_period_aggregates`` at the shifts ``stacked`` (S, B, R). On the CPU through a window
        of shifts per cell, prepared by ``close_period`` around the last solved shifts (or here, by
        ``kernels.dynamic_ge.dynamic_window_prepare``, one pass over every pair, when a shift leaves
        it): only the records of the pairs whose entry point lies in it are looped over (about 0.5 %
        at the default size). The results are the full pass's up to the order of summation."""
        if self.population.device != "cpu":
            self._kernel["dynamic_period_aggregates"](self.sales, self.entry, self.eta, self.weight, self.z,
                                                      self.population.z_score, self.kept, thresholds, stacked,
                                                      *hard, marginal, slope)
            return
        window = self._window
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        if (window is None or window[0] != self.period or window[1] is not thresholds
                or not np.all(low >= window[2]) or not np.all(high <= window[3])):
            lower, upper = low - WINDOW_HALF_WIDTH, high + WINDOW_HALF_WIDTH
            self._allocate_window()
            prepared = self._prepared
            self._kernel["dynamic_window_prepare"](self.sales, self.entry, self.eta, self.weight, self.z,
                                                            self.population.z_score, self.kept, thresholds, lower,
                                                            upper, *prepared)
            window = self._window = (self.period, thresholds, lower, upper, prepared, self._records(thresholds))
        self._kernel["dynamic_window_aggregates"](self.sales, self.eta, self.weight, self.z, self.population.z_score,
                                                  self.kept, stacked, *window[4], *window[5],
                                                  *hard, marginal, slope)

    def advance(self, period):
        """Move every firm's ``z`` to ``period`` (called once per period, in order) and draw the
        relationships lost at its start (the same draws for the scenario's and the no-policy state)."""
        assert period == self.period + 1
        self._kernel["dynamic_z_advance"](self.z_keys, period, self.population.chain.cum_transition, self.z)
        if self.loss > 0.0:
            self._kernel["dynamic_relationship_loss"](self.status_keys, period, self.loss, self.dests,
                                                      self.population.offset.shape[1], self.status, self.lost,
                                                      self.kept)
        self.period = period

    def close_period(self, thresholds, shift, next_thresholds):
        """End this period and start the next: commit the scenario's state at ``shift`` (B, R) with this
        period's ``thresholds`` (``None`` in period 0, whose state is the calibrated one), ``advance``
        to the next period, commit the no-policy state there at zero shift (when these firms move
        one) and, on the CPU, prepare the next period's window of shifts around ``shift`` and 0 for
        ``next_thresholds`` (the very object the next period's evaluations pass).

        On the CPU one pass over the pairs (``kernels.dynamic_ge.dynamic_period_close``) instead of
        three, with the same results bit for bit. Returns this period's committed aggregates (as
        ``commit``; ``None`` in period 0) and the next period's no-policy aggregates (``None``
        without that state)."""
        if self.population.device != "cpu":
            committed = None if thresholds is None else self.commit(thresholds, shift)
            self.advance(self.period + 1)
            if self.reference_status is None:
                return committed, None
            return committed, self.commit(self.reference_thresholds, np.zeros(shift.shape), reference=True)
        commit = thresholds is not None
        shift = np.ascontiguousarray(self._part(shift), dtype=np.float64)
        current = self._part_thresholds(thresholds) if commit else self.reference_thresholds
        following = self._part_thresholds(next_thresholds)
        reference = self.reference_status is not None
        lower = np.minimum(shift, 0.0) - WINDOW_HALF_WIDTH
        upper = np.maximum(shift, 0.0) + WINDOW_HALF_WIDTH
        # the lowest entrants' threshold less shift of this pass, per z index (B, D, Nz): the pairs that
        # export in neither state and lie below it at every index their firm takes are left out (a
        # pair that does not export can only start at the entrants' threshold)
        floor = following[..., 0] - upper[..., None]
        if commit:
            floor = np.minimum(floor, current[..., 0] - shift[..., None])
        if reference:
            floor = np.minimum(floor, self.reference_thresholds[..., 0])
        visit = self._visit_list(floor)
        self._allocate_window()
        out_commit, out_reference = np.empty((9, *shift.shape)), np.empty((9, *shift.shape))
        population = self.population
        self._kernel["dynamic_period_close"](
            self.sales, self.entry, self.eta, self.weight, self.z_keys, self.period + 1,
            population.chain.cum_transition, self.z, self.z_base, population.z_score, self.status_keys, self.loss,
            self.dests, population.offset.shape[1], *visit, commit, current, shift, self.status, self.base,
            self.lost, self.kept, reference, self.reference_thresholds,
            self.reference_status if reference else self.status, following, lower, upper, out_commit,
            out_reference, *self._prepared)
        committed = self._full(dict(zip(COMMITTED, out_commit))) if commit else None
        self.period += 1
        self._window = (self.period, following, lower, upper, self._prepared, self._records(following))
        return committed, dict(zip(COMMITTED, out_reference)) if reference else None

    def _visit_list(self, floor):
        """``kernels.dynamic_ge.dynamic_visit_list``'s arrays for a pass whose thresholds less shifts
        reach down to ``floor`` (B, D, Nz): kept while the floor stays above their cutoff; the cells
        where it fell below are listed again with the cutoff ``VISIT_MARGIN`` below it, from the pairs
        exporting now in either state."""
        cells = np.ones(floor.shape[:2], dtype=np.bool_) if self._visit is None else \
            np.any(floor < self._visit[0], axis=2)
        if not cells.any():
            return self._visit[1]
        n_blocks, n_dest, m = self.sales.shape
        if self._z_range is None:  # each firm's z indices from now to the last period
            self._z_range = (np.zeros((n_blocks, m), dtype=np.int64),
                             np.full((n_blocks, m), self.population.z_score.shape[1] - 1, dtype=np.int64))
            if self.periods is not None:
                self._kernel["dynamic_z_range"](self.z_keys, self.period + 1, self.periods - 1,
                                                self.population.chain.cum_transition, self.z, *self._z_range)
        cutoff = floor - VISIT_MARGIN
        if self._visit is not None:
            cutoff = np.where(cells[..., None], cutoff, self._visit[0])
        arrays = self._visit[1] if self._visit is not None else (
            np.empty((n_blocks, n_dest, m), dtype=np.int32), np.empty((n_blocks, n_dest), dtype=np.int64),
            np.empty(floor.shape))
        exporting = self.status if self.reference_status is None else self.status | self.reference_status
        self._kernel["dynamic_visit_list"](self.entry, exporting, cutoff, *self._z_range, cells, *arrays)
        self._visit = (cutoff, arrays)
        return arrays

    def _records(self, thresholds):
        """``kernels.dynamic_ge.dynamic_window_records`` of the window just prepared (for ``thresholds``,
        this period's): the cells' starts, then the candidates' records."""
        counts = self._prepared[6]
        flat = counts.ravel()
        starts = (np.cumsum(flat) - flat).reshape(counts.shape)
        total = int(flat.sum())
        records = (*(np.empty(total) for _ in range(5)), np.empty(total, dtype=np.bool_))
        self._kernel["dynamic_window_records"](self.sales, self.entry, self.eta, self.weight, self.z,
                                               self.population.z_score, self.kept, thresholds, self._prepared[5],
                                               counts, starts, *records)
        return (starts, *records)

    def _allocate_window(self):
        """The window's arrays, allocated once: the candidates' list is as large as the pairs."""
        if self._prepared is None:
            n_blocks, n_dest = self.sales.shape[:2]
            self._prepared = (np.empty((4, n_blocks, n_dest)), *(np.empty((n_blocks, n_dest)) for _ in range(3)),
                              np.empty((n_blocks, n_dest), dtype=np.int64),
                              np.empty((n_blocks, n_dest, self.n_firms), dtype=np.int32),
                              np.empty((n_blocks, n_dest), dtype=np.int64))

    def aggregates(self, thresholds, shift):
        """Aggregates (B, R) of the period at the shift (B, R) and their slopes in it; the state
        does not move.

        Each is the hard count at the shift plus the change of the marginal pair's fraction from
        shift 0 (``dynamic_period_aggregates``): continuous and piecewise linear in the shift, with
        knots at the pairs' entry points only, and exactly the hard count at shift 0 (so a period
        with no change is the partial-equilibrium one). It differs from the hard count by less
        than one pair per cell. The marginal part at shift 0 is computed once per period.
        """
        first = self._zero_period != self.period
        thresholds, shift = self._part_thresholds(thresholds), self._part(shift)
        stacked = np.stack([np.zeros(shift.shape), shift]) if first else shift[None]
        stacked = np.ascontiguousarray(stacked, dtype=np.float64)
        hard = [np.empty(stacked.shape) for _ in range(4)]
        marginal = np.empty((4, *stacked.shape))
        slope = np.empty((4, *stacked.shape))
        self._period_aggregates(thresholds, stacked, hard, marginal, slope)
        if first:
            self._zero_marginal, self._zero_period = marginal[:, 0].copy(), self.period
        names = ("active", "sales_index", "entrants_cost", "incumbents_cost")
        values = {name: hard[k][-1] + (marginal[k, -1] - self._zero_marginal[k]) for k, name in enumerate(names)}
        for name in ("active", "sales_index"):  # below 0 only where a cell's last exporter leaves
            values[name] = np.maximum(values[name], 0.0)
        # the cost indices are not clipped: the marginal pair at the shift and at 0 may differ in
        # last status, so one of the two parts may dip below zero by less than a pair; their sum
        # (what is paid) does not
        return self._full(values), self._full({name: slope[k, -1] for k, name in enumerate(names)}, fill=0.0)

    def commit(self, thresholds, shift, reference=False):
        """Move the scenario's state (or the no-policy path's) to this period at ``shift`` (B, R);
        returns its hard aggregates (B, R), with the half-population ``split`` of the sales index."""
        if reference and self.background is not None:
            raise ValueError("DynamicFirms with a background moves no no-policy state (engine.closures.moving_pe "
                             "takes it from pe)")
        shift = self._part(shift)
        out = [np.empty(shift.shape) for _ in range(9)]
        self._kernel["dynamic_period_commit"](
            self.sales, self.entry, self.eta, self.weight, self.z, self.z_base, self.population.z_score,
            self.reference_status if reference else self.status, self.base, self.lost,
            thresholds if reference else self._part_thresholds(thresholds),
            np.ascontiguousarray(shift, dtype=np.float64), *out)
        return self._full(dict(zip(COMMITTED, out)))


def period_accounts(aggregates, scale, tariff0, margin0, fixed_cost_unit, sunk_cost_ratio, n_sectors):
    """``engine.closures.ge_accounts.LabourAccounts`` of one period of the no-policy path (its firms'
    sales, fixed costs, profits and tariff revenue at baseline wages and prices); the same
    equations as ``labour_accounts`` (``accounts_from_cells``), with entrants paying ``F`` and last period's sellers ``lambda F``."""
    sales0 = scale * aggregates["sales_index"]
    fixed0 = fixed_cost_unit * (aggregates["entrants_cost"] + sunk_cost_ratio * aggregates["incumbents_cost"])
    return accounts_from_cells(scale, tariff0, sales0, margin0, fixed0, fixed_cost_unit, n_sectors)


class _DynamicPeriod(Period):
    """One period of the ``ge`` closure with the dynamic firms: ``firm_side`` asks the firm loop."""

    def __init__(self, firms, thresholds, first, acc, params, log_demand_change, tariff, margin, commitments,
                 amounts, reference, fixed_spending=False, markets=None):
        zeros = np.zeros(tariff.shape)
        super().__init__(firms, None, acc, params, log_demand_change, zeros, tariff, zeros, commitments, amounts,
                         reference, fixed_spending, markets)
        self.firms, self.thresholds, self.first = firms, thresholds, first
        self.exact_step = self.fd_step  # while fd_step is here, the kernel's exact slopes are used
        self.margin = margin  # the dynamic model's margins (sticky prices)

    def firm_side(self, entrant):
        """Aggregates at the shift ``g = -entrant`` (the static thresholds are 0 here) and their
        slopes in the threshold ``-g`` (exact: the aggregates are piecewise linear; right-hand at a
        knot); in period 0 the calibrated baseline (nothing moves)."""
        ones = np.ones(entrant.shape, dtype=bool)
        if self.first:
            initial = self.firms.initial
            zero = np.zeros(entrant.shape)
            return dict(threshold=entrant, active=initial["active"], sales_index=initial["sales_index"],
                        entrants_cost=initial["entrants_cost"], incumbents_cost=initial["incumbents_cost"],
                        slope_sales=zero, moves=ones, slope_fixed=zero)
        g = -entrant
        if self.fd_step > self.exact_step:
            # after a failed line search (engine.closures.newton.newton widens fd_step): slopes as
            # centred differences over +-d, d at least fd_step and twice the marginal segment, which
            # smooths across the kinks of sparse cells (as the static model's solver does)
            agg, local = self.firms.aggregates(self.thresholds, g)
            with np.errstate(divide="ignore"):  # the marginal segment's width is 1 / (slope of the count)
                width = np.where(local["active"] > 0, 1.0 / local["active"], 0.0)
            d = np.maximum(self.fd_step, 2.0 * width)  # spans the neighbouring knots in sparse cells
            up, _ = self.firms.aggregates(self.thresholds, g + d)
            down, _ = self.firms.aggregates(self.thresholds, g - d)
            slope = {k: (up[k] - down[k]) / (2 * d) for k in agg}
        else:
            agg, slope = self.firms.aggregates(self.thresholds, g)
        return dict(threshold=entrant, active=agg["active"], sales_index=agg["sales_index"],
                    entrants_cost=agg["entrants_cost"], incumbents_cost=agg["incumbents_cost"],
                    slope_sales=-slope["sales_index"], moves=ones,
                    slope_fixed=-(slope["entrants_cost"] + np.exp(self.log_lambda) * slope["incumbents_cost"]))


def solve_dynamic_wage_equilibrium(firms, thresholds, log_demand_change, tariff, margin, params, commitments=(),
                                   reference=None):
    """Solve the ``ge`` closure period by period with the dynamic firms.

    Parameters
    ----------
    firms : DynamicFirms
        Fresh (period 0); moved to the last period.
    thresholds : ndarray (T, B, R, Nz, 2)
        The partial-equilibrium thresholds (``engine.firms.dynamic.entry_thresholds``).
    log_demand_change, tariff, margin : ndarray (T, B, R)
        Per-firm sales factor ``log(sales / baseline sales)`` before the equilibrium, tariffs and
        operating margins, from ``engine.firms.dynamic.cell_factors``.
    params, commitments, reference :
        As in ``engine.closures.ge.solve_wage_equilibrium``.

    Returns
    -------
    dict of (T, ...) arrays and lists: ``solved`` fields of ``WageMarkets`` (``active`` with the
    marginal pair's fraction), ``entries`` and ``exits`` (``gross_flows``), the committed hard
    aggregates ``hard_active``, ``hard_sales_index`` (those of the pairs firm rows list), ``both``,
    ``both_base`` and ``split`` (the half-populations' split of the sales index,
    docs/model.md section 8.2), ``threshold_shift`` (the solved shift each period's commit subtracts
    from ``thresholds``, zero in period 0) and ``accounts`` (one ``LabourAccounts`` per period).
    """
    population = firms.population
    n_sectors = params.sigma.size
    n_regions = population.offset.shape[1]
    sigma, kappa = sigma_kappa(params, n_regions)
    tariff0 = population.tariff
    margin0 = operating_margin(tariff0, kappa, sigma)
    initial = firms.initial
    open_cell = population.offset > -np.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.where(initial["sales_index"] > 0, population.flows * (1.0 + tariff0) / initial["sales_index"], 0.0)
        unit = np.where(open_cell, scale * margin0 / (1.0 + tariff0) * np.exp(-np.where(open_cell, population.offset,
                                                                                           0.0)), 0.0)
    lam = params.sunk_cost_ratio
    n_periods = tariff.shape[0]
    hard = ("hard_active", "hard_sales_index", "entries", "exits", "both", "both_base", "split")
    out = {k: [] for k in (*RECORDED, "labour", "threshold_shift", *hard)}
    accounts, references = [], []
    iterations = np.zeros(n_periods, dtype=np.int64)
    residuals = np.zeros(n_periods)
    z = previous = None
    reference_agg = dict(initial)
    period_thresholds = np.ascontiguousarray(thresholds[0])
    for t in range(n_periods):
        references.append(reference_agg)
        acc = period_accounts(reference_agg, scale, tariff0, margin0, unit, lam, n_sectors)
        amounts = [c[2][t] for c in commitments]
        if reference is None:
            reference = int(np.argmax(acc.labour))
        period = _DynamicPeriod(firms, period_thresholds, t == 0, acc, params, log_demand_change[t], tariff[t],
                                margin[t], commitments, amounts, reference)
        z, state, iterations[t], residuals[t] = solve_period(period, z, t, previous)
        previous = period
        committed, reference_agg, period_thresholds, shift = end_period(firms, thresholds, t, period_thresholds,
                                                                        state)
        out["threshold_shift"].append(shift)
        record_period(out, state, acc, params.sigma, period)
        out["labour"].append(acc.labour)
        out["hard_active"].append(committed["active"])
        out["hard_sales_index"].append(committed["sales_index"])
        for name in hard[2:]:
            out[name].append(committed[name])
        accounts.append(acc)
    solved = {k: np.stack(v) for k, v in out.items()}
    solved["entries"], solved["exits"] = gross_flows(solved["active"], solved["hard_active"], solved["entries"],
                                                     solved["exits"])
    solved.update(iterations=iterations, residual=residuals, accounts=accounts, scale=scale, references=references)
    return solved


def end_period(firms, thresholds, t, current, state):
    """End period ``t`` of the firms at the solved ``state`` (``thresholds`` (T, B, R, Nz, 2), ``current``
    the period's own, the object its evaluations passed): commit the state (not in period 0, whose
    state is the calibrated one) and, before the last period, start the next
    (``DynamicFirms.close_period``). Returns the committed aggregates (period 0's calibrated ones with
    no entries or exits), the next period's no-policy aggregates (None without that state or after
    the last period), the next period's thresholds and the shift (B, R) the commit subtracted from
    the period's thresholds (zero in period 0)."""
    shift = np.zeros(firms.population.offset.shape) if t == 0 else -state["threshold"]
    commit_to = None if t == 0 else current
    reference = None
    if t + 1 < thresholds.shape[0]:
        current = np.ascontiguousarray(thresholds[t + 1])
        committed, reference = firms.close_period(commit_to, shift, current)
    else:
        committed = None if commit_to is None else firms.commit(commit_to, shift)
    if committed is None:
        initial, zero = firms.initial, np.zeros(shift.shape)
        committed = dict(initial, entries=zero, exits=zero, both=initial["sales_index"],
                         both_base=initial["sales_index"])
    return committed, reference, current, shift


@dataclass(frozen=True, eq=False)
class GeState:
    """What the draw's other steps need of a ``ge`` run: the firm side of its no-policy path
    (``reference``, a ``KnownReference``) and what firm rows need (``engine.firms.rows.dynamic_rows``):
    the thresholds each period's commit compared the entry scores with, ``pe_thresholds`` less the
    solved ``threshold_shift`` (T, B, R), and the unit exports (T, B, R)."""

    reference: object
    pe_thresholds: np.ndarray
    threshold_shift: np.ndarray
    unit_exports: np.ndarray

    @property
    def thresholds(self):
        return self.pe_thresholds - self.threshold_shift[..., None, None]


class PathOffReference(Exception):
    """The no-policy path's equilibrium left the policy run's reference state (``KnownReference``)."""


class KnownReference:
    """The firm side of the draw's no-policy path in ``ge``, from the policy run (``solved["references"]``).

    The policy run moves a reference state on the same ``z`` paths with the no-policy thresholds at
    zero shift (``DynamicFirms``); on the no-policy path the equilibrium is that state (each
    period's accounts are built from it, so the residual at zero shift is zero), so its commits and
    its aggregates at zero shift are the reference's, already computed: no pass over the pairs. A
    shift other than zero (the solver leaving the reference) raises ``PathOffReference``, and the
    caller solves the path in full.
    """

    def __init__(self, population, references):
        self.population, self.references = population, references
        self.n_firms = population.n_firms
        self.initial = references[0]
        self.reference_thresholds = None
        self.period = 0

    def advance(self, period):
        self.period = period

    def close_period(self, thresholds, shift, next_thresholds):
        committed = None if thresholds is None else self.commit(thresholds, shift)
        self.advance(self.period + 1)
        return committed, self.commit(None, np.zeros(shift.shape))

    def _at(self, shift):
        if np.any(shift != 0.0):
            raise PathOffReference
        return self.references[self.period]

    def commit(self, thresholds, shift, reference=False):
        return self._at(shift)

    def aggregates(self, thresholds, shift):
        known = self._at(shift)
        names = ("active", "sales_index", "entrants_cost", "incumbents_cost")
        # slopes are not known; the solver asks for them only away from the solution, which raises first
        return {name: known[name] for name in names}, {name: np.zeros(shift.shape) for name in names}


def gross_flows(active, hard_active, hard_entries, hard_exits):
    """Entries and exits (T, B, R) of the reported exporters ``active`` (docs/model.md (5.4), section 12).

    ``active`` is the committed hard count ``hard_active`` plus the marginal pair's fractional part
    (12.2), which the state carried forward leaves out. The pairs that started and stopped under the
    hard rule (``hard_entries``, ``hard_exits``, from ``dynamic_period_commit``) are entries and exits;
    a rise of the fractional part from ``t - 1`` to ``t`` adds to entries, a fall to exits. So
    ``active[t] - active[t - 1] = entries[t] - exits[t]`` in every cell and period, and both are zero
    in period 0.
    """
    fraction = active - hard_active
    change = np.diff(fraction, axis=0, prepend=fraction[:1])
    return hard_entries + np.maximum(change, 0.0), hard_exits + np.maximum(-change, 0.0)


def _fx_neutral(model):
    """The scenario model with every exchange rate at its baseline (cached on the model)."""
    cached = model.__dict__.get("_fx_neutral_model")
    if cached is None:
        cached = model.__dict__["_fx_neutral_model"] = _FxNeutralModel(model)
    return cached


class _FxNeutralModel:
    """A ``engine.scenario.policy.ScenarioModel`` whose calendars have no exchange-rate change."""

    def __init__(self, model):
        self._model = model
        self.epochs = None
        self._neutral_cache = {}

    def __getattr__(self, name):
        if name.startswith("__") or "_model" not in self.__dict__:  # unpickling looks up __setstate__ first
            raise AttributeError(name)
        return getattr(self._model, name)

    def calendar(self, events, labels):
        path = self._model.calendar(events, labels)
        return replace(path, fx=np.ones_like(path.fx))

    def arrays(self, labels=()):
        if labels not in self._neutral_cache:
            path = self._model.arrays(labels)
            self._neutral_cache[labels] = replace(path, fx=np.ones_like(path.fx))
        return self._neutral_cache[labels]


def simulate_dynamic_ge(population, path, params, firms=None):
    """``engine.closures.assemble.run_dynamic`` in the ``ge`` closure: (cells, regions, solved).

    ``firms``: the firm side (default a fresh ``DynamicFirms``); the no-policy path passes the policy
    run's ``KnownReference``.
    """

    n_sectors = params.sigma.size
    path = replace(path, fx=np.ones_like(path.fx))  # flexible wages absorb exchange rates (docs/model.md)
    model = _fx_neutral(path.beliefs)
    factors = cell_factors(path, population.tariff, params, n_sectors)
    thresholds = entry_thresholds(population, path, params, model, path.branch_labels, factors)
    tariff = factors["tariff"]
    log_demand_change = factors["log_value"] + np.log1p(tariff) - np.log1p(population.tariff)
    commitments = [(*np.nonzero(to_cells(mask)), amounts, where) for mask, amounts, where in path.commitments]
    firms = DynamicFirms(population, periods=thresholds.shape[0]) if firms is None else firms
    solved = solve_dynamic_wage_equilibrium(firms, thresholds, log_demand_change, tariff, factors["margin"], params,
                                            commitments)
    unit_sales = solved["scale"] * np.exp(log_demand_change + solved["market_cells"])
    exports = unit_sales * solved["sales_index"] / (1.0 + tariff)
    unit_exports = unit_sales / (1.0 + tariff)
    solved.update(unit_exports=unit_exports, pe_thresholds=thresholds)  # for firm rows (GeState)
    intensive = unit_exports * solved["both"] - unit_exports[:1] * solved["both_base"]
    log_wage = np.log(solved["wage"] / solved["wage"][:1])
    log_price = factors["log_price"] + by_origin_region(log_wage, n_sectors)
    halves = half_exports(unit_exports, solved["sales_index"], solved["split"], solved["sales_index"][0],
                          solved["split"][0])

    def cells_with(stocks):
        return trade_cells(tariff, exports, solved["active"], solved["entries"], solved["exits"], intensive,
                           log_price, factors["margin"], factors["log_exchange"], halves, stocks)

    cells = cells_with(None)
    regions = wage_region_results(solved["accounts"][0], SimpleNamespace(**solved), cells, params,
                                  labour=solved["labour"])
    # importers' stocks re-time customs values and tariff revenue in the flows only: the equilibrium and
    # the regional accounts are those of final sales (docs/model.md section 11.9)
    stocks = inventory_layer(np.concatenate([exports[None], halves]), log_price, path, params, model,
                             path.branch_labels, population.tariff)
    if stocks is not None:
        cells = cells_with(stocks)
    return cells, _against_no_policy_path(regions, cells, solved, params), solved


def _against_no_policy_path(regions, cells, solved, params):
    """Welfare, its decomposition and price indices against the draw's no-policy path in the same
    period (common random numbers), not against period 0: the dynamic model's finite-firm churn
    moves every price index and income from month to month, and that noise is the same in both
    paths. Levels (income, wages, profits, spending) stay as solved.

    With per-period reference accounts ``acc_t`` (``period_accounts``): sector prices are
    ``Pi_t / E_t^ref``, welfare ``(E_t / E_t^ref) / P_t - 1``; the decomposition stays exact because
    the reference income parts of each period add up to its spending. Computed by
    ``engine.closures.welfare.region_accounts`` on inputs rescaled by ``E(0) / E_t^ref`` per region.
    """
    accounts = solved["accounts"]
    acc0 = accounts[0]
    reference_expenditure = np.stack([a.expenditure0 for a in accounts])  # (T, R, K)
    reference_spending = np.stack([a.spending0 for a in accounts])  # (T, R)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_base = np.where(reference_spending > 0, acc0.spending0 / reference_spending, 1.0)
        price_ratio = np.where(reference_expenditure > 0, acc0.expenditure0 / reference_expenditure, 1.0)
    parts = income_parts(SimpleNamespace(**solved), solved["labour"])
    per_period = [baseline_parts(a) for a in accounts]
    reference = {name: np.stack([p[name] for p in per_period]) for name in parts}
    adjusted = region_accounts(
        sales=cells["sales"], n_sectors=params.sigma.size, sigma=params.sigma, expenditure0=acc0.expenditure0,
        price_sum=solved["price_sum"] * price_ratio, sector_expenditure=solved["expenditure"],
        income_parts={k: v * to_base for k, v in parts.items()},
        baseline_parts={k: v * to_base for k, v in reference.items()},
        purchases=solved["purchases"] * to_base, wage=solved["wage"], iterations=solved["iterations"],
        residual=solved["residual"], import_price=solved["import_price"])
    names = ("price_index", "real_income_change_pct", "welfare_labour_pct", "welfare_profits_pct",
             "welfare_tariff_revenue_pct", "welfare_deficit_pct", "welfare_purchases_pct", "equivalent_variation",
             "sector_price_index", "sector_import_price_index")
    return replace(regions, **{name: getattr(adjusted, name) for name in names})
