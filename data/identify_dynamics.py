"""Reproduce the dynamic model's identified defaults (engine/scenario/defaults.py) from the published targets.

    python data/identify_dynamics.py                  # identify, print parameters and moments (minutes)
    python data/identify_dynamics.py --check          # also exit 1 if engine/scenario/defaults.py differs
    python data/identify_dynamics.py --three-moments  # the joint fit of all three parameters
    python data/identify_dynamics.py --elasticities   # sigma and half-life against the tariff evidence

Default: persistence and s_z solve the autocorrelation and growth-sd targets at the default
lambda, and the table shows the exit rate that follows for several lambda. ``--three-moments``
fits (persistence, s_z, lambda) to all three targets (weighted relative misses) and shows where
that fit lands. Needs SciPy (``pip install -e '.[identify]'``). The method and the targets'
sources are in ``engine.firms.identification``; data/README.md ("Dynamics parameters") tabulates the
result.

``--elasticities``: the simulated-method-of-moments fit of sigma and the adjustment half-life to the
tariff evidence of ``engine.runs.diagnose.TARGETS`` (BLP's h = 1 and long run, the 2018-19
experiment), each weighted by its standard error, on a grid with common random numbers (the same
draws and firms at every point; 2 draws x 5,000 firms). The sales process is held while sigma moves:
theta / (sigma - 1) (the firm-size tail) and (sigma - 1) s_z (the sales growth the firm moments fix),
so the identified firm moments do not move (nor does the stopper rate, a constant part of J). Prints
every point's moments and J, the best point, its standardized misses (the binding moments) and the J
test (4 moments, 2 parameters). docs/model.md section 11.8 has the result.
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


def fit_elasticities(sigmas=(1.4, 1.5, 1.6, 1.7, 1.8, 2.0), half_lives=(9.0, 12.0, 15.0, 18.06, 24.0), draws=2, firms=5000,
                     seed=2025):
    """Grid SMM of (sigma, half-life) on the tariff evidence; prints the table and returns the best point."""
    from scipy.stats import chi2

    from engine.calibration.data import load_calibration
    from engine.paths import default_calibration_dir
    from engine.runs.diagnose import TARGETS, diagnose
    from engine.scenario import defaults as p

    cal = load_calibration(default_calibration_dir())
    sigma0, theta0 = float(cal.sigma[0]), float(cal.theta[0])
    tail = theta0 / (sigma0 - 1.0)
    names = list(TARGETS)
    print(f"{'sigma':>6} {'half-life':>9} " + " ".join(f"{n:>9}" for n in names) + f" {'J':>8}")
    print(f"{'target':>16} " + " ".join(f"{TARGETS[n].value:>9.2f}" for n in names)
          + "\n" + f"{'se':>16} " + " ".join(f"{TARGETS[n].se:>9.3f}" for n in names))
    best = None
    for sigma in sigmas:
        for half_life in half_lives:
            d = diagnose(draws=draws, firms=firms, seed=seed, progress=False,
                         dynamics={"half_life": half_life},  # s_z: the identified sales dispersion / (sigma - 1)
                         parameters={"sigma": sigma, "theta": tail * (sigma - 1.0)})
            m = d.moments()
            misses = {n: (m[n] - TARGETS[n].value) / TARGETS[n].se for n in names}
            j = float(sum(v * v for v in misses.values()))
            print(f"{sigma:>6.2f} {half_life:>9.1f} " + " ".join(f"{m[n]:>9.2f}" for n in names) + f" {j:>8.1f}",
                  flush=True)
            if best is None or j < best[0]:
                best = (j, sigma, half_life, m, misses, d)
    j, sigma, half_life, m, misses, d = best
    print(f"best: sigma {sigma:.2f} (theta {tail * (sigma - 1.0):.3f}, s_z {p.SALES_DISPERSION / (sigma - 1.0):.4f}), half-life "
          f"{half_life:.1f} months; J = {j:.1f}, p = {chi2.sf(j, len(names) - 2):.2g} (chi2, {len(names) - 2} df)")
    print("standardized misses (model - target) / se: "
          + ", ".join(f"{n} {v:+.1f}" for n, v in sorted(misses.items(), key=lambda kv: -abs(kv[1]))))
    print("BLP profile at the best point, h = 0..10: "
          + " ".join(f"{e:.2f}" for e in d.annual["elasticity"].to_numpy()))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with engine/scenario/defaults.py")
    parser.add_argument("--three-moments", action="store_true", help="fit lambda too, to all three targets")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--firms", type=int, default=10000)
    parser.add_argument("--elasticities", action="store_true",
                        help="fit sigma and the half-life to the tariff evidence (engine diagnose's targets)")
    args = parser.parse_args(argv)
    if args.elasticities:
        fit_elasticities()
        return 0
    from engine.scenario import defaults as p

    from engine.calibration.data import load_calibration
    from engine.paths import default_calibration_dir

    lam = None if args.three_moments else p.DEFAULT_SUNK_COST_RATIO
    # the start grid of s_z in units of the sales dispersion (sigma - 1) s_z, which the moments depend on: the
    # same starts, and so the same root of the two equations, whatever the calibration's sigma
    scale = float(load_calibration(default_calibration_dir()).sigma[0]) - 1.0
    sales_sd = (0.4878, 0.6504, 0.8130, 0.9756, 1.1382)  # s_z of 0.3-0.7 at the EKK sigma of 2.626
    grid = None if args.three_moments else ((0.7, 0.8, 0.85, 0.9, 0.95), tuple(v / scale for v in sales_sd))
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
        print("... and for a monthly loss of export relationships (docs/model.md section 11.2), at the default lambda:")
        for loss in (0.01, 0.02, 0.04):
            moments = fresh_panel_moments(result["annual_persistence"], result["productivity_sd"], lam,
                                          seeds=range(100, 104), relationship_loss=loss)
            print(f"  loss {loss:<5} exit rate {moments['exit_rate'][0]:.3f}, autocorrelation "
                  f"{moments['sales_autocorrelation'][0]:.3f}, growth sd {moments['growth_sd'][0]:.3f}")
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
