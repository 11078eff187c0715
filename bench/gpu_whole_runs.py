"""Whole-run figures for ``bench/gpu_check.py``: draws per second of the default scenario on CPU and GPU.

Times whole draws through the engine's per-draw unit (``engine.runs.plan.simulate_draw``: the draw's
firms, the dynamic programme, the calibration of the cell offsets, every period, the closure, the
regional accounts; no Parquet writing) with ``device="cpu"`` and ``device="cuda"``, in the ``pe`` and
the ``ge`` closure, and compares the draws' aggregates between the devices.

Per (closure, device) one draw is run first and not timed (it compiles the kernels); then ``draws``
draws are timed one after another (draws 1 .. ``draws``), as ``engine simulate`` runs them in one
process. Reported: seconds, draws per second, the time of 10^4 draws at that rate (one process, one
GPU), and the targets of issue 13 (10^4 default draws in <= 2 minutes in ``pe``, <= 15 minutes in
``ge``). Agreement per closure, over every draw: the largest elementwise relative difference of
the cells' exports; per float field of the cells' and the regions' results, the largest absolute
difference over the field's largest absolute value (normwise: fields such as the extensive margin
or welfare changes are differences near 0 in unaffected cells); the draws whose entries or exits
differ by more than ``TOLERANCE`` of the cell's exporters (count flips: a score within rounding of a
threshold, carried through hysteresis; reported, not failed; counts are real pairs, sums of the strata
weights of ``engine.firms.sampling`` added in another order on each device, and in ``ge`` they carry
the marginal pair's fraction, docs/model.md section 12), and the draws without flips whose exports
differ by more than ``TOLERANCE`` relative (the check fails if there is one).

It imports ``engine`` (and with it Polars and pydantic) only when called; where the GPU machine
lacks them, the section records the import error and the rest of ``gpu_check.py`` still runs.
"""

import time

import numpy as np

#: Relative difference of a draw's exports (CPU against GPU) above which the draw counts as differing:
#: ``pe`` sums firm values in another order (about 1e-15); ``ge`` solves wages and market levels from
#: them (Newton's method to its tolerance), as ``tests/test_cuda.py`` states.
TOLERANCE = {"pe": 1e-12, "ge": 1e-10}
#: Seconds for 10^4 default draws (issue 13).
TARGET_10K_S = {"pe": 120.0, "ge": 900.0}


def _relative(got, want):
    """Largest elementwise relative difference (cells where both are 0, or both NaN, count as equal)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(same, 0.0, np.abs(got - want) / np.abs(want))
    return float(np.nanmax(rel)) if rel.size else 0.0


def _normwise(got, want):
    """Largest absolute difference over the largest absolute value of the field (NaN where both are)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    scale = np.nanmax(np.abs(want)) if want.size and not np.isnan(want).all() else 0.0
    difference = np.nanmax(np.where(same, 0.0, np.abs(got - want))) if want.size else 0.0
    return float(difference / scale) if scale > 0 else float(difference)


#: Float fields that are not aggregates: the equilibrium solver's residual (any value below its tolerance).
NOT_COMPARED = ("ge_residual",)


def _fields(result):
    return {name: value for name, value in vars(result).items()
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and name not in NOT_COMPARED}


