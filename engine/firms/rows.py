"""Firm-level rows of one draw and scenario: the sampled firms that sell, where, how much.

The per-cell aggregates never hold individual firms, so the rows asked for (``--firm-output``) are
recomputed here from the firms' counter-based streams (the same numbers the aggregates summed).
Each block's rows are one ``FirmRows`` of equal-length arrays; ``engine.outputs.tables`` turns them
into Arrow batches.
"""

from typing import NamedTuple

import numpy as np

from engine import config
from kernels import firm_scores
from kernels.dynamic import dynamic_firm_paths


class FirmRows(NamedTuple):
    """The rows of one (origin, sector) block: arrays of one length, ``block`` a scalar."""

    block: int
    period: np.ndarray
    firm_id: np.ndarray
    productivity: np.ndarray
    weight: np.ndarray  # real firms per row (the marginal firm by its active fraction)
    destination: np.ndarray  # region index
    exports: np.ndarray  # USD million a year


def kept_firms(n_firms, firm_output):
    """How many of a block's simulated firms have rows: all, or the first ``config.FIRM_SAMPLE``."""
    return n_firms if firm_output == "all" else min(config.FIRM_SAMPLE, n_firms)


def firm_rows(firm_model, population, baseline, state, params, firm_output):
    """``FirmRows`` of every block that has sellers, for the ``static`` or ``dynamic`` firm model."""
    if firm_model == "dynamic":
        return dynamic_rows(population, state, params, firm_output)
    return static_rows(population, baseline, state, params, firm_output)


def static_rows(population, baseline, state, params, firm_output):
    """Rows of the static model: ``state`` is the scenario's ``engine.firms.static.CellState``."""
    n_blocks, n_regions = state.threshold.shape[1:]
    n_sectors = params.sigma.size
    firms = np.arange(kept_firms(population.n_firms, firm_output), dtype=np.int64)
    # the marginal firm of each cell and its active fraction (Population.evaluate): computed here,
    # only when firm rows are asked for, not on every draw
    _, _, marginal_fraction, marginal_score = population.marginal(state.threshold)
    for b in range(n_blocks):
        k = b % n_sectors
        slp = np.empty(firms.size)
        sales = np.empty((firms.size, n_regions))
        entry = np.empty((firms.size, n_regions))
        weight = np.empty((firms.size, n_regions))
        firm_scores(population.productivity_keys[b], population.shock_keys[b],
                    (params.sigma[k] - 1.0) / params.theta[k], params.shock_demand_sd[k],
                    params.shock_cost_sd[k], params.shock_corr[k], population.strata[b], firms, n_regions, slp, sales,
                    entry, weight)
        # sellers, and the marginal firm of each cell with its active fraction (Population.evaluate)
        share = np.where(entry[None, :, :] >= state.threshold[:, b, None, :], 1.0,
                         np.where(entry[None, :, :] == marginal_score[:, b, None, :],
                                  marginal_fraction[:, b, None, :], 0.0))  # (T, F, R)
        t, f, n = np.nonzero(share)
        if t.size == 0:
            continue
        yield FirmRows(b, t, firms[f], np.exp(slp[f] / (params.sigma[k] - 1.0)), weight[f, n] * share[t, f, n],
                       n, state.unit_exports[t, b, n] * np.exp(sales[f, n]))


def dynamic_rows(population, state, params, firm_output):
    """Rows of the dynamic model (pairs that export).

    ``population`` is an ``engine.firms.dynamic.DynamicPopulation``, ``state`` what the scenario's draw
    left for them (``thresholds`` (T, B, R, Nz, 2) a pair's entry score is compared with, and
    ``unit_exports`` (T, B, R)): a ``DynamicState`` (pe), ``MovingState`` (pe_moving) or ``GeState``
    (ge). ``productivity`` is the firm's current productivity ``phi * exp(z_t)``; each simulated firm
    stands for ``weight`` real firms.
    """
    thresholds = state.thresholds
    n_periods, n_blocks, n_regions = thresholds.shape[:3]
    n_sectors = params.sigma.size
    n_firms = kept_firms(population.n_firms, firm_output)
    firm_ids = np.arange(n_firms, dtype=np.int64)
    chain, y = population.chain, population.y_grid
    for b in range(n_blocks):
        k = b % n_sectors
        slp = np.empty(n_firms)
        z_index = np.empty((n_periods, n_firms), dtype=np.int64)
        score = np.empty((n_firms, n_regions))
        weight = np.empty((n_firms, n_regions))
        active = np.empty((n_periods, n_firms, n_regions), dtype=np.bool_)
        dynamic_firm_paths(*(keys[b] for keys in population.keys), *(p[b] for p in population.kernel_params),
                           population.strata[b], chain.cum_invariant, chain.cum_transition, y[0], y[1] - y[0], population.status_prob[b],
                           population.thresholds[b], population.offset[b],
                           np.ascontiguousarray(thresholds[:, b]), population.settings.relationship_loss, slp,
                           z_index, score, weight, active)
        t, f, n = np.nonzero(active)
        if t.size == 0:
            continue
        j = z_index[t, f]
        sm1 = params.sigma[k] - 1.0
        yield FirmRows(b, t, firm_ids[f], np.exp((slp[f] + population.z_score[b, j]) / sm1), weight[f, n], n,
                       state.unit_exports[t, b, n] * np.exp(score[f, n] + population.z_score[b, j]))
