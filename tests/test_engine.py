"""The training engine end to end on tiny digits runs (stingylib.engine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stingylib.engine import CorruptFileError, fit, load_network, train_run
from stingylib.methods import DAFL, KD, Nasty, Supervised
from stingylib.runs import RunConfig, RunStore, load_runs
from stingylib.training import learning_rate

from .processes import lock_held_elsewhere

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50,
            lr=0.05, milestones=(1,), gamma=0.1)
TIMING = {"images_per_s", "seconds"}


def strip_timing(history) -> list[dict]:
    """Each epoch's metrics (:class:`~stingylib.runs.EpochMetrics`) as a flat dict without its timings."""
    return [{k: v for k, v in h.to_json().items() if k not in TIMING} for h in history]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    root = tmp_path_factory.mktemp("runs")
    return RunStore(root / "results", root / "checkpoints")


@pytest.fixture(scope="module")
def teacher(store) -> RunConfig:
    cfg = RunConfig(method=Supervised(), model="resnet18", epochs=2, **TINY)
    fit(cfg, store)
    return cfg


def test_supervised_run_writes_record_weights_and_no_checkpoint(store, teacher):
    record = store.load_record(teacher.run_id)
    assert record.config == teacher and record.run_id == teacher.run_id
    assert [h.epoch for h in record.history] == [1, 2]
    assert record.final_accuracy == record.history[-1].test_accuracy
    assert record.best_accuracy == max(h.test_accuracy for h in record.history)
    assert 0 <= record.final_accuracy <= 100
    assert record.history[0].lr == 0.05 and record.history[1].lr == pytest.approx(0.005)
    assert set(record.history[0].train) == {"total", "ce"} and record.history[0].images_per_s > 0
    assert record.provenance["versions"]["torch"] == torch.__version__ and record.provenance["device"] == "cpu"
    assert len(record.sample_logits) == 8 and len(record.sample_logits[0]) == 10
    assert record.sample_images.tensor().shape == (8, 1, 8, 8)  # the figures need no dataset
    assert store.weights_path(teacher.run_id).exists()
    assert not store.checkpoint_path(teacher.run_id).exists()
    # the saved weights rebuild the network that scored that accuracy
    net = load_network(store, teacher.run_id)
    assert not net.training


@pytest.mark.parametrize("transform,keep", [("normal", None), ("stingy_sparse", 2), ("stingy_smooth", 2),
                                            ("reversed", None)])
def test_kd_from_every_teacher_view(store, teacher, transform, keep):
    kd = KD(teacher=teacher.run_id, transform=transform, keep=keep, temperature=4.0, alpha=0.9)
    record = fit(RunConfig(method=kd, model="shufflenetv2", epochs=1, **TINY), store)
    # Every view keeps the teacher's argmax, so every transformed teacher is exactly as accurate.
    assert record.teacher_accuracy == store.load_record(teacher.run_id).final_accuracy
    assert set(record.history[0].train) == {"total", "kd", "ce"}
    assert all(torch.isfinite(torch.tensor(h.train["total"])) for h in record.history)


def test_nasty_run(store, teacher):
    cfg = RunConfig(method=Nasty(adversary=teacher.run_id, temperature=4.0, omega=0.04), model="resnet18",
                    epochs=1, **TINY)
    train = fit(cfg, store).history[0].train
    assert train["adversarial"] > 0
    assert train["total"] == pytest.approx(train["ce"] - train["adversarial"])


def test_dafl_run_with_a_stingy_teacher(store, teacher):
    dafl = DAFL(teacher=teacher.run_id, transform="stingy_sparse", keep=2, latent_dim=32, iterations_per_epoch=3,
                generator_lr=0.02, one_hot=0.05, info_entropy=5.0, activation=0.01)
    record = fit(RunConfig(method=dafl, model="resnet18", epochs=1, **TINY), store)
    train = record.history[0].train
    assert all(torch.isfinite(torch.tensor(v)) for v in train.values())
    assert {"kd", "generator_info_entropy", "generator_one_hot"} <= set(train)


def test_missing_teacher_weights_raise(store):
    cfg = RunConfig(method=KD(teacher="no-such-run", temperature=4.0, alpha=0.9), model="resnet18", epochs=1,
                    **TINY)
    with pytest.raises(FileNotFoundError, match="no finished weights for run 'no-such-run'"):
        fit(cfg, store)


