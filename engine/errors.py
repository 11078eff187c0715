"""The exceptions users see: bad input (it names the file, the field and what is allowed), and a
general equilibrium that found no solution."""


class InputError(ValueError):
    """Bad user input (calibration table, scenario file, option).

    Parameters
    ----------
    source : str
        The file (or option) at fault.
    message : str
        What is wrong and what is allowed.
    field : str, optional
        The key, column or row within ``source``.
    """

    def __init__(self, source, message, field=None):
        self.source = str(source)
        self.field = field
        self.reason = message
        where = f"{self.source}: {field}" if field else self.source
        super().__init__(f"{where}: {message}")


class ConvergenceError(RuntimeError):
    """The general-equilibrium fixed point did not reach its tolerance.

    ``worst``: where the largest residual was, when known: ``("market", n, k)`` (destination
    ``n``'s sector-``k`` market), ``("labour", n)``, ``("commitment", c)`` (the ``c``-th purchase
    commitment) or ``("labour supply", n)`` (``[ge] labour_supply``); ``engine.runs.plan.simulate_draw`` names it with the scenario and the draw."""

    def __init__(self, message, worst=None):
        super().__init__(message)
        self.worst = worst
