"""``engine backtest``: a run against realized trade (``engine.outputs.backtest``).

Known answers on one small run: a realized file made from the run's own mean path gives zero error,
a shifted copy gives the shift, and a file of levels and one of year-on-year changes of the same
numbers give the same errors. Bad files get one line naming the row and the field.
"""

import csv
import datetime as dt

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import engine
from engine.cli.main import main
from engine.errors import InputError
from engine.outputs.backtest import backtest, read_backtest

SEED = 11


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    return engine.simulate(["us_japan_2025"], draws=4, firms=1000, seed=SEED, out=folder / "run", dynamics="static")


def _mean_path(run, origin, destination, sector=None):
    """Month -> the mean across draws of the series' exports (USD million a year)."""
    flows = run.flows.filter((pl.col("origin") == origin) & (pl.col("destination") == destination))
    if sector:
        flows = flows.filter(pl.col("sector") == sector)
    path = flows.group_by(["draw", "date"]).agg(pl.col("exports").sum()).group_by("date").agg(
        pl.col("exports").mean()).sort("date")
    return dict(zip(path["date"].to_list(), path["exports"].to_list()))


def _num(value):
    return repr(float(value))


def _write(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["date", "origin", "destination", "sector", "value", "kind"])
        writer.writerows(rows)
    return path


