"""Monte Carlo runs: draws x scenarios -> Parquet, through the Python API ``simulate``."""

import datetime as dt
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine import config
from engine._version import __version__
from engine.calibration import load_calibration
from engine.errors import InputError
from engine.model import DrawParameters, calibrate, simulate_population, simulate_scenario
from engine.paths import default_calibration_dir
from engine.results import FIRMS_SCHEMA, FLOWS_SCHEMA, RunFolder, SimulationResult, write_table
from engine.scenario import load_scenario, policy_path
from kernels import firm_scores

log = logging.getLogger(__name__)

#: Purposes of the random streams, in the order they are spawned from the run's SeedSequence.
#: New purposes are appended so that existing streams keep their numbers.
STREAMS = ("productivity", "shocks")


def stream_keys(seed):
    """64-bit kernel keys of each purpose stream, spawned from ``numpy.random.SeedSequence(seed)``.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence

    Returns
    -------
    dict of str -> numpy.uint64
    """
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = sequence.spawn(len(STREAMS))
    return {name: child.generate_state(1, dtype=np.uint64)[0] for name, child in zip(STREAMS, children)}


def _flows_table(draws, periods, dates, calibration, results):
    """Arrow table of one scenario's flows for a list of draws (``results``: list of CellResults)."""
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    shape = (len(draws), len(periods), n_regions, n_regions, n_sectors)
    grid = np.indices(shape).reshape(len(shape), -1)
    regions = np.array(calibration.regions, dtype=object)
    sectors = np.array(calibration.sectors, dtype=object)
    columns = {
        "draw": pa.array(np.asarray(draws, dtype=np.int32)[grid[0]]),
        "period": pa.array(np.asarray(periods, dtype=np.int32)[grid[1]]),
        "date": pa.array(np.asarray(dates, dtype="datetime64[D]")[grid[1]]),
        "origin": pa.array(regions[grid[2]], pa.string()),
        "destination": pa.array(regions[grid[3]], pa.string()),
        "sector": pa.array(sectors[grid[4]], pa.string()),
    }
    for name in ("tariff", "exports", "sales", "tariff_revenue", "exporters", "entries", "exits"):
        columns[name] = pa.array(np.stack([getattr(r, name) for r in results]).reshape(-1))
    return pa.Table.from_pydict(columns, schema=FLOWS_SCHEMA)


def _firm_batches(population, baseline, state, params, calibration, dates, firm_output):
    """Yield Arrow record batches of firm-level rows (firms that sell) for one draw and scenario."""
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    m = population.n_firms
    firms = np.arange(m if firm_output == "all" else min(config.FIRM_SAMPLE, m), dtype=np.int64)
    dates = np.asarray(dates, dtype="datetime64[D]")
    regions = np.array(calibration.regions, dtype=object)
    for b in range(n_regions * n_sectors):
        i, k = divmod(b, n_sectors)
        sm1_over_theta = (params.sigma[k] - 1.0) / params.theta[k]
        slp = np.empty(firms.size)
        sales = np.empty((firms.size, n_regions))
        entry = np.empty((firms.size, n_regions))
        firm_scores(population.productivity_keys[b], population.shock_keys[b], sm1_over_theta,
                    params.shock_demand_sd[k], params.shock_cost_sd[k], params.shock_corr[k],
                    firms, n_regions, slp, sales, entry)
        active = entry[None, :, :] >= state.threshold[:, b, None, :]  # (T, F, R)
        t, f, n = np.nonzero(active)
        if t.size == 0:
            continue
        yield pa.RecordBatch.from_pydict({
            "draw": pa.array(np.full(t.size, population.draw, dtype=np.int32)),
            "period": pa.array(t.astype(np.int32)),
            "date": pa.array(dates[t]),
            "origin": pa.array(np.full(t.size, calibration.regions[i], dtype=object), pa.string()),
            "sector": pa.array(np.full(t.size, calibration.sectors[k], dtype=object), pa.string()),
            "firm_id": pa.array(firms[f]),
            "productivity": pa.array(np.exp(slp[f] / (params.sigma[k] - 1.0))),
            "weight": pa.array(np.full(t.size, baseline.weight[b])),
            "destination": pa.array(regions[n], pa.string()),
            "exports": pa.array(state.unit_exports[t, b, n] * np.exp(sales[f, n])),
        }, schema=FIRMS_SCHEMA)


