"""The ``ge`` closure with the dynamic firm model (``engine.closures.dynamic_ge``): the per-period kernels
against the all-periods kernel, convergence, the zero-policy and static special cases."""

import numpy as np
import polars as pl
import pytest

import engine
from engine import config
from engine.firms.bellman import Chain, rouwenhorst
from engine.firms.sampling import block_strata
from kernels.dynamic import dynamic_cell_sums
from kernels.dynamic_ge import (
    dynamic_initial_state,
    dynamic_pair_scores,
    dynamic_period_aggregates,
    dynamic_period_close,
    dynamic_period_commit,
    dynamic_relationship_loss,
    dynamic_visit_list,
    dynamic_window_aggregates,
    dynamic_window_prepare,
    dynamic_window_records,
    dynamic_z_advance,
    dynamic_z_range,
)
from tests.conftest import node_seed, write_scenario


def _scenario(tmp_path, name, body="", periods=12, mode="forward", settings="", sunk_cost_ratio=0.1):
    text = (f'name = "{name}"\nstart = "2025-01"\nperiods = {periods}\nsunk_cost_ratio = {sunk_cost_ratio}\n'
            f'[dynamics]\nmode = "{mode}"\n{settings}{body}')
    return write_scenario(tmp_path, text, name)


def _random_case(rng, n_blocks=3, n_dest=3, n_firms=300, n_periods=7):
    grid, transition, invariant = rouwenhorst(5, 0.9, 0.4)
    chain = Chain(grid, transition, invariant)
    keys = tuple(rng.integers(0, 2**63, n_blocks, dtype=np.uint64) for _ in range(4))
    sigma, theta = np.full(n_blocks, 3.0), rng.uniform(3.0, 5.0, n_blocks)
    params = ((sigma - 1) / theta, rng.uniform(0.1, 0.8, n_blocks), rng.uniform(0.1, 0.5, n_blocks),
              rng.uniform(-0.5, 0.5, n_blocks))
    z_score = np.tile(2.0 * grid, (n_blocks, 1))
    y = np.linspace(-6, 6, 61)
    status_prob = np.sort(rng.uniform(0, 1, (n_blocks, 5, y.size)), axis=2)
    stationary = np.sort(rng.normal(0, 1, (n_blocks, 5, 2)), axis=2)[..., ::-1].copy()  # incumbents lower
    offset = rng.normal(0, 1, (n_blocks, n_dest))
    offset[0, 2] = -np.inf  # a cell with no flow: its thresholds are +inf, as entry_thresholds gives
    thresholds = rng.normal(1.0, 1.0, (n_periods, n_blocks, n_dest, 5, 2))
    thresholds[:, 0, 2] = np.inf
    # equal weights (fewer real firms than simulated) and unequal ones (more)
    strata = np.stack(block_strata(rng.choice([100.0, 5e4], n_blocks), n_firms, params[1]), axis=1)
    return dict(chain=chain, keys=keys, params=params, z_score=z_score, y=y, status_prob=status_prob,
                stationary=stationary, offset=offset, thresholds=thresholds, n_firms=n_firms, strata=strata)


