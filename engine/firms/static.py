"""One draw of the model: firm population, calibration (docs/model.md section 7) and period aggregates
(sections 3-5); ``engine.closures.assemble`` puts it together with a market closure (section 6).

Array conventions: a *block* is (origin i, sector k), ``b = i * K + k``; a *cell* is (block,
destination n), arrays of shape ``(B, R)``; policy arrays ``(T, R, R, K)`` are
``[period, origin, destination, sector]`` and are brought to cells by ``to_cells``.

Only the composite ``B_ink = d * A_nk * (mu * tau * e * (1+t)**kappa)**(1 - sigma)`` (the demand
term of a firm with ``phi = 1`` and no shock) and the fixed cost ``F_ink`` matter at the baseline.
A firm with sales score ``v`` (``kernels.firm``) has consumer spending ``x = B * exp(v)``, revenue
net of tariff ``r = x / (1 + t)`` and operating profit ``pi = r * m`` with margin
``m = 1 - (1+t)**(1-kappa) / mu`` (``= 1/sigma`` when ``kappa = 1``). It sells when
``pi / e >= F * eta * c`` (docs/model.md section 4), i.e. when its entry score is at least::

    threshold = log F - log B + log(1 + t) - log m + log e   (+ log c).

Calibration picks, per cell, the threshold that leaves the target share of simulated firms active
(on the score of the lowest active firm) and the ``B`` that makes simulated
exports equal the data. A counterfactual moves ``log B`` by
``log d + (1 - sigma) * (log tau + log e + kappa * log(1 + t))`` changes and the threshold by the
formula above.

Choice (docs/model.md section 15): the data flows are valued at customs value, net of the importer's
tariff (BACI and Census report them so), so calibration matches ``exports`` (``sum w * r``), not
consumer ``sales`` (``sum w * x = (1 + t) * exports``), to the data.
"""

from dataclasses import dataclass

import numpy as np

from engine.cells import log_exchange, log_margin, operating_margin, per_block, sigma_kappa, to_cells
from engine.firms.sampling import block_strata
from kernels import block_keys, evaluate_cells, rank_cells


