"""From a validated scenario to dense monthly policy arrays, one set per branch path.

``ScenarioModel(scenario, calibration)`` checks every code against the calibration, enumerates the
policy paths through the branch points (with their probabilities) and builds, on demand and cached,
the arrays of a path: tariffs in force, iceberg costs, demand shifters and the deterministic part of
exchange rates. A draw picks its path with ``sample_path`` from uniforms of its own stream.

Calendar rules: events apply in date order (file order within a date, top-level events before
branch options). Each month gets the day-weighted mean of what is in force on its days, computed as
"first value + weighted changes" so that cells that did not change keep their value bit for bit.

Part of a cell (docs/model.md section 9.2): a tariff event with ``products`` (HS codes) or a stated
``coverage`` share applies to part of each cell's trade. The calendar then keeps the tariff of each
*segment* of a cell: the product classes that the scenario's lists tell apart (weighted by the
calibration's ``products`` table) crossed with in/out of each stated-coverage measure (independent
shares). A cell's tariff is the CES index of its segments' tariffs at the baseline weights, ``(1 +
T)^(1-sigma) = sum_s w_s (1 + t_s)^(1-sigma)`` (what the cell's demand responds to); the
trade-weighted mean ``sum_s w_s t_s`` is kept beside it for comparison with duties collected.
"""

import calendar
import copy
import datetime as dt
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.scenario.schema import ALL


@dataclass(frozen=True, eq=False)
class PolicyPath:
    """Dense policy arrays of one scenario path.

    Attributes
    ----------
    dates : tuple of datetime.date, length T
    tariff : ndarray (T, R, R, K)
        Ad-valorem tariff in force ``[t, origin, destination, sector]`` (day-weighted mean); in a
        cell that a measure covers in part, the CES tariff index of its segments (module docstring).
    iceberg : ndarray (T, R, R, K)
        Iceberg trade cost relative to the baseline, ``tau(t) / tau(0)``.
    fx : ndarray (T, R)
        Value of each region's currency in dollars relative to the baseline.
    demand : ndarray (T, R, R, K)
        Demand shifter ``d(t)`` (1 at the baseline).
    commitments : tuple of (ndarray (R, R, K) bool, ndarray (T,), (str, str))
        Purchase commitments in USD million per year: the cells, the amount in force in each
        period (day-weighted) and where it is declared (scenario file, key). ``engine.firms.static`` turns each into the demand shift that raises those
        cells' exports by that amount.
    label : str
        The branch path, e.g. ``july_decision=deal``; empty without branches.
    """

    dates: tuple
    tariff: np.ndarray
    iceberg: np.ndarray
    fx: np.ndarray
    demand: np.ndarray
    commitments: tuple = ()
    label: str = ""
    branch_labels: tuple = ()  # ((branch label, option name), ...) of the path
    beliefs: object = None  # the ScenarioModel whose tree firms believe (engine.scenario.beliefs)
    no_policy: bool = False  # the draw's no-policy path (docs/model.md section 8.1)
    #: trade-weighted mean tariff at the baseline weights (differs from ``tariff`` only in cells a
    #: measure covers in part); None: equal to ``tariff``
    tariff_average: np.ndarray | None = None

    @property
    def average_tariff(self):
        """``tariff_average``, or ``tariff`` where no measure covers part of a cell."""
        return self.tariff if self.tariff_average is None else self.tariff_average


@dataclass(frozen=True, eq=False)
class _Located:
    kind: str  # tariff | trade_cost | demand | fx
    key: str  # where in the file, for messages
    order: int
    event: object
    mask: np.ndarray | None  # (R, R, K) cells, or None for fx
    currency: int = -1


@dataclass(frozen=True, eq=False)
class _Segments:
    """The parts of a cell that the scenario's tariff events tell apart (module docstring)."""

    n: int  # segments S = classes x 2^len(measures)
    product_class: np.ndarray  # (S,) product class of each segment
    flags: np.ndarray  # (S, M) bool: the segment is inside each stated-coverage measure
    measures: tuple  # layer names of the stated-coverage measures
    class_weights: np.ndarray  # (R, R, K, C): each product class's share of the cell's trade
    of_event: dict  # event order -> (S,) bool, the segments the event applies to

    def weights(self, coverage):
        """(R, R, K, S) baseline weights, given each stated measure's share ``coverage[name]`` (R, R, K)."""
        w = self.class_weights[..., self.product_class]
        for j, name in enumerate(self.measures):
            share = coverage[name][..., None]
            w = w * np.where(self.flags[:, j], share, 1.0 - share)
        return w


