"""The ``engine`` command: a thin layer over the Python API (parse, call, print)."""

import logging
import os

import click

from engine.errors import ConvergenceError, InputError

EXIT_BAD_INPUT = 2
EXIT_NO_SOLUTION = 3


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


from engine.cli.backtest import backtest_command  # noqa: E402  (each command module imports click only)
from engine.cli.calibrate import calibrate_command  # noqa: E402
from engine.cli.diagnose import diagnose_command  # noqa: E402
from engine.cli.export import export_command  # noqa: E402
from engine.cli.report import report_command  # noqa: E402
from engine.cli.scenarios import scenarios_group  # noqa: E402
from engine.cli.simulate import simulate_command  # noqa: E402
from engine.cli.summary import summary_command  # noqa: E402

for _command in (simulate_command, scenarios_group, calibrate_command, diagnose_command, report_command,
                 export_command, summary_command, backtest_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
