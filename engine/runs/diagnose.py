"""``engine diagnose``: the trade elasticity the model implies, horizon by horizon.

Measured as Boehm, Levchenko & Pandalai-Nayar (AER 2023) measure it (docs/model.md section 11.8):
partial equilibrium (the default ``pe_moving``, whose untaxed suppliers gain), a small permanent
unanticipated bilateral tariff on every sector of one exporter-importer pair from period ``CHANGE``,
against the same draws without it (common random numbers: the same firms and shocks).

- **BLP's annual profile** (``Diagnosis.annual``): for ``h = 0..10``, the log change of the pair's
  customs exports summed over year ``t + h`` (``t`` the year of the change), against the same draw
  without the tariff and less the same change of the untaxed suppliers of the market, per sector,
  averaged with the pair's baseline export weights, over ``log((1 + t1) / (1 + t0))``. BLP's
  changes fall throughout the year, so the change is placed in each month of year ``t`` in turn and
  the twelve are averaged; ``january`` and ``july`` show what the placement does.
- **The monthly profile** (``Diagnosis.profile``) at 1, 3, 6, 12, 24, 60 and 120 months after the
  change and over months 1-12 and 85-120, split into the intensive and extensive margins of final
  sales (the exact split of section 5) and importers' stock changes (section 11.9), each divided by
  the flow without the tariff, and into price (customs unit value) and volume.
- **The 2018-19 experiment** (``Diagnosis.fgkk``; Fajgelbaum, Goldberg, Kennedy & Khandelwal 2020): a
  tariff rise of 14 points on a supplier's targeted sectors, the log change of their customs exports
  over the first 12 months against the supplier's untargeted sectors, at full pass-through.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from engine import config
from engine.errors import InputError
from engine.runs.simulate import simulate
from engine.scenario.defaults import DEFAULT_SUNK_COST_RATIO
from engine.scenario.read import parse_scenario

#: Horizons (months after the change) of the monthly profile.
HORIZONS = (1, 3, 6, 12, 24, 60, 120)
#: The period in which the tariff starts: a year of months before it, so that a change in any month of
#: year ``t`` has its whole year ``t`` simulated.
CHANGE = 12
#: BLP's annual horizons ``h`` (years after the year of the change, ``h = 0`` that year).
YEARS = tuple(range(11))
#: Months simulated by default: year 10 of a change in the first month of its year ends in month 143.
PERIODS = CHANGE + 12 * YEARS[-1] + 12
#: How the experiment's scenarios (built here, not read from files) are named in errors and manifests.
SETTINGS = "engine diagnose settings"
#: The 2018-19 experiment: the sectors taxed (Fajgelbaum et al.'s Lists 1-3 were mostly intermediate and
#: capital goods; docs/model.md section 11.8), the untaxed ones the comparison, the rise of the tariff on
#: the targeted products (2.6% to 16.6%), and the months after the change over which it is measured.
FGKK_TARGETED = ("chem_pharma_plastics", "metals", "machinery", "electronics_instruments", "motor_vehicles_parts")
FGKK_RISE = (0.026, 0.166)
FGKK_MONTHS = 12


@dataclass(frozen=True)
class Target:
    """A published moment: value, an interval (``low``, ``high``), the standard error that weighs it in the
    fit (``data/identify_dynamics.py --elasticities``) and its source."""

    value: float
    low: float
    high: float
    se: float
    source: str


_FGKK_LOG_RISE = float(np.log(1.166 / 1.026))

#: The published targets ``engine diagnose`` prints next to the model (docs/model.md section 11.8).
TARGETS = {
    "h1": Target(-0.76, -1.0, -0.5, 0.11, "Boehm, Levchenko & Pandalai-Nayar (AER 2023), abstract: -0.76 in the "
                 "year following the change; se about 0.11 (unverified); band of issue 22"),
    "long_run": Target(-2.0, -2.6, -1.5, 0.32, "BLP 2023: about -2 after 7-10 years (working paper -1.75 to "
                       "-2.25); mean of h = 8-10 here; se of h = 10 about 0.32 (unverified); band of issue 22"),
    "stopper": Target(0.17, 0.14, 0.20, 0.03, "Alessandria, Choi & Ruhl (JIE 2021): stopper rate 17.0% among surviving "
                      "US plants (their replication files); band of issue 22 (3 pp)"),
    "fgkk": Target(float(np.log(1.0 - 0.315)), -3.05 * _FGKK_LOG_RISE, -2.01 * _FGKK_LOG_RISE, 0.26 * _FGKK_LOG_RISE,
                   "Fajgelbaum, Goldberg, Kennedy & Khandelwal (QJE 2020): targeted varieties' imports -31.5% "
                   "relative to untargeted ones; interval and se: their variety elasticity 2.53 (se 0.26, "
                   "unverified here) times the log rise of 1 + tariff, 2.6% to 16.6%"),
}


@dataclass
class Diagnosis:
    """What ``diagnose`` measures.

    Attributes
    ----------
    profile : polars.DataFrame
        The monthly profile and its margins: one row per horizon (``horizon``, ``months``,
        ``elasticity``, ``p5``, ``p95``, ``intensive``, ``extensive``, ``stocks``, ``price``, ``volume``).
    annual : polars.DataFrame
        BLP's profile: one row per ``h`` (0-10) with ``elasticity`` (the change falling uniformly over
        the year), ``p5``/``p95`` across draws, ``january`` and ``july`` (the change in that month).
    long_run : tuple of float
        Mean of ``h = 8-10``: (mean, p5, p95) across draws.
    fgkk : tuple of float or None
        The 2018-19 experiment's relative log change of the targeted sectors' exports: (mean, p5, p95).
    churn : float
        Monthly exits / exporters of the pair without the tariff.
    stopper : float or None
        The annual stopper rate with no policy: the share of the pair's exporters in year ``t - 1``
        that do not export there in year ``t`` (the identification panel of ``engine.firms.panel``: the
        calibration's firms and scores, the run's dynamics settings, ``sunk_cost_ratio`` and ``sigma``;
        other ``--set`` firm parameters do not enter it; None for the static model).
    """

    profile: pl.DataFrame
    annual: pl.DataFrame
    long_run: tuple
    fgkk: tuple | None
    churn: float
    stopper: float | None = None

    def moments(self):
        """The fitted moments, keyed as ``TARGETS``: BLP's ``h1`` and ``long_run``, the ``fgkk`` experiment and the
        ``stopper`` rate (None where not measured)."""
        h1 = self.annual.filter(pl.col("h") == 1)["elasticity"]
        return {"h1": float(h1[0]) if h1.len() else None,
                "long_run": None if self.long_run is None else self.long_run[0],
                "fgkk": None if self.fgkk is None else self.fgkk[0], "stopper": self.stopper}


def _scenario_text(name, exporter, importer, tariffs, periods, dynamics, sunk_cost_ratio, parameters, closure):
    lines = [f'name = "{name}"', 'start = "2025-01"', f"periods = {periods}", f'closure = "{closure}"',
             f'focus = {{ exporter = "{exporter}", importer = "{importer}" }}',
             f"sunk_cost_ratio = {sunk_cost_ratio!r}", "", "[dynamics]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}".replace("'", '"')
              for k, v in dynamics.items()]
    for key, value in parameters.items():
        lines += ["", "[[parameter]]", f'name = "{key}"', 'dist = "fixed"', f"value = {float(value)!r}"]
    for date, sectors, rate in tariffs:
        sectors = '"ALL"' if sectors == "ALL" else "[" + ", ".join(f'"{k}"' for k in sectors) + "]"
        lines += ["", "[[tariff]]", f'date = "{date}"', f'importer = "{importer}"', f'exporter = "{exporter}"',
                  f"sectors = {sectors}", f"rate = {rate!r}", 'mode = "add"']
    return "\n".join(lines) + "\n"


def _period_date(period):
    """The first day of ``period`` (period 0 = January 2025)."""
    return f"{2025 + period // 12}-{period % 12 + 1:02d}-01"


def _run(calibration, names_tariffs, *, exporter, importer, periods, dynamics, lam, parameters, closure, draws,
         firms, seed, threads, progress):
    texts = [_scenario_text(name, exporter, importer, tariffs, periods, dynamics, lam, parameters, closure)
             for name, tariffs in names_tariffs]
    scenarios = [parse_scenario(text, SETTINGS) for text in texts]
    run = simulate(scenarios, draws=draws, firms=firms, seed=seed, calibration=calibration, threads=threads,
                   progress=progress)
    return run.scan("flows").filter(pl.col("destination") == importer).select(
        "scenario", "draw", "period", "origin", "sector", "exports", "exports_intensive", "exports_extensive",
        "stock_change", "exporters", "exits", "export_price_index", "tariff").collect()


def _relative_log_change(market, exporter, importer, first, last, sectors=None, against_others=True):
    """Per draw: the taxed pair's log change of customs exports over periods ``first..last`` against the
    same draw without the tariff, less that of the untaxed suppliers of the same market (every other
    foreign origin; not with ``against_others=False``), sector by sector, averaged with the pair's
    period-0 export weights (BLP's fixed effects difference out the market's own change; so does the
    comparison here). ``sectors``: those averaged (default all)."""
    window = market.filter(pl.col("period").is_between(first, last) & (pl.col("origin") != importer))
    if sectors is not None:
        window = window.filter(pl.col("sector").is_in(list(sectors)))
    window = window.with_columns((pl.col("origin") == exporter).alias("taxed"))
    sums = window.group_by("scenario", "draw", "sector", "taxed").agg(pl.col("exports").sum())
    wide = sums.filter(pl.col("scenario") == "with_tariff").join(
        sums.filter(pl.col("scenario") == "without_tariff"), on=["draw", "sector", "taxed"], suffix="_0")
    wide = wide.with_columns((pl.col("exports") / pl.col("exports_0")).log().alias("change"))
    taxed = wide.filter(pl.col("taxed")).select("draw", "sector", "change")
    others = wide.filter(~pl.col("taxed")).select("draw", "sector", pl.col("change").alias("others"))
    weights = market.filter((pl.col("period") == 0) & (pl.col("origin") == exporter)
                            & (pl.col("scenario") == "without_tariff")).select("draw", "sector",
                                                                                 pl.col("exports").alias("w"))
    both = taxed.join(others, on=["draw", "sector"], how="left").join(weights, on=["draw", "sector"])
    # a sector the pair does not trade (no exports in the window or at baseline) has no change to weigh
    both = both.filter((pl.col("w") > 0) & pl.col("change").is_finite())
    both = both.with_columns(pl.col("others").fill_null(0.0).fill_nan(0.0) * float(against_others))
    out = both.group_by("draw").agg(((pl.col("change") - pl.col("others")) * pl.col("w")).sum()
                                    / pl.col("w").sum()).sort("draw")
    return out["change"].to_numpy()


def _log_tariff_change(market, exporter, period, sectors=None):
    """The change in log(1 + tariff) the pair saw in ``period``, averaged over (``sectors``) with the
    pair's period-0 export weights (MFN rates differ by sector)."""
    pair = market.filter(pl.col("origin") == exporter)
    if sectors is not None:
        pair = pair.filter(pl.col("sector").is_in(list(sectors)))
    weights = pair.filter((pl.col("period") == 0) & (pl.col("scenario") == "without_tariff")).select(
        "draw", "sector", pl.col("exports").alias("weight"))
    changed = pair.filter(pl.col("period") == period).select("scenario", "draw", "sector", "tariff")
    step = (changed.filter(pl.col("scenario") == "with_tariff")
            .join(changed.filter(pl.col("scenario") == "without_tariff"), on=["draw", "sector"], suffix="_0")
            .join(weights, on=["draw", "sector"]))
    return float((step["weight"] * (np.log1p(step["tariff"]) - np.log1p(step["tariff_0"]))).sum()
                 / step["weight"].sum())


