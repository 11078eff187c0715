"""Monte Carlo (docs/model.md section 8): branch frequencies, per-draw reproducibility, common random
numbers across scenarios, sampled-parameter errors, and the ``draws`` and ``summary`` tables.
"""

import numpy as np
import polars as pl
import pytest

import engine
from engine.errors import InputError
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from engine.scenario.uncertainty import draw_policy, generator, sample_parameters
from tests.conftest import make_calibration, write_scenario

SEED = 20250709
N_FREQUENCY_DRAWS = 4000
NOVEMBER = "july_decision/extension/november_decision"


pytestmark = pytest.mark.usefixtures("one_numba_thread")

BRANCHY = """
name = "branchy"
start = "2025-01"
periods = 6
focus = { exporter = "JPN", importer = "USA" }

[[tariff]]
date = "2025-02-01"
importer = "USA"
exporter = "JPN"
rate = "10%"
measure = "recip"

[[fx_process]]
currency = "JPN"
mean_reversion = 0.05
volatility = 0.03

[[parameter]]
name = "theta"
dist = "truncnormal"
mean = 4.0
sd = 0.5
low = 3.0
high = 5.0

[[parameter]]
name = "pass_through"
origins = ["JPN"]
sectors = ["motor_vehicles_parts"]
dist = "uniform"
low = 0.3
high = 0.8

[[parameter]]
name = "sigma"
sectors = ["machinery", "metals"]
shared = false
dist = "uniform"
low = 2.4
high = 2.8

[[parameter]]
name = "sunk_cost_ratio"
dist = "uniform"
low = 0.5
high = 0.9

[[branch]]
name = "decision"
date = "2025-03-01"

  [[branch.option]]
  name = "deal"
  probability = 0.35

    [[branch.option.tariff]]
    date = "2025-04-01"
    importer = "USA"
    exporter = "JPN"
    rate = "15%"
    mode = "all_in"

  [[branch.option]]
  name = "escalate"
  probability = 0.25

    [[branch.option.tariff]]
    date = "2025-04-01"
    importer = "USA"
    exporter = "JPN"
    rate = "25%"
    measure = "recip"

  [[branch.option]]
  name = "wait"
  probability = 0.4

    [[branch.option.branch]]
    name = "later"
    date = "2025-05-01"

      [[branch.option.branch.option]]
      name = "deal"
      probability = 0.5

        [[branch.option.branch.option.tariff]]
        date = "2025-05-01"
        importer = "USA"
        exporter = "JPN"
        rate = "15%"
        mode = "all_in"

      [[branch.option.branch.option]]
      name = "escalate"
      probability = 0.5

        [[branch.option.branch.option.tariff]]
        date = "2025-05-01"
        importer = "USA"
        exporter = "JPN"
        rate = "25%"
        measure = "recip"
"""

# another scenario in the same run: a branch point with the same name and probabilities, other
# parameters, no exchange-rate process
OTHER = """
name = "other"
start = "2025-01"
periods = 4

[[parameter]]
name = "theta"
dist = "uniform"
low = 3.5
high = 4.5

[[branch]]
name = "decision"
date = "2025-03-01"

  [[branch.option]]
  name = "deal"
  probability = 0.35

  [[branch.option]]
  name = "escalate"
  probability = 0.25

  [[branch.option]]
  name = "wait"
  probability = 0.4
"""


# --------------------------------------------------------------------------- branch frequencies

def test_sample_path_cuts_the_unit_interval_at_cumulative_probabilities(default_calibration):
    model = ScenarioModel(load_scenario("us_japan_2025"), default_calibration)
    assert model.branch_labels == ["july_decision", NOVEMBER]
    assert sum(p for _, p, _ in model.paths) == pytest.approx(1.0, abs=1e-15)
    assert sorted(round(p, 12) for _, p, _ in model.paths) == [0.06, 0.09, 0.25, 0.6]
    cases = [(0.0, "deal"), (0.5999, "deal"), (0.6, "reinstated"), (0.8499, "reinstated"), (0.85, "extension"),
             (0.999999, "extension")]
    for u, option in cases:
        path = model.sample_path(lambda label, u=u: u if label == "july_decision" else 0.7)
        assert path[0] == ("july_decision", option), (u, path)
        assert path[1:] == (((NOVEMBER, "reinstated"),) if option == "extension" else ())


