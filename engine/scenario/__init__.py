"""Scenarios: what a user says will or may happen, and what each draw makes of it.

- ``schema``: scenario files (TOML) validated into frozen objects;
- ``policy``: dense monthly policy arrays, one set per branch path;
- ``beliefs``: what firms know of the policy tree, month by month;
- ``read``: reading scenario files (or TOML text) into those objects;
- ``defaults``: the defaults of ``[dynamics]`` and ``sunk_cost_ratio``, with their sources;
- ``uncertainty``: what a draw samples (``DrawParameters``, exchange rates, its policy path);
- ``supports``: the checks that hold for every draw of an uncertain input.
"""