def _start(case):
    """Scores and period-0 state of the per-period kernels."""
    n_blocks, n_dest = case["offset"].shape
    m = case["n_firms"]
    sales, entry = np.empty((n_blocks, n_dest, m)), np.empty((n_blocks, n_dest, m))
    keys, y = case["keys"], case["y"]
    eta = np.empty((n_blocks, n_dest, m), dtype=np.float32)
    weight = np.empty((n_blocks, n_dest, m))
    dests = np.arange(n_dest, dtype=np.int64)
    dynamic_pair_scores(keys[0], keys[1], *case["params"], m, case["strata"], sales, entry, eta, weight, dests, n_dest)
    z = np.empty((n_blocks, m), dtype=np.int64)
    status = np.empty((n_blocks, n_dest, m), dtype=np.bool_)
    initial = [np.empty((n_blocks, n_dest)) for _ in range(5)]
    dynamic_initial_state(keys[2], keys[3], case["chain"].cum_invariant, y[0], y[1] - y[0], case["status_prob"],
                          case["stationary"], case["offset"], case["z_score"], sales, entry, eta, weight, z, status,
                          *initial, dests)
    return (sales, entry, eta, weight), z, status, initial


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_per_period_kernels_equal_the_all_periods_kernel_bitwise_at_zero_shift(request, loss):
    """The per-period kernels reproduce ``dynamic_cell_sums`` bit for bit, also with lost relationships
    (``dynamic_relationship_loss`` draws them; the aggregates read the status it leaves)."""
    seed = node_seed(request.node.nodeid)
    case = _random_case(np.random.default_rng(seed))
    n_periods, n_blocks, n_dest = case["thresholds"].shape[:3]
    keys, y, chain = case["keys"], case["y"], case["chain"]
    expected = [np.empty((n_periods, n_blocks, n_dest)) for _ in range(7)]
    dynamic_cell_sums(*keys, *case["params"], case["n_firms"], case["strata"], case["z_score"], chain.cum_invariant,
                      chain.cum_transition, y[0], y[1] - y[0], case["status_prob"], case["stationary"], case["offset"],
                      case["thresholds"], loss, *expected)
    pairs, z, status, initial = _start(case)
    lost, kept = np.zeros(status.shape, dtype=np.bool_), np.empty(status.shape, dtype=np.bool_)
    dests = np.arange(n_dest, dtype=np.int64)
    base, z_base = status.copy(), z.copy()
    for k, name in enumerate(("active", "sales")):
        assert np.array_equal(initial[k], expected[k][0]), f"period 0 {name}, seed {seed}"
    assert np.array_equal(initial[4], expected[6][0]), f"period 0 split, seed {seed}"
    zero = np.zeros((n_blocks, n_dest))
    for t in range(1, n_periods):
        dynamic_z_advance(keys[2], t, chain.cum_transition, z)
        dynamic_relationship_loss(keys[3], t, loss, dests, n_dest, status, lost, kept)
        table = np.ascontiguousarray(case["thresholds"][t])
        hard = [np.empty((1, n_blocks, n_dest)) for _ in range(4)]
        marginal, slope = np.empty((4, 1, n_blocks, n_dest)), np.empty((4, 1, n_blocks, n_dest))
        dynamic_period_aggregates(*pairs, z, case["z_score"], kept, table, zero[None], *hard, marginal, slope)
        assert np.array_equal(hard[0][0], expected[0][t]) and np.array_equal(hard[1][0], expected[1][t]), seed
        out = [np.empty((n_blocks, n_dest)) for _ in range(9)]
        dynamic_period_commit(*pairs, z, z_base, case["z_score"], status, base, lost, table, zero, *out)
        for k, name in enumerate(("active", "sales", "entries", "exits", "both", "both_base")):
            assert np.array_equal(out[k], expected[k][t]), f"period {t} {name}, seed {seed}"
        assert np.array_equal(out[8], expected[6][t]), f"period {t} split, seed {seed}"
        # the cost indices split the exporters' eta between entrants and incumbents
        assert np.allclose(out[6] + out[7], hard[2][0] + hard[3][0], rtol=1e-12, atol=0), seed
    assert sum(e[1:].sum() for e in expected[2:4]) > 0, f"no churn in the random case, seed {seed}"
    assert (loss > 0) == bool(lost.any()), f"lost relationships drawn only with a loss, seed {seed}"


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_period_close_equals_the_separate_kernels_bitwise(request, loss):
    """``dynamic_period_close`` (one pass over the pairs of a visit list) leaves the state and gives
    the outputs of the kernels it fuses, bit for bit: the scenario's commit at random shifts, the
    ``z`` step, the lost relationships, the no-policy state's commit and the next period's window,
    period after period (period 0 without a commit). The visit list's cutoff is the lowest
    threshold less shift of each pass at each ``z`` index, the firms' ``z`` ranges those of the
    periods to come, so pairs just below it are left out, and cells whose window edge a left-out pair
    could hold are prepared over all their pairs."""
    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    case = _random_case(rng, n_firms=400, n_periods=8)
    n_periods, n_blocks, n_dest = case["thresholds"].shape[:3]
    keys, chain, m = case["keys"], case["chain"], case["n_firms"]
    pairs, z, status, _ = _start(case)
    dests = np.arange(n_dest, dtype=np.int64)
    base, z_base = status.copy(), z.copy()
    reference_table = np.ascontiguousarray(np.where(np.isinf(case["thresholds"][0]), np.inf,
                                                    rng.normal(1.0, 1.0, case["thresholds"][0].shape)))
    # the separate kernels' state (a) and the fused pass's (b)
    a = dict(z=z.copy(), status=status.copy(), reference=status.copy(), lost=np.zeros_like(status),
             kept=np.empty_like(status))
    b = dict(z=z.copy(), status=status.copy(), reference=status.copy(), lost=np.zeros_like(status))
    b["kept"] = b["status"] if loss == 0.0 else b["status"].copy()

    def window_arrays():
        return (np.empty((4, n_blocks, n_dest)), *(np.empty((n_blocks, n_dest)) for _ in range(3)),
                np.empty((n_blocks, n_dest), dtype=np.int64), np.full((n_blocks, n_dest, m), -1, dtype=np.int32),
                np.empty((n_blocks, n_dest), dtype=np.int64))

    n_z = case["z_score"].shape[1]
    visit = (np.empty((n_blocks, n_dest, m), dtype=np.int32), np.empty((n_blocks, n_dest), dtype=np.int64),
             np.empty((n_blocks, n_dest, n_z)))
    z_range = (np.empty((n_blocks, m), dtype=np.int64), np.empty((n_blocks, m), dtype=np.int64))
    dynamic_z_range(keys[2], 1, n_periods - 1, chain.cum_transition, z, *z_range)
    zero = np.zeros((n_blocks, n_dest))
    widened = 0
    for t in range(n_periods - 1):
        shift = np.zeros((n_blocks, n_dest)) if t == 0 else rng.normal(0.0, 0.3, (n_blocks, n_dest))
        table, following = (np.ascontiguousarray(case["thresholds"][k]) for k in (t, t + 1))
        lower = shift - rng.uniform(0.0, 0.5, shift.shape)
        upper = shift + rng.uniform(0.0, 0.5, shift.shape)
        want_commit = [np.empty((n_blocks, n_dest)) for _ in range(9)]
        if t > 0:
            dynamic_period_commit(*pairs, a["z"], z_base, case["z_score"], a["status"], base, a["lost"], table, shift,
                                  *want_commit)
        dynamic_z_advance(keys[2], t + 1, chain.cum_transition, a["z"])
        a["kept"][:] = a["status"]
        if loss > 0:
            dynamic_relationship_loss(keys[3], t + 1, loss, dests, n_dest, a["status"], a["lost"], a["kept"])
        want_reference = [np.empty((n_blocks, n_dest)) for _ in range(9)]
        dynamic_period_commit(*pairs, a["z"], z_base, case["z_score"], a["reference"], base, a["lost"],
                              reference_table, zero, *want_reference)
        want_window = window_arrays()
        dynamic_window_prepare(*pairs, a["z"], case["z_score"], a["kept"], following, lower, upper, *want_window)

        floor = np.minimum(following[..., 0] - upper[..., None], reference_table[..., 0])
        if t > 0:
            floor = np.minimum(floor, table[..., 0] - shift[..., None])
        # listed in two goes (some cells, then the others) as in one
        some = rng.uniform(size=(n_blocks, n_dest)) < 0.5
        for cells in (some, ~some):
            dynamic_visit_list(pairs[1], b["status"] | b["reference"], floor, *z_range, cells, *visit)
        whole = tuple(np.empty_like(x) for x in visit)
        dynamic_visit_list(pairs[1], b["status"] | b["reference"], floor, *z_range,
                           np.ones((n_blocks, n_dest), dtype=np.bool_), *whole)
        assert np.array_equal(visit[1], whole[1]) and np.array_equal(visit[2], whole[2]), seed
        assert all(np.array_equal(visit[0][i, j, :visit[1][i, j]], whole[0][i, j, :visit[1][i, j]])
                   for i, j in np.ndindex(n_blocks, n_dest)), seed
        assert np.all((z_range[0] <= b["z"]) & (b["z"] <= z_range[1])), f"period {t}: z range, seed {seed}"
        # the list against its definition: a pair is left out iff it exports in neither state and its
        # score is below the cutoff at every index its firm takes
        index = np.arange(floor.shape[2])
        takes = (index >= z_range[0][..., None]) & (index <= z_range[1][..., None])  # (B, M, Nz)
        reach = (pairs[1][..., None] >= floor[:, :, None, :]) & takes[:, None]  # (B, D, M, Nz)
        listed = reach.any(axis=3) | b["status"] | b["reference"]
        assert np.array_equal(whole[1], listed.sum(axis=2)), f"period {t}: visit counts, seed {seed}"
        skipped = np.where((~listed)[..., None] & takes[:, None], pairs[1][..., None], -np.inf).max(axis=2)
        assert np.array_equal(whole[2], skipped), f"period {t}: skipped maxima, seed {seed}"
        got_commit, got_reference = np.full((9, n_blocks, n_dest), np.nan), np.empty((9, n_blocks, n_dest))
        got_window = window_arrays()
        dynamic_period_close(*pairs, keys[2], t + 1, chain.cum_transition, b["z"], z_base, case["z_score"], keys[3],
                             loss, dests, n_dest, *visit, t > 0, table, shift, b["status"], base, b["lost"],
                             b["kept"], True, reference_table, b["reference"], following, lower, upper, got_commit,
                             got_reference, *got_window)
        for name in ("z", "status", "reference", "kept"):
            assert np.array_equal(a[name], b[name]), f"period {t}: {name}, seed {seed}"
        held = a["status"] | a["reference"]  # lost relationships matter (and are drawn) where pairs export
        assert np.array_equal(a["lost"] & held, b["lost"] & held), f"period {t}: lost, seed {seed}"
        if t > 0:
            assert np.array_equal(np.stack(want_commit), got_commit), f"period {t}: commit, seed {seed}"
        else:
            assert np.isnan(got_commit).all(), seed  # nothing committed in period 0
        assert np.array_equal(np.stack(want_reference), got_reference), f"period {t}: no-policy commit, seed {seed}"
        counts = want_window[-1]
        assert np.array_equal(counts, got_window[-1]), f"period {t}: candidates, seed {seed}"
        for k in range(5):
            assert np.array_equal(want_window[k], got_window[k]), f"period {t}: window output {k}, seed {seed}"
        for i, j in np.ndindex(n_blocks, n_dest):
            assert np.array_equal(want_window[5][i, j, :counts[i, j]], got_window[5][i, j, :counts[i, j]]), seed
        # a cell whose second-lowest entry point above the window lies above every left-out pair's
        # lowest possible one was prepared over all its pairs
        left_out = visit[1] < m
        widened += int((left_out & (got_window[3] > (following[..., 0] - visit[2]).min(axis=2))).sum())
        assert left_out.any(), f"period {t}: every pair visited, seed {seed}"
    assert widened > 0, f"no cell needed its full window pass, seed {seed}"


