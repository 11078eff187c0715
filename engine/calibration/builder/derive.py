"""The calibration rules: from country-level data and a region/sector spec to the tables a run needs
(regions, sectors, flows, tariffs, firms, participation).

Every rule below is stated, with its source, in the README each calibration folder gets
(``engine.calibration.builder.output.write_readme``) and in ``data/README.md``. Sums are ``math.fsum`` (exactly rounded,
so independent of the order of the data); flows are rounded to 10 significant digits before firms and
participation are computed from them, so both can be reproduced from ``flows.csv`` alone.

Flows (USD million per year):

- Foreign pair totals ``T[o, d]`` = BACI summed over the member countries of the two regions / 1000;
  trade between two countries of one region is not trade between regions (it belongs in the domestic
  cell).
- Sector detail: from a raw BACI file (real, by HS6 product and pair) when given; otherwise the origin's
  sector mix of US imports from it (Census 2024): ``X[o, d, k] = T[o, d] * s[o, k]`` (real for ``d`` =
  USA, a proxy for other destinations); a region with no Census imports (the USA) gets the mix of all
  US imports (proxy).
- Domestic cell (the rule of Ignatenko, Macedoni, Lashkaripour & Simonovska 2025, without their small
  tariff/deficit term): ``X[i, i] = max(GDP_i - M_i, 0)`` split by ``i``'s own import mix.

Tariffs (fractions): destination USA (a one-country region), origin not the USA: US 2024 effective
applied rate, duties / imports over the origin's Census partners and the sector's chapters (real).
Any other importer: the US 2024 effective rate in the sector on imports from every partner except
Canada, Mexico, Korea (free-trade agreements) and China (Section 301), a stand-in for MFN applied rates
(proxy). Domestic cells 0. A user's tariff table replaces any of these cells.
"""

import math

import numpy as np

from engine.calibration.builder import world as W
from engine.errors import InputError

PARTICIPATION_FLOOR = 1e-6
#: US partners left out of the MFN proxy: FTA partners and China (Section 301 duties).
MFN_PROXY_EXCLUDED = ("CAN", "MEX", "KOR", "CHN")


def fmt(x):
    """Fixed float format: 10 significant digits, no negative zero."""
    s = format(float(x), ".10g")
    return "0" if s == "-0" else s


def round10(x):
    return float(fmt(x))


def _shares(values):
    total = math.fsum(values)
    return [v / total for v in values]


def region_gdp_usd_m(regions, gdp_usd):
    """GDP of each region (USD million): fsum of its members' GDP; members without GDP are listed."""
    out, missing = [], []
    for region in regions.regions:
        parts = []
        for iso in region.members:
            if iso in gdp_usd:
                parts.append(gdp_usd[iso])
            else:
                missing.append(iso)
        out.append(math.fsum(parts) / 1e6)
    return out, missing


def pair_totals_usd_m(regions, pairs):
    """``T[o][d]`` (USD million) from country pairs (thousand USD); same-region pairs dropped."""
    index = regions.region_index()
    R = len(regions.regions)
    parts = [[[] for _ in range(R)] for _ in range(R)]
    for exporter, importer, value in pairs:
        o, d = index.get(exporter), index.get(importer)
        if o is not None and d is not None and o != d:
            parts[o][d].append(value)
    return [[math.fsum(p) / 1e3 for p in row] for row in parts]


def census_by_region_sector(regions, sectors, census, rest):
    """US 2024 imports and duties (USD) by (origin region, sector), and by sector for the MFN proxy;
    ``by_chapter[r]``: imports from region r by HS chapter (the ``products`` table's weights).

    A Census partner whose ISO3 is in no region goes to ``rest`` (the ROW index) or is dropped when
    there is none.
    """
    index = regions.region_index()
    of_chapter = sectors.sector_of_chapter()
    R, K = len(regions.regions), len(sectors.sectors)
    imports = [[[] for _ in range(K)] for _ in range(R)]
    duty = [[[] for _ in range(K)] for _ in range(R)]
    chapters = [{} for _ in range(R)]
    mfn_imports, mfn_duty = [[] for _ in range(K)], [[] for _ in range(K)]
    for _code, iso, chapter, imp, dut in census:
        k = of_chapter[chapter]
        r = index.get(iso, rest)
        if r is not None:
            imports[r][k].append(imp)
            duty[r][k].append(dut)
            chapters[r].setdefault(chapter, []).append(imp)
        if iso not in MFN_PROXY_EXCLUDED:
            mfn_imports[k].append(imp)
            mfn_duty[k].append(dut)
    fs = lambda grid: [[math.fsum(c) for c in row] for row in grid]  # noqa: E731
    return {"imports": fs(imports), "duty": fs(duty),
            "mfn_imports": [math.fsum(c) for c in mfn_imports], "mfn_duty": [math.fsum(c) for c in mfn_duty],
            "by_chapter": [{ch: math.fsum(v) for ch, v in sorted(row.items())} for row in chapters]}


