"""Whole-run benchmarks: one draw of the default scenario (PE and GE), a 100-draw run, memory.
Full sizes run only with ``--benchmark-enable``; with the default ``--benchmark-disable`` each test
runs a tiny version and checks what it ran, so the test command stays fast. Evaluations are counted
as firm-destination-periods: blocks x destinations x firms x periods.
"""

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

import engine
from bench.conftest import benchmarks_disabled
from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.firms.static import simulate_population
from engine.paths import default_calibration_dir
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import draw_policy, sample_parameters, stream_keys

FULL_FIRMS = 20_000
DEAL = (("july_decision", "deal"),)


def _enabled(request):
    return not benchmarks_disabled(request.config)


@pytest.fixture(scope="module")
def default_draw():
    """Population, baseline and the deal path of draw 0 of the default scenario (built once)."""
    from engine.firms.static import fit_baseline

    calibration = load_calibration(default_calibration_dir())
    scenario = load_scenario("us_japan_2025")
    model = ScenarioModel(scenario, calibration)
    params, _ = sample_parameters(scenario, calibration, 1, 0)
    params = replace(params, dynamics=None)  # the static model's kernels (the dynamic one: test_bench_dynamics)
    path, _ = draw_policy(model, 1, 0)
    keys = stream_keys(1)

    def build(firms):
        population = simulate_population((keys["productivity"], keys["shocks"]), 0, firms, params,
                                         calibration.firms)
        return population, fit_baseline(population, calibration)

    return calibration, params, path, build


@pytest.mark.parametrize("closure", ["pe", "ge", "ge_fixed_wage"])
def test_one_draw_all_periods(benchmark, request, default_draw, closure):
    calibration, params, path, build = default_draw
    firms = FULL_FIRMS if _enabled(request) else 500
    population, baseline = build(firms)
    run_static(population, baseline, path, params, closure)  # compile outside the timing
    cells, _, regions = benchmark.pedantic(run_static, args=(population, baseline, path, params, closure),
                                           rounds=5 if _enabled(request) else 1, iterations=1)
    evaluations = calibration.flows.size * firms * len(path.dates)
    benchmark.extra_info.update({"closure": closure, "firms_per_block": firms,
                                 "firm_destination_periods": evaluations})
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    assert cells.exports.shape == (len(path.dates), *calibration.flows.shape)
    assert (regions.ge_residual <= engine.config.GE_TOLERANCE).all()


