"""CUDA twins of the CPU kernels (numba-cuda: ``pip install '.[cuda]'``), one module per CPU module.

- ``kernels.cuda.device``: the shared machinery (the CPU's per-firm functions compiled as device
  functions, ``THREADS``, ``chunks``, ``tree_reduce``); importing any module here imports ``numba.cuda``;
- ``kernels.cuda.dynamic`` = ``kernels.dynamic`` (``dynamic_baseline_costs``, ``dynamic_cell_sums``);
- ``kernels.cuda.dynamic_ge`` = ``kernels.dynamic_ge`` (the per-period kernels of the ``ge`` closure).

The brute-force static kernels (``direct_cell_sums``) are reference code: ``kernels.reference.cuda``.
``engine.devices`` imports these modules only when a CUDA kernel is asked for.
"""
