"""``engine report``: ``data`` reads the numbers, ``charts`` draws them, ``page`` writes the page."""
