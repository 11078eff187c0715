"""A tariff on one supplier against the same tariff on every supplier (docs/model.md section 6.5).

Not a test (minutes): +20 pp on every sector of Japan's exports to the US, or on every partner's,
from February 2025, announced on the day; default calibration and firm model, 24 months. Prints,
per closure (``pe``, ``pe_moving``, ``ge``) and upper-tier elasticity, each draw's mean log change of Japan's customs exports to
the US in year 2 (months 13-24) against period 0, the ratio of the two (the issue asks at least 1.5),
and the other suppliers' change when Japan alone is taxed (the issue asks a rise).

Run: ``python bench/diversion_check.py [--draws 4] [--firms 20000]``.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

import engine
from engine.paths import default_calibration_dir

SCENARIO = """name = "{name}"
start = "2025-01"
periods = 24
closure = "{closure}"
{parameter}
[[tariff]]
date = "2025-02-01"
importer = "USA"
exporter = {exporter}
sectors = "ALL"
rate = "20%"
"""

#: eta = sigma: the one-tier model, as a [[parameter]] (the calibration's sigma is the same in every sector).
ONE_TIER = """[[parameter]]
name = "eta"
dist = "fixed"
value = {sigma}
"""


def year_two_log_change(run, origins):
    """Per draw: log of the origins' customs exports to the US, mean of months 13-24 against period 0."""
    flows = (run.scan("flows").filter((pl.col("destination") == "USA") & pl.col("origin").is_in(origins))
             .group_by("draw", "period").agg(pl.col("exports").sum()).collect().sort("draw", "period"))
    x = flows["exports"].to_numpy().reshape(flows["draw"].n_unique(), -1)
    return np.log(x[:, 13:25].mean(axis=1) / x[:, 0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--firms", type=int, default=20_000)
    args = parser.parse_args(argv)
    sigma = float(np.unique(engine.load_calibration(default_calibration_dir()).sigma)[0])
    others = ["CHN", "EU", "CAN", "MEX", "KOR", "GBR", "IND", "ROW"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for closure in ("pe", "pe_moving", "ge"):
            # pe holds every price index fixed: eta changes nothing there (and a [[parameter]] on it is refused)
            etas = (("eta of the calibration", ""),) + (() if closure == "pe" else
                                                            (("eta = sigma", ONE_TIER.format(sigma=sigma)),))
            for label, parameter in etas:
                changes = {}
                for name, exporter in (("one", '"JPN"'), ("every", '"ALL"')):
                    path = tmp / f"{name}.toml"
                    path.write_text(SCENARIO.format(name=name, closure=closure, parameter=parameter,
                                                    exporter=exporter))
                    run = engine.simulate(path, draws=args.draws, firms=args.firms, seed=2025, out=tmp / name,
                                          overwrite=True, progress=False)
                    changes[name] = year_two_log_change(run, ["JPN"])
                    if name == "one":
                        changes["others"] = year_two_log_change(run, others)
                ratio = changes["one"] / changes["every"]
                print(f"{closure:<10} {label:<26} JPN one supplier {changes['one'].mean():+.3f}, every supplier "
                      f"{changes['every'].mean():+.3f}, ratio {ratio.mean():.2f} [{ratio.min():.2f}-{ratio.max():.2f}]"
                      f"; other suppliers with JPN alone {changes['others'].mean():+.4f}", flush=True)


if __name__ == "__main__":
    main()
