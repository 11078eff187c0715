"""``engine calibrate``: build a calibration folder for any regions and sectors, from the world tables
the engine ships or from a user's raw BACI year.

The embedded default calibration (``data/default``) is one call of ``build.calibrate``:
``calibrate(out="data/default")`` with the default region and sector specs.

Modules: ``build`` (``calibrate``: the folder, written atomically), ``spec`` (region and sector
specs), ``world`` (the shipped world tables), ``raw`` (a user's
BACI file, GDP and tariffs), ``derive`` (the rules), ``output`` (tables, sources and README written
into the folder); the command is ``engine.cli.calibrate``.
"""
