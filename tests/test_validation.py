"""The validation split and model selection: held out of training, class-balanced, never the test
split; the reported epoch and a run's published weights are chosen on it alone."""

from __future__ import annotations

import json

import pytest
import torch

from stingylib.data import DATASETS, ImageData, class_balanced_subset, load_dataset, split_validation
from stingylib.engine import fit, load_network
from stingylib.runs import EpochMetrics, selected_epoch
from stingylib.evaluation import evaluate
from stingylib.methods import KD, Supervised
from stingylib.runs import RecordError, RunConfig, RunStore, parse_record
from stingylib.training import load_data

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, val_per_class=15, width=0.125,
            batch_size=50, lr=0.05, milestones=(2,), gamma=0.1)


def _labelled(n_per_class: int, k: int = 10, n_test: int = 7) -> ImageData:
    """A dataset whose every image is unique: pixel (0, 0) and (0, 1) hold its index (base 256)."""
    info = DATASETS["digits"]
    n = n_per_class * k
    x = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(n) % 256
    x[:, 0, 0, 1] = torch.arange(n) // 256
    y = torch.arange(n) % k
    tx = torch.zeros(n_test * k, 1, 8, 8, dtype=torch.uint8)
    tx[:, 0, 0, 2] = 1 + torch.arange(n_test * k) % 255  # test images: unique, unlike any training image
    return ImageData(info, x, y, tx, torch.arange(n_test * k) % k)


def _ids(x: torch.Tensor) -> set[int]:
    return set((x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long() + 65536 * x[:, 0, 0, 2].long()).tolist())


def test_the_validation_split_is_class_balanced_and_disjoint_from_train_and_test():
    data = _labelled(50)
    split = split_validation(data, 12)
    assert torch.bincount(split.val_y, minlength=10).tolist() == [12] * 10
    assert torch.bincount(split.train_y, minlength=10).tolist() == [38] * 10
    assert not _ids(split.val_x) & _ids(split.train_x)  # held out of training
    assert _ids(split.val_x) | _ids(split.train_x) == _ids(data.train_x)  # nothing lost
    assert torch.equal(split.test_x, data.test_x) and torch.equal(split.test_y, data.test_y)
    assert not _ids(split.val_x) & _ids(split.test_x)
    # the labels still belong to their images
    assert ((torch.tensor(sorted(_ids(split.val_x))) % 10).bincount().tolist() == [12] * 10)


def test_the_validation_split_does_not_depend_on_the_run_and_subsets_are_drawn_from_the_rest():
    data = _labelled(50)
    split = split_validation(data, 12)
    assert torch.equal(split_validation(data, 12).val_x, split.val_x)  # fixed seed, whatever the run
    for seed in (0, 1, 2):
        sub = class_balanced_subset(split, train_per_class=30, test_per_class=None, seed=seed)
        assert torch.equal(sub.val_x, split.val_x)
        assert not _ids(sub.train_x) & _ids(split.val_x)
        assert torch.bincount(sub.train_y, minlength=10).tolist() == [30] * 10


def test_validation_split_errors_name_the_parameter():
    data = _labelled(10)
    with pytest.raises(ValueError, match="val_per_class"):
        split_validation(data, 0)
    with pytest.raises(ValueError, match="val_per_class=11 but class 0 has only 10"):
        split_validation(data, 11)
    with pytest.raises(ValueError, match="already has a validation split"):
        split_validation(split_validation(data, 2), 2)
    assert split_validation(data, None) is data


def test_a_config_with_a_validation_split_loads_it_held_out_of_its_training_subset():
    cfg = RunConfig(method=Supervised(), model="resnet18", epochs=1, **TINY)
    data = load_data(cfg)
    full = load_dataset("digits")
    assert data.val_x.shape[0] == 150 and data.train_x.shape[0] == 200 and data.test_x.shape[0] == 100
    # every validation image comes from the training split, and none of them is trained on
    flat = lambda x: {bytes(row) for row in x.reshape(x.shape[0], -1).numpy()}  # noqa: E731
    assert flat(data.val_x) <= flat(full.train_x)
    val_idx = split_validation(full, 15)
    assert torch.equal(val_idx.val_x, data.val_x)
    assert cfg.replace(val_per_class=None).run_id != cfg.run_id  # part of the identity
    assert RunConfig(method=Supervised(), model="resnet18", epochs=1,
                     **{k: v for k, v in TINY.items() if k != "val_per_class"}).val_per_class is None


