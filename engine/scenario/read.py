"""Reading scenario files: a shipped name or a TOML path, decoded, parsed and validated into a
``engine.scenario.schema.Scenario``, with errors that name the file, the key and what is allowed."""

import tomllib
from pathlib import Path

from pydantic import ValidationError

from engine.errors import InputError
from engine.paths import default_calibration_dir, scenarios_dir
from engine.scenario.schema import ALL, Scenario


def _loc(loc):
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]} #{item + 1}"
        elif not (parts and str(item).startswith("function-")):
            parts.append(str(item))
    return ".".join(parts)


def resolve_scenario_path(name_or_path):
    """A shipped scenario name (``us_japan_2025``) or a path to a TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    shipped = scenarios_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise InputError(name_or_path, f"no such scenario file or shipped scenario; shipped: {', '.join(shipped_scenarios())}")


def _check_dates(path, scenario):
    """Every event inside the simulated horizon after the baseline month, and option events not
    before their branch's date."""
    first = scenario.dates[1] if scenario.periods > 1 else None
    last = scenario.horizon_end

    def visit(events, key, not_before):
        for kind in ("tariff", "trade_cost", "demand", "fx"):
            for j, event in enumerate(getattr(events, kind)):
                where = f"{key}{kind} #{j + 1}.date"
                if first is None or not first <= event.date <= last:
                    window = f"{first} to {last}" if first else "none (a one-period scenario has no events)"
                    raise InputError(path, f"date {event.date} is outside the simulated horizon after the "
                                           f"baseline month; allowed: {window}", where)
                if not_before and event.date < not_before:
                    raise InputError(path, f"date {event.date} is before its branch's date {not_before}", where)
        for j, branch in enumerate(events.branch):
            if first is None or not first <= branch.date <= last:
                raise InputError(path, f"branch date {branch.date} is outside the horizon", f"{key}branch #{j + 1}.date")
            if not_before and branch.date < not_before:
                raise InputError(path, f"branch date {branch.date} is before its parent branch's date {not_before}",
                                 f"{key}branch #{j + 1}.date")
            for o, option in enumerate(branch.option):
                visit(option, f"{key}branch #{j + 1}.option #{o + 1}.", branch.date)

    visit(scenario, "", None)


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "UTF-32 BE"), (b"\xff\xfe", "UTF-16 LE"),
         (b"\xfe\xff", "UTF-16 BE"))


def decode_text(path, data):
    """Text of a UTF-8 file (with or without a byte-order mark); other encodings are named.

    Raises
    ------
    InputError
        The file is UTF-16/32 (by its byte-order mark or NUL bytes) or not valid UTF-8.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(path, f"is encoded as {name}; save it as UTF-8")
    if b"\x00" in data[:200]:
        raise InputError(path, "looks UTF-16 encoded (it has NUL bytes); save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
                               "save it as UTF-8 (Latin-1 or Windows-1252 files must be converted)") from exc


def load_scenario(name_or_path):
    """Read and validate a scenario file (structure and dates; codes are checked against a
    calibration by ``engine.scenario.policy.ScenarioModel``).

    Raises
    ------
    InputError
        Naming the file, the key (``tariff #3.rate``) and the reason.
    """
    path = resolve_scenario_path(name_or_path)
    try:
        text = decode_text(path, path.read_bytes())
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from exc
    return parse_scenario(text, path)


def parse_scenario(text, source):
    """A validated scenario from TOML text (structure and dates, as ``load_scenario``).

    ``source`` (a path, or words for a scenario built in code) names it in errors and in the run's
    manifest, which also keeps ``text``.
    """
    path = str(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"is not valid TOML ({exc})") from exc
    for key in ("source", "text"):  # filled in by the engine, never read from the file
        if key in raw:
            raise InputError(path, "unknown key", key)
    try:
        scenario = Scenario(**raw, source=path, text=text)
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        elif err["type"] == "missing":
            reason = "required key is missing"
        elif err["type"] == "string_pattern_mismatch" and err["loc"] == ("start",):
            reason = f"must be a month 'YYYY-MM', got {err['input']!r}"
        raise InputError(path, reason, _loc(err["loc"]) or None) from exc
    _check_dates(path, scenario)
    return scenario


def codes_used(scenario):
    """Region and sector codes a scenario names anywhere (``requires``, focus, groups, events in every
    branch, currencies, parameters); group names and ``ALL`` left out.

    Returns
    -------
    (set of str, set of str)
        Region codes, sector codes.
    """
    groups = set(scenario.groups)
    regions = set(scenario.requires.regions) | {c for members in scenario.groups.values() for c in members}
    sectors = set(scenario.requires.sectors)
    as_set = lambda codes: {codes} if isinstance(codes, str) else set(codes)  # noqa: E731
    if scenario.focus:
        regions |= {scenario.focus.exporter, scenario.focus.importer}
    regions |= {p.currency for p in scenario.fx_process}
    for spec in scenario.parameter:
        sectors |= as_set(spec.sectors)
        regions |= as_set(spec.origins)

    def visit(events):
        nonlocal regions, sectors
        for kind in ("tariff", "trade_cost", "demand"):
            for event in getattr(events, kind):
                regions |= as_set(event.importer) | as_set(event.exporter)
                sectors |= as_set(event.sectors)
        regions |= {event.currency for event in events.fx}
        for branch in events.branch:
            for option in branch.option:
                visit(option)

    visit(scenario)
    return regions - groups - {ALL}, sectors - {ALL}


def check_codes_available(name_or_path, calibration):
    """One error listing every region and sector code the scenario uses that ``calibration`` lacks.

    Parameters
    ----------
    name_or_path : str
        Shipped scenario name or TOML path.
    calibration : str, Path or None
        Calibration folder (None: the embedded default).
    """
    from engine.calibration.data import load_calibration  # Polars: not for reading scenarios alone

    calibration = load_calibration(calibration or default_calibration_dir())
    scenario = load_scenario(name_or_path)
    regions, sectors = codes_used(scenario)
    lacking = [f"region(s) {', '.join(sorted(regions - set(calibration.regions)))}" if regions - set(calibration.regions)
               else "", f"sector(s) {', '.join(sorted(sectors - set(calibration.sectors)))}"
               if sectors - set(calibration.sectors) else ""]
    lacking = [x for x in lacking if x]
    if lacking:
        raise InputError(scenario.source, f"the calibration {calibration.source} lacks {' and '.join(lacking)} "
                                          f"that the scenario uses; it has regions {', '.join(calibration.regions)} "
                                          f"and sectors {', '.join(calibration.sectors)} (build one with "
                                          "engine calibrate --regions ...)")


def shipped_scenarios():
    """Names of the scenarios shipped with the engine."""
    return sorted(p.stem for p in scenarios_dir().glob("*.toml"))
