"""Build the embedded default calibration in ``data/default/`` from the read-only source data.

Usage::

    python data/build_default.py [--shared PATH] [--out PATH] [--check]

``--shared`` defaults to ``<repo>/../shared/data`` and ``--out`` to ``<repo>/data/default``
(``<repo>`` = the parent of ``data/``).  ``--check`` rebuilds into a temporary directory and
exits 1 with a diff summary if any file differs from what is in ``--out`` (a file that is
missing, changed, or present in ``--out`` but not produced by the build all count).
Tests may import :func:`build` (``build(shared, out)``).  Only the standard library is used.

Output is deterministic: fixed row orders (region x region x sector, each in the order
below), every sum is ``math.fsum`` (exactly rounded, so independent of summation order),
floats are written as ``format(x, '.10g')``, CSV lines end with ``\\n``.

REGIONS (in this order): USA, JPN, CHN, EU, CAN, MEX, KOR, GBR, IND, ROW.
EU = the 27 member states as one region; ROW = every other country.

SECTORS (in this order), by HS 2-digit chapter:
agri_food 01-24; energy 27; chem_pharma_plastics 28-40; metals 72-83; machinery 84;
electronics_instruments 85, 90-92; motor_vehicles_parts 87;
other = every other chapter (25-26, 41-71, 86, 88-89, 93-99).

SOURCES (paths relative to --shared)
* ilms2025_baci2023/: CEPII BACI 2023 country-pair goods trade (thousand USD; row = exporter,
  column = importer, empty = 0, order = country_labels.csv) and World Bank GDP (current USD),
  as redistributed with Ignatenko, Macedoni, Lashkaripour & Simonovska (2025, JIE).
* us_census_2024_hs2/data-hs2/hs2-tariff-<CTY_CODE>.csv: US 2024 imports and duties collected
  by HS2 chapter and Census country code (tradewartracker, MIT; Census data).
  Census codes -> ISO3 with data/CensusCountryMapping_FRBAtl_short.csv; EU membership from
  data/eu-list.csv.  The file 0003 "EUROPEAN UNION" is dropped (it double counts the members).
  eu-list.csv gives codes 4371 (Slovakia) and 4600 (Malta), which match no data file; such a
  code is resolved by the country's name in the mapping file (-> 4359, 4730), and the result
  is checked against the 27 ISO3 codes and against file 0003's total.  A Census code missing
  from the mapping file (5082 Gaza Strip, 5083 West Bank) goes to ROW, as does every country
  outside the 9 named regions.
* literature/: hand-transcribed published numbers (BJRS exporter shares; scalar parameters).

RULES
regions.csv   gdp_usd_m = sum of member-country GDP (gdp.csv, current USD) / 1e6.
sectors.csv   theta = 4.0 (Simonovska & Waugh 2014, "roughly four").
              sigma = 1 + theta / 2.46, so that theta/(sigma-1) = 2.46 (Eaton, Kortum &
              Kramarz 2011, Table 3).
              shock_demand_sd = 1.69, shock_cost_sd = 0.34, shock_corr = -0.65 (EKK 2011,
              Table 3; transcribed from the published paper, not verified against shared/).
              exporter_share_k = 0.04 * BJRS_k / 18: 0.04 = share of all US firms that export
              (Hernandez-Murillo 2007); BJRS_k = % of US manufacturing firms that export in
              2002 (BJRS 2007 Table 2) in the NAICS-3 industries mapped to sector k (mean
              where two), 18 = the all-manufacturing value (so 'other' gets 0.04).
flows.csv     USD million per year, every (origin, destination, sector).
              Pair totals T[o,d] (o != d) = BACI 2023 summed over member countries / 1000;
              trade between two countries of the same region (intra-EU, intra-ROW) is not
              trade: it belongs in the domestic cell.
              Sector split of a foreign pair: origin o's sector mix, i.e.
              X[o,d,k] = T[o,d] * s[o,k], where for o != USA s[o,k] = Census 2024 US imports
              from o in sector k / all US imports from o (real for d = USA, a proxy for
              other d: o ships the same mix everywhere), and for o = USA s[USA,k] = the
              sector mix of total US imports from all partners (proxy).
              Domestic cell: X[i,i] = max(GDP_i - M_i, 0), M_i = imports of i from the other
              9 regions (the ILMS paper's rule, without its small tariff/deficit term), split
              by i's own import mix M_i,k / M_i (equal import penetration across sectors).
tariffs.csv   Ad valorem rate as a fraction.  Destination USA, origin != USA (real):
              sum 2024_duty / sum 2024_imports over the origin's Census files and the
              sector's chapters.  Domestic cells: 0.  Any other importer (proxy for MFN
              applied rates): the US 2024 effective rate in the sector on imports from JPN,
              EU, GBR, IND and ROW together (leaving out the FTA partners CAN, MEX, KOR and
              China's Section 301 rates).
firms.csv     firms[i,k] = 5.5e6 * Y[i,k] / Y[USA], Y[i,k] = sum over destinations (incl.
              domestic) of flows[i,*,k], Y[USA] = sum over k of Y[USA,k]; 5.5 million = US
              firms in 2000 (Hernandez-Murillo 2007).  Rounded half up to whole firms, min 1.
participation.csv  Share of firms of (origin, sector) that sell in a destination.  Domestic
              1.0.  Foreign: exporter_share_k * sqrt(X[i,n,k] / max_{m != i} X[i,m,k]),
              floored at 1e-6 (a 0 flow gets 1e-6): the largest foreign market gets the
              exporter share and exporters rise less than proportionally with the flow (EKK
              2011 finding (i): entry relative to market share rises with market size); the
              square root is our assumption.
              Flows are rounded to 10 significant digits before firms and participation are
              computed from them, so both can be reproduced from flows.csv alone.
SOURCES.txt and LICENSE-tradewartracker.txt (the MIT notice of the Census-derived files) are
written beside the tables.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import io
import math
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

REGIONS = (
    ("USA", "United States"),
    ("JPN", "Japan"),
    ("CHN", "China"),
    ("EU", "European Union (27)"),
    ("CAN", "Canada"),
    ("MEX", "Mexico"),
    ("KOR", "South Korea"),
    ("GBR", "United Kingdom"),
    ("IND", "India"),
    ("ROW", "Rest of world"),
)
REGION_CODES = tuple(code for code, _ in REGIONS)
EU27 = frozenset(
    "AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT NLD "
    "POL PRT ROU SVK SVN ESP SWE".split()
)
SINGLE_COUNTRY_REGIONS = frozenset(REGION_CODES) - {"EU", "ROW"}

# code, name, HS chapter ranges (inclusive), BJRS NAICS-3 codes (mean taken)
SECTORS = (
    ("agri_food", "Agriculture and food", ((1, 24),), ("311",)),
    ("energy", "Mineral fuels and energy", ((27, 27),), ("324",)),
    ("chem_pharma_plastics", "Chemicals pharmaceuticals and plastics", ((28, 40),), ("325", "326")),
    ("metals", "Base metals and metal articles", ((72, 83),), ("331", "332")),
    ("machinery", "Machinery", ((84, 84),), ("333",)),
    ("electronics_instruments", "Electrical equipment and instruments", ((85, 85), (90, 92)), ("334", "335")),
    ("motor_vehicles_parts", "Motor vehicles and parts", ((87, 87),), ("336",)),
    ("other", "Other goods", ((25, 26), (41, 71), (86, 86), (88, 89), (93, 99)), ("ALL",)),
)
SECTOR_CODES = tuple(s[0] for s in SECTORS)

THETA = 4.0  # Simonovska & Waugh (2014)
EKK_THETA_OVER_SIGMA_MINUS_1 = 2.46  # Eaton, Kortum & Kramarz (2011), Table 3
SHOCK_DEMAND_SD = 1.69  # EKK (2011) Table 3
SHOCK_COST_SD = 0.34  # EKK (2011) Table 3
SHOCK_CORR = -0.65  # EKK (2011) Table 3
US_FIRMS_2000 = 5.5e6  # Hernandez-Murillo (2007)
US_ALL_FIRMS_EXPORTER_SHARE = 0.04  # Hernandez-Murillo (2007)
PARTICIPATION_FLOOR = 1e-6
MFN_PROXY_ORIGINS = ("JPN", "EU", "GBR", "IND", "ROW")
EU_AGGREGATE_CENSUS_CODE = "0003"

BACI = "ilms2025_baci2023"
CENSUS = "us_census_2024_hs2"
LIT = "literature"
SOURCES = {
    "regions.csv": [f"{BACI}/country_labels.csv", f"{BACI}/gdp.csv"],
    "sectors.csv": [f"{LIT}/scalar_parameters_from_literature.csv",
                    f"{LIT}/exporter_share_us_manufacturing_bjrs.csv",
                    "EKK (2011) Econometrica Table 3 (transcribed, not in shared/)"],
    "flows.csv": [f"{BACI}/country_labels.csv", f"{BACI}/trade_cepii.csv", f"{BACI}/gdp.csv",
                  f"{CENSUS}/data-hs2/hs2-tariff-*.csv (except 0003)",
                  f"{CENSUS}/data/CensusCountryMapping_FRBAtl_short.csv", f"{CENSUS}/data/eu-list.csv"],
    "tariffs.csv": [f"{CENSUS}/data-hs2/hs2-tariff-*.csv (except 0003)",
                    f"{CENSUS}/data/CensusCountryMapping_FRBAtl_short.csv", f"{CENSUS}/data/eu-list.csv"],
    "firms.csv": ["flows.csv (above)", f"{LIT}/scalar_parameters_from_literature.csv"],
    "participation.csv": ["flows.csv (above)", "sectors.csv exporter_share (above)"],
    "LICENSE-tradewartracker.txt": [f"{CENSUS}/LICENSE"],
}


# ----------------------------------------------------------------------------- helpers
def fmt(x: float) -> str:
    """Fixed float format: 10 significant digits, no negative zero."""
    s = format(float(x), ".10g")
    return "0" if s == "-0" else s


def round10(x: float) -> float:
    return float(fmt(x))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


def sector_of_chapter(ch: int) -> str:
    for code, _, ranges, _ in SECTORS:
        if any(lo <= ch <= hi for lo, hi in ranges):
            return code
    raise ValueError(f"HS chapter {ch} outside 01-99")


def chapters_text(ranges) -> str:
    return ";".join(f"{lo:02d}" if lo == hi else f"{lo:02d}-{hi:02d}" for lo, hi in ranges)


def region_of_iso3(iso3: str) -> str:
    if iso3 in EU27:
        return "EU"
    return iso3 if iso3 in SINGLE_COUNTRY_REGIONS else "ROW"


def foreign_pairs():
    return [(o, d) for o in REGION_CODES for d in REGION_CODES if o != d]


def cells():
    return [(o, d, k) for o in REGION_CODES for d in REGION_CODES for k in SECTOR_CODES]


# ----------------------------------------------------------------------------- BACI / GDP
def read_baci(shared: Path):
    """Country ISO3 list, GDP (USD) and the trade matrix (thousand USD) in label order."""
    base = shared / BACI
    isos = [r["iso3"] for r in read_rows(base / "country_labels.csv")]
    gdp = [float(r["gdp"]) for r in read_rows(base / "gdp.csv")]
    with (base / "trade_cepii.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    trade = [[float(v) if v.strip() else 0.0 for v in row] for row in rows]
    if not (len(isos) == len(gdp) == len(trade)) or any(len(r) != len(isos) for r in trade):
        raise ValueError("BACI files do not share one country order")
    missing = (EU27 | SINGLE_COUNTRY_REGIONS) - set(isos)
    if missing:
        raise ValueError(f"BACI labels lack {sorted(missing)}")
    return isos, gdp, trade


def region_gdp_usd_m(isos, gdp) -> dict[str, float]:
    parts = {r: [] for r in REGION_CODES}
    for iso, g in zip(isos, gdp):
        parts[region_of_iso3(iso)].append(g)
    return {r: math.fsum(v) / 1e6 for r, v in parts.items()}


def region_pair_totals_usd_m(isos, trade) -> dict[tuple[str, str], float]:
    """T[o,d] for o != d in USD million; same-region country pairs are dropped."""
    regs = [region_of_iso3(i) for i in isos]
    parts = {p: [] for p in foreign_pairs()}
    for a, row in enumerate(trade):
        for b, v in enumerate(row):
            if regs[a] != regs[b]:
                parts[(regs[a], regs[b])].append(v)
    return {p: math.fsum(v) / 1e3 for p, v in parts.items()}


# ----------------------------------------------------------------------------- Census
def eu_census_codes(shared: Path, file_codes: set[str], mapping: dict[str, dict]):
    """Census codes of EU members (eu-list.csv); unknown codes are resolved by name."""
    by_name = {r["country"].lower(): c for c, r in mapping.items()}
    codes, notes = set(), []
    for r in read_rows(shared / CENSUS / "data" / "eu-list.csv"):
        code = r["CTY_CODE"]
        if code not in file_codes:
            fixed = by_name[r["CTY_NAME"].lower()]
            notes.append(f"eu-list.csv code {code} ({r['CTY_NAME']}) has no data file; "
                         f"resolved by name to {fixed}")
            code = fixed
        codes.add(code)
    if {mapping[c]["ISO3"] for c in codes} != EU27:
        raise ValueError("eu-list.csv does not give the 27 EU members")
    return codes, notes


def read_census_files(shared: Path) -> dict[str, list[dict[str, str]]]:
    files = sorted((shared / CENSUS / "data-hs2").glob("hs2-tariff-*.csv"))
    return {p.stem[len("hs2-tariff-"):]: read_rows(p) for p in files}


def census_region_map(shared: Path, file_codes: set[str]):
    """Census code -> region, and notes on codes that needed a rule."""
    mapping = {r["CTY_CODE"]: r for r in read_rows(shared / CENSUS / "data" /
                                                    "CensusCountryMapping_FRBAtl_short.csv")
               if r["CTY_CODE"]}
    eu_codes, notes = eu_census_codes(shared, file_codes, mapping)
    out = {}
    for code in sorted(file_codes - {EU_AGGREGATE_CENSUS_CODE}):
        if code in eu_codes:
            out[code] = "EU"
        elif code in mapping:
            out[code] = region_of_iso3(mapping[code]["ISO3"])
        else:
            out[code] = "ROW"
            notes.append(f"Census code {code} not in CensusCountryMapping: put in ROW")
    if "USA" in out.values():
        raise ValueError("a Census partner file maps to the USA")
    return out, notes


def census_region_sector(files, code_region) -> dict[str, dict[tuple[str, str], float]]:
    """US 2024 imports and duties (USD) by (region, sector) from the partner files."""
    parts = {col: {(r, k): [] for r in REGION_CODES[1:] for k in SECTOR_CODES}
             for col in ("2024_imports", "2024_duty")}
    for code, region in code_region.items():
        for row in files[code]:
            key = (region, sector_of_chapter(int(row["HS2"])))
            for col in parts:
                parts[col][key].append(float(row[col] or 0.0))
    return {col: {key: math.fsum(v) for key, v in d.items()} for col, d in parts.items()}


def file_total(rows) -> float:
    return math.fsum(float(r["2024_imports"] or 0.0) for r in rows)


def load_census(shared: Path):
    files = read_census_files(shared)
    code_region, notes = census_region_map(shared, set(files))
    agg = census_region_sector(files, code_region)
    eu_members = math.fsum(file_total(files[c]) for c, r in code_region.items() if r == "EU")
    eu_file = file_total(files[EU_AGGREGATE_CENSUS_CODE])
    if abs(eu_members - eu_file) > 1e-9 * eu_file:
        raise ValueError(f"EU member files sum to {eu_members}, file 0003 says {eu_file}")
    return agg, notes


# ----------------------------------------------------------------------------- sector mixes
def shares(values: list[float]) -> list[float]:
    total = math.fsum(values)
    return [v / total for v in values]


def census_origin_mix(imports) -> dict[str, list[float]]:
    """s[o,k]: Census sector mix of US imports from o; USA gets total US imports' mix."""
    mix = {o: shares([imports[(o, k)] for k in SECTOR_CODES]) for o in REGION_CODES[1:]}
    mix["USA"] = shares([math.fsum(imports[(o, k)] for o in REGION_CODES[1:])
                         for k in SECTOR_CODES])
    return mix


