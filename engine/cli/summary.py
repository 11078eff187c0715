"""``engine summary``: the short table of a finished run (``engine.outputs.summary``)."""

import click


@click.command("summary")
@click.argument("run", type=click.Path())
def summary_command(run):
    """Print the terminal summary of a finished run again.

    \b
    Example:
      engine summary runs/usjp
    """
    from engine.outputs.summary import run_summary
    from engine.runs.folder import open_run

    click.echo(run_summary(open_run(run)))
