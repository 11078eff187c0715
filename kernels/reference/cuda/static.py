"""CUDA loops and launches of the brute-force cell sums (reference and benchmark; not on the product
path, see ``kernels.reference``).

The per-firm math is not here: every expression comes from ``kernels.firm``, ``kernels.rng``,
``kernels.fastmath`` and ``kernels.reference.float32``, compiled as device functions by
``kernels.cuda.device.device_function``. The host functions take the same arguments as the CPU
kernels they mirror and write the same outputs (``engine.devices`` picks one or the other):

- ``direct_cell_sums`` / ``direct_cell_sums_f32`` = ``kernels.reference.static.direct_cell_sums`` / ``_f32``, and
  ``direct_cell_sums_draws`` for many draws in one launch;
- ``direct_cell_sums_f32_fast``: float32 with CUDA's fast intrinsics (``kernels.reference.cuda.fastmath``; no
  CPU twin, within float32 tolerance of the float64 kernel);
- the dynamic model's twins are in ``kernels.cuda.dynamic`` and ``kernels.cuda.dynamic_ge``.

Layout (the one measured fastest for this computation on an H200; README, "GPU"): a CUDA block
takes a chunk of ``firm_chunk`` firms of one (origin, sector) block; each thread loops over its
firms (firm ``first + tid + k * THREADS``) and the destinations, accumulating in its own column of
a shared-memory array; a tree reduction in shared memory then leaves one sum per output cell and the
block adds it with ONE atomic add per CUDA block and cell. The static kernel has a grid dimension
over draws (``direct_cell_sums_draws``). Outputs are zeroed on the device, filled by atomics and
copied back once per call. The float32 kernels use a register layout instead
(``_make_register_kernel``: sums in registers, warp shuffles, one atomic per warp and cell): on an
H200 the float32 kernel alone ran at 156 G evaluations/s, against 63-81 G/s measured for the
shared-memory float32 kernel with transfers (bench/README.md, "GPU"; ``bench/gpu_check.py`` times
both layouts the same way).

Every kernel draws the stratified demand shock as the CPU does: firm ``f`` of block ``b`` takes, in
destination ``n``, stratum ``(f + stratum_offset) % M`` of the block's strata (``strata_low``,
``strata_width``, ``strata_weight``, (B, M) on the device), and adds its weight (the real pairs it
stands for) to the cell's count and its weight times ``exp(sales_score)`` to the sales.

Agreement with the CPU: the random numbers (counter-based hashes) are bitwise identical; the
floating-point scores agree to rounding (FMA contraction can differ in the last bit), so the same
pairs are active unless a score lies within about 1e-15 of a threshold, and the real pairs and the
sums agree to about 1e-15 relative (the order of the float64 additions differs).
``tests/test_cuda.py`` checks this under the CUDA simulator. In float32 the scores are rounded as in
``kernels.reference.static.direct_cell_sums_f32``.
"""

import math

import numpy as np

from kernels import fastmath as _fastmath
from kernels import firm as _firm
from kernels import rng as _rng
from kernels.cuda.device import SIMULATOR, THREADS, chunks, cuda, device_function, tree_reduce
from kernels.reference import float32 as _float32

#: Destinations accumulated at once by the static kernel (shared memory: 2 x 16 x 128 x 8 bytes); more
#: destinations are taken in groups (the simulator uses groups of 2 so that tiny tests cover this).
DEST_GROUP = 2 if SIMULATOR else 16

_hash_at = device_function(_rng.hash_at)
_stratum_offset = device_function(_firm.stratum_offset)


@cuda.jit(device=True)
def _as_f64(x):
    return np.float64(x)


@cuda.jit(device=True)
def _as_f32(x):
    return np.float32(x)


