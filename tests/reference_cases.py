"""Inputs of the brute-force reference kernels' comparisons (``kernels.reference``: CPU against CUDA in
tests/test_cuda.py and tests/cuda_sim_worker.py, bench/gpu_check.py, bench/test_bench_cuda.py), built from a seed.

A case is ``tests.cuda_cases.static_case`` (keys, parameters, thresholds) with the blocks' strata of the
stratified demand shock (``engine.firms.sampling.block_strata``) for real firm counts drawn from the
seed: the first block has fewer real firms than simulated ones (equal weights below one), the others
2 to 60 times more (the default calibration's range is 0.75 to 60), so that pairs weigh from less
than one to many real pairs. Only NumPy, SciPy and ``kernels`` are imported (``engine.firms.sampling``
imports no more), as ``tests.cuda_cases`` promises for a lent GPU machine.
"""

import numpy as np

from engine.firms.sampling import block_strata
from tests import cuda_cases


def static_case(seed, n_blocks=3, n_dest=3, n_firms=200, n_draws=1):
    """Arguments of ``direct_cell_sums`` for ``n_draws`` draws.

    Returns
    -------
    tuple
        ``(productivity_keys (D, B), shock_keys (D, B), params, thresholds (D, B, R), strata)``: ``params``
        is ``(sm1_over_theta, s_a, s_e, rho)``, each (B,); ``strata`` is ``(low, width, weight)``, each
        (B, M), the same for every draw. Thresholds as ``tests.cuda_cases.static_case`` (one closed
        cell, ``[0, 0, 0]``, and one open to every pair, ``[0, -1, -1]``).
    """
    productivity_keys, shock_keys, params, thresholds = cuda_cases.static_case(seed, n_blocks, n_dest, n_firms,
                                                                               n_draws)
    rng = np.random.default_rng([seed, 19])
    real = np.round(n_firms * np.exp(rng.uniform(np.log(2.0), np.log(60.0), n_blocks)))
    real[0] = np.round(0.75 * n_firms)
    return productivity_keys, shock_keys, params, thresholds, block_strata(real, n_firms, params[1])


def real_firms(case):
    """The real firms of each block of a case (B,): the sum of its strata's weights."""
    return case[4][2].sum(axis=1)


def run_static(function, case, n_firms, firm_chunk):
    """Run a one-draw ``direct_cell_sums``-like ``function`` over every draw of ``case``: real active
    pairs and sales, (D, B, R) each."""
    productivity_keys, shock_keys, params, thresholds, strata = case
    active = np.zeros(thresholds.shape)
    sales = np.zeros(thresholds.shape)
    for d in range(thresholds.shape[0]):
        function(productivity_keys[d], shock_keys[d], *params, n_firms, *strata, thresholds[d], firm_chunk, active[d],
                 sales[d])
    return active, sales
