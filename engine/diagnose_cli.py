"""``engine diagnose``: print the elasticity profile the model implies (``engine.diagnose``)."""

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
@click.option("--mode", type=click.Choice(["forward", "myopic", "static"]), default="forward", show_default=True,
              help="Firm model: forward-looking dynamic, myopic dynamic, or the static model.")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Also write the profile as a CSV (or .parquet) file.")
def diagnose_command(exporter, importer, tariff, draws, firms, seed, mode, calibration, out):
    """Trade elasticity by horizon for a small permanent tariff (PE), split into margins.

    Measured as Boehm, Levchenko & Pandalai-Nayar (2023): customs-value exports of one pair with
    and without the tariff on the same draws; 1, 3, 6, 12, 24, 60, 120 months and annual year 1
    and years 8-10.

    \b
    Examples:
      engine diagnose
      engine diagnose --exporter CHN --tariff 0.05 --draws 8 --out profile.csv
    """
    from engine.diagnose import diagnose, format_profile
    from engine.errors import InputError

    if not 0.0 < tariff <= 1.0:
        raise InputError("--tariff", f"must be in (0, 1] (a fraction; 0.01 is one point), got {tariff!r}")
    profile, churn = diagnose(calibration, exporter=exporter, importer=importer, tariff=tariff, draws=draws,
                              firms=firms, seed=seed, dynamics={"mode": mode})
    click.echo(format_profile(profile, exporter, importer, tariff))
    click.echo(f"Exporters of the pair leaving per month without the tariff: {churn:.2%} of exporters")
    if out:
        (profile.write_parquet if out.endswith(".parquet") else profile.write_csv)(out)
        click.echo(f"Written: {out}")
