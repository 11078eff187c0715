"""Monte Carlo runs: draws x scenarios -> Parquet, through the Python API ``simulate``."""

import datetime as dt
import logging
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numba
import numpy as np
import pyarrow.parquet as pq

from engine import config
from engine._version import __version__
from engine.calibration import load_calibration
from engine.errors import InputError
from engine.dynamic_model import dynamic_population
from engine.model import calibrate, simulate_population, simulate_scenario
from engine.output import draws_table, firm_batches, flows_table, region_tables, summary_frame
from engine.paths import default_calibration_dir
from engine.policy import ScenarioModel
from engine.results import FIRMS_SCHEMA, FLOWS_SCHEMA, RunFolder, SimulationResult, write_table
from engine.scenario import load_scenario
from engine.uncertainty import check_parameters, draw_policy, sample_parameters, stream_keys

log = logging.getLogger(__name__)

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


#: Closure name -> function simulating one scenario on one draw's population.
CLOSURES = {"pe": partial(simulate_scenario, closure="pe"), "ge": partial(simulate_scenario, closure="ge"),
            "ge_fixed_wage": partial(simulate_scenario, closure="ge_fixed_wage")}


def simulate(scenarios=None, *, draws=config.DEFAULT_DRAWS, firms=config.DEFAULT_FIRMS,
             seed=config.DEFAULT_SEED, out=None, overwrite=False, threads=None, calibration=None,
             closure=None, firm_output=None, draws_per_chunk=config.DRAWS_PER_CHUNK, progress=None,
             command=None, dynamics=None):
    """Run scenarios x draws and write the results as Parquet.

    Each draw samples its parameters, policy path (branch points) and exchange-rate paths, is
    recalibrated (MODEL.md section 7) and simulated for every period. Draw ``j`` of every scenario
    uses the same firm population and shocks, and the same draws of identically declared uncertain
    inputs (common random numbers). Results depend only on (calibration, scenarios, draws, firms,
    seed), not on ``threads`` or ``draws_per_chunk``.

    Parameters
    ----------
    scenarios : str, Path or sequence of them, optional
        Shipped scenario names or TOML paths; default ``us_japan_2025``.
    draws : int
        Monte Carlo draws.
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
    closure : {None, "pe", "ge", "ge_fixed_wage"}
        Equilibrium closure for every scenario; default each scenario's own (``pe`` if unset).
    firm_output : {None, "sample", "all"}
        Also write firm-level rows: the first ``config.FIRM_SAMPLE`` firms of each (origin,
        sector) (a random sample, since firm numbers are assigned at random) or all of them.
    draws_per_chunk : int
        Draws per Parquet part file.
    progress : callable(done, total), optional
        Called after each draw.
    command : str, optional
        Command line recorded in the manifest.
    dynamics : {None, "static", "myopic", "forward"}
        Firm model for every scenario; default each scenario's ``[dynamics] mode``.

    Returns
    -------
    engine.results.SimulationResult
    """
    started = time.perf_counter()
    _check_int("draws", draws, 1)
    _check_int("firms", firms, 2, 10**8)
    _check_int("draws_per_chunk", draws_per_chunk, 1)
    if not isinstance(seed, np.random.SeedSequence):
        _check_int("seed", seed, 0)
    if threads is not None:
        _check_int("threads", threads, 1, numba.config.NUMBA_NUM_THREADS)
    if firm_output not in (None, "sample", "all"):
        raise InputError("--firm-output", f"must be 'sample' or 'all', got {firm_output!r}")
    if closure not in (None, *CLOSURES):
        raise InputError("--closure", f"must be one of {', '.join(CLOSURES)}, got {closure!r}")
    if scenarios is None:
        scenarios = [config.DEFAULT_SCENARIO]
    elif isinstance(scenarios, (str, Path)):
        scenarios = [scenarios]
    calib = load_calibration(calibration or default_calibration_dir())
    if dynamics not in (None, "static", "myopic", "forward"):
        raise InputError("--dynamics", f"must be static, myopic or forward, got {dynamics!r}")
    loaded = [load_scenario(s) for s in scenarios]
    if dynamics is not None:
        loaded = [s.model_copy(update={"dynamics": s.dynamics.model_copy(update={"mode": dynamics})})
                  for s in loaded]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise InputError("scenarios", f"scenario names must differ, got {', '.join(names)}")
    models = []
    for scenario in loaded:
        check_parameters(scenario, calib)
        models.append(ScenarioModel(scenario, calib))
        closure_used = closure or scenario.closure
        if closure_used not in CLOSURES:
            raise InputError(scenario.source, f"closure {closure_used!r} is not available; use one of "
                                              f"{', '.join(CLOSURES)}", "closure")
    closures = [closure or s.closure for s in loaded]
    for scenario, closure_used in zip(loaded, closures):
        if scenario.dynamics.mode != "static" and (firm_output or closure_used == "ge_fixed_wage"):
            what = "--firm-output" if firm_output else f"closure {closure_used!r}"
            raise InputError(scenario.source, f"{what} is not available with the dynamic model in this version "
                                              "(dynamics.mode = 'myopic' or 'forward'); add --dynamics static (the "
                                              "static firm model) or run in partial equilibrium without firm rows",
                             "dynamics.mode")
    # every bad input surfaces before any work: all paths' calendars and every draw's parameters
    for scenario, model in zip(loaded, models):
        model.check_all_paths()
        for draw in range(draws):
            sample_parameters(scenario, calib, seed, draw)

    tmp_holder = None
    if out is None:
        tmp_holder = tempfile.TemporaryDirectory(prefix="engine-run-")
        out = Path(tmp_holder.name) / "run"
    folder = RunFolder(out, overwrite=overwrite)
    previous_threads = numba.get_num_threads()
    runner = None
    try:
        if threads is not None:
            numba.set_num_threads(threads)
        runner = _DrawLoop(calib, models, closures, seed, firms, folder, firm_output)
        chunks = []
        for part, first in enumerate(range(0, draws, draws_per_chunk)):
            chunk_started = time.perf_counter()
            chunk_draws = list(range(first, min(first + draws_per_chunk, draws)))
            runner.run_chunk(part, chunk_draws, progress, draws)
            chunks.append({"part": part, "draws": [chunk_draws[0], chunk_draws[-1]], "status": "complete",
                           "seconds": round(time.perf_counter() - chunk_started, 4)})
            log.info("chunk %d (draws %d-%d) written", part, chunk_draws[0], chunk_draws[-1])
        runner.close()
        summary_started = time.perf_counter()
        for scenario in loaded:
            flows = runner.folder_scan("flows", scenario.name)
            write_table(folder.part_path("summary", scenario.name, 0), summary_frame(flows, calib, scenario.dates))
        runner.timings["summary_s"] = time.perf_counter() - summary_started
        runner.timings["total_s"] = time.perf_counter() - started
        folder.commit(_manifest(seed, draws, firms, draws_per_chunk, firm_output, calib, loaded, closures,
                                chunks, runner.timings, command))
    except BaseException:
        if runner is not None:
            runner.close()
        folder.abort()
        raise
    finally:
        numba.set_num_threads(previous_threads)
    return SimulationResult(folder.out, tmp_holder)