def test_same_config_same_numbers(tmp_path, teacher, store):
    cfg = RunConfig(method=Supervised(), model="mobilenetv2", epochs=2, **TINY)
    a = fit(cfg, RunStore(tmp_path / "a", tmp_path / "ca"))
    b = fit(cfg, RunStore(tmp_path / "b", tmp_path / "cb"))
    assert strip_timing(a.history) == strip_timing(b.history)
    assert a.sample_logits == b.sample_logits


#: A process that trains one run from its JSON config (argv: config, results folder, checkpoints folder).
TRAIN_ONE = ("import json, sys; from pathlib import Path; import torch; torch.set_num_threads(1); "
             "from stingylib.engine import train_run; from stingylib.runs import RunConfig, RunStore; "
             "cfg = RunConfig.from_dict(json.loads(Path(sys.argv[1]).read_text())); "
             "train_run(cfg, RunStore(Path(sys.argv[2]), Path(sys.argv[3])), device='cpu')")


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    cfg = RunConfig(method=Supervised(), model="resnet18", epochs=6, **{**TINY, "milestones": (3,)})
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    killed = RunStore(tmp_path / "k_results", tmp_path / "k_ckpt")
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_ONE, str(tmp_path / "cfg.json"), str(killed.results),
                             str(killed.checkpoints)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not killed.checkpoint_path(cfg.run_id).exists():  # first epoch checkpointed: kill part-way
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the subprocess wrote no checkpoint in 120 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not killed.is_done(cfg.run_id), "the run finished before it could be killed"
    epochs_done = torch.load(killed.checkpoint_path(cfg.run_id), weights_only=True)["epochs_done"]
    assert 1 <= epochs_done < cfg.epochs
    # nothing half-written in place: the checkpoint loaded above; a kill in the middle of writing the
    # next one can leave only its temporary file, which the store recognises as stale and removes
    leftovers = set(killed.checkpoints.rglob("*.tmp"))
    assert set(killed.clean_temporary(cfg.run_id)) == leftovers
    assert not list(killed.checkpoints.rglob("*.tmp"))

    resumed = fit(cfg, killed)
    fresh = fit(cfg, RunStore(tmp_path / "f_results", tmp_path / "f_ckpt"))
    assert strip_timing(resumed.history) == strip_timing(fresh.history)
    assert resumed.final_accuracy == fresh.final_accuracy
    a = torch.load(killed.weights_path(cfg.run_id), weights_only=True)["state_dict"]
    b = torch.load(RunStore(tmp_path / "f_results", tmp_path / "f_ckpt").weights_path(cfg.run_id),
                   weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_load_runs_returns_one_row_per_record(store, teacher):
    frame = load_runs(store.results)
    assert teacher.run_id in set(frame["run_id"])
    assert {"method", "model", "final_accuracy", "best_accuracy", "teacher_accuracy"} <= set(frame.columns)
    assert len(frame) == len(list(Path(store.results).glob("*.json")))


class _FirstRowsRight(torch.nn.Module):
    """Predicts the true label for the first ``k`` test images and a wrong one after."""

    def __init__(self, labels: torch.Tensor, k: int) -> None:
        super().__init__()
        self.labels, self.k, self.seen = labels, k, 0

    def forward(self, x):
        y = self.labels[self.seen : self.seen + x.shape[0]]
        right = torch.arange(self.seen, self.seen + x.shape[0]) < self.k
        self.seen += x.shape[0]
        return torch.nn.functional.one_hot(torch.where(right, y, (y + 1) % 10), 10).float()


def test_accuracy_is_counted_per_sample_not_per_batch():
    from stingylib.data import class_balanced_subset, load_dataset
    from stingylib.engine import evaluate

    data = class_balanced_subset(load_dataset("digits"), train_per_class=1, test_per_class=10)  # 100 test
    model = _FirstRowsRight(data.test_y, k=64)
    # batches of 64 and 36: per batch 100 % and 0 % (mean 50 %); per sample 64 %
    assert evaluate(model, data, torch.device("cpu"), batch_size=64) == pytest.approx(64.0)


def test_learning_rate_schedule():
    cfg = RunConfig(method=Supervised(), model="resnet18", dataset="cifar100", epochs=200, lr=0.1,
                    milestones=(60, 120, 160), gamma=0.2)
    assert [round(learning_rate(cfg, e), 6) for e in (0, 59, 60, 119, 120, 160, 199)] == \
        [0.1, 0.1, 0.02, 0.02, 0.004, 0.0008, 0.0008]



# --- faults, written as they happen: train_run repairs what it cannot trust --------------------------


def _tiny(epochs: int = 2) -> RunConfig:
    return RunConfig(method=Supervised(), model="shufflenetv2", epochs=epochs, **TINY)


def test_a_truncated_checkpoint_is_moved_aside_and_the_run_retrained(tmp_path, monkeypatch):
    cfg, store = _tiny(), RunStore(tmp_path / "r", tmp_path / "c")
    fresh = fit(cfg, RunStore(tmp_path / "fr", tmp_path / "fc"))
    # a whole final checkpoint, then cut off in the middle (as a full disk or a broken copy leaves it)
    monkeypatch.setattr(RunStore, "discard_checkpoint", lambda self, run_id: None)
    whole = RunStore(tmp_path / "w", tmp_path / "wc")
    fit(cfg, whole)
    monkeypatch.undo()
    blob = whole.checkpoint_path(cfg.run_id).read_bytes()
    path = store.checkpoint_path(cfg.run_id)
    path.parent.mkdir(parents=True)
    path.write_bytes(blob[: len(blob) // 3])

    with pytest.raises(CorruptFileError, match=str(path)):  # fit alone names the file
        fit(cfg, store)
    outcome = train_run(cfg, store)
    assert outcome.status == "trained"
    assert any("moved the corrupt checkpoint aside" in n for n in outcome.notes)
    assert path.with_name("checkpoint.pt.corrupt").exists()
    assert strip_timing(store.load_record(cfg.run_id).history) == strip_timing(fresh.history)


def test_a_kill_between_record_and_checkpoint_removal_loses_nothing_and_force_retrains(tmp_path, monkeypatch):
    cfg, store = _tiny(), RunStore(tmp_path / "r", tmp_path / "c")

    def killed(run_id):  # the process dies right after writing the weights and the record
        raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "discard_checkpoint", lambda self, run_id: killed(run_id))
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, store)
    monkeypatch.undo()
    first = store.load_record(cfg.run_id)
    assert store.checkpoint_path(cfg.run_id).exists() and store.has_weights(cfg.run_id)

    again = train_run(cfg, store)  # done: nothing retrained, the leftover checkpoint removed
    assert again.status == "done" and not store.checkpoint_path(cfg.run_id).exists()

    monkeypatch.setattr(RunStore, "discard_checkpoint", lambda self, run_id: killed(run_id))
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, store, force=True)
    monkeypatch.undo()
    forced = train_run(cfg, store, force=True)  # --force discards the finished checkpoint: a real retraining
    assert forced.status == "trained"
    assert any("discarded the finished checkpoint" in n for n in forced.notes)
    second = store.load_record(cfg.run_id)
    assert [h.seconds for h in second.history] != [h.seconds for h in first.history]  # trained anew
    assert strip_timing(second.history) == strip_timing(first.history)