def _band(values):
    return float(np.mean(values)), float(np.percentile(values, 5)), float(np.percentile(values, 95))


def diagnose(calibration=None, *, exporter="JPN", importer="USA", tariff=0.01, draws=4, firms=20_000, seed=2025,
             periods=PERIODS, dynamics=None, sunk_cost_ratio=None, parameters=None, closure=None,
             fgkk_exporter="CHN", threads=None, progress="auto"):
    """Run the permanent-tariff experiment (and the 2018-19 one) and return what they imply.

    Parameters
    ----------
    calibration : path, optional
    exporter, importer : str
    tariff : float
        The added ad-valorem tariff (default 1 percentage point), from period ``CHANGE``.
    draws, firms, seed, threads, progress : as in ``engine.simulate``
    periods : int
        Months simulated (BLP's ``h = 10`` needs ``PERIODS``; fewer give the horizons that fit).
    dynamics : dict, optional
        ``[dynamics]`` settings (default: ``mode = "forward"`` with the default parameters).
    sunk_cost_ratio : float, optional
        Lambda (default: the calibrated default of ``engine.scenario.defaults``).
    parameters : dict, optional
        Firm parameters fixed for every sector (and origin) instead of the calibration's: ``sigma``,
        ``theta``, ``shock_demand_sd``, ``shock_cost_sd``, ``shock_corr``, ``pass_through``, ``eta`` (a
        scenario's ``[[parameter]]`` with ``dist = "fixed"``), to see what other values imply.
    closure : str, optional
        ``pe_moving`` (default) or ``pe``.
    fgkk_exporter : str or None
        The supplier of the 2018-19 experiment (``FGKK_TARGETED`` taxed, measured against its other
        sectors); ``None``: not run.

    Returns
    -------
    Diagnosis
    """
    dynamics = {"mode": "forward", **(dynamics or {})}
    lam = DEFAULT_SUNK_COST_RATIO if sunk_cost_ratio is None else sunk_cost_ratio
    closure = closure or config.PARTIAL_CLOSURES[0]
    if closure not in config.PARTIAL_CLOSURES:
        raise InputError("--closure", f"must be one of {', '.join(config.PARTIAL_CLOSURES)} (the experiment is "
                                      f"partial equilibrium, as BLP's), got {closure!r}")
    if periods < CHANGE + 12:
        raise InputError("periods", f"must be at least {CHANGE + 12} (a year after the change), got {periods}")
    if fgkk_exporter is not None:
        _check_fgkk(calibration, fgkk_exporter, importer)
    options = dict(exporter=exporter, importer=importer, dynamics=dynamics, lam=lam, parameters=parameters or {},
                   closure=closure, draws=draws, firms=firms, seed=seed, threads=threads, progress=progress)
    market = _run(calibration, [("with_tariff", [(_period_date(CHANGE), "ALL", tariff)]), ("without_tariff", [])],
                  periods=periods, **options)
    log_change = _log_tariff_change(market, exporter, CHANGE)
    profile = _monthly_profile(market.filter(pl.col("origin") == exporter), periods, log_change)
    rows, by_year = [], {}
    for h in YEARS:
        # a change in month k (1-12) of year t: year t + h is periods CHANGE + 12 h - (k - 1) .. + 11
        by_month = [_relative_log_change(market, exporter, importer, CHANGE + 12 * h - (k - 1),
                                         CHANGE + 12 * h - (k - 1) + 11) / log_change
                    for k in range(1, 13) if CHANGE + 12 * h - (k - 1) + 11 < periods]
        if len(by_month) < 12:
            break
        by_year[h] = np.mean(by_month, axis=0)  # per draw, the change placed uniformly over the year
        mean, p5, p95 = _band(by_year[h])
        rows.append({"h": h, "elasticity": mean, "p5": p5, "p95": p95, "january": float(by_month[0].mean()),
                     "july": float(by_month[6].mean())})
    annual = pl.DataFrame(rows, schema={"h": pl.Int64, "elasticity": pl.Float64, "p5": pl.Float64,
                                        "p95": pl.Float64, "january": pl.Float64, "july": pl.Float64})
    long_run = _band(np.mean([by_year[h] for h in (8, 9, 10)], axis=0)) if annual.height == len(YEARS) else None
    quiet = (market.filter((pl.col("origin") == exporter) & (pl.col("scenario") == "without_tariff")
                           & (pl.col("period") >= 1))
             .group_by("draw", "period").agg(pl.col("exits", "exporters").sum()))
    churn = float((quiet["exits"] / quiet["exporters"]).mean())
    found = None
    if fgkk_exporter is not None:
        # the targeted sectors' log change against the no-tariff path, less that of the supplier's untargeted
        # sectors, at the rise of the tariff Fajgelbaum et al. saw (the rise added here is the same in
        # points; the MFN base differs, so the response is scaled to their log rise)
        rise = float(np.log1p(FGKK_RISE[1]) - np.log1p(FGKK_RISE[0]))
        fgkk_options = {**options, "exporter": fgkk_exporter,
                        "parameters": {**options["parameters"], "pass_through": 1.0}}
        experiment = _run(calibration, [("with_tariff", [("2025-02-01", FGKK_TARGETED, FGKK_RISE[1] - FGKK_RISE[0])]),
                                        ("without_tariff", [])], periods=1 + FGKK_MONTHS, **fgkk_options)
        targeted = _relative_log_change(experiment, fgkk_exporter, importer, 1, FGKK_MONTHS, FGKK_TARGETED, False)
        untargeted = set(experiment["sector"].unique()) - set(FGKK_TARGETED)
        base = _relative_log_change(experiment, fgkk_exporter, importer, 1, FGKK_MONTHS, untargeted, False) \
            if untargeted else np.zeros_like(targeted)
        step = _log_tariff_change(experiment, fgkk_exporter, 1, FGKK_TARGETED)
        found = _band((targeted - base) * rise / step)
    stopper = None if dynamics["mode"] == "static" else _stopper_rate(calibration, exporter, importer, dynamics, lam,
                                                                       parameters or {}, seed, min(firms, 5000))
    return Diagnosis(profile, annual, long_run, found, churn, stopper)


