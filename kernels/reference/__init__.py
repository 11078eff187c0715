"""Reference and benchmark kernels: NOT on the product path (no engine run calls them).

The brute-force cell sums regenerate every firm's random numbers and test every firm against the
thresholds, with no ranking and no storage; they take each block's strata of the demand shock
(``engine.firms.sampling``: low edges, widths and weights, (B, M)) and count real pairs, as
``kernels.static.rank_cells`` does:

- ``static``: ``direct_cell_sums`` (float64) and ``direct_cell_sums_f32`` on the CPU;
- ``float32``: the float32 math, random numbers and per-firm scores they use;
- ``cuda.static``: their CUDA twins (``direct_cell_sums``, ``direct_cell_sums_f32``,
  ``direct_cell_sums_f32_fast``, ``direct_cell_sums_draws`` for many draws per launch, the
  register-layout ``register_kernel``); ``cuda.fastmath``: CUDA's fast float32 intrinsics for
  ``float32_fast``.

Who uses them: ``tests/`` (test_kernels, test_fastmath, test_cuda: the ranking path of
``kernels.static`` equals ``direct_cell_sums``; float32 within its bound; CUDA equals CPU) and
``bench/`` (kernel throughput, GPU checks). ``engine.devices`` lists them in its ``KERNELS``
table (``direct_cell_sums`` in precisions float64, float32, float32_fast; ``batch_cell_sums`` runs
many draws in one launch) so
that tests and benchmarks pick a device and precision the way the engine picks its kernels.
"""
