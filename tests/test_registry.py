"""The table of (firm model x closure) pairs: every name the CLI and scenarios accept has an answer."""

import pytest

from engine import config
from engine.closures.registry import FIRM_MODELS, REGISTRY, combination
from engine.errors import InputError
from engine.runs.plan import build_plan
from tests.conftest import write_scenario


@pytest.mark.parametrize("mode", config.DYNAMICS_MODES)
@pytest.mark.parametrize("closure", config.CLOSURES)
def test_every_mode_and_closure_is_a_pair_or_one_error_naming_what_is(mode, closure):
    firm_model = FIRM_MODELS[mode]
    if (firm_model, closure) in REGISTRY:
        pair = combination(mode, closure)
        assert (pair.firm_model, pair.closure) == (firm_model, closure) and "cpu" in pair.devices
        return
    with pytest.raises(InputError) as err:
        combination(mode, closure)
    available = [c for (m, c) in REGISTRY if m == firm_model]
    assert err.value.source == "--closure" and err.value.field is None
    assert f"--closure {' or '.join(available)}" in str(err.value)


def test_every_firm_model_runs_in_pe_and_ge_and_every_pair_names_a_function():
    assert {(m, c) for m in set(FIRM_MODELS.values()) for c in ("pe", "ge")} <= set(REGISTRY)
    for pair in REGISTRY.values():
        module, function = pair.simulate.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_a_scenario_file_asking_for_an_unavailable_pair_is_blamed_for_its_closure_key(tmp_path):
    path = write_scenario(tmp_path, 'name = "x"\nstart = "2025-01"\nperiods = 3\nclosure = "ge_fixed_wage"\n'
                                    '[dynamics]\nmode = "forward"\n')
    with pytest.raises(InputError) as err:
        build_plan([path], draws=1, firms=10)
    assert err.value.source == str(path) and err.value.field == "closure"
    assert "not available with the dynamic firm model" in str(err.value)
