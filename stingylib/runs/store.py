"""Where runs keep their results, weights and checkpoints, and the rules for touching them.

A :class:`RunStore` is two folders: ``results/`` with one JSON record per finished run (small,
committable) and ``checkpoints/`` with one folder per run (the resumable per-epoch checkpoint and
the final weights; large, never committed) plus ``checkpoints/.locks/``; and, optionally, a
read-only third: ``shipped/`` with the final weights of the runs others build on (teachers,
adversaries), committed so that a checkout adds a student without retraining its teacher.

- Weights are trusted only when their SHA-256 is the one their record holds (``weights_sha256``):
  :meth:`RunStore.weights_file` finds a run's weights (its own, else the shipped copy) and
  :meth:`RunStore.check_weights` checks them; a mismatch is a :class:`CorruptFileError` naming the
  file. A run's own weights that fail count as missing (moved aside, the run retrained); shipped
  weights that fail are an error, never silently retrained over.

- Every file is written atomically (a temporary sibling, then ``os.replace``) with the permissions
  the umask gives a new file, so an interrupted write never leaves half a file and a shared data
  root stays readable by the group.
- Records are validated whenever they are read (:func:`stingylib.runs.record.parse_record`).
- :meth:`RunStore.state` tells a run's state without trusting a file it cannot read:
  ``done``, ``corrupt``, ``running`` (another process holds its lock), ``interrupted`` (a checkpoint
  exists, nobody trains it) or ``missing``; :meth:`RunStore.has_weights` whether others can use it.
- :meth:`RunStore.lock` is the per-run lock held while a run trains: one trainer per run, across
  processes and machines that share the data root. :meth:`RunStore.is_locked` asks without
  writing anything, so ``status`` works on a read-only data root.
- :meth:`RunStore.quarantine` moves a file that cannot be trusted aside as ``<name>.corrupt``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import filelock

from ..paths import checkout_root, checkpoints_dir, results_dir, shipped_weights_dir
from .record import RecordError, RunRecord, parse_record

try:  # POSIX: probe a lock without taking it (filelock's locks are flock locks there)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: The states of a run, as :meth:`RunStore.state` tells them.
STATES = ("done", "corrupt", "running", "interrupted", "missing")

_UMASK_LOCK = threading.Lock()


def _file_mode() -> int:
    """The permissions a new regular file gets under the current umask (``0o666 & ~umask``)."""
    with _UMASK_LOCK:  # reading the umask means setting it; keep that atomic within this process
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = False) -> None:
    """Write a file through ``write(handle)`` into a temporary sibling, then rename it into place.

    The file gets the umask's permissions (not ``mkstemp``'s 0600). Temporary files are named
    ``.<name>.<random>.tmp``; one left by a killed process is removed by :meth:`RunStore.clean_temporary`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda f: json.dump(data, f, indent=1, sort_keys=False))


class RunBusy(RuntimeError):
    """Another process holds the run's lock (it is training that run)."""