def test_branch_frequencies_match_the_stated_probabilities(default_calibration):
    """4000 draws of the default scenario's policy path, each from its own stream: every option's
    frequency is within 4 binomial standard errors of its probability (conditional on reaching
    the branch point for the nested one). A false alarm has probability below 1e-4 per check."""
    model = ScenarioModel(load_scenario("us_japan_2025"), default_calibration)
    records = [draw_policy(model, SEED, draw)[1] for draw in range(N_FREQUENCY_DRAWS)]
    july = np.array([r["branch.july_decision"] for r in records])
    november = np.array([r.get(f"branch.{NOVEMBER}") for r in records])
    assert set(july) == {"deal", "reinstated", "extension"}
    # the nested branch point is reached exactly when July brought an extension
    np.testing.assert_array_equal(november != None, july == "extension")  # noqa: E711

    def check(values, option, probability):
        n = values.size
        frequency = np.mean(values == option)
        se = np.sqrt(probability * (1 - probability) / n)
        assert abs(frequency - probability) <= 4 * se, (option, frequency, probability, n)

    for option, probability in (("deal", 0.6), ("reinstated", 0.25), ("extension", 0.15)):
        check(july, option, probability)
    reached = november[july == "extension"]
    assert reached.size > 400
    for option, probability in (("deal", 0.6), ("reinstated", 0.4)):
        check(reached, option, probability)
    # whole paths: extension then deal (0.09) and extension then reinstated (0.06)
    check(np.where(july == "extension", november, july), "deal", 0.6 + 0.09)
    check(np.where(july == "extension", november, july), "reinstated", 0.25 + 0.06)


def test_branch_uniform_depends_only_on_seed_draw_and_label():
    a = generator(SEED, "policy", 5, "branch:july_decision").random()
    assert a == generator(SEED, "policy", 5, "branch:july_decision").random()
    assert a != generator(SEED, "policy", 6, "branch:july_decision").random()
    assert a != generator(SEED + 1, "policy", 5, "branch:july_decision").random()
    assert a != generator(SEED, "policy", 5, "branch:other").random()


# --------------------------------------------------------------------------- a run's draws and summary

@pytest.fixture(scope="module")
def branchy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("branchy")
    path = write_scenario(folder, BRANCHY, "branchy")
    run = engine.simulate(path, draws=8, firms=200, seed=SEED, out=folder / "run", draws_per_chunk=3)
    return path, run


@pytest.fixture(scope="module")
def mixed_run(branchy_run, tmp_path_factory):
    """Another scenario listed first, the branchy one second, 3 draws in chunks of 2."""
    folder = tmp_path_factory.mktemp("mixed")
    other = write_scenario(folder, OTHER, "other")
    return engine.simulate([other, branchy_run[0]], draws=3, firms=200, seed=SEED, out=folder / "run",
                           draws_per_chunk=2)


def scenario_draws(run, name):
    """One scenario's draws table, read from its own files."""
    return pl.read_parquet(run.path / "draws" / f"scenario={name}" / "*.parquet").sort("draw")


def test_a_draws_path_and_samples_do_not_depend_on_the_rest_of_the_run(branchy_run, mixed_run):
    _, eight = branchy_run
    alone = scenario_draws(eight, "branchy").filter(pl.col("draw") < 3)
    together = scenario_draws(mixed_run, "branchy")
    assert alone.columns == together.columns and "path" in alone.columns
    assert alone.equals(together)  # path, branch options and every sampled value, bit for bit
    keys = ["draw", "period", "origin", "destination", "sector"]
    flows_alone = eight.scan("flows").filter((pl.col("scenario") == "branchy") & (pl.col("draw") < 3)).collect()
    flows_together = mixed_run.scan("flows").filter(pl.col("scenario") == "branchy").collect()
    assert flows_alone.sort(keys).equals(flows_together.sort(keys))  # and so are its results
    # common random numbers: a branch point of the same name draws the same option in both scenarios
    theirs = scenario_draws(mixed_run, "other")
    assert theirs["branch.decision"].to_list() == together["branch.decision"].to_list()
    assert theirs["theta.machinery"].to_list() != together["theta.machinery"].to_list()


def test_draws_of_scenarios_with_different_columns_read_back_together(mixed_run):
    """``result.draws`` of a run whose scenarios sample different things (here: another branch
    point and other parameters) has every column, null where a scenario has none."""
    draws = mixed_run.draws
    assert draws.height == 6
    assert {"branch.decision", "branch.decision/wait/later", "fx.JPN.last", "sigma.machinery"} <= set(draws.columns)
    other = draws.filter(pl.col("scenario") == "other").sort("draw")
    assert other["fx.JPN.last"].null_count() == 3
    assert other.select("draw", "path", "branch.decision", "theta.machinery").equals(
        scenario_draws(mixed_run, "other").select("draw", "path", "branch.decision", "theta.machinery"))


