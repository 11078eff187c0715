"""Scenario files (TOML): dated policy events, negotiation branches, exchange rates, demand shifters
and uncertain parameters, validated into frozen objects.

``data/scenarios/us_japan_2025.toml`` uses every feature; the README has the full key reference.
Structure::

    name, title, description, start ("YYYY-MM", period 0 = baseline), periods, focus, closure
                                         # closure: ge (default) | pe_moving | pe | ge_fixed_wage
    requires = { regions = ["USA", "JPN"], sectors = [...] }   # codes the scenario is written for
    sunk_cost_ratio = 1.0                # lambda of docs/model.md section 4, or a [[parameter]]
    [groups]  asia = ["JPN", "KOR"]      # named region groups, usable wherever a region list is
    [[tariff]]      date, importer, exporter, sectors, rate, mode, measure, exclude_measures,
                    coverage | products, exclude_products, note
    [[trade_cost]]  date, importer, exporter, sectors, change
    [[demand]]      date, importer, exporter, sectors, usd_per_year | percent
    [[fx]]          date, currency, change                 # deterministic move of a currency vs USD
    [[fx_process]]  currency, mean_reversion, volatility   # Ornstein-Uhlenbeck on log FX, monthly
    [[branch]]      name, date, [[branch.option]] name, probability, and any event lists and
                    nested [[branch.option.branch]]
    [[parameter]]   name, sectors, origins, shared, dist, value | mean, sd, low, high | alpha, beta |
                    values, weights
    [dynamics]      mode = "static" | "myopic" | "forward", persistence, productivity_sd, grid_points,
                    discount, half_life, price_reset, dollar_invoicing   (engine.firms.bellman),
                    inventories, inventory_months, inventory_adjustment,
                    inventory_price_response                            (engine.firms.inventories)
    [ge]            labour_supply (elasticity, default 0), revenue = "lump_sum" | "income_tax" |
                    "government"                                        (engine.closures.ge)
    events and branches may carry ``announced`` (when firms learn of them; dynamic model only)

Tariff modes (how an event combines with what is in force in its cells):

- ``add``: a layer on top of MFN and the other layers. ``measure`` names the layer; a later ``add``
  with the same measure changes that layer's rate (a pause, a reinstatement).
  ``exclude_measures``: the layer does not apply where any of those measures is in force (the
  reciprocal tariff skipped goods under the Section 232 car tariff).
- ``replace``: the rate becomes the whole tariff (MFN and every layer cleared).
- ``all_in``: the whole tariff becomes ``max(MFN, rate)`` ("15 % inclusive of MFN": goods whose MFN
  rate is above 15 % keep it), every layer cleared.

Region fields take a code, a list of codes and group names, or ``"ALL"`` (every region but the
importer). Rates are fractions (0.25) or percent strings ("25%").
"""

import calendar
import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.config import CLOSURES, DYNAMICS_MODES
from engine.scenario.defaults import DYNAMICS_DEFAULTS

ALL = "ALL"
#: How far a branch's option probabilities may sum from 1 (rounded decimals, e.g. thirds as 0.333333);
#: the last option takes what the others leave (``engine.scenario.policy``).
PROBABILITY_TOLERANCE = 1e-5
PARAMETERS = ("sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr", "pass_through",
              "sunk_cost_ratio", "eta")


