"""Rebuild the embedded default calibration ``data/default/``: one call of ``engine calibrate``.

Usage::

    python data/build_default.py            # rewrite data/default
    python data/build_default.py --check    # rebuild into a temp folder; exit 1 if any file differs

The same as ``engine calibrate --out data/default --overwrite`` (default regions
USA,JPN,CHN,EU=EU27,CAN,MEX,KOR,GBR,IND,ROW and the 8 default sectors), from the world tables in
``data/world/``. The rules are in ``engine/calibration/builder/derive.py`` and ``data/README.md``.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from engine.calibration.builder.build import calibrate

DEFAULT = Path(__file__).resolve().parent / "default"


def differences(built, current):
    """Names of files that differ between two folders (missing on either side counts)."""
    names = {p.name for p in built.iterdir()} | {p.name for p in current.iterdir()}
    return sorted(n for n in names if not (built / n).is_file() or not (current / n).is_file()
                  or (built / n).read_bytes() != (current / n).read_bytes())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if data/default differs from a fresh build")
    args = ap.parse_args(argv)
    if not args.check:
        calibrate(DEFAULT, overwrite=True)
        print(f"wrote {DEFAULT}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        differ = differences(calibrate(Path(tmp) / "default").path, DEFAULT)
    print(f"{DEFAULT}: " + (f"DIFFERS from a fresh build: {', '.join(differ)}" if differ else "matches a fresh build"))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