def test_draws_table_has_one_row_per_draw_with_path_branches_and_samples(branchy_run, default_calibration):
    path, run = branchy_run
    draws = run.draws.sort("draw")
    assert draws["draw"].to_list() == list(range(8))
    sectors = default_calibration.sectors
    expected_columns = {"draw", "path", "failure", "scenario", "branch.decision", "branch.decision/wait/later",
                        "fx.JPN.last",
                        "pass_through.JPN.motor_vehicles_parts", "sigma.machinery", "sigma.metals",
                        "sunk_cost_ratio", *(f"theta.{k}" for k in sectors)}
    assert set(draws.columns) == expected_columns
    scenario = load_scenario(path)
    model = ScenarioModel(scenario, default_calibration)
    for row in draws.iter_rows(named=True):
        nested = row["branch.decision/wait/later"]
        assert (nested is None) == (row["branch.decision"] != "wait"), row
        labels = [f"decision={row['branch.decision']}"] + ([f"decision/wait/later={nested}"] if nested else [])
        assert row["path"] == ";".join(labels)
        # the values the run used are the ones the sampling functions give for that draw
        _, sampled = sample_parameters(scenario, default_calibration, SEED, row["draw"])
        policy, record = draw_policy(model, SEED, row["draw"])
        assert policy.label == row["path"]
        for name, value in {**sampled, **record}.items():
            assert row[name] == value, name
        assert len({row[f"theta.{k}"] for k in sectors}) == 1  # shared: one value for every sector
        assert 3.0 <= row["theta.agri_food"] <= 5.0 and 0.5 <= row["sunk_cost_ratio"] <= 0.9
        assert row["sigma.machinery"] != row["sigma.metals"]  # shared = false: one draw each
    assert draws["branch.decision/wait/later"].null_count() not in (0, 8)  # this seed reaches it and not
    assert draws["fx.JPN.last"].n_unique() == 8