@dataclass(frozen=True, eq=False)
class Population:
    """The simulated firms of one draw, ranked per cell (``kernels.static.rank_cells``).

    Attributes
    ----------
    draw : int
    n_firms : int
        Simulated firms per block, ``M``.
    productivity_keys, shock_keys : ndarray of uint64 (B,)
    entry_sorted : ndarray (B, R, M)
    tail_sales : ndarray (B, R, M + 1)
        Weighted: real pairs times ``exp(sales_score)`` from each rank up.
    tail_count : ndarray (B, R, M + 1)
        Real pairs from each rank up (``engine.firms.sampling``).
    tail_split : ndarray (B, R, M + 1)
        ``tail_sales`` with each pair's term times its ``kernels.firm.half_sign``: the two
        half-populations of a cell (docs/model.md section 8.2) sum to ``tail_sales +- tail_split``.
    strata : ndarray (B, 3, M)
        Each block's strata low edges, widths and weights.
    """

    draw: int
    n_firms: int
    productivity_keys: np.ndarray
    shock_keys: np.ndarray
    entry_sorted: np.ndarray
    tail_sales: np.ndarray
    tail_count: np.ndarray
    tail_split: np.ndarray
    strata: np.ndarray

    def evaluate(self, thresholds, cells=None):
        """Active firms and their summed ``exp(sales_score)`` per cell, with the marginal-firm rule.

        Firms with ``entry_score >= threshold`` are active. The marginal firm, the one with the
        highest score below the threshold, is active with the fraction
        ``(u_next - threshold) / (u_next - u_marginal)``, ``u_next`` being the lowest active score
        (above the top firm: the top score plus the gap between the top two scores): a firm phases
        in as the threshold falls from ``u_next`` to its own score. Aggregates are then
        continuous in every policy (a small tariff has a small effect, and the general-equilibrium
        fixed point exists) and equal the hard count whenever the threshold sits on a firm's score,
        as calibration puts it. At most one simulated firm per cell is fractional.

        Parameters
        ----------
        thresholds : ndarray (T, B, R), or (..., C) with ``cells``
        cells : (ndarray, ndarray), optional
            Block and destination indices of ``C`` cells, to evaluate only those.

        Returns
        -------
        active : ndarray, float64, the shape of ``thresholds``
        sales_index : ndarray, the shape of ``thresholds``
        """
        count, sales_index, fraction, _, first, blocks, dests = self._marginal(thresholds, cells)
        below = np.maximum(first - 1, 0)
        marginal_sales = self.tail_sales[blocks, dests, below] - self.tail_sales[blocks, dests, first]
        marginal_count = self.tail_count[blocks, dests, below] - self.tail_count[blocks, dests, first]
        return count + fraction * marginal_count, sales_index + fraction * marginal_sales

    def split(self, thresholds):
        """The cells' sales-index split between their two half-populations (docs/model.md section 8.2)
        at ``thresholds`` (T, B, R), with the marginal-firm rule of ``evaluate``: the half of the odd
        firms sums to ``sales_index + split``, that of the even firms to ``sales_index - split``."""
        _, _, fraction, _, first, blocks, dests = self._marginal(thresholds, None)
        below = np.maximum(first - 1, 0)
        tail = self.tail_split
        return tail[blocks, dests, first] + fraction * (tail[blocks, dests, below] - tail[blocks, dests, first])

    def marginal(self, thresholds):
        """The hard count, its summed sales, and the marginal firm's fraction and score.

        Returns
        -------
        count : ndarray (T, B, R)
            Real firms of the pairs with ``entry_score >= threshold``.
        sales_index : ndarray (T, B, R)
            Their summed ``exp(sales_score)``.
        fraction : ndarray (T, B, R)
            How much of the marginal firm is active (see ``evaluate``); 0 where there is none.
        marginal_score : ndarray (T, B, R)
            The marginal firm's entry score (``-inf`` where there is none).
        """
        return self._marginal(thresholds, None)[:4]

    def _marginal(self, thresholds, cells):
        m = self.n_firms
        scores = self.entry_sorted
        if cells is None:
            thresholds = np.ascontiguousarray(thresholds)
            first = np.empty(thresholds.shape, dtype=np.int64)  # rank of the lowest active pair (m: none)
            sales_index = np.empty(thresholds.shape)
            evaluate_cells(scores, self.tail_sales, thresholds, first, sales_index)
            blocks, dests = np.indices(thresholds.shape[-2:])
        else:
            blocks, dests = cells
            first = np.empty(thresholds.shape, dtype=np.int64)
            for j, (b, n) in enumerate(zip(blocks, dests)):
                first[..., j] = np.searchsorted(scores[b, n], thresholds[..., j], side="left")
            sales_index = self.tail_sales[blocks, dests, first]
        count = self.tail_count[blocks, dests, first]
        partial = first >= 1
        u_marginal = scores[blocks, dests, np.maximum(first - 1, 0)]
        # above the top firm, a virtual next score one top gap higher lets the top firm phase out too
        virtual_top = 2.0 * scores[blocks, dests, m - 1] - scores[blocks, dests, max(m - 2, 0)]
        u_next = np.where(first < m, scores[blocks, dests, np.minimum(first, m - 1)], virtual_top)
        gap = u_next - u_marginal
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(partial & (gap > 0), np.clip((u_next - thresholds) / gap, 0.0, 1.0), 0.0)
        return count, sales_index, fraction, np.where(partial, u_marginal, -np.inf), first, blocks, dests


def kernel_parameters(params, n_regions):
    """The firm kernels' parameters per block (B,): ``(sigma - 1) / theta``, ``s_a``, ``s_e``, ``rho``."""
    return tuple(per_block(values, n_regions) for values in ((params.sigma - 1.0) / params.theta,
                 params.shock_demand_sd, params.shock_cost_sd, params.shock_corr))


