"""Measures that cover part of a cell (docs/model.md section 9.2): HS lists weighted by the calibration's
``products`` table, stated coverage shares, the CES tariff index the model uses and the trade-weighted
mean beside it, and one clear error for a bad HS code or an empty list."""

import numpy as np
import pytest

from engine.errors import InputError
from engine.scenario.policy import ScenarioModel
from engine.scenario.read import load_scenario
from tests.conftest import write_scenario

HEAD = 'name = "c"\nstart = "2025-01"\nperiods = 4\n'
JPN_METALS = 'date = "2025-02-01"\nimporter = "USA"\nexporter = "JPN"\nsectors = ["metals"]\n'


def model_of(tmp_path, calibration, body, name="c"):
    return ScenarioModel(load_scenario(write_scenario(tmp_path, HEAD + body, name)), calibration)


def share_of(calibration, origin, sector, chapters):
    """Reference: the products table's share of ``chapters`` in the (origin -> USA, sector) cell."""
    p = calibration.products
    i, n, k = calibration.regions.index(origin), calibration.regions.index("USA"), calibration.sectors.index(sector)
    in_sector = p.sector == k
    listed = np.array([c in chapters for c in p.codes])
    return p.values[i, n, in_sector & listed].sum() / p.values[i, n, in_sector].sum()


def ces_index(weights, rates, sigma):
    weights, rates = np.asarray(weights), np.asarray(rates)
    return (weights @ (1.0 + rates) ** (1.0 - sigma)) ** (1.0 / (1.0 - sigma)) - 1.0


def cell(path, calibration, origin, sector, t=1):
    i, n, k = calibration.regions.index(origin), calibration.regions.index("USA"), calibration.sectors.index(sector)
    return path.tariff[t, i, n, k], path.average_tariff[t, i, n, k], calibration.tariffs[i, n, k]


def test_an_hs_list_equals_the_same_coverage_written_as_a_share(tmp_path, default_calibration):
    share = share_of(default_calibration, "JPN", "metals", {"72", "73"})
    assert 0.05 < share < 0.95  # a real partial cover, not a degenerate one
    listed = model_of(tmp_path, default_calibration,
                      f'[[tariff]]\n{JPN_METALS}rate = "25%"\nproducts = ["72", "73*"]\n', "listed").arrays()
    stated = model_of(tmp_path, default_calibration,
                      f'[[tariff]]\n{JPN_METALS}rate = "25%"\ncoverage = {float(share)!r}\n', "stated").arrays()
    np.testing.assert_allclose(listed.tariff, stated.tariff, rtol=0, atol=1e-14)
    np.testing.assert_allclose(listed.average_tariff, stated.average_tariff, rtol=0, atol=1e-14)
    index, average, mfn = cell(listed, default_calibration, "JPN", "metals")
    sigma = default_calibration.sigma[default_calibration.sectors.index("metals")]
    assert average == pytest.approx(mfn + 0.25 * share, abs=1e-14)
    assert index == pytest.approx(ces_index([share, 1 - share], [mfn + 0.25, mfn], sigma), abs=1e-14)
    # the CES index lies below the trade-weighted mean (a power mean of exponent 1 - sigma < 1) and above MFN
    assert mfn < index < average


def test_exclusions_exemptions_and_cells_outside_the_list(tmp_path, default_calibration):
    """exclude_products takes codes out; a sector with none of the listed products keeps MFN; cells the
    event does not touch keep their value bit for bit."""
    body = ('[[tariff]]\ndate = "2025-02-01"\nimporter = "USA"\nexporter = "ALL"\nrate = "10%"\n'
            'products = ["2*", "3*"]\nexclude_products = ["27", "30"]\n')
    path = model_of(tmp_path, default_calibration, body).arrays()
    everything_but = model_of(tmp_path, default_calibration, body.replace(
        '["2*", "3*"]', '"ALL"').replace('["27", "30"]', '["0*", "1*", "27", "30", "4*", "5*", "6*", "7*", "8*", "9*"]'),
        "all").arrays()
    np.testing.assert_array_equal(everything_but.average_tariff, path.average_tariff)
    share = share_of(default_calibration, "KOR", "chem_pharma_plastics", {f"{c}" for c in range(28, 40) if c != 30})
    _index, average, mfn = cell(path, default_calibration, "KOR", "chem_pharma_plastics")
    assert average == pytest.approx(mfn + 0.10 * share, abs=1e-14)
    for sector in ("energy", "machinery"):  # 27 excluded; 84 not listed
        index, average, mfn = cell(path, default_calibration, "KOR", sector)
        assert index == average == mfn
    usa, jpn = default_calibration.regions.index("USA"), default_calibration.regions.index("JPN")
    assert np.array_equal(path.tariff[:, usa, jpn], np.broadcast_to(default_calibration.tariffs[usa, jpn],
                                                                     path.tariff[:, usa, jpn].shape))