def test_aggregates_are_continuous_and_rising_in_the_shift(request):
    """Hard count plus the marginal pair's fraction: continuous at every pair's entry point (where
    the hard count jumps) and non-decreasing in the shift."""
    seed = node_seed(request.node.nodeid)
    case = _random_case(np.random.default_rng(seed), n_firms=200)
    pairs, z, status, _ = _start(case)
    entry = pairs[1]
    dynamic_z_advance(case["keys"][2], 1, case["chain"].cum_transition, z)
    table = np.ascontiguousarray(case["thresholds"][1])
    n_blocks, n_dest = case["offset"].shape
    blocks, dests, firms = np.indices(entry.shape)
    points = table[blocks, dests, z[blocks, firms], status.astype(np.int64)] - entry  # entry points (B, R, M)
    points = np.where(np.isfinite(points), points, np.nan)
    # per cell, the 20 entry points nearest the middle, each approached from both sides
    order = np.sort(np.where(np.isnan(points), np.inf, points), axis=2)
    m = case["n_firms"]
    knots = order[:, :, m // 2 - 10:m // 2 + 10]  # (B, R, 20)
    knots = np.where(np.isfinite(knots), knots, 0.0)
    delta = 1e-9
    shifts = np.ascontiguousarray(np.concatenate([knots - delta, knots + delta], axis=2).transpose(2, 0, 1))
    hard = [np.empty(shifts.shape) for _ in range(4)]
    marginal, slope = np.empty((4, *shifts.shape)), np.empty((4, *shifts.shape))
    dynamic_period_aggregates(*pairs, z, case["z_score"], status, table, shifts, *hard, marginal, slope)
    count = hard[0] + marginal[0]
    below, above = count[:20], count[20:]
    open_cell = np.isfinite(case["offset"])
    lightest = case["strata"][:, 2].min(axis=1)[None, :, None]  # (1, B, 1)
    jumps = hard[0][20:] - hard[0][:20]  # the hard count jumps at a knot by that pair's real pairs
    assert np.all((jumps >= lightest * (1 - 1e-12))[:, open_cell]), seed
    assert np.all((np.abs(above - below) < 1e-3 * jumps)[:, open_cell]), f"not continuous, seed {seed}"
    grid = np.linspace(-1.0, 1.0, 2001)
    shifts = np.ascontiguousarray(np.broadcast_to(grid[:, None, None], (grid.size, n_blocks, n_dest)))
    hard = [np.empty(shifts.shape) for _ in range(4)]
    marginal, slope = np.empty((4, *shifts.shape)), np.empty((4, *shifts.shape))
    dynamic_period_aggregates(*pairs, z, case["z_score"], status, table, shifts, *hard, marginal, slope)
    for k, name in enumerate(("active", "sales", "entrant cost", "incumbent cost")):
        smooth = hard[k] + marginal[k]
        assert np.all(np.diff(smooth, axis=0) >= -1e-9 * smooth.max()), f"{name} falls, seed {seed}"
        # the slope is the right-hand derivative of the piecewise-linear aggregate
        step = 1e-7
        moved = [np.empty(shifts.shape) for _ in range(4)]
        moved_marginal, unused = np.empty((4, *shifts.shape)), np.empty((4, *shifts.shape))
        dynamic_period_aggregates(*pairs, z, case["z_score"], status, table, shifts + step, *moved,
                                  moved_marginal, unused)
        numeric = (moved[k] + moved_marginal[k] - smooth) / step
        same_piece = (moved[0] == hard[0])  # no knot crossed within the step
        np.testing.assert_allclose(numeric[same_piece], slope[k][same_piece], rtol=1e-4,
                                   atol=1e-6 * max(1.0, np.abs(slope[k]).max()), err_msg=f"{name}, seed {seed}")
    heaviest = case["strata"][:, 2].max(axis=1)[None, :, None]
    assert np.all(marginal[0] <= heaviest) and marginal[0].max() > 0, seed


def test_window_aggregates_equal_the_full_pass_inside_the_window(request):
    """``dynamic_window_aggregates`` after ``dynamic_window_prepare`` gives ``dynamic_period_aggregates``'s
    hard sums, marginal pair and slopes at every shift inside the window (to rounding: the sums run in
    another order), in random cells with random per-cell windows, some so wide that every pair is a
    candidate and some so narrow that hardly any is."""
    seed = node_seed(request.node.nodeid)
    rng = np.random.default_rng(seed)
    case = _random_case(rng, n_firms=400)
    pairs, z, status, _ = _start(case)
    dynamic_z_advance(case["keys"][2], 1, case["chain"].cum_transition, z)
    table = np.ascontiguousarray(case["thresholds"][1])
    n_blocks, n_dest = case["offset"].shape
    centre = rng.normal(0.0, 0.5, (n_blocks, n_dest))
    half = rng.choice([0.01, 0.1, 0.5, 20.0], (n_blocks, n_dest))
    lower, upper = centre - half, centre + half
    prepared = (np.empty((4, n_blocks, n_dest)), *(np.empty((n_blocks, n_dest)) for _ in range(3)),
                np.empty((n_blocks, n_dest), dtype=np.int64), np.empty((n_blocks, n_dest, case["n_firms"]), dtype=np.int32),
                np.empty((n_blocks, n_dest), dtype=np.int64))
    dynamic_window_prepare(*pairs, z, case["z_score"], status, table, lower, upper, *prepared)
    counts = prepared[-1]
    assert counts.max() == case["n_firms"] or half.max() < 20.0, seed
    shifts = lower[None] + rng.uniform(0.0, 1.0, (50, n_blocks, n_dest)) * (upper - lower)[None]
    shifts[0], shifts[1] = lower, upper  # the edges belong to the window
    shifts = np.ascontiguousarray(shifts)
    want = [np.empty(shifts.shape) for _ in range(4)] + [np.empty((4, *shifts.shape)) for _ in range(2)]
    got = [np.empty(shifts.shape) for _ in range(4)] + [np.empty((4, *shifts.shape)) for _ in range(2)]
    dynamic_period_aggregates(*pairs, z, case["z_score"], status, table, shifts, *want)
    counts = prepared[-1]
    starts = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(counts.shape)
    records = (*(np.empty(counts.sum()) for _ in range(5)), np.empty(counts.sum(), dtype=np.bool_))
    dynamic_window_records(*pairs, z, case["z_score"], status, table, prepared[5], counts, starts, *records)
    sales, _, eta, weight = pairs
    dynamic_window_aggregates(sales, eta, weight, z, case["z_score"], status, shifts, *prepared, starts, *records,
                              *got)
    for k, name in enumerate(("active", "sales", "entrant cost", "incumbent cost", "marginal", "slope")):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12 * max(1.0, np.abs(want[k]).max()),
                                   err_msg=f"{name}, seed {seed}")
    assert want[4].max() > 0, seed


