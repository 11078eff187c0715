"""Reports, figures, exports and summaries of a finished run (engine report / export / summary).

One small real run (two scenarios, common random numbers, firm sample) serves the module:
``us_japan_2025`` and ``one_input``, a scenario whose only uncertain input that can move Japan's
exports to the US is a 50/50 branch between free trade and a 40 % tariff (its other uncertain
inputs, Korea's car pass-through and the won, cannot move that flow in PE), so variance
attribution must give the branch nearly all of the spread.
"""

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import engine
from engine.cli.main import main
from engine.outputs.attribution import (
    MIN_DRAWS,
    UNEXPLAINED,
    band_error,
    bootstrap_quantile_se,
    input_groups,
    residual_share,
    shapley_effects,
)
from engine.outputs.report.data import ScenarioData
from engine.outputs.report.page import build_report
from engine.outputs.summary import run_summary
from engine.runs.folder import open_run
from tests.conftest import write_scenario

ONE_INPUT = """
name = "one_input"
title = "Free trade or a 40% US tariff on Japan, 50/50"
start = "2025-01"
periods = 6
focus = { exporter = "JPN", importer = "USA" }

[[fx_process]]
currency = "KOR"
mean_reversion = 0.05
volatility = 0.04

[[parameter]]
name = "pass_through"
origins = ["KOR"]
sectors = ["motor_vehicles_parts"]
dist = "uniform"
low = 0.3
high = 0.8

[[branch]]
name = "decision"
date = "2025-02-01"
  [[branch.option]]
  name = "free"
  probability = 0.5
  [[branch.option]]
  name = "tariff"
  probability = 0.5
    [[branch.option.tariff]]
    date = "2025-03-01"
    importer = "USA"
    exporter = "JPN"
    sectors = "ALL"
    rate = "40%"
"""
DRAWS, FIRMS, SEED = 8, 2000, 11


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    scenario = write_scenario(folder, ONE_INPUT, "one_input")
    # ge, so that the welfare charts are drawn; firm rows (the size deciles) in ge come from the
    # static firm model
    return engine.simulate(["us_japan_2025", scenario], draws=DRAWS, firms=FIRMS, seed=SEED,
                           out=folder / "run", firm_output="sample", dynamics="static", closure="ge")


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    """The report and figures written by the command, and the Report object of the same run."""
    folder = tmp_path_factory.mktemp("report-out")
    realized = Path(__file__).resolve().parents[1] / "data" / "examples" / "made_up_realized_levels.csv"
    result = CliRunner().invoke(main, ["backtest", str(run.path), "--realized", str(realized)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["report", str(run.path), "--out", str(folder / "report.html"),
                                       "--figures", str(folder / "figures")])
    assert result.exit_code == 0, result.output
    assert f"Report: {folder / 'report.html'}" in result.output
    return build_report(run), folder


# --- variance attribution and Monte Carlo error: known answers ------------------------------------
def test_bootstrap_se_matches_the_spread_of_quantiles_over_repeated_runs():
    seed = 7
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n, quantiles = 200, [0.05, 0.5, 0.95]
    samples = rng.lognormal(sigma=0.5, size=(400, n))  # 400 independent "runs" of n draws
    truth = np.quantile(samples, quantiles, axis=1).std(axis=1, ddof=1)
    bootstrap = np.mean([bootstrap_quantile_se(s, quantiles) for s in samples[:30]], axis=0)
    assert bootstrap == pytest.approx(truth, rel=0.2)
    # one call handles a months-by-draws matrix row by row
    by_row = bootstrap_quantile_se(samples[:3], quantiles)
    assert by_row.shape == (3, 3) and by_row[:, 1] == pytest.approx(bootstrap_quantile_se(samples[1], quantiles))


def test_residual_share_is_the_unexplained_variance():
    rng = np.random.default_rng(3)
    n = 500
    x = rng.uniform(size=n)
    noise = rng.normal(scale=0.1, size=n)
    y = 2 * x + noise
    share = residual_share(y, [("x", x, "continuous")])
    assert share == pytest.approx(0.01 / np.var(y), rel=0.2)
    assert residual_share(y[:4], [("x", x[:4], "continuous")]) is None  # too few draws
    error = band_error(y, [("x", x, "continuous")], firms=1000)
    assert 0 < error["narrowing_4x_firms"] < 0.05
    assert [q["q"] for q in error["quantiles"]] == [0.05, 0.25, 0.5, 0.75, 0.95]


def test_attribution_on_a_scenario_where_only_the_branch_matters(tmp_path):
    """Known answers of the Shapley effects on test functions are in tests/test_attribution.py;
    here a run where only the branch and the firm population can move the outcome."""
    scenario = write_scenario(tmp_path, ONE_INPUT, "one_input")
    run = engine.simulate(scenario, draws=200, firms=500, seed=SEED)
    data = ScenarioData(run, run.manifest["scenarios"][0])
    headline = data.headline()
    assert headline["path"].n_unique() == 2, "the seed must put draws on both options"
    inputs = input_groups(data.draws)
    labels = [label for label, _values, _kind in inputs]
    assert any("pass-through KOR" in label for label in labels) and any("KOR" in label and "exchange" in label
                                                                        for label in labels)
    shapley = shapley_effects(headline["change_pct"], inputs)
    print(shapley)
    rows = {row["input"]: row for row in shapley["rows"]}
    branch = rows.pop("policy path (negotiation branch)")
    # the branch explains all that the inputs explain, and inputs that cannot move the flow
    # nothing, within three bootstrap standard errors; the rest is finite-firm noise (small here)
    assert abs(branch["effect"] - shapley["explained"]) <= 3 * branch["se"] and branch["lo"] > 0.75
    for row in rows.values():
        assert abs(row["effect"]) <= 3 * row["se"], row
    assert sum(r["effect"] for r in shapley["rows"]) == pytest.approx(shapley["explained"], abs=1e-12)
    assert 0 < shapley["unexplained"] < 0.05
    assert shapley["enough"], "200 draws pin every share within +-10 points here"
    # the report draws them with their intervals, and a table with the unexplained share
    built = build_report(run)
    spec = built.charts["one_input.attribution"].to_dict()
    assert "errorbar" in json.dumps(spec)
    values = [row for dataset in spec["datasets"].values() for row in dataset]
    assert sum(row["effect"] for row in values) == pytest.approx(100.0)
    assert {row["input"] for row in values} == {r["input"] for r in shapley["rows"]} | {UNEXPLAINED}
    assert all(row["lo"] <= row["effect"] <= row["hi"] for row in values)
    import vl_convert

    assert "<svg" in vl_convert.vegalite_to_svg(spec)  # the layered bars and error bars draw
    table = built.tables["one_input.attribution"]
    assert "policy path (negotiation branch)" in table and html.escape(UNEXPLAINED) in table
    assert f"{100 * branch['effect']:.1f} %" in table


def test_unexplained_variance_is_finite_firm_noise_falling_as_one_over_firms(tmp_path):
    """In ``one_input`` nothing but the branch and the firm population moves the outcome, so the
    residual variance across draws is firm noise: 16 times the firms should divide it by about 16
    (the two variance estimates have about 37 degrees of freedom each: a factor 8 to 32 is the
    two-sigma range)."""
    scenario = write_scenario(tmp_path, ONE_INPUT, "one_input")
    residual = {}
    for firms in (200, 3200):
        run = engine.simulate(scenario, draws=40, firms=firms, seed=SEED)
        data = ScenarioData(run, run.manifest["scenarios"][0])
        y = data.headline()["change_pct"].to_numpy()
        residual[firms] = residual_share(y, input_groups(data.draws)) * np.var(y, ddof=1)
    print(residual)
    assert 8 < residual[200] / residual[3200] < 32


# --- the HTML page -------------------------------------------------------------------------------
class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.specs, self.external, self.divs, self._spec, self.scripts = {}, [], set(), None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key, "") and re.match(r"^(https?:)?//", attrs[key]):
                self.external.append((tag, attrs[key]))
        if tag == "link":
            self.external.append((tag, attrs.get("href")))
        if tag == "script":
            self.scripts += 1
            if attrs.get("class") == "vega-spec":
                self._spec = (attrs["data-chart"], attrs["data-target"])
        if tag == "div" and attrs.get("class") == "chart":
            self.divs.add(attrs["id"])

    def handle_data(self, data):
        if self._spec is not None:
            self.specs[self._spec[0]] = (self._spec[1], json.loads(data))

    def handle_endtag(self, tag):
        if tag == "script":
            self._spec = None


