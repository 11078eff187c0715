"""Calibration data: the tables a run is calibrated to.

- ``data``: ``load_calibration`` reads and validates a calibration folder into ``CalibrationData``;
- ``tables``: reading user tables (CSV or Parquet) with errors that name the file, row and rule;
- ``builder``: ``engine calibrate``, which builds a calibration folder from raw trade and tariff data.
"""
