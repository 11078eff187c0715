"""``calibrate``: a calibration folder from the specs and the data, written to a temporary sibling and
renamed into place (a failed build leaves nothing that looks complete)."""


import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.calibration.builder import derive as B
from engine.calibration.builder import output, raw, spec
from engine.calibration.builder.world import load_world
from engine.errors import InputError
from engine.paths import world_dir

#: Files a calibration folder written by ``calibrate`` holds (an existing folder with only these may
#: be overwritten).
OUTPUT_FILES = ("regions.csv", "sectors.csv", "flows.csv", "tariffs.csv", "firms.csv", "participation.csv", "products.csv",
                "SOURCES.txt", "LICENSE-tradewartracker.txt", "README.md")


@dataclass
class CalibrationBuild:
    """What ``calibrate`` built: the folder, the codes and the notes written to its README."""

    path: Path
    regions: tuple
    sectors: tuple
    notes: list = field(default_factory=list)
    baci_rows: int = 0


def calibrate(out, regions="default", sectors="default", groups=None, baci=None, baci_countries=None, gdp=None,
              tariffs=None, overwrite=False, progress=None):
    """Build a calibration folder that ``engine simulate --calibration`` accepts.

    Parameters
    ----------
    out : str or Path
        Folder to write. Must not exist or be empty unless ``overwrite`` (then it may only hold the
        files a calibration has, see ``OUTPUT_FILES``). Written to a temporary sibling first, so a
        failed build leaves nothing that looks complete.
    regions, sectors : str
        Specs (``engine.calibration.builder.spec``); ``"default"`` gives the embedded calibration's.
    groups : str or Path, optional
        CSV of the user's country groups (``group, members[, name]``).
    baci, baci_countries : str or Path, optional
        A raw BACI year and its country code file: real bilateral sector detail instead of the
        Census-mix proxy.
    gdp : str or Path, optional
        CSV ``iso3, gdp_usd`` replacing the shipped 2023 GDP of the countries it lists.
    tariffs : str or Path, optional
        CSV ``importer, exporter, sector, rate`` replacing the shipped rules in the cells it lists.
    progress : callable, optional
        ``progress(bytes_read, file_bytes)`` while a BACI file is read.

    Returns
    -------
    CalibrationBuild
    """
    out = Path(out)
    _check_out(out, overwrite)
    world = load_world()
    countries, notes = dict(world.countries), []
    all_groups = dict(world.groups)
    if groups is not None:
        all_groups.update(spec.read_groups_csv(groups, countries, world.groups))
    baci_codes = None
    if baci is not None or baci_countries is not None:
        if baci is None or baci_countries is None:
            raise InputError("--baci" if baci is None else "--baci-countries",
                             "a raw BACI file needs both --baci (the data) and --baci-countries (its code file)")
        baci_codes = raw.read_baci_countries(baci_countries)
        extra = {iso: name for iso, name in baci_codes.values() if iso not in countries}
        countries.update(extra)
        if extra:
            notes.append(f"{len(extra)} BACI countries are not in the world table (no shipped GDP): "
                         f"{', '.join(sorted(extra))}")
    rspec = spec.parse_regions(regions, countries, all_groups)
    sspec = spec.parse_sectors(sectors, world_dir() / "sectors_default.csv")
    spec.check_coverage(sspec, {ch for _, _, ch, imp, _ in world.census if imp > 0}, "US imports in 2024 (Census)")
    R, K = len(rspec.regions), len(sspec.sectors)
    rest = rspec.codes.index(spec.ROW) if spec.ROW in rspec.codes else None

    gdp_usd = dict(world.gdp_usd)
    if gdp is not None:
        user_gdp, unknown = raw.read_gdp(gdp, countries)
        gdp_usd.update(user_gdp)
        notes.append(f"GDP of {len(user_gdp)} countries from {gdp}" +
                     (f"; codes not in the data ignored: {', '.join(unknown[:20])}" if unknown else ""))
    gdp_m, no_gdp = B.region_gdp_usd_m(rspec, gdp_usd)
    for j, value in enumerate(gdp_m):
        if value <= 0:
            raise InputError(rspec.source, f"region {rspec.codes[j]!r} has no GDP (none of its countries has GDP "
                                           "in the data); give their GDP with --gdp")
    if no_gdp:
        notes.append(f"countries without GDP (their region's GDP leaves them out): {', '.join(sorted(no_gdp))}")

    census = B.census_by_region_sector(rspec, sspec, world.census, rest)
    baci_rows, year, baci_products = 0, 2023, None
    if baci_codes is None:
        totals = B.pair_totals_usd_m(rspec, world.pairs)
        mix, fallback = B.census_origin_mix(census)
        foreign = [[[totals[o][d] * s for s in mix[o]] for d in range(R)] for o in range(R)]
        empty = [f"{rspec.codes[o]}->{rspec.codes[d]}" for o in range(R) for d in range(R) if o != d and totals[o][d] == 0]
        if empty:
            shown = ", ".join(empty[:20]) + (f" and {len(empty) - 20} more pairs" if len(empty) > 20 else "")
            notes.append(f"no trade in the shipped BACI table between {shown}: the redistributed table has "
                         "holes (data/world/PROVENANCE.md); use --baci with a raw BACI year for these pairs")
        if fallback:
            notes.append("sector mix of all US imports used for the exports of: "
                         f"{', '.join(rspec.codes[r] for r in fallback)} (no Census imports from them)")
    else:
        index = rspec.region_index()
        of_code = {code: index.get(iso, rest) for code, (iso, _) in baci_codes.items()}
        of_code = {code: (raw.DROPPED if r is None else r) for code, r in of_code.items()}
        kusd, year, baci_rows, _chapters, baci_products = raw.stream_baci(baci, baci_countries, of_code, sspec.sector_of_chapter(),
                                                           R, K, sspec.source, progress=progress)
        foreign = (kusd / 1e3).tolist()
        if year != 2023 and gdp is None:
            notes.append(f"BACI year {year} with the shipped 2023 GDP (domestic cells mix years); give --gdp for {year}")
        zero = int(sum(1 for o in range(R) for d in range(R) for k in range(K) if o != d and foreign[o][d][k] == 0))
        if zero:
            notes.append(f"{zero} foreign cells have no trade in {baci} (flow 0)")
    flows = B.build_flows(rspec, gdp_m, foreign)
    no_home = [rspec.codes[i] for i in range(R) if flows[i, i].sum() == 0]
    if no_home:
        notes.append(f"domestic sales 0 for {', '.join(no_home)}: imports from the other regions exceed GDP "
                     "(re-exports of an entrepot economy); merge it into a larger region for a domestic market")
    rates, labels, mfn = B.build_tariffs(rspec, census)
    if tariffs is not None:
        cells = raw.read_tariffs(tariffs, rspec.codes, sspec.codes)
        for o, d, k, value in cells:
            rates[o, d, k] = value
            labels[o, d, k] = "user"
        notes.append(f"{len(cells)} tariff cells from {tariffs}")
    exp_share = B.exporter_shares(sspec, world.bjrs)
    firms = B.build_firms(rspec, flows, gdp_m)
    participation = B.build_participation(flows, exp_share)
    if rspec.single("USA") is None:
        notes.append("the USA is not a region of its own: no tariff cell uses the real US rates")

    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        output.write_all(tmp, rspec, sspec, gdp_m, flows, rates, firms, participation, exp_share,
                         [r.members for r in rspec.regions])
        context = dict(baci=baci, baci_countries=baci_countries, year=year, rows=baci_rows, gdp=gdp, groups=groups,
                       tariffs=tariffs, labels=labels, mfn=mfn, notes=notes, rest=rest)
        output.write_products(tmp, rspec, sspec, census, baci_products)
        output.write_sources(tmp, rspec, sspec, context)
        output.write_readme(tmp, rspec, sspec, gdp_m, flows, rates, firms, context)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CalibrationBuild(out, rspec.codes, sspec.codes, notes, baci_rows)


def _check_out(out, overwrite):
    """Refuse an output folder we could not safely fill."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(out, "folder exists and is not empty; choose a new folder or pass --overwrite")
        others = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_FILES)
        if others:
            raise InputError(out, f"--overwrite replaces only calibration folders, and this one holds other files "
                                  f"({', '.join(others[:5])}); choose another folder")


def _replace(tmp, out):
    """Move the finished folder into place (removing only the files of an old calibration)."""
    if out.is_dir():
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
