"""Shared fixtures: the embedded calibration and small synthetic calibrations."""

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.calibration.data import load_calibration
from engine.paths import default_calibration_dir, scenarios_dir

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def default_calibration():
    return load_calibration(default_calibration_dir())


@pytest.fixture()
def calibration_copy(tmp_path):
    """A writable copy of the embedded calibration folder (to break in error tests)."""
    target = tmp_path / "calibration"
    shutil.copytree(default_calibration_dir(), target)
    return target


@pytest.fixture()
def scenario_copy(tmp_path):
    """A writable copy of the default scenario file."""
    target = tmp_path / "us_japan_2025.toml"
    shutil.copy(scenarios_dir() / "us_japan_2025.toml", target)
    return target


def draw_population(calibration, n_firms, seed, draw=0):
    """One draw's ranked firm population at the calibration's own parameters, calibrated.

    Returns (population, baseline, params)."""
    from engine.firms.static import fit_baseline, simulate_population
    from engine.scenario.uncertainty import DrawParameters, stream_keys

    params = DrawParameters.from_calibration(calibration)
    keys = stream_keys(seed)
    population = simulate_population((keys["productivity"], keys["shocks"]), draw, n_firms, params, calibration.firms)
    return population, fit_baseline(population, calibration), params


def write_scenario(folder, text, name="test_scenario"):
    """Write a scenario TOML file and return its path."""
    path = Path(folder) / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def one_numba_thread():
    """Run a module's kernels on one thread (use with ``pytest.mark.usefixtures``): results do not
    depend on the thread count (test_reproducibility), and small populations make thousands of
    short kernel calls whose parallel start-up cost dominates, badly so on a busy machine."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(previous)


def node_seed(nodeid):
    """The seed of a test's random inputs: the first 8 bytes of SHA-256 of its pytest node id
    (``tests/test_x.py::test_name[param]``), so every test has its own stream and reruns reproduce
    it exactly. ``TEST_RNG_SALT=text`` mixes a salt in (to explore other inputs);
    ``TEST_RNG_SEED=N`` forces one seed (to rerun a failure printed under another salt)."""
    forced = os.environ.get("TEST_RNG_SEED")
    if forced:
        return int(forced)
    text = nodeid + os.environ.get("TEST_RNG_SALT", "")
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


@pytest.fixture()
def rng(request):
    """A NumPy generator seeded by ``node_seed`` of the test's node id; the seed is printed, so a
    failing test's captured output shows it (rerun with ``TEST_RNG_SEED=<seed>``)."""
    seed = node_seed(request.node.nodeid)
    print(f"rng seed {seed} for {request.node.nodeid} (rerun: TEST_RNG_SEED={seed})")
    return np.random.default_rng(seed)


def make_calibration(folder, flows, tariffs=None, participation=None, firms=1000.0, sigma=3.0, theta=4.0,
                     shock_demand_sd=0.0, shock_cost_sd=0.0, shock_corr=0.0):
    """Write a synthetic calibration folder with regions R0.. and sectors S0.. from an (R, R, K) array."""
    import polars as pl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_regions, _, n_sectors = flows.shape
    regions = [f"R{i}" for i in range(n_regions)]
    sectors = [f"S{k}" for k in range(n_sectors)]
    pl.DataFrame({"code": regions, "name": regions, "gdp_usd_m": flows.sum(axis=(0, 2))}).write_csv(folder / "regions.csv")
    pl.DataFrame({"code": sectors, "name": sectors, "sigma": [sigma] * n_sectors, "theta": [theta] * n_sectors,
                  "shock_demand_sd": [shock_demand_sd] * n_sectors, "shock_cost_sd": [shock_cost_sd] * n_sectors,
                  "shock_corr": [shock_corr] * n_sectors}).write_csv(folder / "sectors.csv")
    idx = np.indices(flows.shape).reshape(3, -1)
    cells = {"origin": [regions[i] for i in idx[0]], "destination": [regions[n] for n in idx[1]],
             "sector": [sectors[k] for k in idx[2]]}
    pl.DataFrame({**cells, "value_usd_m": flows.reshape(-1)}).write_csv(folder / "flows.csv")
    tariffs = np.zeros(flows.shape) if tariffs is None else tariffs
    pl.DataFrame({**cells, "rate": tariffs.reshape(-1)}).write_csv(folder / "tariffs.csv")
    if participation is None:
        participation = np.full(flows.shape, 0.1)
        participation[np.arange(n_regions), np.arange(n_regions)] = 1.0
    pl.DataFrame({**cells, "share": participation.reshape(-1)}).write_csv(folder / "participation.csv")
    pl.DataFrame({"origin": [regions[i] for i in range(n_regions) for _ in sectors],
                  "sector": sectors * n_regions, "firms": [firms] * (n_regions * n_sectors)}).write_csv(folder / "firms.csv")
    return folder


@pytest.fixture()
def small_calibration(tmp_path):
    """The dynamic model's small case (tests/test_dynamics.py, test_dynamic_ge.py): three regions, one sector, export participation 10-30%, EKK shocks on."""
    flows = np.array([[[900.0], [60.0], [40.0]], [[50.0], [700.0], [30.0]], [[20.0], [25.0], [500.0]]])
    share = np.array([[[1.0], [0.3], [0.2]], [[0.25], [1.0], [0.1]], [[0.15], [0.2], [1.0]]])
    return make_calibration(tmp_path / "cal", flows, participation=share, firms=2000.0, sigma=3.0, theta=4.0,
                            shock_demand_sd=0.5, shock_cost_sd=0.3, shock_corr=-0.3)
