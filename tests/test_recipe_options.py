"""The recipe options of a student that the central claim's test needs: a transfer set per seed, a
cosine schedule, the frozen networks' arithmetic, gradient-norm clipping, collapse flags, one τ for
Table 1 with a second τ for the figure, and a nasty ω per architecture."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from stingylib import data as datamod
from stingylib.experiments import figure_cells, plan, table1_cells, teacher_runs
from stingylib.experiments.builders import nasty_run
from stingylib.experiments.figure import SECOND, figure_temperatures
from stingylib.experiments.reading import aggregate, cell_values
from stingylib.experiments.table1 import CLIPPED, table1_columns, table1_frame, table1_rows
from stingylib.methods import KD, Supervised
from stingylib.profiles import SMOKE
from stingylib.runs import EpochMetrics, RecordError, RunConfig, RunStore, parse_record
from stingylib.runs.metrics import COLLAPSE_LOSS, COLLAPSE_MARGIN, collapsed
from stingylib.training import BatchTrainer, FrozenNet, build_network, learning_rate, load_data

from .records import fake_record

BASE = dict(model="resnet18", dataset="digits", width=0.125, epochs=4, lr=0.1, train_per_class=20, val_per_class=10,
            test_per_class=10)


def supervised(**changes) -> RunConfig:
    return RunConfig(method=Supervised(), **{**BASE, **changes})


# --- transfer set per seed ----------------------------------------------------------------------


def test_subset_seed_draws_another_transfer_set_but_the_same_validation_and_test_images():
    a, b, again = (load_data(supervised(subset_seed=s).spec) for s in (0, 1, 0))
    assert not torch.equal(a.train_x, b.train_x)  # another transfer set ...
    assert torch.equal(a.train_x, again.train_x)  # ... a pure function of the seed
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.test_y, b.test_y)  # the same test images
    assert torch.equal(a.val_x, b.val_x)  # and the same validation split
    assert torch.bincount(b.train_y).tolist() == [20] * 10  # still class-balanced


def test_subset_seed_defaults_to_the_seed_0_set_so_earlier_ids_hold():
    assert supervised().run_id == supervised(subset_seed=0).run_id
    assert supervised().run_id != supervised(subset_seed=1).run_id
    with pytest.raises(ValueError, match="subset_seed"):
        supervised(subset_seed=-1)


def test_a_recipe_with_a_subset_per_seed_gives_each_student_seed_its_own_set_and_the_teachers_none():
    recipe = dataclasses.replace(SMOKE.table1, subset_per_seed=True)
    profile = dataclasses.replace(SMOKE, table1=recipe)
    students = [c for c in plan(profile, "table1") if c.train_per_class is not None]
    assert students and all(c.subset_seed == c.seed for c in students)
    owner = teacher_runs(profile, recipe, "resnet18")["normal"]
    assert owner.subset_seed == 0 and owner.run_id == teacher_runs(SMOKE, SMOKE.table1, "resnet18")["normal"].run_id


# --- cosine schedule -------------------------------------------------------------------------------


def test_cosine_schedule_decays_from_lr_along_half_a_cosine_and_takes_no_milestones():
    cfg = supervised(schedule="cosine", epochs=4)
    rates = [learning_rate(cfg.spec, e) for e in range(4)]
    assert rates == pytest.approx([0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.05,
                                   0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])
    assert all(r > 0 for r in rates) and rates == sorted(rates, reverse=True)
    assert learning_rate(supervised(milestones=(2,)).spec, 2) == pytest.approx(0.01)  # step: unchanged
    with pytest.raises(ValueError, match="milestones must be"):
        supervised(schedule="cosine", milestones=(2,))
    with pytest.raises(ValueError, match="schedule must be one of"):
        supervised(schedule="linear")


# --- frozen networks' arithmetic ---------------------------------------------------------------------


def test_frozen_precision_overrides_the_teachers_own_and_splits_cohorts():
    teacher = supervised(precision="bf16")
    net = build_network(teacher.spec, datamod.DATASETS["digits"])
    assert FrozenNet(net, teacher.spec, torch.device("cpu")).precision == "bf16"
    assert FrozenNet(net, teacher.spec, torch.device("cpu"), precision="fp32").precision == "fp32"
    kd = RunConfig(method=KD(teacher=teacher.run_id, transform="normal", temperature=4, alpha=0.9), **BASE)
    fp32 = kd.replace(frozen_precision="fp32")
    assert fp32.run_id != kd.run_id and fp32.cohort_key() != kd.cohort_key()
    with pytest.raises(ValueError, match="frozen_precision must be one of"):
        kd.replace(frozen_precision="fp16")


# --- gradient-norm clipping --------------------------------------------------------------------------


def test_clipped_kd_bounds_each_steps_gradient_norm_and_is_not_a_control():
    teacher = supervised()
    kd = KD(teacher=teacher.run_id, transform="normal", temperature=20, alpha=0.9)
    clipped = dataclasses.replace(kd, clip_grad_norm=0.5)
    assert kd.grad_clip() is None and clipped.grad_clip() == 0.5
    assert kd.control() and not clipped.control()
    assert "clip0.5" in RunConfig(method=clipped, **BASE).label

    data = load_data(supervised().spec)
    info = datamod.DATASETS["digits"]
    frozen_net = FrozenNet(build_network(teacher.spec, info), teacher.spec, torch.device("cpu"))
    from stingylib.training import Frozen

    norms = {}
    for name, method in (("plain", kd), ("clipped", clipped)):
        torch.manual_seed(0)
        frozen = {"teacher": Frozen(frozen_net, method.view("teacher"))}
        trainer = BatchTrainer(method, RunConfig(method=method, **BASE).spec, data, torch.device("cpu"), frozen)
        captured = []
        trainer.optimizers["network"].register_step_pre_hook(
            lambda opt, args, kwargs: captured.append(torch.nn.utils.get_total_norm(
                [p.grad for p in trainer.params if p.grad is not None])))
        trainer.begin_epoch(0)
        x, y = data.train_x[:32].float() / 255, data.train_y[:32]
        trainer.step(x, y, {frozen_net: frozen_net(x)})
        norms[name] = float(captured[0])
    assert norms["plain"] > 0.5  # the bound bites on this batch ...
    assert norms["clipped"] == pytest.approx(0.5, rel=1e-4)  # ... and the step sees the clipped gradient


# --- collapse ----------------------------------------------------------------------------------------


def _history(total: float, epochs: int = 2) -> tuple[EpochMetrics, ...]:
    return tuple(EpochMetrics(epoch=i + 1, lr=0.1, test_accuracy=50.0, train={"total": total}) for i in range(epochs))


def test_collapse_rule_near_chance_or_loss_over_the_bound():
    assert collapsed(_history(1.0), 10, 10.0 + COLLAPSE_MARGIN)  # within 5 points of chance
    assert not collapsed(_history(1.0), 10, 10.0 + COLLAPSE_MARGIN + 0.01)
    assert collapsed(_history(COLLAPSE_LOSS + 1), 10, 80.0)  # a last-epoch loss over the bound
    assert not collapsed(_history(COLLAPSE_LOSS), 10, 80.0)
    assert collapsed(_history(1.0), 100, 5.5) and not collapsed(_history(1.0), 2, 56.0)  # chance is 100 / K


def test_records_carry_the_collapse_flag_and_a_wrong_one_is_refused(tmp_path):
    cfg = supervised()
    healthy, fallen = fake_record(cfg, 80.0, 79.0), fake_record(cfg, 12.0, 11.0)
    assert not healthy.collapsed and fallen.collapsed
    data = fallen.to_json()
    assert data["collapsed"] is True
    assert parse_record(json.loads(json.dumps(data)), tmp_path / f"{cfg.run_id}.json").collapsed
    del data["collapsed"]  # a record written before the flag: derived on reading
    assert parse_record(data, tmp_path / f"{cfg.run_id}.json").collapsed
    data["collapsed"] = False
    with pytest.raises(RecordError, match="collapsed is False"):
        parse_record(data, tmp_path / f"{cfg.run_id}.json")


def test_tables_count_the_collapsed_seeds_of_each_cell(tmp_path):
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    cells = [c for c in table1_cells(SMOKE) if c.field == "student" and c.row == ("resnet18", "stingy")
             and c.column == "resnet18"]
    assert len(cells) == len(SMOKE.seeds) == 2
    store.write_record(fake_record(cells[0].run, 12.0, 11.0))  # seed 0 collapsed
    store.write_record(fake_record(cells[1].run, 80.0, 79.0))
    long = cell_values(cells, store, "selected_accuracy")
    assert long["collapsed"].tolist() == [True, False]
    assert aggregate(long)[3].iloc[0, 0] == 1
    table = table1_frame(SMOKE, store, "selected_accuracy")
    assert table.collapsed.loc[("resnet18", "stingy"), "resnet18"] == 1
    assert table.formatted().loc[("resnet18", "stingy"), "resnet18"] == "45.00 ± 48.08 [1/2 collapsed]"


# --- one τ for Table 1, a second τ for the figure, clipped controls, ω per architecture -------------


def test_table1_distils_every_teacher_at_one_temperature():
    kds = [c.run.method for c in table1_cells(SMOKE) if c.field == "student" and c.run.method.name == "kd"]
    assert {m.temperature for m in kds} == {SMOKE.table1.temperature}
    assert {m.transform for m in kds} == {"normal", "stingy_sparse"}


def test_the_figure_has_each_teacher_kind_at_the_second_temperature():
    r = SMOKE.table1
    second = [c for c in figure_cells(SMOKE) if c.row[0].endswith(SECOND)]
    assert {c.row[0] for c in second} == {"normal" + SECOND, "nasty" + SECOND, "stingy" + SECOND}
    assert {c.run.method.temperature for c in second} == {r.second_temperature} != {r.temperature}
    nasty = [c.run for c in second if c.row[0] == "nasty" + SECOND]
    assert nasty[0].method.teacher == teacher_runs(SMOKE, r, SMOKE.figure_teacher)["nasty"].run_id
    table1_ids = {c.run.run_id for c in table1_cells(SMOKE)}  # the figure's τ points are Table 1's runs
    firsts = [c.run.run_id for c in figure_cells(SMOKE) if c.row[0] in ("normal", "nasty")]
    assert firsts and set(firsts) <= table1_ids
    assert list(figure_temperatures(SMOKE, RunStore.for_profile("smoke")).index) == ["normal", "nasty", "stingy"]


def test_clipped_controls_repeat_the_stingy_cells_with_a_gradient_bound_on_the_side_seeds(tmp_path):
    profile = dataclasses.replace(SMOKE, clip_controls=5.0, side_seeds=(0,))
    clipped = [c for c in table1_cells(profile) if c.row[1] == CLIPPED]
    assert {c.seed for c in clipped} == {0}
    assert len(clipped) == len(profile.teachers) * len(table1_columns(profile))
    assert {c.run.method.clip_grad_norm for c in clipped} == {5.0}
    stingy = {(c.row[0], c.column): c.run for c in table1_cells(profile)
              if c.row[1] == "stingy" and c.seed == 0 and c.field == "student"}
    for c in clipped:
        unclipped = c.run.replace(method=dataclasses.replace(c.run.method, clip_grad_norm=None))
        assert unclipped == stingy[(c.row[0], c.column)]
    assert (profile.teachers[0], CLIPPED) in table1_rows(profile)
    assert CLIPPED in table1_frame(profile, RunStore(tmp_path / "results", tmp_path / "checkpoints")).mean.index.get_level_values("variant")
    assert all(CLIPPED not in row for row in table1_rows(dataclasses.replace(SMOKE, clip_controls=None)))
    with pytest.raises(ValueError, match="side_seeds must be a subset of seeds"):
        dataclasses.replace(SMOKE, side_seeds=(7,))


def test_nasty_omega_and_precision_per_architecture():
    profile = dataclasses.replace(SMOKE, nasty_omegas=(("resnet50", 0.02),), nasty_precisions=(("resnet50", "bf16"),))
    r = profile.table1
    assert nasty_run(profile, r, "resnet50").method.omega == 0.02
    assert nasty_run(profile, r, "resnet50").precision == nasty_run(profile, r, "resnet50").frozen_precision == "bf16"
    assert nasty_run(profile, r, "resnet18") == nasty_run(SMOKE, r, "resnet18")  # the others unchanged


# --- the test split only where a number is reported -----------------------------------------------


def test_testing_only_where_reported_gives_the_same_run_and_numbers(tmp_path):
    from stingylib.engine import fit

    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    every, once = supervised(), supervised(test_every_epoch=False)
    assert every.run_id == RunConfig(method=Supervised(), **BASE, test_every_epoch=True).run_id  # old ids hold
    assert once.run_id != every.run_id  # it is another run: its record has less in it
    a, b = fit(every, store, device="cpu", progress=False), fit(once, store, device="cpu", progress=False)
    # training never reads the test split: the same weights, and the same reported numbers
    weights = [torch.load(store.weights_path(c.run_id), weights_only=True)["state_dict"] for c in (every, once)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert (a.final_accuracy, a.selected_epoch, a.selected_accuracy, a.selected_val_accuracy) == \
        (b.final_accuracy, b.selected_epoch, b.selected_accuracy, b.selected_val_accuracy)
    assert a.selected_epoch < every.epochs  # the selected epoch was tested apart from the last one
    assert [h.test_accuracy is None for h in b.history] == [True] * (once.epochs - 1) + [False]
    assert b.best_accuracy is None and b.best_epoch is None and b.reported_accuracy == a.reported_accuracy
    assert store.load_record(once.run_id) == b  # it reads back as it was written

    data = json.loads(store.record_path(once.run_id).read_text())
    data["history"][0]["test_accuracy"] = 50.0  # a test accuracy the run never measured
    with pytest.raises(RecordError, match="only the last history entry may have a test_accuracy"):
        parse_record(data, store.record_path(once.run_id))
    data = json.loads(store.record_path(every.run_id).read_text())
    del data["history"][0]["test_accuracy"]  # a run that tests every epoch lacks one
    with pytest.raises(RecordError, match="every history entry needs a test_accuracy"):
        parse_record(data, store.record_path(every.run_id))
    data = json.loads(store.record_path(once.run_id).read_text())
    data["best_accuracy"] = a.best_accuracy
    with pytest.raises(RecordError, match="best_accuracy and best_epoch must be null"):
        parse_record(data, store.record_path(once.run_id))


def test_testing_only_where_reported_needs_a_validation_split_and_refuses_the_best_epoch_metric(tmp_path):
    with pytest.raises(ValueError, match="test_every_epoch=False needs a validation split"):
        supervised(test_every_epoch=False, val_per_class=None)
    with pytest.raises(ValueError, match="test_every_epoch must be true or false"):
        supervised(test_every_epoch="no")
    recipe = dataclasses.replace(SMOKE.table1, test_every_epoch=False)
    profile = dataclasses.replace(SMOKE, table1=recipe)
    runs = plan(profile, "table1")
    assert {c.test_every_epoch for c in runs if c.train_per_class is not None} == {False}  # the students
    assert {c.test_every_epoch for c in runs if c.train_per_class is None} == {True}  # the owner's teachers
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    cells = [c for c in table1_cells(profile) if c.field == "student"][:1]
    store.write_record(fake_record(cells[0].run, best=80.0, final=80.0, val=70.0))
    with pytest.raises(ValueError, match="metric 'best_accuracy' was not measured"):
        cell_values(cells, store, "best_accuracy")
    assert cell_values(cells, store, "selected_accuracy")["value"].tolist() == [80.0]


def test_a_recipe_without_augmentation_turns_it_off_for_the_students_only():
    profile = dataclasses.replace(SMOKE, table1=dataclasses.replace(SMOKE.table1, augment=False))
    runs = plan(profile, "table1")
    assert {c.augment for c in runs if c.train_per_class is not None} == {False}  # the students
    assert {c.augment for c in runs if c.train_per_class is None} == {True}  # the owner's teachers keep theirs
    assert {c.run_id for c in runs if c.train_per_class is None} <= {c.run_id for c in plan(SMOKE, "table1")}
