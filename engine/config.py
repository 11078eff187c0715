"""Run settings, their allowed values and tunables with their documented defaults, in one place.

Nothing here changes results except ``DEFAULT_*`` run settings, which are recorded in every
manifest; chunk sizes only change how work is split and written (results are identical).
"""

#: Monte Carlo draws when the user gives none.
DEFAULT_DRAWS = 20
#: Simulated firms per (origin, sector) when the user gives none.
DEFAULT_FIRMS = 20_000
#: Seed when the user gives none (runs are reproducible by default).
DEFAULT_SEED = 2025
#: ``--precision``: the firm-sampling standard error, in percentage points, above which a cell's policy
#: effect on exports is flagged and more simulated firms are advised (docs/model.md section 8.2).
DEFAULT_PRECISION = 1.0
#: The scenario run by ``engine simulate`` with no argument.
DEFAULT_SCENARIO = "us_japan_2025"
#: Market closures (docs/model.md section 6), the default first; ``engine.closures.registry`` says
#: which firm model each runs with.
CLOSURES = ("ge", "pe_moving", "pe", "ge_fixed_wage")
#: The partial-equilibrium closures (wages and incomes fixed: no welfare measured), the default of
#: ``engine diagnose`` (whose experiments are partial equilibrium) first.
PARTIAL_CLOSURES = ("pe_moving", "pe")
#: Firm models by a scenario's ``[dynamics] mode`` (docs/model.md section 11), the default first.
DYNAMICS_MODES = ("static", "myopic", "forward")
#: ``--firm-output``: ``FIRM_SAMPLE`` firms per (origin, sector) and draw, or every firm.
FIRM_OUTPUTS = ("sample", "all")
#: ``--device``: where the dynamic model's firm loops run (``engine.devices``).
DEVICES = ("cpu", "cuda", "auto")
#: Tables a run folder may hold (``firms`` only with ``--firm-output``; ``engine.outputs.schemas``).
TABLES = ("flows", "summary", "regions", "draws", "prices", "firms")
#: ``engine export --format``.
EXPORT_FORMATS = ("csv", "xlsx", "parquet")
#: Draws simulated before one Parquet part file is written (memory does not grow with draws).
DRAWS_PER_CHUNK = 4
#: Firms per parallel task in the brute-force kernel (``kernels.reference.static.direct_cell_sums``).
FIRM_CHUNK = 4096
#: Firms per (origin, sector) and draw written by ``--firm-output sample``.
FIRM_SAMPLE = 200
#: Row-group size of the streamed firm-level Parquet file (batches are written per block).
FIRM_ROWS_PER_BATCH = 1_000_000
#: General equilibrium: stop when the largest residual (log points: market spending against sales, labour
#: supply against demand) is at most this; 1e-10 is 1e-8 % of each market's value.
GE_TOLERANCE = 1e-10
#: General equilibrium: evaluations per period before the run fails with ConvergenceError.
GE_MAX_ITERATIONS = 400
