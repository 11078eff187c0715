"""Write a calibration folder: the six tables (fixed row order, floats with 10 significant digits,
``\\n`` line ends, so a rebuild is byte-identical), ``SOURCES.txt``, the licence notice of the
Census-derived tables, and a README saying table by table what is real and what is a proxy."""

import csv
import io
import math

from engine.calibration.builder import world as W
from engine.calibration.builder.derive import PARTICIPATION_FLOOR, fmt
from engine.calibration.builder.spec import chapters_text
from engine.paths import world_dir


def _write_csv(path, header, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


def _cells(regions, sectors):
    return [(o, d, k) for o in range(len(regions)) for d in range(len(regions)) for k in range(len(sectors))]


def write_all(folder, rspec, sspec, gdp_m, flows, rates, firms, participation, exp_share, members):
    """The six tables of ``engine.calibration.data`` (see its module docstring for the format);
    ``members``: each region's ISO3 codes (``ROW`` resolved)."""
    R, S = rspec.codes, sspec.codes
    _write_csv(folder / "regions.csv", ["code", "name", "gdp_usd_m", "members"],
               [[r.code, r.name, fmt(g), " ".join(m)] for r, g, m in zip(rspec.regions, gdp_m, members)])
    sigma = W.SIGMA
    _write_csv(folder / "sectors.csv", ["code", "name", "hs_chapters", "sigma", "theta", "shock_demand_sd",
                                        "shock_cost_sd", "shock_corr", "exporter_share", "eta"],
               [[s.code, s.name, chapters_text(s.chapters), fmt(sigma), fmt(W.THETA), fmt(W.SHOCK_DEMAND_SD),
                 fmt(W.SHOCK_COST_SD), fmt(W.SHOCK_CORR), fmt(e), fmt(W.ETA)]
                for s, e in zip(sspec.sectors, exp_share)])
    for name, column, values in (("flows.csv", "value_usd_m", flows), ("tariffs.csv", "rate", rates),
                                 ("participation.csv", "share", participation)):
        _write_csv(folder / name, ["origin", "destination", "sector", column],
                   [[R[o], R[d], S[k], fmt(values[o, d, k])] for o, d, k in _cells(R, S)])
    _write_csv(folder / "firms.csv", ["origin", "sector", "firms"],
               [[R[i], S[k], str(int(firms[i, k]))] for i in range(len(R)) for k in range(len(S))])
    (folder / "LICENSE-tradewartracker.txt").write_bytes((world_dir() / "LICENSE-tradewartracker.txt").read_bytes())


PRODUCTS_HEADER = ["origin", "destination", "sector", "product", "value_usd_m"]


def write_products(folder, rspec, sspec, census, baci_products=None):
    """``products.csv``: the weights that turn a scenario's HS lists into coverage shares (docs/model.md
    section 9.2). From a raw BACI file (``baci_products``): every foreign cell by HS6 product, USD
    million; otherwise US imports by (origin region, HS chapter) in 2024 (Census), written only when the
    USA is a region of its own."""
    of_chapter = sspec.sector_of_chapter()
    if baci_products is not None:
        rows = [[rspec.codes[o], rspec.codes[d], sspec.codes[of_chapter[k // 10_000]], f"{k:06d}", fmt(v / 1e3)]
                for o, d, k, v in baci_products.iter_rows() if v > 0]
        _write_csv(folder / "products.csv", PRODUCTS_HEADER, rows)
        return
    usa = rspec.single("USA")
    if usa is None:
        return
    rows = [[rspec.codes[o], rspec.codes[usa], sspec.codes[of_chapter[ch]], f"{ch:02d}", fmt(value / 1e6)]
            for o in range(len(rspec.codes)) if o != usa for ch, value in census["by_chapter"][o].items() if value > 0]
    _write_csv(folder / "products.csv", PRODUCTS_HEADER, rows)


def write_sources(folder, rspec, sspec, context):
    """``SOURCES.txt``: per table, the world tables (``data/world/``) and user files it comes from."""
    baci = (f"{context['baci']} (BACI {context['year']}, by HS6 product); {context['baci_countries']}"
            if context["baci"] else "world/baci_2023_pairs.csv")
    census = "world/us_imports_2024_hs2.csv"
    gdp = "world/countries.csv" + (f"; {context['gdp']}" if context["gdp"] else "")
    lines = {
        "regions.csv": f"{gdp}; world/groups.csv" + (f"; {context['groups']}" if context["groups"] else ""),
        "sectors.csv": "world/literature_scalars.csv; world/bjrs_exporter_shares.csv; "
                       "EKK (2011) Econometrica Table 3 (transcribed)",
        "flows.csv": f"{baci}; {gdp}" + ("" if context["baci"] else f"; {census}"),
        "tariffs.csv": census + (f"; {context['tariffs']}" if context["tariffs"] else ""),
        "products.csv": baci if context["baci"] else census,
        "firms.csv": "flows.csv (above); world/literature_scalars.csv",
        "participation.csv": "flows.csv (above); sectors.csv exporter_share (above)",
        "LICENSE-tradewartracker.txt": "world/LICENSE-tradewartracker.txt",
    }
    text = "".join(f"{name}: {src}\n" for name, src in lines.items())
    text += f"regions spec: {_spec_text(rspec)}\nsectors spec: {sspec.source}\n"
    (folder / "SOURCES.txt").write_text(text, encoding="utf-8", newline="")


def _spec_text(rspec):
    return rspec.text or rspec.source


def write_readme(folder, rspec, sspec, gdp_m, flows, rates, firms, context):
    """The folder's README: regions, sectors, and table by table what is real and what is a proxy."""
    R, K = len(rspec.regions), len(sspec.sectors)
    raw = context["baci"] is not None
    usa = rspec.single("USA")
    labels = context["labels"]
    count = lambda what: sum(1 for v in labels.flat if v == what)  # noqa: E731
    out = ["# Calibration data", "",
           f"Built by `engine calibrate`: {R} regions x {K} sectors. Values in USD million per year, tariffs and "
           "shares as fractions, firms as counts. The sources are the world tables shipped with the engine "
           "(`data/world/`, see its PROVENANCE.md)" + (" and the user's raw files named below." if raw else "."),
           "", "## Regions", "", "| code | name | countries | GDP (USD m) |", "| --- | --- | --- | ---: |"]
    for r, g in zip(rspec.regions, gdp_m):
        members = ", ".join(r.members) if len(r.members) <= 12 else f"{len(r.members)} countries"
        out.append(f"| {r.code} | {r.name} | {members} | {g:,.0f} |")
    out += ["", "## Sectors", "", "| code | name | HS chapters |", "| --- | --- | --- |"]
    out += [f"| {s.code} | {s.name} | {chapters_text(s.chapters)} |" for s in sspec.sectors]
    year = context["year"]
    pairs = (f"**real**: BACI {year} from `{context['baci']}` summed by product and member country, / 1000"
             if raw else "**real**: BACI 2023 country-pair totals summed over member countries, / 1000")
    split = ("**real**: each (exporter, importer, HS6 product) row of the BACI file goes to its sector, so the "
             "sector detail is bilateral" if raw else
             "**real for destination USA, proxy elsewhere**: the origin's sector mix of US imports from it (Census "
             "2024, `us_imports_2024_hs2.csv`), applied to every destination; 2024 shares on 2023 levels"
             + "; exporters without Census imports (the USA) get the mix of all US imports")
    out += ["", "## Tables: real or proxy", "",
            "| table | what | real or proxy, and the rule |", "| --- | --- | --- |",
            "| regions.csv | `gdp_usd_m` | **real**: sum of member GDP (World Bank WDI 2023, current USD"
            + (f"; replaced from `{context['gdp']}` where it has a value" if context["gdp"] else "") + ") / 1e6 |",
            f"| sectors.csv | `sigma`, `theta` | **fitted, same for every sector**: sigma = {W.SIGMA:g} fitted to the "
            "tariff evidence (Boehm, Levchenko & Pandalai-Nayar 2023, Fajgelbaum et al. 2020; `python "
            "data/identify_dynamics.py --elasticities`, docs/model.md section 11.8); theta = 2.46 (sigma - 1) "
            "keeps the firm-size tail theta/(sigma-1) = 2.46 of Eaton, Kortum & Kramarz 2011 Table 3 |",
            "| sectors.csv | `eta` | **literature**: eta = 1 between domestic goods and imports: Feenstra, Luck, "
            "Obstfeld & Russ (2018) find the macro elasticity below the micro one and not different from one for "
            "about half of goods; GTAP's rule of two (eta = sigma / 2) would make them complements at the fitted "
            "sigma (docs/model.md section 6.5) |",
            "| sectors.csv | `shock_*` | **literature**: EKK (2011) Table 3 (1.69, 0.34, -0.65), French firms, "
            "one aggregate |",
            "| sectors.csv | `exporter_share` | **proxy**: 0.04 x BJRS_k / 18 (4% of US firms export, "
            "Hernandez-Murillo 2007; BJRS 2007 Table 2 by NAICS-3); US numbers for every origin |",
            f"| flows.csv | foreign pair totals | {pairs}; trade inside a region is not trade between regions |",
            f"| flows.csv | sector split of foreign pairs | {split} |",
            "| flows.csv | domestic cells | **proxy**: max(GDP - imports from the other regions, 0) (the rule of "
            "Ignatenko, Macedoni, Lashkaripour & Simonovska 2025, without their tariff/deficit term), split by "
            "the region's own import mix; GDP includes services, so this is absorption |",
            "| tariffs.csv | destination USA | " + (
                f"**real** ({count('real')} cells): US 2024 effective applied rate = duties / imports (Census) over "
                "the origin's countries and the sector's chapters |" if usa is not None else
                "the USA is not a region of its own: no real US rates are used |"),
            f"| tariffs.csv | every other importer | **proxy** ({count('proxy')} cells): the US 2024 effective rate in "
            "the sector on imports from all partners except CAN, MEX, KOR (FTAs) and CHN (Section 301), a stand-in "
            "for MFN applied rates: " + ", ".join(f"{s.code} {100 * m:.3f}%" for s, m in zip(sspec.sectors,
                                                                                             context["mfn"])) + " |",
            "| tariffs.csv | domestic cells | 0 |"]
    if count("user"):
        out.append(f"| tariffs.csv | user cells | **user** ({count('user')} cells) from `{context['tariffs']}` |")
    out += ["| firms.csv | `firms` | **proxy**: 5.5 million x output / US output (5.5 million US firms in 2000, "
            "Hernandez-Murillo 2007), output = flows summed over destinations incl. domestic; rounded, min 1 |",
            f"| participation.csv | `share` | **proxy**: 1 at home; abroad exporter_share x sqrt(flow / the origin's "
            f"largest foreign flow), floored at {PARTICIPATION_FLOOR:g} (EKK 2011 fact (i); the square root is our "
            "assumption) |",
            "| products.csv | `value_usd_m` | " + (
                f"**real**: BACI {year} by (exporter region, importer region, HS6 product), / 1000; the weights "
                "of a scenario's `products` lists (docs/model.md section 9.2) |" if raw else
                "**real**, destination USA only: US 2024 imports by HS chapter from the origin's countries (Census, "
                "`us_imports_2024_hs2.csv`); the weights of a scenario's `products` lists (docs/model.md section "
                "9.2); other destinations have none |" if usa is not None else
                "not written: the USA is not a region of its own |"), "",
            "Every row order is origin, destination, sector, in the orders above; domestic cells are included. "
            "Flows are rounded to 10 significant digits before firms and participation are computed from them.",
            "", "## Checks", ""]
    for r, g in zip(rspec.regions, gdp_m):
        j = rspec.codes.index(r.code)
        imports = math.fsum(flows[o, j].sum() for o in range(R) if o != j)
        exports = math.fsum(flows[j, d].sum() for d in range(R) if d != j)
        out.append(f"- {r.code}: imports {imports:,.0f}, exports {exports:,.0f}, domestic {flows[j, j].sum():,.0f} "
                   f"USD m; {int(firms[j].sum()):,} firms")
    if context["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in context["notes"]]
    (folder / "README.md").write_text("\n".join(out) + "\n", encoding="utf-8", newline="")
