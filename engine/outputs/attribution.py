"""Which sampled input drives the spread of an outcome across draws, and how precise the bands are.

Two questions a reader of a Monte Carlo band asks:

1. *Which assumption drives the spread?* :func:`first_order_indices` estimates first-order Sobol
   indices ``S_i = Var(E[Y | X_i]) / Var(Y)`` (Saltelli et al. 2008, *Global Sensitivity
   Analysis: The Primer*, ch. 4; the "correlation ratio" of Pearson) from the draws a run already
   has (given data, no extra design): the draws are grouped by the input (its categories, e.g. the
   policy path, or equal-count bins of a continuous input, ``round(sqrt(n))`` bins, between 2 and
   20) and the between-group variance is taken over the total, corrected for the upward bias of
   the binned estimator with few draws per bin (the omega-squared / adjusted eta-squared correction,
   ``(SS_between - (G - 1) MS_within) / SS_total``, clipped to [0, 1]). Inputs sampled as one
   value (e.g. a shared theta for every sector) are one input. The indices of independent inputs
   sum to at most 1; the rest is interactions and finite-firm noise.

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


def first_order_indices(y, inputs, bins=None):
    """First-order Sobol indices of ``y`` for each input, estimated by grouping the draws.

    Parameters
    ----------
    y : array_like, shape (n,)
        The outcome of each draw.
    inputs : list of (label, values, kind)
        From :func:`input_groups`.
    bins : int, optional
        Equal-count bins for continuous inputs; default ``round(sqrt(n))`` clipped to [2, 20].

    Returns
    -------
    list of dict
        ``input``, ``index`` (bias-corrected, in [0, 1]), ``raw`` (uncorrected between/total
        variance), ``groups`` and ``chance``: two standard deviations of the index of an input
        that does not matter (normal outcome: the raw ratio is Beta((G-1)/2, (n-G)/2), so the
        corrected index has sd ``sqrt(2 (G-1) / ((n+1) (n-G)))``); an index below it may be
        chance. Empty when ``y`` does not vary or there are fewer than 4 draws.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    total = float(np.sum((y - y.mean()) ** 2))
    if n < 4 or not total > 1e-12 * max(1.0, float(np.mean(y ** 2))) * n:
        return []
    if bins is None:
        bins = int(min(20, max(2, round(math.sqrt(n)))))
    rows = []
    for label, values, kind in inputs:
        codes = _groups(np.asarray(values), kind, bins)
        counts = np.bincount(codes)
        present = counts > 0
        means = np.bincount(codes, weights=y)[present] / counts[present]
        between = float(np.sum(counts[present] * (means - y.mean()) ** 2))
        groups = int(present.sum())
        within = total - between
        corrected = (between - (groups - 1) * within / (n - groups)) / total if n > groups else float("nan")
        noise = math.sqrt(2 * (groups - 1) / ((n + 1) * (n - groups))) if n > groups else float("nan")
        rows.append({"input": label, "index": float(np.clip(corrected, 0.0, 1.0)),
                     "raw": between / total, "groups": groups, "chance": min(1.0, 2 * noise)})
    return sorted(rows, key=lambda r: -r["index"])


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
