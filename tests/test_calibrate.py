"""``engine calibrate``: the default spec rebuilds data/default byte for byte; a new region (VNM out of
ROW) runs and its baseline reproduces the BACI pair totals; raw BACI files give real sector detail;
bad input gives one error naming the file and the row."""

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import engine
from engine.calibration.builder.build import calibrate
from engine.calibration.builder.world import load_world
from engine.calibration.data import load_calibration
from engine.cli.main import main
from engine.errors import InputError
from engine.paths import default_calibration_dir, world_dir
from tests.baci_synthetic import write_baci
from tests.conftest import REPO

VNM_REGIONS = "USA,JPN,CHN,EU=EU27,CAN,MEX,KOR,GBR,IND,VNM,ROW"
EU27 = set(load_world().groups["EU27"][1])


def region_of(iso, regions):
    """Independent region map for the test's region lists (EU27 as 'EU', others to ROW)."""
    if iso in EU27 and "EU" in regions:
        return "EU"
    return iso if iso in regions else "ROW"


def pair_totals_from_world_csv(regions):
    """BACI 2023 pair totals (USD million) straight from data/world, with Polars (not the builder)."""
    pairs = pl.read_csv(world_dir() / "baci_2023_pairs.csv")
    pairs = pairs.with_columns(o=pl.col("exporter").map_elements(lambda c: region_of(c, regions), pl.String),
                               d=pl.col("importer").map_elements(lambda c: region_of(c, regions), pl.String))
    totals = pairs.filter(pl.col("o") != pl.col("d")).group_by("o", "d").agg(pl.col("value_kusd").sum() / 1e3)
    return {(o, d): v for o, d, v in totals.iter_rows()}


@pytest.fixture(scope="module")
def vnm_calibration(tmp_path_factory):
    return calibrate(tmp_path_factory.mktemp("cal") / "vnm", regions=VNM_REGIONS).path


# --------------------------------------------------------------------------- the default
def test_default_spec_rebuilds_the_embedded_calibration_exactly(tmp_path):
    built = calibrate(tmp_path / "default").path
    names = sorted(p.name for p in default_calibration_dir().iterdir())
    assert names == sorted(p.name for p in built.iterdir())
    for name in names:
        assert (built / name).read_bytes() == (default_calibration_dir() / name).read_bytes(), name


