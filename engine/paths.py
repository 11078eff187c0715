"""Where the embedded default data lives: inside the wheel, or in the source checkout."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_root():
    """Folder holding ``default/`` (calibration) and ``scenarios/``.

    A wheel carries them as ``engine/_data``; a source checkout (editable install, tests) has them
    in the repository's top-level ``data/``.
    """
    for candidate in (_PACKAGE / "_data", _PACKAGE.parent / "data"):
        if (candidate / "default").is_dir():
            return candidate
    raise FileNotFoundError(f"embedded data not found under {_PACKAGE / '_data'} or {_PACKAGE.parent / 'data'}")


def default_calibration_dir():
    """The embedded default calibration (built by ``data/build_default.py``)."""
    return data_root() / "default"


def scenarios_dir():
    """The shipped scenario files."""
    return data_root() / "scenarios"


def world_dir():
    """The shipped world tables that ``engine calibrate`` builds calibrations from."""
    return data_root() / "world"
