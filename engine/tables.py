"""Reading user tables (CSV or Parquet) with errors that name the file, the row and the rule."""

from pathlib import Path

import polars as pl

from engine.errors import InputError


def find_table(folder, name, required=True):
    """Path of ``name.csv`` or ``name.parquet`` in ``folder`` (``None`` if optional and absent)."""
    folder = Path(folder)
    found = [folder / f"{name}.{ext}" for ext in ("csv", "parquet") if (folder / f"{name}.{ext}").is_file()]
    if len(found) > 1:
        raise InputError(folder, f"both {name}.csv and {name}.parquet exist; keep one")
    if not found:
        if required:
            raise InputError(folder / f"{name}.csv", "file is missing (expected a CSV or Parquet table)")
        return None
    return found[0]


def _row_label(path, index):
    """Human row reference: CSV line number (header is line 1) or 1-based Parquet row."""
    return f"line {index + 2}" if path.suffix == ".csv" else f"row {index + 1}"


def read_table(path, text_columns, number_columns, optional_number_columns=()):
    """Read a table and check that the columns exist and parse.

    Parameters
    ----------
    path : Path
        A ``.csv`` or ``.parquet`` file.
    text_columns, number_columns : sequence of str
        Required columns, read as strings and as float64.
    optional_number_columns : sequence of str
        Numeric columns that may be absent.

    Returns
    -------
    polars.DataFrame
        With the columns cast; a column ``_index`` holds each row's 0-based index for error messages.
    """
    try:
        if path.suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=0)
        else:
            frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(path, f"cannot be read as a table ({exc.__class__.__name__}: {exc})") from exc
    missing = [c for c in (*text_columns, *number_columns) if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; the table needs "
                               f"{', '.join((*text_columns, *number_columns))}")
    frame = frame.with_row_index("_index")
    present_numbers = [*number_columns, *(c for c in optional_number_columns if c in frame.columns)]
    for column in text_columns:
        frame = frame.with_columns(pl.col(column).cast(pl.String).str.strip_chars())
        check_rule(path, frame, pl.col(column).is_null() | (pl.col(column) == ""), column, "is empty")
    for column in present_numbers:
        raw = pl.col(column).cast(pl.String).str.strip_chars()
        frame = frame.with_columns(raw.cast(pl.Float64, strict=False).alias(column), raw.alias("_raw"))
        bad = frame.filter(pl.col(column).is_null() | ~pl.col(column).is_finite())
        if bad.height:
            row = bad.row(0, named=True)
            raw_value = row["_raw"]
            what = "is missing" if raw_value in (None, "") else f"must be a finite number, got {raw_value!r}"
            raise InputError(path, what, f"{_row_label(path, row['_index'])}, field '{column}'")
        frame = frame.drop("_raw")
    return frame


def check_rule(path, frame, bad_rows, column, rule):
    """Raise ``InputError`` naming the first row where ``bad_rows`` (a Polars expression) holds."""
    bad = frame.filter(bad_rows)
    if bad.height:
        row = bad.row(0, named=True)
        value = row.get(column)
        raise InputError(path, f"{rule} (got {value!r})", f"{_row_label(path, row['_index'])}, field '{column}'")


def check_codes(path, frame, column, allowed, what):
    """Every value of ``column`` must be one of ``allowed``."""
    allowed = list(allowed)
    shown = ", ".join(allowed) if len(allowed) <= 20 else ", ".join(allowed[:20]) + ", ..."
    check_rule(path, frame, ~pl.col(column).is_in(allowed), column, f"unknown {what}; allowed: {shown}")


def check_unique(path, frame, keys):
    """No two rows share the same ``keys``."""
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        rows = dup.sort("_index")
        first = rows.row(0, named=True)
        key = ", ".join(f"{k}={first[k]}" for k in keys)
        lines = " and ".join(_row_label(path, i) for i in rows.filter(
            pl.all_horizontal([pl.col(k) == first[k] for k in keys]))["_index"].to_list()[:2])
        raise InputError(path, f"duplicate entry for ({key}) on {lines}; each combination may appear once",
                         ", ".join(keys))
