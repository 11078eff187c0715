"""The run folder on disk: atomic, locked, resumable, and never touching what is not ours.

Layout while a run is in progress (``OUT`` is the ``--out`` folder)::

    .OUT.partial/                 beside OUT; renamed to OUT when every chunk is done
        .lock                     held (fcntl.flock) by the one process writing the run
        manifest.json             status "running" or "interrupted", the plan's fingerprint
        _chunks/part-00000.json   completion marker of chunk 0, written after its part files
        flows/scenario=NAME/part-00000.parquet ...

Rules:

- A chunk's part files are written under temporary names and renamed, then its marker is
  written: a chunk with a marker is complete, one without is redone on ``--resume``.
- Only one process writes a run: the partial folder is created under a unique name, locked and
  only then renamed into place (``rename`` fails if another run got there first), and the lock
  is held until the folder is committed or left interrupted. The loser is told who holds it.
- ``--overwrite`` replaces ``OUT`` only if it is empty or an engine run folder (its
  ``manifest.json`` says ``"kind": "tradeflow-engine run"``) holding nothing the engine did not
  write (``ENGINE_ENTRIES``); anything else is refused, naming what is in the way.
- The finished folder replaces ``OUT`` only once complete; a failed run leaves ``OUT`` as it was.

The lock uses POSIX ``fcntl.flock`` (released by the kernel if the process dies, so a killed
run never leaves a stale lock).
"""

import errno
import json
import os
import re
import shutil
import uuid
from pathlib import Path

from engine._version import __version__
from engine.errors import InputError
from engine.config import TABLES
from engine.outputs.schemas import OUTPUT_SCHEMA_VERSION, RUN_KIND, write_table

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, exclusive create only
    fcntl = None

MARKERS = "_chunks"
#: What the engine writes at the top of a run folder (``engine report`` adds report.html, ``engine
#: backtest`` the backtest folder); ``--overwrite`` refuses a folder holding anything else.
ENGINE_ENTRIES = frozenset({"manifest.json", ".lock", MARKERS, "report.html", "backtest", *TABLES})
#: Temporary folders of an ``engine backtest`` that was killed (``engine.outputs.backtest.write_backtest``).
_BACKTEST_LEFTOVER = re.compile(r"^\.backtest\.[0-9a-f]{8}\.(tmp|old)$")


def environment_error(path, exc, action="write"):
    """An ``InputError`` (one line, exit code 2) for an OSError of the output folder."""
    reasons = {errno.ENOSPC: "the disk is full (no space left on device)",
               errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only",
               errno.ENOTDIR: "a part of the path is a file, not a folder",
               errno.EEXIST: "a part of the path is a file, not a folder"}
    reason = reasons.get(exc.errno, exc.strerror or str(exc))
    return InputError(path, f"cannot {action} the run folder: {reason}")


