"""Write the world tables in ``data/world/`` from the source data (run once; not used at run time).

Usage::

    python data/world/make_world_tables.py SOURCE_DATA_DIR [--check]

``SOURCE_DATA_DIR`` holds the source folders named in ``data/world/PROVENANCE.md``
(``ilms2025_baci2023/``, ``us_census_2024_hs2/``, ``literature/``).  The engine never reads them: it
reads only the tables written here.  Numbers are copied as the source wrote them (the same text), so
sums over them are exactly the sums over the sources.  ``--check`` exits 1 if a committed table
differs from a fresh build.

Tables written (see PROVENANCE.md):

* ``countries.csv`` -- iso3, name, gdp_usd: the 194 countries of the BACI 2023 pair table, in its
  order, with World Bank GDP (current USD).
* ``baci_2023_pairs.csv`` -- exporter, importer, value_kusd: every non-empty cell of the 194 x 194
  BACI 2023 matrix (thousand USD; empty cells are 0 and left out).
* ``us_imports_2024_hs2.csv`` -- cty_code, iso3, hs2, imports_usd, duty_usd: US 2024 imports and duties
  collected by Census partner code and HS chapter.  The "EUROPEAN UNION" aggregate file (0003) is left
  out (it double counts its 27 members; the script checks that they sum to it).  ``iso3`` from the
  Census country mapping; the EU list's codes 4371 (Slovakia) and 4600 (Malta) have no data file and
  are resolved by name (4359, 4730); codes missing from the mapping (5082 Gaza Strip, 5083 West Bank)
  get an empty iso3 (they go to the rest of the world).
* ``census_countries.csv`` -- cty_code, cty_name, iso3: the partner names as the Census files give them.
* ``annex_I_2025-04-02.csv``, ``bjrs_exporter_shares.csv``, ``literature_scalars.csv``,
  ``LICENSE-tradewartracker.txt``: verbatim copies.
"""

import argparse
import csv
import io
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EU27 = set("AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT NLD "
           "POL PRT ROU SVK SVN ESP SWE".split())
EU_AGGREGATE = "0003"


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def csv_text(header, body):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()


def build(src):
    """File name -> text (or bytes) of every world table."""
    src = Path(src)
    baci, census, lit = src / "ilms2025_baci2023", src / "us_census_2024_hs2", src / "literature"
    labels = rows(baci / "country_labels.csv")
    gdp = [r["gdp"] for r in rows(baci / "gdp.csv")]
    isos = [r["iso3"] for r in labels]
    out = {"countries.csv": csv_text(["iso3", "name", "gdp_usd"],
                                     [[r["iso3"], r["CountryName"], g] for r, g in zip(labels, gdp)])}
    with open(baci / "trade_cepii.csv", newline="", encoding="utf-8") as f:
        matrix = list(csv.reader(f))[1:]
    assert len(matrix) == len(isos) == len(gdp) and all(len(r) == len(isos) for r in matrix)
    pairs = [[isos[a], isos[b], v.strip()] for a, row in enumerate(matrix) for b, v in enumerate(row)
             if v.strip() and float(v) != 0.0]
    assert all(a != b for a, b, _ in pairs), "BACI diagonal must be empty"
    out["baci_2023_pairs.csv"] = csv_text(["exporter", "importer", "value_kusd"], pairs)

    files = {p.stem[len("hs2-tariff-"):]: rows(p) for p in sorted((census / "data-hs2").glob("hs2-tariff-*.csv"))}
    mapping = {r["CTY_CODE"]: r for r in rows(census / "data" / "CensusCountryMapping_FRBAtl_short.csv")
               if r["CTY_CODE"]}
    by_name = {r["country"].lower(): c for c, r in mapping.items()}
    eu_codes = set()
    for r in rows(census / "data" / "eu-list.csv"):
        code = r["CTY_CODE"] if r["CTY_CODE"] in files else by_name[r["CTY_NAME"].lower()]
        eu_codes.add(code)
    assert {mapping[c]["ISO3"] for c in eu_codes} == EU27, "eu-list.csv must give the 27 members"
    total = lambda code: math.fsum(float(r["2024_imports"] or 0.0) for r in files[code])  # noqa: E731
    members, aggregate = math.fsum(total(c) for c in eu_codes), total(EU_AGGREGATE)
    assert abs(members - aggregate) <= 1e-9 * aggregate, (members, aggregate)
    body, names = [], []
    for code in sorted(set(files) - {EU_AGGREGATE}):
        iso3 = mapping[code]["ISO3"] if code in mapping else ""
        assert iso3 != "USA"
        names.append([code, files[code][0]["CTY_NAME"], iso3])
        for r in files[code]:
            body.append([code, iso3, r["HS2"], r["2024_imports"] or "0", r["2024_duty"] or "0"])
    out["us_imports_2024_hs2.csv"] = csv_text(["cty_code", "iso3", "hs2", "imports_usd", "duty_usd"], body)
    out["census_countries.csv"] = csv_text(["cty_code", "cty_name", "iso3"], names)
    out["annex_I_2025-04-02.csv"] = (census / "tariff-lists" / "reciprocal-tariffs-annex-I.csv").read_bytes()
    out["bjrs_exporter_shares.csv"] = (lit / "exporter_share_us_manufacturing_bjrs.csv").read_bytes()
    out["literature_scalars.csv"] = (lit / "scalar_parameters_from_literature.csv").read_bytes()
    out["LICENSE-tradewartracker.txt"] = (census / "LICENSE").read_bytes()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    differ = []
    for name, content in build(args.source).items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        if args.check:
            if not (HERE / name).is_file() or (HERE / name).read_bytes() != data:
                differ.append(name)
        else:
            (HERE / name).write_bytes(data)
    if differ:
        print("differ from a fresh build: " + ", ".join(differ))
        return 1
    print("check OK" if args.check else f"wrote {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
