"""The one exception users see for bad input: it names the file, the field and what is allowed."""


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
