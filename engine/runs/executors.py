"""Executors: where the chunks of a run plan are computed. Each chunk is one task that simulates
its draws (``engine.runs.plan.simulate_draw``), writes its own part files into the run folder and then
its completion marker; nothing is merged by hand afterwards (readers scan the part files).

- ``LocalExecutor``: chunk after chunk in this process (Numba threads parallelise each draw).
- ``DaskExecutor``: one ``dask.distributed`` task per chunk, on an existing cluster
  (``address``, e.g. one started by dask-jobqueue on SLURM) or on a ``LocalCluster`` of worker
  processes. Needs the ``[dask]`` extra. Workers must see the run folder (a shared file system).

The bytes of every part file depend only on the plan and the chunk, never on the executor, the
worker or the order in which chunks finish.
"""

import logging
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq

from engine import config
from engine.outputs.schemas import FIRMS_SCHEMA, FLOWS_SCHEMA, PRICES_SCHEMA, REGIONS_SCHEMA
from engine.outputs.tables import draws_table, flows_table, region_tables, summary_frame
from engine.runs.plan import simulate_draw
from engine.runs.store import mark_done, part_path, write_part

log = logging.getLogger(__name__)

_SCRATCH = []  # population buffers reused by the chunks of one process (same plan shapes)


def run_chunk(plan, run_dir, part, draws, on_draw=None):
    """Simulate one chunk of draws and write its part files, then its completion marker.

    Parameters
    ----------
    plan : engine.runs.plan.RunPlan
    run_dir : str or Path
        The partial run folder (``engine.runs.store.RunStore.partial``).
    part : int
    draws : list of int
    on_draw : callable(draw), optional
        Called after each draw (progress).

    Returns
    -------
    dict
        The marker: part, first and last draw, the failed draws (scenario, draw, reason; they have
        rows in the draws table only), seconds, the process id.
    """
    started = time.perf_counter()
    global _SCRATCH
    calib = plan.calibration
    if _SCRATCH and _SCRATCH[0][0].shape != (calib.n_regions * calib.n_sectors, calib.n_regions, plan.firms):
        _SCRATCH = []  # another calibration or firm count in this process: the buffers would not fit
    names = [m.scenario.name for m in plan.models]
    cells = {n: [] for n in names}
    accounts = {n: [] for n in names}
    records = {n: [] for n in names}
    solved = {n: [] for n in names}  # the draws with results (not failed), by scenario
    failed = []
    writers = {}
    try:
        for draw in draws:
            results = simulate_draw(plan, draw, _SCRATCH)  # BLAS on one thread meanwhile (its docstring)
            for name, result in results.items():
                records[name].append(result.record)
                if result.cells is None:
                    failed.append({"scenario": name, "draw": draw, "reason": result.record["failure"]})
                    continue
                solved[name].append(draw)
                cells[name].append(result.cells)
                accounts[name].append(result.accounts)
                if result.firms is not None:
                    writer = writers.get(name)
                    if writer is None:
                        path = part_path(run_dir, "firms", name, part)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writer = writers[name] = (pq.ParquetWriter(path.with_name(f".{path.name}.tmp"),
                                                                   FIRMS_SCHEMA, compression="zstd"), path)
                    for batch in result.firms:
                        writer[0].write_batch(batch, row_group_size=config.FIRM_ROWS_PER_BATCH)
            if on_draw is not None:
                on_draw(draw)
    finally:
        for writer, _ in writers.values():
            writer.close()
    for writer, path in writers.values():
        os.replace(path.with_name(f".{path.name}.tmp"), path)
    if plan.firm_output:  # one firms file per chunk and scenario, even with no firm rows
        for name in names:
            if name not in writers:
                write_part(part_path(run_dir, "firms", name, part), FIRMS_SCHEMA.empty_table())
    for model in plan.models:
        name = model.scenario.name
        write_part(part_path(run_dir, "draws", name, part), draws_table(records[name], plan.draws_columns))
        if solved[name]:
            flows = flows_table(solved[name], model.scenario.dates, plan.calibration, cells[name])
            regions_part, prices_part = region_tables(solved[name], model.scenario.dates, plan.calibration,
                                                      accounts[name])
        else:  # every draw of the chunk failed: empty part files keep one per chunk and table
            flows, regions_part, prices_part = (schema.empty_table() for schema in
                                                (FLOWS_SCHEMA, REGIONS_SCHEMA, PRICES_SCHEMA))
        write_part(part_path(run_dir, "flows", name, part), flows)
        write_part(part_path(run_dir, "regions", name, part), regions_part)
        write_part(part_path(run_dir, "prices", name, part), prices_part)
    marker = {"part": part, "draws": [draws[0], draws[-1]], "status": "complete", "failed": failed,
              "seconds": round(time.perf_counter() - started, 4), "pid": os.getpid()}
    mark_done(run_dir, part, marker)
    return marker


