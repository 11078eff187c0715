#!/usr/bin/env bash
# The CUDA tests (tests/test_cuda.py) on a real NVIDIA GPU, for the stratified sampling of the demand
# shock (issue 19, part 1): installs the project with its test and cuda extras, runs the real-GPU tests
# and the PTX compile check first, then the rest of the file (the simulator comparisons and the engine
# on the simulator) in the time left, and prints a pass/fail summary. About 8 minutes at most.
#
# Usage, from anywhere, on a fresh GPU machine with Python >= 3.11 and network access to PyPI (without it,
# e.g. on the lent H200 image, the install falls back to what is there: phase 1 needs NumPy, Numba,
# numba-cuda with NVVM and pytest; phase 2 the engine's dependencies too, Polars and pydantic among them):
#
#     bash bench/gpu_check_sampling.sh [OUT_DIR]        # OUT_DIR default: $OUT, else $TMPDIR/gpu_check_sampling
#
# Environment: PYTHON (default python3), VENV (default $TMPDIR/gpu_check_sampling_venv, created with the
# system's site packages so that a preinstalled NumPy / Numba / numba-cuda serve where PyPI cannot be
# reached), LIMIT_S (default 470: the whole script's budget in seconds), SKIP_INSTALL=1 (use what is
# installed), WHEELS (a folder of wheels to install with --no-index --no-deps after that, e.g. pytest and
# its dependencies, Polars and pydantic carried to an offline machine). Writes to OUT_DIR: pip.log, one
# JUnit XML and one log per phase, summary.txt, summary.json.
# Exit status: 0 when no test of the dynamic kernels failed in phase 1 (reference failures aside), 1 when
# one did or phase 1 did not finish, 2 when no GPU (or no pytest / numba-cuda) can be used.
#
# Expected until kernels/reference is brought to the new sampling: the tests of the brute-force static
# kernels fail (test_gpu_cell_sums_*, and test_every_cuda_kernel_compiles_for_a_hopper_gpu, which
# compiles them too: its output lists each kernel, FAILED or compiled); the summary marks them
# "reference". The dynamic kernels' tests (test_gpu_dynamic_*) must pass.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT_DIR=${1:-${OUT:-${TMPDIR:-/tmp}/gpu_check_sampling}}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
LIMIT_S=${LIMIT_S:-470}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-${TMPDIR:-/tmp}/gpu_check_sampling_venv}
export PYTHONUNBUFFERED=1
unset NUMBA_ENABLE_CUDASIM  # the real GPU (the simulator tests set it in their own subprocesses)

left() { echo $((LIMIT_S - SECONDS)); }

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not found"

echo "== install (.[test,cuda]) into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV" || { echo "cannot create a virtual environment"; exit 2; }
fi
PY="$VENV/bin/python"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    # the cuda extra pins cuda-bindings < 13 (13 breaks numba-cuda 0.30 with the CUDA 12 libraries)
    pip=("$PY" -m pip install --disable-pip-version-check --retries 1 --timeout 20 -q)
    if timeout 200 "${pip[@]}" -e ".[test,cuda]" > "$OUT_DIR/pip.log" 2>&1; then
        echo "installed in ${SECONDS}s"
    else
        # the test extra pulls the report, dask and peers extras; what test_cuda.py needs is less
        echo "pip install of .[test,cuda] failed or timed out after ${SECONDS}s; trying .[cuda] with pytest and scipy:"
        tail -n 3 "$OUT_DIR/pip.log"
        if timeout 120 "${pip[@]}" -e ".[cuda]" "pytest>=8" "pytest-xdist>=3.5" "scipy>=1.11" >> "$OUT_DIR/pip.log" 2>&1
        then
            echo "installed in ${SECONDS}s"
        else
            echo "that failed too (offline?) after ${SECONDS}s; going on with what is installed:"
            tail -n 3 "$OUT_DIR/pip.log"
        fi
    fi
