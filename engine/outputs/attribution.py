"""Which sampled input drives the spread of an outcome across draws, and how precise the bands are.

Two questions a reader of a Monte Carlo band asks:

1. *Which assumption drives the spread?* :func:`shapley_effects` gives the Shapley effect of each
   sampled input (Owen 2014, "Sobol' indices and Shapley value", SIAM/ASA J. Uncertainty
   Quantification 2: 245-251; Song, Nelson & Staum 2016, "Shapley effects for global sensitivity
   analysis: theory and computation", SIAM/ASA JUQ 4: 1060-1083): the Shapley value of the cost
   ``c(S) = Var(E[Y | X_S])`` over sets ``S`` of inputs, ``Sh_i = sum over S not holding i of
   |S|! (d-|S|-1)! / d! (c(S + i) - c(S)) / Var(Y)``. Unlike first-order Sobol indices (which
   leave interactions out, and add up to more than 1 when inputs are dependent), the effects
   share each interaction among the inputs in it and add up to ``c(all) / Var(Y)`` exactly: the
   share of the variance the sampled inputs explain. The rest, ``1 - sum``, is reported as
   *unexplained*: finite-firm noise (a draw's own firm population) and the estimator's bias.
   Defining the effects on ``Var(Y)``, rather than rescaling them to the explained variance,
   keeps the firm noise in view.

   ``c(S)`` is estimated from the draws a run already has, with no extra model runs ("given
   data"), by nearest neighbours in the manner of Broto, Bachoc & Depecker (2020), "Variance
   reduction for estimation of Shapley effects and adaptation to unknown input distribution",
   SIAM/ASA JUQ 8: 693-716, in the closed-index form of Devroye, Gyorfi, Lugosi & Walk (2018), "A
   nearest neighbor estimate of the residual variance", Electron. J. Statist. 12: 1752-1778.
   First a least-squares fit ``L`` of ``y`` on the inputs of ``S`` (a dummy per cell of its
   categories, each continuous input's rank and standardised value) takes the part of
   ``E[Y | X_S]`` a regression sees: ``c(S) = Var(L) + Var(E[R | X_S])`` with ``R = y - L``
   (uncorrelated with ``L``), ``Var(L)`` corrected for degrees of freedom (the adjusted R^2).
   The rest uses neighbours: with ``N_j(i)`` the ``j``-th nearest other draw to draw ``i`` in
   the inputs of ``S`` (same cell), ``c_j = mean(R_i R_N_j(i))``. Two draws close in ``X_S``
   have nearly the same ``E[R | X_S]`` and independent noise (a draw is never its own
   neighbour), so ``c_j`` estimates ``Var(E[R | X_S])`` with the noise left out, less a
   smoothing bias proportional to the mean squared neighbour distance, ``Gamma(j + 2/d) /
   Gamma(j)`` for ``d`` continuous inputs; the estimate is the intercept of the line through
   ``c_1 .. c_4`` against it (extrapolation to zero distance). The regression (a control
   variate) and the extrapolation are this module's additions to the cited estimators: on the
   Ishigami function with 2,000 draws a single neighbour leaves about 6 points of the explained
   share out, these about 1, and a model linear in the inputs is explained exactly. Continuous
   inputs are compared as ranks scaled to (0, 1) (scale-free); categories (the policy path, or a
   numeric input with at most 12 values) are matched exactly, and an ``S`` of categories only
   uses the mean of the other draws of the same cell. Inputs sampled as one value (e.g. a
   shared theta for every sector) are one input; with more than 6 inputs those that explain
   least alone are grouped into one (``2 ** d`` sets per estimate).

   Bootstrap over draws (200 resamples, fewer down to 50 for many draws and inputs, to bound
   the time; a draw drawn twice is one neighbour with double weight,
   so it is never its own neighbour) gives the standard error of each effect and a 90 % normal
   interval. With fewer than 20 draws nothing is estimated, and the report shows the numbers only
   when every interval is within +-10 percentage points; otherwise it says how many draws would
   be (the error falls as ``1/sqrt(draws)``). Known answers (an additive linear model, the
   Ishigami function, a categorical input with noise) are in ``tests/test_attribution.py``.

2. *Would more draws or more firms change the picture?* :func:`band_error` gives

   - the Monte Carlo standard error of each quantile of the band from a bootstrap over draws
     (draws are independent, so resampling them is the right unit; the error falls as
     ``1/sqrt(draws)``);
   - the finite-firm share: a draw's outcome is a function of its sampled inputs plus noise from
     its finite firm population (each draw is a fresh population of ``firms`` simulated firms per
     origin-sector). The variance across draws that a flexible regression on the sampled inputs
     (policy-path dummies, each continuous input linear and squared) leaves unexplained,
     degrees-of-freedom corrected, is an upper bound on the finite-firm variance (it also holds
     interactions the regression misses). That variance falls as ``1/firms`` (checked in
     ``tests/test_report.py`` on a scenario where only a branch matters); the report states how
     much narrower the 5-95 % band would be with four times the firms if all of it were firm noise.
"""

