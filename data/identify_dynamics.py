"""Reproduce the dynamic model's identified defaults (engine/scenario/defaults.py) from the published targets.

    python data/identify_dynamics.py                  # identify, print parameters and moments (minutes)
    python data/identify_dynamics.py --check          # also exit 1 if engine/scenario/defaults.py differs
    python data/identify_dynamics.py --three-moments  # the joint fit of all three parameters

Default: persistence and s_z solve the autocorrelation and growth-sd targets at the default
lambda, and the table shows the exit rate that follows for several lambda. ``--three-moments``
fits (persistence, s_z, lambda) to all three targets (weighted relative misses) and shows where
that fit lands. Needs SciPy (``pip install -e '.[identify]'``). The method and the targets'
sources are in ``engine.firms.identification``; data/README.md ("Dynamics parameters") tabulates the
result.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.firms.identification import TARGETS, fresh_panel_moments, identify  # noqa: E402
from engine.firms.panel import MOMENT_NAMES  # noqa: E402


def _table(result):
    fresh = fresh_panel_moments(result["annual_persistence"], result["productivity_sd"], result["sunk_cost_ratio"])
    print(f"{'moment':<24}{'target':>8}{'fit':>8}{'fresh':>8}{'(sd)':>8}  verified")
    for name in MOMENT_NAMES:
        mean, sd = fresh[name]
        print(f"{name:<24}{TARGETS[name].value:>8.3f}{result['moments'][name]:>8.3f}{mean:>8.3f}{sd:>8.3f}"
              f"  {TARGETS[name].verified}")
    print("fit: the identification panel; fresh: mean (sd) over 8 other panels of the same size, seeds 100-107")
    return fresh


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with engine/scenario/defaults.py")
    parser.add_argument("--three-moments", action="store_true", help="fit lambda too, to all three targets")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--firms", type=int, default=10000)
    args = parser.parse_args(argv)
    from engine.scenario import defaults as p

    lam = None if args.three_moments else p.DEFAULT_SUNK_COST_RATIO
    grid = None if args.three_moments else ((0.7, 0.8, 0.85, 0.9, 0.95), (0.3, 0.4, 0.5, 0.6, 0.7))
    result = identify(seed=args.seed, n_firms=args.firms, sunk_cost_ratio=lam,
                      **({} if grid is None else {"grid": grid}))
    print(f"panel: {args.firms} firms per JPN->USA cell (8 sectors), 10 years after a 10-year burn-in, "
          f"seed {args.seed}")
    print(f"annual persistence rho^12 = {result['annual_persistence']:.4f}  "
          f"(monthly rho = {result['persistence']:.6f})")
    print(f"stationary sd s_z         = {result['productivity_sd']:.4f}")
    print(f"lambda (monthly)          = {result['sunk_cost_ratio']:.4f}" + ("" if lam is None else "  (given)"))
    fresh = _table(result)
    if lam is not None:
        print("exit rate at these persistence and s_z for other lambda (mean over seeds 100-103):")
        for other in (0.05, 0.3, 0.6, 1.0):
            moments = fresh_panel_moments(result["annual_persistence"], result["productivity_sd"], other,
                                          seeds=range(100, 104))
            print(f"  lambda {other:<5} exit rate {moments['exit_rate'][0]:.3f}")
    if args.check:
        stored = (p.ANNUAL_PERSISTENCE, p.PRODUCTIVITY_SD, p.DEFAULT_SUNK_COST_RATIO)
        found = (result["annual_persistence"], result["productivity_sd"], result["sunk_cost_ratio"])
        same = all(abs(a - b) <= 5e-4 for a, b in zip(stored, found))
        same = same and all(abs(p.IDENTIFIED_MOMENTS[m] - fresh[m][0]) <= 5e-4 for m in MOMENT_NAMES)
        if not same:
            print(f"engine/scenario/defaults.py differs: stored {stored}, identified {found}")
            return 1
        print("engine/scenario/defaults.py matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