def test_summary_has_quantiles_per_cell_and_sector_totals(branchy_run, default_calibration):
    _, run = branchy_run
    cal = default_calibration
    summary = run.summary
    flows = run.flows
    keys = ["period", "origin", "destination", "sector"]
    assert summary.height == 6 * cal.n_regions ** 2 * (cal.n_sectors + 1)
    assert summary.select(keys).n_unique() == summary.height
    assert set(summary["sector"].unique()) == {*cal.sectors, "ALL"}
    for variable in ("exports", "sales", "tariff_revenue", "exporters"):
        for stat in ("mean", "p5", "p50", "p95"):
            assert f"{variable}_{stat}" in summary.columns
        assert (summary[f"{variable}_p5"] <= summary[f"{variable}_p50"] + 1e-9).all()
        assert (summary[f"{variable}_p50"] <= summary[f"{variable}_p95"] + 1e-9).all()
    totals = flows.group_by("draw", "period", "origin", "destination").agg(pl.col("exports").sum()).with_columns(
        pl.lit("ALL").alias("sector"))
    both = pl.concat([flows.select("draw", *keys, "exports"), totals.select("draw", *keys, "exports")])
    expected = both.group_by(keys).agg(pl.col("exports").mean().alias("mean"),
                                       pl.col("exports").quantile(0.05, "linear").alias("p5"))
    joined = summary.join(expected, on=keys, how="inner")
    assert joined.height == summary.height
    np.testing.assert_allclose(joined["exports_mean"], joined["mean"], rtol=1e-9)
    np.testing.assert_allclose(joined["exports_p5"], joined["p5"], rtol=1e-9)
    # one cell by hand, with NumPy's linear quantiles
    cell = flows.filter((pl.col("period") == 5) & (pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
                        & (pl.col("sector") == "machinery"))["exports"].to_numpy()
    row = summary.filter((pl.col("period") == 5) & (pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
                         & (pl.col("sector") == "machinery"))
    assert cell.size == 8 and cell.std() > 0
    assert row["exports_mean"].item() == pytest.approx(cell.mean(), rel=1e-9)
    for stat, q in (("p5", 5), ("p50", 50), ("p95", 95)):
        assert row[f"exports_{stat}"].item() == pytest.approx(np.percentile(cell, q), rel=1e-9)


# --------------------------------------------------------------------------- common random numbers

def crn_scenario(name, rate):
    return f"""
name = "{name}"
start = "2025-01"
periods = 6

[[tariff]]
date = "2025-03-01"
importer = "USA"
exporter = "JPN"
rate = {rate}

[[fx_process]]
currency = "JPN"
mean_reversion = 0.05
volatility = 0.03

[[parameter]]
name = "theta"
dist = "truncnormal"
mean = 4.0
sd = 0.5
low = 3.0
high = 5.0
"""


def _last_jpn_usa(run, name):
    last = run.flows.filter((pl.col("scenario") == name) & (pl.col("origin") == "JPN")
                            & (pl.col("destination") == "USA") & (pl.col("period") == 5))
    return last.group_by("draw").agg(pl.col("exports").sum()).sort("draw")["exports"].to_numpy()


def test_common_random_numbers_make_scenario_differences_far_less_noisy(tmp_path):
    """A (10 %) and B (12 %) in one run share firms, exchange-rate paths and theta draw by draw;
    run with different seeds they do not. The spread across draws of A - B (JPN -> USA exports in
    the last period) is measured in both cases: with common random numbers it is 0.08 of the
    spread of independent runs here (seed 1; 0.05 to 0.11 with other seeds; 16 draws, 1000 firms:
    what is left is the spread of the tariff effect itself across theta and yen paths); we
    require below 0.2. About 2 s: three runs of 16 draws, the fewest that estimate both spreads
    well enough (with 300 firms the measured ratio rises to 0.09-0.14). In ``pe_moving``, where the
    yen's paths move exports (``ge`` solves exchange rates neutral, so independent runs differ less
    there and the ratio is 0.22)."""
    a = write_scenario(tmp_path, crn_scenario("crn_a", 0.10), "crn_a")
    b = write_scenario(tmp_path, crn_scenario("crn_b", 0.12), "crn_b")
    kwargs = dict(draws=16, firms=1000, closure="pe_moving")
    together = engine.simulate([a, b], seed=1, out=tmp_path / "ab", **kwargs)
    diff_crn = _last_jpn_usa(together, "crn_a") - _last_jpn_usa(together, "crn_b")
    alone_a = engine.simulate(a, seed=2, out=tmp_path / "a", **kwargs)
    alone_b = engine.simulate(b, seed=3, out=tmp_path / "b", **kwargs)
    diff_independent = _last_jpn_usa(alone_a, "crn_a") - _last_jpn_usa(alone_b, "crn_b")
    assert np.all(diff_crn > 0)  # with common random numbers the higher tariff always exports less
    ratio = diff_crn.std(ddof=1) / diff_independent.std(ddof=1)
    assert ratio < 0.2, f"sd(A - B) with CRN / independent = {ratio:.3f}"
    assert scenario_draws(together, "crn_a")["fx.JPN.last"].equals(scenario_draws(together, "crn_b")["fx.JPN.last"])


# --------------------------------------------------------------------------- sampled parameters

def test_sampled_theta_below_sigma_minus_one_is_an_input_error(tmp_path):
    text = BRANCHY.replace('mean = 4.0\nsd = 0.5\nlow = 3.0\nhigh = 5.0', 'mean = 1.3\nsd = 0.1\nlow = 1.0\nhigh = 1.5')
    path = write_scenario(tmp_path, text, "bad_theta")
    with pytest.raises(InputError) as info:
        engine.simulate(path, draws=2, firms=100, seed=SEED, out=tmp_path / "run")
    error = info.value
    assert error.source == str(path) and error.field == "parameter"
    assert "theta" in error.reason and "sigma - 1" in error.reason and "whatever the seed" in error.reason, str(error)
    assert list(tmp_path.iterdir()) == [path]  # no output folder, finished or partial


def test_theta_that_breaks_the_rule_only_in_a_later_draw_is_refused_before_the_run(tmp_path):
    """theta ~ normal(3.2, 0.8) with sigma = 3: about 7 % of draws have theta <= sigma - 1 = 2.
    Draw 0 is fine, so a check of draw 0 would pass; the support check refuses it whatever the seed."""
    flows = np.array([[[1000.0], [200.0]], [[150.0], [900.0]]])
    calibration = make_calibration(tmp_path / "cal", flows, sigma=3.0, theta=4.0)
    text = ('name = "later_bad"\nstart = "2025-01"\nperiods = 2\n'
            '[[parameter]]\nname = "theta"\ndist = "normal"\nmean = 3.2\nsd = 0.8\n')
    path = write_scenario(tmp_path, text, "later_bad")
    scenario = load_scenario(path)
    cal = engine.load_calibration(calibration)

    def breaks(draw):
        try:
            sample_parameters(scenario, cal, SEED, draw)
        except InputError:
            return True
        return False

    first_bad = next(d for d in range(1000) if breaks(d))
    assert first_bad >= 1, "choose another seed: draw 0 is caught before the run starts"
    with pytest.raises(InputError) as info:
        engine.simulate(path, draws=1, firms=50, seed=SEED, calibration=calibration, out=tmp_path / "run")
    assert info.value.source == str(path) and "whatever the seed" in str(info.value)
    assert "theta" in str(info.value) and "normal" in str(info.value)
    with pytest.raises(InputError, match=f"draw {first_bad} sampled theta"):  # the per-draw safety net
        sample_parameters(scenario, cal, SEED, first_bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "later_bad.toml"]
