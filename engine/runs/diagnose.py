"""``engine diagnose``: the trade elasticity the model implies, horizon by horizon.

Measured as Boehm, Levchenko & Pandalai-Nayar (AER 2023) measure it: partial equilibrium, a small
permanent unanticipated bilateral tariff (on every sector of one exporter-importer pair) from
period 1, against the same draws without it (common random numbers: the same firms and shocks).
The elasticity of customs-value exports with respect to ``1 + tariff`` at horizon ``h`` is
``(log X_h - log X0_h) / log((1 + t1) / (1 + t0))`` (the denominator averaged over sectors with
baseline export weights, since MFN rates ``t0`` differ), for monthly flows at 1, 3, 6, 12, 24, 60
and 120 months and for annual flows in year 1 (months 1-12) and years 8-10 (months 85-120). It
is split into the intensive and extensive margins of final sales (the exact split of docs/model.md
section 5) and importers' stock changes (section 11.9), each divided by the flow without the tariff,
and into price (customs unit value) and volume.
"""

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.runs.simulate import simulate
from engine.scenario.defaults import DEFAULT_SUNK_COST_RATIO
from engine.scenario.read import parse_scenario

#: Horizons (months after the change) of the monthly profile.
HORIZONS = (1, 3, 6, 12, 24, 60, 120)
#: Months simulated by default (the horizon 120 needs 121).
PERIODS = 121
#: How the experiment's two scenarios (built here, not read from files) are named in errors and manifests.
SETTINGS = "engine diagnose settings"


def _scenario_text(name, exporter, importer, tariff, periods, dynamics, sunk_cost_ratio, parameters):
    lines = [f'name = "{name}"', 'start = "2025-01"', f"periods = {periods}",
             f'focus = {{ exporter = "{exporter}", importer = "{importer}" }}',
             f"sunk_cost_ratio = {sunk_cost_ratio!r}", "", "[dynamics]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}".replace("'", '"')
              for k, v in dynamics.items()]
    for key, value in parameters.items():
        lines += ["", "[[parameter]]", f'name = "{key}"', 'dist = "fixed"', f"value = {float(value)!r}"]
    if tariff is not None:
        lines += ["", "[[tariff]]", 'date = "2025-02-01"', f'importer = "{importer}"', f'exporter = "{exporter}"',
                  'sectors = "ALL"', f"rate = {tariff!r}", 'mode = "add"']
    return "\n".join(lines) + "\n"


