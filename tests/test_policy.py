"""Policy paths: how tariff events stack (docs/model.md section 3, ``engine.scenario.policy``), the sunk-cost
threshold rule (section 4), how tariffs, exchange rates and demand shifters move one draw's
exports in partial equilibrium, and the errors a broken scenario file raises.

Stacking is checked on the real 2025 US-Japan calendar (``us_japan_2025`` on the embedded
calibration, where ``cal.tariffs[JPN, USA, k]`` is the MFN rate of sector ``k``) and on small
synthetic calibrations (regions R0.., sectors S0..) where MFN can be set at will.
"""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from engine.calibration.data import load_calibration
from engine.closures.assemble import run_static
from engine.errors import InputError
from engine.firms.static import sunk_cost_thresholds
from engine.scenario.policy import ScenarioModel, policy_path
from engine.scenario.read import load_scenario
from tests.conftest import draw_population, make_calibration, write_scenario

DEAL = (("july_decision", "deal"),)
REINSTATED = (("july_decision", "reinstated"),)
NOVEMBER = "july_decision/extension/november_decision"
EXTENSION_DEAL = (("july_decision", "extension"), (NOVEMBER, "deal"))
EXTENSION_REINSTATED = (("july_decision", "extension"), (NOVEMBER, "reinstated"))
ALL_PATHS = (DEAL, REINSTATED, EXTENSION_DEAL, EXTENSION_REINSTATED)
CARS, MACHINES = "motor_vehicles_parts", "machinery"


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def head(periods=8, name="t"):
    return f'name = "{name}"\nstart = "2025-01"\nperiods = {periods}\n'


def tariff(date, importer="R0", exporter="R1", sectors="ALL", rate=0.1, extra=""):
    quote = lambda v: f'"{v}"' if isinstance(v, str) else "[" + ", ".join(f'"{x}"' for x in v) + "]"  # noqa: E731
    return (f'\n[[tariff]]\ndate = "{date}"\nimporter = {quote(importer)}\nexporter = {quote(exporter)}\n'
            f"sectors = {quote(sectors)}\nrate = {rate}\n{extra}")


def month(path, year, mon):
    return path.dates.index(dt.date(year, mon, 1))


# --------------------------------------------------------------------------- the US-Japan calendar

@pytest.fixture(scope="module")
def us_japan(default_calibration):
    cal = default_calibration
    model = ScenarioModel(load_scenario("us_japan_2025"), cal)
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")

    def rate(labels, year, mon, sector):
        path = model.arrays(labels)
        return path.tariff[month(path, year, mon), jpn, usa, cal.sectors.index(sector)]

    mfn = {k: cal.tariffs[jpn, usa, j] for j, k in enumerate(cal.sectors)}
    return model, rate, mfn


@pytest.mark.parametrize("labels", ALL_PATHS)
def test_japanese_car_in_may_2025_pays_mfn_plus_25_percent(us_japan, labels):
    _, rate, mfn = us_japan
    assert 0 < mfn[CARS] < 0.05
    for mon in (5, 6, 7):  # every path is the same until the July decision
        assert rate(labels, 2025, mon, CARS) == pytest.approx(mfn[CARS] + 0.25, rel=1e-14)
    assert rate(labels, 2025, 3, CARS) == mfn[CARS]  # before 3 April: MFN only, bit for bit


def test_japanese_machine_in_april_2025_pays_mfn_plus_10_percent_day_weighted(us_japan):
    _, rate, mfn = us_japan
    # 10 % from 5 April (26 of 30 days); the 24 % announced and suspended on 9 April counts for nothing
    assert rate(DEAL, 2025, 4, MACHINES) == pytest.approx(mfn[MACHINES] + 0.10 * 26 / 30, rel=1e-14)
    assert rate(DEAL, 2025, 5, MACHINES) == pytest.approx(mfn[MACHINES] + 0.10, rel=1e-14)
    # cars: 25 % from 3 April (28 of 30 days) and no reciprocal 10 % on top
    assert rate(DEAL, 2025, 4, CARS) == pytest.approx(mfn[CARS] + 0.25 * 28 / 30, rel=1e-14)


