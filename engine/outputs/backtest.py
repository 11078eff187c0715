"""``engine backtest``: a finished run against the trade that happened.

The engine's flows are annual rates at baseline prices with no seasonality (USD million a year,
customs value); realized trade statistics are monthly nominal values. Only **changes** are compared,
so units and the price level cancel:

- against a **base** (a month or a window of months): the change of the mean level over a window
  from the mean level over the base, engine and realized alike;
- **year on year** (``base = "yoy"``): the mean over the window's months of each month's change on
  the same month a year earlier. Months the run does not cover before its first month are its
  period 0 (the engine starts from its calibrated baseline and has no seasonality).

The engine's central value is the change of the mean path across draws (as the terminal summary's
"change"), its band the 5th and 95th percentiles of the draws' own changes. ``error_pp`` is engine
minus realized, in percentage points. For a file of levels, the table also shows both levels at an
annual rate (realized monthly values times 12; nominal against baseline prices: a level gap is not an
error of the model alone).

The realized file (CSV or Parquet), one row per month and series:

==============  ==========================================================================
column          meaning
==============  ==========================================================================
``date``        the month: ``YYYY-MM`` or a date in it (``YYYY-MM-DD``)
``origin``      the exporter: a region code of the run, or an ISO3 code of a country in one
``destination`` the importer, likewise
``sector``      optional: a sector code of the run; empty or absent means all sectors
``value``       a monthly value in US dollars (``kind = level``) or a percent change on the
                same month a year earlier (``kind = yoy_pct``)
``kind``        ``level`` or ``yoy_pct``; one kind per series
==============  ==========================================================================

Countries of one region are added up (levels only; year-on-year changes of several countries cannot
be combined). The calibration's region membership comes from the run's manifest (``engine
calibrate`` writes it; see ``engine.calibration.data``).
"""

import datetime as dt
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from engine.calibration.tables import row_label
from engine.errors import InputError

KINDS = ("level", "yoy_pct")
#: Folder of a run that holds its backtest.
FOLDER = "backtest"
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_ALL = "ALL"


@dataclass
class Backtest:
    """A run compared with realized trade.

    Attributes
    ----------
    windows : polars.DataFrame
        One row per (series, window): ``engine_mean_pct``, ``engine_p5_pct``, ``engine_p95_pct``,
        ``realized_pct``, ``error_pp``, ``in_band`` and, for levels, ``engine_level_bn`` and
        ``realized_level_bn`` (USD billion a year).
    monthly : polars.DataFrame
        The same per month (the chart's paths and points).
    comparison : str
        What was compared with what, in words.
    year_on_year : bool
        Changes on the same month a year earlier (else against a base).
    notes : list of str
        Windows left out and why.
    path : Path or None
        The folder written (``RUN/backtest``), or None.
    """

    windows: pl.DataFrame
    monthly: pl.DataFrame
    comparison: str
    notes: list
    year_on_year: bool = False
    path: Path | None = None


def parse_month(text, source, field):
    """``YYYY-MM`` (or a date in the month) as the first day of the month."""
    if isinstance(text, dt.datetime):
        text = text.date()
    if isinstance(text, dt.date):
        return text.replace(day=1)
    match = _MONTH.match(str(text).strip())
    if match is None:
        raise InputError(source, f"{text!r} is not a month; write YYYY-MM (or YYYY-MM-DD)", field)
    year, month, day = int(match[1]), int(match[2]), match[3]
    try:
        dt.date(year, month, int(day) if day else 1)
    except ValueError:
        raise InputError(source, f"{text!r} is not a valid date", field) from None
    return dt.date(year, month, 1)


def month_range(text, source, field):
    """``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` (both ends included) as a tuple of months."""
    first, dots, last = str(text).partition("..")
    if dots and not (first.strip() and last.strip()):
        raise InputError(source, f"{text!r}: write YYYY-MM or YYYY-MM..YYYY-MM (both ends)", field)
    start = parse_month(first, source, field)
    end = parse_month(last, source, field) if dots else start
    if end < start:
        raise InputError(source, f"{text!r} ends before it starts", field)
    months = []
    while start <= end:
        months.append(start)
        start = _shift(start, 1)
    return tuple(months)


