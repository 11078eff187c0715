"""A user's raw inputs to ``engine calibrate``: a BACI year (streamed), its country codes, GDP and
applied tariffs. Every bad row gives one ``InputError`` naming the file, the line and the field.

BACI (CEPII, Gaulier & Zignago 2010) ships one CSV per year with columns ``t, i, j, k, v, q``: year,
exporter and importer (numeric country codes of its ``country_codes_V*.csv``), HS6 product, value
(thousand USD) and quantity (tonnes, unused here). A full year is about 10^7 rows: it is read in blocks
of whole lines, each parsed by a Polars lazy scan, checked, mapped to (region, region, sector) with
NumPy lookups and summed, so memory is bounded by the block size, not by the file (BACI has no quoted
fields with line breaks).
"""

import io
import math
from pathlib import Path

import numpy as np
import polars as pl

from engine.calibration.tables import check_codes, check_rule, check_unique, read_table
from engine.errors import InputError

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


def stream_baci(path, countries, region_of_code, sector_of_chapter, n_regions, n_sectors, sectors_source,
                progress=None, block_bytes=16 << 20):
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
        ``progress(bytes_read, file_bytes)`` after each block.
    block_bytes : int
        Bytes read and parsed at a time (bounds the memory).

    Returns
    -------
    totals : ndarray (R, R, K)
        Thousand USD; same-region pairs left out.
    year : int
    rows : int
    chapters : set of int
        HS chapters present.
    products : polars.DataFrame
        ``o, d, k, v``: thousand USD by (exporter region, importer region, HS6 product), same-region
        pairs left out (the calibration's ``products`` table).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    with open(path, "rb") as f:
        header_line = f.readline()
    header = [h.strip().strip('"') for h in header_line.decode("utf-8", "replace").strip().split(",")]
    missing = [c for c in BACI_COLUMNS if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; a BACI file has columns t, i, j, k, v, q "
                               "(year, exporter, importer, HS6 product, value in thousand USD, quantity)")
    codes = np.array(sorted(region_of_code), dtype=np.int64)
    code_region = np.array([region_of_code[c] for c in codes], dtype=np.int64)
    chapter_sector = np.full(100, -1, dtype=np.int64)
    for chapter, sector in sector_of_chapter.items():
        chapter_sector[chapter] = sector
    totals = np.zeros(n_regions * n_regions * n_sectors)
    year, rows, seen, parts = None, 0, set(), []
    size = path.stat().st_size
    for batch, done in _batches(path, header_line, block_bytes):
        batch = batch.with_row_index("_row", offset=rows)
        if not batch.height:
            continue
        _check_columns(path, batch)
        t = batch["t_num"].to_numpy()
        if year is None:
            year = int(t[0])
        _raise_first(path, batch, t != year, "t", lambda raw: f"year {raw} differs from the file's first year "
                                                              f"{year}; one year per calibration")
        o = _lookup(codes, code_region, batch["i_code"].to_numpy())
        d = _lookup(codes, code_region, batch["j_code"].to_numpy())
        for column, mapped in (("i", o), ("j", d)):
            _raise_first(path, batch, mapped == UNKNOWN, column,
                         lambda raw: f"unknown country code {raw!r}; codes come from {countries}")
        k = batch["k_code"].to_numpy()
        _raise_first(path, batch, (k < 10_000) | (k > 999_999), "k",
                     lambda raw: f"HS6 product code must have 6 digits (leading zero optional), got {raw!r}")
        chapter = k // 10_000
        sector = chapter_sector[chapter]
        bad = np.flatnonzero(sector < 0)
        if bad.size:
            row = batch.row(int(bad[0]), named=True)
            raise InputError(sectors_source, f"HS chapter {chapter[bad[0]]:02d} is in no sector (product "
                                             f"{row['k'].strip()} on line {row['_row'] + 2} of {path}); add it to a "
                                             "sector, or add a sector of every other chapter (CODE=*)")
        seen.update(np.unique(chapter).tolist())
        keep = (o >= 0) & (d >= 0) & (o != d)
        flat = (o[keep] * n_regions + d[keep]) * n_sectors + sector[keep]
        value = batch["value"].to_numpy()[keep]
        totals += np.bincount(flat, weights=value, minlength=totals.size)
        parts.append(pl.DataFrame({"o": o[keep], "d": d[keep], "k": k[keep], "v": value})
                     .group_by(["o", "d", "k"]).agg(pl.col("v").sum()))
        if len(parts) > 16:  # bounded: at most one row per (pair, product) between compactions
            parts = [_sum_products(parts)]
        rows += batch.height
        if progress is not None:
            progress(done, size)
    if rows == 0:
        raise InputError(path, "has no data rows")
    return totals.reshape(n_regions, n_regions, n_sectors), year, rows, seen, _sum_products(parts)


def _sum_products(parts):
    return pl.concat(parts).group_by(["o", "d", "k"]).agg(pl.col("v").sum()).sort(["o", "d", "k"])


def _batches(path, header_line, block_bytes):
    """The file as Polars frames of whole lines, about ``block_bytes`` each: every block is read,
    cut at its last line end and parsed by a Polars lazy scan (strings stripped and cast), so memory is
    bounded by the block size whatever the file size. Yields (frame, bytes read so far)."""
    num = lambda c, dtype: pl.col(c).str.strip_chars().cast(dtype, strict=False)  # noqa: E731
    with open(path, "rb") as f:
        f.readline()
        rest, done = b"", len(header_line)
        while True:
            block = f.read(block_bytes)
            data = rest + block
            if not data.strip():
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            data, rest = data[:cut], data[cut:]
            done += cut
            if not cut:
                continue
            try:
                frame = pl.scan_csv(io.BytesIO(header_line + data), infer_schema=False).select(
                    "t", "i", "j", "k", "v", t_num=num("t", pl.Int64), i_code=num("i", pl.Int64),
                    j_code=num("j", pl.Int64), k_code=num("k", pl.Int64), value=num("v", pl.Float64)).collect()
            except pl.exceptions.PolarsError as exc:
                raise InputError(path, f"cannot be read as CSV near byte {done} ({exc.__class__.__name__}: "
                                       f"{str(exc).splitlines()[0]})") from exc
            yield frame, done


def _lookup(codes, values, keys):
    """``values`` at the position of each key in sorted ``codes``; ``UNKNOWN`` where absent."""
    pos = np.minimum(np.searchsorted(codes, keys), len(codes) - 1)
    return np.where(codes[pos] == keys, values[pos], UNKNOWN)


def _raise_first(path, batch, mask, column, message):
    """InputError at the first row where ``mask`` holds, naming its line and ``column``."""
    bad = np.flatnonzero(mask)
    if bad.size:
        row = batch.row(int(bad[0]), named=True)
        raise InputError(path, message(row[column].strip()), f"line {row['_row'] + 2}, field '{column}'")


def _check_columns(path, batch):
    """Unparsable numbers and negative or non-finite values."""
    for column, raw, what in (("t_num", "t", "a year"), ("i_code", "i", "a numeric country code"),
                              ("j_code", "j", "a numeric country code"), ("k_code", "k", "an HS6 product code"),
                              ("value", "v", "a number (thousand USD)")):
        if batch[column].null_count():
            _raise_first(path, batch, batch[column].is_null().to_numpy(), raw,
                         lambda value, what=what: f"must be {what}, got {value!r}")
    value = batch["value"].to_numpy()
    _raise_first(path, batch, ~np.isfinite(value) | (value < 0), "v",
                 lambda raw: f"trade value must be >= 0 (thousand USD), got {raw!r}")


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