@pytest.fixture(scope="module")
def shipped_ge():
    """The shipped scenario in ge with the dynamic model (its own mode, forward), 2 draws, small firms."""
    return engine.simulate(["us_japan_2025"], draws=2, firms=1000, seed=3, closure="ge")


def test_dynamic_ge_converges_on_the_shipped_scenario(shipped_ge):
    regions = shipped_ge.scan("regions").collect()
    assert regions["ge_residual"].max() <= config.GE_TOLERANCE, regions["ge_residual"].max()
    assert regions.filter(pl.col("period") > 0)["ge_iterations"].max() >= 2  # something was solved
    wages = regions.filter(pl.col("period") == regions["period"].max())["wage"].to_numpy()
    assert np.all(np.isfinite(wages)) and np.abs(wages - 1).max() > 1e-6  # wages moved
    parts = sum(regions[f"welfare_{c}_pct"].to_numpy() for c in ("labour", "profits", "tariff_revenue", "deficit",
                                                                   "purchases"))
    np.testing.assert_allclose(parts, regions["real_income_change_pct"].to_numpy(), atol=1e-8)  # exact split
    flows = shipped_ge.flows
    period0 = flows.filter(pl.col("period") == 0)["exports"].sum()
    assert np.isfinite(flows["exports"].to_numpy()).all() and period0 > 0


