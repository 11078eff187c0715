"""Firm-level trade-flow microsimulation under time-varying tariff schedules.

Quick use::

    import engine
    run = engine.simulate("us_japan_2025", draws=10, seed=1)
    run.flows            # Polars DataFrame, one row per (scenario, draw, period, origin, destination, sector)

See ``engine.runs.simulate.simulate`` for every option, docs/model.md for the model and the README
for a map of the packages. The names below are imported when first used, so that ``import engine``
(and ``engine --help``) loads neither Numba nor Polars.
"""

from importlib import import_module

from engine._version import __version__
from engine.errors import InputError

#: Public name -> the module that defines it.
_LAZY = {
    "backtest": "engine.outputs.backtest",
    "CalibrationData": "engine.calibration.data",
    "load_calibration": "engine.calibration.data",
    "SimulationResult": "engine.runs.result",
    "simulate": "engine.runs.simulate",
    "policy_path": "engine.scenario.policy",
    "Scenario": "engine.scenario.schema",
    "load_scenario": "engine.scenario.read",
}

__all__ = ["InputError", "__version__", *sorted(_LAZY)]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
