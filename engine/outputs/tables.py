"""Building the output tables from model arrays: flows, regions, prices, firm rows, draws and summary."""

import warnings
from types import SimpleNamespace

import numpy as np
import polars as pl
import pyarrow as pa

from engine._version import __version__
from engine.config import DEFAULT_PRECISION
from engine.outputs.schemas import (
    FIRMS_SCHEMA,
    FLOWS_SCHEMA,
    NO_POLICY_FLOWS,
    NO_POLICY_REGIONS,
    PRICES_SCHEMA,
    REGIONS_SCHEMA,
    SUMMARY_SCHEMA,
    SUMMARY_STATS,
    SUMMARY_VARIABLES,
    draws_field,
)


def _grid_table(schema, axes, values):
    """Arrow table whose key columns are the full grid of ``axes``.

    ``axes``: list of (column name, array of labels) in the order of the value arrays' axes;
    ``values``: column name -> array with that full shape.
    """
    shape = tuple(len(labels) for _, labels in axes)
    grid = np.indices(shape).reshape(len(shape), -1)
    columns = {}
    for (name, labels), index in zip(axes, grid):
        labels = np.asarray(labels)
        kind = schema.field(name).type
        columns[name] = pa.array(labels[index], kind) if labels.dtype != object else pa.array(labels[index], pa.string())
    for name, array in values.items():
        columns[name] = pa.array(np.asarray(array).reshape(-1), schema.field(name).type)
    return pa.Table.from_pydict(columns, schema=schema)


def _time_axes(draws, dates):
    """The (draw, period) key axes; ``date`` is added from ``period`` by ``_with_dates``."""
    return [("draw", np.asarray(draws, dtype=np.int32)), ("period", np.arange(len(dates), dtype=np.int32))]


def with_no_policy(cells, accounts, cells0, accounts0):
    """A draw's flow and region results with the columns of its no-policy path (``*_no_policy``) and
    the policy effects (docs/model.md section 8.1): (flows, regions) namespaces for ``flows_table``
    and ``region_tables``."""
    flows = SimpleNamespace(**vars(cells), **{f"{n}_no_policy": getattr(cells0, n) for n in NO_POLICY_FLOWS})
    flows.exports_effect_pct = percent_change(cells.exports, cells0.exports)
    flows.exports_effect_halves_pp = halves_difference(cells.exports_halves, cells0.exports_halves)
    regions = SimpleNamespace(**vars(accounts), **{f"{n}_no_policy": getattr(accounts0, n) for n in NO_POLICY_REGIONS})
    regions.price_index_effect_pct = percent_change(accounts.price_index, accounts0.price_index)
    regions.real_income_effect_pct = 100.0 * ((1.0 + accounts.real_income_change_pct / 100.0)
                                              / (1.0 + accounts0.real_income_change_pct / 100.0) - 1.0)
    return flows, regions


def percent_change(value, reference):
    """``100 * (value / reference - 1)``: 0 where both are 0, NaN where only ``reference`` is 0 (no
    finite percent exists; summaries leave those out)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reference != 0, 100.0 * (value / reference - 1.0), np.where(value == 0, 0.0, np.nan))


def halves_difference(halves, halves0):
    """The policy effect on exports in the odd firms' half-population minus that in the even firms'
    (docs/model.md section 8.2), in percentage points.

    ``halves`` and ``halves0`` (2, ...) are the two halves' exports on the policy path and on the
    no-policy path (``engine.cells.half_exports``); each half's effect is ``percent_change``. Where
    the two paths are the same (a cell no policy touches) the difference is exactly 0.
    """
    return percent_change(halves[0], halves0[0]) - percent_change(halves[1], halves0[1])


def flows_table(draws, dates, calibration, results):
    """Arrow table of one scenario's flows for a list of draws (``results``: CellResults each)."""
    regions = np.array(calibration.regions, dtype=object)
    sectors = np.array(calibration.sectors, dtype=object)
    keys = [*_time_axes(draws, dates), ("origin", regions), ("destination", regions), ("sector", sectors)]
    values = {f: np.stack([getattr(r, f) for r in results]) for f in FLOWS_SCHEMA.names[6:]}
    return _with_dates(_grid_table(FLOWS_SCHEMA.remove(2), keys, values), dates, FLOWS_SCHEMA)