def test_zero_policy_change_reproduces_the_partial_equilibrium_run(tmp_path, small_calibration):
    path = _scenario(tmp_path, "quiet", periods=10)
    kw = dict(draws=2, firms=1500, seed=5, calibration=small_calibration)
    pe = engine.simulate([path], closure="pe", **kw).flows.sort("draw", "period", "origin", "destination")
    run = engine.simulate([path], closure="ge", **kw)
    ge = run.flows.sort("draw", "period", "origin", "destination")
    for column in ("exports", "exporters", "entries", "exits", "exports_intensive", "exports_extensive"):
        np.testing.assert_allclose(ge[column].to_numpy(), pe[column].to_numpy(), rtol=1e-12, atol=1e-9,
                                   err_msg=column)
    assert pe["entries"].sum() > 0  # firms churn, yet the equilibrium stays put
    regions = run.scan("regions").collect()
    np.testing.assert_allclose(regions["wage"].to_numpy(), 1.0, rtol=1e-12)
    # welfare is measured against the no-policy path of the same draw and month: exactly unchanged
    for column in ("real_income_change_pct", "welfare_labour_pct", "welfare_profits_pct", "equivalent_variation"):
        assert np.abs(regions[column].to_numpy()).max() < 1e-8, column
    np.testing.assert_allclose(regions["price_index"].to_numpy(), 1.0, rtol=1e-12)


