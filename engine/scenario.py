"""Scenario files (TOML): a dated calendar of tariff and trade-cost events.

Format (``data/scenarios/us_japan_2025.toml`` is a complete example)::

    name = "us_japan_2025"              # letters, digits, '_' and '-'
    title = "One line shown in the terminal"
    description = "Free text, sources."
    start = "2025-01"                   # first month; period 0 is the calibrated baseline
    periods = 24                        # monthly periods, including period 0
    focus = { exporter = "JPN", importer = "USA" }   # optional: the pair the summary shows

    [[tariff]]                          # any number of events, applied in date order
    date = "2025-04-03"                 # ISO date; must fall after the baseline month, in the horizon
    importer = "USA"                    # region code, a list of codes, or "ALL"
    exporter = "ALL"                    # idem ("ALL" never includes the importer itself)
    sectors = ["motor_vehicles_parts"]  # sector codes or "ALL"
    rate = 0.25                         # a fraction, or a percent string such as "25%"
    mode = "add"                        # "add": a layer on top of what is in force (MFN and other
                                        #   measures); a later "add" event with the same `measure`
                                        #   changes that layer's rate (e.g. a pause);
                                        # "replace": the rate becomes the whole tariff (clears MFN
                                        #   and every layer in those cells)
    measure = "section_232_autos"       # name of the layer (default: one of its own)
    note = "Proclamation 10908"

    [[trade_cost]]                      # iceberg trade-cost changes, cumulative
    date = "2025-06-01"
    importer = "USA"
    exporter = "JPN"
    sectors = "ALL"
    change = 0.05                       # tau rises by 5 % from this date (> -1)

Monthly periods get the day-weighted average of the rates in force on each day of the month, so
an event on the 3rd of a 30-day month counts for 28/30 of it, and a rate that is announced and
suspended on the same day (Japan's 24 %, 9 April 2025) counts for nothing.
"""

import calendar
import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import InputError
from engine.paths import scenarios_dir

ALL = "ALL"


def _parse_rate(value):
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", value)
        if not match:
            raise ValueError(f"must be a fraction (0.25) or a percent string ('25%'), got {value!r}")
        value = float(match.group(1)) / 100.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Focus(_Frozen):
    exporter: str
    importer: str


class _Event(_Frozen):
    date: dt.date
    importer: str | tuple[str, ...]
    exporter: str | tuple[str, ...] = ALL
    sectors: str | tuple[str, ...] = ALL
    note: str = ""


class TariffEvent(_Event):
    """One dated tariff action (see the module docstring)."""

    rate: float
    mode: Literal["add", "replace"] = "add"
    measure: str | None = None

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value):
        rate = _parse_rate(value)
        if not 0.0 <= rate <= 10.0:
            raise ValueError(f"must be between 0 and 10 (0% to 1000%), got {rate!r}")
        return rate


class TradeCostEvent(_Event):
    """A dated proportional change of iceberg trade costs."""

    change: float = Field(gt=-1.0, le=10.0)


