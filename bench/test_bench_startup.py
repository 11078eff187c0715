"""Start-up cost of the kernels in a fresh Python process.

- ``cold``: an empty Numba cache (``NUMBA_CACHE_DIR`` a new folder each round), so the first call
  of every kernel compiles it: what the first run after installing costs;
- ``warm``: the cache filled by an untimed run before, so the first calls load machine code.

The timed call is the whole subprocess (interpreter start, imports, first calls); the probe's own
split (import, each kernel's first call) is in ``extra_info``. With benchmarks disabled the probe
compiles only ``block_keys`` (a second or so) and the test checks the mechanism: the same
results in every round, the cache written (cold) and used (warm).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("startup_probe.py")
ROOT = PROBE.parent.parent


def _probe(which, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, str(PROBE), which], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="startup")
@pytest.mark.parametrize("start", ["cold", "warm"])
def test_first_calls_in_a_fresh_process(benchmark, full, tmp_path, start):
    which = "full" if full else "tiny"
    counter = iter(range(10**6))
    warm_dir = tmp_path / "warm-cache"
    if start == "warm":
        _probe(which, warm_dir)  # fill the cache (untimed)

    def setup():
        return ((tmp_path / f"cold-cache-{next(counter)}") if start == "cold" else warm_dir,), {}

    results = []
    benchmark.pedantic(lambda cache: results.append(_probe(which, cache)), setup=setup,
                       rounds=(2 if start == "cold" else 3) if full else 1, iterations=1)
    benchmark.extra_info.update(start=start, kernels=which, probe_seconds=results[-1]["seconds"])
    assert len({r["checksum"] for r in results}) == 1
    if start == "warm":
        assert list(warm_dir.glob("**/*.nbi"))  # the index files of the cached kernels
    else:
        assert list((tmp_path / "cold-cache-0").glob("**/*.nbi"))  # compiled and cached


@pytest.mark.benchmark(group="startup")
def test_engine_help_against_import_click(benchmark, full):
    """``engine --help`` as a whole process; ``extra_info`` has its ratio to ``python -c 'import click'``
    (median of the same number of rounds), which should stay within 3."""
    import statistics
    import time

    rounds = 10 if full else 1

    def seconds(args):
        started = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
        return time.perf_counter() - started, done.stdout

    click_median = statistics.median(seconds([sys.executable, "-c", "import click"])[0] for _ in range(rounds))
    outputs = []
    benchmark.pedantic(lambda: outputs.append(seconds([sys.executable, "-m", "engine.cli.main", "--help"])),
                       rounds=rounds, iterations=1)
    help_median = statistics.median(s for s, _ in outputs)
    benchmark.extra_info.update(import_click_s=click_median, ratio_to_import_click=help_median / click_median)
    assert outputs[-1][1].startswith("Usage: ")
