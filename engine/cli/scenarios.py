"""``engine scenarios``: list, show and validate scenario files."""

import click

from engine import config
from engine.errors import InputError


@click.group("scenarios")
def scenarios_group():
    """List, show and validate scenario files.

    \b
    Examples:
      engine scenarios list
      engine scenarios show us_japan_2025
      engine scenarios validate my_scenario.toml --calibration my_data/
    """


@scenarios_group.command("list")
def scenarios_list():
    """The shipped scenarios with their titles."""
    from engine.scenario.read import load_scenario, shipped_scenarios

    for name in shipped_scenarios():
        click.echo(f"{name:<24}{load_scenario(name).title}")


def _compiled(scenario, calibration):
    from engine.calibration.data import load_calibration
    from engine.paths import default_calibration_dir
    from engine.scenario.policy import ScenarioModel
    from engine.scenario.read import load_scenario
    from engine.scenario.uncertainty import check_parameters, sample_parameters

    calib = load_calibration(calibration or default_calibration_dir())
    loaded = load_scenario(scenario)
    check_parameters(loaded, calib)
    sample_parameters(loaded, calib, 0, 0)
    return loaded, ScenarioModel(loaded, calib)


@scenarios_group.command("show")
@click.argument("scenario")
@click.option("--calibration", "-c", type=click.Path(), default=None, help="Calibration folder [default: embedded].")
@click.option("--exporter", default=None, help="Exporter of the calendar table [default: the scenario's focus].")
@click.option("--importer", default=None, help="Importer of the calendar table [default: the scenario's focus].")
def scenarios_show(scenario, calibration, exporter, importer):
    """Tariffs in force by month for one exporter-importer pair, on every branch path.

    Where a measure covers part of a sector (products or coverage), the row gives the CES tariff
    index the model uses and a second row, "avg", the trade-weighted mean at the baseline weights
    (what duties collected over imports compare with; docs/model.md section 9.2).

    \b
    Examples:
      engine scenarios show us_japan_2025
      engine scenarios show liberation_day_2025 --exporter CHN --importer USA
    """
    from engine.outputs.summary import focus_pair

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
        previous, partial = None, False
        for date, rates, average in model.calendar_table(labels, exporter, importer):
            row = "".join(f"{100 * r:>10.2f}" for r in rates)
            mean = "".join(f"{100 * r:>10.2f}" for r in average)
            if (row, mean) != previous:
                click.echo(f"{date:%Y-%m}   {row}")
                if mean != row:
                    click.echo(f"  avg     {mean}")
                    partial = True
            previous = (row, mean)
        click.echo("(months without a change are not repeated" + (
            "; 'avg': the trade-weighted mean where a measure covers part of a sector, above it the CES "
            "index the model uses" if partial else "") + ")")


@scenarios_group.command("validate")
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
    from engine.runs.plan import build_plan
    from engine.scenario.read import check_codes_available
    from engine.scenario.uncertainty import draw_policy, sample_parameters

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
