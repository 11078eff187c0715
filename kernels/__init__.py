"""Numerical kernels: pure functions and loops, no I/O, no global state (see ``kernels.cpu``)."""

from kernels.cpu import block_keys, direct_cell_sums, evaluate_cells, firm_scores, rank_cells
from kernels.rng import derive_key, hash_at

__all__ = ["block_keys", "derive_key", "direct_cell_sums", "evaluate_cells", "firm_scores",
           "hash_at", "rank_cells"]