import math

import numpy as np

#: Seed of the bootstrap (fixed so that a report is reproducible).
BOOTSTRAP_SEED = 20250709
#: Bootstrap resamples.
BOOTSTRAP_REPLICATES = 1000
#: Bootstrap resamples of the Shapley effects (each recomputes every subset's cost): at most
#: SHAPLEY_REPLICATES, fewer (down to SHAPLEY_MIN_REPLICATES) when draws times subsets times
#: resamples would pass SHAPLEY_WORK (about 5 s on one core).
SHAPLEY_REPLICATES = 200
SHAPLEY_MIN_REPLICATES = 50
SHAPLEY_WORK = 2_000_000
#: Nearest neighbours whose covariances are extrapolated to zero distance.
NEIGHBOURS = 4
#: A numeric input with at most this many distinct values is treated as categories.
DISCRETE_LEVELS = 12
#: Most inputs attributed one by one (``2 ** inputs`` subsets each bootstrap resample).
MAX_INPUTS = 6
#: Fewest draws for which the Shapley effects are estimated at all.
MIN_DRAWS = 20
#: Label of the share of the variance that the inputs' effects leave over.
UNEXPLAINED = "unexplained (finite-firm noise, estimator bias)"
#: Normal quantile of the two-sided 90 % intervals of the effects.
INTERVAL_Z = 1.6448536269514722
#: Half-width of the 90 % interval of every effect for the draws to be enough to attribute.
TARGET_HALFWIDTH = 0.10


def input_groups(draws, ignore=("draw", "scenario")):
    """The distinct sampled inputs of a ``draws`` table.

    Parameters
    ----------
    draws : polars.DataFrame
        One scenario's ``draws`` table (``path``, ``branch.*``, parameter and ``fx.*`` columns).
    ignore : tuple of str

    Returns
    -------
    list of (label, values, kind)
        ``kind`` is ``"category"`` (the policy path) or ``"continuous"``. Columns with one value
        in every draw are dropped; columns equal in every draw (a parameter shared across
        sectors) are one input, labelled by the first with the count of the rest.
    """
    inputs = []
    if "path" in draws.columns and draws["path"].n_unique() > 1:
        inputs.append(("policy path (negotiation branch)", draws["path"].to_numpy(), "category"))
    columns = [c for c in draws.columns if c not in ignore and c != "path" and not c.startswith("branch.")
               and draws[c].dtype.is_numeric()]
    seen = []
    for column in columns:
        values = draws[column].fill_null(np.nan).to_numpy().astype(float)
        if np.all(np.isnan(values)) or np.nanmax(values) == np.nanmin(values):
            continue
        for group in seen:
            if np.array_equal(group[1], values, equal_nan=True):
                group[2].append(column)
                break
        else:
            seen.append((column, values, [column]))
    for column, values, members in seen:
        label = _label(column)
        if len(members) > 1:
            family = {m.split(".")[0] for m in members}
            label = (f"{_label(column.split('.')[0])} (one value for {len(members)} series)" if len(family) == 1
                     else f"{label} and {len(members) - 1} equal series")
        inputs.append((label, values, "continuous"))
    return inputs


def _label(column):
    parts = column.split(".")
    if parts[0] == "fx":
        return f"exchange rate of {parts[1]} (last period)"
    if parts[0] == "sunk_cost_ratio":
        return "sunk costs (lambda)"
    name = parts[0].replace("_", "-")
    return f"{name} {' '.join(parts[1:])}".strip()


def _groups(values, kind, bins):
    """Integer group codes of each draw."""
    if kind == "category":
        return np.unique(values.astype(str), return_inverse=True)[1]
    finite = np.where(np.isnan(values), np.nanmedian(values), values)
    unique = np.unique(finite)
    if len(unique) <= bins:  # a discrete input (choice distribution): its values are the groups
        return np.searchsorted(unique, finite)
    order = np.argsort(finite, kind="stable")
    codes = np.empty(len(finite), dtype=np.int64)
    codes[order] = np.arange(len(finite)) * bins // len(finite)
    return codes