class CorruptFileError(RuntimeError):
    """A checkpoint or weights file that cannot be loaded or trusted; the message names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


#: (path, size, mtime_ns) → SHA-256 hex: a file is hashed once per process while it is unchanged.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes (cached while the file's size and mtime are unchanged)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@dataclass(frozen=True)
class RunStore:
    """Result records, weights, checkpoints and locks of a set of runs (usually one profile's)."""

    results: Path
    checkpoints: Path
    shipped: Path | None = None  # read-only shipped weights, ``<run_id>.pt`` (None: none)
    profile: str | None = None  # the profile whose runs these are (for the commands a message suggests)

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", Path(self.results))
        object.__setattr__(self, "checkpoints", Path(self.checkpoints))
        if self.shipped is not None:
            object.__setattr__(self, "shipped", Path(self.shipped))

    @classmethod
    def for_profile(cls, profile: str) -> "RunStore":
        """The data root's folders for ``profile`` (with its shipped weights)."""
        return cls(results_dir(profile), checkpoints_dir(profile), shipped_weights_dir(profile), profile=profile)

    # --- paths ----------------------------------------------------------------------------------

    def record_path(self, run_id: str) -> Path:
        return self.results / f"{run_id}.json"

    def run_dir(self, run_id: str) -> Path:
        return self.checkpoints / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        """The resumable per-epoch checkpoint (modules, optimisers, RNG, config, history)."""
        return self.run_dir(run_id) / "checkpoint.pt"

    def weights_path(self, run_id: str) -> Path:
        """Where a finished run writes its final weights, with the config that built them."""
        return self.run_dir(run_id) / "final.pt"

    def shipped_path(self, run_id: str) -> Path | None:
        """Where the run's shipped weights would be (None: this store ships none)."""
        return None if self.shipped is None else self.shipped / f"{run_id}.pt"

    def lock_path(self, run_id: str) -> Path:
        return self.checkpoints / ".locks" / f"{run_id}.lock"

    # --- records --------------------------------------------------------------------------------

    def load_record(self, run_id: str) -> RunRecord:
        """The validated record of ``run_id``.

        Raises:
            FileNotFoundError: no record (the run is not finished).
            RecordError: the file is not a valid record of this run (the message names the file).
        """
        path = self.record_path(run_id)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"no record of run {run_id!r} at {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise RecordError(path, f"unreadable: {err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecordError(path, f"not valid JSON ({'empty file' if not text.strip() else err})") from None
        return parse_record(data, path, run_id)

    def write_record(self, record: RunRecord) -> Path:
        """Write ``record`` atomically under its run id (after checking it reads back as valid)."""
        path = self.record_path(record.run_id)
        data = record.to_json()
        parse_record(json.loads(json.dumps(data)), path)  # never write what could not be read back
        atomic_write_json(path, data)
        return path

    def try_record(self, run_id: str) -> RunRecord | None:
        """The record, or None when missing or invalid (use :meth:`state` to tell which)."""
        try:
            return self.load_record(run_id)
        except (FileNotFoundError, RecordError):
            return None

    # --- states ---------------------------------------------------------------------------------

    def is_done(self, run_id: str) -> bool:
        """A valid record exists."""
        return self.try_record(run_id) is not None

    def weights_file(self, run_id: str) -> Path | None:
        """The weights students of ``run_id`` load: its own final weights when they exist, else its
        shipped weights when they exist, else None."""
        for path in (self.weights_path(run_id), self.shipped_path(run_id)):
            if path is not None and path.exists():
                return path
        return None

    def check_weights(self, run_id: str, path: Path) -> None:
        """Check that ``path`` holds the finished run's weights: a whole file whose SHA-256 is the one
        its record holds. A run's own weights whose record has no checksum (written before records had
        one) are checked for wholeness only; shipped weights always need the checksum.

        Raises:
            CorruptFileError: naming the file and the problem (and, for shipped weights, the remedy).
        """
        shipped = path == self.shipped_path(run_id)
        remedy = self._shipped_remedy(run_id, path) if shipped else ""
        if not (path.is_file() and zipfile.is_zipfile(path)):  # torch's zip directory is at the end
            raise CorruptFileError(path, f"not a whole weights file (truncated, or a Git LFS pointer){remedy}")
        record = self.try_record(run_id)
        expected = None if record is None else record.weights_sha256
        if expected is None:
            if shipped:
                raise CorruptFileError(path, f"shipped weights need a record with weights_sha256 to be checked "
                                             f"against; {self.record_path(run_id)} has none{remedy}")
            owner = _weights_owner(path)  # no checksum to compare with: at least the run they belong to
            if owner != run_id:
                raise CorruptFileError(path, f"holds the weights of run {owner!r}, not {run_id!r}")
            return
        actual = sha256_file(path)
        if actual != expected:
            raise CorruptFileError(path, f"sha256 {actual} does not match weights_sha256 {expected} of its record "
                                         f"{self.record_path(run_id)}: these are not the run's weights{remedy}")

    def _shipped_remedy(self, run_id: str, path: Path) -> str:
        """What to do about shipped weights that fail their check: restore them (from git, when they
        are in a checkout) or retrain the run."""
        profile = f" --profile {self.profile}" if self.profile else ""
        retrain = f"retrain the run (python -m stingylib run all{profile} --only {run_id} --force)"
        root = checkout_root()
        in_git = root is not None and (root / ".git").exists() and Path(path).resolve().is_relative_to(root)
        if in_git:
            return f"; restore the committed file (git checkout -- {path}) or {retrain}"
        return f"; reinstall the package that shipped it or {retrain}"

    def _checked_weights(self, run_id: str) -> tuple[Path | None, CorruptFileError | None]:
        """The run's weights file (:meth:`weights_file`) and why it fails :meth:`check_weights`, if it does."""
        path = self.weights_file(run_id)
        if path is None:
            return None, None
        try:
            self.check_weights(run_id, path)
        except CorruptFileError as err:
            return path, err
        return path, None

    def has_weights(self, run_id: str) -> bool:
        """The run's weights (:meth:`weights_file`) exist and pass :meth:`check_weights` (needed by
        runs that depend on this one). Its own weights that fail count as missing.

        Raises:
            CorruptFileError: the shipped weights fail the check (a committed file changed: restore it
                or retrain the run; it is never retrained over silently).
        """
        path, problem = self._checked_weights(run_id)
        if problem is not None and path == self.shipped_path(run_id):
            raise problem
        return path is not None and problem is None

    def weights_status(self, run_id: str) -> str:
        """For listings: ``yes`` (its own weights), ``shipped``, ``no`` or ``corrupt`` (failing
        :meth:`check_weights`)."""
        path, problem = self._checked_weights(run_id)
        if path is None:
            return "no"
        if problem is not None:
            return "corrupt"
        return "shipped" if path == self.shipped_path(run_id) else "yes"

    def ship(self, run_id: str) -> Path:
        """Copy the finished run's own weights to its shipped place (atomically), after checking them
        against its record; return the shipped file.

        Raises:
            ValueError: the store ships no weights, or the run has no own weights or no record with a checksum.
            CorruptFileError: its weights do not match its record.
        """
        target = self.shipped_path(run_id)
        if target is None:
            raise ValueError("this store has no folder of shipped weights (RunStore.shipped is None)")
        source = self.weights_path(run_id)
        if not source.is_file():
            raise ValueError(f"run {run_id!r} has no final weights at {source} to ship; train it first")
        record = self.try_record(run_id)
        if record is None or record.weights_sha256 is None:
            raise ValueError(f"run {run_id!r} has no valid record with weights_sha256 at {self.record_path(run_id)}: "
                             "(re)train it before shipping its weights")
        self.check_weights(run_id, source)
        blob = source.read_bytes()
        atomic_write(target, lambda f: f.write(blob), binary=True)
        self.check_weights(run_id, target)
        return target

    def is_usable(self, run_id: str) -> bool:
        """Done, and its weights exist: other runs can build on it."""
        return self.has_weights(run_id) and self.is_done(run_id)

    def state(self, run_id: str) -> str:
        """One of :data:`STATES`."""
        if self.record_path(run_id).exists():
            return "done" if self.is_done(run_id) else "corrupt"
        if self.is_locked(run_id):
            return "running"
        return "interrupted" if self.checkpoint_path(run_id).exists() else "missing"

    # --- locks and housekeeping -------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, run_id: str, *, wait: bool = True) -> Iterator[None]:
        """Hold ``run_id``'s lock (an OS file lock: released when the process dies, however it dies).

        Raises:
            RunBusy: ``wait`` is False and another process holds it.
        """
        path = self.lock_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(path, mode=_file_mode())
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except filelock.Timeout:
            raise RunBusy(f"run {run_id} is being trained by another process (lock {path})") from None
        try:
            yield
        finally:
            lock.release()

    def is_locked(self, run_id: str) -> bool:
        """Whether a process holds ``run_id``'s lock right now. Asks without creating or writing any
        file (a shared lock tried on a read-only handle), so it works on a read-only data root; a
        lock file it cannot read counts as not held."""
        path = self.lock_path(run_id)
        if fcntl is None:  # pragma: no cover - Windows: only taking the lock tells
            if not path.exists():
                return False
            try:
                with self.lock(run_id, wait=False):
                    return False
            except RunBusy:
                return True
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # no lock file (never trained here), or unreadable
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            return err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def discard_checkpoint(self, run_id: str) -> None:
        """Remove the run's resumable checkpoint (its final weights and record replace it)."""
        self.checkpoint_path(run_id).unlink(missing_ok=True)

    def discard_leftover_checkpoint(self, run_id: str) -> str | None:
        """Remove the checkpoint of a finished run (valid record), left by a kill between its record
        and the checkpoint's removal; call under the run's lock. Returns a note saying so, or None."""
        if not self.checkpoint_path(run_id).exists() or not self.is_done(run_id):
            return None
        self.discard_checkpoint(run_id)
        return f"removed the leftover checkpoint of the finished run {run_id}"

    def quarantine(self, path: Path) -> Path:
        """Move an untrustworthy file aside as ``<name>.corrupt`` (numbered if one exists); return it."""
        target = path.with_name(path.name + ".corrupt")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.corrupt{n}")
        os.replace(path, target)
        return target

    def clean_temporary(self, run_id: str) -> list[Path]:
        """Remove the temporary files a killed writer left for ``run_id`` (call under its lock)."""
        stale = list(self.results.glob(f".{run_id}.json.*.tmp")) if self.results.is_dir() else []
        run_dir = self.run_dir(run_id)
        if run_dir.is_dir():
            stale += list(run_dir.glob(".*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def check_readable(self) -> None:
        """Check that the results folder can be read as a folder (it need not exist yet).

        Raises:
            ValueError: naming the file in the way of the data root, or the unreadable folder.
        """
        blocker = next((p for p in [self.results, *self.results.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise ValueError(f"data root problem: {blocker} is a file, so {self.results} cannot be a folder; "
                             "point STINGY_DATA_ROOT at a folder")
        if self.results.is_dir() and not os.access(self.results, os.R_OK | os.X_OK):
            raise ValueError(f"data root problem: cannot read {self.results}; point STINGY_DATA_ROOT at a readable "
                             "folder")

    def check_writable(self) -> None:
        """Make both folders and prove they take a file, before any training starts.

        Raises:
            ValueError: naming the folder (or the file in its way) and why.
        """
        for folder in (self.results, self.checkpoints):
            blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
            if blocker is not None:
                raise ValueError(f"data root problem: {blocker} is a file, so {folder} cannot be a folder; "
                                 "point STINGY_DATA_ROOT at a folder")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                    pass
            except OSError as err:
                raise ValueError(f"data root problem: cannot write in {folder} ({err.strerror or err}); "
                                 "point STINGY_DATA_ROOT at a writable folder") from None


#: (path, size, mtime_ns) → the run id a weights file says it belongs to.
_OWNERS: dict[tuple[str, int, int], str | None] = {}


def _weights_owner(path: Path) -> str | None:
    """The run id of the config saved in a weights file (None when it holds none that rebuilds).
    Read once per process while the file is unchanged."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _OWNERS:
        import torch

        from .config import RunConfig

        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            _OWNERS[key] = RunConfig.from_dict(payload["config"]).run_id
        except Exception:  # noqa: BLE001 - any unreadable content means: not a run's weights
            _OWNERS[key] = None
    return _OWNERS[key]


def records(results: Path | str) -> tuple[list[RunRecord], list[RecordError]]:
    """Every valid record in a results folder, and the errors of the files that are not valid."""
    good, bad = [], []
    folder = Path(results)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            good.append(parse_record(json.loads(path.read_text()), path))
        except json.JSONDecodeError as err:
            bad.append(RecordError(path, f"not valid JSON ({err})"))
        except RecordError as err:
            bad.append(err)
    return good, bad
