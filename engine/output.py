"""Building the output tables from model arrays: flows, firms, draws and summary."""

import numpy as np
import polars as pl
import pyarrow as pa

from engine import config
from engine.results import FIRMS_SCHEMA, FLOWS_SCHEMA, SUMMARY_STATS, SUMMARY_VARIABLES
from kernels import firm_scores


def flows_table(draws, dates, calibration, results):
    """Arrow table of one scenario's flows for a list of draws (``results``: CellResults each)."""
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    shape = (len(draws), len(dates), n_regions, n_regions, n_sectors)
    grid = np.indices(shape).reshape(len(shape), -1)
    regions = np.array(calibration.regions, dtype=object)
    sectors = np.array(calibration.sectors, dtype=object)
    columns = {
        "draw": pa.array(np.asarray(draws, dtype=np.int32)[grid[0]]),
        "period": pa.array(grid[1].astype(np.int32)),
        "date": pa.array(np.asarray(dates, dtype="datetime64[D]")[grid[1]]),
        "origin": pa.array(regions[grid[2]], pa.string()),
        "destination": pa.array(regions[grid[3]], pa.string()),
        "sector": pa.array(sectors[grid[4]], pa.string()),
    }
    for field in FLOWS_SCHEMA.names[6:]:
        columns[field] = pa.array(np.stack([getattr(r, field) for r in results]).reshape(-1))
    return pa.Table.from_pydict(columns, schema=FLOWS_SCHEMA)


def firm_batches(population, baseline, state, params, calibration, dates, firm_output):
    """Yield Arrow record batches of firm-level rows (firms that sell) for one draw and scenario."""
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    m = population.n_firms
    firms = np.arange(m if firm_output == "all" else min(config.FIRM_SAMPLE, m), dtype=np.int64)
    dates = np.asarray(dates, dtype="datetime64[D]")
    regions = np.array(calibration.regions, dtype=object)
    for b in range(n_regions * n_sectors):
        i, k = divmod(b, n_sectors)
        slp = np.empty(firms.size)
        sales = np.empty((firms.size, n_regions))
        entry = np.empty((firms.size, n_regions))
        firm_scores(population.productivity_keys[b], population.shock_keys[b],
                    (params.sigma[k] - 1.0) / params.theta[k], params.shock_demand_sd[k],
                    params.shock_cost_sd[k], params.shock_corr[k], firms, n_regions, slp, sales, entry)
        active = entry[None, :, :] >= state.threshold[:, b, None, :]  # (T, F, R)
        t, f, n = np.nonzero(active)
        if t.size == 0:
            continue
        yield pa.RecordBatch.from_pydict({
            "draw": pa.array(np.full(t.size, population.draw, dtype=np.int32)),
            "period": pa.array(t.astype(np.int32)),
            "date": pa.array(dates[t]),
            "origin": pa.array(np.full(t.size, calibration.regions[i], dtype=object), pa.string()),
            "sector": pa.array(np.full(t.size, calibration.sectors[k], dtype=object), pa.string()),
            "firm_id": pa.array(firms[f]),
            "productivity": pa.array(np.exp(slp[f] / (params.sigma[k] - 1.0))),
            "weight": pa.array(np.full(t.size, baseline.weight[b])),
            "destination": pa.array(regions[n], pa.string()),
            "exports": pa.array(state.unit_exports[t, b, n] * np.exp(sales[f, n])),
        }, schema=FIRMS_SCHEMA)


def draws_table(records):
    """Arrow table of one scenario's draws: ``draw``, ``path`` and every sampled value.

    ``records``: list of dicts with ``draw``, ``path`` and sampled values (floats, or strings for
    branch options). Columns are sorted by name after ``draw`` and ``path``.
    """
    names = sorted({k for r in records for k in r} - {"draw", "path"})
    columns = {"draw": pa.array([r["draw"] for r in records], pa.int32()),
               "path": pa.array([r["path"] for r in records], pa.string())}
    for name in names:
        values = [r.get(name) for r in records]
        kind = pa.string() if any(isinstance(v, str) for v in values) else pa.float64()
        columns[name] = pa.array(values, kind)
    return pa.table(columns, metadata={"table": "draws", "grain": "one row per draw; every sampled value "
                                       "(parameters, branch options, last-period FX index) and the branch path"})


def summary_frame(flows, n_draws):
    """Mean and 5/50/95 % across draws per (period, origin, destination, sector), plus pair totals.

    Parameters
    ----------
    flows : polars.LazyFrame
        One scenario's flows.
    n_draws : int
        Draws in the run; the periods are read in passes of bounded size so that memory does not
        grow with the number of draws times periods.

    Returns
    -------
    polars.DataFrame
        Sector ``ALL`` rows are the totals of an (origin, destination) pair over sectors (computed per
        draw, then summarised). Value columns are ``{variable}_{stat}``.
    """
    keys = ["period", "date", "origin", "destination", "sector"]
    periods = flows.select(pl.col("period").unique().sort()).collect()["period"].to_list()
    per_pass = max(1, config.SUMMARY_ROWS_PER_PASS // max(1, n_draws * 800))
    aggregations = []
    for variable in SUMMARY_VARIABLES:
        col = pl.col(variable)
        aggregations += [col.mean().alias(f"{variable}_mean"),
                         *(col.quantile(q, "linear").alias(f"{variable}_{name}") for name, q in SUMMARY_STATS)]
    parts = []
    for start in range(0, len(periods), per_pass):
        chunk = flows.filter(pl.col("period").is_in(periods[start:start + per_pass])).select(
            "draw", *keys, *SUMMARY_VARIABLES).collect()
        totals = chunk.group_by("draw", *keys[:-1]).agg(pl.col(v).sum() for v in SUMMARY_VARIABLES).with_columns(
            pl.lit("ALL").alias("sector"))
        both = pl.concat([chunk, totals.select(chunk.columns)])
        parts.append(both.group_by(keys).agg(aggregations))
    return pl.concat(parts).sort(keys)
