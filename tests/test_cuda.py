"""The CUDA backend (kernels.cuda, kernels.reference.cuda, engine.devices) against the CPU kernels.

CI has no GPU: every CUDA kernel runs under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) on tiny
sizes, in a subprocess (``tests/cuda_sim_worker.py``; the simulator must be chosen before
``numba.cuda`` is imported, and this process may already have imported the real one). The inputs
come from seeds derived from the test names (printed in the assertion messages); the subprocess
and this process build them alike with ``tests.cuda_cases``. The tests on a real GPU skip without one.
"""

import importlib.util
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine import devices
from engine.errors import InputError
from kernels import dynamic, dynamic_ge
from kernels.reference import float32
from kernels.reference import static as brute
from tests import cuda_cases, reference_cases

ROOT = Path(__file__).resolve().parents[1]
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
STATIC_SEED = zlib.crc32(b"test_cuda static")
DYNAMIC_SEED = zlib.crc32(b"test_cuda dynamic")
needs_numba_cuda = pytest.mark.skipif(not HAVE_NUMBA_CUDA, reason="numba-cuda is not installed (pip install '.[cuda]')")
#: The CUDA simulator runs each GPU thread as a Python thread while its launcher polls them all; at
#: Python's default 5 ms GIL switch interval the poller holds the GIL far longer than the threads need,
#: and 0.1 ms runs the same kernels about 2.4x faster (same results: the threads' order is fixed by
#: the kernels' barriers, not by the interpreter).
SIMULATOR_SWITCH = "import sys; sys.setswitchinterval(1e-4)\n"