def parse_rate(value):
    """A fraction from ``0.25`` or ``"25%"``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?[0-9]*\.?[0-9]+)\s*%\s*", value)
        if not match:
            raise ValueError(f"must be a fraction (0.25) or a percent string ('25%'), got {value!r}")
        value = float(match.group(1)) / 100.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


Codes = str | tuple[str, ...]


class Requires(_Frozen):
    """Region and sector codes a scenario is written for (checked by ``engine scenarios validate``)."""

    regions: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()


class Focus(_Frozen):
    exporter: str
    importer: str


class _CellEvent(_Frozen):
    date: dt.date
    importer: Codes
    exporter: Codes = ALL
    sectors: Codes = ALL
    announced: dt.date | None = None  # when firms learn of it (dynamic model); default: ``date``
    note: str = ""


HS_CODE = re.compile(r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{1,6}\*)$")


class TariffEvent(_CellEvent):
    """One dated tariff action.

    ``coverage`` (a share in (0, 1], ``add`` only) or ``products`` (HS codes or ``"ALL"``, with
    ``exclude_products``): the action applies to part of each cell's trade (docs/model.md section
    9.2). A stated share is independent of the other measures' shares; later events of the same
    measure may restate it (a share claimed under an exemption that rises over time).
    """

    rate: float
    mode: Literal["add", "replace", "all_in"] = "add"
    measure: str | None = None
    exclude_measures: tuple[str, ...] = ()
    coverage: float | None = None
    products: tuple[str, ...] | None = None
    exclude_products: tuple[str, ...] = ()

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value):
        rate = parse_rate(value)
        if not 0.0 <= rate <= 10.0:
            raise ValueError(f"must be between 0 and 10 (0% to 1000%), got {rate!r}")
        return rate

    @field_validator("coverage", mode="before")
    @classmethod
    def _coverage(cls, value):
        if value is None:
            return None
        share = parse_rate(value)
        if not 0.0 < share <= 1.0:
            raise ValueError(f"must be a share in (0, 1] (0.4 or '40%'), got {value!r}")
        return share

    @field_validator("products", "exclude_products", mode="before")
    @classmethod
    def _hs_codes(cls, value):
        if value is None:
            return None
        if value == ALL:  # every product: the list to take exclude_products out of
            return (ALL,)
        codes = [value] if isinstance(value, str) else list(value)
        for code in codes:
            if not isinstance(code, str) or not HS_CODE.match(code.strip()):
                raise ValueError(f"{code!r} is not an HS code: give 2, 4 or 6 digits as a string, or a "
                                 "prefix ending in '*' (e.g. '87', '8703', '72*', '2*' for chapters 20-29)")
        return tuple(c.strip().rstrip("*") for c in codes)

    @model_validator(mode="after")
    def _part_of_cells(self):
        if self.coverage is not None and self.products is not None:
            raise ValueError("give coverage (a stated share) or products (HS codes), not both")
        if self.products is not None and not self.products:
            raise ValueError("products is an empty list; give HS codes or leave products out (the whole cell)")
        if self.exclude_products and self.products is None:
            raise ValueError("exclude_products needs products (the codes they are taken out of)")
        if self.coverage is not None and self.mode != "add":
            raise ValueError(f"a stated coverage share needs mode 'add' (a layer on part of the trade); mode "
                             f"{self.mode!r} sets the whole tariff; list the products instead")
        return self


class TradeCostEvent(_CellEvent):
    """A dated proportional change of iceberg trade costs (cumulative)."""

    change: float = Field(gt=-1.0, le=10.0)


class DemandEvent(_CellEvent):
    """A dated demand shifter ``d`` (purchase commitment, boycott), cumulative.

    ``usd_per_year`` (USD million per year, may be negative): a purchase commitment; in each period
    the demand shifter of the matched cells is solved, per draw, so that their exports exceed what
    they would be without it by exactly that amount (entry responds too, so the shift of ``d`` is
    smaller than amount / flow). ``percent`` multiplies ``d`` by ``1 + percent`` (a boycott:
    ``"-20%"``).
    """

    usd_per_year: float | None = None
    percent: float | None = None

    @field_validator("percent", mode="before")
    @classmethod
    def _percent(cls, value):
        return None if value is None else parse_rate(value)

    @model_validator(mode="after")
    def _one_amount(self):
        if (self.usd_per_year is None) == (self.percent is None):
            raise ValueError("give exactly one of usd_per_year or percent")
        if self.percent is not None and self.percent <= -1:
            raise ValueError(f"percent must be above -100%, got {self.percent!r}")
        return self


class FxEvent(_Frozen):
    """A deterministic move of a region's currency against the dollar from ``date`` (cumulative).

    ``change = 0.10``: the currency buys 10 % more dollars (for Japan: the yen 10 % stronger).
    """

    date: dt.date
    currency: str
    change: float = Field(gt=-1.0, le=10.0)
    announced: dt.date | None = None  # when firms learn of it (dynamic model); default: ``date``
    note: str = ""


class FxProcess(_Frozen):
    """Ornstein-Uhlenbeck (monthly AR(1)) deviations of log FX of one currency from its path:
    ``x_t = (1 - mean_reversion) x_(t-1) + volatility * eps_t``, ``x_0 = 0``."""

    currency: str
    mean_reversion: float = Field(ge=0.0, le=1.0)
    volatility: float = Field(ge=0.0, le=1.0)
    note: str = ""


class ParameterSpec(_Frozen):
    """An uncertain (or fixed) parameter and its distribution, sampled once per draw.

    ``sectors`` (and ``origins`` for ``pass_through``) select which values it sets; ``shared = true``
    draws one value for all of them, ``false`` one per sector (and origin).
    """

    name: Literal["sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr", "pass_through",
                  "sunk_cost_ratio", "eta"]
    sectors: Codes = ALL
    origins: Codes = ALL
    shared: bool = True
    dist: Literal["fixed", "normal", "truncnormal", "uniform", "beta", "choice"]
    value: float | None = None
    mean: float | None = None
    sd: float | None = Field(default=None, ge=0.0)
    low: float | None = None
    high: float | None = None
    alpha: float | None = Field(default=None, gt=0.0)
    beta: float | None = Field(default=None, gt=0.0)
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    note: str = ""

    @model_validator(mode="after")
    def _complete(self):
        needs = {"fixed": ("value",), "normal": ("mean", "sd"), "truncnormal": ("mean", "sd", "low", "high"),
                 "uniform": ("low", "high"), "beta": ("alpha", "beta", "low", "high"), "choice": ("values",)}
        missing = [k for k in needs[self.dist] if getattr(self, k) in (None, ())]
        if missing:
            raise ValueError(f"dist '{self.dist}' needs {', '.join(needs[self.dist])}; missing {', '.join(missing)}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.weights and (len(self.weights) != len(self.values) or min(self.weights) < 0
                             or abs(sum(self.weights) - 1.0) > 1e-9):
            raise ValueError("weights must be one non-negative number per value, summing to 1")
        if self.dist == "truncnormal" and not self.low - 3 * self.sd <= self.mean <= self.high + 3 * self.sd:
            raise ValueError("mean is more than 3 sd outside [low, high]; the truncated normal would be degenerate")
        return self


class Events(_Frozen):
    """Event lists shared by a scenario and by branch options."""

    tariff: tuple[TariffEvent, ...] = ()
    trade_cost: tuple[TradeCostEvent, ...] = ()
    demand: tuple[DemandEvent, ...] = ()
    fx: tuple[FxEvent, ...] = ()
    branch: tuple["Branch", ...] = ()


class Option(Events):
    """One outcome of a branch point, with its probability and its events."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    probability: float = Field(ge=0.0, le=1.0 + PROBABILITY_TOLERANCE)
    note: str = ""