def build_flows(pair_totals, gdp_m, mix) -> dict[tuple[str, str, str], float]:
    flows = {}
    for (o, d), total in pair_totals.items():
        for k, s in zip(SECTOR_CODES, mix[o]):
            flows[(o, d, k)] = total * s
    for i in REGION_CODES:
        imports_k = [math.fsum(flows[(o, i, k)] for o in REGION_CODES if o != i)
                     for k in SECTOR_CODES]
        domestic = max(gdp_m[i] - math.fsum(imports_k), 0.0)
        for k, s in zip(SECTOR_CODES, shares(imports_k)):
            flows[(i, i, k)] = domestic * s
    return {c: round10(flows[c]) for c in cells()}


# ----------------------------------------------------------------------------- tariffs
def effective_rate(duty: float, imports: float) -> float:
    return duty / imports if imports > 0 else 0.0


def build_tariffs(census) -> dict[tuple[str, str, str], float]:
    imp, duty = census["2024_imports"], census["2024_duty"]
    mfn = {k: effective_rate(math.fsum(duty[(o, k)] for o in MFN_PROXY_ORIGINS),
                             math.fsum(imp[(o, k)] for o in MFN_PROXY_ORIGINS))
           for k in SECTOR_CODES}
    rates = {}
    for o, d, k in cells():
        if o == d:
            rates[(o, d, k)] = 0.0
        elif d == "USA":
            rates[(o, d, k)] = effective_rate(duty[(o, k)], imp[(o, k)])
        else:
            rates[(o, d, k)] = mfn[k]
    return rates


