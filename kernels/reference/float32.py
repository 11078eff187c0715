"""The float32 variants of ``kernels.fastmath``, ``kernels.rng``, ``kernels.normal`` and ``kernels.firm``
(reference and benchmark; not on the product path, see ``kernels.reference``).

They draw the same hashes and uniforms as the float64 functions and keep the arithmetic in float32
(scores within about 1e-5 of the float64 ones); they exist for the speed of the brute-force
``kernels.reference.static.direct_cell_sums_f32`` and its CUDA twin (``kernels.reference.cuda.static``,
which compiles these bodies as device functions: the default CUDA ``float32`` reproduces the CPU
float32 kernel bit for bit).

- math: ``log_f32``, ``log_positive_f32``, ``exp_f32``, ``exp_bounded_f32`` take and return
  float32 and keep their arithmetic in float32: relative error below 1.5 float32 ulps (1.8e-7,
  ``tests/test_fastmath.py``); the same branch-free algorithms as their float64 twins in
  ``kernels.fastmath``;
- random numbers: ``uniform_open0_f32``; the stratified normals of a pair (``kernels.firm.stratified_normals``):
  ``stratified_tails_f32`` (the two probabilities, from the float64 uniforms and stratum, as float32
  signed tails) and ``stratified_normals_f32`` (their quantiles, ``normal_quantile_f32``: AS 241's
  PPND7 in float32 arithmetic, relative error below 5e-7);
- per firm: ``scaled_log_productivity_f32``, ``scores_f32`` and the vectorised loops
  ``fill_scaled_log_productivity_f32``, ``fill_scores_f32`` (as ``kernels.firm.fill_*``).
"""

import math

import numpy as np
from numba import njit

from kernels.fastmath import FASTMATH, f32_bits, f32_from_bits, prefer_wide_vectors
from kernels.firm import combine
from kernels.rng import GOLDEN, finalize, hash_at, open_uniforms, stream_position

