"""Every event type (tariff, trade cost, demand as a commitment and as a percent, deterministic FX, a
branch point), announced and not, in every firm model (static, myopic, forward) and every closure
(pe, ge, ge_fixed_wage) on a tiny calibration: a finite run or one clear refusal, never a traceback;
and the tariff and the purchase commitment move their pairs' exports the way they should."""

import numpy as np
import polars as pl
import pytest
from conftest import make_calibration, write_scenario

import engine
from engine.errors import InputError

HEAD = 'name = "every_event"\nstart = "2025-01"\nperiods = 6\nsunk_cost_ratio = 0.2\n'
EVENTS = """
[[tariff]]
date = "2025-03-01"
importer = "R1"
exporter = "R0"
rate = "20%"
announced = "2025-02-01"

[[trade_cost]]
date = "2025-04-01"
importer = "R2"
exporter = "R0"
change = 0.1

[[demand]]
date = "2025-04-01"
importer = "R1"
exporter = "R2"
usd_per_year = 15.0

[[demand]]
date = "2025-05-01"
importer = "R0"
exporter = "R1"
percent = "-10%"
announced = "2025-03-01"

[[fx]]
date = "2025-03-01"
currency = "R2"
change = 0.1

[[fx]]
date = "2025-05-01"
currency = "R1"
change = -0.05
announced = "2025-02-01"

[[branch]]
name = "deadline"
date = "2025-04-01"
announced = "2025-02-01"
  [[branch.option]]
  name = "deal"
  probability = 0.5
  [[branch.option]]
  name = "raise"
  probability = 0.5
    [[branch.option.tariff]]
    date = "2025-05-01"
    importer = "R0"
    exporter = "R1"
    rate = "15%"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("every_event")
    flows = np.array([[[900.0], [60.0], [40.0]], [[50.0], [700.0], [30.0]], [[20.0], [25.0], [500.0]]])
    share = np.array([[[1.0], [0.3], [0.2]], [[0.25], [1.0], [0.1]], [[0.15], [0.2], [1.0]]])
    calibration = make_calibration(folder / "cal", flows, participation=share, firms=2000.0, sigma=3.0,
                                   theta=4.0, shock_demand_sd=0.5, shock_cost_sd=0.3, shock_corr=-0.3)
    return calibration, write_scenario(folder, HEAD + EVENTS, "every_event")


def run(tiny, tmp_path, mode, closure):
    calibration, scenario = tiny
    return engine.simulate([scenario], draws=2, firms=150, seed=4, calibration=calibration, dynamics=mode,
                           closure=closure, out=tmp_path / "run", progress=False)


@pytest.mark.parametrize("closure", ["pe", "ge", "ge_fixed_wage"])
@pytest.mark.parametrize("mode", ["static", "myopic", "forward"])
def test_every_event_in_every_firm_model_and_closure(tiny, tmp_path, mode, closure):
    if mode != "static" and closure == "ge_fixed_wage":
        with pytest.raises(InputError) as info:
            run(tiny, tmp_path, mode, closure)
        assert "ge_fixed_wage" in str(info.value)
        assert not (tmp_path / "run").exists()
        return
    flows = run(tiny, tmp_path, mode, closure).flows
    assert flows.height == 2 * 6 * 9
    assert np.isfinite(flows["exports"].to_numpy()).all() and (flows["exports"] >= 0).all()

    def pair(origin, destination, period):
        return flows.filter((pl.col("origin") == origin) & (pl.col("destination") == destination)
                            & (pl.col("period") == period))["exports"].sum()

    assert pair("R0", "R1", 5) < pair("R0", "R1", 0)  # the 20% tariff
    assert pair("R2", "R1", 5) > pair("R2", "R1", 0)  # the purchase commitment
    assert flows.filter(pl.col("period") == 5)["tariff"].max() >= 0.2
