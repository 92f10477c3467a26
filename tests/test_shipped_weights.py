"""Weights vouched for by their records, and the weights a checkout ships (stingylib.runs.store).

Every finished run's record holds the SHA-256 of its weights file; loading checks it. A store may
ship the weights of the runs others build on (read-only, committed under ``data/weights/<profile>``):
``run`` uses them instead of retraining, and a shipped file that does not match its record is an
error naming the file. The last tests check the cpu profile's committed teachers themselves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stingylib.checkpoints import load_network, load_run
from stingylib.data import DATASETS, normalize
from stingylib.experiments import plan
from stingylib.fastpath import memory_format, precision_context
from stingylib.methods import KD, Supervised
from stingylib.models import FoldedCopy
from stingylib.runner import execute
from stingylib.runs import CorruptFileError, RecordError, RunConfig, RunStore, parse_record

ROOT = Path(__file__).resolve().parents[1]
CPU_RESULTS, CPU_WEIGHTS = ROOT / "data" / "results" / "cpu", ROOT / "data" / "weights" / "cpu"
TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50, lr=0.05,
            milestones=(1,), gamma=0.1, epochs=2)


def _quiet(msg: str) -> None:
    pass


def _student(teacher_id: str, seed: int = 0, **common) -> RunConfig:
    return RunConfig(method=KD(teacher=teacher_id, transform="stingy_sparse", keep=2, temperature=4.0, alpha=0.9),
                     model="shufflenetv2", seed=seed, **(common or TINY))


@pytest.fixture(scope="module")
def shipped_teacher(tmp_path_factory):
    """A tiny teacher trained once, and a store that has only its record and its shipped weights
    (what a fresh clone has: no checkpoints folder)."""
    root = tmp_path_factory.mktemp("trained")
    trained = RunStore(root / "results", root / "checkpoints", root / "weights")
    teacher = RunConfig(method=Supervised(), model="resnet18", **TINY)
    execute([teacher], trained, threads=1, log=_quiet)
    shipped = trained.ship(teacher.run_id)
    return teacher, trained, shipped


def _fresh_clone(tmp_path: Path, trained: RunStore) -> RunStore:
    clone = RunStore(tmp_path / "results", tmp_path / "checkpoints", tmp_path / "weights")
    shutil.copytree(trained.results, clone.results)
    shutil.copytree(trained.shipped, clone.shipped)
    return clone


def test_a_record_holds_the_sha256_of_its_weights(shipped_teacher):
    teacher, trained, shipped = shipped_teacher
    record = trained.load_record(teacher.run_id)
    digest = hashlib.sha256(trained.weights_path(teacher.run_id).read_bytes()).hexdigest()
    assert record.weights_sha256 == digest
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == digest  # shipped as trained
    assert json.loads(trained.record_path(teacher.run_id).read_text())["weights_sha256"] == digest


def test_a_malformed_checksum_is_an_invalid_record(shipped_teacher, tmp_path):
    teacher, trained, _ = shipped_teacher
    data = json.loads(trained.record_path(teacher.run_id).read_text())
    for bad in ("abc", "G" * 64, 12):
        with pytest.raises(RecordError, match="weights_sha256 must be 64 lowercase hex digits"):
            parse_record({**data, "weights_sha256": bad}, trained.record_path(teacher.run_id))


def test_a_clone_uses_the_shipped_weights_and_trains_only_the_new_student(shipped_teacher, tmp_path):
    teacher, trained, _ = shipped_teacher
    clone = _fresh_clone(tmp_path, trained)
    assert clone.weights_status(teacher.run_id) == "shipped" and clone.is_usable(teacher.run_id)
    record_before = clone.record_path(teacher.run_id).read_bytes()
    student = _student(teacher.run_id)
    outcomes = execute([student], clone, threads=1, log=_quiet)
    assert [(o.run_id, o.status) for o in outcomes] == [(student.run_id, "trained")]
    assert not clone.run_dir(teacher.run_id).exists()  # nothing trained, nothing written for the teacher
    assert clone.record_path(teacher.run_id).read_bytes() == record_before
    assert clone.load_record(student.run_id).teacher_accuracy is not None
    # the same student trained beside the teacher's own weights is the same student
    beside = execute([student], trained, threads=1, log=_quiet)
    assert [o.status for o in beside] == ["trained"]
    assert clone.load_record(student.run_id).history[-1].test_accuracy == \
        trained.load_record(student.run_id).history[-1].test_accuracy


def test_tampered_shipped_weights_are_an_error_naming_the_file(shipped_teacher, tmp_path):
    teacher, trained, _ = shipped_teacher
    clone = _fresh_clone(tmp_path, trained)
    path = clone.shipped_path(teacher.run_id)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # a changed weight: still a whole zip archive
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptFileError, match="does not match weights_sha256") as err:
        load_network(clone, teacher.run_id)
    # outside a git checkout the remedy is not `git checkout`, and a store of no profile names none
    assert str(path) in str(err.value) and "git checkout" not in str(err.value) and "reinstall" in str(err.value)
    assert "--profile" not in str(err.value) and "--only " + teacher.run_id in str(err.value)
    with pytest.raises(CorruptFileError, match=str(path)):  # planning a new student stops before training
        execute([_student(teacher.run_id, seed=5)], clone, threads=1, log=_quiet)
    assert clone.weights_status(teacher.run_id) == "corrupt"
    assert path.read_bytes() == bytes(blob)  # a committed file is never moved or retrained over


def test_the_command_line_names_the_mismatched_file(shipped_teacher, tmp_path):
    """`run` with a tampered teacher: one line on stderr naming the file, exit 1 (the cpu profile's
    committed store is copied into a data root of its own)."""
    teacher_id = "supervised-resnet18-w0.125-fashion-mnist-s0-f272658028"
    root = tmp_path / "root"
    shutil.copytree(CPU_RESULTS, root / "results" / "cpu")
    (root / "weights" / "cpu").mkdir(parents=True)
    target = root / "weights" / "cpu" / f"{teacher_id}.pt"
    shutil.copy2(CPU_WEIGHTS / f"{teacher_id}.pt", target)
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    student = next(c for c in plan("cpu", "figure") if teacher_id in c.dependencies())
    (root / "results" / "cpu" / f"{student.run_id}.json").unlink()  # a student to make
    proc = subprocess.run([sys.executable, "-m", "stingylib", "run", "figure", "--profile", "cpu", "--only",
                           student.run_id], capture_output=True, text=True, timeout=300,
                          env={"STINGY_DATA_ROOT": str(root), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {target}: sha256 ") and "does not match" in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    # the remedy names the profile (never a literal "<profile>") and, outside a checkout, no `git checkout`
    assert f"run all --profile cpu --only {teacher_id} --force" in proc.stderr and "<profile>" not in proc.stderr
    assert "git checkout" not in proc.stderr
    assert not (root / "checkpoints").exists()  # nothing trained


def test_shipped_weights_in_the_checkout_are_restored_with_git(tmp_path):
    """The committed weights, checked against a record that vouches for other bytes: the remedy is to
    restore the committed file with git (it is in this checkout) or retrain with the profile named."""
    teacher_id = "supervised-resnet18-w0.125-fashion-mnist-s0-f272658028"
    data = json.loads((CPU_RESULTS / f"{teacher_id}.json").read_text())
    data["weights_sha256"] = "0" * 64
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints", CPU_WEIGHTS, profile="cpu")
    store.results.mkdir(parents=True)
    store.record_path(teacher_id).write_text(json.dumps(data))
    with pytest.raises(CorruptFileError) as err:
        store.check_weights(teacher_id, CPU_WEIGHTS / f"{teacher_id}.pt")
    if (ROOT / ".git").exists():
        assert f"git checkout -- {CPU_WEIGHTS / teacher_id}.pt" in str(err.value)
    assert f"python -m stingylib run all --profile cpu --only {teacher_id} --force" in str(err.value)


def test_own_weights_that_do_not_match_are_moved_aside_and_retrained(shipped_teacher, tmp_path):
    teacher, trained, _ = shipped_teacher
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")  # no shipped weights
    shutil.copytree(trained.results, store.results)
    weights = store.weights_path(teacher.run_id)
    weights.parent.mkdir(parents=True)
    blob = bytearray(trained.weights_path(teacher.run_id).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    weights.write_bytes(bytes(blob))
    assert not store.has_weights(teacher.run_id) and store.weights_status(teacher.run_id) == "corrupt"
    notes = []
    outcomes = execute([_student(teacher.run_id, seed=3)], store, threads=1, log=notes.append)
    assert [o.status for o in outcomes] == ["trained", "trained"]
    assert any("moved the unreadable or mismatched weights aside" in n for n in notes)
    assert store.has_weights(teacher.run_id)


def test_shipping_needs_weights_that_match_a_record(shipped_teacher, tmp_path):
    teacher, trained, _ = shipped_teacher
    with pytest.raises(ValueError, match="no folder of shipped weights"):
        RunStore(tmp_path / "r", tmp_path / "c").ship(teacher.run_id)
    with pytest.raises(ValueError, match="no final weights"):
        RunStore(trained.results, tmp_path / "c", tmp_path / "w").ship(teacher.run_id)
    legacy = RunStore(tmp_path / "results", trained.checkpoints, tmp_path / "weights")
    legacy.results.mkdir()
    data = json.loads(trained.record_path(teacher.run_id).read_text())
    del data["weights_sha256"]  # a record written before records had checksums
    legacy.record_path(teacher.run_id).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="no valid record with weights_sha256"):
        legacy.ship(teacher.run_id)
    legacy.shipped.mkdir()
    shutil.copy2(trained.weights_path(teacher.run_id), legacy.shipped_path(teacher.run_id))
    with pytest.raises(CorruptFileError, match="shipped weights need a record with weights_sha256"):
        load_run(RunStore(legacy.results, tmp_path / "none", legacy.shipped), teacher.run_id)


# --- the cpu profile's committed teachers -------------------------------------------------------------------


def _cpu_store(tmp_path: Path) -> RunStore:
    """The checkout's committed cpu records and shipped weights; checkpoints in a scratch folder."""
    return RunStore(CPU_RESULTS, tmp_path / "checkpoints", CPU_WEIGHTS)


