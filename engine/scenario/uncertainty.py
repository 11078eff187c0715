"""What a draw samples: parameters, exchange-rate paths and its policy path (docs/model.md section 8).

Every random quantity of draw ``j`` comes from a NumPy generator seeded by
``SeedSequence(entropy, spawn_key=(..., purpose, j, label))``: the same seed, draw and label give the
same number whatever else is in the run (other draws, other scenarios, other chunking), and two
scenarios that declare the same uncertain parameter, currency process or branch name get the same
draws of it (common random numbers).
"""

import zlib
from dataclasses import dataclass, replace

import numpy as np

from engine.errors import InputError
from engine.scenario.schema import ALL
from engine.scenario.supports import losing_cell

#: Purposes of the random streams, in spawn-key order; new purposes are appended.
STREAMS = ("productivity", "shocks", "parameters", "fx", "policy")


@dataclass(frozen=True, eq=False)
class DrawParameters:
    """Parameters of one draw, per sector (K,) unless stated.

    ``pass_through`` is per (origin, sector), shape (R, K); ``sunk_cost_ratio`` is lambda of
    docs/model.md section 4 (1 = static entry).
    """

    sigma: np.ndarray
    theta: np.ndarray
    shock_demand_sd: np.ndarray
    shock_cost_sd: np.ndarray
    shock_corr: np.ndarray
    pass_through: np.ndarray
    sunk_cost_ratio: float = 1.0
    dynamics: object = None  # engine.scenario.schema.Dynamics; None: the static model
    eta: np.ndarray | None = None  # (K,) domestic vs imports (docs/model.md section 6.5); None: sigma
    ge: object = None  # engine.scenario.schema.GeneralEquilibrium; None: fixed labour, lump-sum revenue

    @classmethod
    def from_calibration(cls, calibration):
        """The calibration's point values, full pass-through, static entry."""
        return cls(sigma=calibration.sigma, theta=calibration.theta,
                   shock_demand_sd=calibration.shock_demand_sd, shock_cost_sd=calibration.shock_cost_sd,
                   shock_corr=calibration.shock_corr,
                   pass_through=np.ones((calibration.n_regions, calibration.n_sectors)), eta=calibration.eta)


def base_sequence(seed):
    """The run's root ``SeedSequence`` from an int or a SeedSequence (never mutated)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def stream_sequence(seed, purpose, *key):
    """Child SeedSequence of ``purpose`` (a name in STREAMS) and further integer key parts."""
    root = base_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, STREAMS.index(purpose), *key))


def stream_keys(seed):
    """64-bit kernel keys of the firm streams (``productivity``, ``shocks``)."""
    return {name: stream_sequence(seed, name).generate_state(1, dtype=np.uint64)[0]
            for name in ("productivity", "shocks")}


def label_key(label):
    """A stable 32-bit integer for a text label (CRC-32)."""
    return zlib.crc32(label.encode("utf-8"))


def generator(seed, purpose, draw, label):
    """The NumPy generator of one (purpose, draw, label)."""
    return np.random.Generator(np.random.PCG64(stream_sequence(seed, purpose, draw, label_key(label))))


def sample(spec, gen):
    """One value from a ``ParameterSpec``'s distribution."""
    if spec.dist == "fixed":
        return float(spec.value)
    if spec.dist == "normal":
        return float(gen.normal(spec.mean, spec.sd))
    if spec.dist == "uniform":
        return float(gen.uniform(spec.low, spec.high))
    if spec.dist == "beta":
        return float(spec.low + (spec.high - spec.low) * gen.beta(spec.alpha, spec.beta))
    if spec.dist == "choice":
        return float(gen.choice(np.asarray(spec.values), p=np.asarray(spec.weights) if spec.weights else None))
    for _ in range(100_000):  # truncnormal by rejection; the spec guarantees a non-degenerate window
        value = gen.normal(spec.mean, spec.sd)
        if spec.low <= value <= spec.high:
            return float(value)
    raise ValueError(f"the truncated normal keeps too little of N({spec.mean}, {spec.sd}) on "
                     f"[{spec.low}, {spec.high}]; widen the window or move the mean inside it")