def _make_direct_kernel(scaled_log_productivity, scores, exp, cast):
    """The static brute-force kernel for one precision (``cast``: the float type of the arithmetic)."""

    @cuda.jit
    def kernel(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
               strata_weight, thresholds, firm_chunk, chunks_per_block, out_active, out_sales_index):
        d = cuda.blockIdx.y
        b = cuda.blockIdx.x // chunks_per_block
        first = (cuda.blockIdx.x % chunks_per_block) * firm_chunk
        stop = min(first + firm_chunk, n_firms)
        tid = cuda.threadIdx.x
        n_dest = thresholds.shape[2]
        sales_acc = cuda.shared.array((DEST_GROUP, THREADS), np.float64)
        count_acc = cuda.shared.array((DEST_GROUP, THREADS), np.float64)
        offsets = cuda.local.array(DEST_GROUP, np.int64)
        productivity_key = productivity_keys[d, b]
        shock_key = shock_keys[d, b]
        r = rho[b]
        rho_c = cast(math.sqrt(1.0 - r * r))
        sm1 = cast(sm1_over_theta[b])
        a = cast(s_a[b])
        e = cast(s_e[b])
        r = cast(r)
        for group in range(0, n_dest, DEST_GROUP):
            width = min(DEST_GROUP, n_dest - group)
            for k in range(width):
                sales_acc[k, tid] = 0.0
                count_acc[k, tid] = 0.0
                offsets[k] = np.int64(_stratum_offset(shock_key, group + k, n_firms))
            f = first + tid
            while f < stop:
                slp = scaled_log_productivity(productivity_key, np.uint64(f), sm1)
                for k in range(width):
                    n = group + k
                    j = f + offsets[k]  # the pair's stratum (kernels.firm.stratum_offset)
                    j = j - n_firms if j >= n_firms else j
                    sales, entry = scores(shock_key, np.uint64(f * n_dest + n), strata_low[b, j], strata_width[b, j],
                                          slp, a, e, r, rho_c)
                    if entry >= cast(thresholds[d, b, n]):
                        count_acc[k, tid] += strata_weight[b, j]
                        sales_acc[k, tid] += _as_f64(exp(sales)) * strata_weight[b, j]
                f += THREADS
            tree_reduce(sales_acc, width, tid)
            tree_reduce(count_acc, width, tid)
            if tid < width:
                cuda.atomic.add(out_active, (d, b, group + tid), count_acc[tid, 0])
                cuda.atomic.add(out_sales_index, (d, b, group + tid), sales_acc[tid, 0])
            cuda.syncthreads()

    return kernel


_direct_kernel_f64 = _make_direct_kernel(device_function(_firm.scaled_log_productivity),
                                         device_function(_firm.scores), device_function(_fastmath.exp_bounded),
                                         _as_f64)
_direct_kernel_f32 = _make_direct_kernel(device_function(_float32.scaled_log_productivity_f32),
                                         device_function(_float32.scores_f32),
                                         device_function(_float32.exp_bounded_f32), _as_f32)


#: Launch layout of the float32 kernels (``_make_register_kernel``): threads per CUDA block and firms
#: per thread (a CUDA block takes ``threads * firms_per_thread`` firms of one (origin, sector) block,
#: whatever ``firm_chunk`` the caller passes). Chosen on an H200 (kernel alone, 16 default draws):
#: 128 x 32 ran at 156 (float32) and 245 (float32_fast) G evaluations/s, 256 x 16 at 154 and 236,
#: 512 x 8 at 148 and 224 (bench/results/register_layout_sweep_h200.json).
F32_THREADS = 32 if SIMULATOR else 128
F32_FIRMS_PER_THREAD = 4 if SIMULATOR else 32
#: Layout of the bit-compatible float32 kernel: "register" (``_make_register_kernel``) or "shared"
#: (``_make_direct_kernel``, as float64). Both give the same per-pair numbers; only the order of the
#: float64 additions differs.
F32_LAYOUT = "register"
_WARP = 32
_FULL_MASK = 0xFFFFFFFF


