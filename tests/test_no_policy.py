"""Policy effects against each draw's own no-policy path (docs/model.md section 8.1).

The no-policy path is the scenario with its tariff, trade-cost and demand events removed, on the same
firms, productivity and exchange-rate paths and parameters. Here it is checked against a second
scenario of the same run written without those events: the same seed gives it the same firms and
draws (common random numbers), so its levels must equal the first scenario's ``*_no_policy`` columns.
In ``pe`` the dynamic model simulates only the cells a policy touches, so this also checks that the
others are the same in both paths.
"""

import numpy as np
import polars as pl
import pytest

import engine
from engine.calibration.data import load_calibration
from engine.paths import default_calibration_dir
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario, parse_scenario
from engine.scenario.uncertainty import draw_policy, no_policy_path

FLOW_KEYS = ["draw", "period", "origin", "destination", "sector"]


def without_events(scenario):
    """``scenario`` written with no tariff, trade-cost, demand or branch events (it has no FX events)."""
    return scenario.model_copy(update={"name": f"{scenario.name}_none", "tariff": (), "trade_cost": (),
                                       "demand": (), "branch": ()})


@pytest.mark.parametrize("mode, closure", [("forward", "pe"), ("static", "pe"), ("static", "ge"),
                                           ("forward", "ge")])
