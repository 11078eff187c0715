"""Market closures around the firm model (docs/model.md section 6).

- ``assemble``: one scenario on one draw's firms, the firm model inside its closure;
- ``fixed_wage``: partial equilibrium ``pe`` and ``ge_fixed_wage`` (wages pinned by an outside good);
- ``ge``: the default general equilibrium (wages, profits, tariff revenue and deficits), its solver
  in ``newton``; ``dynamic_ge``: ``ge`` with the dynamic firm model;
- ``welfare``: regional accounts and welfare for every closure.
"""