def _make_register_kernel(scaled_log_productivity, scores, exp, threads, firms_per_thread, fastmath=False):
    """A float32 static kernel whose per-cell sums stay in registers (no shared-memory accumulators).

    Each thread first computes the scaled log productivity of its ``firms_per_thread`` firms (firm
    ``first + tid + k * threads``) into shared memory (float32, ``firms_per_thread x threads``); then,
    per destination, it loops over its firms with a register count of real pairs and a register sum
    (float64), the warp adds them up with shuffles, and the first lane of each warp adds them to the
    output cell with one atomic add each (``threads / 32`` atomics per CUDA block and cell). There is
    ``fastmath=True`` (float32_fast only) compiles the kernel with NVVM's fast-math options, so that
    ``math.sqrt`` becomes ``sqrt.approx.f32`` (the per-function flag of a device function does not
    reach NVVM's square root). There is
    no ``syncthreads`` in the destination loop (under the simulator, which has no warp shuffles, a
    shared-memory block reduction takes the shuffles' place: ``_add_to_cell``), and the evaluation of a pair is branch-free (``exp``
    is taken for every pair and selected).
    """
    chunk = threads * firms_per_thread
    reduce_width = threads if SIMULATOR else 1  # the simulator's shared-memory reduction (see _add_to_cell)
    if SIMULATOR and threads != THREADS:
        raise ValueError(f"the simulator runs the register layout with {THREADS} threads per block only")

    @cuda.jit(fastmath=fastmath)
    def kernel(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
               strata_weight, thresholds, chunks_per_block, out_active, out_sales_index):
        d = cuda.blockIdx.y
        b = cuda.blockIdx.x // chunks_per_block
        first = (cuda.blockIdx.x % chunks_per_block) * chunk
        tid = cuda.threadIdx.x
        lane = tid % _WARP
        n_dest = thresholds.shape[2]
        slp = cuda.shared.array((firms_per_thread, threads), np.float32)
        reduce_space = cuda.shared.array((2, reduce_width), np.float64)
        shock_key = shock_keys[d, b]
        r64 = rho[b]
        rho_c = np.float32(math.sqrt(1.0 - r64 * r64))
        sm1 = np.float32(sm1_over_theta[b])
        a = np.float32(s_a[b])
        e = np.float32(s_e[b])
        r = np.float32(r64)
        mine = 0
        for k in range(firms_per_thread):
            f = first + tid + k * threads
            if f < n_firms:
                slp[k, tid] = scaled_log_productivity(productivity_keys[d, b], np.uint64(f), sm1)
                mine = k + 1
        for n in range(n_dest):
            threshold = np.float32(thresholds[d, b, n])
            offset = np.int64(_stratum_offset(shock_key, n, n_firms))
            count = 0.0
            total = 0.0
            for k in range(mine):
                f = first + tid + k * threads
                j = f + offset  # the pair's stratum (kernels.firm.stratum_offset)
                j = j - n_firms if j >= n_firms else j
                pair_weight = strata_weight[b, j]
                sales, entry = scores(shock_key, np.uint64(f * n_dest + n), strata_low[b, j], strata_width[b, j],
                                      slp[k, tid], a, e, r, rho_c)
                weight = np.float64(exp(sales)) * pair_weight
                if entry >= threshold:
                    count += pair_weight
                    total += weight
            _add_to_cell(count, total, out_active, out_sales_index, d, b, n, tid, lane, reduce_space)

    return kernel


if SIMULATOR:
    @cuda.jit(device=True)
    def _add_to_cell(count, total, out_active, out_sales_index, d, b, n, tid, lane, reduce_space):
        """Simulator (no warp shuffles there): block tree reduction in shared memory, one atomic per block."""
        reduce_space[0, tid] = count
        reduce_space[1, tid] = total
        tree_reduce(reduce_space, 2, tid)
        if tid == 0 and reduce_space[0, 0] > 0:
            cuda.atomic.add(out_active, (d, b, n), reduce_space[0, 0])
            cuda.atomic.add(out_sales_index, (d, b, n), reduce_space[1, 0])
        cuda.syncthreads()
