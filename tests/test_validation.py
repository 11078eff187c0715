"""Bad inputs give one clear ``InputError`` naming the file, the line or key, and what is allowed.

Calibration tables are broken on a writable copy of the embedded data (``calibration_copy``);
scenario files are written from text. Line numbers are CSV lines with the header as line 1.
"""

import csv
import re

import numpy as np
import polars as pl
import pytest
from conftest import write_scenario

from engine.calibration.data import load_calibration
from engine.errors import InputError
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario

REGIONS = ("USA", "JPN", "CHN", "EU", "CAN", "MEX", "KOR", "GBR", "IND", "ROW")
SECTORS = ("agri_food", "energy", "chem_pharma_plastics", "metals", "machinery",
           "electronics_instruments", "motor_vehicles_parts", "other")
TABLES = ("regions", "sectors", "flows", "tariffs", "firms", "participation")


# --------------------------------------------------------------------------- helpers

def read_rows(path):
    """Rows of a CSV file as lists of strings; row 0 is the header (CSV line 1)."""
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def write_rows(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def set_field(path, line, column, value):
    """Set ``column`` on CSV ``line`` (header = line 1); return that line's original row as a dict."""
    rows = read_rows(path)
    header = rows[0]
    original = dict(zip(header, rows[line - 1]))
    rows[line - 1][header.index(column)] = value
    write_rows(path, rows)
    return original


def n_lines(path):
    return len(read_rows(path))


def load_error(folder):
    with pytest.raises(InputError) as info:
        load_calibration(folder)
    return info.value


def has_line(message, line):
    return re.search(rf"\bline {line}\b", message) is not None


def assert_names(error, filename, *fragments, line=None):
    """The message names the file, (optionally) the CSV line, and every fragment."""
    message = str(error)
    assert filename in message, message
    assert error.source.endswith(filename), error.source
    if line is not None:
        assert has_line(message, line), f"expected 'line {line}' in: {message}"
    for fragment in fragments:
        assert fragment in message, f"expected {fragment!r} in: {message}"


# --------------------------------------------------------------------------- calibration tables

@pytest.mark.parametrize("line", [2, 417, 801])
def test_negative_flow(calibration_copy, line):
    set_field(calibration_copy / "flows.csv", line, "value_usd_m", "-1.5")
    error = load_error(calibration_copy)
    assert_names(error, "flows.csv", "'value_usd_m'", ">= 0", "-1.5", line=line)


def test_missing_flow_value_empty_cell(calibration_copy):
    set_field(calibration_copy / "flows.csv", 9, "value_usd_m", "")
    error = load_error(calibration_copy)
    assert_names(error, "flows.csv", "'value_usd_m'", "missing", line=9)


def test_flow_row_deleted(calibration_copy):
    path = calibration_copy / "flows.csv"
    rows = read_rows(path)
    deleted = dict(zip(rows[0], rows.pop(300 - 1)))
    write_rows(path, rows)
    error = load_error(calibration_copy)
    assert_names(error, "flows.csv", "value_usd_m", "missing row",
                 f"origin={deleted['origin']}", f"destination={deleted['destination']}",
                 f"sector={deleted['sector']}")


@pytest.mark.parametrize("column", ["origin", "destination"])
def test_unknown_region_in_flows_lists_allowed_codes(calibration_copy, column):
    set_field(calibration_copy / "flows.csv", 123, column, "XYZ")
    error = load_error(calibration_copy)
    assert_names(error, "flows.csv", f"'{column}'", "unknown region", "XYZ", line=123)
    allowed = str(error).split("allowed:", 1)[1]
    for code in REGIONS:
        assert re.search(rf"\b{code}\b", allowed), (code, str(error))


def test_unknown_sector_in_flows_lists_allowed_codes(calibration_copy):
    set_field(calibration_copy / "flows.csv", 44, "sector", "toys")
    error = load_error(calibration_copy)
    assert_names(error, "flows.csv", "'sector'", "unknown sector", "toys", line=44)
    allowed = str(error).split("allowed:", 1)[1]
    for code in SECTORS:
        assert code in allowed, (code, str(error))


@pytest.mark.parametrize("theta", ["0.4", "0.5"])  # sigma = 1.5: below and equal to sigma - 1
def test_theta_not_above_sigma_minus_one(calibration_copy, theta):
    set_field(calibration_copy / "sectors.csv", 4, "theta", theta)
    error = load_error(calibration_copy)
    assert_names(error, "sectors.csv", "'theta'", "sigma - 1", line=4)


@pytest.mark.parametrize("sigma", ["1", "0.5"])
def test_sigma_not_above_one(calibration_copy, sigma):
    set_field(calibration_copy / "sectors.csv", 6, "sigma", sigma)
    error = load_error(calibration_copy)
    assert_names(error, "sectors.csv", "'sigma'", "> 1", line=6)


@pytest.mark.parametrize("share", ["0", "1.5", "-0.2"])
def test_participation_share_outside_unit_interval(calibration_copy, share):
    set_field(calibration_copy / "participation.csv", 30, "share", share)
    error = load_error(calibration_copy)
    assert_names(error, "participation.csv", "'share'", "(0, 1]", line=30)


def test_duplicate_row_in_flows(calibration_copy):
    path = calibration_copy / "flows.csv"
    rows = read_rows(path)
    rows.append(list(rows[17 - 1]))  # a copy of line 17 as the last line
    write_rows(path, rows)
    error = load_error(calibration_copy)
    origin, destination, sector, _ = rows[17 - 1]
    assert_names(error, "flows.csv", "duplicate", f"origin={origin}", f"destination={destination}",
                 f"sector={sector}", line=17)
    assert has_line(str(error), len(rows)), str(error)


def test_duplicate_region_code(calibration_copy):
    set_field(calibration_copy / "regions.csv", 4, "code", "JPN")  # line 3 is JPN already
    error = load_error(calibration_copy)
    assert_names(error, "regions.csv", "code", "duplicate", "JPN", line=3)
    assert has_line(str(error), 4), str(error)


def test_negative_tariff_rate(calibration_copy):
    set_field(calibration_copy / "tariffs.csv", 12, "rate", "-0.01")
    error = load_error(calibration_copy)
    assert_names(error, "tariffs.csv", "'rate'", ">= 0", line=12)


@pytest.mark.parametrize("table, line, column", [
    ("flows.csv", 5, "value_usd_m"),
    ("firms.csv", 6, "firms"),
    ("sectors.csv", 3, "shock_corr"),
    ("regions.csv", 2, "gdp_usd_m"),
])
def test_non_numeric_value(calibration_copy, table, line, column):
    set_field(calibration_copy / table, line, column, "abc")
    error = load_error(calibration_copy)
    assert_names(error, table, f"'{column}'", "number", "'abc'", line=line)


@pytest.mark.parametrize("table, line, column", [
    ("flows.csv", 5, "value_usd_m"),
    ("firms.csv", 6, "firms"),
])
def test_non_finite_value_is_rejected(calibration_copy, table, line, column):
    """'inf' parses as a float; a flow or firm count of infinity must still be an input error.

    (Currently accepted: an infinite flow gives NaN tariff revenue in the run's output.)
    """
    set_field(calibration_copy / table, line, column, "inf")
    error = load_error(calibration_copy)
    assert_names(error, table, f"'{column}'", line=line)


def test_missing_file(calibration_copy):
    (calibration_copy / "firms.csv").unlink()
    error = load_error(calibration_copy)
    assert_names(error, "firms.csv", "missing", "Parquet")


def test_missing_column(calibration_copy):
    path = calibration_copy / "tariffs.csv"
    rows = read_rows(path)
    rows[0][rows[0].index("rate")] = "tariff_rate"
    write_rows(path, rows)
    error = load_error(calibration_copy)
    assert_names(error, "tariffs.csv", "missing column", "rate")


def test_same_table_as_csv_and_parquet(calibration_copy):
    pl.read_csv(calibration_copy / "flows.csv").write_parquet(calibration_copy / "flows.parquet")
    error = load_error(calibration_copy)
    message = str(error)
    assert "flows.csv" in message and "flows.parquet" in message, message
    assert str(calibration_copy) in message, message


def test_calibration_folder_does_not_exist(tmp_path):
    missing = tmp_path / "no_such_folder"
    error = load_error(missing)
    assert str(missing) in str(error)
    assert "does not exist" in str(error)


@pytest.mark.parametrize("table", TABLES)
def test_parquet_table_loads_like_csv(calibration_copy, default_calibration, table):
    csv_path = calibration_copy / f"{table}.csv"
    pl.read_csv(csv_path).write_parquet(calibration_copy / f"{table}.parquet")
    csv_path.unlink()
    loaded = load_calibration(calibration_copy)
    for name in ("regions", "region_names", "sectors", "sector_names"):
        assert getattr(loaded, name) == getattr(default_calibration, name), name
    for name in ("gdp", "sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr",
                 "flows", "tariffs", "firms", "participation"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(default_calibration, name), err_msg=name)


def test_parquet_row_error_names_the_row(calibration_copy):
    frame = pl.read_csv(calibration_copy / "flows.csv")
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 9).then(-3.0).otherwise(pl.col("value_usd_m")).alias("value_usd_m"))
    frame.write_parquet(calibration_copy / "flows.parquet")
    (calibration_copy / "flows.csv").unlink()
    error = load_error(calibration_copy)
    assert_names(error, "flows.parquet", "'value_usd_m'", ">= 0")
    assert re.search(r"\brow 10\b", str(error)), str(error)  # 1-based data row


