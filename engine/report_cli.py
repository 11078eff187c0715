"""The ``engine report``, ``engine export`` and ``engine summary`` commands: parse, call, print.
Heavy modules are imported inside the commands so that ``engine --help`` stays quick."""

from pathlib import Path

import click

_FILTER_HELP = "Repeat or separate by commas."


@click.command("report")
@click.argument("run", type=click.Path())
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: RUN/report.html].")
@click.option("--figures", type=click.Path(file_okay=False), default=None,
              help="Also write every chart as PNG and SVG (and figures.json) into this folder.")
@click.option("--scale", type=click.FloatRange(0.5, 8), default=2.0, show_default=True,
              help="PNG pixels per chart pixel.")
def report_command(run, out, figures, scale):
    """Charts of a finished run in one self-contained HTML page (opens offline).

    \b
    Shows: the tariff calendar on every branch path, fan charts of the focus pair's exports,
    exporters, entries and exits, the intensive/extensive split, welfare, prices and tariff
    revenue by region, which sampled input drives the spread, how precise the bands are, firms
    by size decile (with --firm-output), and scenario differences.

    \b
    Examples:
      engine report runs/usjp
      engine report runs/usjp --out usjp.html --figures figures/
    """
    try:
        from engine.report import build_report
        from engine.runs import open_run

        result = open_run(run)
        out = Path(out) if out else result.path / "report.html"
        report = build_report(result, out=out, figures=figures, scale=scale)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Report: {out} ({len(report.charts)} charts)")
    if figures:
        click.echo(f"Figures (PNG and SVG): {figures}")
    for note in report.notes:
        click.echo(f"  not shown: {note}")


@click.command("export")
@click.argument("run", type=click.Path())
@click.option("--table", "-t", required=True, type=click.Choice(["flows", "summary", "regions", "draws", "prices",
                                                                  "firms"]), help="Table to export.")
@click.option("--format", "-f", "fmt", type=click.Choice(["csv", "xlsx", "parquet"]), default="csv",
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
    from engine.export import export_table

    path, rows = export_table(run, table, fmt, out=out, overwrite=overwrite, periods=periods, scenario=scenario,
                              origin=origin, destination=destination, sector=sector, region=region)
    click.echo(f"{rows:,} rows of {table} -> {path}")


@click.command("summary")
@click.argument("run", type=click.Path())
def summary_command(run):
    """Print the terminal summary of a finished run again.

    \b
    Example:
      engine summary runs/usjp
    """
    from engine.runs import open_run
    from engine.summary import run_summary

    click.echo(run_summary(open_run(run)))