def _git_revision():
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high and value > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise InputError(f"--{name.replace('_', '-')}", f"must be an integer {allowed}, got {value!r}")


def simulate(scenarios=None, *, draws=config.DEFAULT_DRAWS, firms=config.DEFAULT_FIRMS,
             seed=config.DEFAULT_SEED, out=None, overwrite=False, threads=None, calibration=None,
             firm_output=None, draws_per_chunk=config.DRAWS_PER_CHUNK, progress=None, command=None):
    """Run scenarios x draws and write the results as Parquet.

    Draw ``j`` of every scenario uses the same firm population and the same shocks (common random
    numbers); each draw has its own independent population. Results depend only on
    (calibration, scenarios, draws, firms, seed), not on ``threads`` or ``draws_per_chunk``.

    Parameters
    ----------
    scenarios : str, Path or sequence of them, optional
        Shipped scenario names or TOML paths; default ``us_japan_2025``.
    draws : int
        Monte Carlo draws (independent firm populations and shocks).
    firms : int
        Simulated firms per (origin, sector).
    seed : int or numpy.random.SeedSequence
    out : str or Path, optional
        Run folder; by default a temporary folder that lives as long as the result.
    overwrite : bool
        Replace ``out`` if it exists (only once the new run has succeeded).
    threads : int, optional
        Numba threads (default: all cores).
    calibration : str or Path, optional
        Calibration folder; default the embedded 2023/2024 data.
    firm_output : {None, "sample", "all"}
        Also write firm-level rows: the first ``config.FIRM_SAMPLE`` firms of each (origin,
        sector) (a random sample, since firm numbers are assigned at random) or all of them.
    draws_per_chunk : int
        Draws per Parquet part file.
    progress : callable(done, total), optional
        Called after each draw.
    command : str, optional
        Command line recorded in the manifest.

    Returns
    -------
    engine.results.SimulationResult
    """
    started = time.perf_counter()
    _check_int("draws", draws, 1)
    _check_int("firms", firms, 2, 10**8)
    _check_int("draws_per_chunk", draws_per_chunk, 1)
    if threads is not None:
        _check_int("threads", threads, 1, numba.config.NUMBA_NUM_THREADS)
    if firm_output not in (None, "sample", "all"):
        raise InputError("--firm-output", f"must be 'sample' or 'all', got {firm_output!r}")
    if scenarios is None:
        scenarios = [config.DEFAULT_SCENARIO]
    elif isinstance(scenarios, (str, Path)):
        scenarios = [scenarios]
    calib = load_calibration(calibration or default_calibration_dir())
    loaded = [load_scenario(s) for s in scenarios]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise InputError("scenarios", f"scenario names must differ, got {', '.join(names)}")
    paths = [policy_path(s, calib) for s in loaded]
    params = DrawParameters.from_calibration(calib)
    keys = stream_keys(seed)

    tmp_holder = None
    if out is None:
        tmp_holder = tempfile.TemporaryDirectory(prefix="engine-run-")
        out = Path(tmp_holder.name) / "run"
    folder = RunFolder(out, overwrite=overwrite)
    previous_threads = numba.get_num_threads()
    try:
        if threads is not None:
            numba.set_num_threads(threads)
        timings, chunks = _run_draws(calib, loaded, paths, params, keys, draws, firms, draws_per_chunk,
                                     folder, firm_output, progress)
        timings["total_s"] = time.perf_counter() - started
        folder.commit({
            "status": "complete",
            "engine_version": __version__,
            "git_revision": _git_revision(),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command or " ".join(sys.argv),
            "seed": str(seed.entropy) if isinstance(seed, np.random.SeedSequence) else seed,
            "draws": draws,
            "firms_per_block": firms,
            "threads": numba.get_num_threads(),
            "draws_per_chunk": draws_per_chunk,
            "firm_output": firm_output,
            "closure": "pe",
            "calibration": {"source": calib.source, "regions": list(calib.regions),
                            "sectors": list(calib.sectors)},
            "scenarios": [{"name": s.name, "title": s.title, "source": s.source, "start": s.start,
                           "periods": s.periods, "focus": s.focus.model_dump() if s.focus else None,
                           "text": s.text} for s in loaded],
            "tables": {"flows": {"grain": FLOWS_SCHEMA.metadata[b"grain"].decode(),
                                 "columns": {f.name: {k.decode(): v.decode() for k, v in f.metadata.items()}
                                             for f in FLOWS_SCHEMA}}},
            "chunks": chunks,
            "timings": timings,
        })
    except BaseException:
        folder.abort()
        raise
    finally:
        numba.set_num_threads(previous_threads)
    return SimulationResult(folder.out, tmp_holder)