def _shift(month, n):
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_windows(items):
    """``NAME=YYYY-MM..YYYY-MM`` options as an ordered dict name -> months."""
    out = {}
    for item in items:
        name, sep, span = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError("--window", f"{item!r}: write NAME=YYYY-MM..YYYY-MM (e.g. q2=2025-04..2025-06)")
        if name in out:
            raise InputError("--window", f"window {name!r} is given twice")
        out[name] = month_range(span, "--window", name)
    return out


def _read(path):
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file; give a CSV or Parquet file of realized trade")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(path, "must be a .csv or .parquet file")
    try:
        frame = (pl.read_csv(path, infer_schema_length=0) if path.suffix.lower() == ".csv"
                 else pl.read_parquet(path))
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(path, f"cannot be read as a table ({exc.__class__.__name__}: {exc})") from None
    missing = [c for c in ("date", "origin", "destination", "value", "kind") if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; a realized file has date, origin, "
                               "destination, optional sector, value and kind (level or yoy_pct)")
    if frame.height == 0:
        raise InputError(path, "has no rows")
    return path, frame


def read_realized(path, regions, sectors, members):
    """Read and check a realized file; map its codes to the run's regions.

    Returns
    -------
    polars.DataFrame
        ``date`` (first of the month), ``origin``, ``destination``, ``sector`` (``ALL`` for all
        sectors), ``kind``, ``value`` (levels summed over the countries of a region).
    list of str
        Regions the file covers only in part (some of their countries).

    Raises
    ------
    InputError
        Naming the row and field at fault; codes that map to no region are listed together.
    """
    path, frame = _read(path)
    country_region = {iso: region for region, codes in members.items() for iso in codes}
    region_set, sector_set = set(regions), set(sectors)
    rows, unmapped = [], {}
    has_sector = "sector" in frame.columns
    for i, row in enumerate(frame.iter_rows(named=True)):
        where = row_label(path, i)
        month = parse_month(row["date"] if row["date"] is not None else "", path, f"{where}, field 'date'")
        mapped = []
        for column in ("origin", "destination"):
            code = str(row[column] or "").strip()
            if code in region_set:
                mapped.append(code)
            elif code.upper() in country_region:
                mapped.append(country_region[code.upper()])
            else:
                unmapped.setdefault(code or "(empty)", f"{where}, field '{column}'")
                mapped.append(None)
        sector = str(row["sector"] or "").strip() if has_sector else ""
        sector = sector or _ALL
        if sector != _ALL and sector not in sector_set:
            raise InputError(path, f"sector {sector!r} is not a sector of the run; allowed: "
                                   f"{', '.join(sectors)}, or empty for all sectors", f"{where}, field 'sector'")
        kind = str(row["kind"] or "").strip()
        if kind not in KINDS:
            raise InputError(path, f"kind {kind!r} is not allowed; use level (a monthly value in USD) or yoy_pct "
                                   "(percent change on the same month a year earlier)", f"{where}, field 'kind'")
        raw = row["value"]
        try:
            value = float(str(raw).strip())
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise InputError(path, f"must be a finite number, got {raw!r}", f"{where}, field 'value'")
        if kind == "level" and value <= 0:
            raise InputError(path, f"a level must be > 0 (USD a month), got {value:g}", f"{where}, field 'value'")
        if kind == "yoy_pct" and value <= -100:
            raise InputError(path, f"a year-on-year change must be > -100 %, got {value:g}", f"{where}, field 'value'")
        if None not in mapped and mapped[0] == mapped[1]:
            raise InputError(path, f"{row['origin']} -> {row['destination']} is trade inside region {mapped[0]}, "
                                   "which the run does not report apart from domestic sales", f"{where}")
        given = [str(row[c] or "").strip() for c in ("origin", "destination")]
        given = [code if code in region_set else code.upper() for code in given]
        rows.append((month, *mapped, sector, kind, value, i, *given))
    if unmapped:
        listed = ", ".join(f"{code!r} ({where})" for code, where in list(unmapped.items())[:20])
        more = f" and {len(unmapped) - 20} more" if len(unmapped) > 20 else ""
        allowed = "the run's region codes " + ", ".join(regions)
        allowed += (" or the ISO3 code of a country in one of them" if members else
                    " (the run's calibration lists no member countries, so ISO3 codes cannot be mapped)")
        raise InputError(path, f"{len(unmapped)} code(s) map to no region: {listed}{more}; allowed: {allowed}")
    table = pl.DataFrame(rows, schema={"date": pl.Date, "origin": pl.String, "destination": pl.String,
                                       "sector": pl.String, "kind": pl.String, "value": pl.Float64,
                                       "row": pl.Int64, "given_origin": pl.String, "given_destination": pl.String},
                         orient="row")
    keys = ["date", "origin", "destination", "sector"]
    kinds = table.group_by(keys[1:]).agg(pl.col("kind").n_unique().alias("n"), pl.col("row").min())
    mixed = kinds.filter(pl.col("n") > 1)
    if mixed.height:
        r = mixed.row(0, named=True)
        raise InputError(path, f"series {r['origin']} -> {r['destination']}, {r['sector']} mixes levels and "
                               "year-on-year changes; give one kind per series", row_label(path, r["row"]))
    yoy = table.filter(pl.col("kind") == "yoy_pct").group_by(keys).agg(pl.len().alias("n"), pl.col("row").max())
    several = yoy.filter(pl.col("n") > 1)
    if several.height:
        r = several.row(0, named=True)
        raise InputError(path, f"two rows give the year-on-year change of {r['origin']} -> {r['destination']}, "
                               f"{r['sector']} in {r['date']:%Y-%m} (countries of one region, or a duplicate); "
                               "changes cannot be added up: give levels, or one row per region", row_label(path, r["row"]))
    duplicated = table.filter(table.select("date", "given_origin", "given_destination", "sector").is_duplicated())
    if duplicated.height:
        raise InputError(path, "duplicate row: the same month, origin, destination and sector appear twice",
                         row_label(path, int(duplicated["row"][1])))
    notes = _check_countries(path, table, members)
    return (table.group_by(keys + ["kind"], maintain_order=True).agg(pl.col("value").sum())
            .sort(keys)), notes


