"""Newton's method for one period of a general equilibrium (``engine.closures.ge``, ``engine.closures.dynamic_ge``).

A *period* object supplies the stacked residuals and their Jacobian: ``state(z)`` returns the
residuals ``f`` and a state, ``jacobian(state)`` the chain-rule Jacobian, ``size()`` and
``unknown(j)`` name the unknowns, and ``fd_step`` is the step of the slopes of the firm-side
aggregates in their thresholds (``exact_step``, when present, is the narrowest useful one).
Stopping rule, stall rule and fallback: docs/model.md section 6.2 ("Solver").
"""

import contextlib
import contextvars

import numpy as np

from engine import config
from engine.errors import ConvergenceError


def jacobian(period, z):
    """Finite-difference Jacobian (centred, step ``period.fd_step``): the check of
    ``engine.closures.ge.Period.jacobian`` in the tests; the solver uses the chain rule. Centred like
    the chain rule's slopes, so where a cell's threshold sits on a kink of the marginal-firm ramp
    both give the mean of its two sides."""
    step = period.fd_step
    columns = []
    for j in range(z.size):
        up, down = z.copy(), z.copy()
        up[j] += step
        down[j] -= step
        columns.append((period.state(up)[0] - period.state(down)[0]) / (2.0 * step))
    return np.stack(columns, axis=1)


#: Accepted Newton steps in a row that each fail to halve the residual before the slope step narrows.
STALL_STEPS = 3
#: The narrowest slope step (log points of the threshold): centred differences of sums of order one
#: keep about six digits here.
NARROWEST_STEP = 1e-10
#: The fallback for a draw that failed (``fallback_solver``): slopes smoothed over a step this many
#: times wider to start with (the stall rule narrows it again near the solution), and this many times
#: the evaluations per period.
FALLBACK_WIDER, FALLBACK_BUDGET = 100.0, 5
_FALLBACK = contextvars.ContextVar("ge_fallback_solver", default=False)


@contextlib.contextmanager
def fallback_solver():
    """Within the block, ``newton`` starts from smoothed slopes with a larger budget (a draw's retry in
    ``engine.runs.plan.simulate_draw``; a context variable, so other threads keep the default)."""
    token = _FALLBACK.set(True)
    try:
        yield
    finally:
        _FALLBACK.reset(token)


def fallback_active():
    """Whether the caller runs inside ``fallback_solver``."""
    return _FALLBACK.get()


def newton(period, z, max_evaluations):
    """Newton's method with the chain-rule Jacobian and Armijo backtracking on the sum of squares
    (the Newton direction descends it; the max norm need not fall). After a failed line search the
    slope step widens tenfold (smoother slopes across the marginal-firm kinks), up to 1e-2.

    The aggregates are piecewise linear in the thresholds (marginal-firm rule), so Newton with the
    local slopes ends in one step once the marginal firms stop changing. Centred slopes over
    ``+-fd_step`` average two segments where a firm's switch point lies within the step, and
    then full Newton steps shorter than the step cut the residual by a fixed small fraction each
    (seen: 1 % a step on the ILMS data at 1,000 firms). So when ``STALL_STEPS`` accepted steps in a
    row each fail to halve the residual, the slope step narrows a hundredfold, down to
    ``NARROWEST_STEP``: slopes of the segment the solution lies on.

    Inside ``fallback_solver`` it starts from slopes over a wider step, with a larger budget.

    Returns (z, state, evaluations, residual); raises ConvergenceError after ``max_evaluations``.
    """
    if _FALLBACK.get():
        period.fd_step = min(period.fd_step * FALLBACK_WIDER, 1e-3)  # below the widening's cap of 1e-2
        max_evaluations *= FALLBACK_BUDGET
    # no narrower than the exact slopes' step of the dynamic model (narrowing there changes nothing)
    narrowest = max(NARROWEST_STEP, getattr(period, "exact_step", NARROWEST_STEP))
    f, state = period.state(z)
    evaluations = 1
    slow = 0
    while True:
        norm = float(np.max(np.abs(f))) if f.size else 0.0
        if not np.isfinite(norm):
            raise ConvergenceError("general equilibrium: the residuals are not finite")
        if norm <= config.GE_TOLERANCE:
            return z, state, evaluations, norm
        if evaluations >= max_evaluations:
            raise ConvergenceError(f"general equilibrium did not converge: residual {norm:.3g} after "
                                   f"{evaluations} evaluations (tolerance {config.GE_TOLERANCE:g})",
                                   period.unknown(int(np.argmax(np.abs(f)))))
        jac = period.jacobian(state)
        try:
            dz = -np.linalg.solve(jac, f)
        except np.linalg.LinAlgError:
            dz = -np.linalg.lstsq(jac, f, rcond=None)[0]
        scale = 1.0
        for _ in range(20):
            z_new = z + scale * dz
            f_new, state_new = period.state(z_new)
            evaluations += 1
            if np.all(np.isfinite(f_new)) and f_new @ f_new <= (1.0 - 1e-4 * scale) * (f @ f):
                slow = slow + 1 if np.max(np.abs(f_new)) > 0.5 * norm else 0
                z, f, state = z_new, f_new, state_new
                if slow >= STALL_STEPS and period.fd_step > narrowest:
                    period.fd_step = max(period.fd_step / 100.0, narrowest)
                    f, state = period.state(z)  # slopes over the narrower step
                    evaluations += 1
                    slow = 0
                break
            scale *= 0.5
        else:
            period.fd_step *= 10.0
            if period.fd_step > 1e-2:
                raise ConvergenceError(f"general equilibrium: no Newton step reduces the residual {norm:.3g}",
                                       period.unknown(int(np.argmax(np.abs(f)))))
            f, state = period.state(z)  # slopes over the wider step
            evaluations += 1