def test_stale_temporary_files_are_removed_and_files_follow_the_umask(tmp_path):
    cfg, store = _tiny(1), RunStore(tmp_path / "r", tmp_path / "c")
    store.results.mkdir(parents=True)
    store.run_dir(cfg.run_id).mkdir(parents=True)
    stale = [store.results / f".{cfg.run_id}.json.abc123.tmp", store.run_dir(cfg.run_id) / ".checkpoint.pt.x.tmp"]
    for path in stale:
        path.write_text("half")
    old = os.umask(0o002)
    try:
        outcome = train_run(cfg, store)
    finally:
        os.umask(old)
    assert not any(p.exists() for p in stale) and len([n for n in outcome.notes if "stale" in n]) == 2
    for path in (store.record_path(cfg.run_id), store.weights_path(cfg.run_id)):
        assert path.stat().st_mode & 0o777 == 0o664, path  # group-readable on a shared data root


def test_a_run_locked_by_another_process_is_busy(tmp_path):
    cfg, store = _tiny(1), RunStore(tmp_path / "r", tmp_path / "c")
    with lock_held_elsewhere(store, cfg.run_id):
        assert store.state(cfg.run_id) == "running"
        assert train_run(cfg, store, wait=False).status == "busy"
    assert store.state(cfg.run_id) == "missing"  # the lock died with its process
    assert train_run(cfg, store, wait=False).status == "trained"