def _players(inputs, n):
    """Each input as ``(kind, codes_or_ranks, standardised)``: category codes (policy path, or a
    discrete input with few values; ``standardised`` None) or ranks scaled to (0, 1) and the
    standardised values (a continuous input; missing values take the median)."""
    players = []
    for _label_, values, kind in inputs:
        values = np.asarray(values)
        if kind == "category":
            players.append(("category", _groups(values, kind, 0), None))
            continue
        v = np.asarray(values, dtype=float)
        v = np.where(np.isnan(v), np.nanmedian(v), v)
        unique = np.unique(v)
        if len(unique) <= DISCRETE_LEVELS:  # a choice distribution: its values are categories
            players.append(("category", np.searchsorted(unique, v), None))
        else:
            ranks = np.empty(n)
            ranks[np.argsort(v, kind="stable")] = np.arange(n)
            players.append(("continuous", (ranks + 0.5) / n, (v - v.mean()) / v.std()))
    return players


def _closed_variance(y, weights, columns):
    """``Var(E[Y | X_S])`` from the draws with ``weights`` > 0 (bootstrap multiplicities);
    ``columns`` are the inputs in ``S`` as from :func:`_players`.

    Categories in ``S`` are matched exactly. With continuous inputs, a least-squares fit takes
    what it can and the ``j``-th nearest other draw (same cell, rank space) gives ``c_j =
    mean(R_i R_N_j(i))`` of the residuals, whose smoothing bias grows with the mean squared
    neighbour distance, ``Gamma(j + 2/d) / Gamma(j)`` (d continuous inputs in S): the estimate
    adds the intercept of the least-squares line of ``c_1..c_J`` on it (Richardson
    extrapolation to zero distance). See the module docstring.
    """
    from scipy.spatial import cKDTree

    keep = np.flatnonzero(weights > 0)
    w, yk = weights[keep], y[keep]
    mean = float(np.sum(w * yk) / w.sum())
    dev = yk - mean
    cats = [codes[keep] for kind, codes, _z in columns if kind == "category"]
    conts = [ranks[keep] for kind, ranks, _z in columns if kind == "continuous"]
    values = [z[keep] for kind, _r, z in columns if kind == "continuous"]
    group = np.zeros(len(keep), dtype=np.int64)
    for codes in cats:  # one code per cell of the categories in S
        group = np.unique(group * (codes.max() + 1) + codes, return_inverse=True)[1].ravel()
    if not conts:  # the mean of the other draws of the same cell (leave this draw out)
        total = np.bincount(group, weights=w * yk)
        count = np.bincount(group, weights=w)
        others = count[group] - w
        loo = np.where(others > 0, (total[group] - w * yk) / np.where(others > 0, others, 1.0), mean)
        return float(np.sum(w * dev * (loo - mean)) / w.sum())
    # control variate: E[Y | X_S] = L + E[R | X_S] with L the weighted least-squares fit of y on
    # the cells, the ranks and the values (R is uncorrelated with L), so c(S) = Var(L) + Var(E[R | X_S]):
    # Var(L) with the degrees-of-freedom correction, and nearest neighbours only for the part of
    # E[Y | X_S] that the fit misses (smaller and smoother, so less noise and less bias)
    design = np.column_stack([(group == g).astype(float) for g in range(group.max() + 1)] + conts + values)
    root = np.sqrt(w)
    beta, _rss, params, _sv = np.linalg.lstsq(design * root[:, None], yk * root, rcond=None)
    fit = design @ beta
    residual = yk - fit
    size = w.sum()
    fit_var = float(np.sum(w * (fit - mean) ** 2) / size)
    res_var = float(np.sum(w * residual ** 2) / size)
    explained = fit_var - (params - 1) * res_var / max(size - params, 1.0)
    d = len(conts)
    # cells are farther apart than any two draws in one cell (ranks lie in the unit cube)
    points = np.column_stack(conts + [group * 2.0 * (math.sqrt(d) + 1.0)])
    k = min(NEIGHBOURS, len(keep) - 1)
    _dist, near = cKDTree(points).query(points, k=k + 1)
    is_self = near == np.arange(len(keep))[:, None]
    drop = np.where(is_self.any(axis=1), np.argmax(is_self, axis=1), k)  # self, or the farthest
    near = near[~(np.arange(k + 1)[None, :] == drop[:, None])].reshape(len(keep), k)
    c = (w * residual) @ residual[near] / size
    if k == 1:
        return explained + float(c[0])
    j = np.arange(1, k + 1)
    t = np.exp([math.lgamma(i + 2.0 / d) - math.lgamma(i) for i in j])
    return explained + float(np.linalg.lstsq(np.column_stack([np.ones(k), -t]), c, rcond=None)[0][0])


