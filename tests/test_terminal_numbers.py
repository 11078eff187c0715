"""The numbers a person reads after ``engine simulate A B`` (the per-scenario summary table, the
regions lines, the branch shares and the multi-scenario comparison) are the numbers in the Parquet
tables: the printed text is parsed back into numbers and each is compared, to half a unit of its
last printed digit, with the same statistic computed here by DuckDB straight from the run's
Parquet files (means over draws, linear 5 % and 95 % quantiles, per-draw differences).
"""

import re

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from engine.cli.main import main

DRAWS, FIRMS, SEED = 4, 300, 41
SCENARIOS = ("us_japan_2025", "liberation_day_2025")
NUMBER = r"[+-]?[\d,]*\.?\d+"
ROW = re.compile(rf"^(\w+)\s+({NUMBER})\s+({NUMBER})\s+\[({NUMBER})-({NUMBER})\]\s+({NUMBER})%\s+({NUMBER})% "
                 rf"\[({NUMBER}) to ({NUMBER})\]\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})%\s+({NUMBER})$")
REGION = re.compile(rf"^(\w+)\s+({NUMBER})% \[({NUMBER}) to ({NUMBER})\]\s+({NUMBER})% \[({NUMBER}) to ({NUMBER})\]"
                    rf"\s+({NUMBER}) \[({NUMBER})-({NUMBER})\]$")
REGION_PE = re.compile(rf"^(\w+)\s+({NUMBER})% \[({NUMBER}) to ({NUMBER})\]\s+({NUMBER}) \[({NUMBER})-({NUMBER})\]$")
BRANCH = re.compile(r"^  branch (\S+): (.*) of (\d+) draws$")
UNREACHED = re.compile(r"^  branch (\S+): reached by none of the (\d+) draws$")
COMPARISON = re.compile(rf"^  (\w+): ({NUMBER}) \[({NUMBER}) to ({NUMBER})\]$")
PRECISION = re.compile(r"^Precision: in (\d{4}-\d{2}), (\d+) cells?'s? policy effects? ha(?:s|ve) a firm-sampling "
                       r"error above ([\d.]+) pp .*?: (.*?)(?:; and (\d+) more)?\. --firms ([\d,]+) would bring")
NAMED = re.compile(rf"(\w+) -> (\w+) (\w+) ({NUMBER}) pp \(about ({NUMBER}) firms for ([\d.]+) pp\)")


def number(text):
    return float(text.replace(",", ""))


def decimals(text):
    return len(text.split(".")[1]) if "." in text else 0


def assert_printed(text, value, what):
    """``text`` is ``value`` rounded to the digits shown."""
    tolerance = 0.5 * 10.0 ** -decimals(text) + 1e-9 * max(1.0, abs(value))
    assert abs(number(text) - value) <= tolerance, f"{what}: printed {text}, tables say {value!r}"