def test_stated_shares_of_two_measures_are_independent_and_restated_over_time(tmp_path, default_calibration):
    """Two stated shares split the cell into four parts (independent shares); a later event of the same
    measure restates its share (a share claimed under an exemption that rises)."""
    body = (f'[[tariff]]\n{JPN_METALS}rate = "25%"\nmeasure = "a"\ncoverage = 0.6\n'
            f'[[tariff]]\n{JPN_METALS}rate = "10%"\nmeasure = "b"\ncoverage = "50%"\n'
            '[[tariff]]\ndate = "2025-03-01"\nimporter = "USA"\nexporter = "JPN"\nsectors = ["metals"]\n'
            'rate = "25%"\nmeasure = "a"\ncoverage = 0.2\n')
    path = model_of(tmp_path, default_calibration, body).arrays()
    sigma = default_calibration.sigma[default_calibration.sectors.index("metals")]
    index, average, mfn = cell(path, default_calibration, "JPN", "metals", t=1)
    weights = [0.6 * 0.5, 0.6 * 0.5, 0.4 * 0.5, 0.4 * 0.5]
    rates = [mfn + 0.35, mfn + 0.25, mfn + 0.10, mfn]
    assert average == pytest.approx(np.dot(weights, rates), abs=1e-14)
    assert index == pytest.approx(ces_index(weights, rates, sigma), abs=1e-14)
    index, average, mfn = cell(path, default_calibration, "JPN", "metals", t=2)
    assert average == pytest.approx(mfn + 0.2 * 0.25 + 0.5 * 0.10, abs=1e-14)


def test_a_layer_excluded_by_a_listed_measure_skips_only_the_listed_products(tmp_path, default_calibration):
    """The reciprocal tariff does not apply on top of Section 232 goods: with the 232 measure on chapter
    72 only, the other chapters of the sector still get the reciprocal rate."""
    body = (f'[[tariff]]\n{JPN_METALS}rate = "25%"\nmeasure = "s232"\nproducts = ["72"]\n'
            f'[[tariff]]\n{JPN_METALS}rate = "10%"\nmeasure = "reciprocal"\nexclude_measures = ["s232"]\n')
    path = model_of(tmp_path, default_calibration, body).arrays()
    share = share_of(default_calibration, "JPN", "metals", {"72"})
    _index, average, mfn = cell(path, default_calibration, "JPN", "metals")
    assert average == pytest.approx(mfn + 0.25 * share + 0.10 * (1 - share), abs=1e-14)


def test_all_in_on_listed_products_sets_only_their_tariff(tmp_path, default_calibration):
    body = (f'[[tariff]]\n{JPN_METALS}rate = "10%"\n'
            f'[[tariff]]\n{JPN_METALS}rate = "50%"\nmode = "all_in"\nproducts = ["76"]\n')
    path = model_of(tmp_path, default_calibration, body).arrays()
    share = share_of(default_calibration, "JPN", "metals", {"76"})
    _index, average, mfn = cell(path, default_calibration, "JPN", "metals")
    assert average == pytest.approx(0.5 * share + (mfn + 0.10) * (1 - share), abs=1e-14)


def test_a_scenario_without_parts_of_cells_keeps_one_segment_and_no_separate_mean(default_calibration):
    model = ScenarioModel(load_scenario("us_japan_2025"), default_calibration)
    assert model.segments.n == 1
    assert model.arrays(model.paths[0][0]).tariff_average is None


BAD = {
    "malformed code": ('products = ["8x"]', "tariff #1.products", "is not an HS code"),
    "odd length": ('products = ["870"]', "tariff #1.products", "is not an HS code"),
    "empty list": ("products = []", "tariff #1", "products is an empty list"),
    "unknown chapter": ('products = ["77"]', "tariff #1.products", "matches no product of the calibration"),
    "finer than the weights": ('products = ["8703"]', "tariff #1.products",
                               "finer than the calibration's product weights (2 digits"),
    "both ways": ('products = ["72"]\ncoverage = 0.5', "tariff #1", "not both"),
    "share above one": ("coverage = 1.5", "tariff #1.coverage", "share in (0, 1]"),
    "share with all_in": ('coverage = 0.5\nmode = "all_in"', "tariff #1", "needs mode 'add'"),
    "exclusion without list": ('exclude_products = ["72"]', "tariff #1", "exclude_products needs products"),
    "exclusion of everything": ('products = ["72"]\nexclude_products = ["7*"]', "tariff #1.products",
                                "removes every product"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_hs_code_or_an_empty_list_gets_one_clear_error(tmp_path, default_calibration, case):
    extra, key, fragment = BAD[case]
    path = write_scenario(tmp_path, HEAD + f'[[tariff]]\n{JPN_METALS}rate = 0.1\n{extra}\n', "c")
    with pytest.raises(InputError) as info:
        ScenarioModel(load_scenario(path), default_calibration).check_all_paths()
    error = info.value
    assert error.source == str(path), error
    assert error.field.startswith(key), error
    assert fragment in error.reason, error


def test_hs_lists_need_product_weights_for_every_cell_they_touch(tmp_path, default_calibration):
    """The embedded products table covers US imports only: a list on China's imports is refused with
    the cell named, and a calibration without the table is told to state a share."""
    body = ('[[tariff]]\ndate = "2025-02-01"\nimporter = "CHN"\nexporter = "USA"\nrate = 0.1\n'
            'products = ["12"]\n')
    with pytest.raises(InputError, match="no product weights for USA -> CHN"):
        model_of(tmp_path, default_calibration, body)
    import dataclasses
    bare = dataclasses.replace(default_calibration, products=None)
    with pytest.raises(InputError, match="has no products table"):
        model_of(tmp_path, bare, f'[[tariff]]\n{JPN_METALS}rate = 0.1\nproducts = ["72"]\n')