def simulate_population(stream_keys, draw, n_firms, params, real_firms, scratch=None):
    """Draw and rank one draw's firm population.

    Parameters
    ----------
    stream_keys : (uint64, uint64)
        Keys of the productivity and shock streams of the run.
    draw : int
    n_firms : int
        Simulated firms per (origin, sector).
    params : DrawParameters
    real_firms : ndarray (R, K)
        Real firms per (origin, sector), ``N``: the strata of the demand shock (``engine.firms.sampling``).
    scratch : (ndarray, ndarray, ndarray, ndarray), optional
        Preallocated ``(B, R, M)`` and three ``(B, R, M + 1)`` arrays, reused across draws.

    Returns
    -------
    Population
    """
    n_regions = real_firms.shape[0]
    n_blocks = real_firms.size
    productivity_keys = block_keys(np.uint64(stream_keys[0]), draw, n_blocks)
    shock_keys = block_keys(np.uint64(stream_keys[1]), draw, n_blocks)
    if scratch is None:
        scratch = population_scratch(n_blocks, n_regions, n_firms)
    entry_sorted, tail_sales, tail_count, tail_split = scratch
    kernel_params = kernel_parameters(params, n_regions)
    low, width, weight = block_strata(real_firms.reshape(-1), n_firms, kernel_params[1])
    rank_cells(productivity_keys, shock_keys, *kernel_params, n_firms, low, width, weight, entry_sorted, tail_sales,
               tail_count, tail_split)
    return Population(draw, n_firms, productivity_keys, shock_keys, entry_sorted, tail_sales, tail_count, tail_split,
                      np.stack([low, width, weight], axis=1))


def population_scratch(n_blocks, n_regions, n_firms):
    """The arrays ``simulate_population`` ranks a draw into (``scratch``): entry scores (B, R, M) and the
    tail sums of sales, counts and the half-population split (B, R, M + 1) each."""
    return (np.empty((n_blocks, n_regions, n_firms)), *(np.empty((n_blocks, n_regions, n_firms + 1)) for _ in range(3)))


@dataclass(frozen=True, eq=False)
class Baseline:
    """Calibrated cells of one draw, arrays (B, R) unless stated.

    Attributes
    ----------
    threshold : entry threshold of period 0 (``+inf`` for a cell with no flow)
    active : real firms active at the baseline (the simulated pairs' weights, ``engine.firms.sampling``)
    sales_index : their weighted sum of ``exp(sales_score)``
    scale : ``B_ink``, so that ``exports = scale * sales_index / (1 + t)``
    tariff : baseline tariff
    """

    threshold: np.ndarray
    active: np.ndarray
    sales_index: np.ndarray
    scale: np.ndarray
    tariff: np.ndarray


def baseline_rank(tail_count, target, flows):
    """Per cell, the rank of the lowest pair active at the baseline: the one whose tail count of real
    pairs is nearest ``target`` (at least one pair where there is a flow; ``M``, none, where not).

    A finite population matches a count to half the weight of the pair at the margin: one real
    firm where the strata put the top at its real count (``engine.firms.sampling``).
    """
    m = tail_count.shape[-1] - 1
    first = np.argmin(np.abs(tail_count[..., :m] - target[..., None]), axis=-1)
    return np.where(flows > 0, first, m)


