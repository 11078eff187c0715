"""Calibration data: the tables a run is calibrated to, loaded and validated.

A calibration folder holds these tables, each as ``NAME.csv`` or ``NAME.parquet``
(the embedded default is ``data/default``; ``data/README.md`` documents its sources):

============================  ==========================================================================
table                         columns (one row per ...)
============================  ==========================================================================
``regions``                   ``code, name, gdp_usd_m`` (region; GDP in USD million per year) and
                              optional ``members`` (the region's ISO3 country codes, separated by
                              spaces; ``engine calibrate`` writes them, ``engine backtest`` maps
                              countries to regions with them)
``sectors``                   ``code, name, sigma, theta, shock_demand_sd, shock_cost_sd, shock_corr``
                              and optional ``exporter_share`` and ``eta`` (the elasticity between
                              domestic goods and imports, docs/model.md section 6.5; absent: sigma)
                              (sector)
``flows``                     ``origin, destination, sector, value_usd_m`` (every cell, incl. domestic
                              ``origin == destination``; USD million per year at customs value, i.e.
                              net of the importer's tariff)
``tariffs``                   ``origin, destination, sector, rate`` (baseline ad-valorem tariff charged
                              by ``destination``, a fraction; absent cells are 0)
``firms``                     ``origin, sector, firms`` (real number of firms ``N_ik``)
``participation`` (optional)  ``origin, destination, sector, share`` (share of the block's firms that
                              sell in the destination, in (0, 1]; absent cells use the default rule)
``products`` (optional)       ``origin, destination, sector, product, value_usd_m`` (trade of a cell by
                              HS product code, 2, 4 or 6 digits, one level throughout: the weights that
                              turn a scenario's ``products`` lists into coverage shares,
                              docs/model.md section 9.2)
============================  ==========================================================================

Rules checked (each error names the file, the line and the rule): codes are unique and known;
``sigma > 1``; ``theta > sigma - 1`` (finite mean sales under Pareto, Chaney 2008);
shock standard deviations >= 0; ``-1 < shock_corr < 1``; flows present for every cell, >= 0;
tariff rates >= 0; firms > 0; shares in (0, 1]; no duplicate rows.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.calibration.tables import check_codes, check_rule, check_unique, find_table, read_table, row_label
from engine.errors import InputError

#: Share floor of the default participation rule (keeps every positive cell open).
MIN_SHARE = 1e-6
#: Blocks with fewer real firms than this get a warning (a typo, or a block the model describes poorly).
FEW_FIRMS = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CalibrationData:
    """Validated calibration inputs as dense arrays.

    Attributes
    ----------
    source : str
        Folder the tables came from.
    regions, region_names : tuple of str, length R
    sectors, sector_names : tuple of str, length K
    gdp : ndarray (R,)
        GDP, USD million per year.
    sigma, theta, shock_demand_sd, shock_cost_sd, shock_corr : ndarray (K,)
        Elasticity of substitution, Pareto shape, EKK shock parameters.
    flows : ndarray (R, R, K)
        ``flows[i, n, k]``: value of sector-``k`` goods from ``i`` sold in ``n``, USD million per year.
    tariffs : ndarray (R, R, K)
        Baseline ad-valorem tariff charged by ``n`` on ``i``'s goods of sector ``k``.
    firms : ndarray (R, K)
        Real number of firms ``N_ik``.
    participation : ndarray (R, R, K)
        Target share of the block's firms selling in each destination.
    eta : ndarray (K,) or None
        Elasticity between the domestic and the import composite (docs/model.md section 6.5);
        None when the sectors table has no ``eta`` column (one tier: ``eta = sigma``).
    products : Products or None
        Trade of cells by HS product (the optional ``products`` table), or None.
    members : dict
        Region code -> tuple of the ISO3 codes of its countries; empty when the regions table has no
        ``members`` column.
    """

    source: str
    regions: tuple
    region_names: tuple
    sectors: tuple
    sector_names: tuple
    gdp: np.ndarray
    sigma: np.ndarray
    theta: np.ndarray
    shock_demand_sd: np.ndarray
    shock_cost_sd: np.ndarray
    shock_corr: np.ndarray
    flows: np.ndarray
    tariffs: np.ndarray
    firms: np.ndarray
    participation: np.ndarray
    members: dict = field(default_factory=dict)
    eta: np.ndarray | None = None
    products: "Products | None" = None

    @property
    def n_regions(self):
        return len(self.regions)

    @property
    def n_sectors(self):
        return len(self.sectors)


@dataclass(frozen=True, eq=False)
class Products:
    """Trade of cells by HS product code (the ``products`` table).

    Attributes
    ----------
    source : str
        The table's path, for messages.
    codes : tuple of str, length P
        HS codes, all of one length (2, 4 or 6 digits).
    sector : ndarray (P,) int
        The sector each code belongs to.
    values : ndarray (R, R, P)
        ``values[i, n, p]``: trade of product ``p`` from ``i`` to ``n``, USD million per year.
    """

    source: str
    codes: tuple
    sector: np.ndarray
    values: np.ndarray


def _load_products(path, region_codes, sector_codes, defined):
    frame = read_table(path, ["origin", "destination", "sector", "product"], ["value_usd_m"])
    for column, codes, what in (("origin", region_codes, "region code"), ("destination", region_codes, "region code"),
                                ("sector", sector_codes, "sector code")):
        check_codes(path, frame, column, codes, what, defined["region" if what == "region code" else "sector"])
    check_unique(path, frame, ["origin", "destination", "product"])
    check_rule(path, frame, pl.col("value_usd_m") < 0, "value_usd_m", "must be >= 0")
    check_rule(path, frame, ~pl.col("product").str.contains(r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$"), "product",
               "must be an HS code of 2, 4 or 6 digits (e.g. '87', '8703', '870323')")
    lengths = frame["product"].str.len_chars().unique().to_list()
    if len(lengths) > 1:
        raise InputError(path, f"mixes HS codes of {' and '.join(str(n) for n in sorted(lengths))} digits; give "
                               "every row at one level", "product")
    codes = tuple(sorted(frame["product"].unique().to_list()))
    sector = {}
    for row in frame.iter_rows(named=True):
        known = sector.setdefault(row["product"], row["sector"])
        if known != row["sector"]:
            raise InputError(path, f"product {row['product']} is in sector {known!r} on another row; a product "
                                   "belongs to one sector", f"{row_label(path, row['_index'])}, field 'sector'")
    values = np.zeros((len(region_codes), len(region_codes), len(codes)))
    index = {c: j for j, c in enumerate(codes)}
    for row in frame.iter_rows(named=True):
        values[region_codes.index(row["origin"]), region_codes.index(row["destination"]),
               index[row["product"]]] = row["value_usd_m"]
    return Products(str(path), codes, np.array([sector_codes.index(sector[c]) for c in codes]), values)


def default_participation(flows, exporter_share):
    """Default target shares of firms selling in each cell.

    Domestic cells: 1 (every firm sells at home). Foreign cell (i, n, k):
    ``exporter_share_k * sqrt(X_ink / max_{n' != i} X_in'k)``, floored at ``MIN_SHARE``: the largest
    foreign market of a block gets the sector's exporter share, and the number of sellers rises less
    than proportionally with the flow (Eaton, Kortum & Kramarz 2011, fact (i): entry relative to
    market share rises with market size; the square root is our stated assumption).

    Parameters
    ----------
    flows : ndarray (R, R, K)
    exporter_share : ndarray (K,)

    Returns
    -------
    ndarray (R, R, K)
    """
    n_regions = flows.shape[0]
    foreign = flows.copy()
    idx = np.arange(n_regions)
    foreign[idx, idx, :] = 0.0
    largest = foreign.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(largest > 0, foreign / largest, 0.0)
    share = np.maximum(exporter_share[None, None, :] * np.sqrt(relative), MIN_SHARE)
    share[idx, idx, :] = 1.0
    return share


def _cell_array(path, frame, value, regions, sectors, required, defined=None):
    """Scatter a long (origin, destination, sector, value) table into an (R, R, K) array.

    ``defined``: ``{"region": (path, frame, "code"), "sector": ...}`` of the tables that define the
    codes, so a code misspelt there is blamed there (``engine.calibration.tables.check_codes``)."""
    defined = defined or {}
    check_codes(path, frame, "origin", regions, "region code", defined.get("region"))
    check_codes(path, frame, "destination", regions, "region code", defined.get("region"))
    check_codes(path, frame, "sector", sectors, "sector code", defined.get("sector"))
    check_unique(path, frame, ["origin", "destination", "sector"])
    r_index = {c: j for j, c in enumerate(regions)}
    k_index = {c: j for j, c in enumerate(sectors)}
    out = np.full((len(regions), len(regions), len(sectors)), np.nan)
    i = np.array([r_index[c] for c in frame["origin"]], dtype=np.int64)
    n = np.array([r_index[c] for c in frame["destination"]], dtype=np.int64)
    k = np.array([k_index[c] for c in frame["sector"]], dtype=np.int64)
    out[i, n, k] = frame[value].to_numpy()
    if required and np.isnan(out).any():
        gi, gn, gk = (int(x[0]) for x in np.nonzero(np.isnan(out)))
        raise InputError(path, f"missing row for origin={regions[gi]}, destination={regions[gn]}, "
                               f"sector={sectors[gk]}; every (origin, destination, sector) cell, "
                               "including domestic cells, needs a row", value)
    return out


def _warn_zero_domestic(path, frame, flows, regions, sectors):
    """Warn about zero domestic cells: the model has every firm of a block sell at home (docs/model.md),
    so such a cell stays closed and the block's firms sell only abroad, or the block is empty."""
    home = np.arange(len(regions))
    zero = np.argwhere(flows[home, home, :] == 0)
    if not zero.size:
        return
    i, k = (int(x) for x in zero[0])
    exports = flows[i, :, k].sum()
    line = frame.filter((pl.col("origin") == regions[i]) & (pl.col("destination") == regions[i])
                        & (pl.col("sector") == sectors[k]))["_index"][0]
    consequence = (f"yet {regions[i]} exports {exports:g} of it: the model has every firm of a block sell at home, "
                   "so this cell stays closed and these firms sell only abroad (domestic sales are usually gross "
                   "output minus exports: check the data)" if exports > 0 else
                   "and nothing is exported either: the sector is absent from this region")
    more = f" ({len(zero) - 1} more zero domestic cell(s))" if len(zero) > 1 else ""
    log.warning("%s: %s, field 'value_usd_m': the domestic cell %s -> %s, %s is 0 %s%s", path,
                row_label(path, line), regions[i], regions[i], sectors[k], consequence, more)


def _region_members(path, regions):
    """The optional ``members`` column: region -> ISO3 codes; each country in one region at most."""
    if "members" not in regions.columns:
        return {}
    out, seen = {}, {}
    for row in regions.iter_rows(named=True):
        where = f"{row_label(path, row['_index'])}, field 'members'"
        codes = tuple(str(row["members"] or "").split())
        for iso in codes:
            if len(iso) != 3 or not iso.isalnum() or iso != iso.upper():
                raise InputError(path, f"{iso!r} is not a country code (three capital letters or digits: ISO3, or "
                                       "BACI's codes such as S19); list the region's countries separated by spaces",
                                 where)
            if iso in seen:
                raise InputError(path, f"country {iso} is in region {seen[iso]!r} and in {row['code']!r}; a "
                                       "country belongs to one region at most", where)
            seen[iso] = row["code"]
        out[row["code"]] = codes
    return out


def load_calibration(folder):
    """Load and validate a calibration folder (see the module docstring for the format).

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    CalibrationData

    Raises
    ------
    InputError
        Naming the file, the line and the rule broken.
    """
    folder = Path(folder)
    if folder.is_file():
        raise InputError(folder, "is a file; a calibration is a folder holding regions, sectors, flows, tariffs "
                                 "and firms tables (CSV or Parquet)")
    if not folder.is_dir():
        raise InputError(folder, "calibration folder does not exist")

    path = find_table(folder, "regions")
    regions = read_table(path, ["code", "name"], ["gdp_usd_m"])
    defined = {"region": (path, regions, "code")}
    check_unique(path, regions, ["code"])
    check_rule(path, regions, pl.col("gdp_usd_m") <= 0, "gdp_usd_m", "must be > 0")
    region_codes = tuple(regions["code"].to_list())
    members = _region_members(path, regions)

    path = find_table(folder, "sectors")
    sectors = read_table(path, ["code", "name"],
                         ["sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr"],
                         ["exporter_share", "eta"])
    check_unique(path, sectors, ["code"])
    if "eta" in sectors.columns:
        check_rule(path, sectors, pl.col("eta") <= 0, "eta", "must be > 0")
    check_rule(path, sectors, pl.col("sigma") <= 1, "sigma", "must be > 1")
    check_rule(path, sectors, pl.col("theta") <= pl.col("sigma") - 1, "theta",
               "must be > sigma - 1 (Pareto shape above sigma - 1 keeps mean sales finite)")
    for column in ("shock_demand_sd", "shock_cost_sd"):
        check_rule(path, sectors, pl.col(column) < 0, column, "must be >= 0")
    check_rule(path, sectors, pl.col("shock_corr").abs() >= 1, "shock_corr", "must be in (-1, 1)")
    sector_codes = tuple(sectors["code"].to_list())
    defined["sector"] = (path, sectors, "code")
    if "exporter_share" in sectors.columns:
        check_rule(path, sectors, (pl.col("exporter_share") <= 0) | (pl.col("exporter_share") > 1),
                   "exporter_share", "must be in (0, 1]")

    path = find_table(folder, "flows")
    frame = read_table(path, ["origin", "destination", "sector"], ["value_usd_m"])
    check_rule(path, frame, pl.col("value_usd_m") < 0, "value_usd_m", "must be >= 0")
    flows = _cell_array(path, frame, "value_usd_m", region_codes, sector_codes, required=True, defined=defined)
    _warn_zero_domestic(path, frame, flows, region_codes, sector_codes)

    path = find_table(folder, "tariffs")
    frame = read_table(path, ["origin", "destination", "sector"], ["rate"])
    check_rule(path, frame, pl.col("rate") < 0, "rate", "must be >= 0 (a fraction, 0.025 = 2.5%)")
    tariffs = np.nan_to_num(_cell_array(path, frame, "rate", region_codes, sector_codes, required=False,
                                        defined=defined))

    path = find_table(folder, "firms")
    frame = read_table(path, ["origin", "sector"], ["firms"])
    check_codes(path, frame, "origin", region_codes, "region code", defined["region"])
    check_codes(path, frame, "sector", sector_codes, "sector code", defined["sector"])
    check_unique(path, frame, ["origin", "sector"])
    check_rule(path, frame, pl.col("firms") < 1, "firms", "must be at least 1 (a count of real firms)")
    check_rule(path, frame, pl.col("firms") != pl.col("firms").round(0), "firms",
               "must be a whole number (a count of real firms)")
    few = frame.filter(pl.col("firms") < FEW_FIRMS)
    if few.height:
        row = few.row(0, named=True)
        log.warning("%s: %s, field 'firms': %g real firms in origin %s, sector %s%s; each block's firms are a "
                    "Pareto population that the simulated firms sample (docs/model.md), which says little about "
                    "fewer than %d firms: check the count", path, row_label(path, row["_index"]), row["firms"],
                    row["origin"], row["sector"], f" (and {few.height - 1} more block(s))" if few.height > 1 else "",
                    FEW_FIRMS)
    firms = np.full((len(region_codes), len(sector_codes)), np.nan)
    for row in frame.iter_rows(named=True):
        firms[region_codes.index(row["origin"]), sector_codes.index(row["sector"])] = row["firms"]
    if np.isnan(firms).any():
        gi, gk = (int(x[0]) for x in np.nonzero(np.isnan(firms)))
        raise InputError(path, f"missing row for origin={region_codes[gi]}, sector={sector_codes[gk]}", "firms")

    exporter_share = sectors["exporter_share"].to_numpy() if "exporter_share" in sectors.columns else None
    path = find_table(folder, "participation", required=False)
    if path is None and exporter_share is None:
        raise InputError(folder / "participation.csv", "file is missing; without it, sectors needs an "
                         "'exporter_share' column for the default participation rule")
    participation = np.full(flows.shape, np.nan)
    if path is not None:
        frame = read_table(path, ["origin", "destination", "sector"], ["share"])
        check_rule(path, frame, (pl.col("share") <= 0) | (pl.col("share") > 1), "share", "must be in (0, 1]")
        participation = _cell_array(path, frame, "share", region_codes, sector_codes,
                                    required=exporter_share is None, defined=defined)
    if exporter_share is not None:
        participation = np.where(np.isnan(participation), default_participation(flows, exporter_share),
                                 participation)

    path = find_table(folder, "products", required=False)
    products = None if path is None else _load_products(path, region_codes, sector_codes, defined)

    return CalibrationData(
        source=str(folder),
        regions=region_codes,
        region_names=tuple(regions["name"].to_list()),
        sectors=sector_codes,
        sector_names=tuple(sectors["name"].to_list()),
        gdp=regions["gdp_usd_m"].to_numpy(),
        sigma=sectors["sigma"].to_numpy(),
        theta=sectors["theta"].to_numpy(),
        shock_demand_sd=sectors["shock_demand_sd"].to_numpy(),
        shock_cost_sd=sectors["shock_cost_sd"].to_numpy(),
        shock_corr=sectors["shock_corr"].to_numpy(),
        flows=flows,
        tariffs=tariffs,
        firms=firms,
        participation=participation,
        members=members,
        eta=sectors["eta"].to_numpy() if "eta" in sectors.columns else None,
        products=products,
    )