def _manifest(seed, draws, firms, draws_per_chunk, firm_output, calib, scenarios, closures, chunks, timings,
              command):
    return {
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
        "calibration": {"source": calib.source, "regions": list(calib.regions), "sectors": list(calib.sectors)},
        "scenarios": [{"name": s.name, "title": s.title, "source": s.source, "start": s.start,
                       "periods": s.periods, "closure": c,
                       "dynamics": s.dynamics.model_dump(), "focus": s.focus.model_dump() if s.focus else None,
                       "text": s.text} for s, c in zip(scenarios, closures)],
        "tables": {"flows": {"grain": FLOWS_SCHEMA.metadata[b"grain"].decode(),
                             "columns": {f.name: {k.decode(): v.decode() for k, v in f.metadata.items()}
                                         for f in FLOWS_SCHEMA}}},
        "chunks": chunks,
        "timings": timings,
    }


class _DrawLoop:
    """The per-draw work: populations (shared across scenarios when their firm parameters agree),
    calibration, every scenario, and the part files of each chunk."""

    def __init__(self, calib, models, closures, seed, firms, folder, firm_output):
        self.calib, self.models, self.closures = calib, models, closures
        self.seed, self.firms, self.folder, self.firm_output = seed, firms, folder, firm_output
        self.keys = stream_keys(seed)
        self.scratch = []  # reusable (entry_sorted, tail_sales) buffers, one per distinct population
        self.firm_writers = {}
        self.timings = {"first_draw_s": None, "draws_s": 0.0, "write_s": 0.0}

    def folder_scan(self, table, scenario):
        import polars as pl

        return pl.scan_parquet(self.folder.tmp / table / f"scenario={scenario}" / "*.parquet")

    def _population(self, cache, draw, params):
        key = tuple(np.concatenate([params.sigma, params.theta, params.shock_demand_sd, params.shock_cost_sd,
                                    params.shock_corr]).tolist())
        if params.dynamics is not None and params.dynamics.mode != "static":
            dynamic = cache.setdefault("dynamic", {})  # no ranking buffers: kept apart from the static ones
            key = (key, params.dynamics, params.sunk_cost_ratio)
            if key not in dynamic:
                dynamic[key] = (dynamic_population((self.keys["productivity"], self.keys["shocks"]), draw,
                                                   self.firms, params, self.calib), None)
            return dynamic[key]
        if key not in cache:
            n_regions, n_blocks = self.calib.n_regions, self.calib.n_regions * self.calib.n_sectors
            n_static = len(cache) - ("dynamic" in cache)
            if len(self.scratch) <= n_static:
                self.scratch.append((np.empty((n_blocks, n_regions, self.firms)),
                                     np.empty((n_blocks, n_regions, self.firms + 1))))
            population = simulate_population((self.keys["productivity"], self.keys["shocks"]), draw, self.firms,
                                             params, n_regions, self.scratch[n_static])
            cache[key] = (population, calibrate(population, self.calib))
        return cache[key]

    def run_chunk(self, part, chunk_draws, progress, total):
        results = {m.scenario.name: [] for m in self.models}
        regions = {m.scenario.name: [] for m in self.models}
        records = {m.scenario.name: [] for m in self.models}
        for draw in chunk_draws:
            t0 = time.perf_counter()
            cache = {}
            for model, closure in zip(self.models, self.closures):
                name = model.scenario.name
                params, sampled = sample_parameters(model.scenario, self.calib, self.seed, draw)
                path, record = draw_policy(model, self.seed, draw)
                population, baseline = self._population(cache, draw, params)
                cells, state, accounts = CLOSURES[closure](population, baseline, path, params)
                results[name].append(cells)
                regions[name].append(accounts)
                records[name].append({"draw": draw, "path": path.label, **record, **sampled})
                if self.firm_output:
                    self._write_firms(name, population, baseline, state, params, path.dates)
            elapsed = time.perf_counter() - t0
            self.timings["draws_s"] += elapsed
            if self.timings["first_draw_s"] is None:
                self.timings["first_draw_s"] = elapsed
            if progress is not None:
                progress(draw + 1, total)
        t0 = time.perf_counter()
        for model in self.models:
            name = model.scenario.name
            write_table(self.folder.part_path("flows", name, part),
                        flows_table(chunk_draws, model.scenario.dates, self.calib, results[name]))
            write_table(self.folder.part_path("draws", name, part), draws_table(records[name], model.branch_labels))
            regions_part, prices_part = region_tables(chunk_draws, model.scenario.dates, self.calib, regions[name])
            write_table(self.folder.part_path("regions", name, part), regions_part)
            write_table(self.folder.part_path("prices", name, part), prices_part)
        self.timings["write_s"] += time.perf_counter() - t0

    def _write_firms(self, name, population, baseline, state, params, dates):
        writer = self.firm_writers.get(name)
        if writer is None:
            writer = pq.ParquetWriter(self.folder.part_path("firms", name, 0), FIRMS_SCHEMA, compression="zstd")
            self.firm_writers[name] = writer
        for batch in firm_batches(population, baseline, state, params, self.calib, dates, self.firm_output):
            writer.write_batch(batch, row_group_size=config.FIRM_ROWS_PER_BATCH)

    def close(self):
        for writer in self.firm_writers.values():
            writer.close()
        self.firm_writers = {}
