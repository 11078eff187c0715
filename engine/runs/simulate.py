"""Monte Carlo runs through the Python API ``simulate``: plan, store, executor, summary, manifest.

``engine.runs.plan`` checks the inputs and freezes the plan (and holds the per-draw unit of work),
``engine.runs.store`` owns the run folder (atomic, locked, resumable), ``engine.runs.executors`` runs the
chunks (here, or on Dask). This module wires them together and handles interruptions.
"""

import datetime as dt
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numba

from engine import config
from engine._version import __version__
from engine.errors import ConvergenceError, InputError
from engine.outputs.schemas import FLOWS_SCHEMA, OUTPUT_SCHEMA_VERSION, RUN_KIND
from engine.runs.executors import DaskExecutor, LocalExecutor
from engine.runs.plan import build_plan, memory_estimate
from engine.runs.result import SimulationResult
from engine.runs.store import RunStore, environment_error, part_path, write_part

log = logging.getLogger(__name__)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM, SIGINT); ``partial`` says what was kept.

    Attributes
    ----------
    signum : int
    partial : Path or None
        The resumable partial run folder, or None if nothing was kept.
    done, total : int
        Chunks complete and in the run.
    """

    def __init__(self, signum, partial=None, done=0, total=0):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.partial, self.done, self.total = signum, partial, done, total

    @property
    def exit_code(self):
        return 128 + self.signum


def _git_revision():
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def available_memory():
    """Bytes of memory available to a new run (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(plan, available, processes=1):
    """Refuse a run whose estimate (``processes`` workers of this machine) exceeds what is available."""
    need = memory_estimate(plan) * processes
    if available is None or need <= available:
        return
    fits = plan.firms
    while fits > 2 and memory_estimate(_with_firms(plan, fits)) * processes > available:
        fits //= 2
    if memory_estimate(_with_firms(plan, fits)) * processes > available:
        hint = "fewer --draws (the summary holds every draw of a period)"
    else:
        hint = f"at most about --firms {fits}" + (" without --firm-output all" if plan.firm_output == "all" else "")
    raise InputError("--firms", f"a run of {plan.draws} draws with --firms {plan.firms} needs about "
                                f"{need / 2**30:.1f} GiB of memory per process and {available / 2**30:.1f} GiB is "
                                f"available; {hint} would fit")


def _with_firms(plan, firms):
    return replace(plan, firms=firms)


def _make_executor(executor, scheduler, local_cluster, threads):
    if executor is not None:
        return executor
    if scheduler is not None or local_cluster is not None:
        if local_cluster is not None:
            if isinstance(local_cluster, bool) or not isinstance(local_cluster, int) or local_cluster < 1:
                raise InputError("--local-cluster", f"must be a number of worker processes >= 1, got {local_cluster!r}")
        return DaskExecutor(address=scheduler, workers=local_cluster, threads=threads)
    return LocalExecutor(threads)


def _progress_callback(progress, total, already):
    """``progress`` as given (callable(done, total)), a tqdm bar for ``True`` (and for ``"auto"``
    when stderr is a terminal), or None."""
    if progress == "auto":
        progress = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if progress is None or progress is False:
        return None, None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=already, unit="draw", desc="Simulating draws")
        return (lambda done, _total: bar.update(done - bar.n)), bar
    return progress, None


