"""Inputs of the CPU-versus-CUDA comparisons (tests/test_cuda.py, bench/gpu_check.py), built from a seed.

Both the test process (CPU kernels) and the CUDA process (``tests/cuda_sim_worker.py`` under the
simulator, or the GPU) build the same inputs from the same seed, so nothing is serialised but seeds.
Every function returns the kernel's arguments without its outputs. Only NumPy and ``kernels`` are
imported (not ``engine``, whose Polars and pydantic a lent GPU machine may lack: ``bench/gpu_check.py``).
"""

import numpy as np

from kernels.static import block_keys

#: Sizes of the CUDA-simulator comparisons: tiny, since the simulator runs every GPU thread as a Python
#: thread. 200 firms in chunks of 96 span three CUDA blocks per (origin, sector) block (the last one
#: part empty) with the simulator's 32 threads; three destinations span two destination groups of
#: the static kernel; the dynamic kernel's 128-firm chunks span two CUDA blocks.
SIM_SIZES = {"n_blocks": 3, "n_dest": 3, "n_firms": 200, "n_periods": 5}
#: Sizes of the per-period (ge closure) kernels' simulator comparison: 100 firms give each of the 32
#: simulated threads of a per-cell CUDA block three or four firms (the order of a thread's scan
#: matters for the marginal pair) and span four CUDA blocks of the per-firm kernels.
SIM_GE_SIZES = {"n_blocks": 3, "n_dest": 3, "n_firms": 100, "n_periods": 4}
#: Firms per CUDA block of the static kernel in the simulator runs (``firm_chunk`` argument).
SIM_FIRM_CHUNK = 96
#: Draws of the batched static launch in the simulator runs.
SIM_DRAWS = 2


def static_case(seed, n_blocks=3, n_dest=3, n_firms=200, n_draws=1):
    """Arguments of ``direct_cell_sums`` for ``n_draws`` draws: keys (D, B), thresholds (D, B, R).

    Thresholds span the score range; one cell is closed (``+inf``) and one open to every firm (``-inf``).
    """
    rng = np.random.default_rng(seed)
    stream = rng.integers(0, 2**63, 2, dtype=np.uint64)
    productivity_keys = np.stack([block_keys(stream[0], d, n_blocks) for d in range(n_draws)])
    shock_keys = np.stack([block_keys(stream[1], d, n_blocks) for d in range(n_draws)])
    sm1_over_theta = rng.uniform(0.4, 1.0, n_blocks)
    s_a, s_e = rng.uniform(0.2, 1.5, n_blocks), rng.uniform(0.1, 1.0, n_blocks)
    rho = rng.uniform(-0.6, 0.6, n_blocks)
    thresholds = rng.uniform(-1.0, 3.0, (n_draws, n_blocks, n_dest))
    thresholds[0, 0, 0] = np.inf
    thresholds[0, -1, -1] = -np.inf
    params = (sm1_over_theta, s_a, s_e, rho)
    return productivity_keys, shock_keys, params, thresholds


def demand_strata(n_blocks, n_firms):
    """Strata of the demand shock (B, 3, M) shaped like ``engine.firms.sampling.block_strata`` stacked
    (low edges, widths, weights; ``engine`` is not imported here): the first block has equal strata
    of weight 2.5, the others weights rising from 1 (the narrow top strata) to about 40 (the wide
    bottom ones) and widths proportional to them. The weights are multiples of 1/4, so that every sum
    of them is exact in float64 whatever the order of the additions: counts of real pairs on the CPU
    and on the GPU are then equal exactly when the same pairs count.
    """
    weight = np.empty((n_blocks, n_firms))
    weight[0] = 2.5
    rank = np.arange(n_firms) / max(n_firms - 1, 1)
    for b in range(1, n_blocks):
        weight[b] = np.round(4.0 * (1.0 + (38.0 + b) * rank ** (1.0 + b))) / 4.0
    width = weight / weight.sum(axis=1, keepdims=True)
    low = np.concatenate([np.zeros((n_blocks, 1)), np.cumsum(width, axis=1)[:, :-1]], axis=1)
    return np.ascontiguousarray(np.stack([low, width, weight], axis=1))


