"""``engine diagnose``: print the elasticity profile the model implies (``engine.runs.diagnose``)."""

import click

from engine import config


@click.command("diagnose")
@click.option("--exporter", default="JPN", show_default=True, help="Exporting region of the tariffed pair.")
@click.option("--importer", default="USA", show_default=True, help="Importing region that sets the tariff.")
@click.option("--tariff", type=float, default=0.01, show_default=True,
              help="Added permanent ad-valorem tariff (fraction), unanticipated, from month 1.")
@click.option("--draws", "-n", type=int, default=4, show_default=True, help="Monte Carlo draws.")
@click.option("--firms", "-m", type=int, default=config.DEFAULT_FIRMS, show_default=True,
              help="Simulated firms per origin-sector.")
@click.option("--seed", "-s", type=int, default=config.DEFAULT_SEED, show_default=True, help="Seed.")
@click.option("--mode", type=click.Choice(config.DYNAMICS_MODES), default="forward", show_default=True,
              help="Firm model: forward-looking dynamic, myopic dynamic, or the static model.")
@click.option("--closure", type=click.Choice(config.PARTIAL_CLOSURES), default=config.PARTIAL_CLOSURES[0], show_default=True,
              help="Partial equilibrium with moving price indices (untaxed suppliers gain) or fixed ones.")
@click.option("--fgkk-exporter", default="CHN", show_default=True,
              help="Supplier of the 2018-19 experiment (Fajgelbaum et al. 2020); 'none' to skip it.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for every sector: sigma, theta, shock_demand_sd, shock_cost_sd, "
                   "shock_corr, pass_through, sunk_cost_ratio, or a [dynamics] setting (persistence, "
                   "productivity_sd, grid_points, discount, half_life, relationship_loss, price_reset, "
                   "dollar_invoicing, inventories (1 or 0), inventory_months, inventory_adjustment, "
                   "inventory_price_response). Repeatable.")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Also write BLP's annual profile as a CSV (or .parquet) file, and the monthly one next to it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines while it runs.")
def diagnose_command(exporter, importer, tariff, draws, firms, seed, mode, closure, fgkk_exporter, settings,
                     calibration, out, quiet):
    """Trade elasticity by horizon for a small permanent tariff, against the published evidence.

    Measured as Boehm, Levchenko & Pandalai-Nayar (2023): customs-value exports of one pair with and
    without the tariff on the same draws, annual, relative to the untaxed suppliers of the market,
    h = 0..10 years after the year of the change; next to it the 2018-19 experiment (Fajgelbaum et
    al. 2020) and the monthly profile split into margins (docs/model.md section 11.8).

    \b
    Examples:
      engine diagnose
      engine diagnose --exporter CHN --tariff 0.05 --draws 8 --out profile.csv
      engine diagnose --set theta=2.5 --set sigma=2.0 --set half_life=9
    """
    from pathlib import Path

    from engine.errors import InputError
    from engine.runs.diagnose import FGKK_MONTHS, PERIODS, diagnose, format_diagnosis

    if not 0.0 < tariff <= 1.0:
        raise InputError("--tariff", f"must be in (0, 1] (a fraction; 0.01 is one point), got {tariff!r}")
    dynamics, parameters, lam = parse_settings(settings)
    fgkk_exporter = None if fgkk_exporter.lower() == "none" else fgkk_exporter
    options = dict(exporter=exporter, importer=importer, tariff=tariff, draws=draws, firms=firms, seed=seed,
                   dynamics={"mode": mode, **dynamics}, sunk_cost_ratio=lam, parameters=parameters, closure=closure,
                   fgkk_exporter=fgkk_exporter)
    if quiet:
        diagnosis = diagnose(calibration, progress=False, **options)
    else:
        import sys

        from engine.progress import CliProgress

        click.echo(f"Simulating {draws} draw(s) of {mode} firms for {PERIODS} months with and without the tariff"
                   + ("" if fgkk_exporter is None else f", then {FGKK_MONTHS + 1} months of the 2018-19 experiment")
                   + "...", err=True)
        with CliProgress(sys.stderr) as progress:
            diagnosis = diagnose(calibration, progress=progress, **options)
    click.echo(format_diagnosis(diagnosis, exporter, importer, tariff, closure, fgkk_exporter))
    if settings:
        click.echo("Settings: " + ", ".join(settings))
    click.echo(f"Exporters of the pair leaving per month without the tariff: {diagnosis.churn:.2%} of exporters")
    if out:
        out = Path(out)
        monthly = out.with_name(out.stem + "_monthly" + out.suffix)
        for table, path in ((diagnosis.annual, out), (diagnosis.profile, monthly)):
            (table.write_parquet if path.suffix == ".parquet" else table.write_csv)(path)
        click.echo(f"Written: {out} (annual, BLP's) and {monthly} (monthly, with margins)")


def parse_settings(settings):
    """``NAME=VALUE`` overrides: ([dynamics] settings, firm parameters, sunk-cost ratio or None)."""
    from engine.errors import InputError
    from engine.scenario.schema import PARAMETERS, Dynamics

    dynamic_names = [name for name in Dynamics.model_fields if name != "mode"]
    allowed = ", ".join([*PARAMETERS, *dynamic_names])
    dynamics, parameters, lam = {}, {}, None
    for item in settings:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or value is None:
            raise InputError("--set", f"expected NAME=VALUE with a number, got {item!r}")
        if name == "sunk_cost_ratio":
            lam = value
        elif name in PARAMETERS:
            parameters[name] = value
        elif name == "inventories":
            if value not in (0.0, 1.0):
                raise InputError("--set", f"inventories is 1 (importers' stocks on) or 0 (off), got {text.strip()!r}")
            dynamics[name] = bool(value)
        elif name in dynamic_names:
            dynamics[name] = int(value) if name == "grid_points" and value.is_integer() else value
        else:
            raise InputError("--set", f"unknown name {name!r}; allowed: {allowed}")
    return dynamics, parameters, lam
