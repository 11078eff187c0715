"""Reproduce the importers' price response ``inventory_price_response`` (engine/scenario/defaults.py).

    python data/calibrate_inventories.py            # solve and print (about a minute on 2 cores)
    python data/calibrate_inventories.py --check    # also exit 1 if engine/scenario/defaults.py differs

Target: Khan & Khederlarian (2021, JIE, "How does trade respond to anticipated tariff changes?
Evidence from NAFTA"): with tariff changes announced ahead, the annual elasticity of trade flows is
56% larger than that of consumed imports (imports net of the change in importers' stocks).

The experiment (docs/model.md section 11.9): the default calibration, firm model and ``pe``; a
permanent +5 pp US tariff on Japan in force from January 2026 and announced in February 2025;
against the same draws without it (common random numbers). The elasticity of a year-on-year change
is ``[log(X_2026 / X0_2026) - log(X_2025 / X0_2025)] / dlog(1 + t)``, for customs imports (``exports``)
and for final sales. Final sales do not depend on the inventory parameters and customs imports are
linear in the price response (but for the floors of ``engine.firms.inventories.importer_stocks``),
so their log elasticity is nearly so: two runs (response 0 and 1) give the value that makes the
ratio 1.56 by interpolation, and a third run at the rounded value checks the ratio itself.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402
from engine.scenario.defaults import DYNAMICS_DEFAULTS  # noqa: E402

TARGET_RATIO = 1.56
DRAWS, FIRMS, SEED = 8, 20_000, 2025
HIKE = 0.05


def _scenario(folder, name, response=None, hike=True):
    text = [f'name = "{name}"', 'start = "2025-01"', "periods = 24", "sunk_cost_ratio = 0.1", "[dynamics]",
            'mode = "forward"']
    if response is not None:
        text.append(f"inventory_price_response = {float(response)!r}")
    if hike:
        text += ["[[tariff]]", 'date = "2026-01-01"', 'announced = "2025-02-01"', 'importer = "USA"',
                 'exporter = "JPN"', f"rate = {HIKE!r}", 'measure = "calibration"']
    path = Path(folder) / f"{name}.toml"
    path.write_text("\n".join(text) + "\n")
    return path


def elasticities(responses):
    """Year-on-year elasticities (customs imports, final sales) for each price response."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [_scenario(folder, "none", hike=False)]
        paths += [_scenario(folder, f"r{i}", response) for i, response in enumerate(responses)]
        run = engine.simulate(paths, draws=DRAWS, firms=FIRMS, seed=SEED, out=Path(folder) / "run", progress=False)
        flows = run.flows.filter((pl.col("origin") == "JPN") & (pl.col("destination") == "USA"))
    years = (flows.with_columns((pl.col("period") // 12).alias("year"))
             .group_by("scenario", "year").agg(pl.col("exports", "final_sales").sum()))
    tariff = flows.filter(pl.col("scenario") == "r0").group_by("period").agg(pl.col("tariff").mean()).sort("period")
    step = float(np.log((1.0 + tariff["tariff"][12]) / (1.0 + tariff["tariff"][0])))

    def value(scenario, year, column):
        return years.filter((pl.col("scenario") == scenario) & (pl.col("year") == year))[column][0]

    def elasticity(scenario, column):
        return (np.log(value(scenario, 1, column) / value("none", 1, column))
                - np.log(value(scenario, 0, column) / value("none", 0, column))) / step

    return [(elasticity(f"r{i}", "exports"), elasticity(f"r{i}", "final_sales")) for i in range(len(responses))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with engine/scenario/defaults.py")
    args = parser.parse_args(argv)
    (flow0, sales), (flow1, _) = elasticities([0.0, 1.0])
    response = (TARGET_RATIO * sales - flow0) / (flow1 - flow0)
    (flow, sales_check), = elasticities([round(response, 2)])
    print(f"final sales: {sales:.3f}; customs imports: {flow0:.3f} at response 0, {flow1:.3f} at 1")
    print(f"inventory_price_response = {response:.2f} (ratio {TARGET_RATIO}); check at {round(response, 2)}: "
          f"customs {flow:.3f}, final sales {sales_check:.3f}, ratio {flow / sales_check:.3f}")
    print(f"({DRAWS} draws x {FIRMS:,} firms, seed {SEED}; default calibration, forward, pe)")
    if args.check:
        shipped = DYNAMICS_DEFAULTS["inventory_price_response"]
        if abs(shipped - round(response, 2)) > 0.05 or abs(flow / sales_check - TARGET_RATIO) > 0.01:
            print(f"engine/scenario/defaults.py has {shipped}, the calibration gives {response:.2f} "
                  f"(ratio {flow / sales_check:.3f} at it)")
            return 1
        print(f"engine/scenario/defaults.py agrees ({shipped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
