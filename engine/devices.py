"""Device selection: one table (device, precision) -> kernel functions, all with the CPU kernels' arguments.

The engine calls a kernel through this module instead of importing it, e.g. in the per-draw unit::

    devices.dynamic_cell_sums(device)(*args)        # args exactly those of kernels.dynamic.dynamic_cell_sums
    devices.dynamic_baseline_costs(device)(*args)   # kernels.dynamic.dynamic_baseline_costs
    devices.direct_cell_sums(device, precision)(*args)  # kernels.reference.static.direct_cell_sums(_f32)
    devices.batch_cell_sums(device, precision)(*args)   # many (keys, thresholds) at once, see below
    devices.kernel("dynamic_period_commit", device)(*args)  # any kernel of KERNELS by name
    devices.state_arrays(device).empty(shape, dtype)     # where a kernel's state lives between calls

so there is no ``if gpu:`` in ``engine/``: ``device`` is ``"cpu"`` (default), ``"cuda"`` or ``"auto"``
(CUDA when numba-cuda is installed and a usable NVIDIA GPU is present, else CPU), ``precision`` is
``"float64"`` (default) or ``"float32"`` (scores and ``exp`` in float32, sums in float64; for the
brute-force kernels only: the dynamic model and the ranking path are float64), or, on CUDA only,
``"float32_fast"``: float32 with CUDA's fast single-precision intrinsics for log, sqrt and exp
(``kernels.reference.cuda.fastmath``: the same hashes and uniforms; not bit-compatible with the CPU
float32 kernel, whose polynomials the default ``"float32"`` reproduces bit for bit on the GPU).

The per-period kernels of the dynamic model's ``ge`` closure (``engine.closures.dynamic_ge``) keep a draw's
per-pair state between calls; ``state_arrays(device)`` allocates it where the kernels run (NumPy
arrays on the CPU, device arrays on CUDA), so that it stays on the GPU from period to period.

CUDA kernels live in ``kernels.cuda`` and ``kernels.reference.cuda`` and need the optional extra
``pip install '.[cuda]'``
(numba-cuda); they are imported only when a CUDA kernel is asked for, so the CPU install never
imports ``numba.cuda``. Bad values raise ``engine.errors.InputError`` naming the option and what is
allowed; asking for ``cuda`` without numba-cuda or without a GPU says which is missing.
"""

import importlib
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from engine.config import DEVICES
from engine.errors import InputError

PRECISIONS = ("float64", "float32", "float32_fast")

#: (device, precision) -> kernel name -> "module:function". The CUDA functions take the same arguments
#: and fill the same outputs as the CPU ones (tests/test_cuda.py checks this under the CUDA simulator).
KERNELS = {
    ("cpu", "float64"): {
        "direct_cell_sums": "kernels.reference.static:direct_cell_sums",
        "dynamic_baseline_costs": "kernels.dynamic:dynamic_baseline_costs",
        "dynamic_cell_sums": "kernels.dynamic:dynamic_cell_sums",
        "dynamic_pair_scores": "kernels.dynamic_ge:dynamic_pair_scores",
        "dynamic_initial_state": "kernels.dynamic_ge:dynamic_initial_state",
        "dynamic_z_advance": "kernels.dynamic_ge:dynamic_z_advance",
        "dynamic_relationship_loss": "kernels.dynamic_ge:dynamic_relationship_loss",
        "dynamic_period_aggregates": "kernels.dynamic_ge:dynamic_period_aggregates",
        "dynamic_period_commit": "kernels.dynamic_ge:dynamic_period_commit",
        # CPU only: the baseline costs from pair scores ge keeps, the window of shifts that spares
        # dynamic_period_aggregates most pairs, and the pass that ends a period with the commits and the
        # next window in one
        "dynamic_baseline_costs_of": "kernels.dynamic:dynamic_baseline_costs_of",
        "dynamic_window_prepare": "kernels.dynamic_ge:dynamic_window_prepare",
        "dynamic_window_aggregates": "kernels.dynamic_ge:dynamic_window_aggregates",
        "dynamic_window_records": "kernels.dynamic_ge:dynamic_window_records",
        "dynamic_period_close": "kernels.dynamic_ge:dynamic_period_close",
        "dynamic_visit_list": "kernels.dynamic_ge:dynamic_visit_list",
        "dynamic_z_range": "kernels.dynamic_ge:dynamic_z_range",
    },
    ("cpu", "float32"): {
        "direct_cell_sums": "kernels.reference.static:direct_cell_sums_f32",
    },
    ("cuda", "float64"): {
        "direct_cell_sums": "kernels.reference.cuda.static:direct_cell_sums",
        "dynamic_baseline_costs": "kernels.cuda.dynamic:dynamic_baseline_costs",
        "dynamic_cell_sums": "kernels.cuda.dynamic:dynamic_cell_sums",
        "dynamic_pair_scores": "kernels.cuda.dynamic_ge:dynamic_pair_scores",
        "dynamic_initial_state": "kernels.cuda.dynamic_ge:dynamic_initial_state",
        "dynamic_z_advance": "kernels.cuda.dynamic_ge:dynamic_z_advance",
        "dynamic_relationship_loss": "kernels.cuda.dynamic_ge:dynamic_relationship_loss",
        "dynamic_period_aggregates": "kernels.cuda.dynamic_ge:dynamic_period_aggregates",
        "dynamic_period_commit": "kernels.cuda.dynamic_ge:dynamic_period_commit",
    },
    ("cuda", "float32"): {
        "direct_cell_sums": "kernels.reference.cuda.static:direct_cell_sums_f32",
    },
    ("cuda", "float32_fast"): {
        "direct_cell_sums": "kernels.reference.cuda.static:direct_cell_sums_f32_fast",
    },
}


