"""Open an existing run folder for reading (reports, exports, summaries), with one clear error when
the folder is not a complete run."""

import json
from pathlib import Path

from engine.errors import InputError
from engine.runs.result import SimulationResult


def open_run(path):
    """The ``SimulationResult`` of a finished run folder.

    Parameters
    ----------
    path : str or Path
        A folder written by ``engine simulate`` (``--out``).

    Returns
    -------
    engine.runs.result.SimulationResult

    Raises
    ------
    InputError
        The folder does not exist, has no ``manifest.json`` (a run that did not finish, or not a
        run folder), the manifest is unreadable or not ``complete``, or it lacks the flows table.
    """
    folder = Path(path)
    if not folder.exists():
        raise InputError(folder, "no such run folder; give the folder that engine simulate --out wrote")
    if not folder.is_dir():
        raise InputError(folder, "is a file; give the run folder that engine simulate --out wrote")
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise InputError(folder, "not a finished run folder: it has no manifest.json (written last by "
                                 "engine simulate, so a run that failed or is still going has none)")
    try:
        record = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(manifest, f"cannot be read as JSON ({exc})") from None
    if not isinstance(record, dict) or not ({"kind", "engine_version"} & set(record)):
        raise InputError(manifest, "was not written by engine simulate (it has neither 'kind' nor "
                                   "'engine_version'), so this is not an engine run folder")
    if record.get("status") != "complete":
        status = record.get("status")
        raise InputError(manifest, f"run status is {status!r}; only a 'complete' run can be read", "status")
    for key in ("scenarios", "calibration", "draws"):
        if key not in record:
            raise InputError(manifest, "missing; this manifest was not written by engine simulate", key)
    if not any((folder / "flows").glob("scenario=*/*.parquet")):
        raise InputError(folder / "flows", "no Parquet files; the run folder is incomplete")
    return SimulationResult(folder)
