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
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for every sector: sigma, theta, shock_demand_sd, shock_cost_sd, "
                   "shock_corr, pass_through, sunk_cost_ratio, or a [dynamics] setting (persistence, "
                   "productivity_sd, grid_points, discount, half_life, price_reset, dollar_invoicing, inventories (1 or "
                   "0), inventory_months, inventory_adjustment, inventory_price_response). Repeatable.")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Also write the profile as a CSV (or .parquet) file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines while it runs.")
def diagnose_command(exporter, importer, tariff, draws, firms, seed, mode, settings, calibration, out, quiet):
    """Trade elasticity by horizon for a small permanent tariff (PE), split into margins.

    Measured as Boehm, Levchenko & Pandalai-Nayar (2023): customs-value exports of one pair with
    and without the tariff on the same draws; 1, 3, 6, 12, 24, 60, 120 months and annual year 1
    and years 8-10.

    \b
    Examples:
      engine diagnose
      engine diagnose --exporter CHN --tariff 0.05 --draws 8 --out profile.csv
      engine diagnose --set theta=2.5 --set sigma=2.0 --set half_life=9
    """
    from engine.errors import InputError
    from engine.runs.diagnose import PERIODS, diagnose, format_profile

    if not 0.0 < tariff <= 1.0:
        raise InputError("--tariff", f"must be in (0, 1] (a fraction; 0.01 is one point), got {tariff!r}")
    dynamics, parameters, lam = parse_settings(settings)
    options = dict(exporter=exporter, importer=importer, tariff=tariff, draws=draws, firms=firms, seed=seed,
                   dynamics={"mode": mode, **dynamics}, sunk_cost_ratio=lam, parameters=parameters)
    if quiet:
        profile, churn = diagnose(calibration, progress=False, **options)
    else:
        import sys

        from engine.progress import CliProgress

        click.echo(f"Simulating {draws} draw(s) of {mode} firms for {PERIODS} months, with and without the "
                   "tariff...", err=True)
        with CliProgress(sys.stderr) as progress:
            profile, churn = diagnose(calibration, progress=progress, **options)
    click.echo(format_profile(profile, exporter, importer, tariff))
    if settings:
        click.echo("Settings: " + ", ".join(settings))
    click.echo(f"Exporters of the pair leaving per month without the tariff: {churn:.2%} of exporters")
    if out:
        (profile.write_parquet if out.endswith(".parquet") else profile.write_csv)(out)
        click.echo(f"Written: {out}")


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
