"""The training engine end to end on tiny digits runs (stingylib.train)."""

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

from stingylib.config import RunConfig
from stingylib.runs import RunStore, load_runs
from stingylib.train import METHODS, fit, learning_rate, load_network

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50,
            lr=0.05, milestones=(1,), gamma=0.1)
TIMING = {"images_per_s", "seconds"}


def strip_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    root = tmp_path_factory.mktemp("runs")
    return RunStore(root / "results", root / "checkpoints")


@pytest.fixture(scope="module")
def teacher(store) -> RunConfig:
    cfg = RunConfig(method="supervised", model="resnet18", epochs=2, **TINY)
    fit(cfg, store)
    return cfg


def test_supervised_run_writes_record_weights_and_no_checkpoint(store, teacher):
    record = store.load_record(teacher.run_id)
    assert record["config"] == teacher.to_dict()
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["final_accuracy"] == record["history"][-1]["test_accuracy"]
    assert record["best_accuracy"] == max(h["test_accuracy"] for h in record["history"])
    assert 0 <= record["final_accuracy"] <= 100
    assert record["history"][0]["lr"] == 0.05 and record["history"][1]["lr"] == pytest.approx(0.005)
    assert {"train_total", "train_ce", "images_per_s"} <= set(record["history"][0])
    assert record["versions"]["torch"] == torch.__version__ and record["device"] == "cpu"
    assert len(record["sample_logits"]) == 8 and len(record["sample_logits"][0]) == 10
    assert store.weights_path(teacher.run_id).exists()
    assert not store.checkpoint_path(teacher.run_id).exists()
    # the saved weights rebuild the network that scored that accuracy
    net = load_network(store, teacher.run_id)
    assert not net.training


@pytest.mark.parametrize("transform,keep", [("normal", None), ("stingy_sparse", 2), ("stingy_smooth", 2),
                                            ("reversed", None)])
def test_kd_from_every_teacher_view(store, teacher, transform, keep):
    cfg = RunConfig(method="kd", model="shufflenetv2", epochs=1, teacher=teacher.run_id, transform=transform,
                    keep=keep, temperature=4.0, alpha=0.9, **TINY)
    record = fit(cfg, store)
    # Every view keeps the teacher's argmax, so every transformed teacher is exactly as accurate.
    assert record["teacher_accuracy"] == store.load_record(teacher.run_id)["final_accuracy"]
    assert {"train_kd", "train_ce", "train_total"} <= set(record["history"][0])
    assert all(torch.isfinite(torch.tensor(h["train_total"])) for h in record["history"])


def test_nasty_run(store, teacher):
    cfg = RunConfig(method="nasty", model="resnet18", epochs=1, adversary=teacher.run_id, temperature=4.0,
                    omega=0.04, **TINY)
    history = fit(cfg, store)["history"]
    assert history[0]["train_adversarial"] > 0
    assert history[0]["train_total"] == pytest.approx(history[0]["train_ce"] - history[0]["train_adversarial"])


def test_dafl_run_with_a_stingy_teacher(store, teacher):
    cfg = RunConfig(method="dafl", model="resnet18", epochs=1, teacher=teacher.run_id, transform="stingy_sparse",
                    keep=2, latent_dim=32, iterations_per_epoch=3, generator_lr=0.02, dafl_one_hot=0.05,
                    dafl_info_entropy=5.0, dafl_activation=0.01, **TINY)
    record = fit(cfg, store)
    h = record["history"][0]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in h.items() if k.startswith("train_"))
    assert {"train_kd", "train_generator_info_entropy", "train_generator_one_hot"} <= set(h)


def test_missing_teacher_weights_raise(store):
    cfg = RunConfig(method="kd", model="resnet18", epochs=1, teacher="no-such-run", temperature=4.0, alpha=0.9,
                    **TINY)
    with pytest.raises(FileNotFoundError, match="no finished weights for run 'no-such-run'"):
        fit(cfg, store)


def test_same_config_same_numbers(tmp_path, teacher, store):
    cfg = RunConfig(method="supervised", model="mobilenetv2", epochs=2, **TINY)
    a = fit(cfg, RunStore(tmp_path / "a", tmp_path / "ca"))
    b = fit(cfg, RunStore(tmp_path / "b", tmp_path / "cb"))
    assert strip_timing(a["history"]) == strip_timing(b["history"])
    assert a["sample_logits"] == b["sample_logits"]


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    cfg = RunConfig(method="supervised", model="resnet18", epochs=6, **{**TINY, "milestones": (3,)})
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    killed = RunStore(tmp_path / "k_results", tmp_path / "k_ckpt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stingylib.train", str(tmp_path / "cfg.json"), "--results", str(killed.results),
         "--checkpoints", str(killed.checkpoints), "--device", "cpu", "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
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
    assert not list(killed.checkpoints.rglob("*.tmp"))  # nothing half-written left behind

    resumed = fit(cfg, killed)
    fresh = fit(cfg, RunStore(tmp_path / "f_results", tmp_path / "f_ckpt"))
    assert strip_timing(resumed["history"]) == strip_timing(fresh["history"])
    assert resumed["final_accuracy"] == fresh["final_accuracy"]
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
    from stingylib.train import evaluate

    data = class_balanced_subset(load_dataset("digits"), train_per_class=1, test_per_class=10)  # 100 test
    model = _FirstRowsRight(data.test_y, k=64)
    # batches of 64 and 36: per batch 100 % and 0 % (mean 50 %); per sample 64 %
    assert evaluate(model, data, torch.device("cpu"), batch_size=64) == pytest.approx(64.0)


def test_learning_rate_schedule():
    cfg = RunConfig(method="supervised", model="resnet18", dataset="cifar100", epochs=200, lr=0.1,
                    milestones=(60, 120, 160), gamma=0.2)
    assert [round(learning_rate(cfg, e), 6) for e in (0, 59, 60, 119, 120, 160, 199)] == \
        [0.1, 0.1, 0.02, 0.02, 0.004, 0.0008, 0.0008]


def test_method_registry():
    assert set(METHODS) == {"supervised", "kd", "nasty", "dafl"}
