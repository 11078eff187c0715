"""``engine calibrate``: the command line over ``engine.calibration.builder.build.calibrate`` (parse, call, print)."""

import sys

import click


@click.command("calibrate")
@click.option("--regions", "-r", default="default", show_default=True,
              help="Regions: ISO3 codes and groups (EU27, ASEAN, your --groups), CODE=A+B-C, ROW = every other "
                   "country; or a CSV (region, members[, name]).")
@click.option("--sectors", "-k", default="default", show_default=True,
              help="Sectors: 'default' (8 sectors), CODE=CHAPTERS items (food=01-24,fuel=27,rest=*), or a CSV "
                   "(code, name, hs_chapters[, naics3]) or concordance (hs2, sector).")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Calibration folder to write.")
@click.option("--groups", "-g", type=click.Path(dir_okay=False), default=None,
              help="CSV of your country groups: group, members (ISO3 codes separated by spaces)[, name].")
@click.option("--baci", type=click.Path(dir_okay=False), default=None,
              help="Raw BACI year (CSV t,i,j,k,v,q): real bilateral sector detail instead of the proxy.")
@click.option("--baci-countries", type=click.Path(dir_okay=False), default=None,
              help="The BACI country code file (country_code, country_iso3, ...) of --baci.")
@click.option("--gdp", type=click.Path(dir_okay=False), default=None,
              help="CSV iso3, gdp_usd (current USD) replacing the shipped 2023 GDP where given.")
@click.option("--tariffs", type=click.Path(dir_okay=False), default=None,
              help="CSV importer, exporter, sector, rate (fraction, applied) replacing the shipped rules in those cells.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it is a calibration folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary, only the output path.")
def calibrate_command(regions, sectors, out, groups, baci, baci_countries, gdp, tariffs, overwrite, quiet):
    """Build a calibration folder for any regions and sectors.

    From the world tables the engine ships (BACI 2023 pair totals and GDP of 194 countries, US Census
    2024 imports and duties by HS chapter), or from a raw BACI year. The folder works with
    `engine simulate --calibration DIR`; its README.md says table by table what is real and what is
    a proxy.

    \b
    Examples:
      engine calibrate --out my_cal                                   # = the embedded default
      engine calibrate --regions USA,CHN,VNM,EU=EU27,JPN,ROW --out cal_vnm
      engine calibrate --regions USA,CHN,ASEAN,ROW --sectors food=01-24,fuel=27,rest=* --out cal3
      engine calibrate --regions USA,CHN,VNM,ROW --baci BACI_HS22_Y2023_V202501.csv \\
          --baci-countries country_codes_V202501.csv --out cal_baci
      engine simulate liberation_day_2025 --calibration cal_vnm
    """
    from engine.calibration.builder.build import calibrate

    bar = None

    def progress(done, total):
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Reading BACI file (bytes)", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        built = calibrate(out, regions=regions, sectors=sectors, groups=groups, baci=baci,
                          baci_countries=baci_countries, gdp=gdp, tariffs=tariffs, overwrite=overwrite,
                          progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if quiet:
        click.echo(str(built.path))
        return
    click.echo(f"Calibration: {len(built.regions)} regions x {len(built.sectors)} sectors"
               + (f", {built.baci_rows:,} BACI rows" if built.baci_rows else ""))
    click.echo(f"  regions: {', '.join(built.regions)}")
    click.echo(f"  sectors: {', '.join(built.sectors)}")
    for note in built.notes:
        click.echo(f"  note: {note}")
    click.echo(f"Wrote {built.path} (README.md there says what is real and what is a proxy)")
    click.echo(f"Next: engine simulate --calibration {built.path}")
