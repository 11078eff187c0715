"""Run in a fresh process by ``bench/test_bench_startup.py``: import the kernels, call them once.

``python bench/startup_probe.py full|tiny`` prints one JSON line with the seconds spent importing
and in each first call (compiling, or loading from Numba's cache in ``NUMBA_CACHE_DIR``) and a
checksum of the results. ``full``: the kernels a run and the benchmarks use (``block_keys``,
``rank_cells``, ``evaluate_cells``, ``direct_cell_sums`` and its float32 variant); ``tiny``:
``block_keys`` only (a quick check of the mechanism when benchmarks are disabled).
"""

import json
import sys
import time


def main(which):
    started = time.perf_counter()
    import numpy as np

    import kernels
    from kernels.reference import static as brute

    seconds = {"import": time.perf_counter() - started}

    def timed(name, fn, *args):
        t = time.perf_counter()
        out = fn(*args)
        seconds[name] = time.perf_counter() - t
        return out

    blocks, dest, firms = 2, 3, 100
    pk = timed("block_keys", kernels.block_keys, np.uint64(1), 0, blocks)
    checksum = int(pk[0] % np.uint64(10**9))
    if which == "full":
        sk = kernels.block_keys(np.uint64(2), 0, blocks)
        from engine.firms.sampling import block_strata  # SciPy: not part of the kernels' import time

        par = (np.full(blocks, 0.4), np.full(blocks, 1.69), np.full(blocks, 0.34), np.full(blocks, -0.65))
        strata = block_strata(np.array([50.0, 5000.0]), firms, par[1])
        thresholds = np.zeros((blocks, dest))
        active, sales = np.empty((blocks, dest)), np.empty((blocks, dest))
        timed("direct_cell_sums", brute.direct_cell_sums, pk, sk, *par, firms, *strata, thresholds, 64, active, sales)
        checksum += int(active.sum())
        timed("direct_cell_sums_f32", brute.direct_cell_sums_f32, pk, sk, *par, firms, *strata, thresholds, 64, active,
              sales)
        entry, tail = np.empty((blocks, dest, firms)), np.empty((blocks, dest, firms + 1))
        tail_count = np.empty((blocks, dest, firms + 1))
        timed("rank_cells", kernels.rank_cells, pk, sk, *par, firms, *strata, entry, tail, tail_count)
        first, index = np.empty((1, blocks, dest), np.int64), np.empty((1, blocks, dest))
        timed("evaluate_cells", kernels.evaluate_cells, entry, tail, thresholds[None], first, index)
        checksum += int(first.sum())
    seconds["total"] = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "checksum": checksum}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "full")
