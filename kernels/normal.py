"""The standard normal quantile ``Phi^-1(p)``, for sampling a normal from one uniform (the stratified
demand shock of ``engine.firms.sampling``).

Wichura (1988), "Algorithm AS 241: The Percentage Points of the Normal Distribution", Applied
Statistics 37(3), 477-484 (PPND16): rational approximations of degree 7 in three regions, accurate
to about 1e-16 relative. Written as a plain function so that Numba compiles it for the CPU and,
with the same body, as a CUDA device function; checked against ``scipy.special.ndtri`` in
``tests/test_sampling_design.py``.
"""

import math

from numba import njit

from kernels.fastmath import FASTMATH, log_positive

_A = (3.3871328727963666080e+00, 1.3314166789178437745e+02, 1.9715909503065514427e+03,
      1.3731693765509461125e+04, 4.5921953931549871457e+04, 6.7265770927008700853e+04,
      3.3430575583588128105e+04, 2.5090809287301226727e+03)
_B = (1.0, 4.2313330701600911252e+01, 6.8718700749205790830e+02, 5.3941960214247511077e+03,
      2.1213794301586595867e+04, 3.9307895800092710610e+04, 2.8729085735721942674e+04,
      5.2264952788528545610e+03)
_C = (1.42343711074968357734e+00, 4.63033784615654529590e+00, 5.76949722146069140550e+00,
      3.64784832476320460504e+00, 1.27045825245236838258e+00, 2.41780725177450611770e-01,
      2.27238449892691845833e-02, 7.74545014278341407640e-04)
_D = (1.0, 2.05319162663775882187e+00, 1.67638483018380384940e+00, 6.89767334985100004550e-01,
      1.48103976427480074590e-01, 1.51986665636164571966e-02, 5.47593808499534494600e-04,
      1.05075007164441684324e-09)
_E = (6.65790464350110377720e+00, 5.46378491116411436990e+00, 1.78482653991729133580e+00,
      2.96560571828504891230e-01, 2.65321895265761230930e-02, 1.24266094738807843860e-03,
      2.71155556874348757815e-05, 2.01033439929228813265e-07)
_F = (1.0, 5.99832206555887937690e-01, 1.36929880922735805310e-01, 1.48753612908506148525e-02,
      7.86869131145613259100e-04, 1.84631831751005468180e-05, 1.42151175831644588870e-07,
      2.04426310338993978564e-15)


@njit(inline="always", cache=True)
def _ratio(num, den, x):
    """``num(x) / den(x)`` for degree-7 polynomials with coefficients in ascending order (Horner)."""
    top = num[7]
    bottom = den[7]
    for j in range(6, -1, -1):
        top = top * x + num[j]
        bottom = bottom * x + den[j]
    return top / bottom


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def normal_quantile(p):
    """``Phi^-1(p)`` for ``0 < p < 1``.

    Small upper-tail probabilities keep their precision when passed as ``-normal_quantile(q)``
    (``q = 1 - p``), since the tail branch works on ``min(p, 1 - p)``. Written without branches
    (every region computed, the right one selected; the tail's ``log`` is the vectorisable
    ``kernels.fastmath.log_positive``), so that a loop over many ``p`` compiles to SIMD code. The
    tail probability is floored at 1e-300, so ``p = 0`` or ``1`` give about -/+37.5 (the open
    uniforms of ``kernels.rng`` never reach them).
    """
    q = p - 0.5
    central = q * _ratio(_A, _B, 0.180625 - q * q)
    r = math.sqrt(-log_positive(max(min(p, 1.0 - p), 1e-300)))
    near = _ratio(_C, _D, r - 1.6)
    far = _ratio(_E, _F, r - 5.0)
    tail = near if r <= 5.0 else far
    tail = -tail if q < 0.0 else tail
    return central if abs(q) <= 0.425 else tail