else:
    @cuda.jit(device=True)
    def _add_to_cell(count, total, out_active, out_sales_index, d, b, n, tid, lane, reduce_space):
        """Warp sum by shuffles; the first lane of each warp adds it to the cell (one atomic add per warp)."""
        offset = _WARP // 2
        while offset > 0:
            count += cuda.shfl_down_sync(_FULL_MASK, count, offset)
            total += cuda.shfl_down_sync(_FULL_MASK, total, offset)
            offset //= 2
        if lane == 0 and count > 0:
            cuda.atomic.add(out_active, (d, b, n), count)
            cuda.atomic.add(out_sales_index, (d, b, n), total)


_REGISTER_KERNELS = {}


def register_kernel(precision, threads=None, firms_per_thread=None):
    """The register-layout float32 kernel (``precision`` "float32" or "float32_fast"), compiled once per layout."""
    threads = F32_THREADS if threads is None else threads
    firms_per_thread = F32_FIRMS_PER_THREAD if firms_per_thread is None else firms_per_thread
    if threads % _WARP or threads & (threads - 1):
        raise ValueError(f"threads per block must be a power of two >= 32, got {threads}")
    key = (precision, threads, firms_per_thread)
    if key not in _REGISTER_KERNELS:
        if precision == "float32":
            functions = (device_function(_float32.scaled_log_productivity_f32), device_function(_float32.scores_f32),
                         device_function(_float32.exp_bounded_f32))
        elif precision == "float32_fast":
            from kernels.reference.cuda import fastmath as fm
            functions = (fm.scaled_log_productivity_fast, fm.scores_fast, fm.exp_fast)
        else:
            raise ValueError(f"no register-layout kernel for precision {precision!r}")
        _REGISTER_KERNELS[key] = _make_register_kernel(*functions, threads, firms_per_thread,
                                                       fastmath=precision == "float32_fast")
    return _REGISTER_KERNELS[key]


