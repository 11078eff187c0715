"""One prepared check of the CUDA kernels on a lent NVIDIA GPU: agreement with the CPU, then speed.

Run from the repository root on the GPU machine (nothing is installed; it uses the NumPy, Numba and
numba-cuda found there, and ``kernels.cuda.device`` restores ``numpy.row_stack`` for numba-cuda 0.30
under NumPy >= 2.5)::

    PYTHONUNBUFFERED=1 python bench/gpu_check.py $OUT/gpu_check.json

Its kernel sections import only NumPy, SciPy, Numba, numba-cuda, ``kernels``, ``tests.cuda_cases`` and
``tests.reference_cases`` (with ``engine.firms.sampling``, which imports only NumPy and SciPy; not the
rest of ``engine``, whose Polars and pydantic the GPU image may lack); the whole-run section imports
``engine``. It writes one JSON file with:

- ``agreement``: GPU against CPU on the default draw's size (80 blocks x 20,000 firms x 10
  destinations, 2 draws) for ``direct_cell_sums`` in float64 and float32, the batched launch, and
  the dynamic kernels (40 blocks x 10 destinations x 20,000 firms x 24 periods): count flips (cells
  whose counts differ, and by how much: a score within rounding of a threshold; in the dynamic model
  a flip can carry over periods through hysteresis; the static counts are real pairs of stratified
  weights, their flips in the block's heaviest pair's weight) and the largest relative difference of the sums
  over the cells without flips; also the float32-against-float64 error; ``float32_fast`` (CUDA's fast
  intrinsics, no CPU twin) against CPU float64 with tolerance ``FAST_RTOL``/``FAST_FLIPS``, and the
  bit-compatible float32 kernel in its other layout against CPU float32; ``dynamic_ge``: the ge
  closure's per-period kernels (``kernels.cuda.dynamic_ge``, state in device memory) chained over 6
  periods on 80 blocks x 10 destinations x 20,000 firms against the CPU's: ``z`` indices equal,
  status flips and cells with count flips counted, sums within 1e-12 where counts agree;
- ``speed``: firm-destination evaluations per second of the static kernel in float64 and float32
  (16 draws of the default size per launch, 2.6e8 evaluations; median of 20 timed launches after a
  compile run, host-device transfers of inputs and outputs included), and firm-destination-periods
  per second of the dynamic kernel (median of 5), with the CPU's time on the same machine; also
  float32 in both layouts and float32_fast, a sweep of the register layout over ``SWEEP`` (threads per
  block, firms per thread), and the float32 kernels alone (CUDA events, no transfers); and one
  ``dynamic_period_aggregates`` call (two shifts, the call of a Newton step of the ge closure) on the
  GPU (state on the device) and on the CPU;
- ``whole_runs`` (``bench/gpu_whole_runs.py``): whole draws of the default scenario (dynamic model,
  20,000 firms) through the engine's per-draw unit on ``device="cpu"`` and ``"cuda"``, in the ``pe``
  and ``ge`` closures: draws per second, the extrapolated time of 10^4 draws against the targets
  (2 and 15 minutes), and the CPU-GPU agreement of the draws' aggregates (largest relative
  difference per field, draws with count flips). This section imports ``engine`` (Polars, pydantic:
  install the project there, ``pip install -e .``, or carry a virtual environment); without it, it
  records the import error and the kernel sections still run. ``--whole-draws N`` (default 3 timed
  draws after one untimed), ``--whole-firms``, ``--whole-calibration``, ``--whole-scenario`` size it;
  ``--whole-only`` skips the kernel sections.

``--quick`` runs tiny kernel sizes and no whole runs (for trying the script on the CUDA simulator:
``NUMBA_ENABLE_CUDASIM=1 python bench/gpu_check.py out.json --quick``; whole runs on the simulator
need a tiny calibration: ``tests/test_cuda.py`` runs ``--whole-only`` on one). Exit status 0 when
every agreement check passes its tolerance, 1 when one does not, 2 when no GPU can be used.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

FIRM_CHUNK = 4096
SEED = 2025
#: float32_fast against CPU float64: relative sum difference allowed in cells whose counts agree, and
#: the largest count difference allowed in one cell (scores within the fast intrinsics' error of a
#: threshold; the error of the fast log/exp is about 1e-6 relative, i.e. 1e-5 on scores of ~10). Count
#: differences are in the weight of the block's heaviest pair (the static counts are real pairs).
FAST_RTOL = 2e-5
FAST_FLIPS = 3
#: (threads per block, firms per thread) of the register-layout sweep.
SWEEP = ((128, 32), (128, 64), (256, 16), (512, 8))


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _compare_counts_and_sums(got_active, got_sales, want_active, want_sales, pair_weight):
    """Count flips and the largest relative sum difference over cells without flips.

    Counts are real pairs (weights summed in float64): cells whose counts agree to 1e-12 relative have
    the same pairs active; elsewhere the count difference is measured in the weight of the block's
    heaviest pair, ``pair_weight`` (B,) (a lower bound of the number of pairs that flipped).
    """
    difference = np.abs(np.asarray(got_active, dtype=np.float64) - want_active)
    same = np.isclose(got_active, want_active, rtol=1e-12, atol=0)
    flips = np.where(same, 0.0, difference / pair_weight[None, :, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got_sales - want_sales) / np.abs(want_sales)
    rel = np.where(same & (want_sales != 0), rel, 0.0)
    all_rel = np.abs(got_sales - want_sales) / np.maximum(np.abs(want_sales), 1e-300)
    return {"cells": int(flips.size), "cells_with_count_flips": int((~same).sum()),
            "largest_count_flip": float(flips.max()), "total_count_flips": float(flips.sum()),
            "max_rel_sum_difference": float(rel.max()),
            "max_rel_sum_difference_all_cells": float(np.where(want_sales != 0, all_rel, 0.0).max()),
            "rel_difference_of_the_total": float(abs(got_sales.sum() - want_sales.sum()) / abs(want_sales.sum()))}


def _timed(function, repeats, synchronize):
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times))


def _kernel_only(kc, cuda, case, firms, precision, repeats, evaluations):
    """Time the register-layout launch alone (CUDA events; device inputs and outputs prepared once)."""
    productivity_keys, shock_keys, params, thresholds, strata = case
    n_draws, n_blocks, _ = thresholds.shape
    kernel = kc.register_kernel(precision)
    per_block = -(-firms // (kc.F32_THREADS * kc.F32_FIRMS_PER_THREAD))
    args = [cuda.to_device(np.ascontiguousarray(productivity_keys)), cuda.to_device(np.ascontiguousarray(shock_keys)),
            *[cuda.to_device(np.ascontiguousarray(p, dtype=np.float64)) for p in params], np.int64(firms),
            *[cuda.to_device(np.ascontiguousarray(x)) for x in strata], cuda.to_device(thresholds),
            np.int64(per_block), cuda.to_device(np.zeros(thresholds.shape)), cuda.to_device(np.zeros(thresholds.shape))]
    grid = (n_blocks * per_block, n_draws)
    kernel[grid, kc.F32_THREADS](*args)
    times = []
    for _ in range(repeats):
        start, stop = cuda.event(), cuda.event()
        start.record()
        kernel[grid, kc.F32_THREADS](*args)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    median = float(np.median(times))
    print(f"kernel only {precision}: {evaluations / median / 1e9:.1f} G evaluations/s (median)", flush=True)
    return {"median_s": median, "evaluations_per_s": evaluations / median, "threads": kc.F32_THREADS,
            "firms_per_thread": kc.F32_FIRMS_PER_THREAD}


def dynamic_ge_checks(report, write, quick, cuda):
    """The ge closure's per-period kernels (``kernels.cuda.dynamic_ge``) chained over the periods, GPU
    (state in device memory, as ``engine.closures.dynamic_ge`` keeps it) against CPU, and the time of one
    ``dynamic_period_aggregates`` call (two shifts) on each."""
    from kernels import dynamic_ge
    from kernels.cuda import dynamic_ge as kd
    from tests import cuda_cases

    blocks, dest, firms, periods = (3, 3, 200, 4) if quick else (80, 10, 20_000, 6)
    case = cuda_cases.dynamic_ge_case(SEED, blocks, dest, firms, periods)
    names = cuda_cases.DYNAMIC_GE_KERNELS
    t0 = time.perf_counter()
    want = cuda_cases.run_dynamic_ge({n: getattr(dynamic_ge, n) for n in names}, case)
    cpu_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = cuda_cases.run_dynamic_ge({n: getattr(kd, n) for n in names}, case, kd.device_empty, kd.device_copy,
                                    lambda a: a.copy_to_host())
    gpu_s = time.perf_counter() - t0
    same = np.all(got["commit"][:, [0, 2, 3]] == want["commit"][:, [0, 2, 3]], axis=1)
    entry = {"blocks": blocks, "destinations": dest, "firms": firms, "periods": periods,
             "z_equal": bool(np.array_equal(got["z"], want["z"])),
             "status_flips": int((got["status"] != want["status"]).sum()), "pairs": int(want["status"][0].size),
             "commit_cells_with_count_flips": int((~same).sum()),
             "aggregate_cells_with_count_flips": int((got["aggregates"][:, 0] != want["aggregates"][:, 0]).sum()),
             "chain_s_cpu_incl_compile": cpu_s, "chain_s_gpu_incl_compile": gpu_s}
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got["commit"][:, [1, 4, 5]] - want["commit"][:, [1, 4, 5]]) / np.abs(want["commit"][:, [1, 4, 5]])
    entry["commit_sums_max_rel_difference_where_no_flip"] = float(np.nan_to_num(
        np.where(same[:, None] & (want["commit"][:, [1, 4, 5]] != 0), rel, 0.0)).max())
    entry["passed"] = bool(entry["z_equal"] and entry["commit_sums_max_rel_difference_where_no_flip"] <= 1e-12)
    report["agreement"]["dynamic_ge"] = entry
    write()
    # one aggregates call at two shifts, state on the device (the call a Newton step makes)
    n_shifts = 2
    sales, entry_scores = kd.device_empty((blocks, dest, firms)), kd.device_empty((blocks, dest, firms))
    eta, weight = kd.device_empty((blocks, dest, firms), np.float32), kd.device_empty((blocks, dest, firms))
    kd.dynamic_pair_scores(*case["keys"][:2], *case["params"], firms, case["strata"], sales, entry_scores, eta, weight,
                           np.arange(dest, dtype=np.int64), dest)
    z = cuda.to_device(want["z"][-1])
    status = cuda.to_device(want["status"][-1])
    table = np.ascontiguousarray(case["thresholds"][-1])
    shifts = np.ascontiguousarray(case["shifts"][-1])
    outs = [np.empty(shifts.shape) for _ in range(4)] + [np.empty((4, *shifts.shape)) for _ in range(2)]
    host = [want[k] for k in ("sales", "entry", "eta", "weight")]

    def gpu_call():
        kd.dynamic_period_aggregates(sales, entry_scores, eta, weight, z, case["z_score"], status, table, shifts,
                                     *outs)

    def cpu_call():
        dynamic_ge.dynamic_period_aggregates(*host, want["z"][-1], case["z_score"], want["status"][-1], table, shifts,
                                          *outs)

    gpu_call()
    cpu_call()
    repeats = 2 if quick else 10
    gpu_median, _ = _timed(gpu_call, repeats, cuda.synchronize)
    cpu_median, _ = _timed(cpu_call, repeats, lambda: None)
    evaluations = blocks * dest * firms * n_shifts
    report["speed"]["dynamic_period_aggregates"] = {
        "pair_shifts": evaluations, "median_s": gpu_median, "evaluations_per_s": evaluations / gpu_median,
        "cpu_median_s": cpu_median, "cpu_evaluations_per_s": evaluations / cpu_median}
    write()
    print(f"dynamic_period_aggregates: {gpu_median * 1e3:.2f} ms per call on the GPU, {cpu_median * 1e3:.2f} ms "
          f"on the CPU ({blocks} x {dest} x {firms} pairs, {n_shifts} shifts)", flush=True)
    return entry["passed"]


def kernel_checks(report, write, quick, cuda, numba):
    """The kernels' agreement with the CPU and their speed (``report["agreement"]``, ``report["speed"]``)."""
    from kernels import dynamic
    from kernels.cuda import dynamic as kdyn
    from kernels.reference import static as cpu
    from kernels.reference.cuda import static as kc
    from tests import cuda_cases, reference_cases

    ok = True
    blocks, dest, firms = (3, 3, 200) if quick else (80, 10, 20_000)
    chunk = 96 if quick else FIRM_CHUNK

    # ---- agreement: static kernel, float64 and float32, one launch per draw and one batched launch
    case = reference_cases.static_case(SEED, blocks, dest, firms, n_draws=2)
    weight = case[4][2].max(axis=1)  # each block's heaviest pair: the unit of the count flips

    def compare(got, want):
        return _compare_counts_and_sums(*got, *want, weight)

    cpu64 = reference_cases.run_static(cpu.direct_cell_sums, case, firms, chunk)
    cpu32 = reference_cases.run_static(cpu.direct_cell_sums_f32, case, firms, chunk)
    for precision, single, want, rtol in (("float64", kc.direct_cell_sums, cpu64, 1e-12),
                                          ("float32", kc.direct_cell_sums_f32, cpu32, 1e-5)):
        t0 = time.perf_counter()
        got = reference_cases.run_static(single, case, firms, chunk)
        compile_s = time.perf_counter() - t0
        batch = (np.zeros(case[3].shape), np.zeros(case[3].shape))
        kc.direct_cell_sums_draws(case[0], case[1], *case[2], firms, *case[4], case[3], chunk, *batch,
                                  precision=precision)
        entry = {"per_draw": compare(got, want), "batched": compare(batch, want), "first_call_s": compile_s,
                 "rtol": rtol}
        if precision == "float32":
            entry["gpu_float32_vs_cpu_float64"] = compare(got, cpu64)
        passed = all(e["max_rel_sum_difference"] <= rtol and e["largest_count_flip"] <= (0 if precision == "float64"
                                                                                          else 2)
                     for e in (entry["per_draw"], entry["batched"]))
        entry["passed"] = bool(passed)
        ok &= passed
        report["agreement"][f"direct_cell_sums_{precision}"] = entry
        write()
    report["agreement"]["cpu_float32_vs_cpu_float64"] = compare(cpu32, cpu64)

    # ---- agreement: fast float32 intrinsics (no CPU twin: against CPU float64, at float32 tolerance),
    # and the bit-compatible float32 kernel's other layout against its default one
    t0 = time.perf_counter()
    got = reference_cases.run_static(kc.direct_cell_sums_f32_fast, case, firms, chunk)
    compile_s = time.perf_counter() - t0
    batch = (np.zeros(case[3].shape), np.zeros(case[3].shape))
    kc.direct_cell_sums_draws(case[0], case[1], *case[2], firms, *case[4], case[3], chunk, *batch,
                              precision="float32_fast")
    entry = {"per_draw": compare(got, cpu64), "batched": compare(batch, cpu64), "first_call_s": compile_s,
             "rtol": FAST_RTOL, "largest_count_flip_allowed": FAST_FLIPS, "vs_cpu_float32": compare(got, cpu32)}
    passed = all(e["max_rel_sum_difference"] <= FAST_RTOL and e["largest_count_flip"] <= FAST_FLIPS
                 for e in (entry["per_draw"], entry["batched"]))
    entry["passed"] = bool(passed)
    ok &= passed
    report["agreement"]["direct_cell_sums_float32_fast_vs_cpu_float64"] = entry
    other = "shared" if kc.F32_LAYOUT == "register" else "register"
    batch = (np.zeros(case[3].shape), np.zeros(case[3].shape))
    kc.direct_cell_sums_draws(case[0], case[1], *case[2], firms, *case[4], case[3], chunk, *batch, precision="float32",
                              layout=other)
    entry = {"layout": other, "vs_cpu_float32": compare(batch, cpu32)}
    entry["passed"] = bool(entry["vs_cpu_float32"]["max_rel_sum_difference"] <= 1e-5
                           and entry["vs_cpu_float32"]["largest_count_flip"] <= 2)
    ok &= entry["passed"]
    report["agreement"]["direct_cell_sums_float32_other_layout"] = entry
    write()

    # ---- agreement: dynamic kernels
    d_blocks, d_dest, d_firms, d_periods = (3, 3, 200, 5) if quick else (40, 10, 20_000, 24)
    dcase = cuda_cases.dynamic_case(SEED, d_blocks, d_dest, d_firms, d_periods)
    t0 = time.perf_counter()
    costs, initial, sums = cuda_cases.run_dynamic(dynamic.dynamic_baseline_costs, dynamic.dynamic_cell_sums, dcase)
    cpu_dynamic_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    g_costs, g_initial, g_sums = cuda_cases.run_dynamic(kdyn.dynamic_baseline_costs, kdyn.dynamic_cell_sums, dcase)
    gpu_first_s = time.perf_counter() - t0
    finite = np.isfinite(costs)
    entry = {"initial_z_equal": bool(np.array_equal(initial, g_initial)),
             "costs_inf_pattern_equal": bool(np.array_equal(finite, np.isfinite(g_costs))),
             "costs_max_abs_difference": float(np.abs(costs[finite] - g_costs[finite]).max()),
             "first_call_s_cpu_incl_compile": cpu_dynamic_s, "first_call_s_gpu_incl_compile": gpu_first_s}
    names = ("active", "sales", "entries", "exits", "both", "both_base")
    counts_equal = np.all([g_sums[i] == sums[i] for i in (0, 2, 3)], axis=0)  # cells (t, b, n) without flips
    entry["cells"] = int(counts_equal.size)
    entry["cells_with_count_flips"] = int((~counts_equal).sum())
    for i, name in enumerate(names):
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(counts_equal & (sums[i] != 0), np.abs(g_sums[i] - sums[i]) / np.abs(sums[i]), 0.0)
        entry[name] = {"largest_difference": float(np.abs(g_sums[i] - sums[i]).max()),
                       "max_rel_difference_where_no_flip": float(rel.max())}
    # the half-population split (docs/model.md section 8.2) is a signed sum: against the cell's sales
    split_gap = np.abs(g_sums[6] - sums[6])[counts_equal]
    entry["split"] = {"largest_difference": float(np.abs(g_sums[6] - sums[6]).max()),
                      "max_difference_over_largest_sales_where_no_flip": float(
                          split_gap.max() / max(np.abs(sums[1]).max(), 1e-300)) if split_gap.size else 0.0}
    passed = (entry["initial_z_equal"] and entry["costs_inf_pattern_equal"]
              and entry["costs_max_abs_difference"] < 1e-10
              and all(entry[n]["max_rel_difference_where_no_flip"] <= 1e-12 for n in names)
              and entry["split"]["max_difference_over_largest_sales_where_no_flip"] <= 1e-12)
    entry["passed"] = bool(passed)
    ok &= passed
    report["agreement"]["dynamic"] = entry
    write()

    # ---- agreement and speed: the ge closure's per-period kernels (kernels.cuda.dynamic_ge), state on the device
    ok &= dynamic_ge_checks(report, write, quick, cuda)

    # ---- speed
    repeats = 2 if quick else 20
    n_draws = 1 if quick else 16
    scase = reference_cases.static_case(SEED + 1, blocks, dest, firms, n_draws=n_draws)
    evaluations = n_draws * blocks * dest * firms
    other = "shared" if kc.F32_LAYOUT == "register" else "register"
    runs = [("float64", {}, "direct_cell_sums_float64"), ("float32", {}, "direct_cell_sums_float32"),
            ("float32", {"layout": other}, f"direct_cell_sums_float32_{other}_layout"),
            ("float32_fast", {}, "direct_cell_sums_float32_fast")]
    # launch-layout sweep of the register kernels (threads per block, firms per thread)
    for threads, per_thread in ([] if quick else SWEEP):
        for precision in ("float32", "float32_fast"):
            runs.append((precision, {"layout": "register", "threads": threads, "firms_per_thread": per_thread},
                         f"sweep_{precision}_threads{threads}_firms{per_thread}"))
    for precision, options, label in runs:
        outputs = (np.zeros(scase[3].shape), np.zeros(scase[3].shape))

        def launch():
            kc.direct_cell_sums_draws(scase[0], scase[1], *scase[2], firms, *scase[4], scase[3], chunk, *outputs,
                                      precision=precision, **options)

        launch()
        median, best = _timed(launch, repeats if not label.startswith("sweep") else max(2, repeats // 2),
                              cuda.synchronize)
        report["speed"][label] = {
            "precision": precision, **options,
            "draws_per_launch": n_draws, "evaluations": evaluations, "median_s": median, "best_s": best,
            "evaluations_per_s": evaluations / median, "evaluations_per_s_best": evaluations / best}
        write()
        print(f"{label}: {evaluations / median / 1e9:.1f} G evaluations/s (median)", flush=True)
    # kernel time alone (inputs already on the device, outputs left there): the launch's own rate
    for precision in ("float32", "float32_fast"):
        report["speed"][f"kernel_only_{precision}"] = _kernel_only(kc, cuda, scase, firms, precision, repeats,
                                                                   evaluations)
        write()
    t0 = time.perf_counter()
    cpu.direct_cell_sums(scase[0][0], scase[1][0], *scase[2], firms, *scase[4], scase[3][0], chunk,
                         np.zeros(scase[3].shape[1:]), np.zeros(scase[3].shape[1:]))
    report["speed"]["cpu_direct_cell_sums_float64_one_draw_s"] = time.perf_counter() - t0

    baseline, dsums = dcase
    out = [np.zeros(dcase[1][-1].shape[:3]) for _ in range(7)]
    median, best = _timed(lambda: kdyn.dynamic_cell_sums(*dsums, *out), 2 if quick else 5, cuda.synchronize)
    pair_periods = d_blocks * d_dest * d_firms * d_periods
    t0 = time.perf_counter()
    dynamic.dynamic_cell_sums(*dsums, *out)
    cpu_s = time.perf_counter() - t0
    report["speed"]["dynamic_cell_sums"] = {
        "firm_destination_periods": pair_periods, "median_s": median, "best_s": best,
        "evaluations_per_s": pair_periods / median, "cpu_s": cpu_s, "cpu_threads": numba.get_num_threads()}
    print(f"dynamic_cell_sums: {pair_periods / median / 1e9:.2f} G firm-destination-periods/s "
          f"(CPU {pair_periods / cpu_s / 1e9:.3f} G/s on {numba.get_num_threads()} threads)")
    return ok


def _arguments(argv):
    parser = argparse.ArgumentParser(description="Agreement and speed of the CUDA kernels and of whole runs.")
    parser.add_argument("out", nargs="?", default=os.path.join(os.environ.get("OUT", "."), "gpu_check.json"),
                        help="JSON file to write [default: $OUT/gpu_check.json]")
    parser.add_argument("--quick", action="store_true", help="tiny kernel sizes (for the CUDA simulator)")
    parser.add_argument("--whole-draws", type=int, default=None,
                        help="timed whole draws per closure and device, after one untimed draw; 0: none "
                             "[3; 0 with --quick]")
    parser.add_argument("--whole-firms", type=int, default=None,
                        help="firms per origin-sector of the whole runs [the engine's default]")
    parser.add_argument("--whole-calibration", default=None, help="calibration folder [the embedded one]")
    parser.add_argument("--whole-scenario", default=None, help="scenario file [the default scenario]")
    parser.add_argument("--whole-only", action="store_true", help="only the whole runs (no kernel checks)")
    return parser.parse_args(argv)


def main(argv):
    args = _arguments(argv)
    quick = args.quick
    out_path = args.out
    warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)  # simulator only
    import numba

    report = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
              "numba_cuda": _version("numba-cuda"), "quick": quick, "agreement": {}, "speed": {}}

    def write():
        with open(out_path, "w") as handle:
            json.dump(report, handle, indent=2)

    try:
        from kernels.cuda.device import SIMULATOR, cuda
        report["simulator"] = SIMULATOR
        if not cuda.is_available():
            raise RuntimeError("numba.cuda.is_available() is False")
        gpu = cuda.get_current_device()
        name = getattr(gpu, "name", "CUDA simulator")
        name = name.decode() if isinstance(name, bytes) else str(name)
        report["gpu"] = {"name": name, "compute_capability": list(getattr(gpu, "compute_capability", ()))}
    except Exception as error:
        report["error"] = f"no usable GPU: {type(error).__name__}: {error}"
        write()
        print(report["error"])
        return 2

    ok = True
    if not args.whole_only:
        ok &= kernel_checks(report, write, quick, cuda, numba)
    whole_draws = args.whole_draws if args.whole_draws is not None else 0 if quick else 3
    if whole_draws > 0:
        from bench.gpu_whole_runs import whole_runs

        report["whole_runs"] = whole_runs(whole_draws, args.whole_firms, args.whole_calibration,
                                          args.whole_scenario, log=lambda line: print(line, flush=True))
        ok &= report["whole_runs"].get("passed", True)
        write()
    report["passed"] = bool(ok)
    write()
    print(json.dumps(report["agreement"], indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