def _codes(value, allowed, key, source):
    codes = [value] if isinstance(value, str) else list(value)
    if codes == [ALL]:
        return list(range(len(allowed)))
    for code in codes:
        if code not in allowed:
            raise InputError(source, f"unknown code {code!r}; allowed: {', '.join(allowed)} or 'ALL'", key)
    return [allowed.index(c) for c in codes]


def check_parameters(scenario, calibration):
    """Codes of every ``[[parameter]]`` exist (raises InputError naming the key)."""
    for j, spec in enumerate(scenario.parameter):
        _codes(spec.sectors, calibration.sectors, f"parameter #{j + 1}.sectors", scenario.source)
        _codes(spec.origins, calibration.regions, f"parameter #{j + 1}.origins", scenario.source)
        if spec.origins not in ("ALL", ("ALL",)) and spec.name != "pass_through":
            raise InputError(scenario.source, f"{spec.name} is set per sector for every origin; only "
                                              "pass_through takes origins", f"parameter #{j + 1}.origins")


def sample_parameters(scenario, calibration, seed, draw):
    """The draw's parameters: calibration values overridden by the scenario's ``[[parameter]]`` list.

    Returns
    -------
    DrawParameters, dict
        The parameters and every sampled value by column name (``sigma.agri_food``,
        ``pass_through.JPN.motor_vehicles_parts``, ``sunk_cost_ratio``).

    Raises
    ------
    InputError
        A sampled combination breaks a model rule (theta <= sigma - 1, pass-through outside [0, 1], ...).
    """
    values = {name: np.array(getattr(calibration, name), dtype=float) for name in
              ("sigma", "theta", "shock_demand_sd", "shock_cost_sd", "shock_corr")}
    values["pass_through"] = np.ones((calibration.n_regions, calibration.n_sectors))
    # eta: the calibration's, else the draw's sigma (one tier) unless a [[parameter]] sets it
    nested = calibration.eta is not None or any(spec.name == "eta" for spec in scenario.parameter)
    sunk = scenario.sunk_cost_ratio
    sampled = {}
    for spec in scenario.parameter:
        sectors = _codes(spec.sectors, calibration.sectors, "sectors", scenario.source)
        origins = _codes(spec.origins, calibration.regions, "origins", scenario.source)
        if spec.name == "sunk_cost_ratio":
            targets = [()]
        elif spec.name == "pass_through":
            targets = [(i, k) for i in origins for k in sectors]
        else:
            targets = [(k,) for k in sectors]
        names = [_column_name(spec.name, target, calibration) for target in targets]
        shared_label = f"{spec.name}|{','.join(names)}"
        try:
            shared_value = sample(spec, generator(seed, "parameters", draw, shared_label)) if spec.shared else None
            values_drawn = [shared_value if spec.shared else sample(spec, generator(seed, "parameters", draw, name))
                            for name in names]
        except ValueError as exc:
            raise InputError(scenario.source, str(exc), f"parameter #{scenario.parameter.index(spec) + 1}") from exc
        for target, name, value in zip(targets, names, values_drawn):
            sampled[name] = value
            if spec.name == "sunk_cost_ratio":
                sunk = value
            elif spec.name != "eta":  # eta_values reads it from sampled
                values[spec.name][target] = value
    if nested:
        values["eta"] = eta_values(values, calibration, sampled)
    _check_sampled(values, sunk, calibration, scenario.source, draw)
    params = DrawParameters(sigma=values["sigma"], theta=values["theta"], shock_demand_sd=values["shock_demand_sd"],
                            shock_cost_sd=values["shock_cost_sd"], shock_corr=values["shock_corr"],
                            pass_through=values["pass_through"], sunk_cost_ratio=float(sunk),
                            dynamics=scenario.dynamics, eta=values.get("eta"), ge=scenario.ge)
    return params, sampled


def eta_values(values, calibration, sampled):
    """The draw's eta (K,): sampled where a ``[[parameter]]`` set it, else the calibration's, else the
    draw's sigma (a sector left at one tier)."""
    eta = np.array(calibration.eta if calibration.eta is not None else values["sigma"], dtype=float)
    for k, sector in enumerate(calibration.sectors):
        eta[k] = sampled.get(f"eta.{sector}", eta[k])
    return eta


