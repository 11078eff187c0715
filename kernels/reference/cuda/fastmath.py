"""Fast float32 per-firm math for the GPU only: CUDA's approximate single-precision intrinsics
(reference and benchmark; not on the product path, see ``kernels.reference``).

The default CUDA float32 kernel compiles the CPU's branch-free polynomials (``kernels.fastmath``) so
that CPU and GPU agree bit for bit; this module is the opt-in alternative (precision
``"float32_fast"`` in ``engine.devices``), which trades those last bits for speed. It draws the SAME
hashes and the SAME uniforms as ``kernels.reference.float32.scaled_log_productivity_f32`` / ``scores_f32`` (the
counter-based hash of ``kernels.rng``, compiled from the same body), and replaces only the
transcendental functions by libdevice's fast versions, which map to the GPU's special-function
unit (MUFU) instructions:

- ``log``: ``__nv_fast_logf`` (``lg2.approx.ftz.f32`` times ln 2; absolute error about 2**-22 on
  [0.5, 2], relative error about 2**-22 elsewhere);
- ``exp``: ``__nv_fast_expf`` (``ex2.approx.ftz.f32`` of ``x * log2(e)``; relative error about
  2 ulp plus ``|x| * 2**-24`` from rounding the product);
- ``sin``/``cos``: ``__nv_fast_sinf`` / ``__nv_fast_cosf`` (``sin.approx`` / ``cos.approx``; absolute
  error about 2**-21 on [-pi, pi], so the angle ``2 pi u`` is first moved to ``2 pi (u - 1/2)``,
  in [-pi, pi], and the signs flipped: ``cos(t + pi) = -cos t``);
- ``sqrt``: ``math.sqrt`` in a ``fastmath=True`` device function (``sqrt.approx.ftz.f32``).

One consequence: near ``u1 = 1`` the Box-Muller radius ``sqrt(-2 log u1)`` inherits the absolute
error of the fast log, so for the pairs with ``u1`` within a few float32 ulps of 1 (probability
about 1e-7 each) the radius can be off by up to about 1e-3. Counts can therefore differ from the
float64 kernel wherever a score lies within float32-with-intrinsics error of a threshold; sums
agree to about 1e-6 relative (``bench/gpu_check.py`` measures both on the GPU; under the simulator
the intrinsics are Python's ``math`` functions rounded to float32, so the simulator's error is NOT
the hardware's).

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
_TWO_PI = _F32(6.283185307179586)
_HALF = _F32(0.5)
_M2 = _F32(-2.0)
_TWO_M32 = _F32(2.0**-32)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)

_hash_at = device_function(_rng.hash_at)
_combine = device_function(_firm.combine)
_uniform_open0_f32 = device_function(_float32.uniform_open0_f32)

if SIMULATOR:
    @cuda.jit(device=True)
    def fast_log(x):
        """Natural log of a positive float32 (simulator: ``math.log`` rounded to float32)."""
        return np.float32(math.log(x))

    @cuda.jit(device=True)
    def fast_exp(x):
        """``exp`` of a float32 (simulator: ``math.exp`` rounded to float32; 0 below, inf above its range)."""
        return np.float32(math.exp(x)) if x < 88.7 else np.float32(np.inf)

    @cuda.jit(device=True)
    def fast_sin(x):
        return np.float32(math.sin(x))

    @cuda.jit(device=True)
    def fast_cos(x):
        return np.float32(math.cos(x))
else:
    from numba.cuda import libdevice

    fast_log = libdevice.fast_logf
    fast_exp = libdevice.fast_expf
    fast_sin = libdevice.fast_sinf
    fast_cos = libdevice.fast_cosf


@cuda.jit(device=True, fastmath=True)
def box_muller_uniforms_fast(h):
    """``kernels.reference.float32.box_muller_uniforms_f32(h)``, the same float32 values, converted from 32-bit integers.

    ``h >> 32`` and ``h & 0xFFFFFFFF`` fit in 32 bits, so converting them as uint32 gives the same
    correctly rounded float32 as the CPU's conversion from uint64, with the GPU's cheaper 32-bit
    conversion instruction.
    """
    u1 = np.float32(np.uint32(h >> _S32)) * _TWO_M32 + _TWO_M32
    u2 = np.float32(np.uint32(h & _LOW32)) * _TWO_M32
    return u1, u2


@cuda.jit(device=True, fastmath=True)
def scaled_log_productivity_fast(productivity_key, firm, sigma_minus_1_over_theta_f32):
    """``kernels.reference.float32.scaled_log_productivity_f32`` with the fast log (same uniform)."""
    return -sigma_minus_1_over_theta_f32 * fast_log(_uniform_open0_f32(_hash_at(productivity_key, firm)))


@cuda.jit(device=True, fastmath=True)
def scores_fast(shock_key, pair, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """``kernels.reference.float32.scores_f32`` with fast log, sqrt, sin and cos (same hash, same uniforms).

    ``(z1, z2) = r (cos 2 pi u2, sin 2 pi u2) = -r (cos t, sin t)`` with ``t = 2 pi (u2 - 1/2)``.
    """
    u1, u2 = box_muller_uniforms_fast(_hash_at(shock_key, pair))
    radius = math.sqrt(_M2 * fast_log(u1))
    t = (u2 - _HALF) * _TWO_PI
    z1 = -radius * fast_cos(t)
    z2 = -radius * fast_sin(t)
    return _combine(z1, z2, scaled_log_phi, s_a, s_e, rho, rho_complement)


@cuda.jit(device=True, fastmath=True)
def exp_fast(x):
    """``exp`` of a float32 score with the fast intrinsic (``kernels.reference.float32.exp_bounded_f32``'s role)."""
    return fast_exp(x)
