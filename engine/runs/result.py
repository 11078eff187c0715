"""The result object of the Python API: a finished run folder and its tables as Polars frames."""

import json
from pathlib import Path

import polars as pl


class SimulationResult:
    """What ``engine.simulate`` returns: the run folder and its tables as Polars frames.

    Attributes
    ----------
    path : Path
        The run folder.
    manifest : dict
        Contents of ``manifest.json``.
    """

    def __init__(self, path, tmp_holder=None):
        self.path = Path(path)
        self.manifest = json.loads((self.path / "manifest.json").read_text())
        self._tmp_holder = tmp_holder  # keeps a temporary folder alive as long as the result

    @property
    def scenarios(self):
        return [s["name"] for s in self.manifest["scenarios"]]

    def scan(self, table="flows"):
        """Lazy Polars frame over a table (``flows``, ``draws``, ``summary``, ``regions``, ``prices``,
        ``firms``) with a ``scenario`` column. Scenarios are read folder by folder and stacked, so
        tables whose columns differ by scenario (``draws``) read back together (missing: null)."""
        folder = self.path / table
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: this run has no {table} table")
        frames = [pl.scan_parquet(part / "*.parquet").with_columns(
                      pl.lit(part.name.removeprefix("scenario=")).alias("scenario"))
                  for part in sorted(folder.glob("scenario=*"))]
        return pl.concat(frames, how="diagonal_relaxed")

    @property
    def flows(self):
        """Every (scenario, draw, period, origin, destination, sector) row, as a Polars DataFrame."""
        return self.scan("flows").collect()

    @property
    def draws(self):
        """One row per (scenario, draw): sampled parameters, branch options, FX."""
        return self.scan("draws").collect()

    @property
    def summary(self):
        """Mean and 5/50/95 % across draws per (scenario, period, origin, destination, sector)."""
        return self.scan("summary").collect()

    @property
    def firms(self):
        """Firm-level rows (only if the run asked for firm output)."""
        return self.scan("firms").collect()

    def report(self, out=None, figures=None):
        """The run's charts (``engine.outputs.report.page.Report``; ``.charts`` shows inline in a notebook),
        optionally written as an HTML page ``out`` and PNG/SVG files in ``figures``."""
        from engine.outputs.report.page import build_report

        return build_report(self, out=out, figures=figures)

    def backtest(self, realized, base=None, windows=(), scenario=None, write=True):
        """This run against realized trade (``engine.outputs.backtest.backtest``; ``engine backtest``)."""
        from engine.outputs.backtest import backtest

        return backtest(self, realized, base=base, windows=windows, scenario=scenario, write=write)

    def charts(self):
        """Name -> Altair chart of every chart of the report."""
        return self.report().charts

    def __repr__(self):
        return f"SimulationResult(path={str(self.path)!r}, scenarios={self.scenarios})"