def dynamic_case(seed, n_blocks=3, n_dest=3, n_firms=200, n_periods=5, n_z=5, loss=0.1):
    """Arguments of ``dynamic_baseline_costs`` and ``dynamic_cell_sums`` (as ``tests/test_dynamics.py``),
    with the strata of ``demand_strata`` and a monthly loss of relationships ``loss``.

    Returns
    -------
    (tuple, tuple)
        The arguments of ``dynamic_baseline_costs`` and of ``dynamic_cell_sums``, without outputs.
    """
    rng = np.random.default_rng(seed)
    grid, cum_transition, cum_invariant = _markov_chain(rng, n_z)
    keys = tuple(rng.integers(0, 2**63, n_blocks, dtype=np.uint64) for _ in range(4))
    sm1_over_theta = 2.0 / rng.uniform(3.0, 5.0, n_blocks)
    s_a, s_e = rng.uniform(0.1, 0.8, n_blocks), rng.uniform(0.1, 0.5, n_blocks)
    rho = rng.uniform(-0.5, 0.5, n_blocks)
    z_score = np.tile(2.0 * grid, (n_blocks, 1))
    y = np.linspace(-6, 6, 61)
    status_prob = np.sort(rng.uniform(0, 1, (n_blocks, n_z, y.size)), axis=2)
    stationary = np.sort(rng.normal(0, 1, (n_blocks, n_z, 2)), axis=2)[..., ::-1].copy()  # incumbents lower
    offset = rng.normal(0, 1, (n_blocks, n_dest))
    offset[0, -1] = -np.inf  # a cell with no baseline flow stays closed
    thresholds = rng.normal(1.0, 1.0, (n_periods, n_blocks, n_dest, n_z, 2))
    common = (*keys, sm1_over_theta, s_a, s_e, rho, n_firms, demand_strata(n_blocks, n_firms))
    baseline = (*common, cum_invariant, y[0], y[1] - y[0], status_prob, stationary)
    sums = (*common, z_score, cum_invariant, cum_transition, y[0], y[1] - y[0], status_prob, stationary,
            offset, thresholds, loss)
    return baseline, sums


def _markov_chain(rng, n_z, persistence=0.8):
    """A random persistent Markov chain on ``n_z`` grid points: grid, cumulative transition rows, and the
    cumulative invariant distribution (any chain serves to compare two implementations of the kernel)."""
    grid = np.linspace(-0.6, 0.6, n_z)
    transition = persistence * np.eye(n_z) + (1 - persistence) * rng.dirichlet(np.ones(n_z), n_z)
    invariant = np.full(n_z, 1.0 / n_z)
    for _ in range(2000):
        invariant = invariant @ transition
    cum_transition = np.cumsum(transition, axis=1)
    cum_transition[:, -1] = 1.0
    cum_invariant = np.cumsum(invariant / invariant.sum())
    cum_invariant[-1] = 1.0
    return grid, cum_transition, cum_invariant


def run_static(function, case, n_firms, firm_chunk):
    """Run a one-draw ``direct_cell_sums``-like ``function`` over every draw of ``case``: (D, B, R) outputs."""
    productivity_keys, shock_keys, params, thresholds = case
    active = np.zeros(thresholds.shape, dtype=np.int64)
    sales = np.zeros(thresholds.shape)
    for d in range(thresholds.shape[0]):
        function(productivity_keys[d], shock_keys[d], *params, n_firms, thresholds[d], firm_chunk, active[d], sales[d])
    return active, sales


def run_dynamic(baseline_function, sums_function, case):
    """``(costs, initial_z, seven sums stacked (7, T, B, R))`` of the dynamic kernels on ``case`` (the last:
    the half-population split)."""
    baseline, sums = case
    n_blocks, n_firms = baseline[0].size, baseline[8]
    thresholds = sums[18]
    n_periods, _, n_dest = thresholds.shape[:3]
    costs = np.full((n_blocks, n_dest, n_firms), np.nan)
    initial = np.full((n_blocks, n_firms), -1, dtype=np.int64)
    baseline_function(*baseline, costs, initial)
    out = [np.full((n_periods, n_blocks, n_dest), np.nan) for _ in range(7)]
    sums_function(*sums, *out)
    return costs, initial, np.stack(out)


#: The per-period kernels of the dynamic ``ge`` closure, in the order ``run_dynamic_ge`` calls them.
DYNAMIC_GE_KERNELS = ("dynamic_pair_scores", "dynamic_initial_state", "dynamic_z_advance",
                      "dynamic_relationship_loss", "dynamic_period_aggregates", "dynamic_period_commit")


