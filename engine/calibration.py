"""Calibration data: the tables a run is calibrated to, loaded and validated.

A calibration folder holds these tables, each as ``NAME.csv`` or ``NAME.parquet``
(the embedded default is ``data/default``; ``data/README.md`` documents its sources):

============================  ==========================================================================
table                         columns (one row per ...)
============================  ==========================================================================
``regions``                   ``code, name, gdp_usd_m`` (region; GDP in USD million per year)
``sectors``                   ``code, name, sigma, theta, shock_demand_sd, shock_cost_sd, shock_corr``
                              and optional ``exporter_share`` (sector)
``flows``                     ``origin, destination, sector, value_usd_m`` (every cell, incl. domestic
                              ``origin == destination``; USD million per year at customs value, i.e.
                              net of the importer's tariff)
``tariffs``                   ``origin, destination, sector, rate`` (baseline ad-valorem tariff charged
                              by ``destination``, a fraction; absent cells are 0)
``firms``                     ``origin, sector, firms`` (real number of firms ``N_ik``)
``participation`` (optional)  ``origin, destination, sector, share`` (share of the block's firms that
                              sell in the destination, in (0, 1]; absent cells use the default rule)
============================  ==========================================================================

Rules checked (each error names the file, the line and the rule): codes are unique and known;
``sigma > 1``; ``theta > sigma - 1`` (finite mean sales under Pareto, Chaney 2008);
shock standard deviations >= 0; ``-1 < shock_corr < 1``; flows present for every cell, >= 0;
tariff rates >= 0; firms > 0; shares in (0, 1]; no duplicate rows.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.tables import check_codes, check_rule, check_unique, find_table, read_table

#: Share floor of the default participation rule (keeps every positive cell open).
MIN_SHARE = 1e-6


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

    @property
    def n_regions(self):
        return len(self.regions)

    @property
    def n_sectors(self):
        return len(self.sectors)


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


def _cell_array(path, frame, value, regions, sectors, required):
    """Scatter a long (origin, destination, sector, value) table into an (R, R, K) array."""
    check_codes(path, frame, "origin", regions, "region code")
    check_codes(path, frame, "destination", regions, "region code")
    check_codes(path, frame, "sector", sectors, "sector code")
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
    if not folder.is_dir():
        raise InputError(folder, "calibration folder does not exist")

    path = find_table(folder, "regions")
    regions = read_table(path, ["code", "name"], ["gdp_usd_m"])
    check_unique(path, regions, ["code"])
    check_rule(path, regions, pl.col("gdp_usd_m") <= 0, "gdp_usd_m", "must be > 0")
    region_codes = tuple(regions["code"].to_list())

    path = find_table(folder, "sectors")
    sectors = read_table(path, ["code", "name"],
                         ["sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr"],
                         ["exporter_share"])
    check_unique(path, sectors, ["code"])
    check_rule(path, sectors, pl.col("sigma") <= 1, "sigma", "must be > 1")
    check_rule(path, sectors, pl.col("theta") <= pl.col("sigma") - 1, "theta",
               "must be > sigma - 1 (Pareto shape above sigma - 1 keeps mean sales finite)")
    for column in ("shock_demand_sd", "shock_cost_sd"):
        check_rule(path, sectors, pl.col(column) < 0, column, "must be >= 0")
    check_rule(path, sectors, pl.col("shock_corr").abs() >= 1, "shock_corr", "must be in (-1, 1)")
    sector_codes = tuple(sectors["code"].to_list())
    if "exporter_share" in sectors.columns:
        check_rule(path, sectors, (pl.col("exporter_share") <= 0) | (pl.col("exporter_share") > 1),
                   "exporter_share", "must be in (0, 1]")

    path = find_table(folder, "flows")
    frame = read_table(path, ["origin", "destination", "sector"], ["value_usd_m"])
    check_rule(path, frame, pl.col("value_usd_m") < 0, "value_usd_m", "must be >= 0")
    flows = _cell_array(path, frame, "value_usd_m", region_codes, sector_codes, required=True)

    path = find_table(folder, "tariffs")
    frame = read_table(path, ["origin", "destination", "sector"], ["rate"])
    check_rule(path, frame, pl.col("rate") < 0, "rate", "must be >= 0 (a fraction, 0.025 = 2.5%)")
    tariffs = np.nan_to_num(_cell_array(path, frame, "rate", region_codes, sector_codes, required=False))

    path = find_table(folder, "firms")
    frame = read_table(path, ["origin", "sector"], ["firms"])
    check_codes(path, frame, "origin", region_codes, "region code")
    check_codes(path, frame, "sector", sector_codes, "sector code")
    check_unique(path, frame, ["origin", "sector"])
    check_rule(path, frame, pl.col("firms") <= 0, "firms", "must be > 0")
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
        participation = _cell_array(path, frame, "share", region_codes, sector_codes, required=exporter_share is None)
    if exporter_share is not None:
        participation = np.where(np.isnan(participation), default_participation(flows, exporter_share),
                                 participation)

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
    )