def _check_countries(path, table, members):
    """Each series that adds countries into a region gives the same countries in every month, and
    never the region's own code beside them (either would add up to a false change). Returns notes
    on series that cover a region only in part."""
    notes = []
    for (origin, destination, sector), series in table.group_by(["origin", "destination", "sector"],
                                                                maintain_order=True):
        label = f"{origin} -> {destination}, {'all sectors' if sector == _ALL else sector}"
        for side, region in (("given_origin", origin), ("given_destination", destination)):
            codes = series.group_by("date", maintain_order=True).agg(pl.col(side).unique().sort(), pl.col("row").min())
            sets = [frozenset(c) for c in codes[side].to_list()]
            for month, row, given in zip(codes["date"].to_list(), codes["row"].to_list(), sets):
                if region in given and len(given) > 1:
                    raise InputError(path, f"{label}: {month:%Y-%m} gives region {region} and some of its countries "
                                           f"({', '.join(sorted(given - {region}))}); they would be added twice: "
                                           "give one or the other", row_label(path, row))
                if given != sets[0]:
                    differ = sorted(given ^ sets[0])
                    raise InputError(path, f"{label}: {month:%Y-%m} gives the countries {', '.join(sorted(given))} "
                                           f"and {codes['date'][0]:%Y-%m} gives {', '.join(sorted(sets[0]))} "
                                           f"({', '.join(differ)} in one month only); a region's total needs the "
                                           "same countries every month", row_label(path, row))
            if region not in sets[0] and set(members.get(region, ())) - sets[0]:
                notes.append(f"{label}: the file gives {len(sets[0])} of {region}'s {len(members[region])} countries "
                             f"({', '.join(sorted(sets[0]))}); the engine's series is the whole region")
    return notes


