"""``engine calibrate`` on a raw BACI-format year: time and peak memory of a fresh process.

With ``--benchmark-enable`` the synthetic file has 5 x 10^6 rows (about 180 MB; a full BACI year is
about 10^7); with the default ``--benchmark-disable`` it has 20,000 rows, so the test command stays
fast. Either way the run must stay under 1 GB of peak resident memory (the file is streamed in
batches) and read every row.
"""

import json
import subprocess
import sys

from bench.conftest import benchmarks_disabled
from tests.baci_synthetic import write_baci

FULL_ROWS = 5_000_000
TINY_ROWS = 20_000
SEED = 20250402
PEAK_LIMIT_MB = 1024

# Peak memory is the process's own high-water mark (VmHWM, reset by exec), not ru_maxrss: Linux
# carries ru_maxrss over from the forking parent, so a child of a 1 GB pytest process reported 1 GB.
_CODE = """
import json, sys, time
from engine.calibration.builder.build import calibrate
start = time.perf_counter()
built = calibrate(sys.argv[3], regions="USA,JPN,CHN,EU=EU27,VNM,ROW", baci=sys.argv[1], baci_countries=sys.argv[2])
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - start, "rows": built.baci_rows, "peak_rss_mb": peak_kb / 1024}))
"""


def test_calibrate_raw_baci_time_and_peak_memory(request, tmp_path, benchmark):
    rows = TINY_ROWS if benchmarks_disabled(request.config) else FULL_ROWS
    data, codes = write_baci(tmp_path, rows, SEED)

    def run():
        out = subprocess.run([sys.executable, "-c", _CODE, str(data), str(codes), str(tmp_path / "cal")],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result | {"file_mb": data.stat().st_size / 2**20})
    print(f"\ncalibrate {rows:,} BACI rows ({data.stat().st_size / 2**20:.0f} MB): {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")
    assert result["rows"] == rows
    assert result["peak_rss_mb"] < PEAK_LIMIT_MB