def test_build_default_script_is_a_wrapper_that_checks(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "data" / "build_default.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "matches" in out.stdout, out.stdout + out.stderr


def test_cli_default_equals_the_embedded_flows(tmp_path):
    result = CliRunner().invoke(main, ["calibrate", "--out", str(tmp_path / "c"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "flows.csv").read_bytes() == (default_calibration_dir() / "flows.csv").read_bytes()


# --------------------------------------------------------------------------- a new region
def test_vnm_split_keeps_every_other_pair_and_moves_vnm_out_of_row(vnm_calibration, default_calibration):
    cal = load_calibration(vnm_calibration)
    assert cal.regions == tuple(VNM_REGIONS.replace("=EU27", "").split(","))
    expected = pair_totals_from_world_csv(cal.regions)
    for (o, d), total in expected.items():
        got = cal.flows[cal.regions.index(o), cal.regions.index(d)].sum()
        assert got == pytest.approx(total, rel=1e-9), (o, d)
    usa, jpn = cal.regions.index("USA"), cal.regions.index("JPN")
    np.testing.assert_array_equal(cal.flows[jpn, usa], default_calibration.flows[1, 0])
    row, d_row = cal.regions.index("ROW"), default_calibration.regions.index("ROW")
    assert cal.gdp[row] + cal.gdp[cal.regions.index("VNM")] == pytest.approx(default_calibration.gdp[d_row], rel=1e-9)
    assert "VNM" in (vnm_calibration / "README.md").read_text()


def test_vnm_calibration_runs_and_its_baseline_reproduces_the_baci_pair_totals(vnm_calibration, tmp_path):
    result = engine.simulate("us_japan_2025", draws=1, firms=300, seed=11, out=tmp_path / "run",
                             calibration=vnm_calibration)
    base = (result.flows.filter((pl.col("period") == 0) & (pl.col("origin") != pl.col("destination")))
            .group_by("origin", "destination").agg(pl.col("exports").sum()))
    expected = pair_totals_from_world_csv(tuple(VNM_REGIONS.replace("=EU27", "").split(",")))
    assert base.height == 110
    # the shipped BACI table has no KOR <-> VNM trade (a hole of the redistributed file, PROVENANCE.md)
    assert set(expected) == {(o, d) for o, d, _ in base.iter_rows()} - {("KOR", "VNM"), ("VNM", "KOR")}
    for o, d, exports in base.iter_rows():
        assert exports == pytest.approx(expected.get((o, d), 0.0), rel=1e-9), (o, d)  # 10 digits in flows.csv
    assert "KOR->VNM, VNM->KOR" in (vnm_calibration / "README.md").read_text()


# --------------------------------------------------------------------------- specs
def test_overlapping_groups_are_refused(tmp_path):
    groups = tmp_path / "groups.csv"
    groups.write_text("group,members,name\nMAINLAND_SEA,THA KHM LAO MMR VNM,Mainland South-East Asia\n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", regions="USA,VNM,SEA_REST=ASEAN-VNM,MAINLAND=MAINLAND_SEA-VNM,ROW", groups=groups)
    assert str(err.value).startswith("--regions: item 4 'MAINLAND=MAINLAND_SEA-VNM': country THA is in two regions: "
                                     "'SEA_REST' and 'MAINLAND'")


def test_user_group_and_sector_concordance(tmp_path):
    groups = tmp_path / "groups.csv"
    groups.write_text("group,members,name\nMAINLAND_SEA,THA KHM LAO MMR VNM,Mainland South-East Asia\n")
    concordance = tmp_path / "hs2.csv"
    sectors = pl.read_csv(default_calibration_dir() / "sectors.csv")
    rows = ["hs2,sector,name"]
    for code, name, chapters in sectors.select("code", "name", "hs_chapters").iter_rows():
        for part in chapters.split(";"):
            lo, _, hi = part.partition("-")
            rows += [f"{c:02d},{code},{name}" for c in range(int(lo), int(hi or lo) + 1)]
    concordance.write_text("\n".join(rows) + "\n")
    built = calibrate(tmp_path / "c", regions="USA,JPN,CHN,EU=EU27,CAN,MEX,KOR,GBR,IND,ROW", sectors=str(concordance),
                      groups=groups)
    for name in ("flows.csv", "tariffs.csv", "regions.csv"):
        assert (built.path / name).read_bytes() == (default_calibration_dir() / name).read_bytes(), name
    other = calibrate(tmp_path / "d", regions="USA,CHN,MAINLAND_SEA,SEA_REST=ASEAN-THA-KHM-LAO-MMR-VNM,ROW",
                      sectors="food=01-24,fuel=27,rest=*", groups=groups)
    cal = load_calibration(other.path)
    assert cal.regions == ("USA", "CHN", "MAINLAND_SEA", "SEA_REST", "ROW")
    assert cal.region_names[2] == "Mainland South-East Asia"
    assert cal.sectors == ("food", "fuel", "rest")


def test_user_tariffs_replace_the_shipped_rule_in_their_cells(tmp_path):
    rates = tmp_path / "tariffs.csv"
    rates.write_text("importer,exporter,sector,rate\nJPN,USA,agri_food,0.25\n")
    cal = load_calibration(calibrate(tmp_path / "c", tariffs=rates).path)
    default = load_calibration(default_calibration_dir())
    usa, jpn = cal.regions.index("USA"), cal.regions.index("JPN")
    assert cal.tariffs[usa, jpn, 0] == 0.25
    changed = np.argwhere(cal.tariffs != default.tariffs)
    assert changed.tolist() == [[usa, jpn, 0]]


# --------------------------------------------------------------------------- raw BACI
@pytest.fixture(scope="module")
def synthetic_baci(tmp_path_factory):
    seed = 20250402
    print(f"synthetic BACI seed {seed}")
    return write_baci(tmp_path_factory.mktemp("baci"), 20_000, seed)


def test_raw_baci_gives_real_bilateral_sector_detail(synthetic_baci, tmp_path):
    data, codes = synthetic_baci
    regions = ("USA", "VNM", "CHN", "EU", "ROW")
    seen = []
    built = calibrate(tmp_path / "c", regions="USA,VNM,CHN,EU=EU27,ROW", baci=data, baci_countries=codes,
                      progress=lambda done, total: seen.append(done))
    assert built.baci_rows == 20_000 and seen[-1] == data.stat().st_size
    cal = load_calibration(built.path)
    # expected sums computed independently of the builder: NumPy over the raw rows
    raw = pl.read_csv(data, schema_overrides={"k": pl.String})
    country = dict(pl.read_csv(codes).select("country_code", "country_iso3").iter_rows())
    sector_of = {}
    for j, chapters in enumerate(pl.read_csv(default_calibration_dir() / "sectors.csv")["hs_chapters"]):
        for part in chapters.split(";"):
            lo, _, hi = part.partition("-")
            sector_of.update({c: j for c in range(int(lo), int(hi or lo) + 1)})
    expected = np.zeros(cal.flows.shape)
    o = np.array([regions.index(region_of(country[c], regions)) for c in raw["i"]])
    d = np.array([regions.index(region_of(country[c], regions)) for c in raw["j"]])
    k = np.array([sector_of[int(x[:2])] for x in raw["k"]])
    keep = o != d
    np.add.at(expected, (o[keep], d[keep], k[keep]), raw["v"].to_numpy()[keep] / 1e3)
    foreign = ~np.eye(len(regions), dtype=bool)
    np.testing.assert_allclose(cal.flows[foreign], expected[foreign], rtol=1e-9)
    assert "BACI 2023 from" in (built.path / "README.md").read_text()
    # the products table: HS6 codes of every foreign cell, summing to its flow; one product checked
    # against the raw rows
    products = cal.products
    assert len(products.codes[0]) == 6
    by_cell = np.zeros(cal.flows.shape)
    for p, sector in enumerate(products.sector):
        by_cell[:, :, sector] += products.values[:, :, p]
    np.testing.assert_allclose(by_cell[foreign], cal.flows[foreign], rtol=1e-8)
    padded = np.array([x.zfill(6) for x in raw["k"]])
    code = padded[np.flatnonzero(keep)[0]]
    rows = (padded == code) & keep
    want = np.zeros((len(regions), len(regions)))
    np.add.at(want, (o[rows], d[rows]), raw["v"].to_numpy()[rows] / 1e3)
    np.testing.assert_allclose(products.values[:, :, products.codes.index(code)], want, rtol=1e-8, atol=1e-12)


def _bad_baci(tmp_path, synthetic_baci, line, field, value):
    data, codes = synthetic_baci
    rows = data.read_text().splitlines()
    header = rows[0].split(",")
    cells = rows[line - 1].split(",")
    cells[header.index(field)] = value
    rows[line - 1] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows) + "\n")
    return bad, codes


@pytest.mark.parametrize("field, value, message", [
    ("i", "999999", "unknown country code '999999'"),
    ("j", "x1", "must be a numeric country code"),
    ("v", "-3.5", "trade value must be >= 0"),
    ("t", "2022", "year 2022 differs"),
])
def test_bad_baci_rows_name_the_file_line_and_field(synthetic_baci, tmp_path, field, value, message):
    bad, codes = _bad_baci(tmp_path, synthetic_baci, 12_345, field, value)
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", regions="USA,CHN,ROW", baci=bad, baci_countries=codes)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{bad}: line 12345, field '{field}'")
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".c.partial*"))


