"""A user's raw inputs to ``engine calibrate``: a BACI year (streamed), its country codes, GDP and
applied tariffs. Every bad row gives one ``InputError`` naming the file, the line and the field.

BACI (CEPII, Gaulier & Zignago 2010) ships one CSV per year with columns ``t, i, j, k, v, q``: year,
exporter and importer (numeric country codes of its ``country_codes_V*.csv``), HS6 product, value
(thousand USD) and quantity (tonnes, unused here). A full year is about 10^7 rows: it is read with a
Polars lazy scan in batches (bounded memory), each batch checked, mapped to (region, region, sector)
and summed, so memory does not grow with the file.
"""

import math
from pathlib import Path

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.tables import check_codes, check_rule, check_unique, read_table

BACI_COLUMNS = ("t", "i", "j", "k", "v")
#: Sentinels of the exporter/importer -> region maps.
DROPPED, UNKNOWN = -1, -2


def read_baci_countries(path):
    """BACI country codes: ``country_code`` -> (ISO3, name).

    Accepts the current layout (``country_code, country_name, country_iso2, country_iso3``) and the
    older one (``country_code, country_name_abbreviation, ..., iso_3digit_alpha``).
    """
    path = Path(path)
    frame = read_table(path, ["country_code"], [])
    iso = next((c for c in ("country_iso3", "iso_3digit_alpha") if c in frame.columns), None)
    name = next((c for c in ("country_name", "country_name_abbreviation") if c in frame.columns), iso)
    if iso is None:
        raise InputError(path, "missing column country_iso3 (or iso_3digit_alpha); the BACI country code file "
                               "needs country_code and country_iso3")
    frame = frame.with_columns(pl.col(iso).cast(pl.String).str.strip_chars(),
                               pl.col("country_code").cast(pl.Int64, strict=False).alias("_code"))
    check_rule(frame=frame, path=path, bad_rows=pl.col("_code").is_null(), column="country_code",
               rule="must be a whole number")
    check_rule(path, frame, ~pl.col(iso).str.contains(r"^[A-Z0-9]{3}$").fill_null(False), iso,
               "must be a 3-character ISO3 code")
    check_unique(path, frame, ["_code"])
    return {int(c): (i, str(n)) for c, i, n in zip(frame["_code"], frame[iso], frame[name])}