def test_ge_to_pe_cost_ratio_per_draw(request, default_draw):
    """Cost of one whole draw (population, calibration, all periods of the deal path) in ``ge``
    against ``pe``, median of 3 (issue 9 target: at most 5x). Printed and recorded; with benchmarks
    disabled it runs tiny and checks only that both closures ran."""
    calibration, params, path, build = default_draw
    firms = FULL_FIRMS if _enabled(request) else 500
    timings = {}
    for closure in ("pe", "ge"):
        def one_draw():
            population, baseline = build(firms)
            return run_static(population, baseline, path, params, closure)
        one_draw()  # compile
        runs = []
        for _ in range(3 if _enabled(request) else 1):
            start = time.perf_counter()
            one_draw()
            runs.append(time.perf_counter() - start)
        timings[closure] = sorted(runs)[len(runs) // 2]
    ratio = timings["ge"] / timings["pe"]
    print(f"one draw, {firms} firms per block: pe {timings['pe']:.3f} s, ge {timings['ge']:.3f} s, ratio {ratio:.2f}")
    assert ratio > 0


def test_population_of_one_draw(benchmark, request, default_draw):
    """Drawing and ranking the firm population of one draw (the rest of a draw's cost)."""
    calibration, _, _, build = default_draw
    firms = FULL_FIRMS if _enabled(request) else 500
    build(firms)
    population, _ = benchmark.pedantic(build, args=(firms,), rounds=5 if _enabled(request) else 1, iterations=1)
    benchmark.extra_info.update({"firms_per_block": firms,
                                 "firm_destination_pairs": calibration.flows.size * firms})
    if benchmark.stats:
        benchmark.extra_info["pairs_per_s"] = calibration.flows.size * firms / benchmark.stats.stats.median
    assert population.entry_sorted.shape[-1] == firms


@pytest.mark.parametrize("closure", ["pe", "ge"])
def test_run_of_100_draws(benchmark, request, tmp_path, closure):
    """A whole run: draws, Parquet writing and the summary table."""
    draws, firms = (100, FULL_FIRMS) if _enabled(request) else (2, 300)
    counter = iter(range(10**6))

    def run():
        return engine.simulate("us_japan_2025", draws=draws, firms=firms, seed=5, closure=closure,
                               out=tmp_path / f"run{next(counter)}", dynamics=dynamics)

    # PE runs the shipped scenario as it is (the dynamic model); GE here the static firm model (the dynamic
    # model in GE: test_bench_dynamics.py::test_dynamic_ge_to_pe_cost_ratio_per_draw)
    dynamics = "static" if closure == "ge" else None
    engine.simulate("us_japan_2025", draws=1, firms=firms, out=tmp_path / "warm", closure=closure, dynamics=dynamics)
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    evaluations = draws * load_calibration(default_calibration_dir()).flows.size * firms * 24
    benchmark.extra_info.update({"closure": closure, "draws": draws, "firms_per_block": firms,
                                 "firm_destination_periods": evaluations})
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    assert result.manifest["draws"] == draws


def _peak_rss_mb(draws, firms, tmp_path):
    """Peak resident memory of a fresh process running one simulation in ``pe_moving`` (the figures in
    the README; ``ge``, the default, also keeps its pairs' scores: 1.2 GB at 20,000 firms) (its VmHWM:
    ru_maxrss would carry over the forking test process's peak on Linux)."""
    code = (
        "import engine, sys\n"
        f"engine.simulate('us_japan_2025', draws={draws}, firms={firms}, out=sys.argv[1], closure='pe_moving')\n"
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"m{draws}-{firms}")],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_peak_memory_against_draws_and_firms(request, tmp_path):
    """Peak RSS does not grow with the number of draws; it grows with firms (the ranked cells)."""
    small, large = ((5, 40), 10_000) if _enabled(request) else ((1, 4), 300)
    by_draws = {d: _peak_rss_mb(d, large, tmp_path) for d in small}
    report = {"peak_rss_mb_by_draws": by_draws, "firms_per_block": large}
    if _enabled(request):
        report["peak_rss_mb_by_firms"] = {f: _peak_rss_mb(2, f, tmp_path) for f in (10_000, 50_000, 125_000)}
    print(json.dumps(report))
    assert by_draws[small[1]] < 1.25 * by_draws[small[0]] + 50


def test_cold_and_warm_start(request, tmp_path):
    """``engine simulate`` with no arguments (tiny sizes when benchmarks are disabled): first run
    with an empty kernel cache (compiling), then warm (cached kernels)."""
    size = [] if _enabled(request) else ["--draws", "1", "--firms", "300"]
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "PATH": "/usr/bin:/bin"}
    timings = {}
    for label in ("cold", "warm"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "engine.cli.main", "simulate", "-q", *size, "--out", str(tmp_path / label)],
                       check=True, capture_output=True, env=env)
        timings[label] = time.perf_counter() - started
    print(json.dumps({"engine_simulate_seconds": timings}))
    assert timings["warm"] < timings["cold"]


@pytest.mark.parametrize("periods", [6, 24, 96])
def test_periods_scaling(benchmark, request, tmp_path, default_draw, periods):
    """One draw, PE, a scenario of ``periods`` months: after the ranking, each period is a binary
    search per cell, so the time grows slowly with the number of periods."""
    from engine.scenario.policy import policy_path

    calibration, params, _, build = default_draw
    firms = FULL_FIRMS if _enabled(request) else 500
    population, baseline = build(firms)
    scenario = tmp_path / "scaling.toml"
    scenario.write_text(f'name = "scaling"\nstart = "2025-01"\nperiods = {periods}\n[[tariff]]\n'
                        'date = "2025-02-10"\nimporter = "USA"\nexporter = "JPN"\nrate = 0.2\n')
    path = policy_path(load_scenario(scenario), calibration)
    cells, _, _ = benchmark.pedantic(run_static, args=(population, baseline, path, params, "pe"),
                                     rounds=5 if _enabled(request) else 1, iterations=1)
    evaluations = calibration.flows.size * firms * periods
    benchmark.extra_info.update({"periods": periods, "firm_destination_periods": evaluations})
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    assert cells.exports.shape[0] == periods