class ScenarioModel:
    """A scenario compiled against a calibration's regions and sectors.

    Parameters
    ----------
    scenario : engine.scenario.schema.Scenario
    calibration : engine.calibration.data.CalibrationData

    Raises
    ------
    InputError
        Unknown codes, groups or measures, and events that cannot combine, naming file and key.
    """

    def __init__(self, scenario, calibration):
        self.scenario = scenario
        self.calibration = calibration
        self.source = scenario.source
        self.regions = calibration.regions
        self.sectors = calibration.sectors
        self._groups = self._check_groups()
        if scenario.focus is not None:
            for role in ("exporter", "importer"):
                code = getattr(scenario.focus, role)
                if code not in self.regions:
                    raise InputError(self.source, f"unknown region {code!r}; allowed: {', '.join(self.regions)}",
                                     f"focus.{role}")
        self._order = 0
        self.events = self._locate(scenario, "")
        self.branches = [self._compile_branch(b, f"branch #{j + 1}", b.name) for j, b in enumerate(scenario.branch)]
        self.fx_processes = [(self._currency(p.currency, f"fx_process #{j + 1}.currency"), p)
                             for j, p in enumerate(scenario.fx_process)]
        self.paths = self._enumerate(self.branches)
        self.segments = self._segment(self._all_events(self.events, self.branches))
        self._cache = {}
        #: ``engine.scenario.beliefs.belief_epochs`` of this scenario, once computed.
        self.epochs = None
        self._without_policy = None
        for labels, _probability, events in self.paths:
            self._check_measures(self.events + events)

    def check_all_paths(self):
        """Build the arrays of every branch path (raises InputError on the first bad one)."""
        for labels, _probability, _events in self.paths:
            self.arrays(labels)

    # ---- the draw's no-policy path --------------------------------------------------------
    def without_policy(self):
        """This scenario with its policy taken out: the reference of every policy effect
        (docs/model.md section 8.1).

        Tariff, trade-cost and demand events (purchase commitments included) are removed, at the top
        level and in every branch option; exchange-rate events, the branch tree and its
        probabilities stay, so a draw's branch labels, exchange-rate path and the firms' beliefs about
        exchange rates are those of the scenario (common random numbers). Built once per model.
        """
        if self._without_policy is None:
            model = copy.copy(self)
            model.events = [e for e in self.events if e.kind == "fx"]
            model.branches = _fx_only(self.branches)
            model.paths = model._enumerate(model.branches)
            model._cache, model.epochs, model._without_policy = {}, None, None
            self._without_policy = model
        return self._without_policy

    def policy_cells(self):
        """(R, R, K) bool: the cells some tariff, trade-cost or demand event of some branch path
        touches; elsewhere the scenario and its no-policy path have the same inputs."""
        mask = np.zeros(self.calibration.flows.shape, dtype=bool)

        def add(events, branches):
            for e in events:
                if e.kind != "fx":
                    mask[e.mask] = True
            for _label, options in branches:
                for _option, option_events, children in options:
                    add(option_events, children)

        add(self.events, self.branches)
        return mask

    # ---- codes ------------------------------------------------------------------------------
    def _check_groups(self):
        groups = {}
        for name, members in self.scenario.groups.items():
            if name in self.regions or name == ALL:
                raise InputError(self.source, f"group name {name!r} is already a region code or ALL", f"groups.{name}")
            for code in members:
                if code not in self.regions:
                    raise InputError(self.source, f"unknown region {code!r}; allowed: {', '.join(self.regions)}",
                                     f"groups.{name}")
            groups[name] = [self.regions.index(c) for c in members]
        return groups

    def _regions(self, value, key, exclude=None):
        codes = [value] if isinstance(value, str) else list(value)
        if codes == [ALL]:
            return [j for j, c in enumerate(self.regions) if c != exclude]
        out = []
        for code in codes:
            if code in self.regions:
                out.append(self.regions.index(code))
            elif code in self._groups:
                out.extend(self._groups[code])
            else:
                allowed = ", ".join([*self.regions, *self._groups])
                raise InputError(self.source, f"unknown region or group {code!r}; allowed: {allowed} or 'ALL'", key)
        if not out:
            raise InputError(self.source, "empty list", key)
        return sorted(set(out) - ({self.regions.index(exclude)} if exclude in self.regions else set()))

    def _sectors(self, value, key):
        codes = [value] if isinstance(value, str) else list(value)
        if codes == [ALL]:
            return list(range(len(self.sectors)))
        for code in codes:
            if code not in self.sectors:
                raise InputError(self.source, f"unknown sector {code!r}; allowed: {', '.join(self.sectors)} or 'ALL'", key)
        if not codes:
            raise InputError(self.source, "empty list", key)
        return [self.sectors.index(c) for c in codes]

    def _currency(self, code, key):
        if code == "USA":
            raise InputError(self.source, "the US dollar is the numeraire; move the other currencies", key)
        if code not in self.regions:
            raise InputError(self.source, f"unknown currency (region code) {code!r}; allowed: "
                                          f"{', '.join(r for r in self.regions if r != 'USA')}", key)
        return self.regions.index(code)

    def cells(self, event, key):
        """Boolean mask (R, R, K) of the (origin, destination, sector) cells an event touches."""
        n_regions = len(self.regions)
        mask = np.zeros((n_regions, n_regions, len(self.sectors)), dtype=bool)
        sector_idx = self._sectors(event.sectors, f"{key}.sectors")
        for n in self._regions(event.importer, f"{key}.importer"):
            for i in self._regions(event.exporter, f"{key}.exporter", exclude=self.regions[n]):
                mask[i, n, sector_idx] = True
        if not mask.any():
            raise InputError(self.source, "the event touches no (exporter, importer) pair: an importer never "
                                          "trades with itself here", key)
        return mask

    # ---- parts of cells -------------------------------------------------------------------
    @staticmethod
    def _all_events(events, branches):
        out = list(events)
        for _label, options in branches:
            for _option, option_events, children in options:
                out.extend(ScenarioModel._all_events(option_events, children))
        return out

    def _segment(self, events):
        """The segments of cells that ``events``' products lists and stated shares tell apart."""
        tariffs = [e for e in events if e.kind == "tariff"]
        listed = [e for e in tariffs if e.event.products is not None]
        stated = []
        for e in tariffs:
            if e.event.coverage is not None and _layer(e) not in stated:
                stated.append(_layer(e))
        if len(stated) > 8:
            raise InputError(self.source, f"{len(stated)} measures state a coverage share ({', '.join(stated)}); "
                                          "at most 8 are supported", "tariff")
        shape = self.calibration.flows.shape
        if listed:
            products = self.calibration.products
            covers = np.array([self._products_covered(e, products) for e in listed])  # (E, P)
            signatures, product_class = np.unique(covers.T, axis=0, return_inverse=True)
            class_covered = {e.order: signatures[:, j] for j, e in enumerate(listed)}  # (C,) bool
            n_classes = len(signatures)
            values = products.values  # (R, R, P)
            by_sector = np.zeros((*shape, n_classes))
            for p, (k, c) in enumerate(zip(products.sector, product_class.reshape(-1))):
                by_sector[:, :, k, c] += values[:, :, p]
            total = by_sector.sum(axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                class_weights = np.where(total[..., None] > 0, by_sector / total[..., None], 0.0)
            class_weights[..., 0] = np.where(total > 0, class_weights[..., 0], 1.0)
            for e in listed:
                missing = e.mask & (total <= 0)
                if missing.any():
                    i, n, k = (int(x[0]) for x in np.nonzero(missing))
                    raise InputError(self.source, f"the calibration has no product weights for {self.regions[i]} -> "
                                                  f"{self.regions[n]}, sector {self.sectors[k]} ({products.source}); "
                                                  "narrow the event's cells or state coverage = share with its "
                                                  "source", f"{e.key}.products")
        else:
            n_classes, class_covered = 1, {}
            class_weights = np.ones((*shape, 1))
        n = n_classes * 2 ** len(stated)
        segment = np.arange(n)
        flags = ((segment[:, None] % 2 ** len(stated)) >> np.arange(len(stated))[None, :]) & 1 == 1
        product_class = segment // 2 ** len(stated)
        of_event = {}
        for e in tariffs:
            if e.order in class_covered:
                of_event[e.order] = class_covered[e.order][product_class]
            elif e.event.coverage is not None:
                of_event[e.order] = flags[:, stated.index(_layer(e))]
            else:
                of_event[e.order] = np.ones(n, dtype=bool)
        return _Segments(n, product_class, flags, tuple(stated), class_weights, of_event)

    def _products_covered(self, located, products):
        """(P,) bool: the calibration's product codes an event's ``products`` less ``exclude_products`` cover."""
        key = f"{located.key}.products"
        if products is None:
            raise InputError(self.source, f"the calibration ({self.calibration.source}) has no products table, "
                                          "so HS codes cannot be weighted; state coverage = share with its "
                                          "source instead", key)
        detail = len(products.codes[0])
        codes = np.array(products.codes)

        def match(entries, field):
            hit = np.zeros(len(codes), dtype=bool)
            for entry in entries:
                if entry == ALL:
                    hit[:] = True
                    continue
                if len(entry) > detail:
                    raise InputError(self.source, f"HS code {entry!r} is finer than the calibration's product "
                                                  f"weights ({detail} digits, {products.source}); give its "
                                                  f"{detail}-digit heading, or state coverage = share with its "
                                                  "source", f"{located.key}.{field}")
                found = np.char.startswith(codes, entry)
                if not found.any():
                    raise InputError(self.source, f"HS code {entry!r} matches no product of the calibration "
                                                  f"({products.source}: {len(codes)} codes of {detail} digits, "
                                                  f"{codes[0]} to {codes[-1]})", f"{located.key}.{field}")
                hit |= found
            return hit

        covered = match(located.event.products, "products") & ~match(located.event.exclude_products,
                                                                       "exclude_products")
        if not covered.any():
            raise InputError(self.source, "exclude_products removes every product the list covers", key)
        return covered

    # ---- structure --------------------------------------------------------------------------
    def _locate(self, events, prefix):
        located = []
        for kind in ("tariff", "trade_cost", "demand", "fx"):
            for j, event in enumerate(getattr(events, kind)):
                key = f"{prefix}{kind} #{j + 1}"
                self._order += 1
                if kind == "fx":
                    located.append(_Located(kind, key, self._order, event, None,
                                            self._currency(event.currency, f"{key}.currency")))
                else:
                    located.append(_Located(kind, key, self._order, event, self.cells(event, key)))
        return located

    def _compile_branch(self, branch, key, label):
        options = []
        for o, option in enumerate(branch.option):
            prefix = f"{key}.option #{o + 1}."
            events = self._locate(option, prefix)
            children = [self._compile_branch(b, f"{prefix}branch #{j + 1}", f"{label}/{option.name}/{b.name}")
                        for j, b in enumerate(option.branch)]
            options.append((option, events, children))
        return label, options

    def _enumerate(self, branches):
        """Every path: (((branch label, option name), ...), probability, events)."""
        paths = [((), 1.0, [])]
        for label, options in branches:
            grown = []
            for labels, probability, events in paths:
                for option, option_events, children in options:
                    for sub_labels, sub_p, sub_events in self._enumerate(children):
                        grown.append((labels + ((label, option.name),) + sub_labels,
                                      probability * option.probability * sub_p, events + option_events + sub_events))
            paths = grown
        if len(paths) > 4096:
            raise InputError(self.source, f"{len(paths)} branch paths; at most 4096 are supported", "branch")
        return paths

    def _check_measures(self, events):
        tariffs = [e for e in events if e.kind == "tariff"]
        measures = {e.event.measure for e in tariffs if e.event.measure}
        exclusions = {}
        for e in tariffs:
            for m in e.event.exclude_measures:
                if m not in measures:
                    raise InputError(self.source, f"unknown measure {m!r}; measures in this scenario: "
                                                  f"{', '.join(sorted(measures)) or 'none'}", f"{e.key}.exclude_measures")
            if e.event.measure and e.event.exclude_measures:
                known = exclusions.setdefault(e.event.measure, (e.event.exclude_measures, e.key))
                if known[0] != e.event.exclude_measures:
                    raise InputError(self.source, f"measure {e.event.measure!r} has other exclude_measures at "
                                                  f"{known[1]}; a measure is excluded the same way everywhere",
                                     f"{e.key}.exclude_measures")
        setting = [e for e in tariffs if e.event.mode != "add"]
        for a_pos, a in enumerate(setting):
            for b in setting[a_pos + 1:]:
                if a.event.date == b.event.date and (a.mask & b.mask).any() and (
                        self.segments.of_event[a.order] & self.segments.of_event[b.order]).any() and (
                        a.event.mode != b.event.mode or a.event.rate != b.event.rate):
                    raise InputError(self.source, f"sets the whole tariff of cells that {a.key} also sets on "
                                                  f"{a.event.date} ({a.event.mode} {a.event.rate:g} vs "
                                                  f"{b.event.mode} {b.event.rate:g}); they cannot combine",
                                     b.key)

    # ---- paths ------------------------------------------------------------------------------
    @property
    def branch_labels(self):
        """Labels of every branch point, nested ones as ``parent/option/child``."""
        labels = []

        def walk(branches):
            for label, options in branches:
                labels.append(label)
                for _option, _events, children in options:
                    walk(children)

        walk(self.branches)
        return labels

    def sample_path(self, uniform):
        """The path of one draw: ``uniform(label)`` gives the draw's uniform for each branch label.

        Returns
        -------
        tuple of (branch label, option name)
        """
        chosen = []

        def walk(branches):
            for label, options in branches:
                u = uniform(label)
                cumulative = 0.0
                for option, _events, children in options:
                    cumulative += option.probability
                    if u < cumulative or option is options[-1][0]:
                        chosen.append((label, option.name))
                        walk(children)
                        break

        walk(self.branches)
        return tuple(chosen)

    def arrays(self, labels=()):
        """PolicyPath of one branch path (cached)."""
        if labels not in self._cache:
            for path_labels, _p, events in self.paths:
                if path_labels == labels:
                    self._cache[labels] = self.calendar(self.events + events, labels)
                    break
            else:
                raise KeyError(labels)
        return self._cache[labels]

    def calendar(self, events, labels):
        """The ``PolicyPath`` of a list of compiled events (one branch path's ``labels``)."""
        cal = self.calibration
        shape = cal.flows.shape
        n_regions = shape[0]
        seg = self.segments
        changes = {}
        for e in sorted(events, key=lambda e: (e.event.date, e.order)):
            changes.setdefault(e.event.date, []).append(e)
        mfn = cal.tariffs[..., None]
        base = np.repeat(mfn, seg.n, axis=-1)  # (R, R, K, S) tariff of each segment of a cell
        layers, excluded_by = {}, {}
        coverage = {name: np.ones(shape) for name in seg.measures}
        tau, demand, fx = np.ones(shape), np.ones(shape), np.ones(n_regions)
        commitments = {}  # event order -> (mask, USD million per year, key)
        committed = {}  # event order -> amount in force per period
        dates = self.scenario.dates
        kept = (("tariff", shape), ("iceberg", shape), ("demand", shape), ("fx", (n_regions,)))
        if seg.n > 1:  # a separate trade-weighted mean only where some cell is covered in part
            kept += (("tariff_average", shape),)
        out = {name: np.empty((len(dates), *s)) for name, s in kept}
        one_minus_sigma = (1.0 - cal.sigma)[:, None]

        def in_force():
            total = base.copy()
            for name, layer in layers.items():
                blocked = np.zeros(total.shape, dtype=bool)
                for other in excluded_by.get(name, ()):
                    if other in layers:
                        blocked |= layers[other] != 0
                total += np.where(blocked, 0.0, layer)
            first = total[..., 0]
            if seg.n == 1:
                return first, first
            weights = seg.weights(coverage)
            # where every part with trade has one tariff, that tariff, bit for bit
            heaviest = np.take_along_axis(total, weights.argmax(axis=-1)[..., None], axis=-1)
            uniform = ((total == heaviest) | (weights == 0)).all(axis=-1)
            heaviest = heaviest[..., 0]
            index = np.sum(weights * (1.0 + total) ** one_minus_sigma, axis=-1) ** (1.0 / one_minus_sigma[:, 0]) - 1.0
            return np.where(uniform, heaviest, index), np.where(uniform, heaviest, np.sum(weights * total, axis=-1))

        for t, first in enumerate(dates):
            n_days = calendar.monthrange(first.year, first.month)[1]
            stretches = []
            for day in range(n_days):
                todays = changes.get(first + dt.timedelta(days=day), ())
                for e in todays:
                    ev = e.event
                    if e.kind == "fx":
                        fx[e.currency] *= 1.0 + ev.change
                    elif e.kind == "trade_cost":
                        tau[e.mask] *= 1.0 + ev.change
                    elif e.kind == "demand" and ev.percent is not None:
                        demand[e.mask] *= 1.0 + ev.percent
                    elif e.kind == "demand":
                        commitments[e.order] = (e.mask, ev.usd_per_year, e.key)
                    else:
                        part = seg.of_event[e.order]
                        inside = e.mask[..., None] & part
                        if ev.mode == "add":
                            name = _layer(e)
                            layer = layers.setdefault(name, np.zeros(base.shape))
                            layer[inside] = ev.rate
                            layer[e.mask[..., None] & ~part] = 0.0
                            if name in coverage:
                                coverage[name][e.mask] = 1.0 if ev.coverage is None else ev.coverage
                            if ev.exclude_measures:
                                excluded_by[name] = ev.exclude_measures
                        else:
                            base[inside] = ev.rate if ev.mode == "replace" else np.maximum(
                                np.broadcast_to(mfn, base.shape)[inside], ev.rate)
                            for layer in layers.values():
                                layer[inside] = 0.0
                if todays or not stretches:
                    index, average = in_force()
                    stretches.append(({"tariff": index, "tariff_average": average, "iceberg": tau.copy(),
                                       "demand": demand.copy(), "fx": fx.copy()}, 0))
                stretches[-1] = (stretches[-1][0], stretches[-1][1] + 1)
                for order, (_mask, amount, _key) in commitments.items():
                    committed.setdefault(order, np.zeros(len(dates)))[t] += amount / n_days
            for name, array in out.items():
                first_value = stretches[0][0][name]
                array[t] = first_value + sum((s[name] - first_value) * days for s, days in stretches[1:]) / n_days
        label = ";".join(f"{b}={o}" for b, o in labels)
        seen = np.zeros(shape, dtype=bool)
        for order, (mask, amount, key) in sorted(commitments.items()):
            if amount <= -cal.flows[mask].sum():
                raise InputError(self.source, f"a cut of {-amount:g} USD million a year exceeds the baseline "
                                              f"flow of its cells ({cal.flows[mask].sum():g})", f"{key}.usd_per_year")
            if amount > 0 and not (cal.flows[mask] > 0).any():
                raise InputError(self.source, "its cells have no baseline flow, so no demand shift can raise "
                                              "their exports; choose cells that trade", f"{key}.usd_per_year")
            if (seen & mask).any():
                raise InputError(self.source, "its cells overlap another purchase commitment of the same path; "
                                              "give one commitment per cell (add the amounts)", f"{key}.usd_per_year")
            seen |= mask
        return PolicyPath(dates=dates, label=label, commitments=tuple(
            (commitments[o][0], committed[o], (self.source, f"{commitments[o][2]}.usd_per_year"))
            for o in sorted(commitments)), **out)

    def calendar_table(self, labels=(), exporter=None, importer=None):
        """Tariffs in force by month for one exporter-importer pair: rows (date, sector rates (the CES
        index where a measure covers part of a cell), trade-weighted mean sector rates)."""
        path = self.arrays(labels)
        i, n = self.regions.index(exporter), self.regions.index(importer)
        return [(d, path.tariff[t, i, n, :], path.average_tariff[t, i, n, :]) for t, d in enumerate(path.dates)]


def _layer(located):
    """The layer an ``add`` event writes: its measure, or one of its own."""
    return located.event.measure or f"_event{located.order}"


def policy_path(scenario, calibration, labels=()):
    """Dense arrays of one path of ``scenario`` (the only one when it has no branch points)."""
    return ScenarioModel(scenario, calibration).arrays(tuple(labels))


def _fx_only(branches):
    """Compiled branches with every event but the exchange-rate ones removed (same tree)."""
    return [(label, [(option, [e for e in events if e.kind == "fx"], _fx_only(children))
                     for option, events, children in options]) for label, options in branches]