class Scenario(_Frozen):
    """A validated scenario; build its dense policy arrays with ``policy_path``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title: str = ""
    description: str = ""
    start: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    periods: int = Field(ge=1, le=600)
    focus: Focus | None = None
    tariff: tuple[TariffEvent, ...] = ()
    trade_cost: tuple[TradeCostEvent, ...] = ()
    source: str = ""
    text: str = ""

    @property
    def dates(self):
        """First day of each monthly period."""
        year, month = (int(x) for x in self.start.split("-"))
        out = []
        for t in range(self.periods):
            y, m = divmod(month - 1 + t, 12)
            out.append(dt.date(year + y, m + 1, 1))
        return tuple(out)

    @property
    def horizon_end(self):
        """Last day of the last period."""
        last = self.dates[-1]
        return last.replace(day=calendar.monthrange(last.year, last.month)[1])


def _loc(loc):
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]} #{item + 1}"
        else:
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
    names = ", ".join(sorted(p.stem for p in scenarios_dir().glob("*.toml")))
    raise InputError(name_or_path, f"no such scenario file or shipped scenario; shipped: {names}")


def load_scenario(name_or_path):
    """Read and validate a scenario file (structure only; codes are checked by ``policy_path``).

    Raises
    ------
    InputError
        Naming the file, the key (``tariff #3.rate``) and the reason.
    """
    path = resolve_scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"is not valid TOML ({exc})") from exc
    for key in ("source", "text"):
        raw.pop(key, None)
    try:
        scenario = Scenario(**raw, source=str(path), text=text)
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        elif err["type"] == "missing":
            reason = "required key is missing"
        raise InputError(path, reason, _loc(err["loc"]) or None) from exc
    for kind, events in (("tariff", scenario.tariff), ("trade_cost", scenario.trade_cost)):
        first, last = scenario.dates[1] if scenario.periods > 1 else None, scenario.horizon_end
        for j, event in enumerate(events):
            if first is None or not first <= event.date <= last:
                window = f"{first} to {last}" if first else "none (a one-period scenario has no events)"
                raise InputError(path, f"date {event.date} is outside the simulated horizon after the "
                                       f"baseline month; allowed: {window}", f"{kind} #{j + 1}.date")
    return scenario


@dataclass(frozen=True, eq=False)
class PolicyPath:
    """Dense policy arrays of one scenario (one path; the uncertainty issue adds branches).

    Attributes
    ----------
    dates : tuple of datetime.date, length T
    tariff : ndarray (T, R, R, K)
        Ad-valorem tariff in force ``[t, origin, destination, sector]`` (day-weighted mean).
    iceberg : ndarray (T, R, R, K)
        Iceberg trade cost relative to the baseline, ``tau(t) / tau(0)``.
    fx : ndarray (T, R)
        Value of each region's currency in dollars relative to the baseline.
    demand : ndarray (T, R, R, K)
        Demand shifter ``d(t)`` (1 at the baseline).
    """

    dates: tuple
    tariff: np.ndarray
    iceberg: np.ndarray
    fx: np.ndarray
    demand: np.ndarray


def _select(path, key, value, allowed, what, exclude=None):
    """Indices of ``allowed`` named by ``value`` (a code, a list of codes or ``ALL``)."""
    codes = [value] if isinstance(value, str) else list(value)
    if codes == [ALL]:
        return [j for j, c in enumerate(allowed) if c != exclude]
    unknown = [c for c in codes if c not in allowed]
    if unknown or not codes:
        raise InputError(path, f"unknown {what} {unknown[0] if unknown else '(empty list)'!r}; allowed: "
                               f"{', '.join(allowed)} or {ALL!r}", key)
    return [allowed.index(c) for c in codes]


def _cells(path, key, event, regions, sectors):
    """Boolean mask (R, R, K) of the (origin, destination, sector) cells an event touches."""
    mask = np.zeros((len(regions), len(regions), len(sectors)), dtype=bool)
    importers = _select(path, f"{key}.importer", event.importer, regions, "region")
    sector_idx = _select(path, f"{key}.sectors", event.sectors, sectors, "sector")
    for n in importers:
        exporters = _select(path, f"{key}.exporter", event.exporter, regions, "region", exclude=regions[n])
        for i in exporters:
            mask[i, n, sector_idx] = True
    return mask


def policy_path(scenario, calibration):
    """Dense monthly policy arrays of ``scenario`` on ``calibration``'s regions and sectors.

    Tariffs in force on each day: the baseline tariff (``calibration.tariffs``) plus every active
    layer; see the module docstring for ``add``/``replace``. Each period gets the mean over its days.

    Returns
    -------
    PolicyPath
    """
    regions, sectors = calibration.regions, calibration.sectors
    shape = calibration.flows.shape
    src = scenario.source
    changes = {}
    for j, event in enumerate(scenario.tariff):
        changes.setdefault(event.date, []).append(("tariff", j, event, _cells(src, f"tariff #{j + 1}", event, regions, sectors)))
    for j, event in enumerate(scenario.trade_cost):
        changes.setdefault(event.date, []).append(("cost", j, event, _cells(src, f"trade_cost #{j + 1}", event, regions, sectors)))

    base = calibration.tariffs.copy()
    layers = {}
    tau = np.ones(shape)
    dates = scenario.dates
    tariff = np.empty((len(dates), *shape))
    iceberg = np.empty((len(dates), *shape))
    for t, first in enumerate(dates):
        n_days = calendar.monthrange(first.year, first.month)[1]
        # (tariff in force, iceberg factor, days) for each stretch of the month without a change
        stretches = []
        for day in range(n_days):
            todays = changes.get(first + dt.timedelta(days=day), ())
            for kind, j, event, mask in todays:
                if kind == "cost":
                    tau[mask] *= 1.0 + event.change
                elif event.mode == "replace":
                    base[mask] = event.rate
                    for layer in layers.values():
                        layer[mask] = 0.0
                else:
                    layer = layers.setdefault(event.measure or f"_event{j}", np.zeros(shape))
                    layer[mask] = event.rate
            if todays or not stretches:
                stretches.append([base + sum(layers.values(), np.zeros(shape)), tau.copy(), 0])
            stretches[-1][2] += 1
        # mean over the month written as first value + weighted changes, so that cells that did
        # not change keep their rate exactly (no rounding from averaging)
        for out, j in ((tariff, 0), (iceberg, 1)):
            first_value = stretches[0][j]
            out[t] = first_value + sum((s[j] - first_value) * s[2] for s in stretches[1:]) / n_days
    return PolicyPath(dates=dates, tariff=tariff, iceberg=iceberg, fx=np.ones((len(dates), shape[0])),
                      demand=np.ones((len(dates), *shape)))


def shipped_scenarios():
    """Names of the scenarios shipped with the engine."""
    return sorted(p.stem for p in scenarios_dir().glob("*.toml"))
