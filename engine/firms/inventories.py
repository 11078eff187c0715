"""Importers' stocks between the firm model's final sales and customs imports (docs/model.md section 11.9).

The firm model gives each cell's final sales: what buyers in the destination take each month. Importers
hold a stock of the cell's goods, about ``inventory_months`` months of final sales, and order so that
customs imports (what crosses the border, pays the tariff and is recorded in customs statistics) are
final sales plus the change in that stock. The stock follows a linear-quadratic inventory problem
(a cost of being away from the target stock and a cost of changing orders): it moves part of the way
toward its target each month, and it rises ahead of a landed-cost increase that importers know of (the
scenario's ``announced`` dates, as firms know them: ``engine.scenario.beliefs``) and falls ahead of a
known cut. Domestic cells have no importer and no stock.

Only the timing of customs values changes: final sales, and so the firm model, prices and entry, are
the same with inventories on or off.
"""

import numpy as np

from engine.scenario.beliefs import belief_epochs


def adjustment_root(settings):
    """``mu``, the share of a stock gap left after one month (1 - ``inventory_adjustment``)."""
    return 1.0 - settings.inventory_adjustment


def expected_cost_drive(model, labels, cost_paths, settings, n_periods):
    """The forward sum that moves the stock ahead of known landed-cost changes, (T, B, R).

    ``drive[t] = sum_k (beta mu)^k d_(t+k)`` with ``d_s = -beta (E_t log c_(s+1) - E_t log c_s)``, the
    expected change of the log landed cost (customs price times one plus the tariff) from month ``s``
    to ``s + 1`` under what is known in ``t`` (docs/model.md (11.13)-(11.14)): the scenario's tree as known
    in ``t`` (its epochs), weighed by the branch probabilities among the paths that cannot yet be told
    apart from the draw's own; beyond the horizon the last month's cost is expected to hold.

    Parameters
    ----------
    model : engine.scenario.policy.ScenarioModel
    labels : tuple
        The draw's branch path.
    cost_paths : callable
        ``cost_paths(path)`` -> log landed cost (T, B, R) of a belief path's calendar.
    settings : engine.scenario.schema.Dynamics
    n_periods : int
    """
    drive = None
    beta = settings.discount
    decay = beta * adjustment_root(settings)
    epochs = belief_epochs(model)
    for e, epoch in enumerate(epochs):
        last = epochs[e + 1].first_period if e + 1 < len(epochs) else n_periods
        log_cost = np.stack([cost_paths(p) for p in epoch.paths])  # (J, T, B, R)
        if drive is None:
            drive = np.zeros(log_cost.shape[1:])
        if np.all(np.abs(log_cost[:, 1:] - log_cost[:, :1]) < 1e-14):
            continue  # nothing known changes the cost in this epoch
        j_real = epoch.realized(labels)
        probabilities = np.asarray(epoch.probabilities, dtype=float)
        for t in range(epoch.first_period, last):
            own = epoch.info_keys[t][j_real]
            weight = probabilities * np.array([key == own for key in epoch.info_keys[t]])
            expected = np.tensordot(weight / weight.sum(), log_cost[:, t:], axes=1)  # (T - t, B, R)
            growth = np.diff(expected, axis=0, append=expected[-1:])
            drive[t] = -beta * np.tensordot(decay ** np.arange(n_periods - t), growth, axes=1)
    return np.zeros((n_periods, 1, 1)) if drive is None else drive


def importer_stocks(final_sales, log_price, drive, settings, importer):
    """Customs imports' stock changes and importers' stocks of every cell and period.

    Parameters
    ----------
    final_sales : ndarray (..., T, B, R)
        The firm model's customs value of what is sold to buyers (USD million a year); leading axes
        (e.g. the two half-populations of section 8.2) are stocked alike.
    log_price : ndarray (T, B, R)
        Customs unit value against period 0.
    drive : ndarray (T, B, R)
        ``expected_cost_drive``.
    settings : engine.scenario.schema.Dynamics
    importer : ndarray of bool (B, R)
        Cells with an importer (not domestic sales).

    Returns
    -------
    stock_change : ndarray (..., T, B, R)
        Customs imports minus final sales (USD million a year): this month's change in the stock,
        at this month's customs price, times 12.
    stock : ndarray (..., T, B, R)
        Importers' stock at the end of the month at this month's customs price (USD million).

    The stock in units of its baseline, ``s_t``, follows (docs/model.md (11.14))
    ``s_t = mu s_(t-1) + (1 - mu) (q_t - e (1 - beta mu) drive_t)``, ``s_0 = 1``, with ``q_t`` the
    final-sales quantity against period 0; orders cannot be negative, so ``s_t`` falls by at most
    ``q_t / inventory_months`` in a month.
    """
    mu = adjustment_root(settings)
    months = settings.inventory_months
    response = settings.inventory_price_response * (1.0 - settings.discount * mu)
    base = final_sales[..., :1, :, :]
    price = np.exp(log_price)
    open_cell = importer & (base > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        quantity = np.where(open_cell, final_sales / base / price, 1.0)
    units = np.ones_like(quantity)
    level = units[..., 0, :, :]
    for t in range(1, quantity.shape[-3]):
        wanted = mu * level + (1.0 - mu) * (quantity[..., t, :, :] - response * drive[t])
        floor = level - quantity[..., t, :, :] / months if months > 0 else level
        level = np.maximum(np.maximum(wanted, floor), 0.0)
        units[..., t, :, :] = level
    value = np.where(open_cell, months * base * price, 0.0)  # a year's worth of the baseline stock's months
    change = np.diff(units, axis=-3, prepend=units[..., :1, :, :])
    return value * change, value * units / 12.0
