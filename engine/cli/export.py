"""``engine export``: one table of a finished run, filtered, as CSV, Excel or Parquet (``engine.outputs.export``)."""

import click

from engine import config

_FILTER_HELP = "Repeat or separate by commas."


@click.command("export")
@click.argument("run", type=click.Path())
@click.option("--table", "-t", required=True, type=click.Choice(config.TABLES), help="Table to export.")
@click.option("--format", "-f", "fmt", type=click.Choice(config.EXPORT_FORMATS), default="csv",
              show_default=True, help="File format.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="File to write [default: RUNNAME-TABLE.FORMAT here].")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--scenario", multiple=True, help=f"Scenario names. {_FILTER_HELP}")
@click.option("--origin", multiple=True, help=f"Exporting regions. {_FILTER_HELP}")
@click.option("--destination", multiple=True, help=f"Importing regions. {_FILTER_HELP}")
@click.option("--sector", multiple=True, help=f"Sectors (summary also has ALL). {_FILTER_HELP}")
@click.option("--region", multiple=True, help=f"Regions of the regions and prices tables. {_FILTER_HELP}")
@click.option("--periods", default=None, help="Inclusive range START:END of period numbers or YYYY-MM months, "
                                              "either side open (0:12, 2025-04:, :6, 2026-12).")
def export_command(run, table, fmt, out, overwrite, scenario, origin, destination, sector, region, periods):
    """Write one table of a finished run, filtered, as CSV, Excel or Parquet.

    \b
    Examples:
      engine export runs/usjp --table flows --origin JPN --destination USA
      engine export runs/usjp --table summary --sector ALL --periods 2025-04:2025-12 --format xlsx
      engine export runs/usjp --table regions --region USA,JPN --format parquet --out regions.parquet
    """
    from engine.outputs.export import export_table
    from engine.runs.folder import open_run

    path, rows = export_table(open_run(run), table, fmt, out=out, overwrite=overwrite, periods=periods,
                              scenario=scenario, origin=origin, destination=destination, sector=sector, region=region)
    click.echo(f"{rows:,} rows of {table} -> {path}")