def census_origin_mix(census):
    """``s[o][k]``: sector mix of US imports from region o; regions without Census imports get the
    mix of all US imports. Returns the mixes and the indices that got the fallback."""
    imports = census["imports"]
    K = len(imports[0])
    total_mix = _shares([math.fsum(row[k] for row in imports) for k in range(K)])
    mix, fallback = [], []
    for r, row in enumerate(imports):
        if math.fsum(row) > 0:
            mix.append(_shares(row))
        else:
            mix.append(total_mix)
            fallback.append(r)
    return mix, fallback


def build_flows(regions, gdp_m, foreign):
    """Complete the flows: ``foreign[o][d][k]`` (USD million, o != d) plus the domestic rule.

    Returns
    -------
    ndarray (R, R, K)
        Rounded to 10 significant digits.
    """
    R, K = len(foreign), len(foreign[0][0])
    flows = [[list(foreign[o][d]) if o != d else [0.0] * K for d in range(R)] for o in range(R)]
    for i in range(R):
        imports_k = [math.fsum(flows[o][i][k] for o in range(R) if o != i) for k in range(K)]
        total = math.fsum(imports_k)
        if total <= 0:
            raise InputError(regions.source, f"region {regions.regions[i].code!r} imports nothing from the other "
                                             "regions, so its domestic sales cannot be split by sector; "
                                             "merge it into another region")
        domestic = max(gdp_m[i] - total, 0.0)
        for k, s in enumerate(_shares(imports_k)):
            flows[i][i][k] = domestic * s
    return np.array([[[round10(v) for v in cell] for cell in row] for row in flows])


def build_tariffs(regions, census):
    """Baseline tariffs ``rate[o, d, k]`` by the rules of the module docstring; also a (R, R, K)
    array of source labels ('real', 'proxy', 'zero')."""
    R, K = len(regions.regions), len(census["mfn_imports"])
    rate = lambda duty, imp: duty / imp if imp > 0 else 0.0  # noqa: E731
    mfn = [rate(census["mfn_duty"][k], census["mfn_imports"][k]) for k in range(K)]
    usa = regions.single("USA")
    out = np.zeros((R, R, K))
    label = np.full((R, R, K), "proxy", dtype=object)
    for o in range(R):
        for d in range(R):
            for k in range(K):
                if o == d:
                    label[o, d, k] = "zero"
                elif d == usa:
                    out[o, d, k] = rate(census["duty"][o][k], census["imports"][o][k])
                    label[o, d, k] = "real"
                else:
                    out[o, d, k] = mfn[k]
    return out, label, mfn


def exporter_shares(sectors, bjrs):
    """Share of a sector's firms that sell in the origin's largest foreign market:
    ``0.04 * BJRS_k / BJRS_ALL`` (Hernandez-Murillo 2007; Bernard, Jensen, Redding & Schott 2007,
    Table 2), BJRS_k the mean over the sector's NAICS-3 industries; or the spec's own share."""
    out = []
    for s in sectors.sectors:
        if s.exporter_share is not None:
            out.append(s.exporter_share)
            continue
        unknown = [n for n in s.naics3 if n not in bjrs]
        if unknown:
            raise InputError(sectors.source, f"sector {s.code!r}: unknown NAICS-3 industry {unknown[0]!r}; "
                                             f"allowed: {', '.join(bjrs)}", "naics3")
        out.append(W.US_ALL_FIRMS_EXPORTER_SHARE * math.fsum(bjrs[n] for n in s.naics3) / len(s.naics3)
                   / bjrs["ALL"])
    return out


def build_firms(regions, flows, gdp_m):
    """``firms[i, k] = 5.5e6 * Y[i, k] / Y_USA`` rounded half up, min 1 (Hernandez-Murillo 2007: 5.5
    million US firms), ``Y`` = output (all destinations incl. domestic). When the USA is not a
    region of its own, ``Y_USA`` = the output of its region x the US share of that region's GDP."""
    R, K = flows.shape[0], flows.shape[2]
    output = [[math.fsum(flows[i, :, k]) for k in range(K)] for i in range(R)]
    usa = regions.single("USA")
    if usa is not None:
        us_total = math.fsum(output[usa])
    else:
        owner = regions.region_index().get("USA")
        if owner is None:
            raise InputError(regions.source, "the USA is in no region (and there is no ROW): firm counts are "
                                             "scaled to the 5.5 million US firms; include the USA or ROW")
        us_gdp = W.load_world().gdp_usd["USA"] / 1e6
        us_total = math.fsum(output[owner]) * us_gdp / gdp_m[owner]
    return np.array([[max(1, math.floor(W.US_FIRMS_2000 * y / us_total + 0.5)) for y in row] for row in output])


def build_participation(flows, exp_share):
    """Share of (origin, sector) firms selling in each destination: 1 at home; abroad
    ``exporter_share_k * sqrt(X_ink / max_{n != i} X_ink)``, floored at 1e-6 (EKK 2011 fact (i);
    the square root is our stated assumption; ``engine.calibration.data.default_participation``)."""
    R, K = flows.shape[0], flows.shape[2]
    out = np.ones(flows.shape)
    for o in range(R):
        for k in range(K):
            top = max(flows[o, n, k] for n in range(R) if n != o)
            for d in range(R):
                if d != o:
                    ratio = flows[o, d, k] / top if top > 0 else 0.0
                    out[o, d, k] = max(exp_share[k] * math.sqrt(ratio), PARTICIPATION_FLOOR)
    return out
