"""How far cells with no policy move, against the granular prediction (docs/model.md section 2.1).

Not a test (minutes): the default run's no-policy path (``exports_no_policy``), 8 draws x 24
months, seed 2025, at 2,000 and 20,000 simulated firms per block; domestic cells (every firm sells
at home, so a domestic cell's moves are its firms' own). Prints, per firm count, the largest move
from period 0 over every draw and month, the cells that move more than 5% in some draw-month, and
the across-draw sd of each cell's 24-month change against the granular prediction for its real
number of firms N (section 2.1, eq. 2.6), by block size. Then the same at 60,000 firms, for the
blocks of at most 60,000 real firms only: they are simulated at their real count or finer (every
weight at most 1), so their moves are the model's own granularity, and a simulation of exactly
their real firms would move at least as much (finer copies only lower the Herfindahl). Run: ``python bench/granular_check.py``.
"""

import math
import sys
import tempfile

import numpy as np
import polars as pl

import engine
from engine.calibration.data import load_calibration
from engine.firms.panel import default_cell_population
from engine.paths import default_calibration_dir
from engine.scenario.defaults import DYNAMICS_DEFAULTS, productivity_sd_for
from engine.scenario.schema import Dynamics
from kernels.dynamic import block_scores
from kernels.firm import fill_scaled_log_productivity

DRAWS, SEED = 8, 2025
#: Simulated firms per block for the real-count check: blocks of at most this many real firms carry no weights.
REAL_COUNT_FIRMS = 60_000


def domestic_changes(firms, out):
    """(draws, blocks, months + 1): each domestic cell's exports with no policy against period 0, minus 1."""
    run = engine.simulate(draws=DRAWS, firms=firms, out=out, overwrite=True, seed=SEED, progress=False,
                          closure="pe_moving")  # the closure of bench/README's figures
    flows = (run.scan("flows").filter(pl.col("origin") == pl.col("destination"))
             .select("draw", "period", "origin", "sector", "exports_no_policy").collect())
    cal = load_calibration(default_calibration_dir())
    order = {(o, k): i * len(cal.sectors) + j for i, o in enumerate(cal.regions) for j, k in enumerate(cal.sectors)}
    flows = flows.with_columns(pl.struct("origin", "sector").map_elements(
        lambda r: order[(r["origin"], r["sector"])], return_dtype=pl.Int64).alias("block"))
    x = flows.sort("draw", "block", "period")["exports_no_policy"].to_numpy().reshape(DRAWS, len(order), -1)
    return x / x[..., :1] - 1.0


def granular_sd(months, firms=20_000):
    """Per block, the predicted sd of its domestic cell's change over ``months`` for its N real
    firms (eq. 2.6), with the Herfindahl of the real firms estimated from a stratified population."""
    population, cal = default_cell_population(firms, seed=SEED)
    n_sectors = cal.n_sectors
    persistence, s_z = DYNAMICS_DEFAULTS["persistence"], productivity_sd_for(Dynamics(), cal.sigma)
    sm1_over_theta, s_a, s_e, rho = population.kernel_params
    out = np.empty(population.strata.shape[0])
    for b in range(out.size):
        c = float(cal.sigma[b % n_sectors]) - 1.0
        slp, v, u, w = (np.empty(firms) for _ in range(4))
        fill_scaled_log_productivity(population.keys[0][b], np.uint64(0), sm1_over_theta[b], slp)
        block_scores(population.keys[0][b], population.keys[1][b], sm1_over_theta[b], s_a[b], s_e[b], rho[b],
                     cal.n_regions, b // n_sectors, population.strata[b], slp, v, u, w)
        x = np.exp(v - v.max())
        herfindahl = (w * x * x).sum() / (w * x).sum() ** 2
        decay = persistence ** (2 * months)
        out[b] = math.sqrt(herfindahl * math.exp(c * c * s_z * s_z * decay)
                           * math.expm1(c * c * s_z * s_z * (1.0 - decay)))
    return out, np.asarray(cal.firms, dtype=float).reshape(-1)


def main():
    sds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for firms in (2_000, 20_000):
            change = domestic_changes(firms, f"{tmp}/run_{firms}")
            months = change.shape[-1] - 1
            if not sds:
                predicted, real = granular_sd(months)
                groups = [("N < 30k", real < 3e4), ("30k-100k", (real >= 3e4) & (real < 1e5)),
                          ("N >= 100k", real >= 1e5)]
            sd = change[..., months].std(axis=0, ddof=1)  # across draws, per cell
            sds[firms] = sd
            print(f"{firms:>6} firms: largest move {100 * np.abs(change).max():.1f}%, cells moving > 5% in some "
                  f"draw-month {(np.abs(change) > 0.05).any(axis=(0, 2)).sum()} of {sd.size} "
                  f"({(np.abs(change) > 0.05).any(axis=2).sum()} of {sd.size * DRAWS} draw-cells); "
                  f"sd of {months}-month changes (rms over cells) {100 * np.sqrt(np.mean(sd ** 2)):.2f}%")
            d, b, t = np.unravel_index(np.abs(change).argmax(), change.shape)
            print(f"        the largest: block {b} (N = {real[b]:,.0f}), draw {d}, month {t}: {100 * change[d, b, t]:+.1f}% "
                  f"against a granular sd of {100 * predicted[b]:.2f}% for {months} months")
            for name, mask in groups:
                print(f"        {name:<10} ({mask.sum():>2} cells): sd {100 * np.sqrt(np.mean(sd[mask] ** 2)):.2f}% "
                      f"vs granular prediction {100 * np.sqrt(np.mean(predicted[mask] ** 2)):.2f}%; median ratio "
                      f"{np.median(sd[mask] / predicted[mask]):.2f}")
        ratio = np.sqrt(np.mean(sds[2_000] ** 2) / np.mean(sds[20_000] ** 2))
        print(f"sd at 2,000 firms / sd at 20,000: {ratio:.2f} (uniform weights would give up to sqrt(10) = 3.16)")
        change = domestic_changes(REAL_COUNT_FIRMS, f"{tmp}/run_real_count")
    exact = real <= REAL_COUNT_FIRMS
    moves = np.abs(change[:, exact])
    sd = change[:, exact, -1].std(axis=0, ddof=1)
    print(f"{REAL_COUNT_FIRMS:,} firms, the {exact.sum()} blocks of at most {REAL_COUNT_FIRMS:,} real firms (weights "
          f"<= 1: the model's own granularity): largest move {100 * moves.max():.1f}%, draw-cells > 5% in some month "
          f"{(moves > 0.05).any(axis=2).sum()} of {moves.shape[0] * moves.shape[1]}; sd of {months}-month changes "
          f"{100 * np.sqrt(np.mean(sd ** 2)):.2f}% vs granular prediction "
          f"{100 * np.sqrt(np.mean(predicted[exact] ** 2)):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
