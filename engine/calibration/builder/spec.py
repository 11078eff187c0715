"""Region and sector specifications of ``engine calibrate``: which countries form each region, which
HS chapters form each sector.

Region spec (``--regions``): comma-separated items, in the order the regions will have::

    USA,JPN,CHN,EU=EU27,CAN,MEX,KOR,GBR,IND,ROW        # the default
    USA,CHN,VNM,ASEAN_X=ASEAN-VNM,EU27,ROW             # hypothetical: see 'minus' below

An item is an ISO3 code (a one-country region named as the country), a group name (``EU27``,
``ASEAN`` or a group of ``--groups FILE``; the region takes the group's code and name),
``CODE=MEMBERS`` (members joined by ``+``: ISO3 codes and groups; a member prefixed by ``-`` is taken
out again, e.g. ``ASEAN-VNM``) or ``ROW``: every country of the world table in no other region.
Without ``ROW`` the countries left out are dropped (their trade and GDP are not in the calibration).
The spec may also be a CSV file with columns ``region, members`` and optional ``name``.

Sector spec (``--sectors``): ``default`` (the 8 sectors of the embedded calibration), a CSV file, or
an inline ``CODE=CHAPTERS`` list: ``food=01-24,fuel=27,rest=*`` (chapters joined by ``+`` or ``;``;
``*`` = every chapter in no other sector). CSV files come in two layouts: one row per sector
(``code, name, hs_chapters`` and optional ``naics3`` (BJRS industries, ``;``-separated, for the
exporter share) or ``exporter_share``), or one row per chapter, a concordance (``hs2, sector`` and
optional ``name``).
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError

ROW = "ROW"
ROW_NAME = "Rest of world"
DEFAULT_REGIONS = "USA,JPN,CHN,EU=EU27,CAN,MEX,KOR,GBR,IND,ROW"
CHAPTERS = tuple(range(1, 100))
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@dataclass(frozen=True)
class Region:
    """One region of a calibration: ``members`` are ISO3 codes (empty for ``ROW`` until resolved)."""

    code: str
    name: str
    members: tuple


@dataclass(frozen=True)
class Sector:
    """One sector: its HS chapters and how its exporter share is set (BJRS NAICS-3 industries or a
    given share)."""

    code: str
    name: str
    chapters: tuple
    naics3: tuple = ("ALL",)
    exporter_share: float | None = None


@dataclass(frozen=True)
class RegionSpec:
    """Regions in order, with every country of the world assigned to at most one."""

    regions: tuple
    source: str
    text: str = ""

    @property
    def codes(self):
        return tuple(r.code for r in self.regions)

    def region_index(self):
        """ISO3 -> index of its region."""
        return {iso: j for j, r in enumerate(self.regions) for iso in r.members}

    def single(self, iso3):
        """Index of the region made of ``iso3`` alone, or None."""
        for j, r in enumerate(self.regions):
            if r.members == (iso3,):
                return j
        return None


@dataclass(frozen=True)
class SectorSpec:
    sectors: tuple
    source: str

    @property
    def codes(self):
        return tuple(s.code for s in self.sectors)

    def sector_of_chapter(self):
        """HS chapter (int) -> sector index."""
        return {ch: j for j, s in enumerate(self.sectors) for ch in s.chapters}


# ----------------------------------------------------------------------------- groups
def read_groups_csv(path, countries, builtin=None):
    """Country groups from a CSV with columns ``group, members`` (ISO3 codes separated by spaces,
    ``+`` or ``;``) and optional ``name``.

    Parameters
    ----------
    path : Path
    countries : dict
        ISO3 -> country name (the known countries).
    builtin : dict, optional
        Groups a user group may not redefine but may use as members.

    Returns
    -------
    dict
        group -> (name, tuple of ISO3).
    """
    path = Path(path)
    builtin = builtin or {}
    rows = _csv_rows(path, ("group", "members"))
    groups = {}
    for line, row in rows:
        name = row["group"].strip()
        where = f"line {line}"
        if not _CODE.match(name):
            raise InputError(path, f"group name {name!r} must be letters, digits or _ (starting with a letter)",
                             f"{where}, field 'group'")
        if name in countries or name == ROW or name in builtin or name in groups:
            what = "an ISO3 country code" if name in countries else "already defined"
            raise InputError(path, f"group name {name!r} is {what}; choose another name", f"{where}, field 'group'")
        tokens = [t for t in re.split(r"[\s+;]+", row["members"].strip()) if t]
        if not tokens:
            raise InputError(path, f"group {name!r} is empty; list its ISO3 codes", f"{where}, field 'members'")
        members = []
        for token in tokens:
            if token in countries:
                new = [token]
            elif token in builtin:
                new = list(builtin[token][1])
            else:
                raise InputError(path, f"unknown country or group {token!r} in group {name!r}; "
                                       f"allowed: ISO3 codes of the world table or {', '.join(builtin)}",
                                 f"{where}, field 'members'")
            for iso in new:
                if iso in members:
                    raise InputError(path, f"country {iso} is listed twice in group {name!r}", f"{where}, field 'members'")
                members.append(iso)
        groups[name] = ((row.get("name") or "").strip() or name, tuple(members))
    return groups


# ----------------------------------------------------------------------------- regions
def parse_regions(spec, countries, groups):
    """Parse a region spec (see the module docstring).

    Parameters
    ----------
    spec : str
        Inline spec, ``"default"`` or a CSV path.
    countries : dict
        ISO3 -> name of every country of the world table, in its order.
    groups : dict
        group -> (name, members): built-in groups and the user's.

    Returns
    -------
    RegionSpec

    Raises
    ------
    InputError
        Naming the spec (option or file), the item or line, and the rule.
    """
    if spec in (None, "", "default"):
        spec = DEFAULT_REGIONS
    path = Path(spec)
    if _names_a_file(spec):
        items = [(f"line {line}", row["region"].strip(), row["members"].strip(), (row.get("name") or "").strip())
                 for line, row in _csv_rows(path, ("region", "members"))]
        source = str(path)
    else:
        items = []
        for n, item in enumerate(spec.split(","), start=1):
            code, sep, members = (x.strip() for x in item.partition("="))
            items.append((f"item {n} {item.strip()!r}", code, members if sep else None, ""))
        source = "--regions"
    regions, owner, rest = [], {}, None
    for where, code, members, name in items:
        if not _CODE.match(code):
            raise InputError(source, f"region code {code!r} must be letters, digits or _ (starting with a letter)", where)
        if code in (r.code for r in regions) or (code == ROW and rest is not None):
            raise InputError(source, f"region {code!r} appears twice", where)
        if code == ROW:
            if members:
                raise InputError(source, "ROW takes every country in no other region; it cannot list members", where)
            rest = len(regions)
            regions.append(Region(ROW, name or ROW_NAME, ()))
            continue
        if members is None:  # a bare ISO3 code or group name
            members = code
        if members == "":
            raise InputError(source, f"region {code!r} is empty; give its members, e.g. {code}=DEU+FRA", where)
        isos, default_name = _members(members, countries, groups, source, where)
        if not isos:
            raise InputError(source, f"region {code!r} is empty after taking members out", where)
        for iso in isos:
            if iso in owner:
                raise InputError(source, f"country {iso} is in two regions: {owner[iso]} and {code!r}; "
                                         "each country may be in one region only", where)
            owner[iso] = repr(code)
        regions.append(Region(code, name or default_name or code, tuple(isos)))
    if rest is not None:
        left = tuple(iso for iso in countries if iso not in owner)
        if not left:
            raise InputError(source, "ROW is empty: every country is already in a region; drop ROW")
        regions[rest] = Region(ROW, regions[rest].name, left)
    if len(regions) < 2:
        raise InputError(source, f"needs at least two regions, got {len(regions)}")
    return RegionSpec(tuple(regions), source, spec if source == "--regions" else "")


def _members(text, countries, groups, source, where):
    """ISO3 members of ``A+B-C`` and a default name (the group's or country's if only one)."""
    tokens = re.findall(r"([+-]?)\s*([^+\-\s]+)", text)
    isos, name = [], None
    for n, (sign, token) in enumerate(tokens):
        if token in countries:
            found, found_name = [token], countries[token]
        elif token in groups:
            found_name, found = groups[token][0], list(groups[token][1])
        else:
            close = [c for c in (*groups, *countries) if c.upper() == token.upper()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(source, f"unknown country or group {token!r}{hint}; allowed: ISO3 codes of the "
                                     f"world table (e.g. VNM) or the groups {', '.join(groups)}", where)
        if sign == "-":
            missing = [iso for iso in found if iso not in isos]
            if missing:
                raise InputError(source, f"cannot take out {token}: {', '.join(missing)} not in the members before it", where)
            isos = [iso for iso in isos if iso not in found]
            name = None
            continue
        for iso in found:
            if iso in isos:
                raise InputError(source, f"country {iso} is named twice in this region", where)
            isos.append(iso)
        name = found_name if n == 0 and len(tokens) == 1 else None
    return isos, name


# ----------------------------------------------------------------------------- sectors
def parse_chapters(text, source, where):
    """``'01-24;28-40+85'`` -> sorted chapter ints; ``'*'`` -> None (the rest)."""
    text = text.strip()
    if text == "*":
        return None
    out = []
    for part in (p for p in re.split(r"[;+\s]+", text) if p):
        match = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", part)
        lo, hi = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, -1)
        if not match or not 1 <= lo <= hi <= 99:
            raise InputError(source, f"bad HS chapter range {part!r}; allowed: chapters 01-99 as '27', '01-24' "
                                     "joined by ';' or '+', or '*' for every other chapter", where)
        out.extend(range(lo, hi + 1))
    if not out:
        raise InputError(source, "sector has no HS chapters", where)
    return out


def parse_sectors(spec, default_path):
    """Parse a sector spec (see the module docstring).

    Returns
    -------
    SectorSpec
        Chapters not in any sector are left out; ``check_coverage`` tells whether data need them.
    """
    is_default = spec in (None, "", "default")
    if is_default:
        spec = str(default_path)
    path = Path(spec)
    items = []  # (where, code, name, chapters text, naics3, exporter_share)
    if _names_a_file(spec):
        source = str(path)
        if "hs2" in _csv_header(path):
            by_code = {}
            for line, row in _csv_rows(path, ("hs2", "sector")):
                code = row["sector"].strip()
                entry = by_code.setdefault(code, [f"line {line}", code, (row.get("name") or "").strip() or code,
                                                  [], ("ALL",), None])
                entry[3].append(row["hs2"].strip())
            items = [(w, c, n, ";".join(chs), na, es) for w, c, n, chs, na, es in by_code.values()]
        else:
            for line, row in _csv_rows(path, ("code", "name", "hs_chapters")):
                naics = tuple(x for x in re.split(r"[;\s]+", (row.get("naics3") or "").strip()) if x) or ("ALL",)
                share = (row.get("exporter_share") or "").strip()
                items.append((f"line {line}", row["code"].strip(), row["name"].strip() or row["code"].strip(),
                              row["hs_chapters"], naics, _share(share, source, f"line {line}") if share else None))
    else:
        source = "--sectors"
        for n, item in enumerate(spec.split(","), start=1):
            code, sep, chapters = (x.strip() for x in item.partition("="))
            if not sep:
                raise InputError(source, f"expected CODE=CHAPTERS (e.g. food=01-24), got {item.strip()!r}", f"item {n}")
            items.append((f"item {n} {item.strip()!r}", code, code, chapters, ("ALL",), None))
    sectors, owner, rest = [], {}, None
    for where, code, name, chapters_text, naics, share in items:
        if not _CODE.match(code):
            raise InputError(source, f"sector code {code!r} must be letters, digits or _ (starting with a letter)", where)
        if code in (s.code for s in sectors):
            raise InputError(source, f"sector {code!r} appears twice", where)
        chapters = parse_chapters(chapters_text, source, where)
        if chapters is None:
            if rest is not None:
                raise InputError(source, "only one sector may take the rest ('*')", where)
            rest = len(sectors)
            chapters = []
        for ch in chapters:
            if ch in owner:
                raise InputError(source, f"HS chapter {ch:02d} is in two sectors: {owner[ch]!r} and {code!r}", where)
            owner[ch] = code
        sectors.append(Sector(code, name, tuple(sorted(chapters)), naics, share))
    if rest is not None:
        left = tuple(ch for ch in CHAPTERS if ch not in owner)
        s = sectors[rest]
        sectors[rest] = Sector(s.code, s.name, left, s.naics3, s.exporter_share)
        if not left:
            raise InputError(source, f"sector {s.code!r} ('*') is empty: every chapter is already in a sector")
    if not sectors:
        raise InputError(source, "no sectors given")
    return SectorSpec(tuple(sectors), "default sectors (world/sectors_default.csv)" if is_default else source)


def check_coverage(sectors, chapters_with_data, what):
    """Every HS chapter that has data must be in a sector (else one error naming the chapters)."""
    mapped = sectors.sector_of_chapter()
    missing = sorted(ch for ch in chapters_with_data if ch not in mapped)
    if missing:
        shown = chapters_text(missing).replace(";", ", ")
        raise InputError(sectors.source, f"HS chapter(s) {shown} have {what} but are in no sector; add them to a "
                                         "sector, or add a sector of every other chapter (CODE=*)")


def chapters_text(chapters):
    """``(1, 2, ..., 24, 90, 91)`` -> ``'01-24;90-91'``."""
    runs, start, prev = [], None, None
    for ch in sorted(chapters):
        if start is None:
            start = prev = ch
        elif ch == prev + 1:
            prev = ch
        else:
            runs.append((start, prev))
            start = prev = ch
    if start is not None:
        runs.append((start, prev))
    return ";".join(f"{lo:02d}" if lo == hi else f"{lo:02d}-{hi:02d}" for lo, hi in runs)


def _share(text, source, where):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise InputError(source, f"exporter_share must be a number in (0, 1], got {text!r}", f"{where}, field 'exporter_share'")
    return value


def _names_a_file(spec):
    """A spec is a file if it ends in .csv or names an existing file (not an inline list)."""
    if spec.endswith(".csv"):
        return True
    try:
        return "," not in spec and "=" not in spec and Path(spec).is_file()
    except OSError:  # e.g. a name too long for the file system
        return False


def _csv_header(path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [h.strip() for h in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot be read as a CSV file ({exc})") from exc


def _csv_rows(path, required):
    """(line number, row dict) of a small CSV, after checking its columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = [(n + 2, {k.strip(): (v or "") for k, v in row.items() if k is not None})
                    for n, row in enumerate(reader)]
            header = [h.strip() for h in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot be read as a CSV file ({exc})") from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; the file needs {', '.join(required)}")
    return rows