def test_unbroken_copy_loads(calibration_copy, default_calibration):
    """Guard for the tests above: the unedited copy loads, so each error comes from its edit."""
    loaded = load_calibration(calibration_copy)
    assert loaded.regions == REGIONS and loaded.sectors == SECTORS
    np.testing.assert_array_equal(loaded.flows, default_calibration.flows)

# --------------------------------------------------------------------------- scenario files

HEAD = 'name = "t"\nstart = "2025-01"\nperiods = 24\n'


def tariff(date="2025-04-03", importer='"USA"', exporter='"JPN"', sectors='"ALL"', rate="0.1", extra=""):
    return (f'\n[[tariff]]\ndate = "{date}"\nimporter = {importer}\nexporter = {exporter}\n'
            f"sectors = {sectors}\nrate = {rate}\n{extra}")


def scenario_error(path, calibration=None):
    with pytest.raises(InputError) as info:
        scenario = load_scenario(path)
        if calibration is not None:
            policy_path(scenario, calibration)
    return info.value


def test_malformed_toml(tmp_path):
    path = write_scenario(tmp_path, HEAD + "title = = 'x'\n")
    error = scenario_error(path)
    assert_names(error, path.name, "not valid TOML")
    assert has_line(str(error), 4), str(error)


def test_unknown_top_level_key(tmp_path):
    path = write_scenario(tmp_path, HEAD + 'colour = "red"\n')
    error = scenario_error(path)
    assert_names(error, path.name, "colour", "unknown key")
    assert error.field == "colour"


