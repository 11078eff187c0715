"""What firms believe about future policy: the scenario's own tree, as known month by month.

An event is known from the month of its ``announced`` date (default: its own date, a surprise); a
branch point (the decision to come, its options and their probabilities) from the month of its
``announced`` date (default: the scenario start); a branch's outcome from the month of its date.
Period 0 is the stationary baseline: nothing is known yet. An *epoch* starts in each month in
which something new is announced; within an epoch firms solve one problem over the branch paths
still possible, whose outcomes are revealed at the branch dates (``engine.firms.bellman``).
"""

from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class Epoch:
    """Beliefs from ``first_period`` until the next epoch.

    Attributes
    ----------
    first_period : int
    labels : list of tuple
        Each belief path's branch choices (known branch points only).
    probabilities : list of float
    paths : list of engine.scenario.policy.PolicyPath
        Each belief path's calendar of known events.
    info_keys : list (T) of list (J)
        Paths with equal keys in period ``t`` cannot be told apart in ``t``.
    """

    first_period: int
    labels: list
    probabilities: list
    paths: list
    info_keys: list

    def realized(self, full_labels):
        """Index of the belief path that a draw on ``full_labels`` is on."""
        known = {label for path in self.labels for label, _ in path}
        restricted = tuple((label, option) for label, option in full_labels if label in known)
        return self.labels.index(restricted)


def _period_of(dates, day):
    """The period whose month contains ``day`` (0 before the start; T - 1 after the end)."""
    period = 0
    for t, first in enumerate(dates):
        if first <= day:
            period = t
    return period


def _known_from(dates, announced, default_period):
    """First period (>= 1) in which an item announced on ``announced`` is known."""
    if announced is None:
        return max(default_period, 1)
    return max(_period_of(dates, announced), 1)


def belief_epochs(model):
    """Every epoch of a compiled scenario (``engine.scenario.policy.ScenarioModel``), cached on the model."""
    if model.epochs is not None:
        return model.epochs
    scenario = model.scenario
    dates = scenario.dates
    top = [(e, _known_from(dates, e.event.announced, _period_of(dates, e.event.date))) for e in model.events]
    reveal = {}

    def walk(compiled, raw, out):
        """Pair each compiled branch with its scenario object: (label, known from, reveal, options)."""
        for (label, options), branch in zip(compiled, raw):
            reveal[label] = _period_of(dates, branch.date)
            compiled_options = []
            for (option, events, children), raw_option in zip(options, branch.option):
                child_out = []
                walk(children, raw_option.branch, child_out)
                timed = [(e, _known_from(dates, e.event.announced, 1)) for e in events]
                compiled_options.append((option, timed, child_out))
            out.append((label, _known_from(dates, branch.announced, 1), compiled_options))

    branches = []
    walk(model.branches, scenario.branch, branches)

    def known_items(period):
        starts = {p for _, p in top}

        def collect(branch_list):
            for _label, known, options in branch_list:
                starts.add(known)
                for _option, timed, children in options:
                    starts.update(p for _, p in timed)
                    collect(children)

        collect(branches)
        return sorted(s for s in starts if s <= period)

    def enumerate_paths(branch_list, period):
        paths = [((), 1.0, [])]
        for label, known, options in branch_list:
            if known > period:
                continue
            grown = []
            for labels, probability, events in paths:
                for option, timed, children in options:
                    mine = [e for e, p in timed if max(p, known) <= period]
                    for sub_labels, sub_p, sub_events in enumerate_paths(children, period):
                        grown.append((labels + ((label, option.name),) + sub_labels,
                                      probability * option.probability * sub_p, events + mine + sub_events))
            paths = grown
        return paths

    n_periods = len(dates)
    starts = sorted(set(known_items(n_periods)) | {1}) if n_periods > 1 else []
    epochs = []
    for first in starts:
        known_top = [e for e, p in top if p <= first]
        paths = enumerate_paths(branches, first)
        labels = [p[0] for p in paths]
        calendars = [model.calendar(known_top + events, path_labels) for path_labels, _, events in paths]
        info = [[tuple((label, option) for label, option in path_labels if reveal[label] <= t)
                 for path_labels in labels] for t in range(n_periods)]
        epochs.append(Epoch(first_period=first, labels=labels, probabilities=[p[1] for p in paths],
                            paths=calendars, info_keys=info))
    model.epochs = epochs
    return epochs