def _engine_paths(result, scenario, series):
    """Draw x month exports (USD million a year) of each series: dict key -> (months, array (D, T))."""
    flows = result.scan("flows").filter(pl.col("scenario") == scenario)
    out = {}
    for origin, destination, sector in series:
        frame = flows.filter((pl.col("origin") == origin) & (pl.col("destination") == destination))
        if sector != _ALL:
            frame = frame.filter(pl.col("sector") == sector)
        wide = (frame.group_by(["draw", "date"]).agg(pl.col("exports").sum()).collect()
                .pivot(on="date", index="draw", values="exports", sort_columns=True).sort("draw"))
        months = tuple(dt.date.fromisoformat(str(c)[:10]) for c in wide.columns[1:])
        out[(origin, destination, sector)] = (months, wide.drop("draw").to_numpy())
    return out


def _change(levels, window, base):
    """Percent change of the mean over ``window`` from the mean over ``base`` (columns of ``levels``)."""
    return 100.0 * (levels[..., window].mean(axis=-1) / levels[..., base].mean(axis=-1) - 1.0)


def _yoy(levels, months, wanted):
    """Mean over ``wanted`` of each month's percent change on a year before; a year before the first
    month is the first month (the run's period 0)."""
    index = {m: j for j, m in enumerate(months)}
    now = [index[m] for m in wanted]
    before = [index.get(_shift(m, -12), 0) for m in wanted]
    return 100.0 * (levels[..., now] / levels[..., before] - 1.0).mean(axis=-1)


def _realized_yoy(values, kind, wanted):
    """Realized year-on-year percent changes of the months ``wanted`` (given, or from levels;
    ``values``: month -> value)."""
    if kind == "yoy_pct":
        return np.array([values[m] for m in wanted])
    return np.array([100.0 * (values[m] / values[_shift(m, -12)] - 1.0) for m in wanted])