def diagnose(calibration=None, *, exporter="JPN", importer="USA", tariff=0.01, draws=4, firms=20_000, seed=2025,
             periods=PERIODS, dynamics=None, sunk_cost_ratio=None, parameters=None, threads=None, progress="auto"):
    """Run the permanent-tariff experiment and return its elasticity profile.

    Parameters
    ----------
    calibration : path, optional
    exporter, importer : str
    tariff : float
        The added ad-valorem tariff (default 1 percentage point).
    draws, firms, seed, threads, progress : as in ``engine.simulate``
    periods : int
        Months simulated (the horizon 120 needs 121).
    dynamics : dict, optional
        ``[dynamics]`` settings (default: ``mode = "forward"`` with the default parameters).
    sunk_cost_ratio : float, optional
        Lambda (default: the calibrated default of ``engine.scenario.defaults``).
    parameters : dict, optional
        Firm parameters fixed for every sector (and origin) instead of the calibration's: ``sigma``,
        ``theta``, ``shock_demand_sd``, ``shock_cost_sd``, ``shock_corr``, ``pass_through`` (a
        scenario's ``[[parameter]]`` with ``dist = "fixed"``), to see what other values imply.

    Returns
    -------
    polars.DataFrame, float
        One row per horizon: ``horizon`` (text), ``months``, ``elasticity`` (mean across draws),
        ``p5``/``p95`` across draws, ``intensive``, ``extensive``, ``stocks``, ``price``, ``volume``; and the
        monthly exporter exit rate (exits / exporters) of the pair without the tariff.
    """
    dynamics = {"mode": "forward", **(dynamics or {})}
    lam = DEFAULT_SUNK_COST_RATIO if sunk_cost_ratio is None else sunk_cost_ratio
    if periods < 13:
        raise InputError("periods", f"must be at least 13 (a year after the change), got {periods}")
    texts = [_scenario_text(name, exporter, importer, rate, periods, dynamics, lam, parameters or {})
             for name, rate in (("with_tariff", tariff), ("without_tariff", None))]
    scenarios = [parse_scenario(text, SETTINGS) for text in texts]
    run = simulate(scenarios, draws=draws, firms=firms, seed=seed, calibration=calibration, threads=threads,
                   progress=progress)
    pair = run.scan("flows").filter((pl.col("origin") == exporter) & (pl.col("destination") == importer)).collect()
    weights = pair.filter(pl.col("period") == 0).select("scenario", "draw", "sector",
                                                        pl.col("exports").alias("weight"))
    # the change in log(1 + tariff) each sector saw (MFN rates differ), weighted by baseline exports
    changed = pair.filter(pl.col("period") == 1).select("scenario", "draw", "sector", "tariff")
    step = (changed.filter(pl.col("scenario") == "with_tariff")
            .join(changed.filter(pl.col("scenario") == "without_tariff"), on=["draw", "sector"], suffix="_0")
            .join(weights.filter(pl.col("scenario") == "without_tariff"), on=["draw", "sector"]))
    log_change = float((step["weight"] * (np.log1p(step["tariff"]) - np.log1p(step["tariff_0"]))).sum()
                       / step["weight"].sum())
    flows = (pair.join(weights, on=["scenario", "draw", "sector"])
             .group_by("scenario", "draw", "period")
             .agg(pl.col("exports", "exports_intensive", "exports_extensive", "stock_change", "exporters",
                         "exits").sum(),
                  (pl.col("export_price_index") * pl.col("weight")).sum().alias("price_weighted"))
             .sort("scenario", "draw", "period"))
    windows = [(f"{h} months", (h, h)) for h in HORIZONS if h < periods]
    windows += [("year 1", (1, 12)), ("years 8-10", (85, 120))]
    rows = []
    for label, (first, last) in windows:
        if last >= periods:
            continue
        sums = (flows.filter(pl.col("period").is_between(first, last))
                .group_by("scenario", "draw").agg(pl.col("exports", "exports_intensive", "exports_extensive",
                                                         "stock_change", "price_weighted").sum()))
        wide = sums.filter(pl.col("scenario") == "with_tariff").join(
            sums.filter(pl.col("scenario") == "without_tariff"), on="draw", suffix="_0").sort("draw")
        x1, x0 = wide["exports"].to_numpy(), wide["exports_0"].to_numpy()
        total = np.log(x1 / x0) / log_change
        intensive = (wide["exports_intensive"] - wide["exports_intensive_0"]).to_numpy() / x0 / log_change
        extensive = (wide["exports_extensive"] - wide["exports_extensive_0"]).to_numpy() / x0 / log_change
        stocks = (wide["stock_change"] - wide["stock_change_0"]).to_numpy() / x0 / log_change
        price = np.log(wide["price_weighted"].to_numpy() / wide["price_weighted_0"].to_numpy()) / log_change
        rows.append({"horizon": label, "months": f"{first}-{last}" if first != last else str(first),
                     "elasticity": float(total.mean()), "p5": float(np.percentile(total, 5)),
                     "p95": float(np.percentile(total, 95)), "intensive": float(intensive.mean()),
                     "extensive": float(extensive.mean()), "stocks": float(stocks.mean()),
                     "price": float(price.mean()),
                     "volume": float((total - price).mean())})
    quiet = flows.filter((pl.col("scenario") == "without_tariff") & (pl.col("period") >= 1))
    churn = float((quiet["exits"] / quiet["exporters"]).mean())
    return pl.DataFrame(rows), churn


def format_profile(profile, exporter, importer, tariff):
    """The profile as the terminal table ``engine diagnose`` prints."""
    head = (f"Trade elasticity of {exporter} -> {importer} customs-value exports w.r.t. 1 + tariff "
            f"(permanent unanticipated +{tariff:.2%} from month 1, PE, vs the same draws without it)")
    lines = [head, f"{'horizon':<12} {'months':>7} {'elasticity':>10} {'[5%-95%]':>16} {'intensive':>9} "
                   f"{'extensive':>9} {'stocks':>7} {'price':>7} {'volume':>7}"]
    for r in profile.iter_rows(named=True):
        lines.append(f"{r['horizon']:<12} {r['months']:>7} {r['elasticity']:>10.2f} "
                     f"{'[' + format(r['p5'], '.2f') + ', ' + format(r['p95'], '.2f') + ']':>16} "
                     f"{r['intensive']:>9.2f} {r['extensive']:>9.2f} {r['stocks']:>7.2f} {r['price']:>7.2f} "
                     f"{r['volume']:>7.2f}")
    return "\n".join(lines)