def simulate(scenarios=None, *, draws=config.DEFAULT_DRAWS, firms=config.DEFAULT_FIRMS,
             seed=config.DEFAULT_SEED, out=None, overwrite=False, resume=False, threads=None, calibration=None,
             closure=None, firm_output=None, draws_per_chunk=config.DRAWS_PER_CHUNK, progress="auto",
             command=None, scheduler=None, local_cluster=None, executor=None, dynamics=None, device="cpu",
             precision=config.DEFAULT_PRECISION):
    """Run scenarios x draws and write the results as Parquet.

    Each draw samples its parameters, policy path (branch points) and exchange-rate paths, is
    recalibrated (docs/model.md section 7) and simulated for every period. Draw ``j`` of every scenario
    uses the same firm population and shocks, and the same draws of identically declared uncertain
    inputs (common random numbers). Results depend only on (calibration, scenarios, draws, firms,
    seed, draws_per_chunk's split into files), not on ``threads``, the executor or its workers.

    Parameters
    ----------
    scenarios : str, Path, Scenario or sequence of them, optional
        Shipped scenario names, TOML paths or ``engine.Scenario`` objects (``engine.scenario.read``
        loads or parses them); default ``us_japan_2025``.
    draws : int
        Monte Carlo draws.
    firms : int
        Simulated firms per (origin, sector).
    seed : int or numpy.random.SeedSequence
    out : str or Path, optional
        Run folder; by default a temporary folder that lives as long as the result.
    overwrite : bool
        Replace ``out`` if it is an engine run folder (only once the new run has succeeded), and
        discard an interrupted run of it. Anything else at ``out`` is refused.
    resume : bool
        Finish the interrupted run of ``out`` (same inputs and options; chunks already complete are
        kept); starts a new run if there is none.
    threads : int, optional
        Numba threads (default: all cores; on a Dask LocalCluster, per worker, default 1).
    calibration : str or Path, optional
        Calibration folder; default the embedded 2023/2024 data.
    closure : {None, "ge", "pe_moving", "pe", "ge_fixed_wage"}
        Equilibrium closure for every scenario; default each scenario's own (``ge`` if unset).
    dynamics : {None, "static", "myopic", "forward"}
        Firm model for every scenario; default each scenario's ``[dynamics] mode``.
    device : {"cpu", "cuda", "auto"}
        Where the dynamic model's firm loops run, closures pe, pe_moving and ge (``engine.devices``; the
        ``[cuda]`` extra and an NVIDIA GPU); ``auto`` picks CUDA when it can run.
    precision : float
        Percentage points (> 0): the firm-sampling standard error allowed on a cell's policy effect on
        exports. The summary's ``firms_for_precision`` says how many simulated firms would reach it,
        and the printed summary warns about the cells above it (docs/model.md section 8.2).
    firm_output : {None, "sample", "all"}
        Also write firm-level rows: the first ``config.FIRM_SAMPLE`` firms of each (origin,
        sector) (a random sample, since firm numbers are assigned at random) or all of them.
    draws_per_chunk : int
        Draws per task and per Parquet part file.
    progress : "auto", bool or callable(done, total)
        ``"auto"`` (default): a tqdm progress bar on stderr when stderr is a terminal, nothing
        otherwise; ``True``: the bar always; ``False`` or None: nothing; a callable is called after
        each draw (per chunk on Dask).
    command : str, optional
        Command line recorded in the manifest.
    scheduler : str, optional
        Address of a Dask scheduler: run each chunk as a task there (needs the ``[dask]`` extra
        and a run folder that the workers can write).
    local_cluster : int, optional
        Run on a Dask LocalCluster of this many worker processes.
    executor : optional
        An executor object (``engine.runs.executors``); overrides ``scheduler`` and ``local_cluster``.

    Returns
    -------
    engine.runs.result.SimulationResult

    Raises
    ------
    InputError
        Bad input or environment (output path, permissions, disk full, memory); nothing is left
        that looks complete.
    RunInterrupted
        SIGTERM or SIGINT: the partial run is kept (resumable with ``resume=True``) unless ``out``
        was a temporary folder.
    """
    started = time.perf_counter()
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS):
        raise InputError("--threads", f"must be an integer from 1 to {numba.config.NUMBA_NUM_THREADS}, got {threads!r}")
    plan = build_plan(scenarios, draws=draws, firms=firms, seed=seed, calibration=calibration, closure=closure,
                      firm_output=firm_output, draws_per_chunk=draws_per_chunk, dynamics=dynamics, device=device,
                      precision=precision)
    if executor is None and scheduler is None:  # the work runs on this machine
        _check_memory(plan, available_memory(), local_cluster or 1)

    tmp_holder = None
    if out is None:
        tmp_holder = tempfile.TemporaryDirectory(prefix="engine-run-")
        out = Path(tmp_holder.name) / "run"
    store = RunStore(out, plan.fingerprint(), overwrite=overwrite, resume=resume)
    runner = bar = None
    restore = _install_signal_handlers()
    try:
        done = store.completed()
        pending = ((part, chunk) for part, chunk in plan.chunks if part not in done)
        already = sum(d["draws"][1] - d["draws"][0] + 1 for d in done.values())
        if store.resumed:
            log.warning("resuming %s: %d of %d chunks already complete", store.out, len(done), plan.n_chunks)
        report, bar = _progress_callback(progress, draws, already)
        if hasattr(progress, "start"):
            progress.start(draws, already)
        counter = {"done": already, "first": None}
        t_chunks = time.perf_counter()

        def on_draw(_draw):
            counter["done"] += 1
            if counter["first"] is None:
                counter["first"] = time.perf_counter() - t_chunks
            if report is not None:
                report(counter["done"], draws)

        def on_chunk(marker):
            log.info("chunk %d (draws %d-%d) written", marker["part"], *marker["draws"])

        runner = _make_executor(executor, scheduler, local_cluster, threads)
        markers = runner.run(plan, store.partial, pending, on_draw, on_chunk)
        chunks = sorted([*done.values(), *markers], key=lambda m: m["part"])
        _check_failed_draws(plan, chunks)
        timings = {"first_draw_s": counter["first"] or 0.0, "draws_s": time.perf_counter() - t_chunks}
        summary_started = time.perf_counter()
        summarise = getattr(runner, "summaries", None) or LocalExecutor().summaries
        for name, table in summarise(plan, store.partial).items():
            write_part(part_path(store.partial, "summary", name, 0), table)
        timings["write_s"] = timings["summary_s"] = time.perf_counter() - summary_started
        timings["total_s"] = time.perf_counter() - started
        manifest = _manifest(plan, chunks, timings, command, getattr(runner, "name", "custom"))
        with _signals_held():  # the two renames of the commit are not split by a signal
            store.commit(manifest)
        if manifest["failed_draws"]:
            failed = manifest["failed_draws"]
            log.warning("%d draw(s) failed and are left out of the results (%s%s); the draws table's 'failure' "
                        "column lists them", len(failed), failed[0]["reason"], "; ..." if len(failed) > 1 else "")
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        if store.committed:  # a signal held during the commit: the run is complete
            raise
        if tmp_holder is not None:
            store.abandon()
            raise RunInterrupted(signum) from exc
        store.interrupt(signal.Signals(signum).name)
        raise RunInterrupted(signum, store.partial, len(store.completed()), plan.n_chunks) from exc
    except OSError as exc:
        if tmp_holder is not None:
            store.abandon()
            raise environment_error(store.out, exc) from exc
        store.interrupt(f"OSError: {exc}")
        error = environment_error(store.out, exc)
        raise InputError(error.source, f"{error.reason}; the {len(store.completed())} complete chunk(s) are kept "
                                       f"in {store.partial}: fix this and rerun with --resume") from exc
    except BaseException:
        store.abandon()
        raise
    finally:
        restore()
        if bar is not None:
            bar.close()
        if runner is not None and runner is not executor:
            runner.close()
    return SimulationResult(store.out, tmp_holder)