def compare(result, realized, base=None, windows=None, scenario=None):
    """Compare a run with realized trade (module docstring); nothing is written.

    Parameters
    ----------
    result : engine.runs.result.SimulationResult
    realized : str or Path
        The realized file.
    base : str, optional
        ``YYYY-MM``, ``YYYY-MM..YYYY-MM`` or ``yoy``; default: ``yoy`` for a file of year-on-year
        changes, else the run's first month.
    windows : dict, optional
        Name -> months (``parse_windows``); default: every month both cover, each its own window.
    scenario : str, optional
        A scenario of the run (default: the first).

    Returns
    -------
    Backtest
    """
    manifest = result.manifest
    calibration = manifest["calibration"]
    names = [s["name"] for s in manifest["scenarios"]]
    scenario = scenario or names[0]
    if scenario not in names:
        raise InputError("--scenario", f"{scenario!r} is not a scenario of this run; allowed: {', '.join(names)}")
    table, partial = read_realized(realized, calibration["regions"], calibration["sectors"],
                                   calibration.get("members", {}))
    kinds = set(table["kind"].unique().to_list())
    if base is not None and str(base).strip().lower() == "yoy":
        base = "yoy"
    elif base is not None and not str(base).strip():
        raise InputError("--base", "is empty; give YYYY-MM, YYYY-MM..YYYY-MM or yoy")
    if base is None:
        base = "yoy" if kinds == {"yoy_pct"} else None
    yoy = base == "yoy"
    if not yoy and "yoy_pct" in kinds:
        raise InputError("--base", f"{base or 'the default base'}: the file gives year-on-year changes, which can "
                                   "only be compared year on year; use --base yoy (or give levels)")
    series_keys = table.select("origin", "destination", "sector").unique(maintain_order=True).rows()
    paths = _engine_paths(result, scenario, series_keys)
    run_months = next(iter(paths.values()))[0]
    base_months = () if yoy else (month_range(base, "--base", None) if base else run_months[:1])
    outside = [m for m in base_months if m not in run_months]
    if outside:
        raise InputError("--base", f"{outside[0]:%Y-%m} is outside the run ({run_months[0]:%Y-%m} to "
                                   f"{run_months[-1]:%Y-%m})")
    monthly_rows, window_rows, notes = [], [], []
    for key in series_keys:
        origin, destination, sector = key
        series = table.filter((pl.col("origin") == origin) & (pl.col("destination") == destination)
                              & (pl.col("sector") == sector)).sort("date")
        label = f"{origin} -> {destination}, {'all sectors' if sector == _ALL else sector}"
        kind = series["kind"][0]
        file_months = set(series["date"].to_list())
        months, levels = paths[key]
        if not yoy:
            missing = [m for m in base_months if m not in file_months]
            if missing:
                raise InputError(realized, f"{label}: the base month {missing[0]:%Y-%m} has no row; the base must "
                                           "be covered by the file (choose it with --base)")
        usable = [m for m in months if m in file_months and (kind == "yoy_pct" or not yoy
                                                             or _shift(m, -12) in file_months)]
        if not usable:
            notes.append(f"{label}: no month of the run has realized data to compare")
            continue
        if not levels.min() > 0:
            notes.append(f"{label}: the engine's series has months without exports, so its changes are undefined")
            continue
        values = dict(zip(series["date"].to_list(), series["value"].to_list()))
        mean_path = levels.mean(axis=0)
        each_month = {f"{m:%Y-%m}": (m,) for m in usable}
        compared = windows or {name: span for name, span in each_month.items() if span[0] not in base_months}
        for rows, items in ((monthly_rows, each_month), (window_rows, compared)):
            for name, span in items.items():
                covered = [m for m in span if m in usable]
                if not covered:
                    notes.append(f"{label}: window {name} has no month with realized data in the run")
                    continue
                if rows is window_rows and len(covered) < len(span):
                    notes.append(f"{label}: window {name} compares {len(covered)} of its {len(span)} months (the "
                                 "others lie outside the run or have no realized data" +
                                 (", or none a year earlier)" if yoy else ")"))
                at = [months.index(m) for m in covered]
                if yoy:
                    draws = _yoy(levels, months, covered)
                    central = float(_yoy(mean_path, months, covered))
                    observed = float(_realized_yoy(values, kind, covered).mean())
                else:
                    where = [months.index(m) for m in base_months]
                    draws = _change(levels, at, where)
                    central = float(_change(mean_path, at, where))
                    observed = 100.0 * (np.mean([values[m] for m in covered])
                                        / np.mean([values[m] for m in base_months]) - 1.0)
                p5, p95 = (float(v) for v in np.percentile(draws, [5, 95]))
                rows.append({"scenario": scenario, "origin": origin, "destination": destination, "sector": sector,
                             "window": name, "first": covered[0], "last": covered[-1], "months": len(covered),
                             "engine_mean_pct": central, "engine_p5_pct": p5, "engine_p95_pct": p95,
                             "realized_pct": observed, "error_pp": central - observed,
                             "in_band": bool(p5 <= observed <= p95),
                             "engine_level_bn": float(mean_path[at].mean()) / 1e3,
                             "realized_level_bn": (12.0 * np.mean([values[m] for m in covered]) / 1e9
                                                   if kind == "level" else None)})
    schema = {"scenario": pl.String, "origin": pl.String, "destination": pl.String, "sector": pl.String,
              "window": pl.String, "first": pl.Date, "last": pl.Date, "months": pl.Int64,
              "engine_mean_pct": pl.Float64, "engine_p5_pct": pl.Float64, "engine_p95_pct": pl.Float64,
              "realized_pct": pl.Float64, "error_pp": pl.Float64, "in_band": pl.Boolean,
              "engine_level_bn": pl.Float64, "realized_level_bn": pl.Float64}
    if not window_rows:
        raise InputError(realized, "no month of the file lies in the run "
                                   f"({run_months[0]:%Y-%m} to {run_months[-1]:%Y-%m}) with what its comparison "
                                   "needs; " + "; ".join(notes))
    comparison = _describe(scenario, base_months, yoy, run_months, kinds)
    return Backtest(windows=pl.DataFrame(window_rows, schema=schema), monthly=pl.DataFrame(monthly_rows, schema=schema),
                    comparison=comparison, notes=partial + notes, year_on_year=yoy)


