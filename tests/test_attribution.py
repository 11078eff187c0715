"""Known answers for the variance attribution (engine/outputs/attribution.py, issue 19 part 3).

Every tolerance is three bootstrap standard errors of the estimate being checked (the estimator's
own error, as the report shows it), not a number chosen to pass: an effect outside it is a
three-sigma miss. The effects add up to the explained share exactly in every case (the Shapley
efficiency property), and the explained share plus the unexplained share is 1.
"""

import math

import numpy as np
import pytest

from engine.outputs.attribution import MIN_DRAWS, TARGET_HALFWIDTH, shapley_effects

#: Bootstrap resamples in these tests (the report uses 200): the standard error is then known to
#: about 7 %, and each test stays well under a second or two.
REPLICATES = 100


def _effects(result):
    return {row["input"]: row for row in result["rows"]}


def _check_adds_up(result):
    total = sum(row["effect"] for row in result["rows"])
    assert total == pytest.approx(result["explained"], abs=1e-12)
    assert result["explained"] + result["unexplained"] == pytest.approx(1.0, abs=1e-12)
    for row in result["rows"]:
        assert row["lo"] < row["effect"] < row["hi"]


def _check_known(result, truth):
    got = _effects(result)
    assert set(got) == set(truth)
    for name, value in truth.items():
        row = got[name]
        assert abs(row["effect"] - value) <= 3 * row["se"], (name, row, value)


