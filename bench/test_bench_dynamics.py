"""The dynamic model's costs (``engine.firms.dynamic``): the per-period firm kernel's rate, the
dynamic programme per draw, and one whole draw of the default scenario. Tiny and checked when
benchmarks are disabled (the default test run); real sizes with ``--benchmark-enable``.
"""

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bench.conftest import benchmarks_disabled
from engine.calibration.data import load_calibration
from engine.firms.dynamic import dynamic_population, simulate_dynamic
from engine.paths import default_calibration_dir
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import draw_policy, sample_parameters, stream_keys
from kernels.dynamic import dynamic_cell_sums


@pytest.fixture(scope="module")
def default_dynamic(request):
    calibration = load_calibration(default_calibration_dir())
    scenario = load_scenario("us_japan_2025")
    model = ScenarioModel(scenario, calibration)
    params, _ = sample_parameters(scenario, calibration, 1, 0)
    path, _ = draw_policy(model, 1, 0)
    keys = stream_keys(1)
    firms = 500 if benchmarks_disabled(request.config) else 20_000
    return calibration, model, params, path, (keys["productivity"], keys["shocks"]), firms


def test_dynamic_firm_kernel(benchmark, request, default_dynamic):
    """Firm-destination-periods per second of ``kernels.dynamic.dynamic_cell_sums``."""
    calibration, model, params, path, keys, firms = default_dynamic
    population = dynamic_population(keys, 0, firms, params, calibration)
    n_periods = len(path.dates)
    thresholds = np.broadcast_to(population.thresholds[:, None] - population.offset[:, :, None, None],
                                 (n_periods, *population.offset.shape, *population.thresholds.shape[1:])).copy()
    out = [np.empty((n_periods, *population.offset.shape)) for _ in range(7)]
    args = (*population.keys, *population.kernel_params, firms, population.strata, population.z_score,
            population.chain.cum_invariant, population.chain.cum_transition, population.y_grid[0],
            population.y_grid[1] - population.y_grid[0], population.status_prob, population.thresholds,
            population.offset, thresholds, population.settings.relationship_loss, *out)
    dynamic_cell_sums(*args)
    benchmark.pedantic(dynamic_cell_sums, args=args, rounds=1 if benchmarks_disabled(request.config) else 5,
                       iterations=1)
    evaluations = calibration.flows.size * firms * n_periods
    benchmark.extra_info.update({"firms_per_block": firms, "firm_destination_periods": evaluations})
    if benchmark.stats:
        benchmark.extra_info["evaluations_per_s"] = evaluations / benchmark.stats.stats.median
    # with stationary thresholds and no policy, exporters stay near the baseline count
    assert abs(out[0][1:].sum() / (n_periods - 1) / out[0][0].sum() - 1) < 0.1


def test_dynamic_kernel_against_numpy(benchmark, request, default_dynamic):
    """The same firm loop in NumPy (``bench/numpy_dynamic.py``), timed in the same run; the kernel's
    rate divided by this one is the speed-up (``kernel_ratio`` in the report)."""
    from bench.numpy_dynamic import dynamic_cell_sums as numpy_sums

    calibration, _, params, path, keys, firms = default_dynamic
    firms = min(firms, 2000)
    population = dynamic_population(keys, 0, firms, params, calibration)
    n_periods = len(path.dates)
    offset = population.offset
    thresholds = np.broadcast_to(population.thresholds[:, None] - offset[:, :, None, None],
                                 (n_periods, *population.offset.shape, *population.thresholds.shape[1:])).copy()
    args = (*population.keys, *population.kernel_params, firms, population.strata, population.z_score,
            population.chain.cum_invariant, population.chain.cum_transition, population.y_grid[0],
            population.y_grid[1] - population.y_grid[0], population.status_prob, population.thresholds, offset,
            thresholds)
    expected = benchmark.pedantic(numpy_sums, args=args, rounds=1, iterations=1)
    out = [np.empty((n_periods, *population.offset.shape)) for _ in range(7)]
    dynamic_cell_sums(*args, 0.0, *out)  # the NumPy loop has no loss of relationships
    start = time.perf_counter()
    dynamic_cell_sums(*args, 0.0, *out)
    kernel_s = time.perf_counter() - start
    np.testing.assert_allclose(out[0], expected[0], rtol=1e-12)  # real exporters: sums of weights
    np.testing.assert_allclose(out[1], expected[1], rtol=1e-9)
    if benchmark.stats:
        benchmark.extra_info["kernel_ratio"] = benchmark.stats.stats.median / kernel_s
        benchmark.extra_info["kernel_evaluations_per_s"] = calibration.flows.size * firms * n_periods / kernel_s


