"""The faults a fault-injection pass found, each written as it happens: a papermill string where a
bool belongs, a defaulted field added with a factory, ``status`` on a read-only data root, Ctrl-C,
a full disk, a killed worker, a teacher's weights replaced by another run's, a data root that is a
file, and a finished run's leftover checkpoint. Nothing may be lost, and what the user sees is one
line that says what happened and what to do."""

from __future__ import annotations

import builtins
import dataclasses
import errno
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stingylib.experiments import MissingResultsError, ensure_results, parse_train, plan, status_frame
from stingylib.fields import Validated, non_default
from stingylib.methods import KD, Supervised
from stingylib.runner import execute
from stingylib.runs import RunConfig, RunStore

from .processes import lock_held_elsewhere

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50, lr=0.05,
            milestones=(1,), gamma=0.1, epochs=2)


def _quiet(message: str) -> None:
    pass


def _cli(*args: str, root: Path, **popen) -> subprocess.Popen:
    """``python -m stingylib ARGS`` on the data root ``root``, with its output captured."""
    env = {**os.environ, "STINGY_DATA_ROOT": str(root)}
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.Popen([sys.executable, "-m", "stingylib", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.05)


def _checkpoints(root: Path) -> list[Path]:
    return list((root / "checkpoints" / "smoke").glob("*/checkpoint.pt"))


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --- papermill's "-p train false" -----------------------------------------------------------------------


def test_train_takes_none_true_false_and_their_strings_only():
    for value, expected in ((None, None), (True, True), (False, False), ("false", False), ("False", False),
                            ("TRUE", True), (" none ", None), ("", None)):
        assert parse_train(value) is expected, value
    for bad in ("no", "0", 0, 1, "yes please", 1.0):
        with pytest.raises(ValueError, match=r"train must be None, True or False .*got"):
            parse_train(bad)


@pytest.mark.slow
def test_papermill_train_false_on_the_cpu_profile_trains_nothing(tmp_path):
    """``papermill … -p train false`` passes the string "false": it must mean False (the page stops and
    names the command), never True (hours of training)."""
    papermill = pytest.importorskip("papermill")
    from papermill.cli import _resolve_type

    assert _resolve_type("false") == "false"  # what papermill hands the notebook: a string
    root = tmp_path / "root"
    env = {**os.environ, "STINGY_DATA_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "table2.ipynb"),
                           str(tmp_path / "out.ipynb"), "-p", "profile", "cpu", "-p", "train", "false",
                           "-k", "python3", "--cwd", str(ROOT)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0 and "MissingResultsError" in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert not (root / "checkpoints").exists()  # nothing trained
    assert papermill


def test_ensure_results_with_the_string_false_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("STINGY_DATA_ROOT", str(tmp_path / "root"))
    with pytest.raises(MissingResultsError, match="python -m stingylib run table2 --profile cpu"):
        ensure_results("cpu", "table2", train="false")
    with pytest.raises(ValueError, match="train must be"):
        ensure_results("smoke", "table2", train="nein")
    assert not (tmp_path / "root" / "checkpoints").exists()


# --- a defaulted field added with a default_factory ---------------------------------------------------


def test_a_field_added_with_a_default_factory_keeps_every_identity():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Before(Validated):
        lr: float = 0.1

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class After(Validated):
        lr: float = 0.1
        milestones: tuple[int, ...] = dataclasses.field(default_factory=tuple)  # added later

    assert non_default(After(lr=0.2)) == non_default(Before(lr=0.2)) == {"lr": 0.2}
    assert non_default(After(lr=0.2, milestones=(3,))) == {"lr": 0.2, "milestones": [3]}


# --- status on a read-only data root --------------------------------------------------------------------


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder read-only: its permissions, and (as root ignores them) every write under it fails
    with EROFS, as on a read-only mount."""
    folders: list[Path] = []
    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def under(path) -> bool:
        try:
            resolved = Path(os.fsdecode(path)).resolve()
        except (TypeError, ValueError):
            return False
        return any(resolved == f or f in resolved.parents for f in folders)

    def guarded_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) and under(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if under(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *args, **kwargs)

    def guarded_builtin_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and isinstance(file, (str, os.PathLike)) and under(file):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_builtin_open(file, mode, *args, **kwargs)

    def make(folder: Path) -> None:
        folders.append(folder.resolve())
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        monkeypatch.setattr(os, "open", guarded_open)
        monkeypatch.setattr(os, "mkdir", guarded_mkdir)
        monkeypatch.setattr(builtins, "open", guarded_builtin_open)
        monkeypatch.setattr(io, "open", guarded_builtin_open)  # what pathlib's open calls

    yield make
    monkeypatch.undo()
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_status_on_a_read_only_data_root_with_lock_files(tmp_path, monkeypatch, read_only, capsys):
    from stingylib import cli

    root = tmp_path / "root"
    monkeypatch.setenv("STINGY_DATA_ROOT", str(root))
    store = RunStore.for_profile("smoke")
    runs = plan("smoke", "table2")
    execute(runs[:1], store, threads=1, log=_quiet)  # a finished run, with its lock file
    for cfg in runs[1:3]:  # and lock files of runs that never finished
        with store.lock(cfg.run_id):
            pass
    assert len(list(store.lock_path(runs[0].run_id).parent.iterdir())) >= 3
    read_only(root)
    with pytest.raises(OSError, match="Read-only"):  # the guard works: nothing can be written
        store.lock_path("x").write_text("")
    frame = status_frame("smoke", store, "table2").set_index("run_id")
    assert frame.loc[runs[0].run_id, "state"] == "done" and (frame["state"] != "running").all()
    assert cli.main(["status", "--profile", "smoke", "--target", "table2"]) == 0
    assert f"1 done, 0 corrupt, 0 running, 0 interrupted, {len(runs) - 1} missing" in capsys.readouterr().out
    assert cli.main(["table", "table2", "--profile", "smoke"]) == 0  # reading tables writes nothing either


def test_a_lock_held_by_another_process_is_seen_without_writing(tmp_path, read_only):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    run_id = "supervised-resnet18-digits-s0-0000000000"
    with lock_held_elsewhere(store, run_id):
        read_only(tmp_path / "c")
        assert store.is_locked(run_id) and store.state(run_id) == "running"
    assert not store.is_locked(run_id)


# --- one line instead of a traceback: Ctrl-C, a full disk, a killed worker ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_is_one_line_and_loses_nothing(tmp_path, jobs):
    root = tmp_path / "root"
    proc = _cli("run", "table2", "--profile", "smoke", "--jobs", jobs, root=root, start_new_session=True)
    try:
        _wait_for(lambda: _checkpoints(root), "checkpoint", proc)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert _one_line(stderr).startswith("interrupted: finished runs are kept") and "rerun the same command" in stderr
    from stingylib.experiments import plan

    # it stopped at once, mid-run: not after the runs in training ended (Ctrl-C is never held back)
    records = {p.stem for p in (root / "results" / "smoke").glob("*.json")}
    assert len(records) < len(plan("smoke", "table2"))
    assert {p.parent.name for p in _checkpoints(root)} - records, "no run was stopped mid-way"
    import torch

    for path in _checkpoints(root):  # every checkpoint left is whole
        assert torch.load(path, weights_only=True)["epochs_done"] >= 1


def test_ctrl_c_that_python_had_to_swallow_still_ends_in_130(monkeypatch, capsys):
    """Python cannot raise KeyboardInterrupt inside a finaliser (it prints "Exception ignored" and goes
    on): a command that then ends normally was still interrupted, and says so."""
    from stingylib import cli

    class Finalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # bytecodes, where the pending handler runs: inside the finaliser
                pass

    def command(args) -> int:
        Finalised()
        return 0

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv: type("Args", (), {"func": staticmethod(command)})())
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: swallowed.append(unraisable.exc_type))
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["status"]) == 130
    assert swallowed == [KeyboardInterrupt]  # it was swallowed, as described
    assert capsys.readouterr().err.startswith("interrupted: ")
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


@pytest.mark.slow
def test_a_full_disk_is_one_line(tmp_path):
    root = tmp_path / "root"

    def small_files() -> None:  # no file over 256 kB (a checkpoint is bigger): writes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    proc = _cli("run", "table2", "--profile", "smoke", root=root, preexec_fn=small_files)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    line = _one_line(stderr)
    assert line.startswith("error: ") and "free some disk space" in line and "rerun the same command" in line
    assert "file too large" in line or "is the disk full?" in line
    assert not list(root.rglob("*.tmp"))  # the half-written file was removed


def _workers(parent: int) -> list[int]:
    """The pids of ``parent``'s process-pool workers (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc")
def test_a_killed_worker_is_one_line(tmp_path):
    root = tmp_path / "root"
    proc = _cli("run", "table1", "--profile", "smoke", "--jobs", "2", root=root)
    try:
        _wait_for(lambda: _checkpoints(root) and _workers(proc.pid), "training worker", proc)
        os.kill(_workers(proc.pid)[0], signal.SIGKILL)  # as the out-of-memory killer would
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    line = _one_line(stderr)
    assert line.startswith("error: a worker process died (killed, or out of memory?) while training ")
    assert "rerun the same command to resume" in line


# --- a teacher whose weights are another run's, and no checksum to tell ----------------------------------


def test_a_teacher_without_checksum_holding_another_runs_weights_is_retrained(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    teacher = RunConfig(method=Supervised(), model="resnet18", **TINY)
    other = RunConfig(method=Supervised(), model="resnet18", seed=7, **TINY)
    execute([teacher, other], store, threads=1, log=_quiet)
    record = json.loads(store.record_path(teacher.run_id).read_text())
    del record["weights_sha256"]  # a record from before checksums: valid, but it cannot vouch for the file
    store.record_path(teacher.run_id).write_text(json.dumps(record))
    shutil.copy2(store.weights_path(other.run_id), store.weights_path(teacher.run_id))  # the wrong network

    assert not store.has_weights(teacher.run_id) and store.weights_status(teacher.run_id) == "corrupt"
    student = RunConfig(method=KD(teacher=teacher.run_id, temperature=4.0, alpha=0.9), model="shufflenetv2", **TINY)
    notes: list[str] = []
    outcomes = execute([student], store, threads=1, log=notes.append)
    assert [(o.run_id, o.status) for o in outcomes] == [(teacher.run_id, "trained"), (student.run_id, "trained")]
    assert any("moved the unreadable or mismatched weights aside" in n for n in notes)
    assert store.weights_path(teacher.run_id).with_name("final.pt.corrupt").exists()
    assert store.has_weights(teacher.run_id) and store.load_record(teacher.run_id).weights_sha256


# --- a data root that is a file -------------------------------------------------------------------------


def test_table_and_status_on_a_data_root_that_is_a_file(tmp_path):
    blocker = tmp_path / "root"
    blocker.write_text("a file")
    for args in (("table", "table1", "--profile", "smoke"), ("status", "--profile", "smoke")):
        proc = _cli(*args, root=blocker)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr
        assert _one_line(stderr) == (f"error: data root problem: {blocker} is a file, so {blocker}/results/smoke "
                                     "cannot be a folder; point STINGY_DATA_ROOT at a folder")


# --- a finished run's leftover checkpoint ---------------------------------------------------------------


def test_a_finished_runs_leftover_checkpoint_is_removed_by_the_next_run(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    cfg = RunConfig(method=Supervised(), model="shufflenetv2", **TINY)

    def killed(self, run_id):  # the process dies after writing the record, before dropping the checkpoint
        raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "discard_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        execute([cfg], store, threads=1, log=_quiet)
    monkeypatch.undo()
    assert store.is_done(cfg.run_id) and store.checkpoint_path(cfg.run_id).exists()
    assert store.state(cfg.run_id) == "done"

    notes: list[str] = []
    outcomes = execute([cfg], store, threads=1, log=notes.append)  # finished: skipped, but tidied
    assert [o.status for o in outcomes] == ["skipped"]
    assert not store.checkpoint_path(cfg.run_id).exists()
    assert notes == [f"  removed the leftover checkpoint of the finished run {cfg.run_id}"]
    assert outcomes[0].notes == (f"removed the leftover checkpoint of the finished run {cfg.run_id}",)
