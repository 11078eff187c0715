"""Tables out of a run folder: one table, filtered, as CSV, Excel or Parquet (``engine export``)."""

import os
import re
import uuid
from pathlib import Path

import polars as pl

from engine.errors import InputError
from engine.config import EXPORT_FORMATS, TABLES

#: Rows an Excel worksheet holds below its header.
XLSX_MAX_ROWS = 1_048_575
#: Filter option -> column it selects on.
FILTER_COLUMNS = {"scenario": "scenario", "origin": "origin", "destination": "destination", "sector": "sector",
                  "region": "region"}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _values(option, given, allowed):
    chosen = [v.strip() for item in given for v in str(item).split(",") if v.strip()]
    bad = [v for v in chosen if v not in allowed]
    if bad:
        raise InputError(f"--{option}", f"unknown value {bad[0]!r}; allowed: {', '.join(allowed)}")
    return chosen


def _period_bound(text, option):
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return ("period", int(text))
    match = _MONTH.match(text)
    if match and 1 <= int(match.group(2)) <= 12:
        return ("date", pl.date(int(match.group(1)), int(match.group(2)), 1))
    raise InputError(option, f"bound {text!r} is neither a period number (0, 1, ...) nor a month YYYY-MM")


def period_filter(spec, columns, option="--periods"):
    """Polars expression for ``START:END`` (inclusive; period numbers or YYYY-MM months; either
    side may be empty), or None for no filter."""
    if spec is None:
        return None
    if ":" not in spec:
        spec = f"{spec}:{spec}"
    if spec.count(":") != 1:
        raise InputError(option, f"{spec!r}: write START:END, e.g. 0:12 or 2025-04:2025-12")
    if "period" not in columns:
        raise InputError(option, "this table has no period column (draws: one row per draw)")
    low, high = (_period_bound(part, option) for part in spec.split(":"))
    expr = pl.lit(True)
    if low is not None:
        expr = expr & (pl.col(low[0]) >= low[1])
    if high is not None:
        expr = expr & (pl.col(high[0]) <= high[1])
    return expr


def select_table(result, table, periods=None, **filters):
    """One table of a run with filters applied.

    Parameters
    ----------
    result : engine.runs.result.SimulationResult
    table : str
        One of ``engine.config.TABLES``.
    periods : str, optional
        ``START:END`` inclusive, period numbers or YYYY-MM months.
    **filters : sequence of str
        ``scenario``, ``origin``, ``destination``, ``sector``, ``region``: allowed values (also
        comma-separated). A filter on a column the table lacks is an error.

    Returns
    -------
    polars.DataFrame
    """
    if table not in TABLES:
        raise InputError("--table", f"unknown table {table!r}; allowed: {', '.join(TABLES)}")
    if not any((result.path / table).glob("scenario=*/*.parquet")):
        hint = " (run engine simulate with --firm-output sample or all)" if table == "firms" else ""
        raise InputError(result.path / table, f"this run has no {table} table{hint}")
    frame = result.scan(table)
    columns = frame.collect_schema().names()
    calibration = result.manifest["calibration"]
    allowed = {"scenario": result.scenarios, "origin": calibration["regions"],
               "destination": calibration["regions"], "region": calibration["regions"],
               "sector": calibration["sectors"] + (["ALL"] if table == "summary" else [])}
    for option, given in filters.items():
        if option not in FILTER_COLUMNS:
            raise TypeError(f"unknown filter {option!r}")
        if not given:
            continue
        column = FILTER_COLUMNS[option]
        if column not in columns:
            usable = [f"--{o}" for o, c in FILTER_COLUMNS.items() if c in columns]
            raise InputError(f"--{option}", f"the {table} table has no {column} column; filters for it: "
                                            f"{', '.join(usable + (['--periods'] if 'period' in columns else []))}")
        frame = frame.filter(pl.col(column).is_in(_values(option, given, allowed[option])))
    expr = period_filter(periods, columns)
    if expr is not None:
        frame = frame.filter(expr)
    out = frame.collect()
    if out.height == 0:
        raise InputError(result.path / table, "no rows match the filters; nothing was written")
    first = ["scenario"] + [c for c in out.columns if c != "scenario"]
    return out.select(first)


def write_frame(frame, path, fmt, overwrite=False, sheet="table"):
    """Write ``frame`` as csv, xlsx or parquet through a temporary file in the same folder."""
    path = Path(path)
    if fmt not in EXPORT_FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}")
    if path.exists() and not overwrite:
        raise InputError(path, "exists; choose another --out or pass --overwrite")
    if path.is_dir():
        raise InputError(path, "is a folder; --out names a file")
    if fmt == "xlsx":
        if frame.height > XLSX_MAX_ROWS:
            raise InputError("--format", f"an xlsx sheet holds at most {XLSX_MAX_ROWS:,} rows and this selection "
                                         f"has {frame.height:,}; filter more or use csv or parquet")
        try:
            import xlsxwriter  # noqa: F401
        except ImportError:
            raise InputError("--format", "xlsx needs the xlsxwriter package: pip install "
                                         "'tradeflow-engine[report]'") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if fmt == "csv":
            frame.write_csv(tmp)
        elif fmt == "parquet":
            frame.write_parquet(tmp, compression="zstd")
        else:
            frame.write_excel(tmp, worksheet=sheet[:31], autofit=frame.height <= 10_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_table(result, table, fmt="csv", out=None, overwrite=False, periods=None, **filters):
    """Select a table of a finished run (``engine.runs.folder.open_run``) and write it; returns (path, rows).

    ``out`` defaults to ``RUNNAME-TABLE.FORMAT`` in the current folder.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}")
    frame = select_table(result, table, periods=periods, **filters)
    out = Path(out) if out is not None else Path(f"{result.path.name}-{table}.{fmt}")
    return write_frame(frame, out, fmt, overwrite=overwrite, sheet=table), frame.height
