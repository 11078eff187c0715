"""Checks that hold for every draw, whatever the seed: distribution supports and plausibility bounds.

``engine.scenario.uncertainty.sample_parameters`` checks the model's rules on each sampled draw; the checks
here prove them for the whole support of each ``[[parameter]]`` distribution, so a run (and
``engine scenarios validate``) refuses a scenario that *could* break a rule in some draw, before
any work and in a time that does not grow with ``--draws``.

Supports: ``fixed`` {value}; ``uniform``, ``truncnormal``, ``beta`` [low, high]; ``choice``
[min, max] of its values; ``normal`` the whole real line (every model parameter is bounded, so a
normal with sd > 0 always can break a rule: use ``truncnormal``).
"""

import numpy as np

from engine.cells import operating_margin
from engine.errors import InputError
from engine.scenario.schema import ALL


def losing_cell(calibration, pass_through, sigma):
    """The first (origin, destination, sector) that trades at the baseline where the operating margin
    (``engine.cells.operating_margin``) at ``pass_through`` (R, K) and ``sigma`` (K,) is not positive: no
    firm could have sold there. None if there is none."""
    margin = operating_margin(calibration.tariffs, pass_through[:, None, :], sigma[None, None, :])
    bad = (calibration.flows > 0) & ~(margin > 0)
    return tuple(int(x) for x in np.argwhere(bad)[0]) if bad.any() else None


def support(spec):
    """``(low, high)``: the closed interval a ``ParameterSpec``'s draws can take."""
    if spec.dist == "fixed":
        return float(spec.value), float(spec.value)
    if spec.dist == "normal":
        return (float(spec.mean), float(spec.mean)) if spec.sd == 0 else (-np.inf, np.inf)
    if spec.dist == "choice":
        return float(min(spec.values)), float(max(spec.values))
    return float(spec.low), float(spec.high)


def _codes(value, allowed):
    codes = [value] if isinstance(value, str) else list(value)
    return list(range(len(allowed))) if codes == [ALL] else [allowed.index(c) for c in codes]


def _describe(spec, j):
    low, high = support(spec)
    shape = "the whole real line" if np.isinf(low) else f"[{low:g}, {high:g}]"
    return f"parameter #{j + 1} ({spec.name}, {spec.dist} on {shape})"


def check_supports(scenario, calibration):
    """Refuse a scenario whose parameter distributions allow a draw that breaks a model rule.

    The rules of ``engine.scenario.uncertainty`` (sigma > 1, theta > sigma - 1, shock sds >= 0,
    |shock_corr| < 1, pass_through in [0, 1], sunk_cost_ratio in (0, 1], a positive operating
    margin at the baseline tariff in every trading cell) are checked on the interval of values
    each parameter can take; parameters are drawn independently, so the worst corner is reachable.

    Raises
    ------
    InputError
        Naming the parameter, its support and the rule, with "whatever the seed".
    """
    n_regions, n_sectors = calibration.n_regions, calibration.n_sectors
    low = {name: np.array(getattr(calibration, name), dtype=float) for name in
           ("sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr")}
    low["pass_through"] = np.ones((n_regions, n_sectors))
    low["eta"] = np.array(calibration.eta if calibration.eta is not None else calibration.sigma, dtype=float)
    high = {name: value.copy() for name, value in low.items()}
    low["sunk_cost_ratio"] = high["sunk_cost_ratio"] = np.array(float(scenario.sunk_cost_ratio))
    who = {}  # name -> description of the last spec setting it (for messages)
    for j, spec in enumerate(scenario.parameter):
        lo, hi = support(spec)
        sectors = _codes(spec.sectors, calibration.sectors)
        if spec.name == "sunk_cost_ratio":
            index = ()
        elif spec.name == "pass_through":
            index = np.ix_(_codes(spec.origins, calibration.regions), sectors)
        else:
            index = (sectors,)
        low[spec.name][index] = lo
        high[spec.name][index] = hi
        who[spec.name] = _describe(spec, j)
    source = scenario.source

    fixed = {spec.name for spec in scenario.parameter if spec.dist == "fixed"}

    def fail(name, rule, where=""):
        by = who.get(name, f"the calibration's {name}")
        advice = ("choose another value" if name in fixed else
                  "some draws would break it whatever the seed: narrow the distribution")
        raise InputError(source, f"{by} allows {rule}{where}, which the model forbids; {advice}", "parameter")

    def sector(mask):
        return f" for sector {calibration.sectors[int(np.argwhere(mask)[0][-1])]}" if np.ndim(mask) else ""

    simple = [("sigma", low["sigma"] <= 1.0, "sigma <= 1"),
              ("eta", low["eta"] <= 0.0, "eta <= 0"),
              ("shock_demand_sd", low["shock_demand_sd"] < 0, "a negative shock_demand_sd"),
              ("shock_cost_sd", low["shock_cost_sd"] < 0, "a negative shock_cost_sd"),
              ("shock_corr", (low["shock_corr"] <= -1) | (high["shock_corr"] >= 1), "|shock_corr| >= 1"),
              ("pass_through", (low["pass_through"] < 0) | (high["pass_through"] > 1), "pass_through outside [0, 1]"),
              ("sunk_cost_ratio", (low["sunk_cost_ratio"] <= 0) | (high["sunk_cost_ratio"] > 1),
               "sunk_cost_ratio outside (0, 1]")]
    for name, bad, rule in simple:
        if np.any(bad):
            fail(name, rule, sector(bad))
    bad = low["theta"] <= high["sigma"] - 1.0
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        name = "theta" if "theta" in who or "sigma" not in who else "sigma"
        fail(name, f"theta = {low['theta'][k]:g} <= sigma - 1 = {high['sigma'][k] - 1.0:g}",
             f" for sector {calibration.sectors[k]}")
    # the operating margin is smallest at the lowest pass-through and the highest sigma (t0 >= 0)
    losing = losing_cell(calibration, low["pass_through"], high["sigma"])
    if losing is not None:
        i, n, k = losing
        fail("pass_through" if "pass_through" in who else "sigma",
             f"pass_through {low['pass_through'][i, k]:g} with sigma {high['sigma'][k]:g}",
             f", where exporters from {calibration.regions[i]} of {calibration.sectors[k]} to "
             f"{calibration.regions[n]} would lose money at the baseline tariff {calibration.tariffs[i, n, k]:.3g}")


def check_plausibility(model, calibration):
    """Refuse amounts that cannot be meant: a purchase commitment larger than the buyer's whole
    spending on the sectors it covers (``usd_per_year`` is in USD million per year).

    Parameters
    ----------
    model : engine.scenario.policy.ScenarioModel
        Every branch path is checked.
    """
    spending = calibration.flows.sum(axis=0)  # (n, k): what importer n buys of sector k, USD million/yr
    for labels, _probability, _events in model.paths:
        for mask, amounts, (source, key) in model.arrays(labels).commitments:
            buyers = mask.any(axis=0)  # (n, k) cells bought
            total = float(spending[buyers].sum())
            amount = float(np.max(np.abs(amounts))) if np.size(amounts) else 0.0
            if amount > total:
                importers = ", ".join(calibration.regions[n] for n in np.flatnonzero(buyers.any(axis=1)))
                raise InputError(source, f"a commitment of {amount:g} USD million per year is larger than what "
                                         f"{importers} spend in total on the sectors it covers ({total:g} USD "
                                         "million per year); the unit is USD million per year ($8bn = 8000)",
                                 key.removeprefix(f"{source}: "))
