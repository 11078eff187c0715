"""``engine backtest``: a finished run against realized trade (``engine.outputs.backtest``)."""

import textwrap

import click


@click.command("backtest")
@click.argument("run", type=click.Path())
@click.option("--realized", required=True, type=click.Path(),
              help="CSV or Parquet of realized trade: date, origin, destination, [sector,] value, kind "
                   "(level = USD a month, or yoy_pct).")
@click.option("--base", default=None, metavar="YYYY-MM[..YYYY-MM]|yoy",
              help="What changes are measured against: a month or window, or yoy (same month a year "
                   "earlier) [default: yoy for a file of y/y changes, else the run's first month].")
@click.option("--window", "windows", multiple=True, metavar="NAME=YYYY-MM..YYYY-MM",
              help="A window to compare (repeatable) [default: every month both cover].")
@click.option("--scenario", default=None, help="Scenario of the run [default: the first].")
def backtest_command(run, realized, base, windows, scenario):
    """Compare a finished run, month by month, with the trade that happened.

    \b
    Writes RUN/backtest/ (windows.parquet, monthly.parquet, comparison.json); engine report
    then adds a chart of the monthly paths with the band and the realized points. Only changes
    are compared (the engine's values are annual rates at baseline prices; realized ones are
    monthly and nominal).

    \b
    Examples:
      engine backtest runs/usjp --realized jpn_usa_2025.csv --base 2025-01
      engine backtest runs/usjp --realized jpn_usa_yoy.csv --window h1=2025-01..2025-06 --window q3=2025-07..2025-09
    """
    from engine.outputs.backtest import backtest

    out = backtest(run, realized, base=base, windows=windows, scenario=scenario)
    click.echo(textwrap.fill(out.comparison, 110))
    click.echo()
    click.echo(f"{'series':<34} {'window':<12} {'engine % [5%-95%]':>26} {'realized %':>11} {'error pp':>9}  in band")
    for r in out.windows.iter_rows(named=True):
        label = f"{r['origin']} -> {r['destination']} {r['sector']}"
        band = f"{r['engine_mean_pct']:+.1f} [{r['engine_p5_pct']:+.1f}, {r['engine_p95_pct']:+.1f}]"
        click.echo(f"{label:<34} {r['window']:<12} {band:>26} {r['realized_pct']:>+11.1f} {r['error_pp']:>+9.1f}  "
                   f"{'yes' if r['in_band'] else 'no'}")
    inside = int(out.windows["in_band"].sum())
    click.echo(f"\n{inside} of {out.windows.height} windows inside the engine's 5-95% band. "
               f"Tables: {out.path}")
    for note in out.notes:
        click.echo(f"  note: {note}")