def test_concordance_missing_a_chapter_names_the_concordance_and_the_baci_line(synthetic_baci, tmp_path):
    data, codes = synthetic_baci
    with pytest.raises(InputError) as err:  # no chapter 27 in the sectors, which the Census data has
        calibrate(tmp_path / "c", sectors="food=01-24,rest=28-99+25-26", baci=data, baci_countries=codes)
    assert str(err.value) == ("--sectors: HS chapter(s) 27 have US imports in 2024 (Census) but are in no sector; "
                              "add them to a sector, or add a sector of every other chapter (CODE=*)")
    bad, codes = _bad_baci(tmp_path, synthetic_baci, 777, "k", "779999")  # chapter 77: reserved, no US imports
    concordance = tmp_path / "hs2.csv"
    concordance.write_text("hs2,sector\n" + "".join(f"{c:02d},{'a' if c < 50 else 'b'}\n" for c in range(1, 100)
                                                    if c != 77))
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", sectors=str(concordance), baci=bad, baci_countries=codes)
    assert str(err.value).startswith(f"{concordance}: HS chapter 77 is in no sector (product 779999 on line 777 of {bad})")


@pytest.mark.parametrize("regions, message", [
    ("USA,DEU,EU27,ROW", "--regions: item 3 'EU27': country DEU is in two regions: 'DEU' and 'EU27'"),
    ("USA,X=USA+CHN,ROW", "--regions: item 2 'X=USA+CHN': country USA is in two regions"),
    ("USA,X=,ROW", "--regions: item 2 'X=': region 'X' is empty"),
    ("USA,VMN,ROW", "--regions: item 2 'VMN': unknown country or group 'VMN'"),
    ("USA,ROW,ROW", "--regions: item 3 'ROW': region 'ROW' appears twice"),
    ("USA", "--regions: needs at least two regions"),
])
def test_bad_region_specs(tmp_path, regions, message):
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", regions=regions)
    assert str(err.value).startswith(message)