def test_selection_reads_validation_accuracy_only():
    def epochs(val, test):
        return [EpochMetrics(epoch=i + 1, lr=0.1, test_accuracy=t, val_accuracy=v) for i, (v, t) in enumerate(zip(val, test))]

    val = [50.0, 70.0, 70.0, 60.0]
    assert selected_epoch(epochs(val, [90.0, 10.0, 99.0, 95.0])) == 2  # the first best validation epoch
    assert selected_epoch(epochs(val, [0.0, 0.0, 100.0, 100.0])) == 2  # whatever the test split says
    assert selected_epoch([EpochMetrics(epoch=1, lr=0.1, test_accuracy=5.0)]) is None  # no validation split


@pytest.fixture(scope="module")
def store(module_store) -> RunStore:
    return module_store


@pytest.fixture(scope="module")
def teacher(store) -> RunConfig:
    cfg = RunConfig(method=Supervised(), model="resnet18", epochs=4, **TINY)
    fit(cfg, store)
    return cfg


def test_a_run_reports_the_validation_selected_epoch_and_publishes_its_weights(store, teacher):
    record = store.load_record(teacher.run_id)
    val = [h.val_accuracy for h in record.history]
    assert record.selected_epoch == val.index(max(val)) + 1
    assert record.selected_accuracy == record.history[record.selected_epoch - 1].test_accuracy
    assert record.selected_val_accuracy == max(val)
    assert record.best_accuracy == max(h.test_accuracy for h in record.history)  # the paper's, kept beside
    # the weights students see are the selected epoch's: they score its validation and test accuracy
    net = load_network(store, teacher.run_id)
    data = load_data(teacher)
    assert evaluate(net, data, torch.device("cpu"), split="val") == pytest.approx(record.selected_val_accuracy,
                                                                                  abs=1e-9)
    assert evaluate(net, data, torch.device("cpu")) == pytest.approx(record.selected_accuracy, abs=1e-9)


def test_a_student_of_a_validated_teacher_sees_the_selected_weights(store, teacher):
    cfg = RunConfig(method=KD(teacher=teacher.run_id, temperature=4.0, alpha=0.9), model="resnet18",
                    epochs=1, **TINY)
    record = fit(cfg, store)
    assert record.teacher_accuracy == store.load_record(teacher.run_id).selected_accuracy


def test_a_record_whose_selection_disagrees_with_its_history_is_refused(store, teacher):
    path = store.record_path(teacher.run_id)
    data = json.loads(path.read_text())
    parse_record(data, path)
    for field, value in (("selected_epoch", 1 + data["selected_epoch"] % 4), ("selected_accuracy", 1.5),
                         ("selected_epoch", None)):
        bad = {**data, field: value}
        with pytest.raises(RecordError, match="selected_epoch"):
            parse_record(bad, path)
    no_val = {**data, "history": [{k: v for k, v in h.items() if k != "val_accuracy"} for h in data["history"]]}
    with pytest.raises(RecordError, match="val_accuracy"):
        parse_record(no_val, path)


def test_an_interrupted_validated_run_resumes_with_its_selected_weights(tmp_path):
    cfg = RunConfig(method=Supervised(), model="resnet18", epochs=4, **TINY)
    whole = RunStore(tmp_path / "a" / "results", tmp_path / "a" / "ckpt")
    fit(cfg, whole)
    # the same run, interrupted after its second epoch's checkpoint, then resumed
    fit_first = RunStore(tmp_path / "c" / "results", tmp_path / "c" / "ckpt")
    from stingylib.engine import loop

    calls = {"n": 0}
    original = loop.save_checkpoint

    def stop_after_two(*args, **kwargs):
        original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    loop.save_checkpoint = stop_after_two
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(cfg, fit_first)
    finally:
        loop.save_checkpoint = original
    resumed = fit(cfg, fit_first)
    assert [h.val_accuracy for h in resumed.history] == [h.val_accuracy for h in whole.load_record(cfg.run_id).history]
    assert resumed.selected_epoch == whole.load_record(cfg.run_id).selected_epoch
    a = torch.load(whole.weights_path(cfg.run_id), weights_only=True)["state_dict"]
    b = torch.load(fit_first.weights_path(cfg.run_id), weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_test_subset_does_not_depend_on_the_train_subset():
    # a teacher on the whole training split and its students on a subset see the same test images
    data = _labelled(50, n_test=30)
    whole = class_balanced_subset(data, train_per_class=None, test_per_class=10, seed=0)
    part = class_balanced_subset(data, train_per_class=20, test_per_class=10, seed=0)
    assert torch.equal(whole.test_x, part.test_x) and torch.equal(whole.test_y, part.test_y)