def cuda_status():
    """Whether CUDA kernels can run here, and why not.

    Returns
    -------
    (bool, str)
        ``(True, description of the GPU)`` or ``(False, reason)``. Under the CUDA simulator
        (``NUMBA_ENABLE_CUDASIM=1``) it is ``(True, "CUDA simulator")``.
    """
    if importlib.util.find_spec("numba_cuda") is None:
        return False, "numba-cuda is not installed (pip install '.[cuda]')"
    try:
        from kernels.cuda.device import SIMULATOR, cuda
    except Exception as error:  # pragma: no cover - a broken CUDA installation
        return False, f"numba.cuda cannot be imported: {error}"
    if SIMULATOR:
        return True, "CUDA simulator"
    try:
        if not cuda.is_available():
            return False, "no usable NVIDIA GPU or driver (numba.cuda.is_available() is False)"
        gpu = cuda.get_current_device()
        return True, f"{gpu.name.decode() if isinstance(gpu.name, bytes) else gpu.name} (cc {gpu.compute_capability})"
    except Exception as error:  # pragma: no cover - driver errors on a machine with a GPU
        return False, f"the GPU cannot be used: {error}"


def resolve_device(device="cpu"):
    """``"cpu"`` or ``"cuda"`` for a requested ``device`` (``"auto"``: CUDA when usable).

    Raises
    ------
    InputError
        For an unknown name, or ``"cuda"`` when CUDA is not usable here (the message says why).
    """
    if device not in DEVICES:
        raise InputError("--device", f"unknown device {device!r}; allowed: {', '.join(DEVICES)}", field="device")
    if device == "cpu":
        return "cpu"
    usable, reason = cuda_status()
    if device == "auto":
        return "cuda" if usable else "cpu"
    if not usable:
        raise InputError("--device", f"cuda was asked for but cannot run here: {reason}", field="device")
    return "cuda"


def kernel(name, device="cpu", precision="float64"):
    """The kernel function ``name`` for a device and precision (see ``KERNELS``)."""
    if precision not in PRECISIONS:
        raise InputError("--precision", f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}",
                         field="precision")
    target = resolve_device(device)
    if (target, precision) not in KERNELS:
        raise InputError("--precision", f"{precision} needs --device cuda (CUDA's fast float32 intrinsics); "
                         f"on {target} allowed: {', '.join(p for p in PRECISIONS if (target, p) in KERNELS)}",
                         field="precision")
    table = KERNELS[(target, precision)]
    if name not in table:
        allowed = [p for p in PRECISIONS if name in KERNELS.get((target, p), {})]
        raise InputError("--precision", f"{name} is available in {', '.join(allowed)} only, not {precision}",
                         field="precision")
    module, function = table[name].split(":")
    return getattr(importlib.import_module(module), function)


