"""The ``engine`` command: thin Click commands over the Python API (parse, call, print).

``main`` is the command group; each command lives in the module of its name. Commands import the
engine's heavy modules (Numba, Polars, pyarrow) only when they run, so ``engine --help`` is quick.
"""