def test_dynamic_ge_without_shocks_agrees_with_the_static_ge(tmp_path, small_calibration):
    """No productivity shocks, myopic, instant adjustment, flexible prices: the dynamic firms are the
    static model, so the ge closures agree up to the marginal firm per cell. Without sunk costs
    (``sunk_cost_ratio = 1``): with them the two models calibrate the fixed cost differently (the
    static model puts the baseline's marginal exporter at the entrants' break-even point, the
    dynamic one at the invariant distribution, where it may be an incumbent inside the band), which
    changes fixed-cost payments and with them wages; participation in PE agrees either way
    (``tests/test_dynamics.py``)."""
    body = '\n[[tariff]]\ndate = "2025-03-01"\nimporter = "R1"\nexporter = "R0"\nrate = "30%"\n'
    settings = "productivity_sd = 0.0\nhalf_life = 0.0\nprice_reset = 1.0\n"
    dynamic = _scenario(tmp_path, "dyn", body, mode="myopic", periods=6, settings=settings, sunk_cost_ratio=1.0)
    static = _scenario(tmp_path, "stat", body, mode="static", periods=6, sunk_cost_ratio=1.0)
    run = engine.simulate([dynamic, static], draws=2, firms=3000, seed=9, calibration=small_calibration,
                          closure="ge")
    flows = run.flows.sort("scenario", "draw", "period", "origin", "destination")
    d, s = flows.filter(pl.col("scenario") == "dyn"), flows.filter(pl.col("scenario") == "stat")
    one_firm = 2000.0 / 3000
    # a marginal firm per cell in each model, and thresholds that differ by the wage differences
    # (below 5e-4): within two firms plus 1 % of the cell's exporters; exports within 1 %
    gap = np.abs(d["exporters"].to_numpy() - s["exporters"].to_numpy())
    assert np.all(gap <= 2 * one_firm + 0.01 * s["exporters"].to_numpy()), gap.max()
    # the static model has no importers' stocks: the dynamic firms' final sales are its exports
    np.testing.assert_allclose(d["final_sales"].to_numpy(), s["exports"].to_numpy(), rtol=0.01)
    regions = run.scan("regions").collect().sort("scenario", "draw", "period", "region")
    rd, rs = regions.filter(pl.col("scenario") == "dyn"), regions.filter(pl.col("scenario") == "stat")
    np.testing.assert_allclose(rd["wage"].to_numpy(), rs["wage"].to_numpy(), rtol=5e-4)
    np.testing.assert_allclose(rd["real_income_change_pct"].to_numpy(), rs["real_income_change_pct"].to_numpy(),
                               atol=0.01)
    moved = rd.filter((pl.col("period") == 5) & (pl.col("region") == "R0"))["wage"].to_numpy()
    assert np.abs(moved - 1).max() > 0.01  # the tariff moved wages (R0's by about -6 %)


