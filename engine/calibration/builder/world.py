"""The world tables shipped with the engine (``data/world/``, inside the wheel as
``engine/_data/world``): 194 countries' BACI 2023 pair totals and GDP, US Census 2024 imports and
duties by HS chapter, country groups, the default sector spec, literature numbers.

Numbers are kept as the text the sources wrote and parsed with ``float``, so sums over them (always
``math.fsum``, exactly rounded) do not depend on the order of the rows. ``data/world/PROVENANCE.md``
names the sources and their licences.
"""

import csv
from dataclasses import dataclass
from functools import lru_cache

from engine.paths import world_dir

#: Literature constants and the files that state them (checked on load).
EKK_THETA_OVER_SIGMA_MINUS_1 = 2.46  # Eaton, Kortum & Kramarz (2011), Table 3
#: The elasticity of substitution between varieties, fitted to the tariff evidence (Boehm, Levchenko &
#: Pandalai-Nayar 2023's profile, the 2018-19 episode and the stopper rate; ``python
#: data/identify_dynamics.py --elasticities``, docs/model.md section 11.8), with the sales process held
SIGMA = 1.5
#: The Pareto shape that keeps EKK's firm-size tail theta / (sigma - 1) at the fitted sigma
THETA = EKK_THETA_OVER_SIGMA_MINUS_1 * (SIGMA - 1.0)
# domestic vs imported goods (docs/model.md section 6.5): 1, the macro elasticity Feenstra, Luck, Obstfeld & Russ
# (2018) find not different from one for about half of goods, below the fitted sigma between suppliers. (GTAP's
# "rule of two", ESUBD = ESUBM / 2, would give 0.75 at sigma = 1.5: domestic goods and imports complements, so a
# tariff would move spending away from domestic producers.)
ETA = 1.0
SHOCK_DEMAND_SD = 1.69  # EKK (2011) Table 3
SHOCK_COST_SD = 0.34  # EKK (2011) Table 3
SHOCK_CORR = -0.65  # EKK (2011) Table 3
US_FIRMS_2000 = 5.5e6  # Hernandez-Murillo (2007)
US_ALL_FIRMS_EXPORTER_SHARE = 0.04  # Hernandez-Murillo (2007)


@dataclass(frozen=True)
class World:
    """The shipped world tables.

    Attributes
    ----------
    countries : dict
        ISO3 -> name, in the order of the BACI table (194 countries).
    gdp_usd : dict
        ISO3 -> GDP 2023, current USD (World Bank WDI).
    pairs : list of (str, str, float)
        (exporter ISO3, importer ISO3, value in thousand USD), BACI 2023, non-zero cells.
    census : list of (str, str, int, float, float)
        (Census code, ISO3 or "", HS chapter, US imports 2024 USD, duties collected 2024 USD).
    groups : dict
        group -> (name, tuple of ISO3).
    bjrs : dict
        NAICS-3 (and "ALL") -> % of US manufacturing firms that export, 2002.
    """

    countries: dict
    gdp_usd: dict
    pairs: list
    census: list
    groups: dict
    bjrs: dict


def _rows(name):
    with open(world_dir() / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def load_world():
    """Read the shipped world tables (cached).

    Returns
    -------
    World
    """
    countries = _rows("countries.csv")
    census = [(r["cty_code"], r["iso3"], int(r["hs2"]), float(r["imports_usd"]), float(r["duty_usd"]))
              for r in _rows("us_imports_2024_hs2.csv")]
    groups = {r["group"]: (r["name"], tuple(r["members"].split())) for r in _rows("groups.csv")}
    scalars = {r["parameter"]: r for r in _rows("literature_scalars.csv")}
    us = scalars["us_all_firms_exporter_share_2000"]
    if float(us["value"]) / 100 != US_ALL_FIRMS_EXPORTER_SHARE or "5.5 million" not in us["unit_or_note"]:
        raise ValueError("literature_scalars.csv no longer states that 4% of 5.5 million US firms export")
    return World(
        countries={r["iso3"]: r["name"] for r in countries},
        gdp_usd={r["iso3"]: float(r["gdp_usd"]) for r in countries},
        pairs=[(r["exporter"], r["importer"], float(r["value_kusd"])) for r in _rows("baci_2023_pairs.csv")],
        census=census,
        groups=groups,
        bjrs={r["naics3"]: float(r["exporting_firm_share_2002_pct"]) for r in _rows("bjrs_exporter_shares.csv")},
    )


def annex_i_rates():
    """EO 14257 Annex I reciprocal rates of 2 April 2025: Census code -> (name, rate in percent)."""
    return {r["CTY_CODE"]: (r["CTY_NAME"], float(r["tariff_rate"])) for r in _rows("annex_I_2025-04-02.csv")}
