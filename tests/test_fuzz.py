"""Property-based fuzz of scenario files (hypothesis): whatever a file says, the engine answers with
a result or one clear error (exit code 2), never a traceback, never a non-finite output.

Bounded in time: few examples, derandomized (the same examples every run, so a failure reproduces).
"""

import math

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli.main import main

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time even on failure
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

REGIONS = ["USA", "JPN", "CHN", "ALL"]
SECTORS = ["agri_food", "motor_vehicles_parts", "ALL"]
JUNK = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                 st.sampled_from([8e9, 1e308, -1e308, -1, "25%", "-5%", "abc", "XXX", "2025-13"]))


def toml_value(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@st.composite
def scenario_texts(draw):
    """A plausible scenario with 0 to 3 of its values replaced by junk (numbers of any size,
    nan, inf, bad strings); runs happen on the plausible ones."""
    fields = {"start": "2025-01", "periods": draw(st.integers(3, 12))}
    events = []
    for j in range(draw(st.integers(0, 2))):
        events.append(("tariff", {"date": f"2025-0{draw(st.integers(2, 3))}-1{draw(st.integers(0, 9))}",
                                  "importer": draw(st.sampled_from(REGIONS[:2])),
                                  "exporter": draw(st.sampled_from(REGIONS)),
                                  "sectors": draw(st.sampled_from(SECTORS)), "rate": draw(st.floats(0, 1))}))
    if draw(st.booleans()):
        events.append(("demand", {"date": "2025-03-01", "importer": "JPN", "exporter": "USA",
                                  "sectors": draw(st.sampled_from(SECTORS[:2])),
                                  "usd_per_year": draw(st.floats(-50, 20000))}))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["sigma", "theta", "pass_through", "shock_corr", "sunk_cost_ratio"]))
        dist = draw(st.sampled_from(["fixed", "normal", "truncnormal", "uniform", "beta", "choice"]))
        low = draw(st.floats(0, 5))
        values = {"fixed": {"value": low}, "normal": {"mean": low, "sd": draw(st.floats(0, 1))},
                  "truncnormal": {"mean": low + 0.1, "sd": 0.2, "low": low, "high": low + 0.5},
                  "uniform": {"low": low, "high": low + draw(st.floats(0.01, 3))},
                  "beta": {"alpha": 2.0, "beta": 3.0, "low": low, "high": low + 1},
                  "choice": {"values": [low, low + 0.1]}}[dist]
        spec = {"name": name, "dist": dist, **values}
        if name == "pass_through":
            spec["origins"] = ["JPN"]
        events.append(("parameter", spec))
    # the mutations: which values become junk
    targets = [("top", key) for key in fields] + [(j, key) for j, (_, spec) in enumerate(events) for key in spec]
    for target in draw(st.lists(st.sampled_from(targets), max_size=3, unique=True)) if targets else []:
        junk = draw(JUNK)
        if target[0] == "top":
            fields[target[1]] = junk
        else:
            events[target[0]][1][target[1]] = junk
    lines = ['name = "fuzz"'] + [f"{k} = {toml_value(v)}" for k, v in fields.items()]
    for kind, spec in events:
        lines.append(f"[[{kind}]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in spec.items()]
    return "\n".join(lines) + "\n"


def _clean_exit(result):
    """0, or one clear line with exit code 2 (bad input) or 3 (no equilibrium found)."""
    assert result.exit_code in (0, 2, 3), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code in (2, 3):
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), lines


@FUZZ
@given(text=scenario_texts())
def test_fuzzed_scenarios_give_a_finite_result_or_one_clear_error(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    runner = CliRunner()
    validated = runner.invoke(main, ["scenarios", "validate", str(path), "--draws", "3"])
    _clean_exit(validated)
    out = folder / "run"
    result = runner.invoke(main, ["simulate", str(path), "--draws", "2", "--firms", "60", "--out", str(out), "-q"])
    _clean_exit(result)
    if validated.exit_code == 2:
        assert result.exit_code == 2, "validate refused what simulate accepted"
    if result.exit_code == 2:
        assert validated.exit_code == 2, "validate accepted what simulate refused"
    if result.exit_code == 0:
        for table in ("flows", "regions", "prices", "summary"):
            frame = pl.scan_parquet(out / table).collect()
            numeric = frame.select(pl.selectors.float())
            assert numeric.select(pl.all().is_finite().all()).row(0) == tuple([True] * numeric.width), table
    else:
        assert not out.exists()


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_as_a_scenario_file_give_one_clear_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "junk.toml"
    path.write_bytes(data)
    _clean_exit(CliRunner().invoke(main, ["scenarios", "validate", str(path)]))
