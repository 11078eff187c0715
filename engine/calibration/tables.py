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


def row_label(path, index):
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
        ragged = _ragged_line(path) if path.suffix == ".csv" else None
        if ragged is not None:
            raise InputError(path, ragged) from None
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
            raise InputError(path, what, f"{row_label(path, row['_index'])}, field '{column}'")
        frame = frame.drop("_raw")
    return frame


def _ragged_line(path):
    """'line N has F fields; the header has H (a, b, c)' for the first CSV line whose field count
    differs from the header's, or None (the file is not ragged, or cannot be read as text)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            for fields in reader:
                if fields and len(fields) != len(header):
                    return (f"line {reader.line_num} has {len(fields)} fields, the header (line 1) has {len(header)}: "
                            f"every line needs exactly {', '.join(header)}")
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def check_rule(path, frame, bad_rows, column, rule):
    """Raise ``InputError`` naming the first row where ``bad_rows`` (a Polars expression) holds."""
    bad = frame.filter(bad_rows)
    if bad.height:
        row = bad.row(0, named=True)
        value = row.get(column)
        raise InputError(path, f"{rule} (got {value!r})", f"{row_label(path, row['_index'])}, field '{column}'")


def check_codes(path, frame, column, allowed, what, defined=None):
    """Every value of ``column`` must be one of ``allowed``.

    ``defined``, optional ``(path, frame, column)`` of the table that defines the codes: where an
    unknown value differs from a defined code only in case or spaces and this table never uses the
    defined spelling, the defining table's row is blamed (its spelling is the odd one out); where
    this table uses both spellings, its odd line is."""
    allowed = list(allowed)
    if defined is not None:
        _check_spelling(path, frame, column, allowed, *defined)
    shown = ", ".join(allowed) if len(allowed) <= 20 else ", ".join(allowed[:20]) + ", ..."
    check_rule(path, frame, ~pl.col(column).is_in(allowed), column, f"unknown {what}; allowed: {shown}")


def _normal(code):
    return "".join(code.split()).casefold()


def _check_spelling(path, frame, column, allowed, defined_path, defined_frame, defined_column):
    by_normal = {_normal(code): code for code in allowed}
    present = set(frame[column].drop_nulls().to_list())
    for row in frame.filter(~pl.col(column).is_in(allowed)).iter_rows(named=True):
        used = row[column]
        spelled = by_normal.get(_normal(used)) if used is not None else None
        if spelled is None:
            continue
        if spelled in present:  # this table spells it both ways: the odd line is here
            raise InputError(path, f"unknown code {used!r}; did you mean {spelled!r}? (codes are case-sensitive)",
                             f"{row_label(path, row['_index'])}, field '{column}'")
        index = defined_frame.filter(pl.col(defined_column) == spelled)["_index"][0]
        others = " and others" if frame.filter(pl.col(column) == used).height > 1 else ""
        raise InputError(defined_path, f"code {spelled!r} is written {used!r} in {path.name} "
                                       f"({row_label(path, row['_index'])}{others}); codes are case-sensitive: "
                                       "write each the same way in every table",
                         f"{row_label(defined_path, index)}, field '{defined_column}'")


def check_unique(path, frame, keys):
    """No two rows share the same ``keys``."""
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        rows = dup.sort("_index")
        first = rows.row(0, named=True)
        key = ", ".join(f"{k}={first[k]}" for k in keys)
        lines = " and ".join(row_label(path, i) for i in rows.filter(
            pl.all_horizontal([pl.col(k) == first[k] for k in keys]))["_index"].to_list()[:2])
        raise InputError(path, f"duplicate entry for ({key}) on {lines}; each combination may appear once",
                         ", ".join(keys))
