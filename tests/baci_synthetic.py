"""A synthetic year in the public BACI CSV format (``t,i,j,k,v,q`` and its country code file), for the
tests of ``engine calibrate --baci`` and for its benchmark.

Countries are the world table's 194 plus ``S19`` ("Other Asia, nes", BACI's code for Taiwan, which
has no GDP in the world table). Country codes are made up (``10 * position + 4``); products are HS6
codes of real chapters (01-97 except 77), written with the leading zero as BACI does.
"""

import numpy as np
import polars as pl

from engine.calibration.builder.world import load_world

CHAPTERS = np.array([c for c in range(1, 98) if c != 77])


def baci_countries():
    """(code, ISO3, name) of the synthetic country file."""
    world = load_world()
    rows = [(10 * j + 4, iso, name) for j, (iso, name) in enumerate(world.countries.items())]
    return rows + [(10 * len(rows) + 4, "S19", "Other Asia, nes")]


def write_baci(folder, n_rows, seed, year=2023, batch=1_000_000):
    """Write ``baci.csv`` (n_rows rows) and ``country_codes.csv`` into ``folder``.

    Returns
    -------
    (Path, Path)
        The data file and the country code file.
    """
    countries = baci_countries()
    codes = np.array([c for c, _, _ in countries])
    pl.DataFrame({"country_code": codes, "country_name": [n for _, _, n in countries],
                  "country_iso2": ["XX"] * len(codes), "country_iso3": [i for _, i, _ in countries]}).write_csv(
        folder / "country_codes.csv")
    rng = np.random.default_rng(seed)
    path = folder / "baci.csv"
    with open(path, "wb") as f:
        for start in range(0, n_rows, batch):
            n = min(batch, n_rows - start)
            i = rng.integers(0, len(codes), n)
            j = (i + rng.integers(1, len(codes), n)) % len(codes)  # never i == j, as in BACI
            k = rng.choice(CHAPTERS, n) * 10_000 + rng.integers(100, 9_999, n)
            frame = pl.DataFrame({"t": np.full(n, year), "i": codes[i], "j": codes[j], "k": k,
                                  "v": np.round(rng.lognormal(2.0, 2.0, n), 3),
                                  "q": np.round(rng.lognormal(1.0, 2.0, n), 3)})
            frame = frame.with_columns(pl.col("k").cast(pl.String).str.zfill(6))
            frame.write_csv(f, include_header=start == 0)
    return path, folder / "country_codes.csv"