def _column_name(name, target, calibration):
    """``sigma.agri_food``, ``pass_through.JPN.motor_vehicles_parts`` or ``sunk_cost_ratio``."""
    if len(target) == 2:
        return f"{name}.{calibration.regions[target[0]]}.{calibration.sectors[target[1]]}"
    if len(target) == 1:
        return f"{name}.{calibration.sectors[target[0]]}"
    return name


def _check_sampled(values, sunk, calibration, source, draw):
    rules = [
        *((name, ~np.isfinite(array), "must be a finite number") for name, array in values.items()),
        ("sigma", values["sigma"] <= 1.0, "sigma must be > 1"),
        ("eta", values.get("eta", np.ones(1)) <= 0.0, "eta must be > 0"),
        ("theta", values["theta"] <= values["sigma"] - 1.0, "theta must be > sigma - 1"),
        ("shock_demand_sd", values["shock_demand_sd"] < 0, "must be >= 0"),
        ("shock_cost_sd", values["shock_cost_sd"] < 0, "must be >= 0"),
        ("shock_corr", np.abs(values["shock_corr"]) >= 1, "must be in (-1, 1)"),
        ("pass_through", (values["pass_through"] < 0) | (values["pass_through"] > 1), "must be in [0, 1]"),
    ]
    for name, bad, rule in rules:
        if np.any(bad):
            where = np.argwhere(bad)[0]
            cell = (f"origin {calibration.regions[where[0]]}, " if len(where) == 2 else "") + \
                f"sector {calibration.sectors[where[-1]]}"
            raise InputError(source, f"draw {draw} sampled {name} = {values[name][tuple(where)]:.4g} for {cell}: "
                                     f"{rule}; narrow the distribution", "parameter")
    losing = losing_cell(calibration, values["pass_through"], values["sigma"])
    if losing is not None:
        i, n, k = losing
        raise InputError(source, f"draw {draw}: with pass_through {values['pass_through'][i, k]:.3g} and sigma "
                                 f"{values['sigma'][k]:.3g}, exporters from {calibration.regions[i]} of "
                                 f"{calibration.sectors[k]} to {calibration.regions[n]} would lose money at the "
                                 f"baseline tariff {calibration.tariffs[i, n, k]:.3g}; raise pass_through or lower "
                                 "sigma", "parameter")
    if not 0.0 < sunk <= 1.0:
        raise InputError(source, f"draw {draw} sampled sunk_cost_ratio = {sunk:.4g}: must be in (0, 1]", "parameter")


def sample_fx(model, seed, draw):
    """Stochastic part of the draw's exchange rates: ``exp(x_t)`` per period and region, (T, R).

    ``x`` follows the scenario's Ornstein-Uhlenbeck processes (monthly AR(1)), ``x_0 = 0``.
    """
    n_periods = model.scenario.periods
    noise = np.ones((n_periods, len(model.regions)))
    for currency, process in model.fx_processes:
        eps = generator(seed, "fx", draw, f"fx:{model.regions[currency]}").standard_normal(n_periods)
        x = 0.0
        for t in range(1, n_periods):
            x = (1.0 - process.mean_reversion) * x + process.volatility * eps[t]
            noise[t, currency] = np.exp(x)
    return noise


def draw_policy(model, seed, draw):
    """The draw's policy path: branch choices from its own stream, FX noise applied.

    Returns
    -------
    engine.scenario.policy.PolicyPath, dict
        The path and the sampled values for the ``draws`` table (``branch.NAME`` and
        ``fx.CUR.last``).
    """
    labels = model.sample_path(lambda label: generator(seed, "policy", draw, f"branch:{label}").random())
    path = _branch_path(model, labels, seed, draw)
    record = {f"branch.{label}": option for label, option in labels}
    for currency, _ in model.fx_processes:
        record[f"fx.{model.regions[currency]}.last"] = float(path.fx[-1, currency])
    return path, record


def no_policy_path(model, path, seed, draw):
    """The draw's no-policy path (``ScenarioModel.without_policy``, docs/model.md section 8.1): the
    same branch labels and exchange-rate noise as ``path``, the draw of ``draw_policy``."""
    return replace(_branch_path(model.without_policy(), path.branch_labels, seed, draw), no_policy=True)


def _branch_path(model, labels, seed, draw):
    path = replace(model.arrays(labels), branch_labels=labels, beliefs=model)
    if model.fx_processes:
        path = replace(path, fx=path.fx * sample_fx(model, seed, draw))
    return path
