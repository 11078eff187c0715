"""Firm-level trade-flow microsimulation under time-varying tariff schedules.

Quick use::

    import engine
    run = engine.simulate("us_japan_2025", draws=10, seed=1)
    run.flows            # Polars DataFrame, one row per (scenario, draw, period, origin, destination, sector)

See ``engine.run.simulate`` for every option and the README for the model.
"""

from engine._version import __version__
from engine.calibration import CalibrationData, load_calibration
from engine.errors import InputError
from engine.results import SimulationResult
from engine.run import simulate
from engine.policy import policy_path
from engine.scenario import Scenario, load_scenario

__all__ = ["CalibrationData", "InputError", "Scenario", "SimulationResult", "__version__",
           "load_calibration", "load_scenario", "policy_path", "simulate"]