def test_deal_path_is_15_percent_all_in_after_its_dates(us_japan, default_calibration):
    model, rate, mfn = us_japan
    # machines: 15 % inclusive of MFN from 7 August (25 of 31 days), cars from 16 September (15 of 30)
    assert rate(DEAL, 2025, 8, MACHINES) == pytest.approx((6 * (mfn[MACHINES] + 0.10) + 25 * 0.15) / 31, rel=1e-14)
    assert rate(DEAL, 2025, 8, CARS) == pytest.approx(mfn[CARS] + 0.25, rel=1e-14)
    assert rate(DEAL, 2025, 9, CARS) == pytest.approx((15 * (mfn[CARS] + 0.25) + 15 * 0.15) / 30, rel=1e-14)
    path = model.arrays(DEAL)
    cal = default_calibration
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    after, ruling = month(path, 2025, 10), month(path, 2026, 2)
    expected = np.maximum(cal.tariffs[jpn, usa], 0.15)  # all-in: max(MFN, 15 %), every MFN is below 15 %
    np.testing.assert_array_equal(path.tariff[after:ruling, jpn, usa], np.broadcast_to(expected, (ruling - after, 8)))
    assert np.all(expected == 0.15)


@pytest.mark.parametrize("labels", ALL_PATHS)
def test_ieepa_ruling_ends_reciprocal_tariffs_and_section_122_lapses(us_japan, labels):
    """From 24 Feb 2026 (5 of 28 days) every non-car sector pays MFN + 10 % (Section 122) on every
    path, whatever the reciprocal rate was; from 24 Jul 2026 (8 of 31 days) MFN alone. Cars keep
    their Section 232 rate."""
    model, rate, mfn = us_japan
    before = rate(labels, 2026, 1, MACHINES)
    assert rate(labels, 2026, 2, MACHINES) == pytest.approx((23 * before + 5 * (mfn[MACHINES] + 0.10)) / 28, rel=1e-13)
    for m in (3, 4, 5, 6):
        assert rate(labels, 2026, m, MACHINES) == pytest.approx(mfn[MACHINES] + 0.10, rel=1e-13)
    assert rate(labels, 2026, 7, MACHINES) == pytest.approx((23 * (mfn[MACHINES] + 0.10) + 8 * mfn[MACHINES]) / 31,
                                                             rel=1e-13)
    assert rate(labels, 2026, 12, MACHINES) == pytest.approx(mfn[MACHINES], rel=1e-13)
    assert rate(labels, 2026, 12, CARS) == pytest.approx(rate(labels, 2026, 1, CARS), rel=1e-14)


@pytest.mark.parametrize("labels", ALL_PATHS)
def test_reciprocal_tariff_skips_section_232_cars(us_japan, default_calibration, labels):
    model, rate, mfn = us_japan
    cal = default_calibration
    jpn, usa, cars = cal.regions.index("JPN"), cal.regions.index("USA"), cal.sectors.index(CARS)
    cars_rate = model.arrays(labels).tariff[:, jpn, usa, cars]
    # the car cell only ever sees MFN + 25 % (Section 232) or the deal's 15 %: never the 10 % or 24 % on top
    assert np.all(cars_rate <= mfn[CARS] + 0.25 + 1e-14)
    if labels in (REINSTATED, EXTENSION_REINSTATED):
        np.testing.assert_allclose(cars_rate[month(model.arrays(labels), 2025, 5):], mfn[CARS] + 0.25, rtol=1e-14)


@pytest.mark.parametrize("labels, year, mon", [(REINSTATED, 2025, 8), (EXTENSION_REINSTATED, 2025, 11)])
def test_reinstated_path_is_24_percent_on_top_of_mfn_and_cars_keep_25(us_japan, default_calibration, labels,
                                                                      year, mon):
    model, rate, mfn = us_japan
    cal = default_calibration
    path = model.arrays(labels)
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    start, ruling = month(path, year, mon), month(path, 2026, 2)  # IEEPA tariffs end in Feb 2026
    for j, sector in enumerate(cal.sectors):
        expected = mfn[sector] + (0.25 if sector == CARS else 0.24)
        np.testing.assert_allclose(path.tariff[start:ruling, jpn, usa, j], expected, rtol=1e-14, err_msg=sector)
        before = mfn[sector] + (0.25 if sector == CARS else 0.10)
        assert path.tariff[start - 1, jpn, usa, j] == pytest.approx(before, rel=1e-14), sector
    assert rate(labels, year, mon, MACHINES) == pytest.approx(mfn[MACHINES] + 0.24, rel=1e-14)


