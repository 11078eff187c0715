"""Reproduce the dynamic model's identified defaults (engine/parameters.py) from the three targets.

    python data/identify_dynamics.py            # identify and print parameters and moments (about five minutes)
    python data/identify_dynamics.py --check    # also exit 1 if engine/parameters.py differs

Needs SciPy (``pip install -e '.[calibrate]'``). The method and the targets' sources are in
``engine.identification``; data/README.md ("Dynamics parameters") tabulates the result.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.identification import MOMENT_NAMES, TARGETS, fresh_panel_moments, identify  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with engine/parameters.py")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--firms", type=int, default=10000)
    args = parser.parse_args(argv)
    result = identify(seed=args.seed, n_firms=args.firms)
    print(f"panel: {args.firms} firms per JPN->USA cell (8 sectors), 10 years after a 10-year burn-in, seed {args.seed}")
    print(f"annual persistence rho^12 = {result['annual_persistence']:.4f}  (monthly rho = {result['persistence']:.6f})")
    print(f"stationary sd s_z         = {result['productivity_sd']:.4f}")
    print(f"lambda (monthly)          = {result['sunk_cost_ratio']:.4f}")
    fresh = fresh_panel_moments(result["annual_persistence"], result["productivity_sd"], result["sunk_cost_ratio"])
    print(f"{'moment':<24}{'target':>8}{'fit':>8}{'fresh':>8}{'(sd)':>8}  verified")
    for name in MOMENT_NAMES:
        mean, sd = fresh[name]
        print(f"{name:<24}{TARGETS[name].value:>8.3f}{result['moments'][name]:>8.3f}{mean:>8.3f}{sd:>8.3f}"
              f"  {TARGETS[name].verified}")
    print("fit: the identification panel; fresh: mean (sd) over 8 other panels of 10000 firms per cell, seeds 100-107")
    if args.check:
        from engine import parameters as p

        stored = (p.ANNUAL_PERSISTENCE, p.DYNAMICS_DEFAULTS["productivity_sd"], p.DEFAULT_SUNK_COST_RATIO)
        found = (result["annual_persistence"], result["productivity_sd"], result["sunk_cost_ratio"])
        if any(abs(a - b) > 5e-4 for a, b in zip(stored, found)):
            print(f"engine/parameters.py differs: stored {stored}, identified {found}")
            return 1
        print("engine/parameters.py matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