def compare_draws(cpu, gpu, closure):
    """Agreement of two lists of ``{scenario: ScenarioDraw}`` (one per draw), CPU and GPU."""
    largest, flips, differing, exports = {}, 0, 0, 0.0
    for cpu_draw, gpu_draw in zip(cpu, gpu):
        draw_flip, draw_exports = False, 0.0
        for name, want in cpu_draw.items():
            got = gpu_draw[name]
            for part in ("cells", "accounts"):
                wanted, gotten = _fields(getattr(want, part)), _fields(getattr(got, part))
                for field, value in wanted.items():
                    key = f"{part}.{field}"
                    largest[key] = max(largest.get(key, 0.0), _normwise(gotten[field], value))
            draw_exports = max(draw_exports, _relative(got.cells.exports, want.cells.exports))
            exports = max(exports, draw_exports)
            rounding = TOLERANCE[closure] * np.maximum(np.abs(want.cells.exporters), 1)
            draw_flip |= any(np.any(np.abs(getattr(got.cells, c) - getattr(want.cells, c)) > rounding)
                             for c in ("entries", "exits"))
        flips += draw_flip
        differing += (not draw_flip) and draw_exports > TOLERANCE[closure]
    worst = max(largest, key=largest.get) if largest else None
    return {"draws": len(cpu), "draws_with_count_flips": int(flips), "tolerance": TOLERANCE[closure],
            "draws_without_flips_beyond_tolerance": int(differing),
            "max_rel_difference_exports": exports,
            "max_normwise_difference_any_field": largest.get(worst, 0.0) if worst else 0.0,
            "field_with_the_largest_difference": worst, "max_normwise_difference_by_field": largest}


def whole_runs(draws=3, firms=None, calibration=None, scenario=None, closures=("pe", "ge"), seed=2025, log=print):
    """Time whole draws of a scenario on CPU and GPU and compare them; a JSON-ready dict.

    Parameters
    ----------
    draws : int
        Timed draws per (closure, device), after one untimed draw.
    firms : int, optional
        Simulated firms per (origin, sector); default the engine's (``engine.config.DEFAULT_FIRMS``).
    calibration, scenario : str, optional
        A calibration folder and a scenario file; default the embedded calibration and the default
        scenario (``engine.config.DEFAULT_SCENARIO``), as ``engine simulate`` with no arguments.
    closures : tuple of str
    seed : int
    log : callable
        Called with one line per timing.
    """
    try:
        import numba

        from engine import config
        from engine.runs.plan import build_plan, simulate_draw
    except ImportError as error:
        return {"error": f"engine cannot be imported here ({type(error).__name__}: {error}); "
                         "install the project (pip install -e .) to measure whole runs"}
    firms = config.DEFAULT_FIRMS if firms is None else firms
    report = {"scenario": scenario or config.DEFAULT_SCENARIO, "calibration": calibration or "embedded",
              "firms": firms, "timed_draws": draws, "seed": seed, "cpu_threads": numba.get_num_threads(),
              "what": "engine.runs.plan.simulate_draw per draw (no output writing), after one untimed draw",
              "closures": {}}
    passed = True
    for closure in closures:
        entry, results = {}, {}
        for device in ("cpu", "cuda"):
            plan = build_plan([scenario] if scenario else None, draws=draws + 1, firms=firms, seed=seed,
                              calibration=calibration, closure=closure, device=device)
            scratch = []
            start = time.perf_counter()
            results[device] = [simulate_draw(plan, 0, scratch)]
            first = time.perf_counter() - start
            start = time.perf_counter()
            for draw in range(1, draws + 1):
                results[device].append(simulate_draw(plan, draw, scratch))
            seconds = time.perf_counter() - start
            rate = draws / seconds if seconds > 0 else float("inf")
            entry[device] = {"device": plan.device, "first_draw_s_incl_compile": first, "seconds": seconds,
                             "draws_per_s": rate, "extrapolated_10k_draws_s": 1e4 / rate,
                             "target_10k_draws_s": TARGET_10K_S[closure],
                             "meets_target": bool(1e4 / rate <= TARGET_10K_S[closure])}
            log(f"whole runs {closure} on {device}: {rate:.3f} draws/s ({draws} draws in {seconds:.2f} s; "
                f"10^4 draws: {1e4 / rate / 60:.1f} min, target {TARGET_10K_S[closure] / 60:.0f} min)")
        entry["speedup_cuda_over_cpu"] = entry["cuda"]["draws_per_s"] / entry["cpu"]["draws_per_s"]
        entry["agreement"] = compare_draws(results["cpu"], results["cuda"], closure)
        entry["passed"] = entry["agreement"]["draws_without_flips_beyond_tolerance"] == 0
        passed &= entry["passed"]
        report["closures"][closure] = entry
    report["passed"] = bool(passed)
    return report