def test_november_deal_is_15_percent_all_in_on_everything(us_japan, default_calibration):
    model, _, _ = us_japan
    cal = default_calibration
    path = model.arrays(EXTENSION_DEAL)
    jpn, usa = cal.regions.index("JPN"), cal.regions.index("USA")
    np.testing.assert_array_equal(path.tariff[month(path, 2025, 11):month(path, 2026, 2), jpn, usa], 0.15)
    np.testing.assert_array_equal(path.tariff[month(path, 2025, 11):, jpn, usa, cal.sectors.index(CARS)], 0.15)
    assert path.tariff[month(path, 2025, 10), jpn, usa, cal.sectors.index(MACHINES)] == pytest.approx(
        cal.tariffs[jpn, usa, cal.sectors.index(MACHINES)] + 0.10, rel=1e-14)


# --------------------------------------------------------------------------- stacking rules, synthetic

@pytest.fixture(scope="module")
def stacking_calibration(tmp_path_factory):
    """4 regions, 2 sectors; MFN of R0 on R1 is 20 % in S0 and 5 % in S1, zero elsewhere."""
    flows = np.full((4, 4, 2), 100.0)
    flows[np.arange(4), np.arange(4)] = 1000.0
    tariffs = np.zeros(flows.shape)
    tariffs[1, 0] = [0.20, 0.05]
    return load_calibration(make_calibration(tmp_path_factory.mktemp("stacking") / "cal", flows, tariffs=tariffs))


def _path(tmp_path, calibration, text, labels=()):
    return policy_path(load_scenario(write_scenario(tmp_path, text)), calibration, labels)


def test_all_in_keeps_a_higher_mfn_and_replace_sets_exactly_the_rate(tmp_path, stacking_calibration):
    text = (head(7)
            + tariff("2025-02-01", rate=0.10, extra='measure = "extra"\n')
            + tariff("2025-03-01", rate=0.15, extra='mode = "all_in"\n')
            + tariff("2025-04-01", rate=0.03, extra='mode = "replace"\n')
            + tariff("2025-05-01", rate=0.10, extra='measure = "later"\n')
            + tariff("2025-06-01", rate=0.02, extra='measure = "extra"\n'))
    rates = _path(tmp_path, stacking_calibration, text).tariff[:, 1, 0, :]
    np.testing.assert_array_equal(rates[0], [0.20, 0.05])
    np.testing.assert_allclose(rates[1], [0.30, 0.15], rtol=1e-15)  # MFN + the 10 % layer
    # all_in 15 %: the whole tariff becomes max(MFN, 15 %): S0 keeps its 20 % MFN; the layer is gone
    np.testing.assert_array_equal(rates[2], [0.20, 0.15])
    np.testing.assert_array_equal(rates[3], [0.03, 0.03])  # replace: exactly the rate, even below MFN
    np.testing.assert_allclose(rates[4], [0.13, 0.13], rtol=1e-15)  # a new layer stacks on the replaced base
    np.testing.assert_allclose(rates[5], [0.15, 0.15], rtol=1e-15)  # the cleared layer can be set again
    np.testing.assert_array_equal(rates[6], rates[5])
    # nothing else moved
    mask = np.ones(stacking_calibration.tariffs.shape, dtype=bool)
    mask[1, 0] = False
    full = _path(tmp_path, stacking_calibration, text).tariff
    assert np.all(full[:, mask] == stacking_calibration.tariffs[mask])


