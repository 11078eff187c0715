"""Report benchmarks: ``engine report`` of a 200-draw run of the default scenario (target < 10 s).

The run is built once outside the timing (200 draws x 2,000 firms: the report reads per-draw
tables whose size depends on draws and periods, not on firms; no firm output, as in a default run).
With the default ``--benchmark-disable`` it runs once on a 4-draw run and checks the page.

- ``test_report_html``: ``engine.outputs.report.page.build_report`` in-process, HTML page only; the first round
  includes vl-convert's one-off JavaScript bundling, so the rounds are reported as measured.
- ``test_report_command``: the whole ``engine report RUN`` command in a fresh process (imports
  included), what a user waits for.
"""

import subprocess
import sys
import time

import pytest

import engine
from bench.conftest import benchmarks_disabled
from engine.outputs.report.page import build_report

FULL_DRAWS, FULL_FIRMS = 200, 2000


@pytest.fixture(scope="module")
def report_run(request, tmp_path_factory):
    full = not benchmarks_disabled(request.config)
    draws, firms = (FULL_DRAWS, FULL_FIRMS) if full else (4, 500)
    return engine.simulate("us_japan_2025", draws=draws, firms=firms, seed=2025,
                           out=tmp_path_factory.mktemp("bench-report") / "run"), draws


def test_report_html(benchmark, report_run, tmp_path):
    run, draws = report_run
    out = tmp_path / "report.html"
    report = benchmark.pedantic(build_report, args=(run,), kwargs={"out": out}, rounds=3, iterations=1)
    benchmark.extra_info["draws"] = draws
    assert out.stat().st_size > 500_000 and len(report.charts) >= 7


def test_report_command(benchmark, report_run, tmp_path):
    run, draws = report_run
    out = tmp_path / "report.html"

    def command():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "engine.cli.main", "report", str(run.path), "--out", str(out)], check=True,
                       capture_output=True)
        return time.perf_counter() - started

    seconds = benchmark.pedantic(command, rounds=1, iterations=1)
    benchmark.extra_info["draws"] = draws
    print(f"engine report of a {draws}-draw run: {seconds:.1f} s")
    assert out.stat().st_size > 500_000