def test_unknown_key_in_event_names_the_event(tmp_path):
    path = write_scenario(tmp_path, HEAD + tariff() + tariff(extra="colour = 1\n"))
    error = scenario_error(path)
    assert_names(error, path.name, "tariff #2.colour", "unknown key")


def test_missing_required_key(tmp_path):
    path = write_scenario(tmp_path, 'name = "t"\nstart = "2025-01"\n')
    error = scenario_error(path)
    assert_names(error, path.name, "periods", "missing")
    assert error.field == "periods"


def test_negative_rate_names_event_and_range(scenario_copy):
    text = scenario_copy.read_text()
    assert text.count('rate = "10%"') >= 1
    scenario_copy.write_text(text.replace('rate = "10%"', "rate = -0.1", 1))  # the 2nd [[tariff]]
    error = scenario_error(scenario_copy)
    assert_names(error, scenario_copy.name, "tariff #2.rate", "between 0 and 10", "-0.1")
    assert error.field == "tariff #2.rate"


def test_negative_percent_string_is_out_of_range(tmp_path):
    path = write_scenario(tmp_path, HEAD + tariff() + tariff(rate='"-5%"'))
    assert_names(scenario_error(path), path.name, "tariff #2.rate", "between 0 and 10", "-0.05")


@pytest.mark.parametrize("rate", ['"abc%"', '"25"', "true"])
def test_rate_not_a_fraction_or_percent(tmp_path, rate):
    path = write_scenario(tmp_path, HEAD + tariff() + tariff(rate=rate))
    error = scenario_error(path)
    assert_names(error, path.name, "tariff #2.rate")
    if rate.startswith('"'):
        assert "25%" in str(error) and rate.strip('"') in str(error), str(error)