def test_exclusions_are_dynamic(tmp_path, stacking_calibration):
    """A Section-232-like layer imposed after the reciprocal one removes it from its cells, and
    lifting it brings the reciprocal back."""
    text = (head(7)
            + tariff("2025-02-05", rate=0.10, extra='measure = "reciprocal"\nexclude_measures = ["s232"]\n')
            + tariff("2025-03-01", sectors="S0", rate=0.25, extra='measure = "s232"\n')
            + tariff("2025-05-01", sectors="S0", rate=0.0, extra='measure = "s232"\n'))
    rates = _path(tmp_path, stacking_calibration, text).tariff[:, 1, 0, :]
    mfn = stacking_calibration.tariffs[1, 0]
    np.testing.assert_allclose(rates[1], mfn + 0.10 * 24 / 28, rtol=1e-14)  # February: from the 5th
    np.testing.assert_allclose(rates[2:4, 0], mfn[0] + 0.25, rtol=1e-14)  # S0 under s232: no reciprocal
    np.testing.assert_allclose(rates[2:4, 1], mfn[1] + 0.10, rtol=1e-14)  # S1 keeps the reciprocal
    np.testing.assert_allclose(rates[4:], np.broadcast_to(mfn + 0.10, (3, 2)), rtol=1e-14)  # s232 lifted


def test_groups_expand_to_their_regions(tmp_path, stacking_calibration):
    text = (head(3) + '[groups]\nasia = ["R1", "R2"]\n'
            + tariff("2025-02-01", importer="R0", exporter="asia", sectors="S1", rate=0.3)
            + tariff("2025-02-01", importer="asia", exporter=["R3"], sectors="S0", rate=0.4))
    path = _path(tmp_path, stacking_calibration, text)
    change = path.tariff[1] - stacking_calibration.tariffs
    expected = np.zeros(change.shape)
    expected[[1, 2], 0, 1] = 0.3
    expected[3, [1, 2], 0] = 0.4
    np.testing.assert_allclose(change, expected, atol=1e-15)


def test_all_excludes_the_importer_itself(tmp_path, stacking_calibration):
    text = (head(3) + '[groups]\nmost = ["R0", "R2", "R3"]\n'
            + tariff("2025-02-01", importer="R0", exporter="ALL", sectors="S0", rate=0.3)
            + tariff("2025-02-01", importer="ALL", exporter="R3", sectors="S1", rate=0.4)
            + tariff("2025-02-01", importer="R2", exporter="most", sectors="S1", rate=0.5))
    change = _path(tmp_path, stacking_calibration, text).tariff[1] - stacking_calibration.tariffs
    expected = np.zeros(change.shape)
    expected[[1, 2, 3], 0, 0] += 0.3  # every region but R0
    expected[3, [0, 1, 2], 1] += 0.4  # every importer but R3 itself
    expected[[0, 3], 2, 1] += 0.5  # a group that names the importer: not on itself (R3 -> R2 adds up)
    np.testing.assert_allclose(change, expected, atol=1e-15)
    assert np.all(change[np.arange(4), np.arange(4)] == 0)  # no domestic cell is ever taxed


# --------------------------------------------------------------------------- the sunk-cost rule

@pytest.mark.parametrize("lam", [None, 1.0])
def test_threshold_rule_matches_explicit_firm_state(rng, lam):
    """docs/model.md section 4: one number per cell gives exactly the firms that explicit per-firm state
    would keep (firms active at t-1 stay while score >= thr_t + log lambda, new ones need thr_t)."""
    n_periods, n_blocks, n_dest, n_firms = 12, 3, 4, 400
    lam = float(rng.uniform(0.05, 0.95)) if lam is None else lam
    static = np.cumsum(rng.normal(0.0, 0.4, size=(n_periods, n_blocks, n_dest)), axis=0)
    scores = rng.normal(0.0, 1.5, size=(n_blocks, n_dest, n_firms))
    # put some scores exactly on thresholds and on the continuation cutoffs, to test the ties
    ties = rng.integers(0, n_periods, size=(n_blocks, n_dest, 20))
    pick = np.take_along_axis(np.moveaxis(static, 0, -1), ties, axis=-1)
    scores[..., :20] = pick
    scores[..., 20:40] = pick + np.log(lam)
    h = sunk_cost_thresholds(static, static[0], lam, n_periods)
    active = scores >= static[0][..., None]
    for t in range(n_periods):
        if t:
            active = (scores >= static[t][..., None]) | (active & (scores >= static[t][..., None] + np.log(lam)))
        by_rule = scores >= h[t][..., None]
        np.testing.assert_array_equal(by_rule, active, err_msg=f"period {t}, lambda {lam}")
        np.testing.assert_array_equal(by_rule.sum(axis=-1), active.sum(axis=-1))
    if lam < 1:  # the rule really keeps incumbents in somewhere
        assert np.any(h < static)