_FLAGS = dict(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
_S11 = np.uint64(11)
_F32_TWO_M53 = np.float32(2.0**-53)


# ------------------------------------------------------------------------------------ float32

_F32 = np.float32
_F_ROUNDER = _F32(12582912.0)  # 1.5 * 2**23
_F_HALF = _F32(0.5)
_F_ONE = _F32(1.0)
_F_QUARTER = _F32(0.25)
_F_FOUR = _F32(4.0)
_F_ZERO = _F32(0.0)
_F_INF = _F32(np.inf)
_F_NAN = _F32(np.nan)

# logf: the mantissa reduced to [sqrt(2)/2, sqrt(2)) as in musl's logf, then Cephes' logf polynomial
# in f = m - 1 (no division; about 2 float32 ulps)
_FLN2_HI = _F32(0.693359375)
_FLN2_LO = _F32(-2.12194440e-4)
_FP0 = _F32(7.0376836292e-2)
_FP1 = _F32(-1.1514610310e-1)
_FP2 = _F32(1.1676998740e-1)
_FP3 = _F32(-1.2420140846e-1)
_FP4 = _F32(1.4249322787e-1)
_FP5 = _F32(-1.6668057665e-1)
_FP6 = _F32(2.0000714765e-1)
_FP7 = _F32(-2.4999993993e-1)
_FP8 = _F32(3.3333331174e-1)
_F_TWO25 = _F32(33554432.0)
_F_MIN_NORMAL = _F32(1.17549435e-38)
_F_TWENTY5 = _F32(25.0)
_FLOG_SHIFT = np.int32(0x3F800000 - 0x3F3504F3)
_FLOG_BASE = np.int32(0x3F3504F3)
_FMANT_MASK = np.int32(0x007FFFFF)
_FEXP_BIAS = np.int32(0x7F)
_I23 = np.int32(23)


@njit(**_FLAGS)
def _log_f32_core(x, dk_offset):
    """log of a positive normal float32 ``x``, plus ``dk_offset * ln2``."""
    ix = np.int32(f32_bits(x) + _FLOG_SHIFT)
    dk = _F32(np.int32((ix >> _I23) - _FEXP_BIAS)) + dk_offset
    f = f32_from_bits(np.int32((ix & _FMANT_MASK) + _FLOG_BASE)) - _F_ONE
    z = f * f
    y = f * z * (_FP8 + f * (_FP7 + f * (_FP6 + f * (_FP5 + f * (_FP4 + f * (_FP3 + f * (_FP2 + f * (_FP1 + f * _FP0))))))))
    return dk * _FLN2_HI + (f - _F_HALF * z + (y + dk * _FLN2_LO))


@njit(**_FLAGS)
def log_f32(x):
    """Natural logarithm of a float32, in float32 arithmetic (branch-free)."""
    tiny = x < _F_MIN_NORMAL
    r = _log_f32_core(x * _F_TWO25 if tiny else x, -_F_TWENTY5 if tiny else _F_ZERO)
    r = -_F_INF if x == _F_ZERO else r
    r = _F_NAN if x < _F_ZERO else r
    r = x if not (x < _F_INF) else r
    return r


@njit(**_FLAGS)
def log_positive_f32(x):
    """``log_f32(x)`` for a positive, normal, finite float32 (no checks, as ``log_positive``)."""
    return _log_f32_core(x, _F_ZERO)


# expf: Cody-Waite reduction (musl e_expf.c constants), then exp(r) = 1 + r + r**2 q(r) with q of
# degree 4 interpolating (exp(r) - 1 - r) / r**2 at Chebyshev nodes (approximation error 1.0e-8,
# below a tenth of a float32 ulp): no division.
_FLN2_HI_E = _F32(6.9314575195e-01)
_FLN2_LO_E = _F32(1.4286067653e-06)
_FINV_LN2 = _F32(1.4426950216e00)
_FEXP_HI = _F32(88.72283935546875)
_FEXP_LO = _F32(-104.0)
_FQ0 = _F32(0.5)
_FQ1 = _F32(0.16666577756404877)
_FQ2 = _F32(0.041666556149721146)
_FQ3 = _F32(0.008363173343241215)
_FQ4 = _F32(0.0013926175888627768)
_I1_32 = np.int32(1)
_I127 = np.int32(127)
_FEXPB_HI = _F32(88.37)  # one factor 2**k, k <= 127
_FEXPB_LO = _F32(-87.33)  # result above 2**-126 (normal)


@njit(**_FLAGS)
def _exp_f32_poly(xc):
    """``(p, kf)`` with ``exp(xc) = p * 2**kf`` for a float32 ``xc``."""
    kf = (xc * _FINV_LN2 + _F_ROUNDER) - _F_ROUNDER
    r = (xc - kf * _FLN2_HI_E) - kf * _FLN2_LO_E
    p = _F_ONE + r * (_F_ONE + r * (_FQ0 + r * (_FQ1 + r * (_FQ2 + r * (_FQ3 + r * _FQ4)))))
    return p, kf


@njit(**_FLAGS)
def exp_f32(x):
    """Exponential of a float32, in float32 arithmetic (branch-free; gradual underflow)."""
    p, kf = _exp_f32_poly(min(max(x, _FEXP_LO), _FEXP_HI + _F_ONE))
    k = np.int32(kf)
    k1 = np.int32(k >> _I1_32)
    k2 = np.int32(k - k1)
    y = p * f32_from_bits(np.int32((k1 + _I127) << _I23)) * f32_from_bits(np.int32((k2 + _I127) << _I23))
    y = _F_INF if x > _FEXP_HI else y
    y = x if x != x else y
    return y


@njit(**_FLAGS)
def exp_bounded_f32(x):
    """float32 ``exp_bounded``: exact to float32 rounding for -87.33 <= x <= 88.37, 0 below, inf above."""
    p, kf = _exp_f32_poly(min(max(x, _FEXPB_LO), _FEXPB_HI))
    y = p * f32_from_bits(np.int32((np.int32(kf) + _I127) << _I23))
    y = _F_INF if x > _FEXPB_HI else y
    return _F_ZERO if x < _FEXPB_LO else y


# ------------------------------------------------------------------------------- random numbers

@njit(inline="always", cache=True, error_model="numpy")
def uniform_open0_f32(h):
    """``uniform_open0(h)`` rounded to float32 (may round up to exactly 1)."""
    return np.float32(h >> _S11) * _F32_TWO_M53 + _F32_TWO_M53


@njit(inline="always", cache=True, error_model="numpy")
def _signed_tail(p):
    """A float64 probability ``p`` in (0, 1) as one float32 that keeps the precision of both tails:
    ``p`` when ``p <= 1/2``, else ``-(1 - p)`` (exact in float64); rounded once."""
    return np.float32(p if p <= 0.5 else p - 1.0)


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def stratified_tails_f32(h, stratum_low, stratum_width):
    """The probabilities of the pair's two normals (``kernels.firm.stratified_normals``) as signed float32
    tails (``normal_quantile_f32``): ``stratum_low + u1 * stratum_width`` and ``u2``, from the float64
    ``open_uniforms(h)`` (exact) and the float64 stratum, so that a probability near 1 does not lose
    its distance to 1 to float32 rounding."""
    u1, u2 = open_uniforms(h)
    return _signed_tail(stratum_low + u1 * stratum_width), _signed_tail(u2)


# The normal quantile in float32: Wichura (1988), "Algorithm AS 241: The Percentage Points of the Normal
# Distribution", Applied Statistics 37(3), 477-484, PPND7 (about 7 significant digits; the float64
# kernels use PPND16, ``kernels.normal``). Its three rational functions (the central region
# |p - 1/2| <= 0.425 in (p - 1/2)**2, the tails in s = sqrt(-log r), r = min(p, 1 - p), split at s = 5)
# have numerators of degree 3 and denominators of degree 3 (central) or 2 (tails): written as one
# rational function whose coefficients are selected, so that the loop has no branches.
_PA = (_F32(3.3871327179), _F32(5.0434271938e1), _F32(1.5929113202e2), _F32(5.9109374720e1))
_PB = (_F32(1.7895169469e1), _F32(7.8757757664e1), _F32(6.7187563600e1))
_PC = (_F32(1.4234372777), _F32(2.7568153900), _F32(1.3067284816), _F32(1.7023821103e-1))
_PD = (_F32(7.3700164250e-1), _F32(1.2021132975e-1))
_PE = (_F32(6.6579051150), _F32(3.0812263860), _F32(4.2868294337e-1), _F32(1.7337203997e-2))
_PF = (_F32(2.4197894225e-1), _F32(1.2258202635e-2))
_P_SPLIT1 = _F32(0.425)
_P_SPLIT2 = _F32(5.0)
_P_CONST1 = _F32(0.180625)
_P_CONST2 = _F32(1.6)


@njit(**_FLAGS)
def ppnd7_f32(v, r, s):
    """PPND7 of the signed tail ``v`` (see ``normal_quantile_f32``), given ``r = |v|`` and the tail
    variable ``s = sqrt(-log r)`` (computed by the caller: ``kernels.reference.cuda.fastmath`` takes
    its log from CUDA's intrinsic)."""
    q = _F_HALF - r  # |p - 1/2|
    central = q <= _P_SPLIT1
    far = s > _P_SPLIT2
    x = _P_CONST1 - q * q if central else (s - _P_SPLIT2 if far else s - _P_CONST2)
    n0 = _PA[0] if central else (_PE[0] if far else _PC[0])
    n1 = _PA[1] if central else (_PE[1] if far else _PC[1])
    n2 = _PA[2] if central else (_PE[2] if far else _PC[2])
    n3 = _PA[3] if central else (_PE[3] if far else _PC[3])
    d1 = _PB[0] if central else (_PF[0] if far else _PD[0])
    d2 = _PB[1] if central else (_PF[1] if far else _PD[1])
    d3 = _PB[2] if central else _F_ZERO
    value = (((n3 * x + n2) * x + n1) * x + n0) / (((d3 * x + d2) * x + d1) * x + _F_ONE)
    value = value * q if central else value
    return -value if v > _F_ZERO else value


@njit(**_FLAGS)
def normal_quantile_f32(v):
    """``Phi^-1(p)`` in float32 arithmetic (branch-free) for a signed tail ``v`` in ``[-1/2, 1/2]``:
    ``p = v`` when ``v > 0``, ``p = 1 + v`` when ``v <= 0`` (``stratified_tails_f32``).

    Relative error below 5e-7 (``tests/test_fastmath.py``; PPND7's own error is 1.2e-7, the rest is
    float32 rounding). ``|v|`` below the smallest normal float32 is taken as it (a quantile of 12.95).
    """
    r = max(abs(v), _F_MIN_NORMAL)
    return ppnd7_f32(v, r, math.sqrt(-log_positive_f32(r)))


@njit(**_FLAGS)
def stratified_normals_f32(v1, v2):
    """float32 ``kernels.firm.stratified_normals`` from the signed tails of ``stratified_tails_f32``: the
    demand shock ``-Phi^-1(p1)`` (``p1`` is its upper-tail probability) and the independent normal."""
    return -normal_quantile_f32(v1), normal_quantile_f32(v2)


# ------------------------------------------------------------------------------------- per firm

@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def scaled_log_productivity_f32(productivity_key, firm, sigma_minus_1_over_theta_f32):
    """float32 ``scaled_log_productivity`` (the same arithmetic as ``fill_scaled_log_productivity_f32``).

    ``sigma_minus_1_over_theta_f32`` is the float32 parameter; the result is float32.
    """
    return -sigma_minus_1_over_theta_f32 * log_positive_f32(uniform_open0_f32(hash_at(productivity_key, firm)))


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def scores_f32(shock_key, pair, stratum_low, stratum_width, scaled_log_phi, s_a, s_e, rho, rho_complement):
    """float32 ``scores`` (the same arithmetic as ``fill_scores_f32``): ``stratum_low``, ``stratum_width``
    float64, every other float argument float32."""
    v1, v2 = stratified_tails_f32(hash_at(shock_key, pair), stratum_low, stratum_width)
    z1, z2 = stratified_normals_f32(v1, v2)
    return combine(z1, z2, scaled_log_phi, s_a, s_e, rho, rho_complement)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def fill_scaled_log_productivity_f32(productivity_key, first_firm, sigma_minus_1_over_theta, out):
    """float32 ``fill_scaled_log_productivity`` (``out`` float32)."""
    prefer_wide_vectors()
    c = np.float32(sigma_minus_1_over_theta)
    position = stream_position(productivity_key, first_firm)
    for j in range(out.size):  # 64-bit integer work: 8 lanes per vector
        out[j] = uniform_open0_f32(finalize(position))
        position += GOLDEN
    for j in range(out.size):  # float32 only: 16 lanes per vector
        out[j] = -c * log_positive_f32(out[j])


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def fill_scores_f32(shock_key, first_pair, pair_stride, stratum_low, stratum_width, scaled_log_phi, s_a, s_e, rho,
                    rho_complement, out_sales, out_entry):
    """float32 ``fill_scores`` (strata float64, the other arrays float32; the float64 parameters are rounded once)."""
    prefer_wide_vectors()
    a = np.float32(s_a)
    e = np.float32(s_e)
    r = np.float32(rho)
    rc = np.float32(rho_complement)
    position = stream_position(shock_key, first_pair)
    step = pair_stride * GOLDEN
    for j in range(scaled_log_phi.size):  # 64-bit integer and float64 work: 8 lanes per vector
        out_sales[j], out_entry[j] = stratified_tails_f32(finalize(position), stratum_low[j], stratum_width[j])
        position += step
    for j in range(scaled_log_phi.size):  # float32 only: 16 lanes per vector
        z1, z2 = stratified_normals_f32(out_sales[j], out_entry[j])
        out_sales[j], out_entry[j] = combine(z1, z2, scaled_log_phi[j], a, e, r, rc)
