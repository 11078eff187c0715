"""``engine simulate``: run scenarios x draws and write Parquet (``engine.runs.simulate``)."""

import shlex
import sys

import click

from engine import config
from engine.errors import InputError

#: Exit code of a run that is complete without some draws (the general equilibrium failed on them).
EXIT_FAILED_DRAWS = 4


@click.command("simulate")
@click.argument("scenarios", nargs=-1)
@click.option("--draws", "-n", type=int, default=config.DEFAULT_DRAWS, show_default=True,
              help="Monte Carlo draws (each an independent firm population and shocks).")
@click.option("--firms", "-m", type=int, default=config.DEFAULT_FIRMS, show_default=True,
              help="Simulated firms per origin-sector.")
@click.option("--seed", "-s", type=int, default=config.DEFAULT_SEED, show_default=True,
              help="Seed; the same seed gives the same output on any thread count.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run folder to create [default: engine-output/SCENARIO-YYYYmmdd-HHMMSS].")
@click.option("--overwrite", is_flag=True, help="Replace --out if it is an engine run folder (after the run "
              "succeeds); anything else is refused.")
@click.option("--resume", is_flag=True, help="Finish the interrupted run of --out (same command and options); "
              "starts it if there is none.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run each chunk of draws as a task on this Dask scheduler (tcp://host:8786); needs the "
                   "[dask] extra and an --out the workers can write.")
@click.option("--local-cluster", type=int, default=None, metavar="N",
              help="Run on a Dask LocalCluster of N worker processes on this machine.")
@click.option("--draws-per-chunk", type=int, default=config.DRAWS_PER_CHUNK, show_default=True,
              help="Draws per task and per Parquet part file.")
@click.option("--threads", "-t", type=int, default=None, help="CPU threads [default: all cores].")
@click.option("--calibration", "-c", type=click.Path(), default=None,
              help="Calibration folder (CSV or Parquet tables) [default: embedded 2023/2024 data].")
@click.option("--closure", type=click.Choice(config.CLOSURES), default=None,
              help="Equilibrium closure for every scenario: ge (wages, prices, profits and tariff revenue solved "
                   "each period, welfare measured; docs/model.md), pe_moving (wages and spending fixed, price "
                   "indices solved: tariffs divert between suppliers), pe (demand levels fixed) or "
                   "ge_fixed_wage (wages pinned by an outside good) [default: each scenario's, else ge].")
@click.option("--firm-output", type=click.Choice(config.FIRM_OUTPUTS), default=None,
              help=f"Also write firm-level rows: 'sample' ({config.FIRM_SAMPLE} firms per origin-sector "
                   "and draw) or 'all' (large).")
@click.option("--dynamics", type=click.Choice(config.DYNAMICS_MODES), default=None,
              help="Firm model for every scenario: the static model, or dynamic firms that are myopic or "
                   "forward-looking (docs/model.md section 11) [default: each scenario's [dynamics] mode].")
@click.option("--device", type=click.Choice(config.DEVICES), default="cpu", show_default=True,
              help="Where the dynamic model's firm loops run (pe, pe_moving and ge): cpu, cuda (an NVIDIA GPU and "
                   "the [cuda] extra) or auto (cuda when usable).")
@click.option("--precision", type=float, default=config.DEFAULT_PRECISION, show_default=True, metavar="PP",
              help="Firm-sampling error allowed on a cell's policy effect on exports, in percentage points (the "
                   "standard error of one draw, from two half-populations of the simulated firms): the summary "
                   "warns about the cells above it and says how many --firms would reach it (docs/model.md 8.2).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary, only the output path.")
def simulate_command(scenarios, draws, firms, seed, out, overwrite, resume, scheduler, local_cluster, draws_per_chunk,
                     threads, calibration, closure, firm_output, dynamics, device, precision, quiet):
    """Simulate SCENARIOS (shipped names or TOML files) and write Parquet.

    With no SCENARIOS it runs us_japan_2025 on the embedded calibration. Several scenarios
    share firms and shocks draw by draw (common random numbers).

    \b
    Output folder:
      manifest.json                       run settings, scenario texts, timings
      flows/scenario=NAME/part-*.parquet  one row per (draw, period, origin, destination, sector)
      firms/scenario=NAME/part-*.parquet  with --firm-output

    \b
    Examples:
      engine simulate
      engine simulate us_japan_2025 --draws 200 --seed 7 --out runs/usjp
      engine simulate us_japan_2025 liberation_day_2025 --closure pe_moving
      engine simulate us_japan_2025 --firms 50000 --threads 2 --firm-output sample
      engine simulate --firms 100000 --precision 0.5         # more firms, a tighter precision warning
      engine simulate --draws 1000 --out runs/big --resume         # finish an interrupted run
      engine simulate --draws 1000 --out runs/big --local-cluster 4
      duckdb -c "select * from read_parquet('runs/usjp/flows/*/*.parquet', hive_partitioning=true) limit 5"
    """
    import datetime as dt

    from engine.outputs.summary import run_summary
    from engine.runs.simulate import simulate as run_simulate

    names = list(scenarios) or [config.DEFAULT_SCENARIO]
    if resume and out is None:
        raise InputError("--resume", "needs the --out folder of the run to finish")
    if out is None:
        stem = "+".join(n.rsplit("/", 1)[-1].removesuffix(".toml") for n in names)
        out = f"engine-output/{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    command = "engine " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    options = dict(draws=draws, firms=firms, seed=seed, out=out, overwrite=overwrite, resume=resume,
                   threads=threads, calibration=calibration, closure=closure, firm_output=firm_output,
                   draws_per_chunk=draws_per_chunk, scheduler=scheduler, local_cluster=local_cluster,
                   command=command, dynamics=dynamics, device=device, precision=precision)
    if quiet:
        result = run_simulate(names, progress=False, **options)
        click.echo(str(result.path))
        _exit_if_draws_failed(result)
        return
    from engine.progress import CliProgress

    with CliProgress(sys.stderr) as progress:
        result = run_simulate(names, progress=progress, **options)
    click.echo(run_summary(result))
    timings = result.manifest["timings"]
    click.echo(f"\nDone in {timings['total_s']:.1f} s. Results: {result.path}")
    click.echo(f"  flows (Parquet): {result.path / 'flows'}")
    if firm_output:
        click.echo(f"  firms (Parquet): {result.path / 'firms'}")
    click.echo(f"  manifest:        {result.path / 'manifest.json'}")
    click.echo("  also: draws/, summary/, regions/, prices/ (Parquet, partitioned by scenario)")
    _exit_if_draws_failed(result)


def _exit_if_draws_failed(result):
    """Exit code 4 when some draws failed (the run is complete without them; ``engine.runs.simulate.simulate``
    has logged a warning line saying which)."""
    if result.manifest.get("failed_draws"):
        click.get_current_context().exit(EXIT_FAILED_DRAWS)