def _cpu_needed() -> list[str]:
    return sorted({d for cfg in plan("cpu", "all") for d in cfg.dependencies()})


def test_the_cpu_profile_ships_every_teacher_and_adversary(tmp_path):
    store = _cpu_store(tmp_path)
    needed = _cpu_needed()
    assert len(needed) == 8  # 4 normal teachers (the adversaries too), 4 nasty teachers
    assert {p.stem for p in CPU_WEIGHTS.glob("*.pt")} == set(needed)
    for run_id in needed:
        assert store.weights_status(run_id) == "shipped", run_id
    total = sum(p.stat().st_size for p in CPU_WEIGHTS.glob("*.pt"))
    assert total < 20e6, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize("run_id", _cpu_needed())
def test_each_shipped_network_gives_its_records_sample_logits(run_id, tmp_path):
    """The weights are those behind the record: they reproduce the logits the record kept for its
    sample test images (the images are in the record too, so no dataset is needed)."""
    store = _cpu_store(tmp_path)
    record = store.load_record(run_id)
    network = load_network(store, run_id)
    cfg, cpu = record.config, torch.device("cpu")
    x = normalize(record.sample_images.tensor(), DATASETS[cfg.dataset])  # (8, 1, 28, 28)
    fmt = memory_format(cfg.model, cfg.precision, cpu, "infer")
    folded = FoldedCopy(network, fmt).refresh()  # as the engine evaluates: a BatchNorm-folded copy
    with torch.inference_mode(), precision_context(cpu, cfg.precision):
        logits = folded(x.contiguous(memory_format=fmt)).float()  # (8, K)
    expected = torch.tensor(record.sample_logits)
    assert torch.equal(logits.argmax(1), expected.argmax(1))
    # bf16 arithmetic rounds differently on CPUs with and without native bf16 (the records were made on
    # one with it): up to 0.27 % of the largest logit here, so bf16 runs are held to 1 % (about one bf16
    # step at that logit), fp32 ones to 0.01 %. Another network's logits differ by tens of percent.
    tolerance = 1e-2 if cfg.precision == "bf16" else 1e-4
    assert torch.allclose(logits, expected, rtol=0, atol=tolerance * expected.abs().max().item()), \
        (logits - expected).abs().max()


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_a_fresh_clone_adds_a_student_to_a_committed_teacher_and_trains_nothing_else(tmp_path, monkeypatch):
    """A new student of the cpu ResNet-18 teacher, in a copy of what a clone has (records and shipped
    weights; no checkpoints): only the student trains. Its images are synthetic Fashion-MNIST files
    (the test needs no download); the teacher is the committed one."""
    teacher_id = "supervised-resnet18-w0.125-fashion-mnist-s0-f272658028"
    raw = tmp_path / "root" / "datasets" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, per_class in (("train", 12), ("t10k", 4)):
        labels = np.repeat(np.arange(10), per_class)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (len(labels), 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    monkeypatch.setenv("STINGY_DATA_ROOT", str(tmp_path / "root"))
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints", CPU_WEIGHTS)
    store.results.mkdir()
    shutil.copy2(CPU_RESULTS / f"{teacher_id}.json", store.results)
    weights_before = (CPU_WEIGHTS / f"{teacher_id}.pt").read_bytes()
    profile_student = next(c for c in plan("cpu", "table1") if c.dependencies() == (teacher_id,))
    student = profile_student.replace(seed=41, epochs=1, milestones=(), train_per_class=8, val_per_class=2)
    outcomes = execute([student], store, threads=1, log=_quiet)
    assert [(o.run_id, o.status) for o in outcomes] == [(student.run_id, "trained")]
    assert sorted(p.name for p in store.checkpoints.iterdir() if not p.name.startswith(".")) == [student.run_id]
    assert (CPU_WEIGHTS / f"{teacher_id}.pt").read_bytes() == weights_before
    assert store.load_record(student.run_id).teacher_accuracy is not None