def _describe(scenario, base_months, yoy, run_months, kinds):
    source = ("monthly values in US dollars" if kinds == {"level"} else
              "year-on-year percent changes" if kinds == {"yoy_pct"} else "monthly values and year-on-year changes")
    engine = (f"scenario {scenario}: exports at customs value, annual rates at baseline prices, no seasonality "
              f"(run {run_months[0]:%Y-%m} to {run_months[-1]:%Y-%m})")
    if yoy:
        how = ("each month's percent change on the same month a year earlier, averaged over the window's months; "
               f"the engine's months before {run_months[0]:%Y-%m} are its period 0 (the calibrated baseline)")
    else:
        span = (f"{base_months[0]:%Y-%m}" if len(base_months) == 1
                else f"{base_months[0]:%Y-%m}..{base_months[-1]:%Y-%m}")
        how = f"percent change of the window's mean level from the mean level of the base {span}"
    return (f"Compared: {how}. Engine: {engine}; central value = the change of the mean path across draws, band = "
            f"5th-95th percentile of the draws' changes. Realized: {source}. error_pp = engine - realized.")


def write_backtest(run, backtest):
    """Write ``RUN/backtest/{windows,monthly}.parquet`` and ``comparison.json``, replacing an earlier
    backtest only once the new one is complete (nothing outside the run folder is touched)."""
    run = Path(run)
    folder = run / FOLDER
    tmp = run / f".{FOLDER}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        meta = {"comparison": backtest.comparison, "notes": backtest.notes, "year_on_year": backtest.year_on_year}
        for name, frame in (("windows", backtest.windows), ("monthly", backtest.monthly)):
            frame.write_parquet(tmp / f"{name}.parquet", compression="zstd")
        (tmp / "comparison.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            old = run / f".{FOLDER}.{uuid.uuid4().hex[:8]}.old"
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    backtest.path = folder
    return folder


def backtest(run, realized, base=None, windows=(), scenario=None, write=True):
    """``engine backtest``: compare a finished run with realized trade and write the tables into it.

    Parameters
    ----------
    run : str, Path or engine.runs.result.SimulationResult
    realized : str or Path
    base : str, optional
        ``YYYY-MM``, ``YYYY-MM..YYYY-MM`` or ``yoy`` (``compare``).
    windows : sequence of str or dict
        ``NAME=YYYY-MM..YYYY-MM`` items (or name -> months).
    scenario : str, optional
    write : bool
        Write ``RUN/backtest/`` (``write_backtest``).

    Returns
    -------
    Backtest
    """
    from engine.runs.folder import open_run
    from engine.runs.result import SimulationResult

    result = run if isinstance(run, SimulationResult) else open_run(run)
    spans = windows if isinstance(windows, dict) else parse_windows(windows)
    out = compare(result, realized, base=base, windows=spans or None, scenario=scenario)
    if write:
        write_backtest(result.path, out)
    return out


def read_backtest(run):
    """The backtest written into a run folder: (windows, monthly, meta), or None if it has none."""
    folder = Path(run) / FOLDER
    if not (folder / "monthly.parquet").is_file():
        return None
    meta = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    return pl.read_parquet(folder / "windows.parquet"), pl.read_parquet(folder / "monthly.parquet"), meta