#: device -> ("module:empty", "module:copy"): allocators of kernel state (``state_arrays``).
STATE_ARRAYS = {
    "cpu": ("numpy:empty", "numpy:copy"),
    "cuda": ("kernels.cuda.dynamic_ge:device_empty", "kernels.cuda.dynamic_ge:device_copy"),
}


def state_arrays(device="cpu"):
    """Allocators of arrays that the kernels of ``device`` read and change across calls.

    Returns
    -------
    types.SimpleNamespace
        ``empty(shape, dtype=float64)`` and ``copy(array)``: ``numpy.empty`` and ``numpy.copy`` on
        the CPU; on CUDA the same for device arrays (``kernels.cuda.dynamic_ge``), which every CUDA
        kernel takes in place of NumPy arrays (no copy between host and device).
    """
    target = resolve_device(device)
    functions = []
    for entry in STATE_ARRAYS[target]:
        module, function = entry.split(":")
        functions.append(getattr(importlib.import_module(module), function))
    return SimpleNamespace(empty=functions[0], copy=functions[1])


def direct_cell_sums(device="cpu", precision="float64"):
    """``kernels.reference.static.direct_cell_sums`` (float32: ``direct_cell_sums_f32``) or its CUDA twin."""
    return kernel("direct_cell_sums", device, precision)


def dynamic_baseline_costs(device="cpu"):
    """``kernels.dynamic.dynamic_baseline_costs`` or its CUDA twin (float64)."""
    return kernel("dynamic_baseline_costs", device)


def dynamic_cell_sums(device="cpu"):
    """``kernels.dynamic.dynamic_cell_sums`` or its CUDA twin (float64)."""
    return kernel("dynamic_cell_sums", device)


def batch_cell_sums(device="cpu", precision="float64"):
    """Brute-force cell sums for a batch of (keys, thresholds): many draws, or many periods of one draw.

    The returned function takes ``(productivity_keys (D, B), shock_keys (D, B), sm1_over_theta, s_a,
    s_e, rho, n_firms, strata_low, strata_width, strata_weight (B, M), thresholds (D, B, R), firm_chunk,
    out_active (D, B, R), out_sales_index (D, B, R))`` (``out_active``: real active pairs, float64):
    entry ``d`` is ``direct_cell_sums`` with ``productivity_keys[d]``, ``shock_keys[d]`` and
    ``thresholds[d]`` (the strata are the blocks', the same for every entry). On CUDA the batch is one
    launch (a grid dimension over it); on the CPU a loop. Periods of one draw: repeat the draw's keys
    along the first axis.
    """
    target = resolve_device(device)
    if precision not in PRECISIONS or (target, precision) not in KERNELS:
        kernel("direct_cell_sums", target, precision)  # raises the precision error
    if target == "cuda":
        from kernels.reference.cuda.static import direct_cell_sums_draws

        def run(*args):
            direct_cell_sums_draws(*args, precision=precision)

        return run
    single = kernel("direct_cell_sums", "cpu", precision)

    def run_cpu(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
                strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
        for d in range(thresholds.shape[0]):
            single(np.ascontiguousarray(productivity_keys[d]), np.ascontiguousarray(shock_keys[d]), sm1_over_theta,
                   s_a, s_e, rho, n_firms, strata_low, strata_width, strata_weight,
                   np.ascontiguousarray(thresholds[d]), firm_chunk, out_active[d], out_sales_index[d])

    return run_cpu


def kernels_cached():
    """Whether the Numba kernels are compiled in this process or cached on disk (False: the first
    draw compiles them, which takes a while)."""
    from kernels import static

    dispatcher = static.rank_cells
    if dispatcher.signatures:
        return True
    try:
        return Path(dispatcher._cache._cache_path).glob(f"*{dispatcher.__name__}*.nbi").__next__() is not None
    except (AttributeError, StopIteration, OSError):
        return False
