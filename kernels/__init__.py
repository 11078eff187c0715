"""Numerical kernels: pure functions and loops, no I/O, no global state (see ``kernels.cpu``).

``kernels.fastmath`` has the branch-free ``log``/``exp``/``sin``/``cos`` the loops use so that LLVM
vectorises them; ``direct_cell_sums_f32`` is the brute-force kernel in float32 arithmetic.
"""

from kernels.cpu import (block_keys, direct_cell_sums, direct_cell_sums_f32, evaluate_cells, firm_scores,
                         rank_cells)
from kernels.rng import derive_key, hash_at

__all__ = ["block_keys", "derive_key", "direct_cell_sums", "direct_cell_sums_f32", "evaluate_cells",
           "firm_scores", "hash_at", "rank_cells"]
