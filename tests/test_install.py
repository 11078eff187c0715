"""A non-editable install (a real wheel) finds the embedded data and runs ``engine simulate``
from a folder far from the source checkout."""

import json
import os
import site
import subprocess
import sys
import venv

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_install_runs_simulate_from_anywhere(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # dependencies come from the test environment (no download); the package itself is a real,
    # non-editable install of this checkout
    target_site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(target_site, "test-deps.pth"), "w") as handle:
        handle.write("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(REPO)],
                   check=True, capture_output=True)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    out = workdir / "run"
    result = subprocess.run([env_dir / "bin" / "engine", "simulate", "--draws", "1", "--firms", "300",
                             "--out", str(out)], cwd=workdir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "JPN -> USA" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # the data came from inside the installed package, not from the checkout
    assert "_data" in manifest["calibration"]["source"]
    assert str(REPO) not in manifest["calibration"]["source"]
    assert sys.prefix not in manifest["calibration"]["source"]
    # engine calibrate finds the world tables inside the wheel, and its default equals the shipped one
    result = subprocess.run([env_dir / "bin" / "engine", "calibrate", "--out", "cal", "-q"], cwd=workdir,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (workdir / "cal" / "flows.csv").read_bytes() == (REPO / "data" / "default" / "flows.csv").read_bytes()