def _estimate_rows(path):
    """Rows in a CSV, estimated from the size of its first MB."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    lines = max(head.count(b"\n"), 1)
    return max(int(size / (len(head) / lines)) - 1, 1)


def _first_bad(batch, condition):
    bad = batch.filter(condition)
    return bad.row(0, named=True) if bad.height else None


def stream_baci(path, countries, region_of_code, sector_of_chapter, n_regions, n_sectors, sectors_source,
                progress=None, chunk_rows=250_000):
    """Sum a BACI file by (exporter region, importer region, sector), in bounded memory.

    Parameters
    ----------
    path : Path
        BACI CSV (``t, i, j, k, v`` and usually ``q``).
    countries : Path
        The country code file (named in errors about unknown codes).
    region_of_code : dict
        BACI country code -> region index, or ``DROPPED`` (no region, no ROW).
    sector_of_chapter : dict
        HS chapter -> sector index.
    progress : callable, optional
        ``progress(rows_done, rows_estimated)`` after each batch.

    Returns
    -------
    totals : ndarray (R, R, K)
        Thousand USD; same-region pairs left out.
    year : int
    rows : int
    chapters : set of int
        HS chapters present.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    lazy = pl.scan_csv(path, infer_schema=False, row_index_name="_row")
    try:
        header = lazy.collect_schema().names()
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(path, f"cannot be read as CSV ({exc.__class__.__name__}: {exc})") from exc
    missing = [c for c in BACI_COLUMNS if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; a BACI file has columns t, i, j, k, v, q "
                               "(year, exporter, importer, HS6 product, value in thousand USD, quantity)")
    codes = list(region_of_code)
    regions = [region_of_code[c] for c in codes]
    chapters = list(sector_of_chapter)
    num = lambda c, dtype: pl.col(c).str.strip_chars().cast(dtype, strict=False)  # noqa: E731
    lazy = lazy.select(
        "_row", "i", "j", "k", "v", t=num("t", pl.Int64), i_code=num("i", pl.Int64), j_code=num("j", pl.Int64),
        k_code=num("k", pl.Int64), value=num("v", pl.Float64),
    ).with_columns(
        o=pl.col("i_code").replace_strict(codes, regions, default=UNKNOWN, return_dtype=pl.Int32),
        d=pl.col("j_code").replace_strict(codes, regions, default=UNKNOWN, return_dtype=pl.Int32),
        chapter=(pl.col("k_code") // 10_000).cast(pl.Int32),
    ).with_columns(
        s=pl.col("chapter").replace_strict(chapters, [sector_of_chapter[c] for c in chapters], default=-1,
                                           return_dtype=pl.Int32),
    )
    totals = np.zeros((n_regions, n_regions, n_sectors))
    year, rows, seen = None, 0, set()
    estimate = _estimate_rows(path)
    for batch in lazy.collect_batches(chunk_size=chunk_rows):
        _check_batch(path, countries, sectors_source, batch)
        if year is None and batch.height:
            year = int(batch["t"][0])
        row = _first_bad(batch, pl.col("t") != year)
        if row:
            raise InputError(path, f"year {row['t']} differs from the file's first year {year}; one year per "
                                   "calibration", f"line {row['_row'] + 2}, field 't'")
        seen.update(batch["chapter"].unique().to_list())
        keep = batch.filter((pl.col("o") >= 0) & (pl.col("d") >= 0) & (pl.col("o") != pl.col("d")))
        sums = keep.group_by("o", "d", "s").agg(pl.col("value").sum())
        np.add.at(totals, (sums["o"].to_numpy(), sums["d"].to_numpy(), sums["s"].to_numpy()),
                  sums["value"].to_numpy())
        rows += batch.height
        if progress is not None:
            progress(rows, max(estimate, rows))
    if rows == 0:
        raise InputError(path, "has no data rows")
    return totals, year, rows, seen


def _check_batch(path, countries, sectors_source, batch):
    """One InputError for the first bad row of a batch."""
    line = lambda row: f"line {row['_row'] + 2}"  # noqa: E731
    for column, raw, what in (("t", "t", "a year"), ("i_code", "i", "a numeric country code"),
                              ("j_code", "j", "a numeric country code"), ("k_code", "k", "an HS6 product code"),
                              ("value", "v", "a number (thousand USD)")):
        row = _first_bad(batch, pl.col(column).is_null())
        if row:
            raise InputError(path, f"must be {what}, got {row[raw]!r}", f"{line(row)}, field '{raw}'")
    row = _first_bad(batch, ~pl.col("value").is_finite() | (pl.col("value") < 0))
    if row:
        raise InputError(path, f"trade value must be >= 0 (thousand USD), got {row['v'].strip()!r}",
                         f"{line(row)}, field 'v'")
    for column, raw in (("o", "i"), ("d", "j")):
        row = _first_bad(batch, pl.col(column) == UNKNOWN)
        if row:
            raise InputError(path, f"unknown country code {row[raw].strip()!r}; codes come from {countries}",
                             f"{line(row)}, field '{raw}'")
    row = _first_bad(batch, (pl.col("k_code") < 10_000) | (pl.col("k_code") > 999_999))
    if row:
        raise InputError(path, f"HS6 product code must have 6 digits (leading zero optional), got {row['k']!r}",
                         f"{line(row)}, field 'k'")
    row = _first_bad(batch, pl.col("s") < 0)
    if row:
        raise InputError(sectors_source, f"HS chapter {row['chapter']:02d} is in no sector (product {row['k'].strip()} "
                                         f"on {line(row)} of {path}); add it to a sector, or add a sector of every "
                                         "other chapter (CODE=*)")


def read_gdp(path, known):
    """A user's GDP table: ``iso3, gdp_usd`` (current USD). Returns (ISO3 -> GDP, codes not known)."""
    path = Path(path)
    frame = read_table(path, ["iso3"], ["gdp_usd"])
    check_rule(path, frame, pl.col("gdp_usd") < 0, "gdp_usd", "must be >= 0 (current USD)")
    check_unique(path, frame, ["iso3"])
    values = dict(zip(frame["iso3"].to_list(), frame["gdp_usd"].to_list()))
    unknown = sorted(c for c in values if c not in known)
    return {c: v for c, v in values.items() if c in known}, unknown


def read_tariffs(path, regions, sectors):
    """A user's applied tariffs by region pair and sector: ``importer, exporter, sector, rate``
    (fraction). Returns a list of (origin index, destination index, sector index, rate)."""
    path = Path(path)
    frame = read_table(path, ["importer", "exporter", "sector"], ["rate"])
    check_codes(path, frame, "importer", regions, "region code")
    check_codes(path, frame, "exporter", regions, "region code")
    check_codes(path, frame, "sector", sectors, "sector code")
    check_unique(path, frame, ["importer", "exporter", "sector"])
    check_rule(path, frame, (pl.col("rate") < 0) | (pl.col("rate") > 10), "rate",
               "must be a fraction between 0 and 10 (0.025 = 2.5%)")
    check_rule(path, frame, pl.col("importer") == pl.col("exporter"), "exporter",
               "must differ from the importer (domestic cells carry no tariff)")
    r, s = {c: j for j, c in enumerate(regions)}, {c: j for j, c in enumerate(sectors)}
    return [(r[e], r[i], s[k], float(v)) for i, e, k, v in
            zip(frame["importer"], frame["exporter"], frame["sector"], frame["rate"]) if math.isfinite(v)]