# ----------------------------------------------------------------------------- firms, participation
def check_literature(shared: Path) -> dict[str, float]:
    """BJRS 2002 exporter shares by NAICS-3; asserts the scalars we hard-code are in the file."""
    scal = {r["parameter"]: r for r in read_rows(shared / LIT / "scalar_parameters_from_literature.csv")}
    us = scal["us_all_firms_exporter_share_2000"]
    if float(us["value"]) / 100 != US_ALL_FIRMS_EXPORTER_SHARE or "5.5 million" not in us["unit_or_note"]:
        raise ValueError("literature file no longer states 4% of 5.5 million US firms export")
    if "4" not in scal["aggregate_trade_elasticity_theta"]["value"]:
        raise ValueError("literature file no longer states a trade elasticity of about 4")
    bjrs = read_rows(shared / LIT / "exporter_share_us_manufacturing_bjrs.csv")
    return {r["naics3"]: float(r["exporting_firm_share_2002_pct"]) for r in bjrs}


def exporter_shares(bjrs: dict[str, float]) -> dict[str, float]:
    return {code: US_ALL_FIRMS_EXPORTER_SHARE * math.fsum(bjrs[n] for n in naics) / len(naics)
            / bjrs["ALL"] for code, _, _, naics in SECTORS}


def output_by_origin_sector(flows) -> dict[tuple[str, str], float]:
    return {(i, k): math.fsum(flows[(i, d, k)] for d in REGION_CODES)
            for i in REGION_CODES for k in SECTOR_CODES}