def region_tables(draws, dates, calibration, results):
    """Arrow tables ``regions`` and ``prices`` for a list of draws (``results``: RegionResults each)."""
    axes = _time_axes(draws, dates)
    regions = np.array(calibration.regions, dtype=object)
    stack = {name: np.stack([getattr(r, name) for r in results]) for name in vars(results[0])}
    per_period = {name: np.broadcast_to(stack[name][:, :, None], stack["income"].shape)
                  for name in ("ge_iterations", "ge_residual")}
    region_values = {name: stack[name] for name in REGIONS_SCHEMA.names[4:] if name not in per_period}
    regions_table = _grid_table(REGIONS_SCHEMA.remove(2), [*axes, ("region", regions)],
                                {**region_values, **per_period})
    price_values = {"expenditure": stack["sector_expenditure"], "price_index": stack["sector_price_index"],
                    "domestic_share": stack["sector_domestic_share"],
                    "import_share": 1.0 - stack["sector_domestic_share"],
                    "import_price_index": stack["sector_import_price_index"]}
    prices_table = _grid_table(PRICES_SCHEMA.remove(2), [*axes, ("region", regions),
                                                         ("sector", np.array(calibration.sectors, dtype=object))],
                               price_values)
    return _with_dates(regions_table, dates, REGIONS_SCHEMA), _with_dates(prices_table, dates, PRICES_SCHEMA)


def _with_dates(table, dates, schema):
    """Insert the ``date`` column (from ``period``) at position 2 and restore the full schema."""
    date_values = np.asarray(dates, dtype="datetime64[D]")[table.column("period").to_numpy()]
    return table.add_column(2, schema.field("date"), pa.array(date_values, pa.date32())).cast(schema)