def _rows(spec):
    """Data rows of a Vega-Lite spec (inline datasets)."""
    return sum(len(v) for v in spec.get("datasets", {}).values()) + len(spec.get("data", {}).get("values", []))


#: Charts of every scenario; the attribution is not among them: with DRAWS draws it says "too few".
EXPECTED = ["calendar", "fan", "fan_by_path", "margins", "suppliers", "regions", "band_error", "firm_deciles"]


def test_report_html_is_self_contained_and_has_every_chart_with_data(report):
    built, folder = report
    text = (folder / "report.html").read_text()
    page = _Page()
    page.feed(text)
    for scenario in ("us_japan_2025", "one_input"):
        for kind in EXPECTED:
            assert f"{scenario}.{kind}" in built.charts
        # too few draws to attribute: a plain message with the draws needed, no numbers
        assert f"{scenario}.attribution" not in built.charts
        assert any(n.startswith(f"{scenario}: no variance attribution chart (too few draws: {DRAWS};")
                   for n in built.notes)
    assert text.count("too few draws to say") == 2 and f"needs at least {MIN_DRAWS} draws" in text
    assert "differences" in built.charts
    # engine backtest wrote its tables into the run: the chart, its table and what was compared
    assert "backtest" in built.charts and '<table class="facts backtest">' in text
    assert "Against realized trade" in text and "DEU" in text
    assert set(page.specs) == set(built.charts)
    for name, (target, spec) in page.specs.items():
        assert target in page.divs, name
        assert _rows(spec) > 0, f"{name} has no data"
        assert "title" in json.dumps(spec), name
    assert page.external == []
    assert not re.search(r"@import|@font-face|url\(\s*['\"]?https?:", text)
    assert "vegaEmbed" in text and len(text) > 500_000  # the vega bundle is inlined
    assert "us_japan_2025" in text and "Scenario file" in text and f"seed</td><td>{SEED}" in text
    # every run now has export price indices and the welfare decomposition
    assert "us_japan_2025.price_volume" in built.charts and "us_japan_2025.welfare_decomposition" in built.charts