def build_firms(flows) -> dict[tuple[str, str], int]:
    output = output_by_origin_sector(flows)
    us_total = math.fsum(output[("USA", k)] for k in SECTOR_CODES)
    return {key: max(1, math.floor(US_FIRMS_2000 * y / us_total + 0.5))
            for key, y in output.items()}


def build_participation(flows, exp_share) -> dict[tuple[str, str, str], float]:
    out = {}
    for o, d, k in cells():
        if o == d:
            out[(o, d, k)] = 1.0
            continue
        top = max(flows[(o, n, k)] for n in REGION_CODES if n != o)
        ratio = flows[(o, d, k)] / top if top > 0 else 0.0
        out[(o, d, k)] = max(exp_share[k] * math.sqrt(ratio), PARTICIPATION_FLOOR)
    return out


# ----------------------------------------------------------------------------- writers
def write_regions(out: Path, gdp_m) -> None:
    write_csv(out / "regions.csv", ["code", "name", "gdp_usd_m"],
              [[c, n, fmt(gdp_m[c])] for c, n in REGIONS])


def write_sectors(out: Path, exp_share) -> None:
    sigma = 1.0 + THETA / EKK_THETA_OVER_SIGMA_MINUS_1
    rows = [[code, name, chapters_text(ranges), fmt(sigma), fmt(THETA), fmt(SHOCK_DEMAND_SD),
             fmt(SHOCK_COST_SD), fmt(SHOCK_CORR), fmt(exp_share[code])]
            for code, name, ranges, _ in SECTORS]
    write_csv(out / "sectors.csv", ["code", "name", "hs_chapters", "sigma", "theta",
                                    "shock_demand_sd", "shock_cost_sd", "shock_corr",
                                    "exporter_share"], rows)


