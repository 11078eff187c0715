"""What a run writes and what is made from it.

- ``schemas``: the output tables' Arrow schemas, written down once and carried in the files;
- ``tables``: the output tables built from model arrays;
- ``summary``: the short table printed after a run; ``export``: one table out of a run folder;
- ``report``: the HTML/PNG/SVG report; ``attribution``: which input drives a band, and its precision.
"""