def _png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_figures_are_valid_png_and_svg_of_the_stated_size(report):
    built, folder = report
    index = json.loads((folder / "figures" / "figures.json").read_text())
    assert [entry["name"] for entry in index] == list(built.charts)
    for entry in index:
        assert _png_size(folder / "figures" / entry["png"]) == (entry["png_width"], entry["png_height"])
        assert (entry["png_width"], entry["png_height"]) == (round(2 * entry["width"]), round(2 * entry["height"]))
        root = ET.parse(folder / "figures" / entry["svg"]).getroot()
        assert root.tag.endswith("svg")
        assert (float(root.get("width")), float(root.get("height"))) == (entry["width"], entry["height"])
        assert entry["width"] > 300 and entry["height"] > 100
        assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 3, entry["name"]


def test_price_volume_chart_is_left_out_with_a_note_for_runs_without_price_indices(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns("firms"))
    for part in (copy / "flows").glob("scenario=*/*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.drop_columns(["export_price_index", "export_quantity_index"]), part)
    built = build_report(open_run(copy))
    assert "us_japan_2025.price_volume" not in built.charts
    assert any("price vs volume" in n for n in built.notes)


def test_optional_columns_are_shown_when_present(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns("firms"))
    for part in (copy / "flows").glob("scenario=*/*.parquet"):
        table = pq.read_table(part)
        unit = pa.array(1.0 + 0.01 * table["period"].to_numpy())  # prices up 1 % a month
        column = table.schema.get_field_index("export_price_index")
        pq.write_table(table.set_column(column, "export_price_index", unit), part)
    for part in (copy / "regions").glob("scenario=*/*.parquet"):  # the decomposition's columns, replaced
        table = pq.read_table(part)
        table = table.drop_columns([c for c in table.column_names if c.startswith("welfare_")])
        field = pa.field("welfare_terms_of_trade_pct", pa.float64(), metadata={"description": "terms of trade"})
        pq.write_table(table.append_column(field, pa.array(0.5 * table["real_income_change_pct"].to_numpy())), part)
    built = build_report(open_run(copy))
    assert "us_japan_2025.price_volume" in built.charts and "us_japan_2025.welfare_decomposition" in built.charts
    assert "us_japan_2025.firm_deciles" not in built.charts
    assert any("firm deciles" in n for n in built.notes)
    record = run.manifest["scenarios"][0]
    data = ScenarioData(engine.SimulationResult(copy), record)
    last = data.price_volume().filter((pl.col("component") == "price index")).sort("date")["p50"][-1]
    assert last == pytest.approx(1.0 + 0.01 * data.last_period, rel=1e-9)  # volume = exports / unit value
    decomposition = ScenarioData(engine.SimulationResult(copy), record).welfare_decomposition()
    assert decomposition["component"].unique().to_list() == ["terms of trade"]


def test_pe_report_draws_no_welfare_decomposition_and_says_why(tmp_path):
    """A partial-equilibrium closure (pe_moving, the default before this version) measures no income: the report keeps the
    regions chart (prices, tariff revenue) with a caption saying its real income is not welfare, and
    leaves the decomposition out with a note. The dynamic firm model's rows give the size deciles."""
    run = engine.simulate("us_japan_2025", draws=2, firms=500, seed=SEED, out=tmp_path / "pe", firm_output="sample",
                          closure="pe_moving")
    built = build_report(open_run(run.path))
    assert "us_japan_2025.regions" in built.charts and "us_japan_2025.firm_deciles" in built.charts
    assert "us_japan_2025.welfare_decomposition" not in built.charts
    assert any("pe_moving closure" in n and "--closure ge" in n for n in built.notes)
    captions = [caption for section in built.sections for name, caption in section["items"]
                if name == "us_japan_2025.regions"]
    assert captions and "not welfare" in captions[0]


def test_report_of_a_scenario_without_uncertain_inputs(tmp_path):
    text = """
name = "certain"
start = "2025-01"
periods = 3
[[tariff]]
date = "2025-02-01"
importer = "USA"
exporter = "JPN"
sectors = "ALL"
rate = "20%"
"""
    run = engine.simulate(write_scenario(tmp_path, text, "certain"), draws=5, firms=300, seed=1)
    built = build_report(run, out=tmp_path / "r.html")
    assert "certain.fan" in built.charts and "certain.band_error" in built.charts
    assert "certain.fan_by_path" not in built.charts and "certain.attribution" not in built.charts
    assert any("no variance attribution" in n for n in built.notes)
    calendar = ScenarioData(run, run.manifest["scenarios"][0]).calendar()
    assert calendar["path"].unique().to_list() == ["(no branches)"]
    assert calendar.filter(pl.col("date") >= pl.date(2025, 2, 1))["tariff_pct"].min() >= 20
    page = _Page()
    page.feed((tmp_path / "r.html").read_text())
    assert set(page.specs) == set(built.charts)
    few = build_report(engine.simulate(tmp_path / "certain.toml", draws=3, firms=300, seed=1))
    assert "certain.band_error" not in few.charts and any("fewer than 4 draws" in n for n in few.notes)


def test_report_command_without_the_report_extra(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "altair", None)  # import altair -> ImportError
    monkeypatch.delitem(sys.modules, "engine.outputs.report.charts", raising=False)
    result = CliRunner().invoke(main, ["report", str(run.path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "pip install 'tradeflow-engine[report]'" in result.output
    assert not (tmp_path / "r.html").exists()


def test_vega_bundle_is_cached_per_vl_convert_version(tmp_path, monkeypatch):
    from engine.outputs.report.page import vega_bundle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = vega_bundle()
    cached = list((tmp_path / "tradeflow-engine").glob("vega-embed-bundle-*.js"))
    assert len(cached) == 1 and cached[0].read_text() == first and "vegaEmbed" in first
    cached[0].write_text("window.vegaEmbed = 1;")  # the cached file is what the next report inlines
    assert vega_bundle() == "window.vegaEmbed = 1;"


def test_result_object_gives_the_report_and_charts(run):
    charts = run.charts()
    assert "us_japan_2025.fan" in charts
    assert charts["us_japan_2025.fan"].to_dict()["$schema"].startswith("https://vega.github.io/schema/vega-lite")


# --- a real browser ------------------------------------------------------------------------------
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    _built, folder = report
    profile = tempfile.mkdtemp(prefix="chromium-")
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--virtual-time-budget=15000", "--window-size=1100,3000"]
    url = (folder / "report.html").as_uri()
    try:
        shot = tmp_path / "shot.png"
        subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120, check=False)
        dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120,
                             check=False).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert _png_size(shot) == (1100, 3000)
    assert shot.stat().st_size > 100_000  # a blank page is a few kB
    assert 'class="chart chart-failed"' not in dom
    page = _Page()
    page.feed(dom)
    rendered = re.findall(r'<div class="chart[^"]*"[^>]*id="(chart-\d+)"[^>]*>\s*<svg', dom)
    assert len(rendered) == len(page.divs), "every chart div holds a rendered SVG"


# --- commands ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["report", "{tmp}/nothing"], "no such run folder"),
    (["report", "{tmp}"], "no manifest.json"),
    (["export", "{run}", "--table", "regions", "--sector", "agri_food"], "regions table has no sector column"),
    (["export", "{run}", "--table", "flows", "--origin", "XYZ"], "unknown value 'XYZ'; allowed: USA"),
    (["export", "{run}", "--table", "flows", "--periods", "1-3"], "neither a period number"),
    (["export", "{run}", "--table", "flows", "--periods", "2030-01:"], "no rows match"),
    (["export", "{run}", "--table", "draws", "--periods", "1:2"], "no period column"),
    (["summary", "{tmp}/nothing"], "no such run folder"),
])
def test_bad_input_gives_one_line_and_exit_code_2(run, tmp_path, args, message):
    args = [a.format(run=run.path, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_incomplete_run_folder_is_refused(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns("firms"))
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    result = CliRunner().invoke(main, ["summary", str(copy)])
    assert result.exit_code == 2 and "status is 'running'" in result.output


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_filters_and_formats(run, tmp_path, fmt):
    out = tmp_path / f"jpn.{fmt}"
    result = CliRunner().invoke(main, ["export", str(run.path), "--table", "flows", "--format", fmt, "--out",
                                       str(out), "--origin", "JPN", "--destination", "USA,CHN",
                                       "--sector", "machinery", "--periods", "2025-03:4", "--scenario", "one_input"])
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        frame = pl.read_csv(out, try_parse_dates=True)
    elif fmt == "parquet":
        frame = pl.read_parquet(out)
    else:
        frame = pl.read_excel(out, engine="openpyxl")
    expected = run.flows.filter((pl.col("scenario") == "one_input") & (pl.col("origin") == "JPN")
                                & pl.col("destination").is_in(["USA", "CHN"]) & (pl.col("sector") == "machinery")
                                & pl.col("period").is_between(2, 4))
    assert frame.height == expected.height == DRAWS * 2 * 3
    assert f"{expected.height:,} rows" in result.output
    assert sorted(frame["exports"].to_list()) == pytest.approx(sorted(expected["exports"].to_list()), rel=1e-12)
    again = CliRunner().invoke(main, ["export", str(run.path), "--table", "flows", "--format", fmt,
                                      "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_summary_command_reprints_the_run_summary(run):
    result = CliRunner().invoke(main, ["summary", str(run.path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == run_summary(run).strip()
    assert "JPN -> USA" in result.output and "one_input" in result.output


def test_default_export_name_is_in_the_current_folder(run, tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["export", str(run.path), "--table", "summary", "--sector", "ALL"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(tmp_path / "run-summary.csv")
    assert set(frame["sector"].unique()) == {"ALL"} and frame.height > 0