def write_cells(out: Path, name: str, column: str, values) -> None:
    write_csv(out / name, ["origin", "destination", "sector", column],
              [[o, d, k, fmt(values[(o, d, k)])] for o, d, k in cells()])


def write_firms(out: Path, firms) -> None:
    write_csv(out / "firms.csv", ["origin", "sector", "firms"],
              [[i, k, str(firms[(i, k)])] for i in REGION_CODES for k in SECTOR_CODES])


def write_sources_and_license(shared: Path, out: Path) -> None:
    lines = [f"{name}: {'; '.join(src)}" for name, src in SOURCES.items()]
    (out / "SOURCES.txt").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    (out / "LICENSE-tradewartracker.txt").write_bytes((shared / CENSUS / "LICENSE").read_bytes())


# ----------------------------------------------------------------------------- build
def build(shared: Path, out: Path) -> dict:
    """Write every file of the default calibration into ``out``; return the built tables."""
    shared, out = Path(shared), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    isos, gdp, trade = read_baci(shared)
    gdp_m = region_gdp_usd_m(isos, gdp)
    pairs = region_pair_totals_usd_m(isos, trade)
    census, notes = load_census(shared)
    exp_share = exporter_shares(check_literature(shared))
    flows = build_flows(pairs, gdp_m, census_origin_mix(census["2024_imports"]))
    tariffs = build_tariffs(census)
    firms = build_firms(flows)
    participation = build_participation(flows, exp_share)
    write_regions(out, gdp_m)
    write_sectors(out, exp_share)
    write_cells(out, "flows.csv", "value_usd_m", flows)
    write_cells(out, "tariffs.csv", "rate", tariffs)
    write_firms(out, firms)
    write_cells(out, "participation.csv", "share", participation)
    write_sources_and_license(shared, out)
    return {"gdp_usd_m": gdp_m, "pair_totals_usd_m": pairs, "census": census, "notes": notes,
            "exporter_share": exp_share, "flows": flows, "tariffs": tariffs, "firms": firms,
            "participation": participation}