def firm_batches(rows, draw, calibration, dates):
    """Arrow record batches of firm-level rows (``engine.firms.rows.FirmRows``, one per block) of a draw."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    regions = np.array(calibration.regions, dtype=object)
    for r in rows:
        i, k = divmod(r.block, calibration.n_sectors)
        yield _firm_batch(draw, r.period, dates[r.period], calibration.regions[i], calibration.sectors[k], r.firm_id,
                          r.productivity, r.weight, regions[r.destination], r.exports)


def _firm_batch(draw, period, date, origin, sector, firm_id, productivity, weight, destination, exports):
    """One Arrow record batch of firm rows (arrays of one length; draw, origin and sector scalars)."""
    rows = period.size
    return pa.RecordBatch.from_pydict({
        "draw": pa.array(np.full(rows, draw, dtype=np.int32)),
        "period": pa.array(period.astype(np.int32)),
        "date": pa.array(date),
        "origin": pa.array(np.full(rows, origin, dtype=object), pa.string()),
        "sector": pa.array(np.full(rows, sector, dtype=object), pa.string()),
        "firm_id": pa.array(firm_id),
        "productivity": pa.array(productivity),
        "weight": pa.array(np.broadcast_to(weight, (rows,))),
        "destination": pa.array(destination, pa.string()),
        "exports": pa.array(exports),
    }, schema=FIRMS_SCHEMA)


def draws_table(records, columns):
    """Arrow table of one scenario's draws: ``draw``, ``path`` and every sampled value.

    ``records``: list of dicts with ``draw``, ``path`` and sampled values (floats, or strings for
    branch options). ``columns``: the sampled-value columns of the run (``RunPlan.draws_columns``,
    the union over its scenarios, sorted), so every part file of every scenario has one schema,
    with nulls where a column does not apply.
    """
    schema = pa.schema([draws_field(name) for name in ("draw", "path", "failure", *columns)], metadata={
        "table": "draws", "engine_version": __version__,
        "grain": "one row per draw; every sampled value (parameters, branch options, last-period FX index), "
                 "the branch path and, for a failed draw, why; null where a column does not apply to the "
                 "scenario; scenario is the hive partition key"})
    return pa.Table.from_pydict({f.name: [r.get(f.name) for r in records] for f in schema}, schema=schema)


def summary_frame(flows, calibration, dates, periods=None, firms=None, precision=DEFAULT_PRECISION):
    """Mean and 5/50/95 % across draws per (period, origin, destination, sector), plus pair totals, and
    each cell's firm-sampling error of the policy effect (``firm_sampling_error``).

    Periods are read one at a time and only their numeric columns are held, as a (draws, cells)
    array per variable: memory is ``draws x cells x 8 bytes`` per variable, whatever the number
    of periods, and the flows never need to fit in memory.

    Parameters
    ----------
    flows : polars.LazyFrame
        One scenario's flows, rows in (draw, period, origin, destination, sector) order per draw.
    calibration : engine.calibration.data.CalibrationData
    dates : sequence of datetime.date
        First day of each period.
    periods : sequence of int, optional
        Only these periods (default all): executors summarise periods in parallel and stack them.
    firms : int, optional
        The run's simulated firms per origin-sector (``firms_for_precision`` is null without it).
    precision : float
        The stated precision of a cell's policy effect, percentage points (``--precision``).

    Returns
    -------
    pyarrow.Table
        With ``engine.outputs.schemas.SUMMARY_SCHEMA``. Sector ``ALL`` rows are the totals of an
        (origin, destination) pair over sectors (computed per draw, then summarised). Value columns
        are ``{variable}_{stat}``; ``exports_effect_firm_se_pp`` and ``firms_for_precision`` are null
        in them (the halves of a total are not in the flows) and where no draw has a value.
    """
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    grid = np.indices((n_regions, n_regions, n_sectors + 1)).reshape(3, -1)
    regions = np.array(calibration.regions, dtype=object)
    sectors = np.array([*calibration.sectors, "ALL"], dtype=object)
    quantiles = [q * 100 for _, q in SUMMARY_STATS]
    parts = []
    for period in range(len(dates)) if periods is None else periods:
        date = dates[period]
        frame = flows.filter(pl.col("period") == period).select(
            "draw", *SUMMARY_VARIABLES, *(f"{v}_no_policy" for v in SUMMARY_VARIABLES),
            "exports_effect_halves_pp").collect()
        frame = frame.sort("draw", maintain_order=True)
        columns = {"period": np.full(grid.shape[1], period, dtype=np.int32),
                   "date": np.full(grid.shape[1], np.datetime64(date, "D")),
                   "origin": regions[grid[0]], "destination": regions[grid[1]], "sector": sectors[grid[2]]}
        def with_totals(column):
            values = frame[column].to_numpy().reshape(-1, n_regions, n_regions, n_sectors)
            return np.concatenate([values, values.sum(axis=-1, keepdims=True)], axis=-1).reshape(len(values), -1)

        def add(column, values):
            if np.isnan(values).any():  # percents of 0 (rare): left out, and a cell whose every draw is NaN stays NaN
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, percentiles = np.nanmean(values, axis=0), np.nanpercentile(values, quantiles, axis=0)
            else:  # np.percentile is several times faster than nanpercentile
                mean, percentiles = values.mean(axis=0), np.percentile(values, quantiles, axis=0)
            columns[f"{column}_mean"] = mean
            for (name, _), percentile in zip(SUMMARY_STATS, percentiles):
                columns[f"{column}_{name}"] = percentile

        for variable in SUMMARY_VARIABLES:
            values, reference = with_totals(variable), with_totals(f"{variable}_no_policy")
            add(variable, values)
            add(f"{variable}_effect", values - reference)
            if variable == "exports":
                add("exports_effect_pct", percent_change(values, reference))
        halves = frame["exports_effect_halves_pp"].to_numpy().reshape(-1, n_regions, n_regions, n_sectors)
        se, needed = firm_sampling_error(halves, firms, precision)
        no_total = np.full((n_regions, n_regions, 1), np.nan)  # sector ALL: the halves of a total are not kept
        for column, values in (("exports_effect_firm_se_pp", se), ("firms_for_precision", needed)):
            values = np.concatenate([values, no_total], axis=-1).reshape(-1)
            columns[column] = pa.array(values, pa.float64(), mask=np.isnan(values))  # null: no estimate
        parts.append(pa.Table.from_pydict(columns, schema=SUMMARY_SCHEMA))
    return pa.concat_tables(parts)


def firm_sampling_error(halves, firms, precision):
    """Per cell, the standard error of one draw's policy effect due to the sampled firms, and the
    simulated firms that would bring it to ``precision`` (docs/model.md section 8.2).

    Parameters
    ----------
    halves : ndarray (D, ...)
        ``exports_effect_halves_pp`` of each draw (NaN: left out).
    firms : int or None
        The run's simulated firms per origin-sector, ``M``.
    precision : float
        Percentage points.

    Returns
    -------
    se : ndarray (...)
        ``sqrt(mean over draws of halves^2) / 2``: the two half-population estimates of a draw are
        independent with twice the variance of the full one, so their difference has four times it.
        NaN where no draw has a value.
    firms_needed : ndarray (...)
        ``ceil(M (se / precision)^2)`` where ``se > precision``, else ``M``: the variance of the sampled
        part falls like ``1 / M`` (a first figure: docs/model.md section 8.2 has how it held in a test);
        NaN where ``se`` is, or without ``firms``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell whose every draw is NaN stays NaN
        se = np.sqrt(np.nanmean(np.square(halves), axis=0)) / 2.0
    if firms is None:
        return se, np.full(se.shape, np.nan)
    with np.errstate(invalid="ignore"):
        needed = np.where(se > precision, np.ceil(firms * np.square(se / precision)), float(firms))
    return se, np.where(np.isnan(se), np.nan, needed)