class _signals_held:
    """Hold SIGTERM and SIGINT (delivered on exit) where the platform allows it."""

    signals = {signal.SIGTERM, signal.SIGINT}

    def __enter__(self):
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)

    def __exit__(self, *exc):
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.signals)


def _install_signal_handlers():
    """SIGTERM raises ``RunInterrupted`` like SIGINT raises KeyboardInterrupt (main thread only).

    Returns the function that restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, _frame):
        raise RunInterrupted(signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

    def restore():
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def failed_draws(chunks):
    """The failed draws recorded in the chunk markers: dicts of scenario, draw and reason."""
    return [failure for chunk in chunks for failure in chunk.get("failed", [])]


def _check_failed_draws(plan, chunks):
    """A scenario none of whose draws solved has nothing to report: the run fails (ConvergenceError)."""
    failures = failed_draws(chunks)
    for model in plan.models:
        mine = [f for f in failures if f["scenario"] == model.scenario.name]
        if len(mine) == plan.draws:
            raise ConvergenceError(f"{mine[0]['reason']} (and every other draw of the scenario failed)")


def _manifest(plan, chunks, timings, command, executor):
    seed = plan.seed
    return {
        "kind": RUN_KIND,
        "status": "complete",
        "engine_version": __version__,
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "git_revision": _git_revision(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command or " ".join(sys.argv),
        "seed": plan.seed_record,
        "seed_spawn_key": list(seed.spawn_key),
        "draws": plan.draws,
        "firms_per_block": plan.firms,
        "precision": plan.precision,
        "threads": numba.get_num_threads(),
        "executor": executor,
        "draws_per_chunk": plan.draws_per_chunk,
        "firm_output": plan.firm_output,
        "fingerprint": plan.fingerprint(),
        "calibration": {"source": plan.calibration.source, "regions": list(plan.calibration.regions),
                        "sectors": list(plan.calibration.sectors),
                        "members": {r: list(m) for r, m in plan.calibration.members.items()}},
        "scenarios": [{"name": s.name, "title": s.title, "source": s.source, "start": s.start,
                       "periods": s.periods, "closure": c, "dynamics": s.dynamics.model_dump(), "device": plan.device,
                       "focus": s.focus.model_dump() if s.focus else None,
                       "text": s.text} for s, c in zip(plan.scenarios, plan.closures)],
        "tables": {"flows": {"grain": FLOWS_SCHEMA.metadata[b"grain"].decode(),
                             "columns": {f.name: {k.decode(): v.decode() for k, v in f.metadata.items()}
                                         for f in FLOWS_SCHEMA}}},
        "chunks": chunks,
        "failed_draws": failed_draws(chunks),
        "timings": timings,
    }