def _month(m, shift=0):
    index = m.year * 12 + m.month - 1 + shift
    return dt.date(index // 12, index % 12 + 1, 1)


def _levels(path_by_month, origin, destination, sector="", scale=None):
    """Monthly USD levels (annual rate in USD million / 12 * 1e6), optionally scaled per month."""
    return [[f"{m:%Y-%m}", origin, destination, sector, _num(v / 12 * 1e6 * (scale(m) if scale else 1.0)), "level"]
            for m, v in path_by_month.items()]


WINDOWS = ("q2=2025-04..2025-06", "h2=2025-07..2025-12", "y2026=2026-01..2026-12")


def test_a_file_made_from_the_run_mean_gives_zero_error(run, tmp_path):
    jpn = _mean_path(run, "JPN", "USA")
    cars = _mean_path(run, "JPN", "USA", "motor_vehicles_parts")
    realized = _write(tmp_path / "mean.csv", _levels(jpn, "JPN", "USA") + _levels(cars, "JPN", "USA",
                                                                                  "motor_vehicles_parts"))
    out = backtest(run, realized, windows=WINDOWS)
    assert out.windows.height == 2 * len(WINDOWS) and out.monthly.height == 2 * len(jpn)
    for frame in (out.windows, out.monthly):
        np.testing.assert_allclose(frame["error_pp"].to_numpy(), 0.0, atol=1e-9)
        np.testing.assert_allclose(frame["realized_level_bn"].to_numpy(), frame["engine_level_bn"].to_numpy(),
                                   rtol=1e-12)
    # the tariff on cars moves the series: a comparison that ignored the data could not give 0 here
    cars_2026 = out.windows.filter((pl.col("window") == "y2026") & (pl.col("sector") == "motor_vehicles_parts"))
    assert cars_2026["realized_pct"][0] < -5
    assert "base 2025-01" in out.comparison
    # written into the run, and read back
    windows, monthly, meta = read_backtest(run.path)
    assert windows.equals(out.windows) and monthly.equals(out.monthly) and meta["comparison"] == out.comparison


def test_a_shifted_copy_gives_the_shift(run, tmp_path):
    jpn = _mean_path(run, "JPN", "USA")
    first = min(jpn)
    k = 1.07  # every month after the base 7 % higher
    scaled = _write(tmp_path / "scaled.csv", _levels(jpn, "JPN", "USA", scale=lambda m: 1.0 if m == first else k))
    out = backtest(run, scaled, windows=WINDOWS, write=False)
    change = out.windows["engine_mean_pct"].to_numpy() / 100
    np.testing.assert_allclose(out.windows["error_pp"].to_numpy(), 100 * (change - ((1 + change) * k - 1)),
                               atol=1e-9)
    # year on year: a file of the mean path's own y/y changes, then the same plus 2 pp
    months = sorted(jpn)
    yoy = {m: 100 * (jpn[m] / jpn.get(_month(m, -12), jpn[first]) - 1) for m in months}
    for shift, name in ((0.0, "same"), (2.0, "shifted")):
        rows = [[f"{m:%Y-%m}", "JPN", "USA", "", _num(v + shift), "yoy_pct"] for m, v in yoy.items()]
        out = backtest(run, _write(tmp_path / f"{name}.csv", rows), windows=WINDOWS, write=False)
        np.testing.assert_allclose(out.windows["error_pp"].to_numpy(), -shift, atol=1e-9)
        assert "year earlier" in out.comparison


def test_levels_and_year_on_year_files_of_the_same_numbers_give_the_same_errors(run, tmp_path):
    rng = np.random.default_rng(SEED)
    months = [dt.date(2024 + i // 12, i % 12 + 1, 1) for i in range(36)]
    level = dict(zip(months, 1e9 * rng.uniform(5, 15, len(months))))
    levels = [[f"{m:%Y-%m}", "JPN", "USA", "", _num(v), "level"] for m, v in level.items()]
    yoy = [[f"{m:%Y-%m}", "JPN", "USA", "", _num(100 * (v / level[_month(m, -12)] - 1)), "yoy_pct"]
           for m, v in level.items() if m.year >= 2025]
    a = backtest(run, _write(tmp_path / "levels.csv", levels), base="yoy", windows=WINDOWS, write=False)
    b = backtest(run, _write(tmp_path / "yoy.csv", yoy), windows=WINDOWS, write=False)  # yoy is the default
    for column in ("engine_mean_pct", "realized_pct", "error_pp"):
        np.testing.assert_allclose(a.windows[column].to_numpy(), b.windows[column].to_numpy(), rtol=1e-12,
                                   atol=1e-9)
    assert a.windows.height == len(WINDOWS) and b.monthly.height == 24


def test_countries_are_added_into_their_region(run, tmp_path):
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    by_country = [[m, iso, "USA", "machinery", _num(1e8 * (1 + i) * (1 + 0.01 * j)), "level"]
                  for j, m in enumerate(months) for i, iso in enumerate(("DEU", "FRA"))]
    by_region = [[m, "EU", "USA", "machinery", _num(1e8 * 3 * (1 + 0.01 * j)), "level"] for j, m in enumerate(months)]
    a = backtest(run, _write(tmp_path / "countries.csv", by_country), write=False)
    b = backtest(run, _write(tmp_path / "region.csv", by_region), write=False)
    assert a.windows["origin"].unique().to_list() == ["EU"]
    np.testing.assert_allclose(a.windows["realized_pct"].to_numpy(), b.windows["realized_pct"].to_numpy(), rtol=1e-12)
    assert any("2 of EU's 27 countries (DEU, FRA)" in n for n in a.notes) and not b.notes


@pytest.mark.parametrize("rows, options, message", [
    ([["2025-13", "JPN", "USA", "", "1e9", "level"]], [], "line 2, field 'date': '2025-13' is not a valid date"),
    ([["2025-01", "XXX", "USA", "", "1e9", "level"], ["2025-02", "JPN", "YYY", "", "1e9", "level"]], [],
     "2 code(s) map to no region: 'XXX' (line 2, field 'origin'), 'YYY' (line 3, field 'destination')"),
    ([["2025-01", "JPN", "USA", "cars", "1e9", "level"]], [], "line 2, field 'sector': sector 'cars' is not"),
    ([["2025-01", "JPN", "USA", "", "lots", "level"]], [], "line 2, field 'value': must be a finite number"),
    ([["2025-01", "JPN", "USA", "", "1e9", "levels"]], [], "line 2, field 'kind': kind 'levels' is not allowed"),
    ([["2025-01", "JPN", "USA", "", "-5", "level"]], [], "line 2, field 'value': a level must be > 0"),
    ([["2025-01", "DEU", "USA", "", "3", "yoy_pct"], ["2025-01", "FRA", "USA", "", "4", "yoy_pct"]], [],
     "changes cannot be added up"),
    ([["2025-01", "JPN", "USA", "", "1e9", "level"], ["2025-02", "JPN", "USA", "", "3", "yoy_pct"]], [],
     "mixes levels and year-on-year changes"),
    ([["2025-01", "JPN", "USA", "", "1e9", "level"], ["2025-01-15", "JPN", "USA", "", "2e9", "level"]], [],
     "line 3: duplicate row"),
    ([["2025-01", "DEU", "FRA", "", "1e9", "level"]], [], "trade inside region EU"),
    ([["2025-02", "JPN", "USA", "", "3", "yoy_pct"]], ["--base", "2025-01"], "--base: 2025-01: the file gives "
                                                                             "year-on-year changes"),
    ([["2025-02", "JPN", "USA", "", "1e9", "level"]], [], "the base month 2025-01 has no row"),
    ([["2025-01", "JPN", "USA", "", "1e9", "level"]], ["--base", "2019-01"], "--base: 2019-01 is outside the run"),
    ([["2025-01", "JPN", "USA", "", "1e9", "level"]], ["--window", "2025-01..2025-03"], "--window: '2025-01..2025"),
    ([["2030-01", "JPN", "USA", "", "1e9", "level"]], ["--base", "2025-02"], "the base month 2025-02 has no row"),
])
def test_bad_files_get_one_line_naming_the_row_and_field(run, tmp_path, rows, options, message):
    before = sorted(p.name for p in run.path.iterdir())
    realized = _write(tmp_path / "bad.csv", rows)
    result = CliRunner().invoke(main, ["backtest", str(run.path), "--realized", str(realized), *options])
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert sorted(p.name for p in run.path.iterdir()) == before  # nothing written, nothing left over


def test_bad_file_formats(run, tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("date,origin,destination,value\n2025-01,JPN,USA,1\n")
    with pytest.raises(InputError, match="missing column.s. kind"):
        backtest(run, missing)
    with pytest.raises(InputError, match="must be a .csv or .parquet file"):
        backtest(run, _touch(tmp_path / "file.txt"))
    parquet = tmp_path / "levels.parquet"
    pl.DataFrame({"date": ["2025-01", "2025-02"], "origin": ["JPN", "JPN"], "destination": ["USA", "USA"],
                  "value": [1e9, 1.1e9], "kind": ["level", "level"]}).write_parquet(parquet)
    out = backtest(run, parquet, write=False)  # Parquet, no sector column: all sectors
    assert out.windows["sector"].to_list() == ["ALL"] and out.windows["realized_pct"][0] == pytest.approx(10)


def _touch(path):
    path.write_text("date\n")
    return path


def test_a_failed_backtest_keeps_the_previous_one(run, tmp_path):
    good = _write(tmp_path / "good.csv", _levels(_mean_path(run, "JPN", "USA"), "JPN", "USA"))
    result = CliRunner().invoke(main, ["backtest", str(run.path), "--realized", str(good), "--window",
                                       "h1=2025-01..2025-06"])
    assert result.exit_code == 0, result.output
    assert "h1" in result.output and "windows inside the engine's 5-95% band" in result.output
    written = {p.name: p.read_bytes() for p in (run.path / "backtest").iterdir()}
    bad = _write(tmp_path / "bad.csv", [["2025-01", "JPN", "USA", "", "oops", "level"]])
    assert CliRunner().invoke(main, ["backtest", str(run.path), "--realized", str(bad)]).exit_code == 2
    assert {p.name: p.read_bytes() for p in (run.path / "backtest").iterdir()} == written
    assert not [p for p in run.path.iterdir() if p.name.startswith(".backtest")]


def test_the_calibration_lists_each_region_s_countries(run, calibration_copy):
    members = engine.load_calibration(calibration_copy).members
    assert len(members["EU"]) == 27 and members["JPN"] == ("JPN",) and "BRA" in members["ROW"]
    assert run.manifest["calibration"]["members"]["EU"] == list(members["EU"])
    regions = calibration_copy / "regions.csv"
    text = regions.read_text()
    for old, new, message in ((",JPN\n", ",JPN DEU\n", "line 5, field 'members': country DEU is in region 'JPN' "
                                                        "and in 'EU'"),
                              (",JPN\n", ",jpn\n", "line 3, field 'members': 'jpn' is not a country code")):
        regions.write_text(text.replace(old, new, 1))
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            engine.load_calibration(calibration_copy)
    regions.write_text("\n".join(",".join(line.split(",")[:3]) for line in text.splitlines()) + "\n")
    assert engine.load_calibration(calibration_copy).members == {}  # the column is optional


@pytest.mark.parametrize("rows, message", [
    ([["2025-01", "EU", "USA", "", "100", "level"], ["2025-01", "DEU", "USA", "", "50", "level"]],
     "2025-01 gives region EU and some of its countries (DEU)"),
    ([["2025-01", "DEU", "USA", "", "100", "level"], ["2025-02", "DEU", "USA", "", "100", "level"],
      ["2025-02", "FRA", "USA", "", "100", "level"]],
     "2025-02 gives the countries DEU, FRA and 2025-01 gives DEU (FRA in one month only)"),
])
def test_a_region_s_total_is_never_a_false_change(run, tmp_path, rows, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backtest(run, _write(tmp_path / "bad.csv", rows), write=False)


def test_default_windows_leave_out_the_base_and_short_windows_are_noted(run, tmp_path):
    jpn = _mean_path(run, "JPN", "USA")
    out = backtest(run, _write(tmp_path / "mean.csv", _levels(jpn, "JPN", "USA")), write=False)
    assert "2025-01" not in out.windows["window"].to_list() and out.windows.height == len(jpn) - 1
    assert "2025-01" in out.monthly["window"].to_list()  # the chart still starts at the base
    out = backtest(run, _write(tmp_path / "mean.csv", _levels(jpn, "JPN", "USA")), windows=["late=2026-07..2027-06"],
                   write=False)
    assert any("window late compares 6 of its 12 months" in n for n in out.notes)
    for base in ("2025-02..", "..2025-02", " "):
        with pytest.raises(InputError, match="--base"):
            backtest(run, tmp_path / "mean.csv", base=base, write=False)
    assert "year earlier" in backtest(run, tmp_path / "mean.csv", base="YoY", write=False).comparison


def test_simulate_overwrite_replaces_a_backtested_run(run, tmp_path):
    good = _write(tmp_path / "good.csv", _levels(_mean_path(run, "JPN", "USA"), "JPN", "USA"))
    folder = tmp_path / "again"
    engine.simulate(["us_japan_2025"], draws=1, firms=300, seed=SEED, out=folder, dynamics="static")
    backtest(folder, good)
    (folder / ".backtest.0123abcd.tmp").mkdir()  # left by a killed backtest
    engine.simulate(["us_japan_2025"], draws=1, firms=300, seed=SEED, out=folder, dynamics="static", overwrite=True)
    assert not (folder / "backtest").exists() and not (folder / ".backtest.0123abcd.tmp").exists()
