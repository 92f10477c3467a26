"""Cohorts (stingylib.engine.fit_cohort, stingylib.runner.group_cohorts) and the batch loop's
promises: a member of a cohort ends bit for bit where it would end alone, also after an
interruption; the loop never asks the device for a value; ``--compile`` reaches the networks."""

from __future__ import annotations

import shutil

import pytest
import torch

from stingylib.checkpoints import read_checkpoint_epochs
from stingylib.engine import fit, fit_cohort, load_network, loop, train_locked
from stingylib.experiments import plan
from stingylib.methods import DAFL, KD, Nasty, Supervised
from stingylib.runner import Task, group_cohorts
from stingylib.runs import RunConfig, RunStore
from stingylib.training import BatchTrainer, Frozen, FrozenNet, cohort_epoch, load_data

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, batch_size=50, lr=0.05, milestones=(1,))
TIMING = {"images_per_s", "seconds"}


def comparable(record) -> dict:
    """A record without what depends on the clock or the machine."""
    out = record.to_json()
    for key in ("wall_seconds", "images_per_s", "provenance"):
        out.pop(key)
    out["history"] = [{k: v for k, v in h.items() if k not in TIMING} for h in out["history"]]
    return out


def same_weights(a: RunStore, b: RunStore, run_id: str) -> bool:
    wa, wb = (torch.load(s.weights_path(run_id), weights_only=True)["state_dict"] for s in (a, b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def teacher_store(tmp_path_factory) -> tuple[RunStore, RunConfig, RunConfig]:
    root = tmp_path_factory.mktemp("cohort-teachers")
    store = RunStore(root / "results", root / "checkpoints")
    teacher = RunConfig(method=Supervised(), model="resnet18", width=0.125, epochs=2, **TINY)
    fit(teacher, store)
    nasty = RunConfig(method=Nasty(adversary=teacher.run_id, temperature=4.0, omega=0.04), model="resnet18",
                      width=0.125, epochs=1, **TINY)
    fit(nasty, store)
    return store, teacher, nasty


def copy_store(source: RunStore, root) -> RunStore:
    """A new store holding copies of the finished runs (the teachers) of ``source``."""
    shutil.copytree(source.results, root / "results")
    shutil.copytree(source.checkpoints, root / "checkpoints")
    return RunStore(root / "results", root / "checkpoints")


def members(teacher: RunConfig, epochs: int = 3) -> list[RunConfig]:
    """Three students of one teacher: two transforms, two architectures, two schedules."""
    kd = dict(teacher=teacher.run_id, alpha=0.9)
    return [
        RunConfig(method=KD(**kd, transform="normal", temperature=4.0), model="resnet18", width=0.125,
                  epochs=epochs, **TINY),
        RunConfig(method=KD(**kd, transform="stingy_sparse", keep=2, temperature=20.0), model="shufflenetv2",
                  width=0.25, epochs=epochs, **TINY),
        RunConfig(method=KD(**kd, transform="stingy_sparse", keep=2, temperature=20.0), model="resnet18",
                  width=0.125, epochs=epochs, **{**TINY, "lr": 0.02, "milestones": (2,)}),
    ]


def test_cohort_members_are_bit_identical_to_solo_runs(teacher_store, tmp_path):
    store, teacher, _ = teacher_store
    cfgs = members(teacher)
    assert len({c.cohort_key() for c in cfgs}) == 1
    cohort_store = copy_store(store, tmp_path / "cohort")
    together = fit_cohort(cfgs, cohort_store)
    for i, cfg in enumerate(cfgs):
        solo_store = copy_store(store, tmp_path / f"solo{i}")
        alone = fit(cfg, solo_store)
        assert comparable(together[i]) == comparable(alone), cfg.label
        assert same_weights(cohort_store, solo_store, cfg.run_id), cfg.label
    assert together[0].teacher_accuracy == together[1].teacher_accuracy  # the teacher shows its top-1 either way


def test_an_interrupted_cohort_resumes_bit_for_bit_even_from_uneven_checkpoints(teacher_store, tmp_path, monkeypatch):
    store, teacher, _ = teacher_store
    cfgs = members(teacher)
    reference = copy_store(store, tmp_path / "reference")
    expected = fit_cohort(cfgs, reference)

    interrupted = copy_store(store, tmp_path / "interrupted")
    real_save, calls = loop.save_checkpoint, []

    def save_then_die(*args, **kwargs):
        calls.append(args[1].run_id)
        if len(calls) == 5:  # epoch 2: the first member saved, the others not
            raise KeyboardInterrupt
        real_save(*args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit_cohort(cfgs, interrupted)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    assert [read_checkpoint_epochs(interrupted, c.run_id) for c in cfgs] == [2, 1, 1]
    resumed = fit_cohort(cfgs, interrupted)
    for cfg, got, want in zip(cfgs, resumed, expected):
        assert comparable(got) == comparable(want), cfg.label
        assert same_weights(interrupted, reference, cfg.run_id)


def test_a_cohort_needs_one_teacher_one_data_order_and_the_batch_trainer(teacher_store):
    store, teacher, nasty = teacher_store
    cfgs = members(teacher)
    other_teacher = cfgs[0].replace(method=KD(teacher=nasty.run_id, transform="normal", temperature=4.0, alpha=0.9))
    for odd in (other_teacher, cfgs[0].replace(seed=1), cfgs[0].replace(epochs=2), cfgs[0].replace(batch_size=25)):
        assert odd.cohort_key() != cfgs[1].cohort_key()
        with pytest.raises(ValueError, match="cohort"):
            fit_cohort([cfgs[1], odd], store)
    dafl = RunConfig(method=DAFL(teacher=teacher.run_id, latent_dim=8, iterations_per_epoch=2,
                                 generator_lr=0.02, one_hot=1.0, info_entropy=5.0, activation=0.1),
                     model="resnet18", width=0.125, epochs=3, **TINY)
    assert dafl.cohort_key() is None and cfgs[0].replace(method=Supervised()).cohort_key() is None
    with pytest.raises(ValueError, match="cohort"):
        fit_cohort([cfgs[0], dafl], store)


def test_train_locked_trains_only_what_is_not_done_and_notes_the_cohort(teacher_store, tmp_path):
    store, teacher, _ = teacher_store
    cfgs = members(teacher, epochs=1)
    own = copy_store(store, tmp_path / "own")
    fit(cfgs[1], own)
    outcomes = train_locked(cfgs, own)
    assert [o.status for o in outcomes] == ["trained", "done", "trained"]
    assert "cohort of 2" in outcomes[0].notes[-1]
    assert all(own.is_done(c.run_id) for c in cfgs)


def test_the_batch_loop_never_reads_a_tensor_value(teacher_store, monkeypatch):
    """No host synchronisation inside a KD epoch: on a GPU each would stall the pipeline."""
    store, teacher, _ = teacher_store
    cfgs = members(teacher, epochs=1)[:2]
    data = load_data(cfgs[0])
    device = torch.device("cpu")
    net = FrozenNet(load_network(store, teacher.run_id), teacher, device)
    trainers = [BatchTrainer(c.method, c.spec, data, device, {"teacher": Frozen(net, c.method.view("teacher"))})
                for c in cfgs]

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a host synchronisation inside the batch loop")

    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    results = cohort_epoch(trainers, 0, lambda: None)
    monkeypatch.undo()
    for losses, seen in results:
        assert seen == data.train_x.shape[0] and torch.isfinite(losses["total"])


def test_the_value_checks_are_back_outside_the_loop():
    from stingylib.losses import kd_loss

    bad = torch.tensor([[float("nan"), 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        kd_loss(bad, bad, torch.tensor([0]), temperature=4.0, alpha=0.9)


def test_compile_is_opt_in_and_reaches_every_forward(teacher_store, tmp_path, monkeypatch):
    store, teacher, _ = teacher_store
    compiled = []

    def fake_compile(module):
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    cfg = members(teacher, epochs=1)[0]
    fit(cfg, copy_store(store, tmp_path / "plain"))
    assert compiled == []
    fit(cfg, copy_store(store, tmp_path / "compiled"), compile=True)
    assert len(compiled) == 2  # the student and the teacher


def test_group_cohorts_keeps_dependency_order_and_caps_the_size():
    runs = plan("cpu", "all")
    order = {c.run_id: i for i, c in enumerate(runs)}
    tasks = [Task(c) for c in sorted(runs, key=lambda c: (len(c.dependencies()), order[c.run_id]))]
    units = group_cohorts(tasks, cohort_size=8)
    assert sorted(r for u in units for r in u.run_ids) == sorted(order)
    seen: set[str] = set()
    for unit in units:
        assert 1 <= len(unit.tasks) <= 8
        assert len({t.cfg.cohort_key() for t in unit.tasks}) == 1
        assert all(d in seen for d in unit.dependencies() if d in order)  # dependencies come first
        seen.update(unit.run_ids)
    assert max(len(u.tasks) for u in units) > 1
    assert sum(len(u.tasks) for u in units if len(u.tasks) > 1) >= 30  # most students share a teacher pass
    assert all(len(u.tasks) == 1 for u in group_cohorts(tasks, cohort_size=1))
