"""The run plan and the pure unit of work: what one draw computes, with no I/O.

A ``RunPlan`` is frozen and picklable: the calibration, the compiled scenarios, their closures,
the seed (entropy and full spawn key), firms, draws and the chunking. ``simulate_draw(plan, draw)``
returns the draw's results for every scenario; executors (``engine.runs.executors``) sit above it and
decide where chunks of draws run and write; devices (the kernels) sit below it, inside the model.

The model is reached only through the firm populations (``engine.firms.static``, ``engine.firms.dynamic``),
the (firm model, closure) table ``engine.closures.registry`` and ``engine.scenario.uncertainty``
(``sample_parameters``, ``draw_policy``).
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from engine import config
from engine.calibration.data import load_calibration
from engine.cells import to_cells
from engine.closures.newton import fallback_solver
from engine.closures.registry import check_closure, combination
from engine.devices import resolve_device
from engine.errors import ConvergenceError, InputError
from engine.firms.dynamic import dynamic_population
from engine.firms.rows import firm_rows, kept_firms
from engine.firms.static import fit_baseline, population_scratch, simulate_population
from engine.outputs.tables import firm_batches, with_no_policy
from engine.paths import default_calibration_dir
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from engine.scenario.schema import GeneralEquilibrium, Scenario
from engine.scenario.supports import check_plausibility, check_supports
from engine.scenario.uncertainty import (
    base_sequence,
    check_parameters,
    draw_policy,
    no_policy_path,
    sample_parameters,
    stream_keys,
)

log = logging.getLogger(__name__)


class NonFiniteResult(InputError):
    """A draw produced inf or NaN: an input is outside what the model can represent."""


@dataclass(frozen=True, eq=False)
class RunPlan:
    """Everything a run computes from, frozen (the run's results depend on nothing else).

    Attributes
    ----------
    calibration : engine.calibration.data.CalibrationData
    models : tuple of engine.scenario.policy.ScenarioModel
        Compiled scenarios (``model.scenario`` is the validated file).
    closures : tuple of str
        ``pe``, ``ge`` or ``ge_fixed_wage`` per scenario.
    seed_entropy : int
    seed_spawn_key : tuple of int
        The run's root ``SeedSequence``; every stream is a child of it (``engine.scenario.uncertainty``).
    seed_record : int or str
        The seed as the manifest records it (an int, or a SeedSequence's entropy as a string).
    draws, firms, draws_per_chunk : int
    firm_output : {None, "sample", "all"}
    draws_columns : tuple of str
        Sampled-value columns of the ``draws`` table: the union over scenarios, so every part file
        of every scenario has one schema (null where a column does not apply).
    device : {"cpu", "cuda"}
        Where the dynamic model's firm loops run (closures pe, pe_moving and ge; ``engine.devices``), resolved
        on the machine that built the plan.
    precision : float
        The stated precision of a cell's policy effect on exports, percentage points
        (``--precision``): the summary's ``firms_for_precision`` and the printed warning
        (docs/model.md section 8.2). It changes no simulated number, so it is not in the fingerprint
        (a run resumed with another precision summarises with the new one).
    """

    calibration: object
    models: tuple
    closures: tuple
    seed_entropy: int
    seed_spawn_key: tuple
    draws: int
    firms: int
    draws_per_chunk: int
    firm_output: str | None
    draws_columns: tuple = field(default=())
    seed_record: object = None
    device: str = "cpu"
    precision: float = config.DEFAULT_PRECISION

    @property
    def seed(self):
        return np.random.SeedSequence(self.seed_entropy, spawn_key=self.seed_spawn_key)

    @property
    def scenarios(self):
        return tuple(m.scenario for m in self.models)

    @property
    def n_chunks(self):
        return -(-self.draws // self.draws_per_chunk)

    @property
    def chunks(self):
        """``(part, range of draws)`` of every chunk, lazily: each chunk is one task and one part
        file per table."""
        return ((part, range(first, min(first + self.draws_per_chunk, self.draws)))
                for part, first in enumerate(range(0, self.draws, self.draws_per_chunk)))

    def fingerprint(self):
        """The settings that determine the results, for refusing to resume a different run."""
        calib = self.calibration
        digest = hashlib.sha256()
        for name in ("sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr", "flows", "tariffs",
                     "firms", "participation"):
            digest.update(np.ascontiguousarray(getattr(calib, name), dtype=float).tobytes())
        digest.update(json.dumps([list(calib.regions), list(calib.sectors)]).encode())
        return {
            "seed": [str(self.seed_entropy), list(self.seed_spawn_key)],
            "draws": self.draws, "firms": self.firms, "draws_per_chunk": self.draws_per_chunk,
            "firm_output": self.firm_output, "closures": list(self.closures),
            "dynamics": [s.dynamics.model_dump() for s in self.scenarios], "device": self.device,
            "calibration_sha256": digest.hexdigest(),
            "scenarios_sha256": [hashlib.sha256(s.text.encode()).hexdigest() for s in self.scenarios],
        }


def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high and value > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise InputError(f"--{name.replace('_', '-')}", f"must be an integer {allowed}, got {value!r}")


def check_precision(precision):
    """Raise ``InputError`` unless ``precision`` is a finite number of percentage points above 0."""
    if (isinstance(precision, bool) or not isinstance(precision, (int, float, np.integer, np.floating))
            or not 0 < precision < np.inf):
        raise InputError("--precision", "must be a number of percentage points above 0 (the firm-sampling "
                                        f"standard error allowed on a cell's policy effect, e.g. 1), got {precision!r}")


def build_plan(scenarios=None, *, draws=config.DEFAULT_DRAWS, firms=config.DEFAULT_FIRMS, seed=config.DEFAULT_SEED,
               calibration=None, closure=None, firm_output=None, draws_per_chunk=config.DRAWS_PER_CHUNK,
               dynamics=None, device="cpu", precision=config.DEFAULT_PRECISION):
    """Load and check every input, and freeze the run plan (``scenarios`` as in ``engine.runs.simulate.simulate``).

    Every bad input surfaces here, before any work: option ranges, scenario files, codes, every
    branch path's calendar, the supports of the uncertain parameters (analytically, so the check
    costs the same for 10 or 10^6 draws) and plausibility bounds. ``dynamics`` ("static", "myopic"
    or "forward") overrides every scenario's ``[dynamics] mode``. ``device`` ("cpu", "cuda" or
    "auto") runs the dynamic model's firm loops (closures ``pe`` and ``ge``) on a GPU (``engine.devices``).
    ``precision`` (percentage points, > 0) is the stated precision of a cell's policy effect (``RunPlan``).

    Raises
    ------
    InputError
    """
    _check_int("draws", draws, 1)
    _check_int("firms", firms, 2, 10**8)
    _check_int("draws_per_chunk", draws_per_chunk, 1)
    check_precision(precision)
    if not isinstance(seed, np.random.SeedSequence):
        _check_int("seed", seed, 0)
    if firm_output not in (None, *config.FIRM_OUTPUTS):
        raise InputError("--firm-output", f"must be 'sample' or 'all', got {firm_output!r}")
    if closure is not None:
        check_closure(closure)
    if scenarios is None:
        scenarios = [config.DEFAULT_SCENARIO]
    elif isinstance(scenarios, (str, Path, Scenario)):
        scenarios = [scenarios]
    calib = load_calibration(calibration or default_calibration_dir())
    if dynamics not in (None, *config.DYNAMICS_MODES):
        raise InputError("--dynamics", f"must be one of {', '.join(config.DYNAMICS_MODES)}, got {dynamics!r}")
    loaded = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    if dynamics is not None:
        loaded = [s.model_copy(update={"dynamics": s.dynamics.model_copy(update={"mode": dynamics})})
                  for s in loaded]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise InputError("scenarios", f"scenario names must differ, got {', '.join(names)}")
    models, closures, columns = [], [], set()
    for scenario in loaded:
        check_parameters(scenario, calib)
        closure_used = closure or scenario.closure
        pair = (combination(scenario.dynamics.mode, closure_used) if closure is not None
                else combination(scenario.dynamics.mode, closure_used, scenario.source, "closure"))
        nested = [spec for spec in scenario.parameter if spec.name == "eta"]
        if nested and pair.closure == "pe":  # a calibration's eta is fine: fixed indices leave every nest as is
            raise InputError(scenario.source, "eta (nested demand, docs/model.md section 6.5) has no effect in pe, "
                                              "which holds every price index fixed; run --closure pe_moving (price "
                                              "indices solved) or ge, or remove it",
                             f"parameter #{scenario.parameter.index(nested[0]) + 1}")
        if scenario.ge != GeneralEquilibrium() and (pair.firm_model, pair.closure) != ("static", "ge"):
            raise InputError(scenario.source, "[ge] labour_supply and revenue (docs/model.md section 6.6) work with "
                                              "--closure ge and --dynamics static in this version, not with the "
                                              f"{pair.firm_model} firm model in {pair.closure}; remove them, or run "
                                              "that combination", "ge")
        if device != "cpu" and "cuda" not in pair.devices:
            raise InputError("--device", f"{device} runs the dynamic model (closures pe, pe_moving and ge) in this "
                                         f"version; {scenario.name} has dynamics.mode = {scenario.dynamics.mode!r} and "
                                         f"closure {closure_used!r}: use --device cpu, or --dynamics forward with "
                                         "--closure pe, pe_moving or ge")
        model = ScenarioModel(scenario, calib)
        model.check_all_paths()
        check_supports(scenario, calib)
        check_plausibility(model, calib)
        _, sampled = sample_parameters(scenario, calib, seed, 0)  # column names do not depend on the draw
        columns |= set(sampled) | {f"branch.{b}" for b in model.branch_labels}
        columns |= {f"fx.{model.regions[c]}.last" for c, _ in model.fx_processes}
        models.append(model)
        closures.append(closure_used)
    root = base_sequence(seed)
    resolved = resolve_device(device)  # one clear error where CUDA was asked for and cannot run
    return RunPlan(device=resolved, calibration=calib, models=tuple(models), closures=tuple(closures),
                   seed_entropy=root.entropy, seed_spawn_key=tuple(root.spawn_key), draws=draws, firms=firms,
                   draws_per_chunk=draws_per_chunk, firm_output=firm_output, draws_columns=tuple(sorted(columns)),
                   precision=float(precision),
                   seed_record=str(root.entropy) if isinstance(seed, np.random.SeedSequence) else int(seed))


@dataclass
class ScenarioDraw:
    """One scenario's results on one draw (``cells``: CellResults; ``accounts``: RegionResults;
    ``record``: the ``draws`` table row; ``firms``: Arrow record batches, or None). A draw whose
    equilibrium failed (in ``ge``, even with the fallback solver) has ``cells`` and ``accounts`` None
    and its reason in ``record["failure"]``."""

    cells: object
    accounts: object
    record: dict
    firms: list | None = None


#: Results that are NaN where they do not exist: a market's import price index once its imports have all
#: stopped (docs/model.md section 6.5).
UNDEFINED_WHERE_EMPTY = ("sector_import_price_index",)


def _finite(name, draw, results):
    for key, value in vars(results).items():
        array = np.asarray(value)
        if key in UNDEFINED_WHERE_EMPTY:
            array = np.nan_to_num(array, nan=0.0, posinf=np.inf, neginf=-np.inf)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise NonFiniteResult(name, f"draw {draw} gave a non-finite {key} (inf or NaN), so no output was "
                                        "written; an input is out of range (amounts are in USD million per year)")


def simulate_draw(plan, draw, scratch=None):
    """Simulate one draw of every scenario of ``plan``; no I/O.

    BLAS runs on one thread meanwhile (threadpoolctl): the closures' linear systems are small, a
    multithreaded BLAS rounds ``ge``'s Newton solves differently (at rounding level) so a draw would
    depend on its caller, and idle BLAS threads spin on the cores the Numba kernels need (2 cores:
    a ``ge`` draw took 4.4 s instead of 3.0 s).

    Scenarios whose firm parameters agree share the draw's population and its calibration; the
    dynamic model's (``engine.firms.dynamic``) also needs the same dynamics settings and lambda.

    Parameters
    ----------
    plan : RunPlan
    draw : int
    scratch : list, optional
        Reusable ``engine.firms.static.population_scratch`` buffers, one per distinct population; grown as
        needed (pass the same list for every draw of a process to avoid reallocating).

    Returns
    -------
    dict of str -> ScenarioDraw
        By scenario name.

    Raises
    ------
    NonFiniteResult
        A result is inf or NaN.

    A scenario whose equilibrium fails on this draw is retried once with the fallback solver
    (``engine.closures.newton.fallback_solver``) in ``ge``; if it fails again (or in another
    closure) its ``ScenarioDraw`` says why (``record["failure"]``) and holds no results.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate_draw(plan, draw, scratch)