def _run(tmp_path_factory, *options):
    out = tmp_path_factory.mktemp("terminal") / "run"
    result = CliRunner().invoke(main, ["simulate", *options, "--draws", str(DRAWS), "--firms", str(FIRMS),
                                       "--seed", str(SEED), "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    db = duckdb.connect()
    for table in ("flows", "regions", "draws"):
        db.execute(f"create view {table} as select * from read_parquet('{out}/{table}/*/*.parquet', "
                   "hive_partitioning = true, union_by_name = true)")
    return result.stdout, db


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The shipped scenarios in pe_moving (a partial equilibrium: its region lines claim no welfare)."""
    return _run(tmp_path_factory, *SCENARIOS, "--closure", "pe_moving")


@pytest.fixture(scope="module")
def run_ge(tmp_path_factory):
    """The default run's closure, ge, on the default scenario (its own dynamic firm model)."""
    return _run(tmp_path_factory, SCENARIOS[0])


def blocks(stdout):
    """{scenario: its lines} and the comparison lines."""
    found, current = {}, None
    comparison = []
    for line in stdout.splitlines():
        if line.startswith("Scenario "):
            current = line.split()[1].rstrip(":")
            found[current] = []
        elif " exports in the last period against " in line:
            current = None
            comparison.append(line)
        elif line.startswith("Done in"):
            current = None
        elif current:
            found[current].append(line)
        elif comparison and line.startswith("  "):
            comparison.append(line)
    return found, comparison


def expected_rows(db, scenario):
    """Per sector and ``total``: the summary's statistics from the flows table (JPN -> USA)."""
    query = f"""
        with pair as (select * from flows where scenario = '{scenario}' and origin = 'JPN' and destination = 'USA'),
        last as (select max(period) as p from pair),
        ends as (
            select draw, period, sector, exports, exporters, tariff, tariff_revenue, exports_no_policy from pair
            where period = 0 or period = (select p from last)
            union all
            select draw, period, 'total', sum(exports), sum(exporters), sum(tariff * exports) / sum(exports),
                   sum(tariff_revenue), sum(exports_no_policy)
            from pair where period = 0 or period = (select p from last) group by draw, period),
        joined as (
            select a.sector, a.exports, a.exporters, a.tariff, a.tariff_revenue, b.exports as base,
                   b.exporters as exporters_base, (a.exports / a.exports_no_policy - 1) * 100 as effect
            from ends a join ends b on a.draw = b.draw and a.sector = b.sector
            where a.period = (select p from last) and b.period = 0)
        select sector, avg(base) / 1e3, avg(exports) / 1e3, quantile_cont(exports, 0.05) / 1e3,
               quantile_cont(exports, 0.95) / 1e3, (avg(exports) / avg(base) - 1) * 100, avg(effect),
               quantile_cont(effect, 0.05), quantile_cont(effect, 0.95), avg(exporters_base),
               avg(exporters), avg(tariff) * 100, avg(tariff_revenue) / 1e3
        from joined group by sector"""
    return {row[0]: row[1:] for row in db.execute(query).fetchall()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_summary_table_numbers_are_the_flows_tables(run, scenario):
    stdout, db = run
    lines = blocks(stdout)[0][scenario]
    assert lines[0] == f"{DRAWS} draws x {FIRMS:,} simulated firms per origin-sector, seed {SEED}, PE_MOVING closure"
    rows = {m.group(1): m.groups()[1:] for m in map(ROW.match, lines) if m}
    expected = expected_rows(db, scenario)
    assert set(rows) == set(expected) and len(rows) == 9, sorted(rows)
    names = ("exports base", "exports last", "5 %", "95 %", "change %", "effect %", "effect 5 %", "effect 95 %",
             "exporters base", "exporters last", "tariff %", "revenue")
    for sector, printed in rows.items():
        for text, value, name in zip(printed, expected[sector], names):
            assert_printed(text, value, f"{scenario} {sector} {name}")
    # the table is not all zeros: the tariffs cut exports
    assert number(rows["total"][4]) < -10 and number(rows["total"][5]) < -10


#: The region lines' statistics, in printed order: mean, 5 % and 95 % across draws of each column.
REGION_COLUMNS = {"real income": "real_income_effect_pct",
                  "price index": "(price_index / price_index_no_policy - 1) * 100",
                  "tariff revenue": "tariff_revenue / 1e3"}


def assert_region_lines(lines, db, scenario, pattern, columns):
    printed = {m.group(1): m.groups()[1:] for m in map(pattern.match, lines) if m}
    assert set(printed) == {"USA", "JPN"}
    stats = ", ".join(f"avg({c}), quantile_cont({c}, 0.05), quantile_cont({c}, 0.95)"
                      for c in (REGION_COLUMNS[name] for name in columns))
    for region, texts in printed.items():
        values = db.execute(f"""
            select {stats} from regions where scenario = '{scenario}' and region = '{region}'
              and period = (select max(period) from regions where scenario = '{scenario}')""").fetchone()
        for j, (text, value) in enumerate(zip(texts, values)):
            assert_printed(text, value, f"{scenario} {region} column {j}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pe_region_lines_are_the_regions_table_and_claim_no_welfare(run, scenario):
    """pe measures no income: its region lines are the price index and tariff revenue only."""
    stdout, db = run
    lines = blocks(stdout)[0][scenario]
    assert not any("real income effect" in line or "EV, $bn" in line for line in lines)
    assert any(line.startswith("  welfare: not measured in pe") for line in lines)
    assert not any(line.startswith("  exchange rates:") for line in lines)  # they move prices here
    assert_region_lines(lines, db, scenario, REGION_PE, ("price index", "tariff revenue"))


def test_ge_region_lines_are_the_regions_table(run_ge):
    stdout, db = run_ge
    lines = blocks(stdout)[0][SCENARIOS[0]]
    assert_region_lines(lines, db, SCENARIOS[0], REGION, ("real income", "price index", "tariff revenue"))
    # the scenario's yen process moves nothing in ge, and the summary says so (in pe_moving it does not)
    assert any(line.startswith("  exchange rates: the scenario's [[fx]] and [[fx_process]] move nothing in ge")
               for line in lines)


def test_branch_shares_are_the_draws_table(run):
    stdout, db = run
    lines = blocks(stdout)[0]["us_japan_2025"]
    columns = [c for c in db.sql("select * from draws limit 0").columns if c.startswith("branch.")]
    printed = [m.group(1) for m in map(re.compile(r"^  branch (\S+): ").match, lines) if m]
    assert sorted(printed) == sorted(c.removeprefix("branch.") for c in columns) and len(printed) == 2

    def count(column):
        return dict(db.execute(f'select "{column}", count(*) from draws where scenario = \'us_japan_2025\' '
                               f'and "{column}" is not null group by 1').fetchall())

    for match in filter(None, map(UNREACHED.match, lines)):
        assert count(f"branch.{match.group(1)}") == {} and int(match.group(2)) == DRAWS
    shares = [m for m in map(BRANCH.match, lines) if m and not UNREACHED.match(m.group(0))]
    assert shares, lines
    for match in shares:
        column = f"branch.{match.group(1)}"
        counts = count(column)
        assert int(match.group(3)) == sum(counts.values())
        for part in match.group(2).split(", "):
            option, percent = part.rsplit(" ", 1)
            assert_printed(percent.rstrip("%"), 100 * counts[option] / sum(counts.values()), column)


def test_comparison_is_the_per_draw_difference_of_the_flows(run):
    """``B: mean [5% to 95%]`` of the per-draw difference, last period, JPN -> USA total exports."""
    stdout, db = run
    lines = blocks(stdout)[1]
    assert lines and lines[0].startswith(f"JPN -> USA exports in the last period against {SCENARIOS[0]}"), lines
    printed = {m.group(1): m.groups()[1:] for m in map(COMPARISON.match, lines[1:]) if m}
    assert set(printed) == {SCENARIOS[1]}
    values = db.execute(f"""
        with totals as (
            select scenario, draw, sum(exports) / 1e3 as x from flows
            where origin = 'JPN' and destination = 'USA'
              and period = (select max(period) from flows f where f.scenario = flows.scenario)
            group by scenario, draw),
        diff as (select b.x - a.x as d from totals a join totals b on a.draw = b.draw
                 where a.scenario = '{SCENARIOS[0]}' and b.scenario = '{SCENARIOS[1]}')
        select avg(d), quantile_cont(d, 0.05), quantile_cont(d, 0.95), count(*) from diff""").fetchone()
    assert values[3] == DRAWS
    for text, value, name in zip(printed[SCENARIOS[1]], values, ("mean", "5 %", "95 %")):
        assert_printed(text, value, f"comparison {name}")
    assert abs(values[0]) > 0.1  # the scenarios differ (USD bn)


def test_precision_warning_is_the_flows_tables(run):
    """The warning's count, cells, errors and firms (docs/model.md section 8.2) from the flows:
    per cell of the main scenario's last period ``se = sqrt(mean(halves^2)) / 2`` over the draws,
    the cells above 1 pp, the worst three in order, and ``ceil(firms se^2)`` rounded up to two digits."""
    stdout, db = run
    lines = [line for line in stdout.splitlines() if line.startswith("Precision:")]
    assert len(lines) == 1, stdout[-3000:]
    match = PRECISION.match(lines[0])
    assert match, lines[0]
    rows = db.execute(f"""
        select origin, destination, sector, sqrt(avg(exports_effect_halves_pp ^ 2)) / 2 as se from flows
        where scenario = '{SCENARIOS[0]}' and not isnan(exports_effect_halves_pp)
          and period = (select max(period) from flows where scenario = '{SCENARIOS[0]}')
        group by 1, 2, 3 having se > 1 order by se desc""").fetchall()
    assert int(match.group(2)) == len(rows) > 3 and float(match.group(3)) == 1.0
    last = db.execute(f"select strftime(max(date), '%Y-%m') from flows where scenario = '{SCENARIOS[0]}'").fetchone()
    assert match.group(1) == last[0]
    assert int(match.group(5) or 0) == len(rows) - 3
    named = NAMED.findall(match.group(4))
    assert len(named) == 3
    for (origin, destination, sector, se_text, firms_text, precision), row in zip(named, rows):
        assert (origin, destination, sector) == row[:3] and precision == "1"
        assert abs(number(se_text) - row[3]) <= 0.5 * 10 ** (np.floor(np.log10(row[3])) - 1) + 1e-9, (se_text, row)
        needed = np.ceil(FIRMS * row[3] ** 2)
        assert needed <= number(firms_text) < needed * 1.1 + 1, (firms_text, row)
    assert number(match.group(6)) >= np.ceil(FIRMS * rows[0][3] ** 2)