# --------------------------------------------------------------------------- one draw, partial equilibrium

@pytest.fixture(scope="module")
def two_regions(tmp_path_factory):
    """Two regions, one sector, no EKK shocks, 20,000 simulated firms (10 % export at baseline)."""
    folder = tmp_path_factory.mktemp("two")
    flows = np.array([[[1000.0], [200.0]], [[150.0], [900.0]]])
    calibration = load_calibration(make_calibration(folder / "cal", flows))
    return (folder, calibration, *draw_population(calibration, 20_000, seed=7))


def _run(setup, text, lam=1.0, closure="pe"):
    folder, calibration, population, baseline, params = setup
    path = policy_path(load_scenario(write_scenario(folder, text)), calibration)
    return run_static(population, baseline, path, replace(params, sunk_cost_ratio=lam), closure)[0]


def test_temporary_tariff_moves_exports_less_than_a_permanent_one_with_sunk_costs(two_regions):
    up = tariff("2025-02-01", "R1", "R0", rate=0.2, extra='measure = "m"\n')
    down = tariff("2025-05-01", "R1", "R0", rate=0.0, extra='measure = "m"\n')
    permanent = _run(two_regions, head(8) + up, lam=0.8).exports[:, 0, 1, 0]
    temporary_cells = _run(two_regions, head(8) + up + down, lam=0.8)
    temporary = temporary_cells.exports[:, 0, 1, 0]
    base = temporary[0]
    np.testing.assert_array_equal(temporary[1:4], permanent[1:4])  # nobody knows the tariff is temporary
    assert np.all(permanent[1:] < base)
    # after removal the threshold is back at its baseline value: exports and exporters are the baseline's
    np.testing.assert_allclose(temporary[4:], base, rtol=1e-12)
    np.testing.assert_allclose(temporary_cells.exporters[4:, 0, 1, 0], temporary_cells.exporters[0, 0, 1, 0],
                               rtol=1e-12)
    assert (base - temporary).sum() < (base - permanent).sum()
    # on impact, sunk costs keep incumbents in: a smaller fall than with static entry (lambda = 1)
    static = _run(two_regions, head(8) + up, lam=1.0)
    sunk = _run(two_regions, head(8) + up, lam=0.8)
    assert static.exports[1, 0, 1, 0] < sunk.exports[1, 0, 1, 0] < base
    assert static.exporters[1, 0, 1, 0] < sunk.exporters[1, 0, 1, 0] < sunk.exporters[0, 0, 1, 0]
    assert sunk.exits[1, 0, 1, 0] > 0


def test_temporary_boom_leaves_more_exporters_with_sunk_costs(two_regions):
    """Hysteresis (Das, Roberts & Tybout 2007): firms that entered during a temporary demand boom
    stay while their score covers the continuation cost; with lambda = 1 they all leave.

    After the boom the threshold is ``thr_0 + log 0.8`` instead of ``thr_0`` (the boom lowered it by
    log 1.3 > -log 0.8); entry scores are exponential with rate ``theta / (sigma - 1) = 2`` here, so
    ``exp(-2 log 0.8) = 1.56`` times as many firms export as at the baseline. The test asks for
    1.3 (a margin far above the marginal firm's fraction, which is all a model without hysteresis
    leaves after the boom: its exporters differ from the baseline's by about 1e-13)."""
    text = head(6) + ''.join(
        f'\n[[demand]]\ndate = "{d}"\nimporter = "R1"\nexporter = "R0"\npercent = "{p}"\n'
        for d, p in (("2025-02-01", "30%"), ("2025-04-01", f"{100 / 1.3 - 100:.12f}%")))
    sunk = _run(two_regions, text, lam=0.8)
    static = _run(two_regions, text, lam=1.0)
    assert sunk.exporters[1, 0, 1, 0] > sunk.exporters[0, 0, 1, 0]
    assert np.all(sunk.exporters[3:, 0, 1, 0] > 1.3 * sunk.exporters[0, 0, 1, 0]), sunk.exporters[:, 0, 1, 0]
    np.testing.assert_allclose(static.exports[3:, 0, 1, 0], static.exports[0, 0, 1, 0], rtol=1e-9)


