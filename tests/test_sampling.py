"""What a draw samples (``engine.scenario.uncertainty``), against the moments of the stated distributions:
every ``[[parameter]]`` distribution (fixed, normal, truncnormal, uniform, beta, choice) and the
Ornstein-Uhlenbeck exchange-rate process (mean, variance, mean reversion, autocovariance).

Sample moments are compared with the formulas by z-scores: ``|estimate - formula| < 5 standard
errors`` (the standard error estimated from the sample itself), a bound a correct sampler breaks with
probability below 1e-6 per check, while the wrong parameter, a wrong scale or a wrong recursion is
off by tens of standard errors at these sample sizes. Seeds come from the test ids (``rng`` fixture
and ``node_seed``) and are printed.
"""

import math

import numpy as np
import pytest

from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from engine.scenario.schema import ParameterSpec
from engine.scenario.uncertainty import draw_policy, sample, sample_fx, sample_parameters
from tests.conftest import node_seed, write_scenario

Z = 5.0
N = 20_000


def assert_mean(x, expected, what=""):
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert abs(x.mean() - expected) < Z * se, f"{what}: mean {x.mean():.6g}, expected {expected:.6g} (se {se:.3g})"


def assert_variance(x, expected, what=""):
    x = np.asarray(x, dtype=float)
    squares = (x - x.mean()) ** 2
    se = squares.std(ddof=1) / math.sqrt(x.size)
    got = x.var(ddof=1)
    assert abs(got - expected) < Z * se, f"{what}: variance {got:.6g}, expected {expected:.6g} (se {se:.3g})"


def draws(spec, rng, n=N):
    return np.array([sample(spec, rng) for _ in range(n)])