def test_chain_rule_jacobian_matches_finite_differences(monkeypatch):
    """The solver's Jacobian with the dynamic firms' exact slopes against one-sided differences of
    the residuals, in a month of the shipped scenario where the equilibrium moves. The aggregates
    are piecewise linear: a difference step that crosses a pair's entry point differs, so the check
    is on the bulk of the entries."""
    import engine.closures.dynamic_ge as dynamic_ge
    from engine.calibration.data import load_calibration
    from engine.closures import newton as solver
    from engine.closures.newton import jacobian, newton
    from engine.firms.dynamic import dynamic_population
    from engine.paths import default_calibration_dir
    from engine.scenario.policy import ScenarioModel
    from engine.scenario.read import load_scenario
    from engine.scenario.uncertainty import draw_policy, sample_parameters, stream_keys

    calibration = load_calibration(default_calibration_dir())
    scenario = load_scenario("us_japan_2025")
    model = ScenarioModel(scenario, calibration)
    params, _ = sample_parameters(scenario, calibration, 7, 0)
    path, _ = draw_policy(model, 7, 0)
    keys = stream_keys(7)
    population = dynamic_population((keys["productivity"], keys["shocks"]), 0, 2000, params, calibration)
    checked = []

    def checking_newton(period, z, max_evaluations):
        if not period.first and not checked:
            f, state = period.state(z)
            if np.abs(f).max() > 1e-6:  # a month where the equilibrium moves
                analytic = period.jacobian(state)
                numeric = jacobian(period, z)
                scale = np.abs(numeric).max()
                close = np.isclose(analytic, numeric, rtol=1e-3, atol=1e-4 * scale)
                checked.append((close.mean(), np.median(np.abs(analytic - numeric)) / scale))
        return newton(period, z, max_evaluations)

    monkeypatch.setattr(solver, "newton", checking_newton)
    dynamic_ge.simulate_dynamic_ge(population, path, params)
    assert checked, "no month moved the equilibrium"
    share_close, median_error = checked[0]
    assert share_close > 0.99 and median_error < 1e-6, checked


def test_no_policy_path_from_the_reference_state_equals_its_full_solve(tmp_path, monkeypatch):
    """In ``ge`` the draw's no-policy path is taken from the policy run's reference state (no pass over the
    pairs); solved in full instead, every no-policy column and effect is the same to rounding."""
    from engine.closures import dynamic_ge

    def run(folder):
        return engine.simulate(["us_japan_2025"], draws=1, firms=800, seed=4, closure="ge", out=folder)

    known, calls = dynamic_ge.KnownReference._at, []

    def counted(self, shift):
        try:
            return known(self, shift)
        except dynamic_ge.PathOffReference:
            calls.append("off")
            raise

    monkeypatch.setattr(dynamic_ge.KnownReference, "_at", counted)
    fast = run(tmp_path / "fast")
    assert calls == [], "the no-policy path left the reference state"

    def off_reference(self, shift):
        calls.append("forced")
        raise dynamic_ge.PathOffReference

    monkeypatch.setattr(dynamic_ge.KnownReference, "_at", off_reference)
    full = run(tmp_path / "full")
    assert calls, "the full solve was not forced"
    keys = ["draw", "period", "origin", "destination", "sector"]
    for table, key in (("flows", keys), ("regions", ["draw", "period", "region"])):
        a, b = (r.scan(table).collect().sort(key) for r in (fast, full))
        for column in a.columns:
            if column.endswith(("_no_policy", "_effect_pct")) and a[column].dtype.is_float():
                np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), rtol=1e-10,
                                           atol=1e-9 * max(1.0, np.nanmax(np.abs(b[column].to_numpy()))),
                                           err_msg=f"{table}.{column}")