fi
if [ -n "${WHEELS:-}" ]; then  # carried wheels for an offline machine (bench/README.md, "GPU")
    echo "installing the wheels of $WHEELS"
    "$PY" -m pip install --disable-pip-version-check -q --no-index --no-deps "$WHEELS"/*.whl \
        >> "$OUT_DIR/pip.log" 2>&1 || tail -n 3 "$OUT_DIR/pip.log"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the working tree, installed or not
"$PY" - <<'EOF'
import importlib.metadata as m
for name in ("numpy", "numba", "numba-cuda", "cuda-bindings", "nvidia-cuda-nvcc-cu12", "pytest", "polars", "pydantic"):
    try:
        print(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name} MISSING")
EOF
if ! "$PY" -c "import pytest, numba_cuda" 2>/dev/null; then
    echo "pytest or numba-cuda cannot be imported: no test can run"; exit 2
fi
"$PY" -c "
from engine.devices import cuda_status
usable, reason = cuda_status()
print('cuda_status:', usable, reason)
raise SystemExit(0 if usable and reason != 'CUDA simulator' else 2)" || { echo "no usable GPU"; exit 2; }

run_phase() {  # name, seconds, pytest -k expression, more pytest options
    local name=$1 seconds=$2 select=$3 more=${4:-}
    if [ "$seconds" -lt 30 ]; then
        echo "== $name: not run (${seconds}s left)"; return
    fi
    echo "== $name (at most ${seconds}s): -k '$select'"
    # addopts emptied: one process (no xdist), no benchmark options (no benchmark in this file)
    timeout --signal=INT --kill-after=20 "$seconds" "$PY" -m pytest -p no:cacheprovider -o addopts="" -q -rfEs \
        $more --junitxml="$OUT_DIR/$name.xml" -k "$select" tests/test_cuda.py > "$OUT_DIR/$name.log" 2>&1
    echo "exit $? after ${SECONDS}s; last lines:"
    tail -n 25 "$OUT_DIR/$name.log"
}

# phase 1: the tests that need the GPU (real kernels against the CPU ones) and the PTX compile of every kernel;
# they use no fixture of tests/conftest.py, whose imports need Polars (absent from the lent H200 image)
run_phase real_gpu $(( $(left) - 10 > 300 ? 300 : $(left) - 10 )) "real_gpu or hopper_gpu" --noconftest
# phase 2: the rest of the file (simulator comparisons in a subprocess, the engine on the simulator, device table)
run_phase rest $(( $(left) - 10 )) "not (real_gpu or hopper_gpu)"

echo "== summary"
"$PY" - "$OUT_DIR" <<'EOF'
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
# tests that concern the brute-force static kernels (kernels/reference), being moved to the new sampling elsewhere
REFERENCE = ("test_cuda_cell_sums", "test_gpu_cell_sums", "test_cuda_float32", "test_batch_on_cpu",
             "test_scalar_float32")
#: the dynamic kernels of the PTX check (tests/cuda_ptx_worker.py prints one line per kernel)
DYNAMIC = ("_baseline_costs_kernel", "_dynamic_sums_kernel", "_pair_scores_kernel", "_z_advance_kernel",
           "_initial_state_kernel", "_period_aggregates_kernel", "_period_commit_kernel")
rows, totals, phase1_failed = [], {}, False
for phase in ("real_gpu", "rest"):
    path = out / f"{phase}.xml"
    if not path.exists():
        rows.append((phase, "-", "NOT RUN (or killed before its report)", ""))
        phase1_failed |= phase == "real_gpu"
        continue
    for case in ET.parse(path).getroot().iter("testcase"):
        status, message, text = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                status = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
                text = (node.get("message") or "") + "\n" + (node.text or "")
                message = next((line.strip() for line in text.splitlines() if line.strip()), "")[:150]
                break
        name = case.get("name")
        kind = "reference" if status in ("FAILED", "ERROR") and name.startswith(REFERENCE) else ""
        if "hopper_gpu" in name and status == "FAILED":
            # the PTX check compiles the reference kernels too: it fails for the dynamic ones only if one of them did
            found = {k: next((line.strip() for line in text.replace("\\n", "\n").splitlines() if k + " " in line), "")
                     for k in DYNAMIC}
            bad = [k for k, line in found.items() if not line or "FAILED" in line or "calls 0" not in line]
            kind = "" if bad else "reference"
            message = f"dynamic kernels not compiled or with calls: {bad}" if bad else "dynamic kernels: PTX, calls 0"
        rows.append((phase, name, status, (kind + ": " if kind else "") + message))
        totals[status] = totals.get(status, 0) + 1
        phase1_failed |= phase == "real_gpu" and status in ("FAILED", "ERROR") and not kind
lines = [f"{phase:9} {status:8} {name}  {note}".rstrip() for phase, name, status, note in rows]
lines.append("totals: " + ", ".join(f"{count} {status}" for status, count in sorted(totals.items())))
lines.append("dynamic kernels on the GPU: " + ("FAILED" if phase1_failed else "passed (or skipped)"))
print("\n".join(lines))
(out / "summary.txt").write_text("\n".join(lines) + "\n")
(out / "summary.json").write_text(json.dumps({"rows": rows, "totals": totals,
                                              "dynamic_failed": phase1_failed}, indent=1))
sys.exit(1 if phase1_failed else 0)
EOF
status=$?
echo "total ${SECONDS}s"
exit $status