def _phi(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# --------------------------------------------------------------------------- parameter distributions

def test_fixed_is_the_value(rng):
    spec = ParameterSpec(name="sigma", dist="fixed", value=3.7)
    assert set(draws(spec, rng, 100)) == {3.7}


def test_normal_has_its_mean_and_variance(rng):
    x = draws(ParameterSpec(name="theta", dist="normal", mean=4.0, sd=0.5), rng)
    assert_mean(x, 4.0, "normal")
    assert_variance(x, 0.25, "normal")
    assert_mean(np.abs(x - 4.0) < 0.5, _cdf(1.0) - _cdf(-1.0), "normal mass within one sd")


@pytest.mark.parametrize("mean, sd, low, high", [(4.0, 0.5, 3.5, 5.5), (0.2, 0.3, 0.0, 1.0), (-1.0, 1.0, 0.0, 2.0)])
def test_truncnormal_has_the_truncated_moments(rng, mean, sd, low, high):
    """``alpha = (low - mean)/sd``, ``beta = (high - mean)/sd``, ``Z = Phi(beta) - Phi(alpha)``:
    mean ``mean + sd (phi(alpha) - phi(beta)) / Z``, variance
    ``sd^2 [1 + (alpha phi(alpha) - beta phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z)^2]``
    (Johnson, Kotz & Balakrishnan 1994, section 10.1); every value inside [low, high]."""
    x = draws(ParameterSpec(name="theta", dist="truncnormal", mean=mean, sd=sd, low=low, high=high), rng)
    a, b = (low - mean) / sd, (high - mean) / sd
    z = _cdf(b) - _cdf(a)
    ratio = (_phi(a) - _phi(b)) / z
    assert low <= x.min() and x.max() <= high
    assert_mean(x, mean + sd * ratio, "truncnormal")
    assert_variance(x, sd ** 2 * (1.0 + (a * _phi(a) - b * _phi(b)) / z - ratio ** 2), "truncnormal")


def test_uniform_has_its_mean_and_variance(rng):
    x = draws(ParameterSpec(name="pass_through", dist="uniform", low=0.3, high=0.8), rng)
    assert 0.3 <= x.min() and x.max() <= 0.8
    assert_mean(x, 0.55, "uniform")
    assert_variance(x, 0.5 ** 2 / 12, "uniform")
    assert_mean(x < 0.4, 0.2, "uniform mass below 0.4")


def test_beta_is_scaled_to_its_window(rng):
    """``low + (high - low) * Beta(alpha, beta)``: mean ``low + (high - low) alpha / (alpha + beta)``,
    variance ``(high - low)^2 alpha beta / ((alpha + beta)^2 (alpha + beta + 1))``."""
    alpha, beta, low, high = 2.0, 5.0, 0.2, 0.9
    x = draws(ParameterSpec(name="pass_through", dist="beta", alpha=alpha, beta=beta, low=low, high=high), rng)
    s = alpha + beta
    assert low <= x.min() and x.max() <= high
    assert_mean(x, low + (high - low) * alpha / s, "beta")
    assert_variance(x, (high - low) ** 2 * alpha * beta / (s ** 2 * (s + 1)), "beta")


@pytest.mark.parametrize("weights", [(0.2, 0.5, 0.3), ()])
def test_choice_picks_each_value_with_its_weight(rng, weights):
    values = (0.5, 0.7, 0.9)
    x = draws(ParameterSpec(name="sunk_cost_ratio", dist="choice", values=values, weights=weights), rng)
    assert set(x) == set(values)
    for value, weight in zip(values, weights or (1 / 3,) * 3):
        assert_mean(x == value, weight, f"share of {value}")


def test_draw_parameters_are_independent_across_cells_and_shared_when_asked(tmp_path, default_calibration):
    """Through ``sample_parameters`` (one generator per draw and name): a per-sector beta has its
    mean in every sector, the sectors are uncorrelated, and ``shared = true`` gives one value."""
    text = ('name = "p"\nstart = "2025-01"\nperiods = 2\n'
            '[[parameter]]\nname = "pass_through"\norigins = ["JPN"]\nsectors = ["machinery", "motor_vehicles_parts"]\n'
            'shared = false\ndist = "beta"\nalpha = 2.0\nbeta = 2.0\nlow = 0.4\nhigh = 1.0\n'
            '[[parameter]]\nname = "sigma"\nsectors = ["agri_food", "energy"]\nshared = true\n'
            'dist = "uniform"\nlow = 1.2\nhigh = 1.6\n')
    scenario = load_scenario(write_scenario(tmp_path, text, "p"))
    seed = node_seed("sampling:draw_parameters") % 2**32
    values = [sample_parameters(scenario, default_calibration, seed, draw)[1] for draw in range(2000)]
    machines = np.array([v["pass_through.JPN.machinery"] for v in values])
    cars = np.array([v["pass_through.JPN.motor_vehicles_parts"] for v in values])
    for x in (machines, cars):
        assert_mean(x, 0.7, "beta(2, 2) on [0.4, 1]")
        assert_variance(x, 0.36 / 20, "beta(2, 2) on [0.4, 1]")
    assert_mean((machines - 0.7) * (cars - 0.7), 0.0, "covariance across sectors")
    assert all(v["sigma.agri_food"] == v["sigma.energy"] for v in values)
    assert_mean([v["sigma.agri_food"] for v in values], 1.4, "shared uniform")


# --------------------------------------------------------------------------- the OU exchange-rate process

RHO_CASES = {"JPN": (0.2, 0.05), "CHN": (0.0, 0.02)}  # currency: (mean_reversion, volatility)
FX_PERIODS, FX_DRAWS = 25, 4000


@pytest.fixture(scope="module")
def fx_paths(tmp_path_factory, default_calibration):
    """log FX noise ``x`` (draws, T, R) of a scenario with two OU processes."""
    folder = tmp_path_factory.mktemp("fx")
    text = f'name = "fx"\nstart = "2025-01"\nperiods = {FX_PERIODS}\n' + "".join(
        f'[[fx_process]]\ncurrency = "{c}"\nmean_reversion = {r}\nvolatility = {v}\n'
        for c, (r, v) in RHO_CASES.items())
    model = ScenarioModel(load_scenario(write_scenario(folder, text, "fx")), default_calibration)
    seed = node_seed("sampling:fx_paths") % 2**32
    print(f"fx_paths seed {seed}")
    x = np.log(np.stack([sample_fx(model, seed, draw) for draw in range(FX_DRAWS)]))
    return model, seed, x


def test_fx_noise_starts_at_zero_and_only_moves_currencies_with_a_process(fx_paths, default_calibration):
    _, _, x = fx_paths
    assert np.all(x[:, 0] == 0)
    moved = [default_calibration.regions.index(c) for c in RHO_CASES]
    others = [j for j in range(default_calibration.n_regions) if j not in moved]
    assert np.all(x[:, :, others] == 0)
    assert np.all(x[:, 1:, moved] != 0)


@pytest.mark.parametrize("currency", sorted(RHO_CASES))
def test_fx_variance_follows_the_ou_formula(fx_paths, default_calibration, currency):
    """``x_t = rho x_(t-1) + s eps_t``, ``rho = 1 - mean_reversion``, ``x_0 = 0``: ``E x_t = 0`` and
    ``Var x_t = s^2 (1 - rho^(2t)) / (1 - rho^2)`` (``s^2 t`` for a random walk, rho = 1)."""
    _, _, x = fx_paths
    reversion, s = RHO_CASES[currency]
    rho = 1.0 - reversion
    series = x[:, :, default_calibration.regions.index(currency)]
    for t in (1, 3, 8, FX_PERIODS - 1):
        expected = s ** 2 * t if rho == 1 else s ** 2 * (1 - rho ** (2 * t)) / (1 - rho ** 2)
        assert_mean(series[:, t], 0.0, f"{currency} t={t}")
        assert_variance(series[:, t], expected, f"{currency} t={t}")


@pytest.mark.parametrize("currency", sorted(RHO_CASES))
def test_fx_reverts_to_the_path_at_the_stated_rate(fx_paths, default_calibration, currency):
    """Mean reversion: ``E[x_(t+1) | x_t] = rho x_t`` (least-squares slope over every draw and period,
    no intercept) and ``Cov(x_t, x_(t+h)) = rho^h Var(x_t)`` (h = 6 from t = 12)."""
    _, _, x = fx_paths
    reversion, s = RHO_CASES[currency]
    rho = 1.0 - reversion
    series = x[:, :, default_calibration.regions.index(currency)]
    before, after = series[:, 1:-1].ravel(), series[:, 2:].ravel()
    slope = (before @ after) / (before @ before)
    residual = after - slope * before
    se = math.sqrt((residual @ residual) / (residual.size - 1) / (before @ before))
    assert abs(slope - rho) < Z * se, (slope, rho, se)
    assert_mean(residual / s, 0.0, "innovation mean")
    assert_variance(residual / s, 1.0, "innovation variance (unit normal times volatility)")
    t, h = 12, 6
    var_t = series[:, t].var()
    assert_mean(series[:, t] * series[:, t + h], rho ** h * var_t, f"lag-{h} autocovariance")


def test_fx_processes_are_independent_and_reach_the_policy_path(fx_paths, default_calibration):
    """The two currencies' innovations are uncorrelated; ``draw_policy`` multiplies the deterministic
    path by exactly this noise and records the last value."""
    model, seed, x = fx_paths
    jpn, chn = (default_calibration.regions.index(c) for c in ("JPN", "CHN"))
    innovation_jpn = x[:, 2:, jpn] - 0.8 * x[:, 1:-1, jpn]
    innovation_chn = x[:, 2:, chn] - x[:, 1:-1, chn]
    assert_mean((innovation_jpn * innovation_chn).ravel() / (0.05 * 0.02), 0.0, "cross-currency covariance")
    for draw in (0, 7):
        path, record = draw_policy(model, seed, draw)
        np.testing.assert_allclose(np.log(path.fx), x[draw], rtol=0, atol=1e-15)
        assert record["fx.JPN.last"] == path.fx[-1, jpn]