@pytest.fixture(scope="module")
def default_draw(default_calibration):
    return draw_population(default_calibration, 2000, seed=11)


def _default_run(tmp_path, calibration, draw, text):
    population, baseline, params = draw
    path = policy_path(load_scenario(write_scenario(tmp_path, text)), calibration)
    return run_static(population, baseline, path, params)


def test_stronger_yen_lowers_japanese_exports_everywhere_but_not_home_sales(tmp_path, default_calibration,
                                                                           default_draw):
    cal = default_calibration
    text = head(3) + '\n[[fx]]\ndate = "2025-02-01"\ncurrency = "JPN"\nchange = 0.10\n'
    cells, _, _ = _default_run(tmp_path, cal, default_draw, text)
    jpn = cal.regions.index("JPN")
    foreign = [n for n in range(cal.n_regions) if n != jpn]
    before, after = cells.exports[0], cells.exports[2]
    assert np.all(after[jpn, foreign] < before[jpn, foreign])  # every destination, every sector
    assert np.all(cells.exporters[2, jpn, foreign] <= cells.exporters[0, jpn, foreign])
    assert np.all(cells.exporters[2, jpn, foreign].sum(axis=-1) < cells.exporters[0, jpn, foreign].sum(axis=-1))
    np.testing.assert_array_equal(after[jpn, jpn], before[jpn, jpn])  # domestic sales: no exchange rate
    np.testing.assert_array_equal(cells.exporters[2, jpn, jpn], cells.exporters[0, jpn, jpn])
    assert np.all(after[foreign, jpn] > before[foreign, jpn])  # imports into Japan get cheaper
    others = np.ix_(foreign, foreign)
    np.testing.assert_array_equal(after[others], before[others])  # pairs without the yen: unchanged


def test_percent_demand_shifter_equals_the_equivalent_iceberg_change(tmp_path, default_calibration, default_draw):
    """``percent = -20%`` multiplies d by 0.8: the same demand change as trade costs with
    (1 + c)^(1 - sigma) = 0.8 (both enter only through B), so the same exports to rounding."""
    cal = default_calibration
    sigma = cal.sigma[cal.sectors.index(CARS)]
    cell = f'importer = "USA"\nexporter = "JPN"\nsectors = "{CARS}"\n'
    boycott, _, _ = _default_run(tmp_path, cal, default_draw,
                                 head(3) + f'\n[[demand]]\ndate = "2025-02-01"\n{cell}percent = "-20%"\n')
    iceberg, _, _ = _default_run(tmp_path, cal, default_draw,
                                 head(3) + f'\n[[trade_cost]]\ndate = "2025-02-01"\n{cell}'
                                           f'change = {float(0.8 ** (1 / (1 - sigma)) - 1)!r}\n')
    np.testing.assert_allclose(boycott.exports, iceberg.exports, rtol=1e-9)
    np.testing.assert_allclose(boycott.exporters, iceberg.exporters, rtol=1e-9)
    jpn, usa, cars = cal.regions.index("JPN"), cal.regions.index("USA"), cal.sectors.index(CARS)
    assert boycott.exports[2, jpn, usa, cars] < 0.8 * boycott.exports[0, jpn, usa, cars]  # entry falls too
    mask = np.ones(boycott.exports.shape[1:], dtype=bool)
    mask[jpn, usa, cars] = False
    np.testing.assert_array_equal(boycott.exports[2][mask], boycott.exports[0][mask])
    # -20 % then +25 %: d is back at 1, and so are exports
    undo, _, _ = _default_run(tmp_path, cal, default_draw,
                              head(3) + f'\n[[demand]]\ndate = "2025-02-01"\n{cell}percent = "-20%"\n'
                                        f'\n[[demand]]\ndate = "2025-03-01"\n{cell}percent = "25%"\n')
    np.testing.assert_allclose(undo.exports[2], undo.exports[0], rtol=1e-12)