def test_no_policy_columns_are_the_run_without_the_policy(tmp_path, mode, closure):
    scenario = load_scenario("us_japan_2025")
    assert not scenario.fx, "the check needs a scenario whose no-policy path has no events at all"
    result = engine.simulate([scenario, without_events(scenario)], draws=2, firms=300, seed=11, closure=closure,
                             dynamics=mode, out=tmp_path / "run")
    flows = result.scan("flows").collect().sort(["scenario", *FLOW_KEYS])
    policy = flows.filter(pl.col("scenario") == scenario.name)
    none = flows.filter(pl.col("scenario") == f"{scenario.name}_none")
    for name in ("exports", "sales", "tariff_revenue", "exporters"):
        np.testing.assert_allclose(policy[f"{name}_no_policy"].to_numpy(), none[name].to_numpy(), rtol=1e-12,
                                   atol=1e-9, err_msg=name)
        if (mode, closure) == ("forward", "ge"):
            # the no-policy path is the policy run's reference state, whose sums run in the commit's order,
            # the run's in the solver's window (engine.closures.dynamic_ge.KnownReference): equal to rounding
            np.testing.assert_allclose(none[f"{name}_no_policy"].to_numpy(), none[name].to_numpy(), rtol=1e-13,
                                       atol=0.0, err_msg=name)
        else:
            np.testing.assert_array_equal(none[f"{name}_no_policy"].to_numpy(), none[name].to_numpy())
    if (mode, closure) == ("forward", "ge"):  # to rounding, as above
        assert none["exports_effect_pct"].abs().max() < 1e-10
    else:
        assert (none["exports_effect_pct"] == 0).all()
    raised = policy.filter(pl.col("tariff") > none["tariff"] + 0.05)  # where a tariff rose by 5 points or more
    assert raised.height > 0 and (raised["exports_effect_pct"] < 0).mean() > 0.9
    untouched = policy.filter(pl.col("tariff") == none["tariff"])["exports_effect_pct"]
    if closure == "pe":  # in pe a cell no policy touches has no effect; in ge every market moves
        assert (untouched == 0).mean() > 0.9
    else:
        assert (untouched != 0).mean() > 0.5
    regions = result.scan("regions").collect().sort(["scenario", "draw", "period", "region"])
    policy_r = regions.filter(pl.col("scenario") == scenario.name)
    none_r = regions.filter(pl.col("scenario") == f"{scenario.name}_none")
    for name in ("income", "tariff_revenue", "price_index"):
        np.testing.assert_allclose(policy_r[f"{name}_no_policy"].to_numpy(), none_r[name].to_numpy(), rtol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(none_r["real_income_effect_pct"].to_numpy(), 0.0, atol=1e-12)
    effect = (1 + policy_r["real_income_change_pct"] / 100) / (1 + none_r["real_income_change_pct"] / 100) - 1
    np.testing.assert_allclose(policy_r["real_income_effect_pct"].to_numpy(), 100 * effect.to_numpy(), rtol=1e-9,
                               atol=1e-12)
    summary = result.scan("summary").collect()
    row = summary.filter((pl.col("scenario") == scenario.name) & (pl.col("origin") == "JPN")
                         & (pl.col("destination") == "USA") & (pl.col("sector") == "ALL")
                         & (pl.col("period") == summary["period"].max())).row(0, named=True)
    last = policy.filter((pl.col("origin") == "JPN") & (pl.col("destination") == "USA")
                         & (pl.col("period") == policy["period"].max())).group_by("draw").agg(
        pl.col("exports").sum(), pl.col("exports_no_policy").sum())
    np.testing.assert_allclose(row["exports_effect_mean"], (last["exports"] - last["exports_no_policy"]).mean(),
                               rtol=1e-9)
    np.testing.assert_allclose(row["exports_effect_pct_mean"],
                               (100 * (last["exports"] / last["exports_no_policy"] - 1)).mean(), rtol=1e-9)


RICH = """
name = "{name}"
start = "2025-01"
periods = 10
[dynamics]
mode = "{mode}"
[[fx_process]]
currency = "JPN"
mean_reversion = 0.1
volatility = 0.03
[[fx]]
date = 2025-07-01
announced = 2025-02-01
currency = "JPN"
change = 0.15
[[branch]]
name = "talks"
date = 2025-05-01
announced = 2025-03-01
[[branch.option]]
name = "deal"
probability = 0.5
[[branch.option.fx]]
date = 2025-06-01
currency = "CAN"
change = 0.05
{option_policy}
[[branch.option]]
name = "none"
probability = 0.5
{policy}
"""
OPTION_POLICY = """[[branch.option.tariff]]
date = 2025-06-01
importer = "USA"
exporter = "CHN"
rate = 0.3
"""
POLICY = """[[tariff]]
date = 2025-06-01
announced = 2025-04-01
importer = "USA"
exporter = "JPN"
rate = 0.25
[[demand]]
date = 2025-04-01
importer = "JPN"
exporter = "USA"
sectors = ["agri_food"]
usd_per_year = 300.0
[[trade_cost]]
date = 2025-03-01
importer = "EU"
exporter = "JPN"
change = 0.1
"""


@pytest.mark.parametrize("mode, closure", [("forward", "pe"), ("static", "pe"), ("static", "ge_fixed_wage"),
                                           ("forward", "ge")])
def test_exchange_rate_events_and_beliefs_stay_on_the_no_policy_path(tmp_path, mode, closure):
    """Announced exchange-rate events, one inside a branch option, a yen process, an announced
    tariff, a commitment and a trade cost: the no-policy columns are the run of the same scenario with
    only its exchange-rate items, and in pe a cell no event touches has exactly no effect."""
    policy = parse_scenario(RICH.format(name="policy", mode=mode, option_policy=OPTION_POLICY, policy=POLICY),
                            "policy.toml")
    fx_only = parse_scenario(RICH.format(name="fx_only", mode=mode, option_policy="", policy=""), "fx_only.toml")
    result = engine.simulate([policy, fx_only], draws=3, firms=300, seed=7, closure=closure, out=tmp_path / "run")
    flows = result.scan("flows").collect().sort(["scenario", *FLOW_KEYS])
    with_policy, without = (flows.filter(pl.col("scenario") == name) for name in ("policy", "fx_only"))
    for name in ("exports", "exporters", "tariff_revenue"):
        np.testing.assert_allclose(with_policy[f"{name}_no_policy"].to_numpy(), without[name].to_numpy(), rtol=1e-12,
                                   atol=1e-9, err_msg=name)
    regions = result.scan("regions").collect().sort(["scenario", "draw", "period", "region"])
    np.testing.assert_allclose(regions.filter(pl.col("scenario") == "policy")["price_index_no_policy"].to_numpy(),
                               regions.filter(pl.col("scenario") == "fx_only")["price_index"].to_numpy(), rtol=1e-12)
    if closure == "pe":
        calibration = load_calibration(default_calibration_dir())
        touched = ScenarioModel(policy, calibration).policy_cells()
        regions_, sectors = calibration.regions, calibration.sectors
        untouched = np.array([not touched[regions_.index(o), regions_.index(d), sectors.index(k)] for o, d, k in
                              zip(with_policy["origin"], with_policy["destination"], with_policy["sector"])])
        assert untouched.sum() > 0.9 * untouched.size
        assert (with_policy["exports_effect_pct"].to_numpy()[untouched] == 0).all()
        assert (with_policy["exports_effect_pct"].to_numpy()[~untouched] != 0).any()


def test_the_no_policy_path_keeps_exchange_rates_branches_and_nothing_else():
    calibration = load_calibration(default_calibration_dir())
    text = RICH.format(name="policy", mode="static", option_policy=OPTION_POLICY, policy=POLICY)
    model = ScenarioModel(parse_scenario(text, "policy.toml"), calibration)
    seed = np.random.SeedSequence(3)
    seen = set()
    for draw in range(12):
        path, _ = draw_policy(model, seed, draw)
        reference = no_policy_path(model, path, seed, draw)
        seen.add(path.branch_labels)
        assert reference.branch_labels == path.branch_labels and reference.no_policy and not path.no_policy
        np.testing.assert_array_equal(reference.fx, path.fx)  # the FX events (one in the deal) and noise stay
        np.testing.assert_array_equal(reference.tariff, np.broadcast_to(calibration.tariffs, path.tariff.shape))
        assert (reference.demand == 1).all() and (reference.iceberg == 1).all() and reference.commitments == ()
        assert not np.array_equal(reference.tariff, path.tariff)
    assert len(seen) == 2
    touched = model.policy_cells()
    regions, sectors = calibration.regions, calibration.sectors
    expected = np.zeros_like(touched)
    expected[regions.index("JPN"), regions.index("USA"), :] = True  # the tariff
    expected[regions.index("USA"), regions.index("JPN"), sectors.index("agri_food")] = True  # the commitment
    expected[regions.index("JPN"), regions.index("EU"), :] = True  # the trade cost
    expected[regions.index("CHN"), regions.index("USA"), :] = True  # the deal option's tariff
    np.testing.assert_array_equal(touched, expected)
    assert model.without_policy() is model.without_policy()  # built once