def dynamic_ge_case(seed, n_blocks=3, n_dest=3, n_firms=200, n_periods=5, n_shifts=2):
    """Inputs of the per-period kernels (``kernels.dynamic_ge.dynamic_pair_scores`` ... ``dynamic_period_commit``).

    The firms and tables of ``dynamic_case``; the closed cell (offset ``-inf``) has ``+inf``
    thresholds (as ``engine.firms.dynamic.entry_thresholds`` gives it). Per period, ``n_shifts``
    threshold shifts for the aggregates (the first 0, as ``engine.closures.dynamic_ge`` asks) and one shift
    at which the state is committed.
    """
    baseline, sums = dynamic_case(seed, n_blocks, n_dest, n_firms, n_periods)
    rng = np.random.default_rng([seed, 1])
    thresholds = sums[18].copy()
    thresholds[:, 0, -1] = np.inf
    shifts = rng.normal(0.0, 0.5, (n_periods, n_shifts, n_blocks, n_dest))
    shifts[:, 0] = 0.0
    commit_shift = rng.normal(0.0, 0.3, (n_periods, n_blocks, n_dest))
    return {"keys": baseline[:4], "params": baseline[4:8], "n_firms": n_firms, "strata": sums[9], "z_score": sums[10],
            "cum_invariant": sums[11], "cum_transition": sums[12], "y_low": sums[13], "y_step": sums[14],
            "status_prob": sums[15], "stationary": sums[16], "offset": sums[17], "thresholds": thresholds,
            "loss": sums[19], "shifts": shifts, "commit_shift": commit_shift}


def run_dynamic_ge(kernels, case, empty=np.empty, copy=np.copy, to_host=np.copy):
    """Run the per-period kernels over every period of ``case``; every output, on the host, by name.

    ``kernels`` maps the names of ``DYNAMIC_GE_KERNELS`` to functions (the CPU kernels or their CUDA
    twins). The per-pair state is allocated with ``empty`` and ``copy`` (NumPy, or device arrays:
    ``engine.devices.state_arrays``) and read back with ``to_host``. Period 0 is the initial state;
    in period ``t >= 1`` the ``z`` indices move, relationships are lost, the aggregates are taken at ``shifts[t]`` and the
    state is committed at ``commit_shift[t]``. (``to_host`` must copy: the state changes in place.)
    """
    keys, m = case["keys"], case["n_firms"]
    n_blocks, n_dest = case["offset"].shape
    sales, entry = empty((n_blocks, n_dest, m), np.float64), empty((n_blocks, n_dest, m), np.float64)
    eta, weight = empty((n_blocks, n_dest, m), np.float32), empty((n_blocks, n_dest, m), np.float64)
    dests = np.arange(n_dest, dtype=np.int64)
    kernels["dynamic_pair_scores"](keys[0], keys[1], *case["params"], m, case["strata"], sales, entry, eta, weight,
                                   dests, n_dest)
    z, status = empty((n_blocks, m), np.int64), empty((n_blocks, n_dest, m), np.bool_)
    initial = [np.full((n_blocks, n_dest), np.nan) for _ in range(5)]
    kernels["dynamic_initial_state"](keys[2], keys[3], case["cum_invariant"], case["y_low"], case["y_step"],
                                     case["status_prob"], case["stationary"], case["offset"], case["z_score"], sales,
                                     entry, eta, weight, z, status, *initial, dests)
    out = {"sales": to_host(sales), "entry": to_host(entry), "eta": to_host(eta), "weight": to_host(weight),
           "initial": np.stack(initial), "z": [to_host(z)], "status": [to_host(status)], "aggregates": [],
           "marginal": [], "slope": [], "commit": []}
    z_base, base = copy(z), copy(status)
    lost, kept = empty((n_blocks, n_dest, m), np.bool_), empty((n_blocks, n_dest, m), np.bool_)
    shifts = case["shifts"]
    for t in range(1, shifts.shape[0]):
        kernels["dynamic_z_advance"](keys[2], t, case["cum_transition"], z)
        kernels["dynamic_relationship_loss"](keys[3], t, case["loss"], dests, n_dest, status, lost, kept)
        table = np.ascontiguousarray(case["thresholds"][t])
        hard = [np.full(shifts.shape[1:], np.nan) for _ in range(4)]
        marginal, slope = np.full((4, *shifts.shape[1:]), np.nan), np.full((4, *shifts.shape[1:]), np.nan)
        kernels["dynamic_period_aggregates"](sales, entry, eta, weight, z, case["z_score"], kept, table,
                                             np.ascontiguousarray(shifts[t]), *hard, marginal, slope)
        committed = [np.full((n_blocks, n_dest), np.nan) for _ in range(9)]
        kernels["dynamic_period_commit"](sales, entry, eta, weight, z, z_base, case["z_score"], status, base, lost,
                                         table, np.ascontiguousarray(case["commit_shift"][t]), *committed)
        out["aggregates"].append(np.stack(hard))
        out["marginal"].append(marginal)
        out["slope"].append(slope)
        out["commit"].append(np.stack(committed))
        out["z"].append(to_host(z))
        out["status"].append(to_host(status))
    for name in ("z", "status", "aggregates", "marginal", "slope", "commit"):
        out[name] = np.stack(out[name])
    return out