def ishigami_shapley(a=7.0, b=0.1):
    """Analytic Shapley effects of the Ishigami function with X_i ~ U(-pi, pi) (Iooss & Prieur
    2019, "Shapley effects for sensitivity analysis with correlated inputs", Reliab. Eng. Syst.
    Saf. 183, section 2): X2 acts alone; X1 alone and through the X1-X3 interaction, which the
    Shapley effect splits in half."""
    pi4 = math.pi ** 4
    v1 = 0.5 * (1 + b * pi4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi4 ** 2 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    return {"x1": (v1 + v13 / 2) / total, "x2": v2 / total, "x3": v13 / 2 / total}


def test_ishigami_analytic_effects_are_the_published_ones():
    # Iooss & Prieur (2019), a = 7, b = 0.1: Sh1 = 0.4358, Sh2 = 0.4424, Sh3 = 0.1218, from the
    # rounded Sobol indices S1 = 0.3139, S2 = 0.4424, S13 = 0.2437 (Sh1 = S1 + S13 / 2 = 0.43575)
    truth = ishigami_shapley()
    assert [truth[k] for k in ("x1", "x2", "x3")] == pytest.approx([0.4358, 0.4424, 0.1218], abs=1e-4)
    assert sum(truth.values()) == pytest.approx(1.0)


def test_ishigami_function():
    seed = 20260101
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n = 2000
    x = rng.uniform(-np.pi, np.pi, size=(n, 3))
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    result = shapley_effects(y, [(f"x{i + 1}", x[:, i], "continuous") for i in range(3)], replicates=REPLICATES)
    print(result)
    _check_adds_up(result)
    _check_known(result, ishigami_shapley())
    # a deterministic function: the inputs explain all of the variance
    assert abs(result["explained"] - 1.0) <= 3 * result["explained_se"]
    assert result["enough"] and result["draws"] == n


def test_additive_linear_model():
    """Y = sum a_i X_i, independent inputs of different laws: Sh_i = a_i^2 Var X_i / Var Y (the
    effects do not depend on how an input is distributed, only on its variance share)."""
    seed = 314
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n = 1000
    columns = {"uniform": rng.uniform(0, 1, n), "normal": rng.normal(0, 1, n),
               "lognormal": rng.lognormal(0, 0.5, n), "irrelevant": rng.normal(5, 2, n)}
    coefficient = {"uniform": 3.0, "normal": 1.0, "lognormal": -1.5, "irrelevant": 0.0}
    variance = {"uniform": 1 / 12, "normal": 1.0, "lognormal": (math.exp(0.25) - 1) * math.exp(0.25), "irrelevant": 4.0}
    y = sum(coefficient[k] * columns[k] for k in columns)
    total = sum(coefficient[k] ** 2 * variance[k] for k in columns)
    truth = {k: coefficient[k] ** 2 * variance[k] / total for k in columns}
    result = shapley_effects(y, [(k, v, "continuous") for k, v in columns.items()], replicates=REPLICATES)
    print(result, truth)
    _check_adds_up(result)
    _check_known(result, truth)
    # linear in the values: the estimator's regression part takes all of it (explained_se ~ 0)
    assert abs(result["explained"] - 1.0) <= 3 * result["explained_se"] + 1e-9
    # the units of an input do not matter (ranks and standardised values)
    again = shapley_effects(y, [(k, 7 * v - 3 if k == "normal" else v, "continuous") for k, v in columns.items()],
                            replicates=2)
    assert [r["effect"] for r in again["rows"]] == pytest.approx([r["effect"] for r in result["rows"]], abs=1e-9)


def test_categorical_input_and_noise():
    """The policy path as a category (three paths) plus two continuous inputs, an interaction and
    noise (finite firms): the effects are shares of Var(Y) and the noise is the unexplained share.

    Y = b(path) + X1 (1 + [path == c]) + 0.5 X2 + eps, X ~ N(0, 1), eps ~ N(0, 0.5^2), paths
    equally likely, b = (0, 1, 2). The exact closed variances c(S) = Var E[Y | X_S] are below
    (e.g. E[Y | X1] = 1 + 4/3 X1, E[Y | path, X1] = b + X1 (1 + [path == c])); the Shapley formula
    on them gives the true effects, path and X1 sharing their interaction."""
    seed = 99
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n = 600
    path = rng.choice(np.array(["a", "b", "c"]), size=n)
    x1, x2 = rng.normal(size=(2, n))
    level = {"a": 0.0, "b": 1.0, "c": 2.0}
    y = np.array([level[p] for p in path]) + x1 * (1 + (path == "c")) + 0.5 * x2 + 0.5 * rng.normal(size=n)
    # exact closed variances c(S) = Var E[Y | X_S] (path P, X1, X2); E[Y|P,X1] = b + X1 (1 + [P=c])
    var_b = 2 / 3
    c = {(): 0.0, ("P",): var_b, ("X1",): (4 / 3) ** 2, ("X2",): 0.25,
         ("P", "X1"): var_b + (1 + 1 + 4) / 3, ("P", "X2"): var_b + 0.25, ("X1", "X2"): (4 / 3) ** 2 + 0.25,
         ("P", "X1", "X2"): var_b + 2 + 0.25}
    variance = c[("P", "X1", "X2")] + 0.25
    names = ("P", "X1", "X2")

    def shapley(i):
        others = [j for j in names if j != i]
        value = 0.0
        for size in range(3):
            for subset in ([()] if size == 0 else [(o,) for o in others] if size == 1 else [tuple(others)]):
                weight = math.factorial(size) * math.factorial(2 - size) / 6
                value += weight * (c[tuple(sorted(subset + (i,), key=names.index))] - c[subset])
        return value / variance

    truth = {"path": shapley("P"), "x1": shapley("X1"), "x2": shapley("X2")}
    result = shapley_effects(y, [("path", path, "category"), ("x1", x1, "continuous"), ("x2", x2, "continuous")],
                             replicates=REPLICATES)
    print(result, truth)
    _check_adds_up(result)
    _check_known(result, truth)
    noise = 0.25 / variance
    assert abs(result["unexplained"] - noise) <= 3 * result["explained_se"]
    # a numeric input with few values (a choice distribution) is a category too
    levels = np.array([level[p] for p in path]) * 10 + 1
    same = shapley_effects(y, [("path", levels, "continuous"), ("x1", x1, "continuous"), ("x2", x2, "continuous")],
                           replicates=2)
    assert [r["effect"] for r in same["rows"]] == pytest.approx([r["effect"] for r in result["rows"]], abs=1e-12)


def test_bootstrap_error_matches_the_spread_over_repeated_samples():
    """The bootstrap standard error is the error of the estimate: over 20 independent samples the
    effects scatter as much as the bootstrap says (the sample sd of 20 values is itself known to
    about 16 %; a factor 0.6-1.5 is beyond two and a half sigma of that)."""
    seed = 5
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n, estimates, errors = 200, [], []
    for _ in range(20):
        x1, x2 = rng.uniform(size=(2, n))
        path = rng.choice(np.array(["a", "b"]), size=n)
        y = np.exp(2 * x1) + (path == "a") * 3 + x2 + 0.5 * rng.normal(size=n)
        rows = _effects(shapley_effects(y, [("x1", x1, "continuous"), ("x2", x2, "continuous"),
                                            ("path", path, "category")], replicates=30))
        estimates.append([rows[k]["effect"] for k in ("x1", "x2", "path")])
        errors.append([rows[k]["se"] for k in ("x1", "x2", "path")])
    ratio = np.mean(errors, axis=0) / np.std(estimates, axis=0, ddof=1)
    print(ratio)
    assert np.all((0.6 < ratio) & (ratio < 1.5))


def test_too_few_draws_says_how_many_are_needed():
    rng = np.random.default_rng(8)
    x1, x2 = rng.uniform(size=(2, 400))

    def outcome(k):
        return x1[:k] + 0.5 * x2[:k] + 0.4 * rng.normal(size=k)

    def inputs(k):
        return [("x1", x1[:k], "continuous"), ("x2", x2[:k], "continuous")]

    few = shapley_effects(outcome(MIN_DRAWS - 1), inputs(MIN_DRAWS - 1))
    assert few["rows"] == [] and not few["enough"] and few["needed"] == MIN_DRAWS
    some = shapley_effects(outcome(40), inputs(40), replicates=REPLICATES)
    print(some)
    assert not some["enough"] and some["halfwidth"] > TARGET_HALFWIDTH
    assert some["needed"] == math.ceil(40 * (some["halfwidth"] / TARGET_HALFWIDTH) ** 2) > 40
    # that many draws do give intervals of about the target (the needed count is itself an
    # estimate: within a factor 1.5 of the target half-width)
    k = min(some["needed"], 400)
    enough = shapley_effects(outcome(k), inputs(k), replicates=REPLICATES)
    print(k, enough["halfwidth"])
    assert enough["halfwidth"] < 1.5 * TARGET_HALFWIDTH * math.sqrt(some["needed"] / k)
    # nothing to attribute
    assert shapley_effects(np.ones(50), inputs(50)) is None and shapley_effects(outcome(50), []) is None


def test_many_inputs_are_grouped_and_still_add_up():
    rng = np.random.default_rng(12)
    n = 300
    x = rng.uniform(size=(8, n))
    y = 4 * x[0] + 2 * x[5] + 0.1 * x[1:5].sum(axis=0) + 0.05 * x[6:].sum(axis=0)
    result = shapley_effects(y, [(f"x{i}", x[i], "continuous") for i in range(8)], max_inputs=4, replicates=20)
    labels = [row["input"] for row in result["rows"]]
    print(result)
    assert len(labels) == 4 and labels[:2] == ["x0", "x5"] and "5 other inputs together" in labels
    _check_adds_up(result)
