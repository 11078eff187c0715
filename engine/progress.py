"""Progress for people who wait: a line while kernels compile, a bar on a terminal, and periodic
ETA lines when output goes to a log file (batch jobs)."""

import os
import time

import click

from engine.devices import kernels_cached

#: Seconds between ETA lines when the output is not a terminal (``ENGINE_PROGRESS_EVERY`` overrides).
LOG_EVERY_S = 10.0


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class CliProgress:
    """Progress of ``engine.simulate`` on a stream: ``progress=CliProgress(sys.stderr)``.

    ``simulate`` calls ``start(total, already)`` once the inputs are checked (so an input error
    prints alone) and the instance after each draw.
    """

    def __init__(self, stream, every=None):
        self.stream = stream
        self.every = float(os.environ.get("ENGINE_PROGRESS_EVERY", every or LOG_EVERY_S))
        self.bar = None
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.started = self.last = None
        self.already = 0

    def start(self, total, already=0):
        self.started = self.last = time.monotonic()
        self.already = already
        if already:
            click.echo(f"Resuming: {already} of {total} draws already done", file=self.stream)
        if not kernels_cached():
            click.echo("Compiling the kernels on first use (about a minute; cached for later runs)...",
                       file=self.stream)
        if self.tty:
            self.bar = click.progressbar(length=total, label="Simulating draws", file=self.stream,
                                         show_eta=True, show_pos=True)
            self.bar.__enter__()
            self.bar.update(already)

    def __call__(self, done, total):
        if self.bar is not None:
            self.bar.update(done - self.bar.pos)
            return
        now = time.monotonic()
        if self.started is None:
            self.started = self.last = now
        if now - self.last < self.every and done < total:
            return
        self.last = now
        elapsed = now - self.started
        rate = (done - self.already) / elapsed if elapsed > 0 else 0.0
        eta = _clock((total - done) / rate) if rate > 0 else "?"
        click.echo(f"draws {done}/{total} ({done / total:.0%}), elapsed {_clock(elapsed)}, ETA {eta}",
                   file=self.stream)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