def test_bad_group_and_region_files_name_the_line(tmp_path):
    groups = tmp_path / "groups.csv"
    groups.write_text("group,members\nOK,FRA DEU\nNONE,  \n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", regions="USA,OK,ROW", groups=groups)
    assert str(err.value) == f"{groups}: line 3, field 'members': group 'NONE' is empty; list its ISO3 codes"
    spec = tmp_path / "regions.csv"
    spec.write_text("region,members\nUSA,USA\nNA,CAN+MEX\nAM,BRA+MEX\nROW,\n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "c", regions=str(spec))
    assert str(err.value).startswith(f"{spec}: line 4: country MEX is in two regions: 'NA' and 'AM'")


def test_cli_bad_input_is_one_line_exit_2_and_no_output(tmp_path):
    result = CliRunner().invoke(main, ["calibrate", "--regions", "USA,EU27,FRA,ROW", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --regions: item 3 'FRA': country FRA is in two regions: 'EU27' and 'FRA'; each country may be "
        "in one region only"]
    assert not (tmp_path / "c").exists()


def test_existing_output_is_refused_unless_overwrite_of_a_calibration(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        calibrate(tmp_path / "c")
    with pytest.raises(InputError, match="holds other files"):
        calibrate(tmp_path / "c", overwrite=True)
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"
    calibrate(tmp_path / "d")
    calibrate(tmp_path / "d", regions="USA,ROW", overwrite=True)
    assert load_calibration(tmp_path / "d").regions == ("USA", "ROW")


# --------------------------------------------------------------------------- scenario portability
def test_validate_lists_every_code_the_calibration_lacks(tmp_path):
    out = calibrate(tmp_path / "c", regions="USA,JPN,CHN,ROW", sectors="food=01-24,cars=87,rest=*").path
    result = CliRunner().invoke(main, ["scenarios", "validate", "liberation_day_2025", "--calibration", str(out)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "lacks region(s) CAN, EU, GBR, IND, KOR, MEX and sector(s) agri_food" in line
    assert len(line.splitlines()) == 1
    result = CliRunner().invoke(main, ["scenarios", "validate", "us_japan_2025", "--calibration",
                                       str(calibrate(tmp_path / "v", regions=VNM_REGIONS).path)])
    assert result.exit_code == 0, result.output


def test_sector_table_with_shares_and_errors_with_lines(tmp_path):
    table = tmp_path / "sectors.csv"
    table.write_text("code,name,hs_chapters,exporter_share\ncars,Cars,87,0.5\nrest,Everything else,*,0.1\n")
    cal = load_calibration(calibrate(tmp_path / "c", regions="USA,DEU,ROW", sectors=str(table)).path)
    assert cal.sectors == ("cars", "rest")
    sectors = pl.read_csv(tmp_path / "c" / "sectors.csv")
    assert sectors["exporter_share"].to_list() == [0.5, 0.1]
    assert sectors["hs_chapters"].to_list() == ["87", "01-86;88-99"]
    table.write_text("code,name,hs_chapters\ncars,Cars,87\nvehicles,Vehicles,86-88\nrest,Rest,*\n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "d", sectors=str(table))
    assert str(err.value) == f"{table}: line 3: HS chapter 87 is in two sectors: 'cars' and 'vehicles'"
    table.write_text("code,name,hs_chapters,naics3\ncars,Cars,87,999\nrest,Rest,*,ALL\n")
    with pytest.raises(InputError, match="unknown NAICS-3 industry '999'"):
        calibrate(tmp_path / "d", sectors=str(table))


def test_entrepot_region_gets_no_domestic_cell_and_a_note(tmp_path):
    built = calibrate(tmp_path / "c", regions="USA,HKG,ROW")
    cal = load_calibration(built.path)
    assert cal.flows[1, 1].sum() == 0 and cal.flows[0, 0].sum() > 0
    assert any("domestic sales 0 for HKG" in note for note in built.notes)


def test_user_gdp_replaces_the_shipped_value_and_bad_rows_are_named(tmp_path):
    gdp = tmp_path / "gdp.csv"
    gdp.write_text("iso3,gdp_usd\nVNM,500000000000\nWLD,1e14\n")
    built = calibrate(tmp_path / "c", regions="USA,VNM,ROW", gdp=gdp)
    cal = load_calibration(built.path)
    assert cal.gdp[1] == 500_000.0  # USD million
    assert any("WLD" in note for note in built.notes)  # an aggregate code is ignored, and said so
    gdp.write_text("iso3,gdp_usd\nVNM,500000000000\nUSA,-1\n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "d", regions="USA,VNM,ROW", gdp=gdp)
    assert str(err.value) == f"{gdp}: line 3, field 'gdp_usd': must be >= 0 (current USD) (got -1.0)"
    rates = tmp_path / "tariffs.csv"
    rates.write_text("importer,exporter,sector,rate\nUSA,VNM,agri_food,0.46\nUSA,XXX,agri_food,0.1\n")
    with pytest.raises(InputError) as err:
        calibrate(tmp_path / "d", regions="USA,VNM,ROW", tariffs=rates)
    assert str(err.value).startswith(f"{rates}: line 3, field 'exporter': unknown region code; allowed: USA, VNM, ROW")


def test_a_long_inline_region_list_is_not_taken_for_a_file_name(tmp_path):
    countries = list(load_world().countries)[:60]
    built = calibrate(tmp_path / "c", regions=",".join(countries) + ",ROW")
    assert built.regions == (*countries, "ROW")