def test_dynamic_programme_and_calibration_per_draw(benchmark, request, default_dynamic):
    """Stationary solve, baseline costs and offsets of one draw (``dynamic_population``)."""
    calibration, _, params, _, keys, firms = default_dynamic
    population = benchmark.pedantic(dynamic_population, args=(keys, 0, firms, params, calibration),
                                    rounds=1 if benchmarks_disabled(request.config) else 3, iterations=1)
    assert np.isfinite(population.offset[population.flows > 0]).all()


def test_dynamic_draw_of_default_scenario(benchmark, request, default_dynamic):
    """One draw of us_japan_2025 in the forward-looking model: beliefs, thresholds and the firm loop."""
    calibration, model, params, path, keys, firms = default_dynamic
    population = dynamic_population(keys, 0, firms, params, calibration)
    cells = benchmark.pedantic(simulate_dynamic, args=(population, path, params, model, path.branch_labels),
                               rounds=1 if benchmarks_disabled(request.config) else 3, iterations=1)
    np.testing.assert_allclose(cells["exports"][0], population.flows, rtol=1e-9)


def test_dynamic_ge_to_pe_cost_ratio_per_draw(request, default_dynamic):
    """Cost of one whole draw of us_japan_2025 with the dynamic model (population, dynamic
    programme, beliefs and all periods) in ``ge`` against ``pe`` (issue 24's target: at most 2x on 2
    cores). The two closures alternate, pe then ge, 5 times: the ratio is the median of the 5 pairs'
    ratios (a slow spell of the machine then slows both sides of a pair), the times the medians.
    Printed; with benchmarks disabled it runs tiny once and checks that both closures ran and the GE
    converged."""
    import time

    from engine import config
    from engine.closures.assemble import run_dynamic

    calibration, _, params, path, keys, firms = default_dynamic

    def one_draw(closure):
        with threadpool_limits(limits=1, user_api="blas"):  # as a run's draws (engine.runs.plan.simulate_draw)
            population = dynamic_population(keys, 0, firms, params, calibration,  # as engine.runs.plan
                                            keep_scores=closure == "ge")
            return run_dynamic(population, None, path, params, closure)

    timings, regions = {"pe": [], "ge": []}, None
    for closure in timings:
        one_draw(closure)  # compile
    for _ in range(1 if benchmarks_disabled(request.config) else 5):
        for closure in timings:
            start = time.perf_counter()
            _, _, regions = one_draw(closure)
            timings[closure].append(time.perf_counter() - start)
    ratio = float(np.median(np.array(timings["ge"]) / np.array(timings["pe"])))
    print(f"dynamic model, one draw, {firms} firms per block: pe {np.median(timings['pe']):.3f} s, "
          f"ge {np.median(timings['ge']):.3f} s, ratio {ratio:.2f} (pairs: "
          f"{', '.join(f'{g / p:.2f}' for p, g in zip(timings['pe'], timings['ge']))})")
    assert (regions.ge_residual <= config.GE_TOLERANCE).all() and ratio > 0


