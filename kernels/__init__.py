"""Numerical kernels: pure functions and loops, no I/O, no global state.

Product path (what ``engine/`` runs):

- ``rng`` counter-based random numbers; ``fastmath`` branch-free float64 ``log``/``exp``/``sin``/``cos``
  that let LLVM vectorise the loops; ``firm`` the per-firm math; ``sort`` the score sort;
- ``static`` the static model's loops (``block_keys``, ``rank_cells``, ``evaluate_cells``, ``firm_scores``);
  ``fixed_costs`` the ge closure's fixed-cost tails;
- ``dynamic`` the dynamic model's firm loop over all periods; ``dynamic_ge`` the same one period at a
  time for the ``ge`` closure;
- ``cuda``: CUDA twins with the same module names (``cuda.dynamic``, ``cuda.dynamic_ge``; optional,
  numba-cuda), picked by ``engine.devices``.

``reference``: the brute-force cell sums (float64, float32, CUDA float32_fast) that tests and
benchmarks check the product path against; no engine run calls them.
"""

from kernels.rng import derive_key, hash_at
from kernels.static import block_keys, evaluate_cells, firm_scores, rank_cells

__all__ = ["block_keys", "derive_key", "evaluate_cells", "firm_scores", "hash_at", "rank_cells"]