def _run_draws(calib, scenarios, paths, params, keys, draws, firms, draws_per_chunk, folder,
               firm_output, progress):
    """The draw loop: one population per draw, every scenario on it, one part file per chunk."""
    n_regions = calib.n_regions
    n_blocks = n_regions * calib.n_sectors
    scratch = (np.empty((n_blocks, n_regions, firms)), np.empty((n_blocks, n_regions, firms + 1)))
    firm_writers = {}
    timings = {"first_draw_s": None, "draws_s": 0.0, "write_s": 0.0}
    chunks = []
    try:
        for part, start in enumerate(range(0, draws, draws_per_chunk)):
            chunk_draws = list(range(start, min(start + draws_per_chunk, draws)))
            chunk_started = time.perf_counter()
            results = {s.name: [] for s in scenarios}
            for draw in chunk_draws:
                t0 = time.perf_counter()
                population = simulate_population((keys["productivity"], keys["shocks"]), draw, firms,
                                                 params, n_regions, scratch)
                baseline = calibrate(population, calib)
                for scenario, path in zip(scenarios, paths):
                    cells, state = simulate_scenario(population, baseline, path, params)
                    results[scenario.name].append(cells)
                    if firm_output:
                        writer = firm_writers.get(scenario.name)
                        if writer is None:
                            writer = pq.ParquetWriter(folder.part_path("firms", scenario.name, 0),
                                                      FIRMS_SCHEMA, compression="zstd")
                            firm_writers[scenario.name] = writer
                        for batch in _firm_batches(population, baseline, state, params, calib,
                                                   path.dates, firm_output):
                            writer.write_batch(batch, row_group_size=config.FIRM_ROWS_PER_BATCH)
                elapsed = time.perf_counter() - t0
                timings["draws_s"] += elapsed
                if timings["first_draw_s"] is None:
                    timings["first_draw_s"] = elapsed
                if progress is not None:
                    progress(draw + 1, draws)
            t0 = time.perf_counter()
            for scenario, path in zip(scenarios, paths):
                table = _flows_table(chunk_draws, range(len(path.dates)), path.dates, calib,
                                     results[scenario.name])
                write_table(folder.part_path("flows", scenario.name, part), table)
            timings["write_s"] += time.perf_counter() - t0
            chunks.append({"part": part, "draws": [chunk_draws[0], chunk_draws[-1]], "status": "complete",
                           "seconds": round(time.perf_counter() - chunk_started, 4)})
            log.info("chunk %d (draws %d-%d) written", part, chunk_draws[0], chunk_draws[-1])
    finally:
        for writer in firm_writers.values():
            writer.close()
    return timings, chunks
