"""Market closures around the firm model (docs/model.md section 6).

- ``assemble``: one scenario on one draw's firms, the firm model inside its closure;
- ``fixed_wage``: partial equilibrium ``pe`` and ``ge_fixed_wage`` (wages pinned by an outside good);
- ``ge``: the default general equilibrium (wages, profits, tariff revenue and deficits), its
  accounts in ``ge_accounts``, its solver in ``newton``; ``dynamic_ge``: ``ge`` with the dynamic firm model;
- ``registry``: which firm model runs with which closure, and what each pair can do;
- ``welfare``: regional accounts and welfare for every closure.
"""
