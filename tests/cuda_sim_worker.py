"""Runs the CUDA kernels on the cases of ``tests.cuda_cases`` (the brute-force static kernels: of
``tests.reference_cases``) and saves their outputs (``.npz``).

Started by ``tests/test_cuda.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (the simulator must be
chosen before ``numba.cuda`` is imported, so it cannot run inside the test process). Every kernel is
reached through ``engine.devices`` with ``device="cuda"``, so the wiring is tested too. The static and
the dynamic kernels run as two sections: a section that fails is recorded (``errors``) and the other
still runs.

Usage: ``python -m tests.cuda_sim_worker OUT.npz STATIC_SEED DYNAMIC_SEED``
"""

import json
import sys
import time
import traceback
import warnings

import numpy as np

from engine import devices
from kernels.cuda import device as kdevice
from tests import cuda_cases, reference_cases
from tests.cuda_cases import SIM_DRAWS as DRAWS
from tests.cuda_cases import SIM_FIRM_CHUNK as FIRM_CHUNK
from tests.cuda_cases import SIM_SIZES as SIZES


def static_section(results, static_seed):
    """The brute-force static kernels (``kernels.reference.cuda``) in every precision, per draw and batched."""
    from kernels.reference.cuda import static as kcuda

    n_firms = SIZES["n_firms"]
    case = reference_cases.static_case(static_seed, SIZES["n_blocks"], SIZES["n_dest"], n_firms, DRAWS)
    for precision in ("float64", "float32", "float32_fast"):
        active, sales = reference_cases.run_static(devices.direct_cell_sums("cuda", precision), case, n_firms,
                                                   FIRM_CHUNK)
        results[f"static_{precision}_active"], results[f"static_{precision}_sales"] = active, sales
        batch_active = np.full(active.shape, np.nan)
        batch_sales = np.full(sales.shape, np.nan)
        devices.batch_cell_sums("cuda", precision)(case[0], case[1], *case[2], n_firms, *case[4], case[3], FIRM_CHUNK,
                                                   batch_active, batch_sales)
        results[f"batch_{precision}_active"], results[f"batch_{precision}_sales"] = batch_active, batch_sales
    # the bit-compatible float32 kernel in its other layout (shared-memory accumulators, as float64)
    batch = (np.full(case[3].shape, np.nan), np.full(case[3].shape, np.nan))
    kcuda.direct_cell_sums_draws(case[0], case[1], *case[2], n_firms, *case[4], case[3], FIRM_CHUNK, *batch,
                                 precision="float32", layout="register" if kcuda.F32_LAYOUT == "shared" else "shared")
    results["batch_float32_other_layout_active"], results["batch_float32_other_layout_sales"] = batch


def dynamic_section(results, dynamic_seed):
    """The dynamic model's kernels (``kernels.cuda.dynamic``) and the ge closure's per-period kernels
    (``kernels.cuda.dynamic_ge``)."""
    dynamic = cuda_cases.dynamic_case(dynamic_seed, SIZES["n_blocks"], SIZES["n_dest"], SIZES["n_firms"],
                                      SIZES["n_periods"])
    costs, initial, sums = cuda_cases.run_dynamic(devices.dynamic_baseline_costs("cuda"),
                                                  devices.dynamic_cell_sums("cuda"), dynamic)
    results.update(dynamic_costs=costs, dynamic_initial=initial, dynamic_sums=sums)
    # the per-period kernels of the dynamic ge closure: NumPy arguments (copied in and out per call),
    # and the per-pair state in device memory (as engine.closures.dynamic_ge keeps it)
    ge_case = cuda_cases.dynamic_ge_case(dynamic_seed, **cuda_cases.SIM_GE_SIZES)
    ge_kernels = {name: devices.kernel(name, "cuda") for name in cuda_cases.DYNAMIC_GE_KERNELS}
    arrays = devices.state_arrays("cuda")
    for label, options in (("host", {}), ("device", {"empty": arrays.empty, "copy": arrays.copy,
                                                     "to_host": lambda a: a.copy_to_host()})):
        for name, value in cuda_cases.run_dynamic_ge(ge_kernels, ge_case, **options).items():
            results[f"ge_{label}_{name}"] = value


def main(path, static_seed, dynamic_seed):
    """Run every section; one that fails leaves its results out and its traceback in ``errors`` (a JSON
    object by section), so that the other sections' tests still run."""
    # under the simulator the device code runs on NumPy scalars, whose uint64 hash arithmetic wraps
    # on purpose (as on the GPU) and would warn on every overflow
    warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)
    results = {"device": np.array(devices.resolve_device("auto")), "threads": np.array(kdevice.THREADS)}
    errors = {}
    started = time.perf_counter()
    for name, section, seed in (("static", static_section, static_seed), ("dynamic", dynamic_section, dynamic_seed)):
        try:
            section(results, seed)
        except Exception:
            errors[name] = traceback.format_exc()
            print(f"section {name} failed:\n{errors[name]}", file=sys.stderr)
    results["seconds"] = np.array(time.perf_counter() - started)
    results["errors"] = np.array(json.dumps(errors))
    np.savez(path, **results)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
