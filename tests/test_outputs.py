"""The Parquet output of a run: files, schemas with metadata, readers (PyArrow, DuckDB, Polars),
accounting identities of the flows, firm-level rows consistent with the flows, and the manifest."""

import tomllib

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

import engine
from engine import config
from engine.firms.sampling import block_strata
from engine.outputs.schemas import FIRMS_SCHEMA, FLOWS_SCHEMA
from engine.paths import scenarios_dir

DRAWS, FIRMS, SEED, CHUNK = 3, 400, 20250403, 2
SCENARIO = "us_japan_2025"
R, K, PERIODS = 10, 8, 24
ROWS = DRAWS * PERIODS * R * R * K
KEYS = ["draw", "period", "origin", "destination", "sector"]
VALUES = ["tariff", "exports", "sales", "tariff_revenue", "exporters", "entries", "exits"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs") / "run"
    return engine.simulate(SCENARIO, draws=DRAWS, firms=FIRMS, seed=SEED, out=out, firm_output="sample", dynamics="static",
                           draws_per_chunk=CHUNK, command="pytest test_outputs")


@pytest.fixture(scope="module")
def flows(run):
    return run.flows


@pytest.fixture(scope="module")
def firms(run):
    return run.firms


def flow_parts(run):
    return sorted((run.path / "flows" / f"scenario={SCENARIO}").glob("part-*.parquet"))


# --------------------------------------------------------------------------- files and schemas

def test_flow_part_files_one_per_chunk(run):
    parts = flow_parts(run)
    n_chunks = -(-DRAWS // CHUNK)
    assert [p.name for p in parts] == [f"part-{j:05d}.parquet" for j in range(n_chunks)]
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == ROWS


def test_flows_schema_with_metadata(run):
    for part in flow_parts(run):
        schema = pq.read_schema(part)
        assert schema.equals(FLOWS_SCHEMA, check_metadata=True), part
        for field in schema:
            assert field.metadata[b"description"], field.name
            assert not field.nullable, field.name
        assert schema.field("exports").metadata[b"unit"].startswith(b"USD million")
        assert schema.field("tariff").metadata[b"unit"] == b"fraction"
        assert schema.metadata[b"table"] == b"flows"
        assert schema.metadata[b"engine_version"] == engine.__version__.encode()


def test_firms_schema_with_metadata(run):
    parts = sorted((run.path / "firms" / f"scenario={SCENARIO}").glob("part-*.parquet"))
    assert parts
    for part in parts:
        schema = pq.read_schema(part)
        assert schema.equals(FIRMS_SCHEMA, check_metadata=True), part
        assert schema.metadata[b"table"] == b"firms"


# --------------------------------------------------------------------------- readers agree

def test_duckdb_reads_hive_partitioned_flows(run, flows):
    pattern = str(run.path / "flows" / "*" / "*.parquet")
    con = duckdb.connect()
    try:
        rows, scenarios, total, periods = con.execute(
            "select count(*), list(distinct scenario), sum(exports), count(distinct period) "
            "from read_parquet(?, hive_partitioning=true)", [pattern]).fetchone()
        columns = [d[0] for d in con.execute(
            "select * from read_parquet(?, hive_partitioning=true) limit 0", [pattern]).description]
    finally:
        con.close()
    assert rows == ROWS
    assert scenarios == [SCENARIO]
    assert periods == PERIODS
    assert "scenario" in columns and set(FLOWS_SCHEMA.names) <= set(columns)
    polars_lazy = pl.scan_parquet(run.path / "flows" / "*" / "*.parquet", hive_partitioning=True)
    polars_rows, polars_total = polars_lazy.select(pl.len(), pl.col("exports").sum()).collect().row(0)
    assert polars_rows == ROWS
    assert polars_total == pytest.approx(total, rel=1e-12)
    assert polars_lazy.select(pl.col("scenario").unique()).collect()["scenario"].to_list() == [SCENARIO]
    assert flows.height == ROWS
    assert flows["exports"].sum() == pytest.approx(total, rel=1e-12)


def test_api_frame_matches_files(run, flows):
    from_files = pl.concat([pl.read_parquet(p) for p in flow_parts(run)]).sort(KEYS)
    api = flows.sort(KEYS)
    assert api["scenario"].unique().to_list() == [SCENARIO]
    assert api.drop("scenario").equals(from_files)
    assert api.schema["draw"] == pl.Int32 and api.schema["date"] == pl.Date


def test_flows_grid_is_complete(flows, default_calibration):
    assert flows.select(KEYS).unique().height == ROWS
    assert sorted(flows["draw"].unique().to_list()) == list(range(DRAWS))
    assert sorted(flows["period"].unique().to_list()) == list(range(PERIODS))
    assert set(flows["origin"].unique()) == set(default_calibration.regions)
    assert set(flows["sector"].unique()) == set(default_calibration.sectors)
    dates = flows.select("period", "date").unique().sort("period")
    assert dates["date"][0].isoformat() == "2025-01-01"
    assert dates["date"][-1].isoformat() == "2026-12-01"
    assert dates["date"].n_unique() == PERIODS


# --------------------------------------------------------------------------- flows: identities

def test_flows_no_nulls_or_nan(flows):
    assert flows.null_count().sum_horizontal().item() == 0
    for column in VALUES:
        assert flows[column].is_finite().all(), column


def test_flows_nonnegative(flows):
    for column in ("exports", "exporters", "entries", "exits", "tariff", "sales", "tariff_revenue"):
        assert flows[column].min() >= 0, column


def test_sales_and_tariff_revenue_identities(flows):
    exports, tariff = flows["exports"].to_numpy(), flows["tariff"].to_numpy()
    np.testing.assert_allclose(flows["sales"].to_numpy(), exports * (1.0 + tariff), rtol=1e-12, atol=0)
    np.testing.assert_allclose(flows["tariff_revenue"].to_numpy(), exports * tariff, rtol=1e-12, atol=0)


def test_baseline_period_matches_calibration(flows, default_calibration):
    """Period 0 exports reproduce the data in every draw; baseline tariffs are the calibration's."""
    regions = {c: j for j, c in enumerate(default_calibration.regions)}
    sectors = {c: j for j, c in enumerate(default_calibration.sectors)}
    base = flows.filter(pl.col("period") == 0)
    i = base["origin"].replace_strict(regions).to_numpy()
    n = base["destination"].replace_strict(regions).to_numpy()
    k = base["sector"].replace_strict(sectors).to_numpy()
    np.testing.assert_allclose(base["exports"].to_numpy(), default_calibration.flows[i, n, k], rtol=1e-9)
    np.testing.assert_array_equal(base["tariff"].to_numpy(), default_calibration.tariffs[i, n, k])


def test_scenario_tariff_on_japanese_cars(flows, default_calibration):
    """The shipped calendar: 15 % inclusive from 16 Sep 2025 on JPN -> USA motor vehicles."""
    cars = flows.filter((pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
                        & (pl.col("sector") == "motor_vehicles_parts"))
    last = cars.filter(pl.col("period") == PERIODS - 1)["tariff"]
    assert (last == 0.15).all()


# --------------------------------------------------------------------------- firms

def test_firm_rows_sell_and_have_valid_ids(firms):
    assert firms.height > 0
    assert firms.null_count().sum_horizontal().item() == 0
    assert (firms["exports"] > 0).all()
    assert firms["exports"].is_finite().all()
    assert (firms["productivity"] >= 1.0).all()
    assert firms["firm_id"].min() >= 0
    assert firms["firm_id"].max() < min(FIRMS, config.FIRM_SAMPLE)
    assert sorted(firms["draw"].unique().to_list()) == list(range(DRAWS))
    assert firms["scenario"].unique().to_list() == [SCENARIO]
    # one row per (draw, period, firm, destination)
    assert firms.select("draw", "period", "origin", "sector", "firm_id", "destination").is_unique().all()


def test_firm_productivity_is_a_firm_attribute(firms):
    """A firm keeps its productivity across periods and destinations within a draw."""
    spread = firms.group_by("draw", "origin", "sector", "firm_id").agg(pl.col("productivity").n_unique())
    assert (spread["productivity"] == 1).all()


def test_firm_weights_are_real_firms_per_simulated_firm(firms, default_calibration):
    """Weight = the real pairs of the pair's stratum (engine.firms.sampling), except the cell's
    marginal firm, which counts with its active fraction (at most one such firm per cell and period)."""
    regions = {c: j for j, c in enumerate(default_calibration.regions)}
    sectors = {c: j for j, c in enumerate(default_calibration.sectors)}
    n_sectors = len(sectors)
    strata_weight = block_strata(default_calibration.firms.reshape(-1), FIRMS,
                                 np.tile(default_calibration.shock_demand_sd, len(regions)))[2]
    block = np.array([regions[o] * n_sectors + sectors[k] for o, k in firms.select("origin", "sector").iter_rows()])
    weight = firms["weight"].to_numpy()
    assert np.all(weight > 0) and np.all(weight <= strata_weight.max(axis=1)[block] * (1 + 1e-12))
    whole = np.array([np.isin(w, strata_weight[b]) for w, b in zip(weight, block)])
    partial = firms.filter(pl.Series(~whole))
    assert partial.height < firms.height / 10
    assert partial.group_by(KEYS).len()["len"].max() in (None, 1)
    # the strata put weights below N / M at the top of a block with many firms
    assert np.any(weight < default_calibration.firms.reshape(-1)[block] / FIRMS * 0.5)


def test_sampled_firm_exports_within_cell_exports(firms, flows):
    sampled = firms.group_by(KEYS).agg((pl.col("weight") * pl.col("exports")).sum().alias("sampled"),
                                       (pl.col("weight")).sum().alias("sampled_firms"))
    joined = sampled.join(flows.select(*KEYS, "exports", "exporters"), on=KEYS, how="left")
    assert joined["exports"].null_count() == 0  # every firm row belongs to a cell of the flows
    assert (joined["sampled"] <= joined["exports"] * (1 + 1e-9)).all()
    assert (joined["sampled_firms"] <= joined["exporters"] * (1 + 1e-9)).all()
    # the sample is a real share of the cell: not all zero, not always the whole cell
    assert joined["sampled"].sum() > 0
    assert (joined["sampled"] < joined["exports"] * (1 - 1e-6)).any()


def test_all_firm_output_adds_up_to_flows(tmp_path):
    """With every firm written, weight * exports summed over a cell's firms is the cell's exports,
    and the summed weights are its exporters."""
    result = engine.simulate(SCENARIO, draws=1, firms=150, seed=7, out=tmp_path / "all", firm_output="all",
                             dynamics="static")
    sums = result.firms.group_by(KEYS).agg((pl.col("weight") * pl.col("exports")).sum().alias("firm_exports"),
                                           pl.col("weight").sum().alias("firm_count"))
    joined = result.flows.join(sums, on=KEYS, how="left").with_columns(
        pl.col("firm_exports").fill_null(0.0), pl.col("firm_count").fill_null(0.0))
    np.testing.assert_allclose(joined["firm_exports"].to_numpy(), joined["final_sales"].to_numpy(), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(joined["firm_count"].to_numpy(), joined["exporters"].to_numpy(), rtol=1e-12)
    assert result.firms["firm_id"].max() == 149


@pytest.mark.parametrize("closure", ["pe", "pe_moving"])
def test_dynamic_model_firm_rows_add_up_to_flows(tmp_path, closure):
    """The dynamic model (the shipped scenario: forward-looking firms, tariff changes, beliefs):
    with every firm written, weight * exports over a cell's firms is the cell's final sales in every
    period (customs imports add importers' stock changes, docs/model.md section 11.9) and the summed
    weights its exporters; firms enter and leave between periods. Japan's purchase commitment (US farm
    goods) is added to flows as purchases, not firm sales: that cell's final sales exceed its firms'
    sales by exactly the amount in force. In ``pe_moving`` too, where the US markets' levels move
    (the pairs exporting at the solved shifts)."""
    result = engine.simulate(SCENARIO, draws=1, firms=150, seed=7, out=tmp_path / "dyn", firm_output="all",
                             closure=closure)
    assert result.manifest["scenarios"][0]["text"].count('mode = "forward"') == 1
    sums = result.firms.group_by(KEYS).agg((pl.col("weight") * pl.col("exports")).sum().alias("firm_exports"),
                                           pl.col("weight").sum().alias("firm_count"))
    joined = result.flows.join(sums, on=KEYS, how="left").with_columns(
        pl.col("firm_exports").fill_null(0.0), pl.col("firm_count").fill_null(0.0))
    # the commitment's cell: flows = firm sales + the amount in force (0 before it starts, pro rata
    # by day in the month it starts)
    amounts = set(_values(tomllib.loads((scenarios_dir() / f"{SCENARIO}.toml").read_text()), "usd_per_year"))
    purchase = (pl.col("origin") == "USA") & (pl.col("destination") == "JPN") & (pl.col("sector") == "agri_food")
    gap = joined.filter(purchase).select(pl.col("final_sales") - pl.col("firm_exports"))["final_sales"].to_numpy()
    (amount,) = amounts
    tolerance = 1e-9 * amount
    assert ((gap > -tolerance) & (gap < amount + tolerance)).all(), gap
    assert (np.abs(gap - amount) < tolerance).sum() >= 6, gap  # seed 7 draws a deal path: in force for months
    assert ((gap > tolerance) & (gap < amount - tolerance)).sum() <= 1, gap  # the first month, pro rata
    joined = joined.filter(~purchase)
    np.testing.assert_allclose(joined["firm_exports"].to_numpy(), joined["final_sales"].to_numpy(), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(joined["firm_count"].to_numpy(), joined["exporters"].to_numpy(), rtol=1e-12)
    n_periods = result.flows["period"].n_unique()
    pairs = result.firms.group_by("firm_id", "origin", "sector", "destination").agg(pl.col("period").n_unique())
    assert (pairs["period"] < n_periods).any() and (pairs["period"] == n_periods).any()
    # productivity moves over time in the dynamic model: the same firm has several values
    moves = result.firms.group_by("firm_id", "origin", "sector").agg(pl.col("productivity").n_unique())
    assert (moves["productivity"] > 1).any()


def _values(node, key):
    """Every value of ``key`` anywhere in a parsed TOML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from ([v] if k == key else _values(v, key))
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)


# --------------------------------------------------------------------------- manifest

def test_manifest(run):
    manifest = run.manifest
    assert manifest["status"] == "complete"
    assert manifest["engine_version"] == engine.__version__
    assert manifest["seed"] == SEED
    assert manifest["command"] == "pytest test_outputs"
    assert manifest["draws"] == DRAWS
    assert manifest["firms_per_block"] == FIRMS
    assert manifest["firm_output"] == "sample"
    assert manifest["draws_per_chunk"] == CHUNK
    assert len(manifest["scenarios"]) == 1
    scenario = manifest["scenarios"][0]
    assert scenario["name"] == SCENARIO and scenario["periods"] == PERIODS
    assert scenario["text"] == (scenarios_dir() / f"{SCENARIO}.toml").read_text(encoding="utf-8")
    assert manifest["calibration"]["regions"] == list(engine.load_calibration(manifest["calibration"]["source"]).regions)
    for key in ("first_draw_s", "draws_s", "write_s", "total_s"):
        assert isinstance(manifest["timings"][key], float) and manifest["timings"][key] >= 0, key
    chunks = manifest["chunks"]
    assert [c["status"] for c in chunks] == ["complete"] * len(chunks)
    assert [c["part"] for c in chunks] == list(range(len(flow_parts(run))))
    covered = [d for c in chunks for d in range(c["draws"][0], c["draws"][1] + 1)]
    assert covered == list(range(DRAWS))
    assert set(manifest["tables"]["flows"]["columns"]) == set(FLOWS_SCHEMA.names)


def test_result_object(run):
    assert run.scenarios == [SCENARIO]
    assert (run.path / "manifest.json").is_file()
    assert run.scan("flows").select(pl.len()).collect().item() == ROWS
    with pytest.raises(FileNotFoundError):
        run.scan("nope")