def _simulate_draw(plan, draw, scratch):
    """``simulate_draw`` itself."""
    calib, seed = plan.calibration, plan.seed
    scratch = [] if scratch is None else scratch
    keys = stream_keys(seed)
    cache, out = {}, {}
    for model, closure in zip(plan.models, plan.closures):
        name = model.scenario.name
        params, sampled = sample_parameters(model.scenario, calib, seed, draw)
        path, record = draw_policy(model, seed, draw)
        pair = combination(params.dynamics.mode, closure)
        key = tuple(np.concatenate([params.sigma, params.theta, params.shock_demand_sd, params.shock_cost_sd,
                                    params.shock_corr]).tolist())
        if pair.firm_model == "dynamic":  # no ranking buffers: kept apart from the static populations
            key = ("dynamic", key, params.dynamics, params.sunk_cost_ratio)
            if key not in cache:
                cache[key] = (dynamic_population((keys["productivity"], keys["shocks"]), draw, plan.firms, params,
                                                 calib, plan.device, keep_scores=pair.closure == "ge"), None)
        elif key not in cache:
            n_regions, n_blocks = calib.n_regions, calib.n_regions * calib.n_sectors
            n_static = sum(1 for k in cache if k[0] != "dynamic")
            if len(scratch) <= n_static:
                scratch.append(population_scratch(n_blocks, n_regions, plan.firms))
            population = simulate_population((keys["productivity"], keys["shocks"]), draw, plan.firms, params,
                                             calib.firms, scratch[n_static])
            cache[key] = (population, fit_baseline(population, calib))
        population, baseline = cache[key]
        record = {"draw": draw, "path": path.label, **record, **sampled}
        no_policy = no_policy_path(model, path, seed, draw)
        touched = to_cells(model.policy_cells())

        def solved(run, what=""):
            """``run()``, retried once with the fallback solver in ``ge``; errors name ``what``."""
            try:
                try:
                    return run()
                except ConvergenceError as error:
                    if not pair.fallback:  # the fallback is the Newton solver's: a retry would do the same again
                        raise
                    log.info("scenario %s, draw %d%s: %s; retrying with the fallback solver", name, draw, what, error)
                    with fallback_solver():
                        return run()
            except ConvergenceError as error:
                raise ConvergenceError(f"{what.removeprefix(', ')}: {error}" if what else str(error),
                                       error.worst) from error

        try:
            cells, state, accounts = solved(lambda: pair.run(population, baseline, path, params))
            cells0, accounts0 = solved(lambda: pair.run_no_policy(population, baseline, no_policy, params, touched,
                                                                  state), ", its no-policy path")
        except ConvergenceError as error:
            failure = f"scenario {name}, draw {draw}: {error}{_where(error.worst, calib)}"
            log.info("%s; the draw is marked failed and left out of the tables", failure)
            out[name] = ScenarioDraw(None, None, {**record, "failure": failure})
            continue
        for results in (cells, accounts, cells0, accounts0):
            _finite(name, draw, results)
        cells, accounts = with_no_policy(cells, accounts, cells0, accounts0)  # a percent of 0 is NaN by design
        firms = None
        if plan.firm_output:
            rows = firm_rows(pair.firm_model, population, baseline, state, params, plan.firm_output)
            firms = list(firm_batches(rows, draw, calib, path.dates))
        out[name] = ScenarioDraw(cells, accounts, record, firms)
    return out


