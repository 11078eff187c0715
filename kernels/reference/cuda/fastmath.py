"""Fast float32 per-firm math for the GPU only: CUDA's approximate single-precision intrinsics
(reference and benchmark; not on the product path, see ``kernels.reference``).

The default CUDA float32 kernel compiles the CPU's branch-free polynomials (``kernels.fastmath``) so
that CPU and GPU agree bit for bit; this module is the opt-in alternative (precision
``"float32_fast"`` in ``engine.devices``), which trades those last bits for speed. It draws the SAME
hashes and the SAME uniforms as ``kernels.reference.float32.scaled_log_productivity_f32`` / ``scores_f32`` (the
counter-based hash of ``kernels.rng``, compiled from the same body; the normals' probabilities from
``stratified_tails_f32``), and replaces only the transcendental functions by libdevice's fast
versions, which map to the GPU's special-function unit (MUFU) instructions:

- ``log``: ``__nv_fast_logf`` (``lg2.approx.ftz.f32`` times ln 2; absolute error about 2**-22 on
  [0.5, 2], relative error about 2**-22 elsewhere), in the productivity and in the tails of the
  normal quantile (AS 241's PPND7, ``kernels.reference.float32.ppnd7_f32``, whose tail variable is
  ``sqrt(-log r)`` for a tail probability ``r < 0.075``: there ``|log r| > 2.5``, so the fast log's
  absolute error is a relative error below 1e-7);
- ``exp``: ``__nv_fast_expf`` (``ex2.approx.ftz.f32`` of ``x * log2(e)``; relative error about
  2 ulp plus ``|x| * 2**-24`` from rounding the product);
- ``sqrt``: ``math.sqrt`` in a ``fastmath=True`` kernel (``sqrt.approx.ftz.f32``).

Counts can therefore differ from the float64 kernel wherever a score lies within
float32-with-intrinsics error of a threshold; sums agree to about 1e-6 relative
(``bench/gpu_check.py`` measures both on the GPU; under the simulator the intrinsics are Python's
``math`` functions rounded to float32, so the simulator's error is NOT the hardware's).

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) libdevice does not exist; the same functions
are written with ``math`` and NumPy float32 casts there.
"""

import math

import numpy as np

from kernels import firm as _firm
from kernels import rng as _rng
from kernels.cuda.device import SIMULATOR, cuda, device_function
from kernels.reference import float32 as _float32

_F32 = np.float32
_F_MIN_NORMAL = _F32(1.17549435e-38)

_hash_at = device_function(_rng.hash_at)
_combine = device_function(_firm.combine)
_uniform_open0_f32 = device_function(_float32.uniform_open0_f32)
_stratified_tails_f32 = device_function(_float32.stratified_tails_f32)
_ppnd7_f32 = device_function(_float32.ppnd7_f32)

if SIMULATOR:
    @cuda.jit(device=True)
    def fast_log(x):
        """Natural log of a positive float32 (simulator: ``math.log`` rounded to float32)."""
        return np.float32(math.log(x))

    @cuda.jit(device=True)
    def fast_exp(x):
        """``exp`` of a float32 (simulator: ``math.exp`` rounded to float32; 0 below, inf above its range)."""
        return np.float32(math.exp(x)) if x < 88.7 else np.float32(np.inf)
else:
    from numba.cuda import libdevice

    fast_log = libdevice.fast_logf
    fast_exp = libdevice.fast_expf


@cuda.jit(device=True, fastmath=True)
def scaled_log_productivity_fast(productivity_key, firm, sigma_minus_1_over_theta_f32):
    """``kernels.reference.float32.scaled_log_productivity_f32`` with the fast log (same uniform)."""
    return -sigma_minus_1_over_theta_f32 * fast_log(_uniform_open0_f32(_hash_at(productivity_key, firm)))


@cuda.jit(device=True, fastmath=True)
def normal_quantile_fast(v):
    """``kernels.reference.float32.normal_quantile_f32`` with the fast log and sqrt (same PPND7)."""
    r = max(abs(v), _F_MIN_NORMAL)
    return _ppnd7_f32(v, r, math.sqrt(-fast_log(r)))


@cuda.jit(device=True, fastmath=True)
def scores_fast(shock_key, pair, stratum_low, stratum_width, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """``kernels.reference.float32.scores_f32`` with the fast log and sqrt (same hash, same probabilities)."""
    v1, v2 = _stratified_tails_f32(_hash_at(shock_key, pair), stratum_low, stratum_width)
    return _combine(-normal_quantile_fast(v1), normal_quantile_fast(v2), scaled_log_phi, s_a, s_e, rho,
                    rho_complement)


@cuda.jit(device=True, fastmath=True)
def exp_fast(x):
    """``exp`` of a float32 score with the fast intrinsic (``kernels.reference.float32.exp_bounded_f32``'s role)."""
    return fast_exp(x)
