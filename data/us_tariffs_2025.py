"""The derived numbers of ``data/scenarios/us_tariffs_2025.toml`` and its check against duties collected.

Usage::

    python data/us_tariffs_2025.py            # ROW's rates and the June 2025 effective rates table
    python data/us_tariffs_2025.py --check    # exit 1 if the scenario's ROW rates differ from these
    python data/us_tariffs_2025.py --run DIR  # also duties over imports in a run's own flows

**ROW's reciprocal rates.** The rest of the world is one region; its rate is the average of its
countries' rates weighted by US 2024 imports from them (Census, ``data/world/us_imports_2024_hs2.csv``)
in the chapters the reciprocal tariff applies to in the scenario (all but 27 energy, 30
pharmaceuticals, 72-73 steel, 74 copper, 76 aluminium and 87 vehicles: Annex II of EO 14257 and the
Section 232 goods). April: Annex I of EO 14257 (``annex_I_2025-04-02.csv``); August: Annex I of EO
14326 (``annex_I_2025-07-31.csv``); countries in neither pay the 10 % baseline.

**Effective rates.** The engine's US tariff on each partner in a month, trade-weighted over sectors
and parts of sectors at the calibration's baseline weights (the ``avg`` of ``engine scenarios
show``), next to published duties collected over imports (``PUBLISHED``). Nothing is fitted to them.
"""

import argparse
import math
import re
import sys
import tomllib
from pathlib import Path

import numpy as np

from engine.calibration.builder.spec import DEFAULT_REGIONS, ROW, parse_regions
from engine.calibration.builder.world import annex_i_rates, load_world
from engine.paths import world_dir

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "us_tariffs_2025.toml"
FLOOR = 10.0
#: chapters the scenario's reciprocal tariff does not apply to (Annex II, Section 232 goods)
NOT_RECIPROCAL = {27, 30, 72, 73, 74, 76, 87}
#: Census names of the countries the EO 14326 annex writes otherwise
NAMES = {"CÔTE D`IVOIRE": "COTE D'IVOIRE", "MYANMAR (BURMA)": "BURMA", "NORTH MACEDONIA": "MACEDONIA",
         "FALKLAND ISLANDS": "FALKLAND ISLANDS (ISLAS MALVINAS)", "SOUTH KOREA": "KOREA, SOUTH"}

#: Duties collected over imports, June 2025, percent: "Tariffs charged at US customs: top 10 exporters"
#: (Opportimes, 2025), from U.S. Department of Commerce (Census) data: tariffs collected / imports for
#: the month. The EU and the UK are not in its table (Germany: 11.8).
PUBLISHED = {"CHN": 40.3, "JPN": 15.9, "KOR": 12.4, "IND": 8.5, "MEX": 4.0, "CAN": 2.4}


