"""Write a 194-country, one-sector calibration and the Liberation Day scenario from ``data/ilms2025``
(the base data of Ignatenko, Lashkaripour, Macedoni & Simonovska 2025; PROVENANCE.txt there).

Usage::

    python data/build_ilms2025.py OUT        # writes OUT/calibration/ and OUT/liberation_day_ilms.toml
    engine simulate OUT/liberation_day_ilms.toml -c OUT/calibration --closure ge --draws 3 --firms 1000

Rules (stated; the paper's own choices where they apply):

- Flows: BACI 2023 bilateral goods trade (thousands of USD -> USD million), row = exporter.
- Domestic cells as in the paper's ``main_baseline``: ``X_ii = max(E_i - imports_i, 0)`` with
  ``E_i = GDP_i`` (the paper adds a small transfer term ``T_i`` from its input-share parameter
  ``nu``, which our model does not have).
- Baseline tariffs zero (the paper's baseline); the counterfactual: a US tariff of
  ``max(10 %, rate)`` on every other country, no retaliation.
- One sector, ``theta = 4`` (the paper's trade elasticity), ``sigma = 3`` (so ``theta > sigma - 1``;
  with Pareto productivity and no shocks the macro trade elasticity is ``theta`` whatever sigma),
  no firm-destination shocks. Participation: half the potential firms sell at home, a tenth in
  each export market (a Pareto margin everywhere, so that the model is gravity with elasticity
  theta; ``docs/model.md`` section 13). 1,000 potential firms per country (scales counts only).

Only the standard library.
"""

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "ilms2025"
PERIODS = 2


def read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def build(out):
    out = Path(out)
    cal = out / "calibration"
    cal.mkdir(parents=True, exist_ok=True)
    labels = read(HERE / "country_labels.csv")[1:]
    codes = [row[0] for row in labels]
    names = [row[2] for row in labels]
    gdp = [float(r[0]) / 1e6 for r in read(HERE / "gdp.csv")[1:]]  # USD -> USD million
    trade = [[float(v) / 1e3 if v not in ("", "NaN", "nan") else 0.0 for v in row]
             for row in read(HERE / "trade_cepii.csv")[1:]]  # thousands of USD -> USD million
    n = len(codes)
    imports = [sum(trade[i][j] for i in range(n) if i != j) for j in range(n)]
    for i in range(n):
        trade[i][i] = max(gdp[i] - imports[i], 0.0)
    with open(cal / "regions.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "gdp_usd_m"])
        for c, name, y in zip(codes, names, gdp):
            w.writerow([c, name, format(y, ".10g")])
    with open(cal / "sectors.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr"])
        w.writerow(["goods", "All goods", 3, 4, 0, 0, 0])
    tables = {"flows.csv": ("value_usd_m", lambda i, j: format(trade[i][j], ".10g")),
              "tariffs.csv": ("rate", lambda i, j: 0),
              "participation.csv": ("share", lambda i, j: 0.5 if i == j else 0.1)}
    for name, (column, value) in tables.items():
        with open(cal / name, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["origin", "destination", "sector", column])
            for i in range(n):
                for j in range(n):
                    w.writerow([codes[i], codes[j], "goods", value(i, j)])
    with open(cal / "firms.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["origin", "sector", "firms"])
        for c in codes:
            w.writerow([c, "goods", 1000])
    rates = [float(r[0]) for r in read(HERE / "tariffs.csv")[1:]]
    lines = ['name = "liberation_day_ilms"',
             'title = "Liberation Day tariffs on 194 countries, no retaliation (ILMS 2025 data)"',
             'start = "2025-03"', f"periods = {PERIODS}", 'focus = { exporter = "JPN", importer = "USA" }', ""]
    for code, rate in zip(codes, rates):
        if code == "USA":
            continue
        lines += ["[[tariff]]", 'date = "2025-04-01"', 'importer = "USA"', f'exporter = "{code}"',
                  f"rate = {max(0.10, rate):.6g}", ""]
    (out / "liberation_day_ilms.toml").write_text("\n".join(lines))
    return cal, out / "liberation_day_ilms.toml"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in build(sys.argv[1]):
        print(path)