def test_pairs_of_some_destinations_are_those_of_the_full_draw(request):
    """``dests``: the scores and period-0 state of a subset of destinations (``pe_moving`` draws only
    the markets a policy touches) equal those columns of the full draw, bit for bit."""
    seed = node_seed(request.node.nodeid)
    case = _random_case(np.random.default_rng(seed))
    (sales, entry, eta, weight), z, status, initial = _start(case)
    keys, y, m = case["keys"], case["y"], case["n_firms"]
    n_blocks, n_dest = case["offset"].shape
    dests = np.array([2, 0], dtype=np.int64)
    part = [np.empty((n_blocks, dests.size, m)) for _ in range(2)] + [
        np.empty((n_blocks, dests.size, m), dtype=np.float32), np.empty((n_blocks, dests.size, m))]
    dynamic_pair_scores(keys[0], keys[1], *case["params"], m, case["strata"], *part, dests, n_dest)
    for got, want in zip(part, (sales, entry, eta, weight)):
        np.testing.assert_array_equal(got, want[:, dests])
    z_part, status_part = np.empty((n_blocks, m), dtype=np.int64), np.empty((n_blocks, dests.size, m), dtype=np.bool_)
    initial_part = [np.empty((n_blocks, dests.size)) for _ in range(5)]
    dynamic_initial_state(keys[2], keys[3], case["chain"].cum_invariant, y[0], y[1] - y[0], case["status_prob"],
                          case["stationary"], case["offset"], case["z_score"], *part, z_part, status_part,
                          *initial_part, dests)
    np.testing.assert_array_equal(z_part, z)
    np.testing.assert_array_equal(status_part, status[:, dests])
    for got, want in zip(initial_part, initial):
        np.testing.assert_array_equal(got, want[:, dests])


def test_a_scenario_model_pickles_after_ge_used_it():
    """``ge`` caches an exchange-rate-neutral view on the scenario model; the model still pickles (a Dask
    run sends the plan to its workers and back): unpickling the view used to recurse without end."""
    import pickle

    from engine.calibration.data import load_calibration
    from engine.closures.dynamic_ge import _fx_neutral
    from engine.paths import default_calibration_dir
    from engine.scenario.policy import ScenarioModel
    from engine.scenario.read import load_scenario
    from engine.scenario.uncertainty import draw_policy

    model = ScenarioModel(load_scenario("us_japan_2025"), load_calibration(default_calibration_dir()))
    labels = draw_policy(model, 1, 0)[0].branch_labels
    neutral = _fx_neutral(model).arrays(labels)
    copy = pickle.loads(pickle.dumps(model))
    again = _fx_neutral(copy).arrays(labels)
    assert np.array_equal(again.tariff, neutral.tariff) and np.all(again.fx == 1.0)


@pytest.mark.parametrize("keep_scores", [False, True])
def test_ge_firm_rows_are_the_pairs_its_state_carries(keep_scores):
    """Firm rows in ``ge`` (``--firm-output``) list the pairs exporting under the hard rule at the solved
    shifts, the state carried forward: over a cell's rows, weight x exports is the unit exports times
    the committed sales index and the weights add up to the committed exporters, in every period
    (the flows add the marginal pair's fraction, docs/model.md section 12). With the pair scores kept
    from the baseline costs (as a run does) or drawn again, the draw is the same bit for bit."""
    from engine.calibration.data import load_calibration
    from engine.closures.dynamic_ge import GeState, simulate_dynamic_ge
    from engine.firms.dynamic import dynamic_population
    from engine.firms.rows import dynamic_rows
    from engine.paths import default_calibration_dir
    from engine.scenario.policy import ScenarioModel
    from engine.scenario.read import load_scenario
    from engine.scenario.uncertainty import draw_policy, sample_parameters, stream_keys

    calibration = load_calibration(default_calibration_dir())
    scenario = load_scenario("us_japan_2025")
    params, _ = sample_parameters(scenario, calibration, 2, 0)
    path, _ = draw_policy(ScenarioModel(scenario, calibration), 2, 0)
    keys = stream_keys(2)
    population = dynamic_population((keys["productivity"], keys["shocks"]), 0, 200, params, calibration,
                                    keep_scores=keep_scores)
    cells, _, solved = simulate_dynamic_ge(population, path, params)
    state = GeState(None, solved["pe_thresholds"], solved["threshold_shift"], solved["unit_exports"])  # as run_dynamic
    exports, count = np.zeros(solved["hard_active"].shape), np.zeros(solved["hard_active"].shape)
    for rows in dynamic_rows(population, state, params, "all"):
        np.add.at(exports, (rows.period, rows.block, rows.destination), rows.weight * rows.exports)
        np.add.at(count, (rows.period, rows.block, rows.destination), rows.weight)
    np.testing.assert_allclose(exports, state.unit_exports * solved["hard_sales_index"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(count, solved["hard_active"], rtol=1e-12, atol=1e-9)
    assert np.any(state.threshold_shift != 0.0) and np.ptp(count[1:], axis=0).max() > 0  # shifts solved, churn
    if keep_scores:
        assert population.scores is not None
        again = simulate_dynamic_ge(dynamic_population((keys["productivity"], keys["shocks"]), 0, 200, params,
                                                       calibration), path, params)[0]
        assert cells.keys() == again.keys()
        for name in cells:
            assert np.array_equal(cells[name], again[name], equal_nan=True), name