def fit_baseline(population, calibration):
    """Baseline thresholds and demand scales that reproduce the data on this population.

    Exactness: period-0 exports ``scale * S0 / (1 + t0)`` equal ``flows`` to rounding, and the
    active count is the real firms of the pairs from ``baseline_rank`` up (docs/model.md section 7).

    Returns
    -------
    Baseline
    """
    m = population.n_firms
    flows = to_cells(calibration.flows)
    tariff = to_cells(calibration.tariffs)
    target = to_cells(calibration.participation) * calibration.firms.reshape(-1)[:, None]
    first = baseline_rank(population.tail_count, target, flows)  # ascending order: actives are ranks first .. M-1
    trades = first < m
    at = np.minimum(first, m - 1)[..., None]
    # the threshold sits on the lowest active pair's score: exactly those pairs sell, none partly
    threshold = np.where(trades, np.take_along_axis(population.entry_sorted, at, axis=2)[..., 0], np.inf)
    sales_index = np.where(trades, np.take_along_axis(population.tail_sales, at, axis=2)[..., 0], 0.0)
    active = np.where(trades, np.take_along_axis(population.tail_count, at, axis=2)[..., 0], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(trades, flows * (1.0 + tariff) / sales_index, 0.0)
    return Baseline(threshold=threshold, active=active, sales_index=sales_index,
                    scale=scale, tariff=tariff)


def _path_terms(baseline, path, params, n_sectors):
    """``sigma``, ``kappa`` (B, 1), and per cell (T, B, R) the tariff, ``log e`` and ``log((1+t)/(1+t0))``."""
    sigma, kappa = sigma_kappa(params, path.fx.shape[1])
    tariff = to_cells(path.tariff)
    return sigma, kappa, tariff, log_exchange(np.log(path.fx), n_sectors), np.log1p(tariff) - np.log1p(baseline.tariff)


def policy_shift(baseline, path, params, n_sectors):
    """Per-period demand change and static entry thresholds of a policy path, market demand
    levels ``A`` held at the baseline.

    Parameters
    ----------
    baseline : Baseline
    path : engine.scenario.policy.PolicyPath
    params : DrawParameters
    n_sectors : int

    Returns
    -------
    log_demand_change : ndarray (T, B, R)
        ``log(B_t / B_0)`` from tariffs, iceberg costs, exchange rates and demand shifters.
    tariff : ndarray (T, B, R)
    static_threshold : ndarray (T, B, R)
        Entry thresholds of new entrants (before sunk costs).
    """
    sigma, kappa, tariff, log_e, log_t = _path_terms(baseline, path, params, n_sectors)
    log_demand_change = (np.log(to_cells(path.demand))
                         + (1.0 - sigma) * (np.log(to_cells(path.iceberg)) + log_e + kappa * log_t))
    log_margin_change = log_margin(tariff, kappa, sigma) - log_margin(baseline.tariff, kappa, sigma)
    static = baseline.threshold - log_demand_change + log_t - log_margin_change + log_e
    return log_demand_change, tariff, np.where(np.isnan(static), np.inf, static)


def continuation_threshold(entrant, previous, log_lambda):
    """The sunk-cost rule of docs/model.md section 4 for one period:
    ``h_t = min(thr_t, max(h_(t-1), thr_t + log lambda))`` (entrants need ``thr_t``; last period's
    sellers stay while their score is above ``thr_t + log lambda``)."""
    return np.minimum(entrant, np.maximum(previous, entrant + log_lambda))


def sunk_cost_thresholds(static, initial, sunk_cost_ratio, n_periods):
    """Apply ``continuation_threshold`` period after period from ``h_0 = initial``; with lambda = 1
    the thresholds are the static ones."""
    if sunk_cost_ratio == 1.0:
        return static
    log_lambda = np.log(sunk_cost_ratio)
    out = np.empty_like(static)
    previous = initial
    for t in range(n_periods):
        out[t] = previous = continuation_threshold(static[t], previous, log_lambda)
    return out


def flexible_prices(baseline, path, params, n_sectors):
    """Customs unit value vs baseline, operating margin and log exchange rate per cell (T, B, R),
    with flexible prices: ``p = mu * tau * e * (1+t)**(kappa-1) / phi`` (docs/model.md section 3)."""
    sigma, kappa, tariff, log_e, log_t = _path_terms(baseline, path, params, n_sectors)
    log_price = np.log(to_cells(path.iceberg)) + log_e + (kappa - 1.0) * log_t
    return log_price, operating_margin(tariff, kappa, sigma), log_e


@dataclass(frozen=True, eq=False)
class CellState:
    """Per-cell quantities of one draw and scenario that firm-level output needs, (T, B, R).

    Attributes
    ----------
    threshold : entry threshold in force (a firm sells when its entry score is at least this)
    unit_exports : exports of one real firm with ``exp(sales_score) = 1``, USD million per year
    """

    threshold: np.ndarray
    unit_exports: np.ndarray