@pytest.mark.parametrize("lam, closure", [(1.0, "pe"), (0.5, "pe"), (1.0, "ge_fixed_wage")])
def test_purchase_commitment_raises_exports_by_exactly_the_amount(two_regions_two_sectors, lam, closure):
    """``usd_per_year = 30`` on R0 -> R1 (both sectors) raises their exports by exactly 30 in
    every month in force (day-weighted in the first: 16 of 31 days) against the same path without
    it, whatever else moves those cells: here a 30 % tariff on S0 from the same month, with static
    entry and with sunk costs (lambda = 0.5: incumbents stay until thr + log lambda), and in
    general equilibrium (``engine.scenario.schema.DemandEvent`` promises it per draw and period)."""
    commitment = '\n[[demand]]\ndate = "2025-03-16"\nimporter = "R1"\nexporter = "R0"\nusd_per_year = 30\n'
    tax = tariff("2025-03-01", "R1", "R0", sectors="S0", rate=0.3)
    with_it = _run(two_regions_two_sectors, head(5) + tax + commitment, lam=lam, closure=closure).exports
    without = _run(two_regions_two_sectors, head(5) + tax, lam=lam, closure=closure).exports
    extra = (with_it - without)[:, 0, 1].sum(axis=-1)
    np.testing.assert_allclose(extra, [0, 0, 30 * 16 / 31, 30, 30], rtol=0, atol=1e-6,
                               err_msg=f"lambda = {lam}, {closure}: the commitment raised exports by {extra}")
    if closure == "pe":
        mask = np.ones(with_it.shape[1:], dtype=bool)
        mask[0, 1] = False
        np.testing.assert_array_equal(with_it[:, mask], without[:, mask])


@pytest.fixture(scope="module")
def two_regions_two_sectors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two2")
    flows = np.array([[[1000.0, 500.0], [200.0, 100.0]], [[150.0, 80.0], [900.0, 700.0]]])
    calibration = load_calibration(make_calibration(folder / "cal", flows))
    return (folder, calibration, *draw_population(calibration, 5000, seed=3))


# --------------------------------------------------------------------------- scenario errors

def _error(tmp_path, text, calibration=None):
    path = write_scenario(tmp_path, text)
    with pytest.raises(InputError) as info:
        scenario = load_scenario(path)
        if calibration is not None:
            ScenarioModel(scenario, calibration)
    error = info.value
    assert error.source == str(path), error.source
    assert path.name in str(error)
    return error


def branch(name, date, options, indent=""):
    """A [[branch]] block; options: (name, probability, body) with body already using the prefix."""
    text = f'\n[[{indent}branch]]\nname = "{name}"\ndate = "{date}"\n'
    for option, probability, body in options:
        text += f'\n[[{indent}branch.option]]\nname = "{option}"\nprobability = {probability}\n{body}'
    return text


def option_tariff(date, indent="", sectors="ALL", rate=0.1, extra=""):
    return (f'\n[[{indent}branch.option.tariff]]\ndate = "{date}"\nimporter = "USA"\nexporter = "JPN"\n'
            f'sectors = "{sectors}"\nrate = {rate}\n{extra}')


def test_branch_probabilities_must_sum_to_one(tmp_path):
    text = head(12) + branch("july", "2025-07-01", [("deal", 0.6, ""), ("no_deal", 0.3, "")])
    error = _error(tmp_path, text)
    assert error.field == "branch #1" and "sum to 1" in error.reason and "0.9" in error.reason, str(error)


def test_nested_branch_probabilities_must_sum_to_one(tmp_path):
    nested = branch("later", "2025-09-01", [("a", 0.5, ""), ("b", 0.6, "")], indent="branch.option.")
    text = head(12) + branch("july", "2025-07-01", [("deal", 0.6, ""), ("wait", 0.4, nested)])
    error = _error(tmp_path, text)
    assert error.field == "branch #1.option #2.branch #1" and "sum to 1" in error.reason, str(error)


@pytest.mark.parametrize("where", ["top", "option"])
def test_unknown_sector_is_rejected_by_the_scenario_model(tmp_path, default_calibration, where):
    if where == "top":
        text, field = head(12) + tariff("2025-03-01", "USA", "JPN", sectors=["metals", "toys"]), "tariff #1.sectors"
    else:
        text = head(12) + branch("july", "2025-07-01", [("deal", 0.5, option_tariff("2025-08-01")),
                                                        ("no", 0.5, option_tariff("2025-08-01", sectors="toys"))])
        field = "branch #1.option #2.tariff #1.sectors"
    load_scenario(write_scenario(tmp_path, text))  # the structure is fine: codes need the calibration
    error = _error(tmp_path, text, default_calibration)
    assert error.field == field and "unknown sector 'toys'" in error.reason and "machinery" in error.reason


