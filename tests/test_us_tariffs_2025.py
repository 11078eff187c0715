"""The shipped ``us_tariffs_2025`` calendar: it compiles on the embedded calibration on every branch
path, its derived numbers are those ``data/us_tariffs_2025.py`` computes from ``data/world``, and the
counter-tariffs of China and Canada lower US exports to them in the default closure."""

import importlib.util
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import engine
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def derived():
    spec = importlib.util.spec_from_file_location("us_tariffs_2025", ROOT / "data" / "us_tariffs_2025.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_path_compiles_and_row_rates_are_the_derived_ones(default_calibration):
    model = ScenarioModel(load_scenario("us_tariffs_2025"), default_calibration)
    model.check_all_paths()
    assert len(model.paths) == 4
    module = derived()
    april, august = module.row_rates()
    assert module.scenario_row_rates() == {"april": round(april, 2), "august": round(august, 2)}


def test_july_2025_rates_of_what_happened(default_calibration):
    """Spot checks of the calendar against the legal texts, July 2025 (every event in force all month)."""
    model = ScenarioModel(load_scenario("us_tariffs_2025"), default_calibration)
    path = model.arrays(model.paths[0][0])
    t = [f"{d:%Y-%m}" for d in path.dates].index("2025-07")
    cal = default_calibration
    usa, k = cal.regions.index("USA"), {s: j for j, s in enumerate(cal.sectors)}

    def rate(origin, sector, average=True):
        i = cal.regions.index(origin)
        return (path.average_tariff if average else path.tariff)[t, i, usa, k[sector]] - cal.tariffs[i, usa, k[sector]]

    # China: fentanyl 20 % + reciprocal 10 % (Geneva) on farm goods; energy (Annex II) only the 20 %
    assert rate("CHN", "agri_food") == pytest.approx(0.30, abs=1e-12)
    assert rate("CHN", "energy") == pytest.approx(0.20, abs=1e-12)
    # Japan: cars 25 % (Section 232), no reciprocal on top; farm goods 10 %
    assert rate("JPN", "motor_vehicles_parts") == pytest.approx(0.25, abs=1e-12)
    assert rate("JPN", "agri_food") == pytest.approx(0.10, abs=1e-12)
    # metals: steel and aluminium chapters 50 % (the UK 25 %), copper 0 (Annex II until August), the
    # other chapters the 10 % reciprocal tariff
    p = cal.products
    codes = np.array(p.codes)
    for origin, steel in (("JPN", 0.50), ("GBR", 0.25)):
        values = p.values[cal.regions.index(origin), usa] * (p.sector == k["metals"])
        share = {part: values[np.isin(codes, chapters)].sum() / values.sum() for part, chapters in
                 (("steel", ["72", "73", "76"]), ("copper", ["74"]))}
        expected = steel * share["steel"] + 0.10 * (1 - share["steel"] - share["copper"])
        assert rate(origin, "metals") == pytest.approx(expected, abs=1e-12)
        assert rate(origin, "metals", average=False) < rate(origin, "metals")  # the CES index is below
    # Canada: the fentanyl tariff only on the share not claimed under USMCA
    assert 0.0 < rate("CAN", "machinery") < 0.25


def test_retaliation_lowers_us_exports_to_china_and_canada(tmp_path):
    result = engine.simulate(["us_tariffs_2025"], draws=1, firms=1500, seed=3, out=tmp_path / "run",
                             progress=False)
    flows = result.scan("flows").filter(pl.col("origin") == "USA").collect()
    for destination, sector, month in (("CHN", "agri_food", 5), ("CAN", "metals", 6)):
        row = flows.filter((pl.col("destination") == destination) & (pl.col("sector") == sector)
                           & (pl.col("period") == month))
        assert row["exports"].item() < 0.98 * row["exports_no_policy"].item(), (destination, sector)
