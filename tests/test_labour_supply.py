"""Labour supply and the use of tariff revenue in the ``ge`` closure (docs/model.md section 6.6): the
labour-supply condition at the solution, the welfare that subtracts the disutility of work, and the
defaults that leave today's results unchanged (the solver's Jacobian with the extra unknowns is
checked in ``tests/test_ge_closure.py``)."""

from dataclasses import replace

import numpy as np
import pytest

from engine.closures.assemble import run_static
from engine.errors import InputError
from engine.runs.plan import build_plan
from engine.scenario.policy import policy_path
from engine.scenario.read import load_scenario
from engine.scenario.schema import GeneralEquilibrium
from tests.conftest import draw_population, write_scenario

WELFARE_PARTS = ("welfare_labour_pct", "welfare_profits_pct", "welfare_tariff_revenue_pct", "welfare_deficit_pct",
                 "welfare_purchases_pct")
RELIEF = GeneralEquilibrium(labour_supply=0.5, revenue="income_tax")


@pytest.fixture(scope="module")
def draw(default_calibration):
    return draw_population(default_calibration, 1000, seed=5)


@pytest.fixture(scope="module")
def us_tariff(tmp_path_factory, default_calibration):
    folder = tmp_path_factory.mktemp("us_tariff")
    text = ('name = "t"\nstart = "2025-01"\nperiods = 3\n'
            '[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "ALL"\nrate = "20%"\n')
    return policy_path(load_scenario(write_scenario(folder, text, "t")), default_calibration)


def _regions(draw, path, ge):
    population, baseline, params = draw
    return run_static(population, baseline, path, replace(params, ge=ge), closure="ge")[2]


def test_employment_follows_the_real_after_tax_wage(draw, us_tariff):
    """At the solution ``L / L0 = ((W / P) / (1 - tax))^kappa`` in every region and period, with the tax
    that the change in tariff revenue replaces, ``(R - R0) / (wages + profits)`` (world GDP is the
    numeraire, so R0 needs no rescaling); the tariff-imposing US works more."""
    regions = _regions(draw, us_tariff, RELIEF)
    tax = (regions.tariff_revenue - regions.tariff_revenue[0]) / regions.income
    want = (regions.wage / regions.price_index / (1.0 - tax)) ** 0.5
    np.testing.assert_allclose(regions.employment, want, rtol=1e-7)
    assert regions.ge_residual.max() <= 1e-10
    usa = 0
    assert regions.employment[-1, usa] > 1.001


def test_defaults_are_fixed_labour_and_a_lump_sum(draw, us_tariff):
    """``[ge]`` left out and written with its defaults give the same numbers, bit for bit, employment 1; without
    a labour-supply response an income-tax cut and a lump sum are the same allocation and welfare."""
    none = _regions(draw, us_tariff, None)
    defaults = _regions(draw, us_tariff, GeneralEquilibrium())
    for name in ("real_income_change_pct", "wage", "price_index", "equivalent_variation", *WELFARE_PARTS):
        np.testing.assert_array_equal(getattr(defaults, name), getattr(none, name), err_msg=name)
    assert np.all(none.employment == 1.0)
    relief = _regions(draw, us_tariff, GeneralEquilibrium(revenue="income_tax"))
    np.testing.assert_allclose(relief.real_income_change_pct, none.real_income_change_pct, atol=1e-10)
    np.testing.assert_allclose(relief.wage, none.wage, rtol=1e-12)


@pytest.mark.parametrize("ge", [GeneralEquilibrium(labour_supply=0.5), RELIEF,
                                GeneralEquilibrium(labour_supply=0.5, revenue="government")],
                         ids=["lump_sum", "income_tax", "government"])
def test_welfare_with_work_decomposes_exactly(draw, us_tariff, ge):
    regions = _regions(draw, us_tariff, ge)
    total = sum(getattr(regions, name) for name in WELFARE_PARTS)
    np.testing.assert_allclose(total, regions.real_income_change_pct, atol=1e-9)
    if ge.revenue == "government":
        assert np.all(regions.welfare_tariff_revenue_pct == 0.0)


def test_tax_relief_and_government_use_of_revenue_against_a_lump_sum(draw, us_tariff):
    """With labour responding, replacing an income tax lets the tariff-imposing US work more and gain more
    than a lump-sum rebate does; revenue spent on goods consumers do not value gains it least."""
    usa = 0
    lump = _regions(draw, us_tariff, GeneralEquilibrium(labour_supply=0.5))
    relief = _regions(draw, us_tariff, RELIEF)
    government = _regions(draw, us_tariff, GeneralEquilibrium(labour_supply=0.5, revenue="government"))
    assert relief.employment[-1, usa] > lump.employment[-1, usa]
    assert relief.real_income_change_pct[-1, usa] > lump.real_income_change_pct[-1, usa] + 0.05
    assert government.real_income_change_pct[-1, usa] < lump.real_income_change_pct[-1, usa] - 0.5


def test_labour_supply_outside_the_static_ge_is_refused(tmp_path):
    text = 'name = "t"\nstart = "2025-01"\nperiods = 2\n[ge]\nlabour_supply = 0.5\n'
    path = write_scenario(tmp_path, text, "t")
    with pytest.raises(InputError) as error:
        build_plan(path, draws=1, firms=100, closure="pe")
    assert "[ge] labour_supply" in str(error.value) and "--closure ge" in str(error.value)
    build_plan(path, draws=1, firms=100, closure="ge")  # the static model in ge: accepted


def test_a_labour_supply_residual_is_named_in_a_failure(default_calibration):
    """A draw that fails on a labour-supply residual is marked failed with its region named (the run goes on)."""
    from engine.runs.plan import _where

    assert _where(("labour supply", 1), default_calibration) == "; largest residual in the labour supply of JPN"