def _shapley(y, weights, players):
    """Shapley effects (shares of the weighted variance of ``y``) and the explained share;
    ``players`` is a list of lists of columns (one list per input or group of inputs)."""
    m = len(players)
    cost = np.zeros(1 << m)
    for mask in range(1, 1 << m):
        cost[mask] = _closed_variance(y, weights, [c for p in range(m) if mask >> p & 1 for c in players[p]])
    w = weights[weights > 0]
    yk = y[weights > 0]
    variance = float(np.sum(w * (yk - np.sum(w * yk) / w.sum()) ** 2) / w.sum())
    size = np.array([mask.bit_count() for mask in range(1 << m)])
    effects = np.zeros(m)
    for p in range(m):
        without = np.array([mask for mask in range(1 << m) if not mask >> p & 1])
        weight = np.array([math.factorial(s) * math.factorial(m - s - 1) for s in size[without]]) / math.factorial(m)
        effects[p] = np.sum(weight * (cost[without | 1 << p] - cost[without]))
    return effects / variance, cost[-1] / variance


def _merge(inputs, y, max_inputs):
    """At most ``max_inputs`` inputs: the ones that explain least alone become one input."""
    if len(inputs) <= max_inputs:
        return inputs
    n = len(y)
    players = _players(inputs, n)
    alone = [_closed_variance(y, np.ones(n), [column]) for column in players]
    order = np.argsort(alone)[::-1]
    kept = [inputs[p] for p in sorted(order[:max_inputs - 1])]
    rest = [inputs[p] for p in order[max_inputs - 1:]]
    return kept + [(f"{len(rest)} other inputs together", rest, "group")]


