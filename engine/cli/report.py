"""``engine report``: the charts of a finished run as one HTML page, PNG and SVG (``engine.outputs.report``)."""

from pathlib import Path

import click


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
        from engine.outputs.report.page import build_report
        from engine.runs.folder import open_run

        result = open_run(run)
        out = Path(out) if out else result.path / "report.html"
        report = build_report(result, out=out, figures=figures, scale=scale)
    except ImportError as exc:  # the optional [report] extra; a broken engine import is a bug: raise it
        if (exc.name or "").split(".")[0] == "engine":
            raise
        raise click.ClickException(str(exc)) from None
    click.echo(f"Report: {out} ({len(report.charts)} charts)")
    if figures:
        click.echo(f"Figures (PNG and SVG): {figures}")
    for note in report.notes:
        click.echo(f"  not shown: {note}")
