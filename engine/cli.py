"""The ``engine`` command: a thin layer over the Python API (parse, call, print)."""

import logging
import os
import shlex
import sys

import click

from engine import config
from engine.equilibrium import ConvergenceError
from engine.errors import InputError

EXIT_BAD_INPUT = 2
EXIT_NO_SOLUTION = 3
EXIT_FAILED_DRAWS = 4


class _InputErrorsAsUsage(click.Group):
    """Turn ``InputError`` into one clear line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except ConvergenceError as exc:
            click.echo(f"Error: {exc}; no output was written", err=True)
            ctx.exit(EXIT_NO_SOLUTION)
        except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM turned into RunInterrupted by the run
            signum = getattr(exc, "signum", 2)
            partial = getattr(exc, "partial", None)
            name = {2: "SIGINT", 15: "SIGTERM"}.get(signum, f"signal {signum}")
            if partial is not None:
                click.echo(f"Interrupted by {name}: {exc.done} of {exc.total} chunks are complete and kept in the "
                           f"hidden folder {partial}; run the same command with --resume to finish it (or with "
                           "--overwrite to start again)", err=True)
            else:
                click.echo(f"Interrupted by {name}: no output was kept", err=True)
            ctx.exit(128 + signum)


@click.group(cls=_InputErrorsAsUsage, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeflow-engine", prog_name="engine")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose):
    """Firm-level trade-flow microsimulation under changing, uncertain tariffs.

    \b
    Examples:
      engine simulate                          # default: the 2025 US-Japan calendar
      engine simulate us_japan_2025 --draws 100 --out runs/usjp
      engine simulate my_scenario.toml --calibration my_data/ --firm-output sample
    """
    logging.basicConfig(level=logging.WARNING - 10 * verbose, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # Dask's configuration puts its loggers at INFO, which the handler above would print (about 30
        # lines a cluster); the variable reaches Dask's config when it is imported, here and in workers
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        logging.getLogger("distributed").setLevel(logging.WARNING)


@main.command()
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
@click.option("--closure", type=click.Choice(["pe", "ge", "ge_fixed_wage"]), default=None,
              help="Equilibrium closure for every scenario: pe (demand levels fixed), ge (wages, prices, "
                   "profits and tariff revenue solved each period; docs/model.md) or ge_fixed_wage "
                   "(wages pinned by an outside good) [default: each scenario's, else pe].")
@click.option("--firm-output", type=click.Choice(["sample", "all"]), default=None,
              help=f"Also write firm-level rows: 'sample' ({config.FIRM_SAMPLE} firms per origin-sector "
                   "and draw) or 'all' (large).")
@click.option("--dynamics", type=click.Choice(["static", "myopic", "forward"]), default=None,
              help="Firm model for every scenario: the static model, or dynamic firms that are myopic or "
                   "forward-looking (README 'Dynamics') [default: each scenario's [dynamics] mode].")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="Where the dynamic model's firm loops run (pe and ge): cpu, cuda (an NVIDIA GPU and the [cuda] "
                   "extra) or auto (cuda when usable).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary, only the output path.")
def simulate(scenarios, draws, firms, seed, out, overwrite, resume, scheduler, local_cluster, draws_per_chunk, threads,
             calibration, closure, firm_output, dynamics, device, quiet):
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
      engine simulate us_japan_2025 liberation_day_2025 --closure ge --dynamics static
      engine simulate us_japan_2025 --firms 50000 --threads 2 --firm-output sample
      engine simulate --draws 1000 --out runs/big --resume         # finish an interrupted run
      engine simulate --draws 1000 --out runs/big --local-cluster 4
      duckdb -c "select * from read_parquet('runs/usjp/flows/*/*.parquet', hive_partitioning=true) limit 5"
    """
    import datetime as dt

    from engine.run import simulate as run_simulate
    from engine.summary import run_summary

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
                   command=command, dynamics=dynamics, device=device)
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
    """Exit code 4 when some draws failed (the run is complete without them; ``engine.run.simulate``
    has logged a warning line saying which)."""
    if result.manifest.get("failed_draws"):
        click.get_current_context().exit(EXIT_FAILED_DRAWS)


@main.group()
def scenarios():
    """List, show and validate scenario files.

    \b
    Examples:
      engine scenarios list
      engine scenarios show us_japan_2025
      engine scenarios validate my_scenario.toml --calibration my_data/
    """


@scenarios.command("list")
def scenarios_list():
    """The shipped scenarios with their titles."""
    from engine.scenario import load_scenario, shipped_scenarios

    for name in shipped_scenarios():
        click.echo(f"{name:<24}{load_scenario(name).title}")