def _alternated(tmp_path, variants, repeats, **options):
    """``engine.simulate`` of each variant (label -> its own arguments), alternated ``repeats`` times:
    the last run of each and the median wall time of each, in the variants' order."""
    import engine

    timings, runs = {label: [] for label in variants}, {}
    for repeat in range(repeats):
        for label, arguments in variants.items():
            start = time.perf_counter()
            runs[label] = engine.simulate(out=tmp_path / f"{label}{repeat}", progress=False, **arguments, **options)
            timings[label].append(time.perf_counter() - start)
    return runs, [sorted(t)[len(t) // 2] for t in timings.values()]


def test_inventories_cost_of_the_default_run(request, tmp_path):
    """The default run (us_japan_2025, 20 draws x 20,000 firms) in ``pe_moving`` (the closure of the
    README's figures) with importers' stocks against the
    same run with ``[dynamics] inventories = false`` (docs/model.md section 11.9; issue target: at most
    10% more), alternated, median of 2 each, compiled first. Printed; with benchmarks disabled it runs
    tiny once each and checks that the stocks moved customs imports and nothing else."""
    import engine

    small = benchmarks_disabled(request.config)
    scenario = load_scenario("us_japan_2025")
    off = scenario.model_copy(update={"dynamics": scenario.dynamics.model_copy(update={"inventories": False})})
    options = dict(draws=2, firms=500) if small else dict(draws=20, firms=20_000)
    options["closure"] = "pe_moving"
    engine.simulate(scenario, draws=1, firms=500, out=tmp_path / "compile", progress=False)
    runs, (on, off_s) = _alternated(tmp_path, {"on": dict(scenarios=scenario), "off": dict(scenarios=off)},
                                    1 if small else 2, **options)
    print(f"default run, {options['draws']} draws x {options['firms']} firms: inventories on {on:.2f} s, "
          f"off {off_s:.2f} s, ratio {on / off_s:.3f}")
    keys = ["draw", "period", "origin", "destination", "sector"]
    with_stocks, without = runs["on"].flows.sort(keys), runs["off"].flows.sort(keys)
    assert with_stocks["final_sales"].equals(without["exports"])
    assert (with_stocks["exports"] - with_stocks["final_sales"]).abs().max() > 0


def test_pe_moving_cost_of_the_default_run(request, tmp_path):
    """The default run (us_japan_2025, 20 draws x 20,000 firms) in ``pe_moving`` (docs/model.md section
    6.5) against ``pe``, alternated, median of 2 each, compiled first (issue target for the default
    closure: at most 30% more). Printed; with benchmarks disabled it runs tiny once each and checks
    that the no-policy paths are the same and that pe_moving moved the US market's other suppliers."""
    import engine

    small = benchmarks_disabled(request.config)
    options = dict(draws=2, firms=500) if small else dict(draws=20, firms=20_000)
    for closure in ("pe", "pe_moving"):
        engine.simulate("us_japan_2025", draws=1, firms=500, out=tmp_path / f"compile_{closure}", progress=False,
                        closure=closure)
    runs, (pe, moving) = _alternated(tmp_path, {closure: dict(scenarios="us_japan_2025", closure=closure)
                                                for closure in ("pe", "pe_moving")}, 1 if small else 2, **options)
    print(f"default run, {options['draws']} draws x {options['firms']} firms: pe {pe:.2f} s, pe_moving {moving:.2f} s, "
          f"ratio {moving / pe:.3f}")
    keys = ["draw", "period", "origin", "destination", "sector"]
    a, b = runs["pe_moving"].flows.sort(keys), runs["pe"].flows.sort(keys)
    assert a["exports_no_policy"].equals(b["exports_no_policy"])
    others = ((a["destination"] == "USA") & (a["origin"] != "JPN") & (a["period"] > 3)).to_numpy()
    assert np.abs(a["exports"].to_numpy()[others] / b["exports"].to_numpy()[others] - 1.0).max() > 1e-4
