"""Branch-free polynomial ``log`` and ``exp`` that LLVM can vectorise.

The PyPI llvmlite has no SVML, so ``math.log``/``math.exp`` inside a Numba loop are
one scalar libm call per element and stop the loop from vectorising (bench/README.md).
These are the fdlibm/musl algorithms (Cody-Waite argument reduction with split constants, fdlibm's
minimax polynomials; for ``exp`` a polynomial fitted here instead of fdlibm's rational function)
written without branches: special inputs (0, negative, inf, NaN, subnormal, overflow) are handled
by selects, so a loop that calls them compiles to straight-line SIMD code. Every function is
``inline='always'``, ``error_model='numpy'`` and allows FMA contraction (``FASTMATH``).

Accuracy, asserted in ``tests/test_fastmath.py`` against NumPy in extended precision on wide
random inputs (``ULP = 2**-52``, relative):

- ``log``: below 1 ULP for every positive double, subnormals included; ``log(0) = -inf``,
  ``log(x < 0) = nan``, ``log(inf) = inf``, ``log(nan) = nan``. ``log_positive``: the same without
  the special cases (positive normal input only), for arguments known to be in range.
- ``exp``: below 1 ULP for results in the normal range; overflow to ``inf`` above 709.78, gradual
  underflow below -708.4 (error at most one subnormal step); ``exp(nan) = nan``. ``exp_bounded``:
  the same for -708.39 <= x <= 709.43, 0 below and inf above, with fewer instructions.
- float32 variants (``log_f32``, ``exp_bounded_f32``, ...) are in
  ``kernels.reference.float32`` (only the brute-force float32 kernels use them).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# ------------------------------------------------------------------------------------- bit casts


def _bitcast_intrinsic(from_type, to_type, llvm_to):
    @intrinsic
    def cast(typingctx, x):
        if x != from_type:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_to)

        return to_type(from_type), codegen

    return cast


#: Reinterpret the bits of a float64 as int64 (and back), and float32 <-> int32.
f64_bits = _bitcast_intrinsic(types.float64, types.int64, ir.IntType(64))
f64_from_bits = _bitcast_intrinsic(types.int64, types.float64, ir.DoubleType())
f32_bits = _bitcast_intrinsic(types.float32, types.int32, ir.IntType(32))
f32_from_bits = _bitcast_intrinsic(types.int32, types.float32, ir.FloatType())


@intrinsic
def prefer_wide_vectors(typingctx):
    """Ask LLVM for 512-bit vectors in the function that calls this (a no-op elsewhere).

    LLVM's tuning for Intel server cores with AVX-512 (skylake-avx512 ... emeraldrapids) prefers
    256-bit vectors, so the loop vectoriser leaves half of each register unused. These loops are
    arithmetic-bound and, measured on a 2-core Emerald Rapids, run 1.4x-2x faster with 512-bit
    vectors. The function attribute ``"prefer-vector-width"="512"`` overrides the tuning for one
    function only; on machines without AVX-512 LLVM ignores it. Call it in every function whose
    loops should use the wide registers (inlined code is vectorised with its caller's setting).
    """

    def codegen(context, builder, signature, args):
        try:  # llvmlite checks attribute names against a fixed list: add the string attribute as is
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # pragma: no cover - a later llvmlite may store attributes differently
            pass
        return context.get_dummy_value()

    return types.none(), codegen


#: Flags of every function here. ``contract`` lets LLVM fuse ``a * b + c`` into one FMA (one
#: rounding instead of two): about half the instructions in the polynomials, and never less accurate.
#: Code inlined with ``inline='always'`` takes the flags of the function it is inlined into, so the
#: loops that call these functions should use ``fastmath=FASTMATH`` too.
FASTMATH = {"contract"}
_FLAGS = dict(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)

# ------------------------------------------------------------------------------------ float64

_INF = np.inf
_NAN = np.nan
# round-to-nearest-even by adding and subtracting 1.5 * 2**52 (valid for |x| < 2**51)
_ROUNDER = 6755399441055744.0

_LN2_HI = 6.93147180369123816490e-01  # 0x3FE62E42 0xFEE00000: ln2_hi * k is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_TWO54 = 18014398509481984.0
_MIN_NORMAL = 2.2250738585072014e-308

# log: fdlibm/musl e_log.c
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LOG_SHIFT = np.int64((0x3FF00000 - 0x3FE6A09E) << 32)
_LOG_BASE = np.int64(0x3FE6A09E << 32)
_MANT_MASK = np.int64(0x000FFFFFFFFFFFFF)
_EXP_BIAS = np.int64(0x3FF)
_I52 = np.int64(52)


@njit(**_FLAGS)
def _log_core(x, dk_offset):
    """fdlibm ``__ieee754_log`` of a positive normal ``x``, plus ``dk_offset * ln2``."""
    ix = f64_bits(x) + _LOG_SHIFT
    dk = np.float64((ix >> _I52) - _EXP_BIAS) + dk_offset
    f = f64_from_bits((ix & _MANT_MASK) + _LOG_BASE) - 1.0  # mantissa in [sqrt(2)/2, sqrt(2)) minus 1
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    return s * (hfsq + (t2 + t1)) + dk * _LN2_LO - hfsq + f + dk * _LN2_HI


@njit(**_FLAGS)
def log(x):
    """Natural logarithm of a float64 (fdlibm ``__ieee754_log``, branch-free)."""
    tiny = x < _MIN_NORMAL
    r = _log_core(x * _TWO54 if tiny else x, -54.0 if tiny else 0.0)
    r = -_INF if x == 0.0 else r
    r = _NAN if x < 0.0 else r
    r = x if not (x < _INF) else r  # +inf -> inf, nan -> nan (x < inf is False for both)
    return r


@njit(**_FLAGS)
def log_positive(x):
    """``log(x)`` for a positive, normal, finite float64 ``x`` (no checks: other inputs give garbage).

    The same arithmetic as ``log`` without the selects for special inputs (about 12% fewer
    instructions); used where the argument is known to be in range, e.g. a uniform on (0, 1].
    """
    return _log_core(x, 0.0)


# exp: fdlibm's Cody-Waite reduction ``x = k ln2 + r``, |r| <= ln2/2, then a polynomial instead of
# fdlibm's rational function (a division costs as much as ten FMAs in a vector loop):
# exp(r) = 1 + r + r**2 q(r) with q of degree 9 interpolating (exp(r) - 1 - r) / r**2 at Chebyshev
# nodes (fitted in 60-digit decimal arithmetic; approximation error 1.7e-17 relative).
_Q0 = 0.5000000000000001
_Q1 = 0.16666666666666669
_Q2 = 0.041666666666624164
_Q3 = 0.008333333333330065
_Q4 = 0.0013888888917196719
_Q5 = 0.00019841269863040545
_Q6 = 2.4801521322368692e-05
_Q7 = 2.7557268480310024e-06
_Q8 = 2.7620075879983367e-07
_Q9 = 2.5100375832561234e-08
_EXP_HI = 709.782712893383973096
_EXP_LO = -745.2
_I1 = np.int64(1)
_I1023 = np.int64(1023)


@njit(**_FLAGS)
def exp(x):
    """Exponential of a float64 (fdlibm reduction, polynomial, branch-free)."""
    xc = min(max(x, _EXP_LO), _EXP_HI + 1.0)  # the result for NaN is replaced below
    kf = (xc * _INV_LN2 + _ROUNDER) - _ROUNDER
    hi = xc - kf * _LN2_HI  # exact
    lo = kf * _LN2_LO
    r = hi - lo
    q = _Q0 + r * (_Q1 + r * (_Q2 + r * (_Q3 + r * (_Q4 + r * (_Q5 + r * (_Q6 + r * (_Q7 + r * (_Q8 + r * _Q9))))))))
    y = 1.0 + (hi + (r * r * q - lo))
    # y * 2**k as y * 2**k1 * 2**k2 with both factors normal (k in [-1075, 1025])
    k = np.int64(kf)
    k1 = k >> _I1
    k2 = k - k1
    y = y * f64_from_bits((k1 + _I1023) << _I52) * f64_from_bits((k2 + _I1023) << _I52)
    y = _INF if x > _EXP_HI else y
    y = x if x != x else y
    return y


_EXPB_HI = 709.43  # exp(x) < 2**1023.5: one power-of-two factor 2**k (k <= 1023) is enough
_EXPB_LO = -708.39  # exp(x) > 2**-1022: the result is normal


@njit(**_FLAGS)
def exp_bounded(x):
    """``exp(x)`` for ``-708.39 <= x <= 709.43``, ``inf`` above and ``0`` below (NaN is not expected).

    ``exp`` without gradual underflow and with overflow 0.35 earlier (results below 2**-1022 are
    flushed to zero, above 1.2e308 become ``inf``), so that one factor ``2**k`` rescales the
    polynomial: about a quarter fewer instructions than ``exp``, with the same accuracy in range.
    Used for sums of ``exp(score)``, where neither end matters.
    """
    xc = min(max(x, _EXPB_LO), _EXPB_HI)
    t = xc * _INV_LN2 + _ROUNDER  # the low bits of t hold k = rint(x / ln2)
    kf = t - _ROUNDER
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    q = _Q0 + r * (_Q1 + r * (_Q2 + r * (_Q3 + r * (_Q4 + r * (_Q5 + r * (_Q6 + r * (_Q7 + r * (_Q8 + r * _Q9))))))))
    y = 1.0 + (hi + (r * r * q - lo))
    y = y * f64_from_bits((f64_bits(t) + _I1023) << _I52)  # only k + 1023 survives in the exponent field
    y = _INF if x > _EXPB_HI else y
    return 0.0 if x < _EXPB_LO else y
