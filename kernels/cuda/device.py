"""The CUDA machinery that every CUDA module shares: the per-firm functions of ``kernels.firm``,
``kernels.rng``, ``kernels.fastmath`` and ``kernels.dynamic`` compiled as CUDA device functions from the
same Python bodies (``device_function``), the block size ``THREADS``, ``chunks`` and the shared-memory
``tree_reduce``.

Those modules hold plain functions compiled with ``numba.njit(inline="always")`` for the CPU. This
module compiles each one's Python body (``dispatcher.py_func``) again with
``numba.cuda.jit(device=True)``, after pointing the names it calls at their device versions, so the
math is written once and the CPU and GPU evaluate the same expressions (docs/model.md section 2; the
counter-based hash is bitwise identical on both, the floating-point results agree to rounding:
both targets contract ``a * b + c`` into FMAs where they can, so the last bit can differ).

Three CPU-only helpers of ``kernels.fastmath`` are replaced, not recompiled:

- the bit casts ``f64_bits``, ``f64_from_bits``, ``f32_bits``, ``f32_from_bits`` (Numba intrinsics
  that emit an LLVM ``bitcast``) by libdevice's ``__nv_double_as_longlong``, ``__nv_longlong_as_double``,
  ``__nv_float_as_int`` and ``__nv_int_as_float``, the same bit reinterpretation;
- ``prefer_wide_vectors`` (an LLVM attribute for the CPU vectoriser) by a device function that does nothing.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, used by the tests: no GPU needed) the device
functions run as Python on NumPy scalars and the bit casts are NumPy ``view``s.

Importing this module imports ``numba.cuda`` (the ``numba-cuda`` package: ``pip install '.[cuda]'``).
It first restores ``numpy.row_stack`` (removed in NumPy 2.5) as ``numpy.vstack`` when it is missing:
numba-cuda 0.30 still refers to it and fails at the first kernel compile otherwise (seen on the lent
H200 machines: NumPy 2.5 with numba-cuda 0.30.4).
"""

import types as _pytypes

import numpy as np


def _numpy_compat():
    """Give NumPy >= 2.5 back ``row_stack`` (an alias of ``vstack`` that NumPy 2.5 removed) for numba-cuda 0.30."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


_numpy_compat()

from numba import config as _numba_config  # noqa: E402
from numba import cuda  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402

from kernels import fastmath as _fastmath  # noqa: E402

#: True when ``numba.cuda`` is the simulator (``NUMBA_ENABLE_CUDASIM=1``): kernels run as Python threads.
SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)


def _substitutes():
    """Device stand-ins for the CPU-only intrinsics of ``kernels.fastmath``, keyed by the CPU object."""
    if SIMULATOR:
        def f64_bits(x):
            return np.float64(x).view(np.int64)

        def f64_from_bits(i):
            return np.int64(i).view(np.float64)

        def f32_bits(x):
            return np.float32(x).view(np.int32)

        def f32_from_bits(i):
            return np.int32(i).view(np.float32)
    else:
        from numba.cuda import libdevice

        f64_bits = libdevice.double_as_longlong
        f64_from_bits = libdevice.longlong_as_double
        f32_bits = libdevice.float_as_int
        f32_from_bits = libdevice.int_as_float

    def prefer_wide_vectors():
        return None

    table = {
        _fastmath.f64_bits: f64_bits,
        _fastmath.f64_from_bits: f64_from_bits,
        _fastmath.f32_bits: f32_bits,
        _fastmath.f32_from_bits: f32_from_bits,
        _fastmath.prefer_wide_vectors: prefer_wide_vectors,
    }
    compiled = {}
    for cpu_object, stand_in in table.items():
        if SIMULATOR or stand_in is prefer_wide_vectors:
            stand_in = cuda.jit(device=True)(stand_in)
        compiled[id(cpu_object)] = stand_in
    return compiled


_SUBSTITUTES = _substitutes()
_DEVICE = {}


def device_function(function):
    """The CUDA device version of an ``njit`` function of the kernels package (cached).

    Parameters
    ----------
    function : numba CPUDispatcher
        A function compiled with ``numba.njit`` whose body (``function.py_func``) uses only what
        CUDA device code supports; the ``njit`` functions it calls are translated the same way.

    Returns
    -------
    numba.cuda device function
        ``cuda.jit(device=True)`` of the same code object, with the global names it refers to
        rebound to device versions (other globals, e.g. constants, are shared with the CPU module).
    """
    key = id(function)
    if key in _DEVICE:
        return _DEVICE[key]
    if key in _SUBSTITUTES:
        return _SUBSTITUTES[key]
    if not isinstance(function, CPUDispatcher):
        raise TypeError(f"device_function expects an njit function, got {function!r}")
    py_func = function.py_func
    namespace = dict(py_func.__globals__)
    for name in py_func.__code__.co_names:
        referent = namespace.get(name)
        if id(referent) in _SUBSTITUTES:
            namespace[name] = _SUBSTITUTES[id(referent)]
        elif isinstance(referent, CPUDispatcher):
            namespace[name] = device_function(referent)
    if py_func.__closure__:
        raise TypeError(f"{py_func.__qualname__}: closures are not translated")
    body = _pytypes.FunctionType(py_func.__code__, namespace, py_func.__name__, py_func.__defaults__)
    body.__qualname__ = py_func.__qualname__
    body.__doc__ = py_func.__doc__
    compiled = cuda.jit(device=True)(body)
    _DEVICE[key] = compiled
    return compiled


#: Threads per CUDA block (a power of two: the shared-memory reductions halve it). The simulator runs
#: each thread as a Python thread: there the same code runs with smaller blocks, so that tiny tests
#: still span several CUDA blocks per (origin, sector) block and exercise the atomic adds.
THREADS = 32 if SIMULATOR else 128


def chunks(n_firms, firm_chunk):
    """CUDA blocks per (origin, sector) block of ``n_firms`` firms, ``firm_chunk`` firms each (at least 1)."""
    return max(1, (n_firms + firm_chunk - 1) // firm_chunk)


@cuda.jit(device=True)
def tree_reduce(shared, rows, tid):
    """Sum ``shared[k, :THREADS]`` into ``shared[k, 0]`` for ``k < rows`` (all threads must call it)."""
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            for k in range(rows):
                shared[k, tid] += shared[k, tid + step]
        cuda.syncthreads()
        step //= 2
