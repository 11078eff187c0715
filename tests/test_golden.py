"""Golden files: five runs whose tables must not change unless the model does.

The cases are the default run (``engine simulate`` with fewer draws and firms, and firm rows), the same
without importers' stocks, a ``ge`` run, a static-model run (both shipped scenarios, ``ge_fixed_wage``) and the default run on a Dask
LocalCluster (checked against the default run's golden file). For each table a golden file holds:

- the schema (names, types, nullability; key-value metadata is not compared),
- the row count, and the sum and sum of absolute values of every numeric column,
- a fixed sample of rows (every k-th row once sorted by all columns), every column,
- the SHA-256 of the sorted table's Arrow IPC bytes.

Values are compared to a relative 1e-9 (sums and sampled rows): a restructuring that changes no
arithmetic passes with identical bits, and a CPU of another family (other vector units under
``exp`` and ``log``) passes too. ``GOLDEN_BITS=1`` also requires the digests to match, which is
how a restructuring shows it changed no bit on the machine that wrote the files.

A change of the model regenerates them and says why in its commit::

    python tests/test_golden.py            # rewrites tests/golden/*
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
#: Rows kept per table in a golden file.
SAMPLE_ROWS = 300
RTOL = 1e-9

def _without_inventories():
    """The default scenario with ``[dynamics] inventories = false``: the model as it was before importers'
    stocks (docs/model.md section 11.9); its columns other than the stocks' were bit-identical to the
    default case's golden files of that version (then ``pe_moving``) when this case was added."""
    from engine.config import DEFAULT_SCENARIO
    from engine.scenario.read import load_scenario

    scenario = load_scenario(DEFAULT_SCENARIO)
    return scenario.model_copy(update={"dynamics": scenario.dynamics.model_copy(update={"inventories": False})})


#: name -> engine.simulate keyword arguments (all with the default seed).
CASES = {
    "default": dict(draws=3, firms=2000, firm_output="sample"),  # ge
    "pe_moving": dict(draws=3, firms=2000, firm_output="sample", closure="pe_moving"),  # the default before this version
    "no_inventories": dict(scenarios=[_without_inventories()], draws=3, firms=2000, firm_output="sample",
                           closure="pe_moving"),
    "static": dict(scenarios=["us_japan_2025", "liberation_day_2025"], draws=3, firms=2000, dynamics="static",
                   closure="ge_fixed_wage", firm_output="sample"),
}
#: The Dask run must reproduce the default run's golden file.
DASK_CASE = ("default", dict(local_cluster=2, draws_per_chunk=2))


def read_tables(folder):
    """Each table of a run folder as one Polars frame sorted by all its columns."""
    tables = {}
    for table in sorted(p.name for p in Path(folder).iterdir() if p.is_dir()):
        frame = pl.read_parquet(Path(folder) / table / "*" / "*.parquet", hive_partitioning=True)
        tables[table] = frame.sort(frame.columns)
    return tables


def _schema(frame):
    return [[f.name, str(f.type), f.nullable] for f in frame.to_arrow().schema]


def _digest(frame):
    sink = pa.BufferOutputStream()
    table = frame.to_arrow().replace_schema_metadata(None)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _sums(frame):
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    return {c: [float(frame[c].cast(pl.Float64).sum()), float(frame[c].cast(pl.Float64).abs().sum())]
            for c in numeric}


def _sample(frame):
    step = max(1, frame.height // SAMPLE_ROWS)
    return frame.gather_every(step)


def write_golden(name, folder):
    target = GOLDEN / name
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    record = {}
    for table, frame in read_tables(folder).items():
        record[table] = {"schema": _schema(frame), "rows": frame.height, "sums": _sums(frame),
                         "sha256": _digest(frame)}
        _sample(frame).write_parquet(target / f"{table}.parquet")
    (target / "tables.json").write_text(json.dumps(record, indent=1) + "\n")


def compare_with_golden(name, folder):
    """Every difference between the run in ``folder`` and golden case ``name``, as lines."""
    record = json.loads((GOLDEN / name / "tables.json").read_text())
    tables = read_tables(folder)
    problems = []
    if sorted(tables) != sorted(record):
        problems.append(f"tables {sorted(tables)} != golden {sorted(record)}")
    for table in sorted(set(tables) & set(record)):
        frame, want = tables[table], record[table]
        if _schema(frame) != want["schema"]:
            problems.append(f"{table}: schema {_schema(frame)} != golden {want['schema']}")
            continue
        if frame.height != want["rows"]:
            problems.append(f"{table}: {frame.height} rows != golden {want['rows']}")
            continue
        for column, (total, absolute) in _sums(frame).items():
            got, expected = np.array([total, absolute]), np.array(want["sums"][column])
            if not np.allclose(got, expected, rtol=RTOL, atol=0.0, equal_nan=True):
                problems.append(f"{table}.{column}: sums {got.tolist()} != golden {expected.tolist()}")
        sample, golden = _sample(frame), pl.read_parquet(GOLDEN / name / f"{table}.parquet")
        for column in golden.columns:
            got, expected = sample[column], golden[column]
            if got.dtype.is_float():
                same = np.allclose(got.to_numpy(), expected.to_numpy(), rtol=RTOL, atol=0.0, equal_nan=True)
            else:
                same = got.equals(expected)
            if not same:
                problems.append(f"{table}.{column}: sampled rows differ from golden")
        if os.environ.get("GOLDEN_BITS") == "1" and _digest(frame) != want["sha256"]:
            problems.append(f"{table}: values within {RTOL:g} but not bit-identical")
    return problems


def _run(tmp_path, name, **options):
    import engine

    out = tmp_path / name
    engine.simulate(out=out, progress=False, **options)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_matches_its_golden_file(tmp_path, name):
    assert compare_with_golden(name, _run(tmp_path, name, **CASES[name])) == []


def test_dask_run_matches_the_default_golden_file(tmp_path):
    name, extra = DASK_CASE
    assert compare_with_golden(name, _run(tmp_path, "dask", **CASES[name], **extra)) == []


def test_comparison_sees_a_changed_value(tmp_path):
    """The check itself: one flow changed in its 12th significant digit is a difference."""
    folder = _run(tmp_path, "default", **CASES["default"])
    flows = sorted((folder / "flows").glob("*/*.parquet"))[0]
    frame = pl.read_parquet(flows)
    column = next(c for c, t in frame.schema.items() if t.is_float())
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col(column) * (1 + 1e-8) + 1.0)
                               .otherwise(pl.col(column)).alias(column))
    frame.write_parquet(flows)
    assert any(line.startswith(f"flows.{column}") for line in compare_with_golden("default", folder))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case, options in CASES.items():
            write_golden(case, _run(Path(tmp), case, **options))
            print(f"wrote {GOLDEN / case}", file=sys.stderr)