def on_simulator(*args, timeout=900):
    """Run ``python -c SIMULATOR_SWITCH + ...`` with the CUDA simulator: ``args`` start with ``-m MODULE``,
    a script path, or ``-c CODE``, as on a ``python`` command line."""
    if args[0] == "-m":
        code, rest = f"import runpy; runpy.run_module({args[1]!r}, run_name='__main__', alter_sys=True)", args[2:]
    elif args[0] == "-c":
        code, rest = args[1], args[2:]
    else:
        code, rest = f"import runpy; runpy.run_path({args[0]!r}, run_name='__main__')", args[1:]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    return subprocess.run([sys.executable, "-c", SIMULATOR_SWITCH + code, *map(str, rest)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------ device table


def test_cpu_entries_are_the_cpu_kernels():
    assert devices.direct_cell_sums("cpu") is brute.direct_cell_sums
    assert devices.direct_cell_sums("cpu", "float32") is brute.direct_cell_sums_f32
    assert devices.dynamic_cell_sums("cpu") is dynamic.dynamic_cell_sums
    assert devices.dynamic_baseline_costs() is dynamic.dynamic_baseline_costs
    assert devices.resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("call, option, allowed", [
    (lambda: devices.resolve_device("gpu"), "--device", "cpu, cuda, auto"),
    (lambda: devices.direct_cell_sums("cpu", "float16"), "--precision", "float64, float32"),
    (lambda: devices.kernel("dynamic_cell_sums", "cpu", "float32"), "--precision", "float64 only"),
    (lambda: devices.direct_cell_sums("cpu", "float32_fast"), "--precision", "needs --device cuda"),
    (lambda: devices.batch_cell_sums("cpu", "float32_fast"), "--precision", "allowed: float64, float32"),
])
def test_bad_device_or_precision_names_the_option_and_what_is_allowed(call, option, allowed):
    with pytest.raises(InputError) as error:
        call()
    assert error.value.source == option
    assert allowed in str(error.value)


def test_the_cpu_path_never_imports_numba_cuda():
    """The CPU install must not need numba-cuda: choosing CPU kernels imports no CUDA module."""
    code = ("import sys; from engine import devices; devices.direct_cell_sums('cpu'); devices.dynamic_cell_sums('cpu');"
            "devices.batch_cell_sums('cpu'); assert 'numba.cuda' not in sys.modules, 'numba.cuda imported';"
            "assert not any(m.startswith(('kernels.cuda', 'kernels.reference.cuda')) for m in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@needs_numba_cuda
def test_cuda_without_a_gpu_is_one_clear_error_and_auto_falls_back_to_cpu():
    usable, reason = devices.cuda_status()
    if usable:
        pytest.skip(f"a GPU is usable here: {reason}")
    assert devices.resolve_device("auto") == "cpu"
    with pytest.raises(InputError) as error:
        devices.dynamic_cell_sums("cuda")
    assert "cuda was asked for but cannot run here" in str(error.value) and reason in str(error.value)


def test_batch_on_cpu_equals_one_call_per_draw(request):
    seed = zlib.crc32(request.node.name.encode())
    case = reference_cases.static_case(seed, n_blocks=3, n_dest=4, n_firms=500, n_draws=3)
    want_active, want_sales = reference_cases.run_static(brute.direct_cell_sums, case, 500, 128)
    active = np.full(want_active.shape, np.nan)
    sales = np.full(want_sales.shape, np.nan)
    devices.batch_cell_sums("cpu")(case[0], case[1], *case[2], 500, *case[4], case[3], 128, active, sales)
    np.testing.assert_array_equal(active, want_active, err_msg=f"seed {seed}")
    np.testing.assert_array_equal(sales, want_sales, err_msg=f"seed {seed}")
    assert 0 < active.sum() < reference_cases.real_firms(case).sum() * active.shape[0] * active.shape[2]


# ----------------------------------------------------- the float32 scalar functions CUDA compiles


def test_scalar_float32_scores_agree_with_the_vectorised_cpu_passes(request):
    """``scores_f32`` and ``scaled_log_productivity_f32`` (what the GPU compiles) give, on the CPU, the
    numbers of the loops of ``direct_cell_sums_f32`` (``fill_*_f32``): the same hashes and operations,
    so equal up to where the compiler fuses a multiply and an add (1 float32 ulp of the terms)."""
    from numba import njit

    from engine.firms.sampling import block_strata
    from kernels.fastmath import FASTMATH

    seed = zlib.crc32(request.node.name.encode())
    rng = np.random.default_rng(seed)
    pkey, skey = (np.uint64(k) for k in rng.integers(0, 2**63, 2, dtype=np.uint64))
    sm1, s_a, s_e, rho = 0.6, 0.9, 0.4, -0.3
    rho_c = np.sqrt(1 - rho * rho)
    m, n_dest, n = 777, 5, 2
    low, width, _ = (x[0] for x in block_strata(np.array([40.0 * m]), m, np.array([s_a])))
    low, width = np.roll(low, -5), np.roll(width, -5)  # firm f in stratum (f + 5) % m
    slp = np.empty(m, np.float32)
    sales = np.empty(m, np.float32)
    entry = np.empty(m, np.float32)
    float32.fill_scaled_log_productivity_f32(pkey, np.uint64(0), sm1, slp)
    float32.fill_scores_f32(skey, np.uint64(n), np.uint64(n_dest), low, width, slp, s_a, s_e, rho, rho_c, sales, entry)

    @njit(error_model="numpy", fastmath=FASTMATH)  # the flags of the kernels that inline them
    def scalar(out_slp, out_sales, out_entry):
        f32 = np.float32
        for f in range(out_slp.size):
            out_slp[f] = float32.scaled_log_productivity_f32(pkey, np.uint64(f), f32(sm1))
            out_sales[f], out_entry[f] = float32.scores_f32(skey, np.uint64(f * n_dest + n), low[f], width[f],
                                                         out_slp[f], f32(s_a), f32(s_e), f32(rho), f32(rho_c))

    got = [np.empty(m, np.float32) for _ in range(3)]
    scalar(*got)
    assert np.array_equal(got[0], slp), f"seed {seed}"
    for a, b in zip(got[1:], (sales, entry)):
        np.testing.assert_allclose(a, b, rtol=0, atol=4e-7 * (1 + np.abs(slp).max() + 6 * (s_a + s_e)),
                                   err_msg=f"seed {seed}")
    assert np.mean(got[1] == sales) > 0.5 and np.mean(got[2] == entry) > 0.5, f"seed {seed}"


# ------------------------------------------------------------------- CUDA simulator versus CPU


class _Simulated(dict):
    """The simulator run's outputs by name; the output of a section that failed raises with its traceback,
    so that only the tests of that section fail (``tests/cuda_sim_worker.py`` runs the others)."""

    def __missing__(self, name):
        errors = json.loads(str(self.get("errors", "{}")))
        raise AssertionError(f"the CUDA simulator run has no {name!r}: " + ("".join(
            f"\nsection {section} failed:\n{text}" for section, text in errors.items()) or "no section failed"))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The CUDA kernels' outputs on the simulator cases (one subprocess for all of them)."""
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (pip install '.[cuda]')")
    path = tmp_path_factory.mktemp("cudasim") / "out.npz"
    done = on_simulator("-m", "tests.cuda_sim_worker", path, STATIC_SEED, DYNAMIC_SEED)
    assert done.returncode == 0, f"CUDA simulator run failed:\n{done.stdout}\n{done.stderr}"
    with np.load(path) as data:
        return _Simulated({k: data[k] for k in data.files})


def _static_case():
    sizes = cuda_cases.SIM_SIZES
    return reference_cases.static_case(STATIC_SEED, sizes["n_blocks"], sizes["n_dest"], sizes["n_firms"],
                                       cuda_cases.SIM_DRAWS)


def _static_cpu(kernel):
    return reference_cases.run_static(kernel, _static_case(), cuda_cases.SIM_SIZES["n_firms"],
                                      cuda_cases.SIM_FIRM_CHUNK)


def _pair_weight_bound():
    """(1, B, 1): the real pairs of each block's heaviest pair (what one pair flipping changes a count by)."""
    return _static_case()[4][2].max(axis=1)[None, :, None]


def test_simulator_is_a_cuda_device_for_auto(simulated):
    assert str(simulated["device"]) == "cuda"
    assert int(simulated["threads"]) == 32


@pytest.mark.parametrize("result", ["static", "batch"])
def test_cuda_cell_sums_equal_the_cpu_kernel_float64(simulated, result):
    """The same pairs active (real pairs within 1e-12 relative: the weights are added in another order),
    sums within 1e-12 relative (one launch per draw, and all draws in one launch); stratified weights
    from below one to many real pairs per pair."""
    active, sales = _static_cpu(brute.direct_cell_sums)
    got_active, got_sales = simulated[f"{result}_float64_active"], simulated[f"{result}_float64_sales"]
    real = reference_cases.real_firms(_static_case())
    assert active[0, 0, 0] == 0 and active[0, -1, -1] == pytest.approx(real[-1], rel=1e-12)  # closed, open cell
    assert np.all((active > 0) | (sales == 0)) and 0 < active.sum() < real.sum() * active.shape[0] * active.shape[2]
    np.testing.assert_allclose(got_active, active, rtol=1e-12, atol=0, err_msg=f"seed {STATIC_SEED}")
    np.testing.assert_allclose(got_sales, sales, rtol=1e-12, atol=0, err_msg=f"seed {STATIC_SEED}")


@pytest.mark.parametrize("result", ["static", "batch"])
def test_cuda_cell_sums_float32_agree_with_cpu_float32_and_float64(simulated, result):
    """float32 (scores and exp in float32, strata, weights and sums in float64): against the CPU float32
    kernel the same pairs count (no score lies within float32 rounding of a threshold in this case:
    real pairs within 1e-12) and sums agree to 1e-6 relative; against float64, at most one pair flips
    per cell and sums agree to 1e-5 (the stated float32 error, as ``direct_cell_sums_f32``)."""
    active32, sales32 = _static_cpu(brute.direct_cell_sums_f32)
    active64, sales64 = _static_cpu(brute.direct_cell_sums)
    got_active, got_sales = simulated[f"{result}_float32_active"], simulated[f"{result}_float32_sales"]
    np.testing.assert_allclose(got_active, active32, rtol=1e-12, atol=0, err_msg=f"seed {STATIC_SEED}")
    np.testing.assert_allclose(got_sales, sales32, rtol=1e-6, atol=0, err_msg=f"seed {STATIC_SEED}")
    assert np.all(np.abs(got_active - active64) <= _pair_weight_bound() * (1 + 1e-12)), f"seed {STATIC_SEED}"
    same = np.isclose(got_active, active64, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_sales[same], sales64[same], rtol=1e-5, atol=0, err_msg=f"seed {STATIC_SEED}")


def test_cuda_float32_layouts_give_the_same_counts_and_sums(simulated):
    """The register and the shared-memory layouts of the bit-compatible float32 kernel: same counts,
    sums equal up to the order of the float64 additions."""
    active32, sales32 = _static_cpu(brute.direct_cell_sums_f32)
    np.testing.assert_allclose(simulated["batch_float32_other_layout_active"], active32, rtol=1e-12, atol=0)
    np.testing.assert_allclose(simulated["batch_float32_other_layout_sales"], simulated["batch_float32_sales"],
                               rtol=1e-13, atol=0, err_msg=f"seed {STATIC_SEED}")


@pytest.mark.parametrize("result", ["static", "batch"])
def test_cuda_float32_fast_agrees_with_cpu_float64(simulated, result):
    """float32_fast (CUDA's fast intrinsics; under the simulator Python's math rounded to float32):
    against the CPU float64 kernel at most one pair flips per cell, and sums of cells without flips
    agree to 1e-5 relative (the float32 tolerance). The hardware intrinsics' own error is measured
    on a GPU by bench/gpu_check.py, not here."""
    active64, sales64 = _static_cpu(brute.direct_cell_sums)
    got_active, got_sales = simulated[f"{result}_float32_fast_active"], simulated[f"{result}_float32_fast_sales"]
    real = reference_cases.real_firms(_static_case())
    assert got_active[0, 0, 0] == 0 and got_active[0, -1, -1] == pytest.approx(real[-1], rel=1e-12)
    assert np.all(np.abs(got_active - active64) <= _pair_weight_bound() * (1 + 1e-12)), f"seed {STATIC_SEED}"
    same = np.isclose(got_active, active64, rtol=1e-12, atol=0)
    assert same.mean() > 0.9, f"seed {STATIC_SEED}"
    np.testing.assert_allclose(got_sales[same], sales64[same], rtol=1e-5, atol=0, err_msg=f"seed {STATIC_SEED}")
    assert not np.array_equal(got_sales, simulated[f"{result}_float32_sales"]), "fast path is not a different path"


def _dynamic_cpu():
    sizes = cuda_cases.SIM_SIZES
    case = cuda_cases.dynamic_case(DYNAMIC_SEED, sizes["n_blocks"], sizes["n_dest"], sizes["n_firms"],
                                   sizes["n_periods"])
    return cuda_cases.run_dynamic(dynamic.dynamic_baseline_costs, dynamic.dynamic_cell_sums, case)


def test_cuda_dynamic_baseline_costs_equal_the_cpu_kernel(simulated):
    costs, initial, _ = _dynamic_cpu()
    np.testing.assert_array_equal(simulated["dynamic_initial"], initial, err_msg=f"seed {DYNAMIC_SEED}")
    assert len(np.unique(initial)) > 1
    np.testing.assert_allclose(simulated["dynamic_costs"], costs, rtol=1e-12, atol=1e-14,
                               err_msg=f"seed {DYNAMIC_SEED}")


def test_cuda_dynamic_cell_sums_equal_the_cpu_kernel(simulated):
    """Counts of real pairs (active, entries, exits: sums of the strata weights, multiples of 1/4 in the
    case, so exact in any order) identical in every period; the three sums within 1e-12; the
    half-population split (a signed sum) within 1e-12 of the cell's sales."""
    _, _, sums = _dynamic_cpu()
    got = simulated["dynamic_sums"]
    names = ("active", "sales", "entries", "exits", "both", "both_base", "split")
    for i in (0, 2, 3):
        np.testing.assert_array_equal(got[i], sums[i], err_msg=f"{names[i]}, seed {DYNAMIC_SEED}")
    for i in (1, 4, 5):
        np.testing.assert_allclose(got[i], sums[i], rtol=1e-12, atol=0, err_msg=f"{names[i]}, seed {DYNAMIC_SEED}")
    np.testing.assert_allclose(got[6], sums[6], rtol=0, atol=1e-12 * sums[1].max(),
                               err_msg=f"split, seed {DYNAMIC_SEED}")
    assert np.any(sums[6] != 0), f"no sampled pair in the case, seed {DYNAMIC_SEED}"
    assert np.all(got[:, :, 0, -1] == 0), "the closed cell must stay empty"
    assert sums[2, 1:].sum() > 0 and sums[3, 1:].sum() > 0, f"no churn in the case, seed {DYNAMIC_SEED}"
    assert np.any(sums[0] % 1.0 != 0.0), "the counts must weigh pairs (not count them)"


def _dynamic_ge_cpu():
    case = cuda_cases.dynamic_ge_case(DYNAMIC_SEED, **cuda_cases.SIM_GE_SIZES)
    return cuda_cases.run_dynamic_ge({name: getattr(dynamic_ge, name) for name in cuda_cases.DYNAMIC_GE_KERNELS}, case)


def test_cpu_entries_of_the_dynamic_ge_kernels_are_the_cpu_kernels():
    for name in cuda_cases.DYNAMIC_GE_KERNELS:
        assert devices.kernel(name, "cpu") is getattr(dynamic_ge, name)
    arrays = devices.state_arrays("cpu")
    assert arrays.empty is np.empty and arrays.copy is np.copy


@pytest.mark.parametrize("state", ["host", "device"])
def test_cuda_dynamic_ge_kernels_equal_the_cpu_kernels(simulated, state):
    """The per-period kernels of the ge closure (pair scores, period 0, ``z`` steps, aggregates at two
    shifts, commits) chained over the periods, with NumPy arguments and with the state in device
    memory: ``z`` indices, statuses and counts equal in every period; the scores and sums within
    1e-12 relative (the order of the additions differs); the marginal pair's fraction and slopes
    within 1e-10 (they divide by the gap between two entry points, which carries the scores' last-bit
    differences); the same marginal pairs (zero pattern). Each pair's weight (the real pairs it stands
    for, from its stratum) is the CPU's exactly, and the counts, sums of weights that are multiples of
    1/4 in the case, are exact in any order."""
    want = _dynamic_ge_cpu()
    got = {name: simulated[f"ge_{state}_{name}"] for name in want}
    seed = f"seed {DYNAMIC_SEED}"
    for name in ("z", "status"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name}, {seed}")
    for name in ("eta", "weight"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name}, {seed}")
    assert len(np.unique(want["weight"])) > 2, seed
    for name in ("sales", "entry"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14, err_msg=f"{name}, {seed}")
    counts = {"initial": [0], "aggregates": [0], "commit": [0, 2, 3]}
    splits = {"initial": 4, "commit": 8}  # the half-population split, a signed sum: against the cell's sales
    for name, rows in counts.items():
        axis = 0 if name == "initial" else 1
        np.testing.assert_array_equal(np.take(got[name], rows, axis), np.take(want[name], rows, axis),
                                      err_msg=f"{name} counts, {seed}")
        others = [k for k in range(want[name].shape[axis]) if k != splits.get(name)]
        np.testing.assert_allclose(np.take(got[name], others, axis), np.take(want[name], others, axis), rtol=1e-12,
                                   atol=0, err_msg=f"{name}, {seed}")
        if name in splits:
            sales = np.take(want[name], 1, axis)
            np.testing.assert_allclose(np.take(got[name], splits[name], axis), np.take(want[name], splits[name], axis),
                                       rtol=0, atol=1e-12 * sales.max(), err_msg=f"{name} split, {seed}")
            assert np.any(np.take(want[name], splits[name], axis) != 0), f"{name}: no sampled pair, {seed}"
    for name in ("marginal", "slope"):
        np.testing.assert_array_equal(got[name] == 0, want[name] == 0, err_msg=f"{name} pattern, {seed}")
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=0, err_msg=f"{name}, {seed}")
    # the case exercises what it should: churn, a closed cell, marginal pairs at the nonzero shifts
    assert want["commit"][:, 2].sum() > 0 and want["commit"][:, 3].sum() > 0, seed
    assert np.all(want["aggregates"][..., 0, -1] == 0) and not want["status"][:, 0, -1].any(), seed
    assert np.count_nonzero(want["marginal"][:, 0, 1:]) > 0 and np.count_nonzero(want["slope"][:, 0, 1:]) > 0, seed


@needs_numba_cuda
def test_every_cuda_kernel_compiles_for_a_hopper_gpu():
    """The real CUDA target (not the simulator) accepts the translated per-firm functions: PTX for sm_90,
    everything inlined (no calls). Needs libNVVM (``pip install '.[cuda]'``); skips without it."""
    done = subprocess.run([sys.executable, "-m", "tests.cuda_ptx_worker"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"})
    if done.returncode == 3:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 11 and all("calls 0" in line for line in lines), done.stdout
    approx = {line.split()[0]: int(line.split("approx ")[1].split()[0]) for line in lines}
    # the fast float32 kernel uses the approximate intrinsics; the bit-compatible ones must not
    assert approx["register_kernel_float32_fast"] >= 4, done.stdout
    assert approx["register_kernel_float32"] == approx["_direct_kernel_f32"] == 0, done.stdout
    assert all("shfl 0" not in line for line in lines if line.startswith("register_kernel")), done.stdout


# ------------------------------------------------------------------------------- a real GPU


def _real_gpu():
    if not HAVE_NUMBA_CUDA or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False, "numba-cuda missing or simulator"
    return devices.cuda_status()


@pytest.mark.parametrize("precision", ["float64", "float32", "float32_fast"])
def test_gpu_cell_sums_equal_the_cpu_on_a_real_gpu(precision, request):
    """float64 and float32 against the CPU kernel of the same precision; float32_fast (no CPU twin)
    against the CPU float64 kernel, to the float32 tolerance."""
    usable, reason = _real_gpu()
    if not usable:
        pytest.skip(f"no GPU: {reason}")
    seed = zlib.crc32(request.node.name.encode())
    n_firms = 20_000
    case = reference_cases.static_case(seed, n_blocks=12, n_dest=10, n_firms=n_firms, n_draws=2)
    want = reference_cases.run_static(devices.direct_cell_sums("cpu", precision.replace("32_fast", "64")), case,
                                      n_firms, 4096)
    got = reference_cases.run_static(devices.direct_cell_sums("cuda", precision), case, n_firms, 4096)
    same = np.isclose(got[0], want[0], rtol=1e-12, atol=0)  # the same pairs (their weights added in another order)
    flips = np.abs(got[0] - want[0]) / case[4][2].max(axis=1)[None, :, None]  # in the heaviest pair's weights
    assert same.all() if precision == "float64" else flips.max() <= 2, f"cells with flips {(~same).sum()}, seed {seed}"
    rtol = 1e-12 if precision == "float64" else 1e-5
    np.testing.assert_allclose(got[1][same], want[1][same], rtol=rtol, err_msg=f"seed {seed}")


def test_gpu_dynamic_equals_the_cpu_on_a_real_gpu(request):
    usable, reason = _real_gpu()
    if not usable:
        pytest.skip(f"no GPU: {reason}")
    seed = zlib.crc32(request.node.name.encode())
    case = cuda_cases.dynamic_case(seed, n_blocks=6, n_dest=5, n_firms=5000, n_periods=12)
    costs, initial, sums = cuda_cases.run_dynamic(dynamic.dynamic_baseline_costs, dynamic.dynamic_cell_sums, case)
    g_costs, g_initial, g_sums = cuda_cases.run_dynamic(devices.dynamic_baseline_costs("cuda"),
                                                        devices.dynamic_cell_sums("cuda"), case)
    np.testing.assert_array_equal(g_initial, initial)
    np.testing.assert_allclose(g_costs, costs, rtol=1e-12, atol=1e-14)
    for i in (0, 2, 3):
        np.testing.assert_array_equal(g_sums[i], sums[i], err_msg=f"seed {seed}")
    np.testing.assert_allclose(g_sums[[1, 4, 5]], sums[[1, 4, 5]], rtol=1e-12, err_msg=f"seed {seed}")
    np.testing.assert_allclose(g_sums[6], sums[6], rtol=0, atol=1e-12 * sums[1].max(), err_msg=f"split, seed {seed}")


def test_gpu_dynamic_ge_kernels_equal_the_cpu_on_a_real_gpu(request):
    """The ge closure's per-period kernels with the state in device memory, chained over 8 periods on
    6 blocks x 5 destinations x 5,000 firms: the same ``z`` indices; statuses and counts may differ
    only through a score within rounding of a threshold (counted: at most 1 pair in 10^5); sums within
    1e-12 where the counts agree."""
    usable, reason = _real_gpu()
    if not usable:
        pytest.skip(f"no GPU: {reason}")
    seed = zlib.crc32(request.node.name.encode())
    case = cuda_cases.dynamic_ge_case(seed, n_blocks=6, n_dest=5, n_firms=5000, n_periods=8)
    want = cuda_cases.run_dynamic_ge({name: getattr(dynamic_ge, name) for name in cuda_cases.DYNAMIC_GE_KERNELS}, case)
    arrays = devices.state_arrays("cuda")
    got = cuda_cases.run_dynamic_ge({name: devices.kernel(name, "cuda") for name in cuda_cases.DYNAMIC_GE_KERNELS},
                                    case, arrays.empty, arrays.copy, lambda a: a.copy_to_host())
    np.testing.assert_array_equal(got["z"], want["z"], err_msg=f"seed {seed}")
    flips = int((got["status"] != want["status"]).sum())
    assert flips <= want["status"].size // 100_000, f"{flips} status flips, seed {seed}"
    same = np.all(got["commit"][:, [0, 2, 3]] == want["commit"][:, [0, 2, 3]], axis=1)  # (T-1, B, R)
    for k in (1, 4, 5):
        np.testing.assert_allclose(got["commit"][:, k][same], want["commit"][:, k][same], rtol=1e-12,
                                   err_msg=f"seed {seed}")
    np.testing.assert_allclose(got["commit"][:, 8][same], want["commit"][:, 8][same], rtol=0,
                               atol=1e-12 * want["commit"][:, 1].max(), err_msg=f"split, seed {seed}")
    hard_same = got["aggregates"][:, 0] == want["aggregates"][:, 0]
    np.testing.assert_allclose(got["aggregates"][:, 1][hard_same], want["aggregates"][:, 1][hard_same], rtol=1e-12,
                               err_msg=f"seed {seed}")


_ENGINE_ON_SIMULATOR = """
import json, sys
import numpy as np
import engine
from tests.conftest import make_calibration
folder, closure = sys.argv[1], sys.argv[2]
flows = np.array([[[900.0], [60.0], [40.0]], [[50.0], [700.0], [30.0]], [[20.0], [25.0], [500.0]]])
share = np.array([[[1.0], [0.3], [0.2]], [[0.25], [1.0], [0.1]], [[0.15], [0.2], [1.0]]])
cal = make_calibration(folder + "/cal", flows, participation=share, firms=2000.0, sigma=3.0, theta=4.0,
                       shock_demand_sd=0.5, shock_cost_sd=0.3, shock_corr=-0.3)
with open(folder + "/s.toml", "w") as f:
    f.write('name = "s"\\nstart = "2025-01"\\nperiods = 5\\nsunk_cost_ratio = 0.2\\n[dynamics]\\nmode = "forward"\\n'
            '[[tariff]]\\ndate = "2025-03-01"\\nimporter = "R1"\\nexporter = "R0"\\nrate = "30%"\\n')
out = {}
for device in ("cpu", "cuda"):
    run = engine.simulate([folder + "/s.toml"], draws=2, firms=64, seed=3, calibration=cal, device=device,
                          closure=closure, out=folder + "/" + device)
    table = run.flows.sort("draw", "period", "origin", "destination", "sector")
    out[device] = {c: table[c].to_list() for c in ("exports", "exporters", "entries", "exits",
                                                   "exports_effect_halves_pp")}
    out[device + "_manifest_device"] = run.manifest["scenarios"][0]["device"]
    out[device + "_manifest_closure"] = run.manifest["scenarios"][0]["closure"]
print(json.dumps(out))
"""


@needs_numba_cuda
@pytest.mark.parametrize("closure, rtol", [("pe", 1e-12), ("ge", 1e-10)])
def test_engine_runs_the_dynamic_model_on_cuda_and_equals_the_cpu(tmp_path, closure, rtol):
    """``engine.simulate(device="cuda")`` on the CUDA simulator: the dynamic model's firm loops (in
    ``ge`` the per-period kernels inside the equilibrium's Newton steps) run through
    ``engine.devices`` and give the CPU's flows: in ``pe`` exports to 1e-12 and exporters, entries and
    exits (real pairs: sums of the strata weights, ``engine.firms.sampling``, added in another order) to
    1e-12 of the cell's exporters, so no pair flips (one pair weighs at least one real firm); in ``ge``
    the same to 1e-10 (the counts include the marginal pair's fraction, docs/model.md section 12, and
    the equilibrium's wages and market levels are solved from sums that differ in the last bits; no
    count flips in this case). The half-populations' difference of the policy effect
    (docs/model.md section 8.2, from the kernels' split) agrees to 1e-9 pp in ``pe``, 1e-6 pp in ``ge``."""
    done = on_simulator("-c", _ENGINE_ON_SIMULATOR, tmp_path, closure)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cpu_manifest_device"] == "cpu" and result["cuda_manifest_device"] == "cuda"
    assert result["cpu_manifest_closure"] == result["cuda_manifest_closure"] == closure
    np.testing.assert_allclose(result["cuda"]["exports"], result["cpu"]["exports"], rtol=rtol, err_msg="exports")
    scale = rtol * np.maximum(result["cpu"]["exporters"], 1.0)
    for column in ("exporters", "entries", "exits"):
        assert np.all(np.abs(np.subtract(result["cuda"][column], result["cpu"][column])) <= scale), column
    assert sum(result["cpu"]["exits"]) > 0
    halves = np.asarray(result["cpu"]["exports_effect_halves_pp"])
    assert np.count_nonzero(halves) > 0
    np.testing.assert_allclose(result["cuda"]["exports_effect_halves_pp"], halves, rtol=0,
                               atol=1e-9 if closure == "pe" else 1e-6, err_msg="exports_effect_halves_pp")


@pytest.mark.parametrize("options, names", [
    ({"dynamics": "static"}, "dynamics.mode = 'static'"),
    ({"dynamics": "static", "closure": "ge"}, "dynamics.mode = 'static'"),
    ({"dynamics": "static", "closure": "ge_fixed_wage"}, "closure 'ge_fixed_wage'"),
])
def test_device_cuda_is_refused_for_the_static_model(options, names):
    """The static model runs on the CPU only (with any closure): one clear error naming --device
    (the dynamic model with ge_fixed_wage is refused before, for any device)."""
    import engine
    from engine.errors import InputError

    with pytest.raises(InputError, match="--device|device") as error:
        engine.simulate(draws=1, firms=100, device="cuda", **options)
    assert names in str(error.value) and "--device cpu" in str(error.value)


@needs_numba_cuda
def test_cli_runs_the_dynamic_ge_closure_with_device_cuda_on_the_simulator(tmp_path):
    """``engine simulate --closure ge --device cuda`` (the simulator as the GPU) runs and records the
    device; ``--device cuda`` with the static model is one clear error, exit code 2, no traceback."""
    from tests.conftest import make_calibration

    flows = np.array([[[900.0], [60.0]], [[50.0], [700.0]]])
    share = np.array([[[1.0], [0.3]], [[0.25], [1.0]]])
    cal = make_calibration(tmp_path / "cal", flows, participation=share, firms=2000.0, shock_demand_sd=0.5,
                           shock_cost_sd=0.3, shock_corr=-0.3)
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\nstart = "2025-01"\nperiods = 3\nsunk_cost_ratio = 0.2\n[dynamics]\n'
                        'mode = "forward"\n[[tariff]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\n'
                        'rate = "30%"\n')
    command = ["-m", "engine.cli.main", "simulate", scenario, "--calibration", cal, "--draws", "1", "--firms", "40",
               "--closure", "ge", "--device", "cuda", "--quiet"]
    done = on_simulator(*command, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["scenarios"][0]["device"] == "cuda" and manifest["scenarios"][0]["closure"] == "ge"
    refused = on_simulator(*command, "--dynamics", "static", "--out", tmp_path / "static")
    assert refused.returncode == 2, refused.stderr
    assert "--device" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "static").exists()


@needs_numba_cuda
def test_gpu_check_whole_runs_on_the_simulator(tmp_path):
    """``bench/gpu_check.py --whole-only`` (the whole-run section of the prepared GPU script) on the CUDA
    simulator with a tiny calibration: it times draws on both devices in pe and ge, extrapolates 10^4
    draws, and finds the CPU's and the GPU's draws in agreement (no count flips, exports within the
    stated tolerance); the script exits 0 and writes its JSON."""
    from tests.conftest import make_calibration

    flows = np.array([[[900.0], [60.0]], [[50.0], [700.0]]])
    share = np.array([[[1.0], [0.3]], [[0.25], [1.0]]])
    cal = make_calibration(tmp_path / "cal", flows, participation=share, firms=2000.0, shock_demand_sd=0.5,
                           shock_cost_sd=0.3, shock_corr=-0.3)
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\nstart = "2025-01"\nperiods = 3\nsunk_cost_ratio = 0.2\n[dynamics]\n'
                        'mode = "forward"\n[[tariff]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\n'
                        'rate = "30%"\n')
    out = tmp_path / "gpu_check.json"
    done = on_simulator("bench/gpu_check.py", out, "--whole-only", "--whole-draws", "1", "--whole-firms", "40",
                        "--whole-calibration", cal, "--whole-scenario", scenario)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["simulator"] is True and report["passed"] is True and report["agreement"] == {}
    whole = report["whole_runs"]
    assert whole["firms"] == 40 and whole["timed_draws"] == 1 and set(whole["closures"]) == {"pe", "ge"}
    for closure, entry in whole["closures"].items():
        for device in ("cpu", "cuda"):
            timing = entry[device]
            assert timing["device"] == device and timing["seconds"] > 0
            assert timing["extrapolated_10k_draws_s"] == pytest.approx(1e4 / timing["draws_per_s"])
            assert timing["meets_target"] == (timing["extrapolated_10k_draws_s"] <= timing["target_10k_draws_s"])
        agreement = entry["agreement"]
        assert agreement["draws"] == 2 and agreement["draws_with_count_flips"] == 0, closure
        assert agreement["draws_without_flips_beyond_tolerance"] == 0, closure
        assert 0 <= agreement["max_rel_difference_exports"] <= agreement["tolerance"], closure
        assert "cells.exports" in agreement["max_normwise_difference_by_field"], closure
    assert "whole runs ge on cuda" in done.stdout