def _stopper_rate(calibration, exporter, importer, dynamics, lam, parameters, seed, firms):
    """The annual stopper rate of the pair's firms with no policy, from the identification panel
    (``engine.firms.panel``: the calibration's firms of the pair, the run's dynamics settings)."""
    from dataclasses import replace

    from engine.firms.panel import draw_panel, model_moments
    from engine.scenario.defaults import productivity_sd_for
    from engine.scenario.schema import Dynamics

    settings = Dynamics(**dynamics)
    panel = draw_panel(seed, firms, exporter=exporter, importer=importer, calibration=calibration)
    if "sigma" in parameters:
        panel = replace(panel, sigma=np.full_like(panel.sigma, float(parameters["sigma"])))
    constants = {"grid_points": settings.grid_points, "discount": 0.0 if settings.mode == "myopic" else settings.discount}
    s_z = productivity_sd_for(settings, panel.sigma)
    moments = model_moments(settings.persistence ** 12, s_z, lam, panel, constants=constants,
                            relationship_loss=settings.relationship_loss)
    return float(moments["exit_rate"])


def _check_fgkk(calibration, exporter, importer):
    """One clear error, before anything runs, when the calibration cannot hold the 2018-19 experiment."""
    from engine.calibration.data import load_calibration
    from engine.paths import default_calibration_dir

    cal = load_calibration(calibration or default_calibration_dir())
    missing = [k for k in FGKK_TARGETED if k not in cal.sectors]
    if exporter not in cal.regions or exporter == importer or missing or len(cal.sectors) == len(FGKK_TARGETED):
        why = (f"region {exporter!r} is not in the calibration ({', '.join(cal.regions)})" if exporter not in cal.regions
               else f"the supplier {exporter!r} is the importer" if exporter == importer
               else f"it taxes the sectors {', '.join(FGKK_TARGETED)} and compares them with the others; the "
                    f"calibration's sectors are {', '.join(cal.sectors)}")
        raise InputError("--fgkk-exporter", f"the 2018-19 experiment cannot run: {why}. Name another supplier, or "
                                            "'none' to skip it")


