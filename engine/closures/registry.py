"""Which firm model runs with which market closure, and what each pair can do: one table.

The firm model is the scenario's ``[dynamics] mode``: ``static`` runs the static model
(``engine.firms.static``), ``myopic`` and ``forward`` the dynamic one (``engine.firms.dynamic``).
A pair missing from ``REGISTRY`` is not available; ``combination`` says so, and what is.

The closure and mode names are ``engine.config.CLOSURES`` and ``DYNAMICS_MODES`` (the CLI and the
scenario schema read them there); the function of a pair is imported when it first runs.
"""

from dataclasses import dataclass
from importlib import import_module

from engine.config import CLOSURES
from engine.errors import InputError

#: The firm model of each ``[dynamics] mode`` (``engine.config.DYNAMICS_MODES``).
FIRM_MODELS = {"static": "static", "myopic": "dynamic", "forward": "dynamic"}


@dataclass(frozen=True)
class Combination:
    """One (firm model, closure) pair.

    Attributes
    ----------
    firm_model, closure : str
    simulate : str
        ``"module:function"`` with the signature of ``engine.closures.assemble.run_static``:
        ``(population, baseline, path, params, closure)`` -> ``(CellResults, state, RegionResults)``.
    devices : tuple of str
        Where its firm loops can run (``engine.devices``).
    fallback : bool
        A draw whose equilibrium fails is retried with the fallback solver (``engine.closures.newton``).
    """

    firm_model: str
    closure: str
    simulate: str
    devices: tuple
    fallback: bool

    def run(self, population, baseline, path, params):
        """Simulate one policy path on one draw's firms (``baseline`` is None for the dynamic model)."""
        module, function = self.simulate.split(":")
        return getattr(import_module(module), function)(population, baseline, path, params, self.closure)

    def run_no_policy(self, population, baseline, path, params, touched, state):
        """The draw's no-policy path (``engine.closures.assemble.run_no_policy``): (CellResults,
        RegionResults)."""
        return import_module("engine.closures.assemble").run_no_policy(
            self.firm_model, population, baseline, path, params, self.closure, touched, state)


_STATIC, _DYNAMIC = "engine.closures.assemble:run_static", "engine.closures.assemble:run_dynamic"
REGISTRY = {
    ("static", "pe"): Combination("static", "pe", _STATIC, devices=("cpu",), fallback=False),
    ("static", "ge"): Combination("static", "ge", _STATIC, devices=("cpu",), fallback=True),
    ("static", "ge_fixed_wage"): Combination("static", "ge_fixed_wage", _STATIC, devices=("cpu",), fallback=False),
    ("dynamic", "pe"): Combination("dynamic", "pe", _DYNAMIC, devices=("cpu", "cuda"), fallback=False),
    ("dynamic", "ge"): Combination("dynamic", "ge", _DYNAMIC, devices=("cpu", "cuda"), fallback=True),
    ("static", "pe_moving"): Combination("static", "pe_moving", _STATIC, devices=("cpu",), fallback=False),
    ("dynamic", "pe_moving"): Combination("dynamic", "pe_moving", _DYNAMIC, devices=("cpu", "cuda"), fallback=True),
}


def combination(mode, closure, source="--closure", field=None):
    """The ``Combination`` of a ``[dynamics] mode`` and a closure; errors name ``source`` and ``field``
    (the option, or the scenario file and its ``closure`` key).

    Raises
    ------
    InputError
        The closure is unknown, or not available with that firm model (naming what is).
    """
    check_closure(closure, source, field)
    firm_model = FIRM_MODELS[mode]
    found = REGISTRY.get((firm_model, closure))
    if found is None:
        available = " or ".join(c for (m, c) in REGISTRY if m == firm_model)
        advice = (f"use --closure {available}, or --dynamics static" if field is None
                  else f"set closure to {available}, or [dynamics] mode = \"static\"")
        raise InputError(source, f"closure {closure!r} is not available with the {firm_model} firm model "
                                 f"(dynamics.mode = {mode!r}) in this version; {advice}", field)
    return found


def check_closure(closure, source="--closure", field=None):
    """Raise ``InputError`` unless ``closure`` is one of ``CLOSURES``."""
    if closure not in CLOSURES:
        raise InputError(source, f"closure {closure!r} is not available; use one of {', '.join(CLOSURES)}", field)