def _compiled(scenario, calibration):
    from engine.calibration import load_calibration
    from engine.paths import default_calibration_dir
    from engine.policy import ScenarioModel
    from engine.scenario import load_scenario
    from engine.uncertainty import check_parameters, sample_parameters

    calib = load_calibration(calibration or default_calibration_dir())
    loaded = load_scenario(scenario)
    check_parameters(loaded, calib)
    sample_parameters(loaded, calib, 0, 0)
    return loaded, ScenarioModel(loaded, calib)


@scenarios.command("show")
@click.argument("scenario")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder [default: embedded].")
@click.option("--exporter", default=None, help="Exporter of the calendar table [default: the scenario's focus].")
@click.option("--importer", default=None, help="Importer of the calendar table [default: the scenario's focus].")
def scenarios_show(scenario, calibration, exporter, importer):
    """Tariffs in force by month for one exporter-importer pair, on every branch path.

    \b
    Examples:
      engine scenarios show us_japan_2025
      engine scenarios show liberation_day_2025 --exporter CHN --importer USA
    """
    from engine.summary import focus_pair

    loaded, model = _compiled(scenario, calibration)
    default_exporter, default_importer = focus_pair(
        {"focus": loaded.focus.model_dump() if loaded.focus else None}, list(model.regions))
    exporter, importer = exporter or default_exporter, importer or default_importer
    for code, option in ((exporter, "--exporter"), (importer, "--importer")):
        if code not in model.regions:
            raise InputError(option, f"unknown region {code!r}; allowed: {', '.join(model.regions)}")
    click.echo(f"{loaded.name}: {loaded.title}\n{loaded.start}, {loaded.periods} monthly periods, "
               f"{len(model.paths)} path(s). Tariff of {importer} on {exporter} by month, percent "
               "(day-weighted means):")
    short = [s[:9] for s in model.sectors]
    for labels, probability, _events in model.paths:
        name = "; ".join(f"{b}={o}" for b, o in labels) or "(no branches)"
        click.echo(f"\npath {name}  (probability {probability:.3f})")
        click.echo(f"{'month':<9}" + "".join(f"{s:>10}" for s in short))
        previous = None
        for date, rates in model.calendar_table(labels, exporter, importer):
            row = "".join(f"{100 * r:>10.2f}" for r in rates)
            if row != previous:
                click.echo(f"{date:%Y-%m}   {row}")
            previous = row
        click.echo("(months without a change are not repeated)")


@scenarios.command("validate")
@click.argument("file")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder [default: embedded].")
@click.option("--draws", "-n", type=int, default=config.DEFAULT_DRAWS, show_default=True,
              help="Also sample these draws as a run would (parameters, branch paths, FX).")
@click.option("--seed", "-s", type=int, default=config.DEFAULT_SEED, show_default=True, help="Seed of those draws.")
def scenarios_validate(file, calibration, draws, seed):
    """Check a scenario file as a run would; exit code 2 with the first error.

    Checks the structure, codes and every branch path's calendar against the calibration, the
    distributions' supports analytically (a range that allows theta <= sigma - 1 is an error
    whatever the seed), plausibility bounds (a commitment larger than the buyer's spending), and
    samples --draws draws with --seed.

    \b
    Example:
      engine scenarios validate my_scenario.toml --draws 1000 --seed 7
    """
    from engine.plan import build_plan
    from engine.scenario import check_codes_available
    from engine.uncertainty import draw_policy, sample_parameters

    check_codes_available(file, calibration)  # every region/sector code the calibration lacks, at once
    plan = build_plan([file], draws=draws, seed=seed, calibration=calibration)
    model = plan.models[0]
    loaded = model.scenario
    for draw in range(draws):
        sample_parameters(loaded, plan.calibration, seed, draw)
        draw_policy(model, seed, draw)
    click.echo(f"{file}: OK ({loaded.name}: {loaded.periods} periods, {len(model.paths)} path(s), "
               f"{len(loaded.parameter)} uncertain parameter(s), {len(loaded.fx_process)} FX process(es); "
               f"supports checked for every draw, {draws} draw(s) sampled with seed {seed})")


from engine.calibrate.command import calibrate_command  # noqa: E402  (its own module; imports click only)
from engine.diagnose_cli import diagnose_command  # noqa: E402
from engine.report_cli import export_command, report_command, summary_command  # noqa: E402

for _command in (calibrate_command, diagnose_command, report_command, export_command, summary_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