def read_manifest(folder):
    """The folder's ``manifest.json`` as a dict, or None if absent or not an engine manifest."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    return manifest if manifest.get("kind") == RUN_KIND or "engine_version" in manifest else None


class RunStore:
    """The output folder of one run, from creation (or resumption) to commit.

    Parameters
    ----------
    out : str or Path
    fingerprint : dict
        ``RunPlan.fingerprint()``; stored, and compared on resume.
    overwrite : bool
        Replace ``out`` (an engine run folder) and any interrupted run of it.
    resume : bool
        Continue the interrupted run of ``out`` if there is one (else start a new run).
    """

    def __init__(self, out, fingerprint, overwrite=False, resume=False):
        self.out = Path(out).absolute()
        self.fingerprint = fingerprint
        self.partial = self.out.parent / f".{self.out.name}.partial"
        self._lock_fd = None
        self.resumed = self.committed = False
        self._check_out(overwrite, resume)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.out.parent, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "permission denied")
            if self.partial.exists():
                self._take_existing(overwrite, resume)
            if not self.resumed:
                self._create()
        except OSError as exc:
            self.release()
            raise environment_error(self.out, exc, "create") from exc

    # ---- opening -----------------------------------------------------------------------------
    def _check_out(self, overwrite, resume):
        out = self.out
        if out.exists() and not out.is_dir():
            raise InputError(out, "exists and is not a folder; choose another --out")
        for parent in out.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(out, f"cannot create the run folder: {parent} is a file, not a folder")
                break
        if not (out.is_dir() and any(out.iterdir())):
            return
        manifest = read_manifest(out)
        if resume and manifest is not None and manifest.get("status") == "complete" and not overwrite:
            raise InputError(out, "is already a complete run; nothing to resume (--overwrite to run it again)")
        if not overwrite:
            raise InputError(out, "output folder exists and is not empty; choose another --out or pass "
                                  "--overwrite (which replaces only an engine run folder)")
        if manifest is None:
            raise InputError(out, "is not an engine run folder (no engine manifest.json), so --overwrite will "
                                  "not replace it; choose another --out")
        foreign = sorted(entry.name for entry in out.iterdir()
                         if entry.name not in ENGINE_ENTRIES and not _BACKTEST_LEFTOVER.match(entry.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise InputError(out, f"holds {shown}, which engine simulate did not write, so --overwrite will not "
                                  f"replace it; move {'it' if len(foreign) == 1 else 'them'} out of the folder or "
                                  "choose another --out")
        if Path.cwd().is_relative_to(out):
            raise InputError(out, "contains the current folder; --overwrite will not replace it")

    def _lock(self, folder):
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def _busy(self):
        try:
            pid = (self.partial / ".lock").read_text().strip()
        except OSError:
            pid = "?"
        return InputError(self.out, f"another engine run (process {pid}) is writing this run folder now; "
                                    "wait for it to finish or choose another --out")

    def _take_existing(self, overwrite, resume):
        if not self._lock(self.partial):
            raise self._busy()
        manifest = read_manifest(self.partial) or {}
        done = len(self.completed())
        if resume and not overwrite:
            try:
                self._check_resumable(manifest)
            except InputError:
                self.release()
                raise
            self.resumed = True
            for stale in self.partial.rglob(".*.tmp"):  # half-written files of unfinished chunks
                stale.unlink()
            self.write_manifest({**manifest, "status": "running", "pid": os.getpid()})
            return
        if not overwrite:
            self.release()
            raise InputError(self.out, f"an interrupted run of this folder is at {self.partial} ({done} chunk(s) "
                                       "done); add --resume to finish it, or --overwrite to start again")
        shutil.rmtree(self.partial)  # ours: an engine partial run, locked by us
        self.release()

    def _check_resumable(self, manifest):
        where = f"the interrupted run at {self.partial}"
        if manifest.get("kind") != RUN_KIND:
            raise InputError(self.out, f"{where} has no engine manifest; start again with --overwrite")
        theirs = (manifest.get("engine_version"), manifest.get("schema_version"))
        if theirs != (__version__, OUTPUT_SCHEMA_VERSION):
            raise InputError(self.out, f"{where} was written by engine {theirs[0]} (output schema {theirs[1]}); "
                                       f"this is engine {__version__} (output schema {OUTPUT_SCHEMA_VERSION}), "
                                       "and one run must not mix them: resume it with that version or start "
                                       "again with --overwrite")
        old = manifest.get("fingerprint", {})
        changed = sorted(k for k in set(old) | set(self.fingerprint) if old.get(k) != self.fingerprint.get(k))
        if changed:
            raise InputError(self.out, f"{where} was started with different settings ({', '.join(changed)}); "
                                       "resume with the same scenarios, calibration and options, or start again "
                                       "with --overwrite")

    def _create(self):
        tmp = self.out.parent / f".{self.out.name}.partial-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            self._lock(tmp)
            (tmp / MARKERS).mkdir()
            self._write_json(tmp / "manifest.json", self._header("running"))
            try:
                os.rename(tmp, self.partial)  # atomic; fails if another run created it meanwhile
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise self._busy() from exc
                raise
        except BaseException:
            self.release()
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _header(self, status):
        return {"kind": RUN_KIND, "status": status, "engine_version": __version__,
                "schema_version": OUTPUT_SCHEMA_VERSION, "pid": os.getpid(), "fingerprint": self.fingerprint}

    # ---- writing -----------------------------------------------------------------------------
    @staticmethod
    def _write_json(path, data):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def write_manifest(self, manifest):
        self._write_json(self.partial / "manifest.json", manifest)

    def completed(self):
        """``{part: marker dict}`` of the chunks already complete."""
        done = {}
        for path in sorted((self.partial / MARKERS).glob("part-*.json")):
            try:
                done[int(path.stem.removeprefix("part-"))] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return done

    def commit(self, manifest):
        """Write the final manifest and move the folder into place (replacing an engine run at OUT)."""
        shutil.rmtree(self.partial / MARKERS, ignore_errors=True)
        self.write_manifest(manifest)
        trash = None
        if self.out.exists():
            if any(self.out.iterdir()) and read_manifest(self.out) is None:
                raise InputError(self.out, "something other than an engine run appeared here during the run; "
                                           f"left in place, and the run is kept at {self.partial}")
            trash = self.out.parent / f".{self.out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.out, trash)
        os.replace(self.partial, self.out)
        self.committed = True
        (self.out / ".lock").unlink(missing_ok=True)
        self.release()
        if trash is not None:  # only once the new run is in place
            shutil.rmtree(trash, ignore_errors=True)

    def interrupt(self, reason):
        """Leave the partial run resumable, saying so in its manifest; release the lock."""
        try:
            manifest = read_manifest(self.partial) or self._header("interrupted")
            done = len(self.completed())
            self.write_manifest({**manifest, "status": "interrupted", "reason": reason, "chunks_done": done,
                                 "resume": "run the same command again with --resume"})
        except OSError:
            pass
        self.release()

    def abandon(self):
        """Delete the partial run (a failed run leaves nothing behind)."""
        shutil.rmtree(self.partial, ignore_errors=True)
        self.release()

    def release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def part_path(run_dir, table, scenario, part):
    """Path of a chunk's part file of ``table`` for ``scenario``."""
    return Path(run_dir) / table / f"scenario={scenario}" / f"part-{part:05d}.parquet"


def write_part(path, table):
    """Write a part file atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_table(tmp, table)
    os.replace(tmp, path)


def mark_done(run_dir, part, info):
    """Write chunk ``part``'s completion marker (after all its part files)."""
    RunStore._write_json(Path(run_dir) / MARKERS / f"part-{part:05d}.json", info)