@pytest.mark.parametrize("case, field, fragment", [
    ("top", "tariff #1.date", "outside the simulated horizon"),
    ("option", "branch #1.option #2.tariff #1.date", "outside the simulated horizon"),
    ("before_branch", "branch #1.option #1.tariff #1.date", "before its branch's date 2025-07-01"),
    ("branch", "branch #1.date", "outside the horizon"),
], ids=["top", "option", "before_branch", "branch"])
def test_dates_outside_the_horizon_or_before_their_branch(tmp_path, case, field, fragment):
    if case == "top":
        text = head(12) + tariff("2026-01-01", "USA", "JPN")
    elif case == "branch":
        text = head(12) + branch("july", "2026-02-01", [("deal", 1.0, "")])
    else:
        dates = {"option": ("2025-08-01", "2026-01-01"), "before_branch": ("2025-06-30", "2025-08-01")}[case]
        text = head(12) + branch("july", "2025-07-01", [("deal", 0.5, option_tariff(dates[0])),
                                                        ("no", 0.5, option_tariff(dates[1]))])
    error = _error(tmp_path, text)
    assert error.field == field and fragment in error.reason, str(error)


def test_events_that_cannot_combine(tmp_path, default_calibration):
    cars = tariff("2025-03-01", "USA", "JPN", sectors=CARS, rate=0.15, extra='mode = "all_in"\n')
    everything = tariff("2025-03-01", "USA", "JPN", rate=0.2, extra='mode = "replace"\n')
    error = _error(tmp_path, head(12) + cars + everything, default_calibration)
    assert error.field == "tariff #2" and "tariff #1" in error.reason and "cannot combine" in error.reason
    # the same rule inside one branch path
    text = head(12) + cars + branch("july", "2025-02-01", [
        ("x", 1.0, option_tariff("2025-03-01", rate=0.2, extra='mode = "replace"\n'))])
    error = _error(tmp_path, text, default_calibration)
    assert error.field == "branch #1.option #1.tariff #1" and "cannot combine" in error.reason
    # these do combine: same mode and rate; disjoint cells; another date; an add layer
    same = tariff("2025-03-01", "USA", "JPN", sectors=["metals", CARS], rate=0.15, extra='mode = "all_in"\n')
    disjoint = tariff("2025-03-01", "USA", "JPN", sectors="metals", rate=0.2, extra='mode = "replace"\n')
    later = tariff("2025-03-02", "USA", "JPN", rate=0.2, extra='mode = "replace"\n')
    layer = tariff("2025-03-01", "USA", "JPN", rate=0.2)
    for other in (same, disjoint, later, layer):
        ScenarioModel(load_scenario(write_scenario(tmp_path, head(12) + cars + other)), default_calibration)


def test_exclude_measures_must_name_a_measure(tmp_path, default_calibration):
    text = (head(12) + tariff("2025-03-01", "USA", "JPN", sectors=CARS, rate=0.25, extra='measure = "s232"\n')
            + tariff("2025-03-05", "USA", "JPN", extra='measure = "reciprocal"\nexclude_measures = ["section232"]\n'))
    error = _error(tmp_path, text, default_calibration)
    assert error.field == "tariff #2.exclude_measures" and "'section232'" in error.reason and "s232" in error.reason


@pytest.mark.parametrize("block, field", [
    ('\n[[fx]]\ndate = "2025-03-01"\ncurrency = "USA"\nchange = 0.1\n', "fx #1.currency"),
    ('\n[[fx_process]]\ncurrency = "USA"\nmean_reversion = 0.1\nvolatility = 0.02\n', "fx_process #1.currency"),
], ids=["fx", "fx_process"])
def test_fx_on_the_numeraire_is_rejected(tmp_path, default_calibration, block, field):
    error = _error(tmp_path, head(12) + block, default_calibration)
    assert error.field == field and "numeraire" in error.reason, str(error)