def direct_cell_sums_draws(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low,
                           strata_width, strata_weight, thresholds, firm_chunk, out_active, out_sales_index,
                           precision="float64", layout=None, threads=None, firms_per_thread=None):
    """``kernels.reference.static.direct_cell_sums`` for ``D`` draws in one launch (grid: chunks x draws).

    Parameters
    ----------
    productivity_keys, shock_keys : ndarray of uint64, shape (D, B)
        Per-draw block keys (``kernels.static.block_keys`` of each draw).
    sm1_over_theta, s_a, s_e, rho : ndarray of float64, shape (B,)
    n_firms : int
    strata_low, strata_width, strata_weight : ndarray of float64, shape (B, M)
        The blocks' strata (``engine.firms.sampling``; the same for every draw).
    thresholds : ndarray of float64, shape (D, B, R)
    firm_chunk : int
        Firms per CUDA block (a multiple of ``THREADS`` keeps every thread busy).
    out_active : ndarray of float64, shape (D, B, R)
        Real active pairs.
    out_sales_index : ndarray of float64, shape (D, B, R)
    precision : {"float64", "float32", "float32_fast"}
        Arithmetic of the scores and ``exp`` (strata, weights and sums are float64 either way).
        "float32" evaluates the CPU float32 kernel's expressions (bit for bit); "float32_fast" the same
        hashes and uniforms with CUDA's fast single-precision intrinsics (``kernels.reference.cuda.fastmath``).
    layout : {None, "shared", "register"}
        Kernel layout (None: "shared" for float64, ``F32_LAYOUT`` for float32, "register" for
        float32_fast). "register" ignores ``firm_chunk`` (a CUDA block takes ``threads *
        firms_per_thread`` firms; defaults ``F32_THREADS``, ``F32_FIRMS_PER_THREAD``).
    """
    if precision not in ("float64", "float32", "float32_fast"):
        raise ValueError(f"unknown precision {precision!r}")
    layout = layout or ("shared" if precision == "float64" else F32_LAYOUT if precision == "float32" else "register")
    if layout == "shared" and precision == "float32_fast":
        raise ValueError("float32_fast has the register layout only")
    n_draws, n_blocks, n_dest = thresholds.shape
    if n_draws == 0 or n_blocks == 0 or n_dest == 0 or n_firms == 0:
        out_active[...] = 0.0
        out_sales_index[...] = 0.0
        return
    d_active = cuda.to_device(np.zeros(out_active.shape, dtype=np.float64))
    d_sales = cuda.to_device(np.zeros(out_sales_index.shape, dtype=np.float64))
    inputs = (cuda.to_device(np.ascontiguousarray(productivity_keys, dtype=np.uint64)),
              cuda.to_device(np.ascontiguousarray(shock_keys, dtype=np.uint64)),
              cuda.to_device(np.ascontiguousarray(sm1_over_theta, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(s_a, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(s_e, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(rho, dtype=np.float64)),
              np.int64(n_firms),
              cuda.to_device(np.ascontiguousarray(strata_low, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(strata_width, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(strata_weight, dtype=np.float64)),
              cuda.to_device(np.ascontiguousarray(thresholds, dtype=np.float64)))
    if layout == "register":
        threads = F32_THREADS if threads is None else threads
        firms_per_thread = F32_FIRMS_PER_THREAD if firms_per_thread is None else firms_per_thread
        kernel = register_kernel(precision, threads, firms_per_thread)
        per_block = chunks(n_firms, threads * firms_per_thread)
        kernel[(n_blocks * per_block, n_draws), threads](*inputs, np.int64(per_block), d_active, d_sales)
    else:
        kernel = {"float64": _direct_kernel_f64, "float32": _direct_kernel_f32}[precision]
        per_block = chunks(n_firms, firm_chunk)
        kernel[(n_blocks * per_block, n_draws), THREADS](*inputs, np.int64(firm_chunk), np.int64(per_block),
                                                         d_active, d_sales)
    out_active[...] = d_active.copy_to_host()
    out_sales_index[...] = d_sales.copy_to_host()


def _one_draw(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
              strata_weight, thresholds, firm_chunk, out_active, out_sales_index, precision):
    """``direct_cell_sums_draws`` for one draw, with the CPU kernel's arguments and outputs."""
    active = np.empty((1, *out_active.shape))
    sales = np.empty((1, *out_sales_index.shape))
    direct_cell_sums_draws(np.asarray(productivity_keys)[None], np.asarray(shock_keys)[None], sm1_over_theta, s_a,
                           s_e, rho, n_firms, strata_low, strata_width, strata_weight, np.asarray(thresholds)[None],
                           firm_chunk, active, sales, precision=precision)
    out_active[...] = active[0]
    out_sales_index[...] = sales[0]


def direct_cell_sums(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
                     strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
    """``kernels.reference.static.direct_cell_sums`` on the GPU: same arguments, same outputs (one draw)."""
    _one_draw(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
              strata_weight, thresholds, firm_chunk, out_active, out_sales_index, "float64")


def direct_cell_sums_f32_fast(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low,
                              strata_width, strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
    """``direct_cell_sums_f32`` with CUDA's fast float32 intrinsics (``kernels.reference.cuda.fastmath``; GPU only)."""
    _one_draw(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
              strata_weight, thresholds, firm_chunk, out_active, out_sales_index, "float32_fast")


def direct_cell_sums_f32(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low,
                         strata_width, strata_weight, thresholds, firm_chunk, out_active, out_sales_index):
    """``kernels.reference.static.direct_cell_sums_f32`` on the GPU: scores and ``exp`` in float32, sums in float64."""
    _one_draw(productivity_keys, shock_keys, sm1_over_theta, s_a, s_e, rho, n_firms, strata_low, strata_width,
              strata_weight, thresholds, firm_chunk, out_active, out_sales_index, "float32")