class Branch(_Frozen):
    """A decision at ``date``: exactly one option happens, with the stated probabilities."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    date: dt.date
    option: tuple[Option, ...] = Field(min_length=1)
    announced: dt.date | None = None  # when firms learn of the decision to come; default: the start
    note: str = ""

    @model_validator(mode="after")
    def _probabilities(self):
        total = sum(o.probability for o in self.option)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            raise ValueError(f"option probabilities must sum to 1 (within {PROBABILITY_TOLERANCE:g}, so a "
                             f"third may be written 0.333333), got {total:.10g}")
        names = [o.name for o in self.option]
        if len(set(names)) != len(names):
            raise ValueError(f"option names must differ, got {', '.join(names)}")
        return self


class Dynamics(_Frozen):
    """Settings of the dynamic firm model (``engine.firms.bellman``); monthly rates. Defaults and their
    sources: ``engine.scenario.defaults.DYNAMICS_DEFAULTS`` and docs/model.md section 11."""

    mode: Literal[DYNAMICS_MODES] = "static"
    persistence: float = Field(default=DYNAMICS_DEFAULTS["persistence"], ge=0.0, lt=1.0)
    # None: the identified sales dispersion over sigma - 1 (engine.scenario.defaults.productivity_sd_for)
    productivity_sd: float | None = Field(default=DYNAMICS_DEFAULTS["productivity_sd"], ge=0.0, le=5.0)
    grid_points: int = Field(default=DYNAMICS_DEFAULTS["grid_points"], ge=1, le=41)
    discount: float = Field(default=DYNAMICS_DEFAULTS["discount"], ge=0.0, lt=1.0)
    half_life: float = Field(default=DYNAMICS_DEFAULTS["half_life"], ge=0.0, le=600.0)
    # monthly probability that an exporter loses its relationship in a destination (section 11.2)
    relationship_loss: float = Field(default=DYNAMICS_DEFAULTS["relationship_loss"], ge=0.0, lt=1.0)
    price_reset: float = Field(default=DYNAMICS_DEFAULTS["price_reset"], gt=0.0, le=1.0)
    dollar_invoicing: float = Field(default=DYNAMICS_DEFAULTS["dollar_invoicing"], ge=0.0, le=1.0)
    # importers' stocks between final sales and customs imports (engine.firms.inventories)
    inventories: bool = True
    inventory_months: float = Field(default=DYNAMICS_DEFAULTS["inventory_months"], ge=0.0, le=24.0)
    inventory_adjustment: float = Field(default=DYNAMICS_DEFAULTS["inventory_adjustment"], gt=0.0, le=1.0)
    inventory_price_response: float = Field(default=DYNAMICS_DEFAULTS["inventory_price_response"], ge=0.0,
                                            le=100.0)


class GeneralEquilibrium(_Frozen):
    """Settings of the ``ge`` closure (docs/model.md section 6.6): how labour supply responds and what
    tariff revenue pays for. The defaults are fixed labour and a lump-sum rebate."""

    labour_supply: float = Field(default=0.0, ge=0.0, le=10.0)  # elasticity kappa of L to the real after-tax wage
    revenue: Literal["lump_sum", "income_tax", "government"] = "lump_sum"


class Scenario(Events):
    """A validated scenario. Dense arrays come from ``engine.scenario.policy``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title: str = ""
    description: str = ""
    start: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    periods: int = Field(ge=1, le=600)
    focus: Focus | None = None
    requires: Requires = Requires()
    closure: Literal[CLOSURES] = CLOSURES[0]
    sunk_cost_ratio: float = Field(default=1.0, gt=0.0, le=1.0)
    dynamics: Dynamics = Dynamics()
    ge: GeneralEquilibrium = GeneralEquilibrium()
    groups: dict[str, tuple[str, ...]] = {}
    fx_process: tuple[FxProcess, ...] = ()
    parameter: tuple[ParameterSpec, ...] = ()
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


Events.model_rebuild()
Option.model_rebuild()
Branch.model_rebuild()
Scenario.model_rebuild()
