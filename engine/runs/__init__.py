"""Monte Carlo runs: from inputs to a complete run folder.

- ``simulate``: the Python API ``simulate`` (plan, store, executor, manifest);
- ``plan``: the frozen run plan and the pure per-draw unit of work;
- ``executors``: where chunks of draws run (here or on Dask);
- ``store``: the run folder on disk (atomic, locked, resumable); ``folder``: opening a finished run,
  ``result``: its tables as Polars frames (``SimulationResult``);
- ``diagnose``: the trade elasticity the model implies, measured by runs.
"""