# ----------------------------------------------------------------------------- report
def key_checks(res: dict) -> list[str]:
    flows, pairs, tariffs, firms = res["flows"], res["pair_totals_usd_m"], res["tariffs"], res["firms"]
    lines = [f"BACI 2023 JPN->USA total: {pairs[('JPN', 'USA')]:,.1f} USD m (expect ~141,400)",
             f"BACI 2023 USA->JPN total: {pairs[('USA', 'JPN')]:,.1f} USD m (expect ~75,600)"]
    jp = [flows[("JPN", "USA", k)] for k in SECTOR_CODES]
    lines.append("JPN->USA sector split (Census 2024 shares) and US 2024 effective tariff on JPN:")
    for k, v, s in zip(SECTOR_CODES, jp, shares(jp)):
        lines.append(f"  {k:24s} {v:12,.1f} USD m  {100 * s:5.1f}%  tariff {100 * tariffs[('JPN', 'USA', k)]:.3f}%")
    lines.append("region: GDP, imports from other regions, domestic cell (USD m), firms:")
    for r in REGION_CODES:
        imp = math.fsum(pairs[(o, r)] for o in REGION_CODES if o != r)
        dom = math.fsum(flows[(r, r, k)] for k in SECTOR_CODES)
        nf = sum(firms[(r, k)] for k in SECTOR_CODES)
        lines.append(f"  {r:4s} GDP {res['gdp_usd_m'][r]:14,.0f}  imports {imp:12,.0f}  "
                     f"domestic {dom:14,.0f}  firms {nf:>11,d}")
    zero = [c for c, v in flows.items() if v == 0.0]
    lines.append(f"zero flow cells: {len(zero)} {zero[:10]}")
    zero_census = [key for key, v in res["census"]["2024_imports"].items() if v == 0.0]
    lines.append(f"zero Census (region, sector) import cells: {len(zero_census)} {zero_census[:10]}")
    lines.extend(f"note: {n}" for n in res["notes"])
    return lines