def summarise(plan, run_dir, name, periods=None):
    """The ``summary`` table of scenario ``name`` (some ``periods`` only) from its flows part files."""
    import polars as pl

    model = next(m for m in plan.models if m.scenario.name == name)
    flows = pl.scan_parquet(part_path(run_dir, "flows", name, 0).parent / "*.parquet")
    return summary_frame(flows, plan.calibration, model.scenario.dates, periods, firms=plan.firms,
                         precision=plan.precision)


class LocalExecutor:
    """Chunks one after another in this process.

    Parameters
    ----------
    threads : int, optional
        Numba threads (default: all cores).
    """

    name = "local"

    def __init__(self, threads=None):
        self.threads = threads

    def run(self, plan, run_dir, pending, on_draw=None, on_chunk=None):
        """Run the ``pending`` chunks (``[(part, draws), ...]``); return their markers."""
        import numba

        previous = numba.get_num_threads()
        markers = []
        try:
            if self.threads is not None:
                numba.set_num_threads(self.threads)
            for part, draws in pending:
                markers.append(run_chunk(plan, run_dir, part, draws, on_draw))
                if on_chunk is not None:
                    on_chunk(markers[-1])
        finally:
            numba.set_num_threads(previous)
        return markers

    def summaries(self, plan, run_dir):
        """``{scenario: summary table}``."""
        return {m.scenario.name: summarise(plan, run_dir, m.scenario.name) for m in plan.models}

    def close(self):
        pass


def _dask_task(plan, run_dir, part, draws, threads):
    if threads is not None:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return run_chunk(plan, run_dir, part, draws)


class DaskExecutor:
    """One ``dask.distributed`` task per chunk.

    Parameters
    ----------
    address : str, optional
        Scheduler of an existing cluster (``tcp://host:8786``); default: start a LocalCluster.
    workers : int, optional
        Worker processes of the LocalCluster (default: the number of cores).
    threads : int, optional
        Numba threads per task (default: one per worker on a LocalCluster, else Numba's default).
    """

    name = "dask"

    def __init__(self, address=None, workers=None, threads=None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            from engine.errors import InputError

            raise InputError("--scheduler/--local-cluster", "needs Dask: pip install 'tradeflow-engine[dask]'") from exc
        self.cluster = None
        if address is None:
            workers = workers or os.cpu_count() or 1
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            threads = threads or 1
        self.threads = threads
        self.client = Client(self.cluster if self.cluster is not None else address)
        self._plan = None

    def _scatter(self, plan):
        """The plan on every worker, sent once per run (kept, so its data is not released between
        the chunk and the summary tasks)."""
        if self._plan is None or self._plan[0] is not plan:
            self._plan = (plan, self.client.scatter(plan, broadcast=True, hash=False))
        return self._plan[1]

    def run(self, plan, run_dir, pending, on_draw=None, on_chunk=None):
        from dask.distributed import as_completed

        plan_future = self._scatter(plan)
        futures = [self.client.submit(_dask_task, plan_future, str(run_dir), part, draws, self.threads,
                                      key=f"engine-chunk-{part:05d}-{os.getpid()}-{id(plan)}", pure=False)
                   for part, draws in list(pending)]
        markers = []
        try:
            for future in as_completed(futures):
                marker = future.result()
                markers.append(marker)
                if on_draw is not None:
                    for draw in range(marker["draws"][0], marker["draws"][1] + 1):
                        on_draw(draw)
                if on_chunk is not None:
                    on_chunk(marker)
        except BaseException:
            self.client.cancel(futures)
            raise
        return sorted(markers, key=lambda m: m["part"])

    def summaries(self, plan, run_dir):
        """``{scenario: summary table}``, one task per (scenario, period), stacked in period order."""
        plan_future = self._scatter(plan)
        futures = {m.scenario.name: [self.client.submit(summarise, plan_future, str(run_dir), m.scenario.name, [t],
                                                        pure=False) for t in range(len(m.scenario.dates))]
                   for m in plan.models}
        try:
            return {name: pa.concat_tables(self.client.gather(parts)) for name, parts in futures.items()}
        except BaseException:
            self.client.cancel([f for parts in futures.values() for f in parts])
            raise

    def close(self):
        self._plan = None
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