def _where(worst, calibration):
    """'; largest residual in ...' for a ``ConvergenceError.worst`` (empty when unknown)."""
    if worst is None:
        return ""
    regions, sectors = calibration.regions, calibration.sectors
    kind, *index = worst
    place = {"market": lambda: f"the {sectors[index[1]]} market of {regions[index[0]]}",
             "labour": lambda: f"the labour market of {regions[index[0]]}",
             "labour supply": lambda: f"the labour supply of {regions[index[0]]}",
             "commitment": lambda: f"purchase commitment #{index[0] + 1}"}[kind]()
    return f"; largest residual in {place}"


def memory_estimate(plan):
    """Bytes one worker process needs for ``plan`` (populations, one chunk of results, firm rows).

    Populations: four ``(B, R, M)`` float64 arrays per distinct population (entry scores and the
    tail sums of sales, real pairs and the half-population split; one population per scenario if a
    scenario samples firm parameters, else one shared). Checked against ``bench/``'s peak memory
    (1.81 GB measured at 125,000 firms with two arrays; 1.9 GB estimated). The dynamic model in ``ge``
    also keeps each pair's scores and states for its months (``DynamicFirms``: scores 28 bytes, status
    flags 5, visit and window lists 8, the baseline costs 8 while they are computed): 1.53 GB estimated
    for the default run, 1.18 GB measured. Results: 16 float64 flow
    columns and their Arrow copy per (draw, period, cell) of a chunk. Summary: five variables'
    (draws, cells) arrays of one period (four and the halves' effect difference), and their copies.
    """
    calib = plan.calibration
    n_regions, n_sectors = calib.n_regions, calib.n_sectors
    blocks = n_regions * n_sectors
    firm_specs = {"sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr"}
    distinct = len(plan.models) if any(p.name in firm_specs for s in plan.scenarios for p in s.parameter) else 1
    populations = distinct * 4 * blocks * n_regions * (plan.firms + 1) * 8
    if plan.device == "cpu" and any(combination(model.scenario.dynamics.mode, closure).firm_model == "dynamic"
                                    and closure == "ge" for model, closure in zip(plan.models, plan.closures)):
        populations += distinct * blocks * n_regions * plan.firms * 49  # on the GPU they live there
    periods = max(s.periods for s in plan.scenarios) + 1
    results = plan.draws_per_chunk * len(plan.models) * periods * blocks * n_regions * 16 * 8 * 3
    firm_rows = 0
    if plan.firm_output:
        kept = kept_firms(plan.firms, plan.firm_output)
        firm_rows = len(plan.models) * periods * blocks * kept * n_regions * 80
    summary = 5 * 3 * plan.draws * n_regions * n_regions * (n_sectors + 1) * 8  # summary_frame, per period
    return populations + results + firm_rows + summary + 300 * 2**20  # + the interpreter, libraries, kernels