# ----------------------------------------------------------------------------- check mode
def diff_dirs(built: Path, current: Path) -> list[str]:
    """Human-readable differences between two output directories (empty = identical)."""
    names_b = {p.name for p in built.iterdir() if p.is_file()}
    names_c = {p.name for p in current.iterdir() if p.is_file()} if current.is_dir() else set()
    report = [f"missing in {current}: {n}" for n in sorted(names_b - names_c)]
    report += [f"not produced by the build: {n}" for n in sorted(names_c - names_b)]
    for n in sorted(names_b & names_c):
        a, b = (current / n).read_bytes(), (built / n).read_bytes()
        if a != b:
            diff = list(difflib.unified_diff(a.decode(errors="replace").splitlines(),
                                             b.decode(errors="replace").splitlines(),
                                             f"{current}/{n}", f"rebuilt/{n}", n=0, lineterm=""))
            changed = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
            report.append(f"differs: {n} ({changed} changed line(s))")
            report.extend("    " + line for line in diff[:12])
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "default")
    ap.add_argument("--check", action="store_true",
                    help="rebuild into a temp dir; exit 1 if anything differs from --out")
    args = ap.parse_args(argv)
    if not args.check:
        res = build(args.shared, args.out)
        print("\n".join(key_checks(res)))
        print(f"wrote {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        res = build(args.shared, Path(tmp))
        print("\n".join(key_checks(res)))
        report = diff_dirs(Path(tmp), args.out)
    if report:
        print(f"CHECK FAILED: {args.out} differs from a fresh build:\n" + "\n".join(report))
        return 1
    print(f"check OK: {args.out} matches a fresh build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