def _august_rates():
    """Census country code -> EO 14326 Annex I rate in percent (countries with a plain rate)."""
    import csv

    by_name = {}
    with open(world_dir() / "annex_I_2025-07-31.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            match = re.fullmatch(r"\s*([0-9.]+)%\s*", row["reciprocal_tariff_adjusted_text"])
            if match:
                name = row["country_or_territory"].upper()
                by_name[NAMES.get(name, name)] = float(match.group(1))
    with open(world_dir() / "census_countries.csv", newline="", encoding="utf-8") as f:
        return {r["cty_code"]: by_name[r["cty_name"]] for r in csv.DictReader(f) if r["cty_name"] in by_name}


def row_rates():
    """ROW's import-weighted reciprocal rate in percent: (April 2025 Annex I, August 2025 EO 14326)."""
    world = load_world()
    regions = parse_regions(DEFAULT_REGIONS, world.countries, world.groups)
    of_iso, rest = regions.region_index(), regions.codes.index(ROW)
    april = {code: rate for code, (_name, rate) in annex_i_rates().items()}
    august = _august_rates()
    weights, apr, aug = [], [], []
    for code, iso, chapter, imports, _duty in world.census:
        if of_iso.get(iso, rest) == rest and chapter not in NOT_RECIPROCAL:
            weights.append(imports)
            apr.append(imports * max(FLOOR, april.get(code, FLOOR)))
            aug.append(imports * max(FLOOR, august.get(code, FLOOR)))
    total = math.fsum(weights)
    return math.fsum(apr) / total, math.fsum(aug) / total


def scenario_row_rates(path=SCENARIO):
    """The ROW reciprocal rates the scenario file states: {measure note tag: percent}."""
    raw = tomllib.loads(Path(path).read_text())
    found = {}

    def walk(events):
        for e in events.get("tariff", ()):
            if e.get("exporter") == "ROW" and e.get("measure") == "reciprocal" and "tag" in e.get("note", ""):
                tag = re.search(r"tag: (\w+)", e["note"]).group(1)
                found[tag] = float(str(e["rate"]).rstrip("%"))
        for b in events.get("branch", ()):
            for o in b["option"]:
                walk(o)

    walk(raw)
    return found


def effective_rates(month="2025-06", labels=None, calibration=None):
    """{region: (trade-weighted US tariff on it in ``month``, percent)} on one branch path."""
    from engine.calibration.data import load_calibration
    from engine.paths import default_calibration_dir
    from engine.scenario.policy import ScenarioModel
    from engine.scenario.read import load_scenario

    cal = calibration or load_calibration(default_calibration_dir())
    model = ScenarioModel(load_scenario(SCENARIO), cal)
    labels = model.paths[0][0] if labels is None else labels
    path = model.arrays(labels)
    t = [f"{d:%Y-%m}" for d in path.dates].index(month)
    usa = cal.regions.index("USA")
    out = {}
    for i, code in enumerate(cal.regions):
        if i != usa:
            flows = cal.flows[i, usa]
            out[code] = 100 * float(np.dot(flows, path.average_tariff[t, i, usa]) / flows.sum())
    return out


def run_rates(folder, month="2025-06"):
    """{region: duties over imports (percent)} in a run's flows of ``month``, all draws pooled."""
    import polars as pl

    flows = pl.read_parquet(Path(folder) / "flows" / "*" / "*.parquet", hive_partitioning=True)
    month_flows = flows.filter((pl.col("destination") == "USA") & (pl.col("origin") != "USA")
                               & (pl.col("date").cast(pl.String).str.starts_with(month)))
    rates = month_flows.group_by("origin").agg(100 * pl.col("tariff_revenue").sum() / pl.col("exports").sum())
    return dict(rates.iter_rows())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the scenario's ROW rates differ")
    ap.add_argument("--run", help="a run folder of us_tariffs_2025: also its duties over imports")
    args = ap.parse_args(argv)
    april, august = row_rates()
    stated = scenario_row_rates()
    print(f"ROW reciprocal rate, US 2024 import weights: April (EO 14257 Annex I) {april:.2f}%, "
          f"August (EO 14326) {august:.2f}%; the scenario states {stated}")
    if args.check:
        ok = abs(stated.get("april", -1) - round(april, 2)) < 1e-9 and abs(stated.get("august", -1) - round(august, 2)) < 1e-9
        print("matches" if ok else "DIFFERS: write the rates above into the scenario")
        return 0 if ok else 1
    rates = effective_rates()
    run = run_rates(args.run) if args.run else {}
    print("\nJune 2025, US tariff by partner, percent: the calendar's trade-weighted mean at the calibration's"
          "\nweights" + (", duties over imports in the run's own flows" if run else "") + ", published")
    print(f"{'partner':<8}{'weights':>8}" + (f"{'run':>8}" if run else "") + f"{'published':>11}")
    for code, value in rates.items():
        published = PUBLISHED.get(code)
        print(f"{code:<8}{value:>8.1f}" + (f"{run[code]:>8.1f}" if run else "")
              + ("" if published is None else f"{published:>11.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
