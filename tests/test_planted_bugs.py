"""Bugs that once survived the whole suite (issue 14) are planted again, one at a time, in a copy of
the ``engine`` package, and the targeted tests must fail on every copy (and pass on the unchanged
copy, the control).

Each copy lives in ``tmp_path`` with ``tests/``, ``data/`` and ``pyproject.toml``; a subprocess runs
pytest there with the copy first on ``PYTHONPATH``, so ``import engine`` is the planted one. The
``kernels`` package is not copied: no planted bug is in it, and importing it from the repository
reuses its Numba cache (a copy would recompile every kernel in every subprocess).

A mutation is a regular expression that must match exactly once; when a refactor changes the code
so that it no longer matches, this test fails and says so: rewrite the pattern for the new code
(the bug it stands for still matters).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

TARGETED = ["tests/test_pass_through.py", "tests/test_sunk_costs_ge.py"]

#: name -> (file, pattern, replacement, what it breaks)
BUGS = {
    "margin_change_sign_flipped": (
        "engine/firms/static.py", r"(\+\s*log_t\s*)-(\s*log_margin_change)", r"\1+\2",
        "the entry threshold adds the log margin change instead of subtracting it"),
    "pass_through_exponent_dropped": (
        "engine/firms/static.py", r"kappa\s*\*\s*(log_t\b)", r"\1",
        "the demand term moves with log(1+t), not kappa * log(1+t)"),
    "margin_ignores_the_tariff": (
        "engine/cells.py", r"\(1\.0 \+ tariff\) \*\* \(1\.0 - pass_through\) \*", "1.0 *",
        "the margin is 1 - 1/mu whatever the tariff and pass-through"),
    "commitment_loop_keeps_the_baseline_state": (
        "engine/closures/fixed_wage.py", r"\n(\s*)previous = threshold\n", r"\n\1pass\n",
        "the GE/commitment period loop never updates its previous-period thresholds"),
}


def _copy(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "engine", root / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("default", "scenarios"):
        shutil.copytree(REPO / "data" / name, root / "data" / name)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _run_targeted(root):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]), "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider", *TARGETED],
                          cwd=root, env=env, capture_output=True, text=True, check=False)


def test_targeted_tests_pass_on_an_unchanged_copy(tmp_path):
    """The control: the copy imports itself and the targeted tests pass on it."""
    root = _copy(tmp_path)
    out = _run_targeted(root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    probe = subprocess.run([sys.executable, "-c", "import engine; print(engine.__file__)"], cwd=root, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])},
                           capture_output=True, check=True)
    assert probe.stdout.strip() == str(root / "engine" / "__init__.py")


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_fails_a_targeted_test(tmp_path, bug):
    file, pattern, replacement, what = BUGS[bug]
    root = _copy(tmp_path)
    source = (root / file).read_text()
    planted, count = re.subn(pattern, replacement, source)
    if count != 1:
        pytest.fail(f"{bug}: the pattern {pattern!r} matches {count} times in {file}, not once; rewrite it for "
                    f"the current code so that it plants: {what}")
    (root / file).write_text(planted)
    out = _run_targeted(root)
    assert out.returncode == 1, f"{bug} ({what}) survived the targeted tests:\n{out.stdout[-3000:]}{out.stderr[-2000:]}"
    assert "failed" in out.stdout.splitlines()[-1], out.stdout[-2000:]
