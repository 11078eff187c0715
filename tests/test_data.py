"""The embedded default calibration: rebuilt from the world tables in data/world by
data/build_default.py (one call of engine calibrate), and consistent with the engine's own rules."""

import subprocess
import sys

import numpy as np
import pytest

from engine.calibration.data import default_participation, load_calibration
from engine.paths import default_calibration_dir
from tests.conftest import REPO


def test_embedded_data_is_what_the_build_script_makes():
    out = subprocess.run([sys.executable, str(REPO / "data" / "build_default.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_liberation_day_scenario_is_what_its_script_makes():
    out = subprocess.run([sys.executable, str(REPO / "data" / "build_liberation_day.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_participation_follows_the_documented_default_rule(default_calibration):
    import polars as pl

    sectors = pl.read_csv(default_calibration_dir() / "sectors.csv")
    expected = default_participation(default_calibration.flows, sectors["exporter_share"].to_numpy())
    np.testing.assert_allclose(default_calibration.participation, expected, rtol=1e-8)


def test_default_calibration_facts(default_calibration):
    cal = default_calibration
    assert cal.regions == ("USA", "JPN", "CHN", "EU", "CAN", "MEX", "KOR", "GBR", "IND", "ROW")
    assert len(cal.sectors) == 8
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    # BACI 2023: Japan -> US about 141.4 bn, US -> Japan about 75.6 bn (PROVENANCE.txt)
    assert cal.flows[jpn, usa].sum() == pytest.approx(141_400, rel=0.005)
    assert cal.flows[usa, jpn].sum() == pytest.approx(75_600, rel=0.005)
    cars = cal.sectors.index("motor_vehicles_parts")
    assert cal.flows[jpn, usa, cars] / cal.flows[jpn, usa].sum() == pytest.approx(0.344, abs=0.005)
    # the US applies MFN-level rates to Japan (about 1.5 % on average, docs/model.md section 9)
    average = (cal.tariffs[jpn, usa] * cal.flows[jpn, usa]).sum() / cal.flows[jpn, usa].sum()
    assert 0.005 < average < 0.03
    assert np.all(np.diagonal(cal.tariffs, axis1=0, axis2=1) == 0)
    assert np.all(np.diagonal(cal.participation, axis1=0, axis2=1) == 1)


def test_data_readme_documents_every_table():
    text = (REPO / "data" / "README.md").read_text()
    for path in sorted(default_calibration_dir().glob("*.csv")):
        assert path.name in text, path.name
    loaded = load_calibration(default_calibration_dir())
    assert loaded.source.endswith("default")
