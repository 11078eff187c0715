"""The firm model: simulated firm populations and what each firm does (docs/model.md sections 2-5, 11).

- ``static``: the static model (population, calibration to the data, prices, period aggregates);
- ``dynamic``: the dynamic model (moving productivity, sunk entry costs, sticky prices), one draw;
- ``bellman``: the dynamic model's firm problem (Markov chain, Bellman equation, its policy);
- ``rows``: firm-level rows (``--firm-output``) recomputed from the firms' streams;
- ``panel`` and ``identification``: a simulated exporter panel's annual moments, and the dynamic
  parameters identified from them (their defaults: ``engine.scenario.defaults``).
"""
