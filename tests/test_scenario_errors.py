"""Every scenario error that ``engine.scenario.policy.ScenarioModel`` raises names the file, the key and what
is allowed (one ``InputError``), and the branch paths it enumerates carry the product of their
options' probabilities. (Found untested by mutation testing: tests/MUTATION_SURVIVORS.md.)"""

import math

import pytest

from engine.errors import InputError
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from tests.conftest import write_scenario

HEAD = 'name = "e"\nstart = "2025-01"\nperiods = 6\n'
EVENT = 'date = "2025-02-01"\nimporter = "USA"\nexporter = "JPN"\n'
REGIONS = "USA, JPN, CHN, EU, CAN, MEX, KOR, GBR, IND, ROW"

CASES = {
    "unknown focus region": ('[focus]\nexporter = "XXX"\nimporter = "USA"\n', "focus.exporter",
                             f"unknown region 'XXX'; allowed: {REGIONS}"),
    "group named like a region": ('[groups]\nUSA = ["JPN"]\n', "groups.USA", "already a region code or ALL"),
    "unknown group member": ('[groups]\nasia = ["JPN", "XXX"]\n', "groups.asia", f"allowed: {REGIONS}"),
    "empty importer list": ('[[tariff]]\ndate = "2025-02-01"\nimporter = []\nexporter = "JPN"\nrate = 0.1\n',
                            "tariff #1.importer", "empty list"),
    "empty sector list": (f'[[tariff]]\n{EVENT}sectors = []\nrate = 0.1\n', "tariff #1.sectors", "empty list"),
    "unknown currency": ('[[fx]]\ndate = "2025-02-01"\ncurrency = "XXX"\nchange = 0.1\n', "fx #1.currency",
                         "unknown currency (region code) 'XXX'; allowed: JPN, CHN"),
    "event on no pair": ('[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "USA"\nrate = 0.1\n',
                         "tariff #1", "touches no (exporter, importer) pair: an importer never trades with itself"),
    "commitment cut above the flow": (f'[[demand]]\n{EVENT}usd_per_year = -1e9\n', "demand #1.usd_per_year",
                                      "exceeds the baseline flow of its cells"),
    "measure excluded two ways": (
        f'[[tariff]]\n{EVENT}rate = 0.1\nmeasure = "a"\n'
        f'[[tariff]]\n{EVENT}rate = 0.2\nmeasure = "b"\nexclude_measures = ["a"]\n'
        f'[[tariff]]\ndate = "2025-03-01"\nimporter = "USA"\nexporter = "CHN"\nrate = 0.2\nmeasure = "b"\n'
        'exclude_measures = []\n'
        f'[[tariff]]\ndate = "2025-04-01"\nimporter = "USA"\nexporter = "KOR"\nrate = 0.2\nmeasure = "b"\n'
        'exclude_measures = ["a", "b"]\n',
        "tariff #4.exclude_measures", "a measure is excluded the same way everywhere"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_scenario_error_names_file_key_and_what_is_allowed(tmp_path, default_calibration, case):
    body, key, fragment = CASES[case]
    path = write_scenario(tmp_path, HEAD + body, "e")
    with pytest.raises(InputError) as info:
        model = ScenarioModel(load_scenario(path), default_calibration)
        model.check_all_paths()
    error = info.value
    assert error.source == str(path), error
    assert error.field == key, error
    assert fragment in error.reason, error
    assert str(path) in str(error) and key in str(error)


def test_more_than_4096_branch_paths_are_refused(tmp_path, default_calibration):
    body = "".join(f'\n[[branch]]\nname = "b{j}"\ndate = "2025-02-01"\n'
                   '[[branch.option]]\nname = "x"\nprobability = 0.5\n'
                   '[[branch.option]]\nname = "y"\nprobability = 0.5\n' for j in range(13))
    path = write_scenario(tmp_path, HEAD + body, "e")
    with pytest.raises(InputError) as info:
        ScenarioModel(load_scenario(path), default_calibration)
    assert info.value.field == "branch" and "8192 branch paths; at most 4096" in info.value.reason


def test_branch_paths_carry_the_product_of_their_option_probabilities(default_calibration):
    """us_japan_2025: July (deal, reinstated, extension) and, under extension, November (deal,
    reinstated); each path's probability is the product along it, and they sum to 1."""
    model = ScenarioModel(load_scenario("us_japan_2025"), default_calibration)
    scenario = model.scenario
    options = {(b.name, o.name): o.probability for b in scenario.branch for o in b.option}
    for b in scenario.branch:
        for o in b.option:
            for child in o.branch:
                options.update({(f"{b.name}/{o.name}/{child.name}", c.name): c.probability for c in child.option})
    assert len(model.paths) == 4
    for labels, probability, _ in model.paths:
        assert probability == pytest.approx(math.prod(options[label] for label in labels), rel=1e-12), labels
    assert sum(p for _, p, _ in model.paths) == pytest.approx(1.0, rel=1e-12)


def test_a_cut_larger_than_what_the_cells_export_on_the_path_stops_the_run(tmp_path):
    """A commitment cut of 150 a year is below the baseline flow (200) but above what the cells export
    once a 300 % tariff has hit them: the run stops with an InputError naming the file, the key, the
    period and both amounts."""
    import numpy as np

    from engine.calibration.data import load_calibration
    from engine.closures.assemble import run_static
    from engine.scenario.policy import policy_path
    from tests.conftest import draw_population, make_calibration

    flows = np.array([[[1000.0], [200.0]], [[150.0], [900.0]]])
    calibration = load_calibration(make_calibration(tmp_path / "cal", flows))
    population, baseline, params = draw_population(calibration, 500, seed=3)
    body = ('[[tariff]]\ndate = "2025-02-01"\nimporter = "R1"\nexporter = "R0"\nrate = 3.0\n'
            '[[demand]]\ndate = "2025-03-01"\nimporter = "R1"\nexporter = "R0"\nusd_per_year = -150\n')
    path = write_scenario(tmp_path, HEAD + body, "cut")
    with pytest.raises(InputError) as info:
        run_static(population, baseline, policy_path(load_scenario(path), calibration), params)
    error = info.value
    assert error.source == str(path) and error.field == "demand #1.usd_per_year", error
    assert error.reason.startswith("in period 2 the cut of 150 USD million a year exceeds what its cells export"), error