@pytest.mark.parametrize("rate, expected", [('"25%"', 0.25), ('" 7.5 % "', 0.075), ('"0%"', 0.0), ("0.4", 0.4), ("1", 1.0)])
def test_rate_parses(tmp_path, rate, expected):
    path = write_scenario(tmp_path, HEAD + tariff(rate=rate))
    assert load_scenario(path).tariff[0].rate == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize("date", ["2024-12-31", "2025-01-01", "2025-01-31", "2027-01-01"])
def test_date_outside_horizon(tmp_path, date):
    path = write_scenario(tmp_path, HEAD + tariff(date="2025-03-01") + tariff(date=date))
    error = scenario_error(path)
    assert_names(error, path.name, "tariff #2.date", date, "2025-02-01", "2026-12-31")


@pytest.mark.parametrize("date", ["2025-02-01", "2026-12-31"])
def test_date_at_horizon_edges_is_accepted(tmp_path, date, default_calibration):
    path = write_scenario(tmp_path, HEAD + tariff(date=date))
    scenario = load_scenario(path)
    assert str(scenario.tariff[0].date) == date
    policy = policy_path(scenario, default_calibration)
    assert policy.tariff.shape[0] == 24


def test_trade_cost_date_outside_horizon(tmp_path):
    text = HEAD + '\n[[trade_cost]]\ndate = "2030-01-01"\nimporter = "USA"\nchange = 0.1\n'
    error = scenario_error(write_scenario(tmp_path, text))
    assert "trade_cost #1.date" in str(error)


@pytest.mark.parametrize("key, value", [("importer", '"XYZ"'), ("exporter", '["JPN", "XYZ"]')])
def test_unknown_region(tmp_path, default_calibration, key, value):
    path = write_scenario(tmp_path, HEAD + tariff() + tariff(**{key: value}))
    load_scenario(path)  # structure is fine; codes are checked against the calibration
    error = scenario_error(path, default_calibration)
    assert_names(error, path.name, f"tariff #2.{key}", "unknown region", "XYZ", "ALL")
    allowed = str(error).split("allowed:", 1)[1]
    for code in REGIONS:
        assert re.search(rf"\b{code}\b", allowed), (code, str(error))


def test_unknown_sector(tmp_path, default_calibration):
    path = write_scenario(tmp_path, HEAD + tariff(sectors='["metals", "toys"]'))
    error = scenario_error(path, default_calibration)
    assert_names(error, path.name, "tariff #1.sectors", "unknown sector", "toys")
    for code in SECTORS:
        assert code in str(error).split("allowed:", 1)[1]


@pytest.mark.parametrize("start", ["2025-13", "2025-00", "2025-1", "January 2025"])
def test_bad_start(tmp_path, start):
    path = write_scenario(tmp_path, f'name = "t"\nstart = "{start}"\nperiods = 24\n')
    error = scenario_error(path)
    assert_names(error, path.name, "start")
    assert error.field == "start"


def test_shipped_scenario_loads_and_unknown_name_lists_shipped(default_calibration, tmp_path):
    scenario = load_scenario("us_japan_2025")
    assert scenario.periods == 24 and len(scenario.tariff) == 7 and len(scenario.branch) == 1  # 4 in 2025, 3 in 2026
    deal = (("july_decision", "deal"),)
    assert policy_path(scenario, default_calibration, deal).tariff.shape == (24, 10, 10, 8)
    with pytest.raises(InputError) as info:
        load_scenario("no_such_scenario_name")
    assert "us_japan_2025" in str(info.value)