def shapley_effects(y, inputs, replicates=None, seed=BOOTSTRAP_SEED, max_inputs=MAX_INPUTS):
    """Shapley effects of the sampled inputs on ``y``, from the run's draws, with bootstrap errors.

    Parameters
    ----------
    y : array_like, shape (n,)
        The outcome of each draw.
    inputs : list of (label, values, kind)
        From :func:`input_groups`.
    replicates : int, optional
        Bootstrap resamples of the draws; default :data:`SHAPLEY_REPLICATES`, fewer for many
        draws and inputs (see :data:`SHAPLEY_WORK`).
    seed : int
        Seed of the bootstrap.
    max_inputs : int
        More inputs than this: those that explain least alone are grouped into one (the cost
        grows as ``2 ** inputs``).

    Returns
    -------
    dict or None
        None when ``y`` does not vary or there are no inputs. Otherwise ``draws``, ``inputs``
        (count), ``replicates`` (bootstrap resamples used) and ``enough`` (bool). With fewer
        than :data:`MIN_DRAWS` draws nothing is estimated (``rows`` empty, ``needed`` =
        :data:`MIN_DRAWS`). Otherwise ``rows`` (list of dicts, largest first: ``input``,
        ``effect`` (share of ``Var(Y)``), ``se`` (bootstrap standard error), ``lo`` and ``hi``
        (``effect -+ 1.645 se``, a 90 % interval)), ``explained`` (the sum of the effects,
        exactly), its ``explained_se``, ``unexplained`` (``1 - explained``: finite-firm noise and
        the estimator's bias) with its interval ``unexplained_lo`` and ``unexplained_hi``,
        ``halfwidth`` (the widest interval's half-width) and ``needed``: draws for every
        half-width to be at most :data:`TARGET_HALFWIDTH` (the error falls as
        ``1/sqrt(draws)``); ``enough`` is whether the run has them.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if not inputs or n < 2 or not np.ptp(y) > 1e-12 * max(1.0, float(np.max(np.abs(y)))):
        return None
    out = {"draws": n, "inputs": len(inputs), "replicates": 0}
    if n < MIN_DRAWS:
        return {**out, "rows": [], "enough": False, "needed": MIN_DRAWS}
    inputs = _merge(inputs, y, max_inputs)
    players = []
    for label, values, kind in inputs:  # a group of inputs is one player with all their columns
        members = values if kind == "group" else [(label, values, kind)]
        players.append(_players(members, n))

    if replicates is None:
        work = n * ((1 << len(players)) - 1)
        replicates = int(np.clip(SHAPLEY_WORK // work, SHAPLEY_MIN_REPLICATES, SHAPLEY_REPLICATES))
    effects, explained = _shapley(y, np.ones(n), players)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(replicates):  # resample draws: a draw drawn twice is one neighbour, counted twice
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        boot_effects, boot_explained = _shapley(y, weights, players)
        boot.append(np.append(boot_effects, boot_explained))
    boot = np.array(boot)
    se = boot.std(axis=0, ddof=1)
    z = INTERVAL_Z
    rows = sorted(({"input": label, "effect": float(e), "se": float(s), "lo": float(e - z * s), "hi": float(e + z * s)}
                   for (label, _v, _k), e, s in zip(inputs, effects, se[:-1])), key=lambda r: -r["effect"])
    halfwidth = float(z * se[:-1].max())
    needed = math.ceil(n * (halfwidth / TARGET_HALFWIDTH) ** 2)
    return {**out, "replicates": replicates, "rows": rows, "explained": float(explained), "explained_se": float(se[-1]),
            "unexplained": float(1.0 - explained), "unexplained_lo": float(1.0 - explained - z * se[-1]),
            "unexplained_hi": float(1.0 - explained + z * se[-1]), "halfwidth": halfwidth,
            "needed": max(needed, MIN_DRAWS),
            "enough": halfwidth <= TARGET_HALFWIDTH}


def _design(inputs, n):
    columns = [np.ones(n)]
    for _label_, values, kind in inputs:
        if kind == "category":
            codes = _groups(np.asarray(values), kind, 0)
            columns += [(codes == g).astype(float) for g in range(1, codes.max() + 1)]
        else:
            v = np.asarray(values, dtype=float)
            v = np.where(np.isnan(v), np.nanmean(v), v)
            z = (v - v.mean()) / (v.std() or 1.0)
            columns += [z, z ** 2 - 1]
    return np.column_stack(columns)


def residual_share(y, inputs):
    """Share of the variance of ``y`` across draws that the sampled inputs do not explain.

    Least squares of ``y`` on path dummies and each continuous input (linear and squared); the
    residual variance ``RSS / (n - p)`` over the sample variance. ``None`` when there are not
    at least 3 more draws than regressors.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    x = _design(inputs, n)
    rank = np.linalg.matrix_rank(x)
    if n - rank < 3 or np.var(y, ddof=1) <= 0:
        return None
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    rss = float(np.sum((y - x @ beta) ** 2))
    return float(min(1.0, rss / (n - rank) / np.var(y, ddof=1)))


def bootstrap_quantile_se(values, quantiles, replicates=BOOTSTRAP_REPLICATES, seed=BOOTSTRAP_SEED):
    """Bootstrap standard errors of quantiles across draws.

    Parameters
    ----------
    values : array_like, shape (..., n)
        Draws along the last axis (e.g. one row per month).
    quantiles : sequence of float

    Returns
    -------
    numpy.ndarray, shape (len(quantiles), ...)
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(replicates, n))
    resampled = values[..., picks]  # (..., replicates, n)
    estimates = np.quantile(resampled, quantiles, axis=-1)  # (q, ..., replicates)
    return estimates.std(axis=-1, ddof=1)


def band_error(y, inputs, firms):
    """How precise the 5-95 % band of ``y`` is and what would narrow it.

    Parameters
    ----------
    y : array_like
        Outcome per draw.
    inputs : list
        From :func:`input_groups`.
    firms : int
        Simulated firms per origin-sector of the run.

    Returns
    -------
    dict
        ``quantiles`` (list of dicts: ``q``, ``value``, ``se``), ``draws``, ``firms``,
        ``firm_share`` (upper bound on the finite-firm share of the variance, or None),
        ``narrowing_4x_firms`` (largest relative narrowing of the band with 4x firms, or None).
    """
    y = np.asarray(y, dtype=float)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    se = bootstrap_quantile_se(y, qs)
    share = residual_share(y, inputs)
    narrowing = None if share is None else 1.0 - math.sqrt(1.0 - 0.75 * share)
    return {"quantiles": [{"q": q, "value": float(np.quantile(y, q)), "se": float(s)} for q, s in zip(qs, se)],
            "draws": int(len(y)), "firms": int(firms), "firm_share": share, "narrowing_4x_firms": narrowing}