def _monthly_profile(pair, periods, log_change):
    """The monthly profile of the pair's exports and its margins (``Diagnosis.profile``)."""
    weights = pair.filter(pl.col("period") == 0).select("scenario", "draw", "sector",
                                                        pl.col("exports").alias("weight"))
    flows = (pair.join(weights, on=["scenario", "draw", "sector"])
             .group_by("scenario", "draw", "period")
             .agg(pl.col("exports", "exports_intensive", "exports_extensive", "stock_change").sum(),
                  (pl.col("export_price_index") * pl.col("weight")).sum().alias("price_weighted"))
             .sort("scenario", "draw", "period"))
    windows = [(f"{h} months", (h, h)) for h in HORIZONS]
    windows += [("year 1", (1, 12)), ("years 8-10", (85, 120))]
    rows = []
    for label, (first, last) in windows:
        if CHANGE - 1 + last >= periods:
            continue
        sums = (flows.filter(pl.col("period").is_between(CHANGE - 1 + first, CHANGE - 1 + last))
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
    return pl.DataFrame(rows)


def format_diagnosis(diagnosis, exporter, importer, tariff, closure=None, fgkk_exporter="CHN"):
    """The terminal tables ``engine diagnose`` prints: BLP's annual profile with its targets, the 2018-19
    experiment, the monthly profile and its margins."""
    closure = closure or config.PARTIAL_CLOSURES[0]
    h1, late, fg = TARGETS["h1"], TARGETS["long_run"], TARGETS["fgkk"]
    lines = [f"Trade elasticity of {exporter} -> {importer} customs-value exports w.r.t. 1 + tariff, relative to the "
             f"untaxed suppliers of {importer} (BLP's annual local projections; permanent unanticipated "
             f"+{tariff:.2%}, {closure}, against the same draws without it)",
             f"{'h':>3} {'elasticity':>10} {'[5%-95%]':>16} {'change in Jan':>14} {'in Jul':>7}  target"]
    for r in diagnosis.annual.iter_rows(named=True):
        target = f"{h1.value:.2f} [{h1.low:.2f}, {h1.high:.2f}]" if r["h"] == 1 else ""
        lines.append(f"{r['h']:>3} {r['elasticity']:>10.2f} {_interval(r['p5'], r['p95']):>16} "
                     f"{r['january']:>14.2f} {r['july']:>7.2f}  {target}")
    if diagnosis.long_run is not None:
        mean, p5, p95 = diagnosis.long_run
        lines.append(f"{'8-10':>4}{mean:>10.2f} {_interval(p5, p95):>16} {'':>14} {'':>7}  "
                     f"{late.value:.2f} [{late.low:.2f}, {late.high:.2f}]")
    lines.append("h = 0 is the year of the change; the change falls in each month of it in turn (averaged), or in "
                 "January or July only.")
    if diagnosis.fgkk is not None:
        mean, p5, p95 = diagnosis.fgkk
        lines += ["", f"2018-19 experiment ({fgkk_exporter} -> {importer}, full pass-through): tariff 2.6% -> 16.6% on "
                      f"{', '.join(FGKK_TARGETED)}; log change of their exports over months 1-{FGKK_MONTHS} "
                      "against the untargeted sectors",
                  f"    model {mean:.2f} {_interval(p5, p95)}   target {fg.value:.2f} [{fg.low:.2f}, {fg.high:.2f}] "
                  "(Fajgelbaum et al. 2020: -31.5%)"]
    if diagnosis.stopper is not None:
        st = TARGETS["stopper"]
        lines += ["", f"Annual stopper rate, no policy ({exporter} -> {importer} exporters in year t-1 that do not export "
                      f"there in year t; identification panel): {diagnosis.stopper:.1%}   target {st.value:.0%} [{st.low:.0%}, {st.high:.0%}] "
                      "(Alessandria, Choi & Ruhl 2021)"]
    lines += ["", f"Monthly profile of {exporter} -> {importer} (not relative; months after the change) and its "
                  "margins",
              f"{'horizon':<12} {'months':>7} {'elasticity':>10} {'[5%-95%]':>16} {'intensive':>9} "
              f"{'extensive':>9} {'stocks':>7} {'price':>7} {'volume':>7}"]
    for r in diagnosis.profile.iter_rows(named=True):
        lines.append(f"{r['horizon']:<12} {r['months']:>7} {r['elasticity']:>10.2f} "
                     f"{_interval(r['p5'], r['p95']):>16} "
                     f"{r['intensive']:>9.2f} {r['extensive']:>9.2f} {r['stocks']:>7.2f} {r['price']:>7.2f} "
                     f"{r['volume']:>7.2f}")
    return "\n".join(lines)


def _interval(low, high):
    return f"[{low:.2f}, {high:.2f}]"
