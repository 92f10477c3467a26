"""The experiments as graphs of runs, and the tables read back from records (stingylib.experiments)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stingylib.experiments import (
    EXPERIMENTS,
    SECOND,
    Cell,
    Experiment,
    cell_values,
    figure_cells,
    figure_frame,
    kd_run,
    plan,
    register,
    status_frame,
    supervised_run,
    table1_cells,
    table1_comparisons,
    table1_frame,
    table2_frame,
    targets,
    teacher_runs,
    unregister,
)
from stingylib.experiments.table1 import CLIPPED
from stingylib.profiles import SMOKE
from stingylib.runs import RunStore

from .records import fake_record


@pytest.mark.parametrize("target", ["teachers", "table1", "table2", "figure", "attacks", "all"])
def test_plan_has_each_run_once_and_dependencies_first(target):
    runs = plan("smoke", target)
    ids = [c.run_id for c in runs]
    assert len(ids) == len(set(ids))
    position = {rid: i for i, rid in enumerate(ids)}
    for cfg in runs:
        for dep in cfg.dependencies():
            assert position[dep] < position[cfg.run_id]


def test_shared_runs_exist_once():
    t1, fig, attacks, everything = (set(c.run_id for c in plan("smoke", t))
                                    for t in ("table1", "figure", "attacks", "all"))
    assert t1 & fig  # the normal resnet18 teacher, the resnet18 baseline, normal KD …
    assert fig & attacks and t1 & attacks  # the stingy and normal-KD students the attack table compares with
    assert everything == t1 | fig | attacks | {c.run_id for c in plan("smoke", "table2")}
    assert {c.run_id for c in plan("smoke", "teachers")} <= t1  # the teachers are Table 1's


def test_table1_graph_matches_the_paper_layout():
    runs = plan("smoke", "table1")
    methods = [c.method.name for c in runs]
    assert methods.count("nasty") == 3  # one nasty teacher per teacher architecture
    # the stingy teacher is the normal teacher's run, never retrained
    t = teacher_runs(SMOKE, SMOKE.table1, "resnet50")
    assert t["stingy"] is t["normal"] and t["nasty"].method.adversary == t["normal"].run_id
    # one teacher per architecture (the owner's seed), trained by the owner's recipe, whatever the student seeds
    assert t["normal"].seed == SMOKE.teacher_seed and len(SMOKE.seeds) > 1
    assert (t["normal"].epochs, t["normal"].train_per_class) == (SMOKE.table1.owner.epochs,
                                                                SMOKE.table1.owner.train_per_class)
    assert {c.seed for c in runs if c.method.name == "kd"} == set(SMOKE.seeds)
    stingy_students = [c.method for c in runs if c.method.name == "kd" and c.method.transform == "stingy_sparse"]
    assert {m.keep for m in stingy_students} == {SMOKE.table1.keep}
    assert {m.temperature for m in stingy_students} == {SMOKE.table1.temperature}
    # 3 teachers × 3 variants × (3 students + teacher self), resnet18's self being the resnet18 student
    kd_cells = {(cell.row, cell.column) for cell in table1_cells(SMOKE) if cell.column != "teacher_accuracy"
                and cell.row[0] != "student baseline" and cell.row[1] != CLIPPED}
    assert len(kd_cells) == 3 * 3 * 4
    # ... and the clipped-gradient controls of the stingy cells, on the side seeds
    clipped = (3 * 4 - 1) * len(SMOKE.side_seeds)
    assert len([c for c in runs if c.method.name == "kd"]) == (3 * 3 * 4 - 3) * len(SMOKE.seeds) + clipped


def test_keeping_every_class_is_the_normal_teacher_at_the_same_temperature():
    teacher = teacher_runs(SMOKE, SMOKE.table1, "resnet18")["normal"]
    full = kd_run(SMOKE, SMOKE.table1, "resnet18", teacher, 0, transform="stingy_sparse", keep=10, temperature=20.0)
    normal = kd_run(SMOKE, SMOKE.table1, "resnet18", teacher, 0, transform="normal", keep=None, temperature=20.0)
    assert full == normal


def test_bad_target():
    with pytest.raises(ValueError, match="target must be one of"):
        plan("smoke", "table3")


def _fake_store(tmp_path, profile, value_of, teacher_of=None) -> RunStore:
    """A store with a record for every run of the profile, accuracies chosen by ``value_of(cfg)`` (and
    the teacher's accuracy as a student sees it by ``teacher_of(cfg)``, default 50)."""
    store = RunStore(tmp_path / "results", tmp_path / "ckpt")
    for cfg in plan(profile, "all"):
        value = value_of(cfg)  # every epoch that tests scores it (the smoke students test only their last)
        store.write_record(fake_record(cfg, value, final=value, teacher_accuracy=(teacher_of or (lambda c: 50.0))(cfg)))
    return store


def test_table1_values_and_deltas(tmp_path):
    def value(cfg):  # baselines 40, students of the stingy view 20, other students 45, teachers 60/58
        if cfg.method.name == "supervised":
            return 60.0 if cfg.model in SMOKE.teachers else 40.0
        if cfg.method.name == "nasty":
            return 58.0
        return 20.0 if cfg.method.transform == "stingy_sparse" else 45.0

    def seen(cfg):  # the teacher's accuracy as a student sees it: normal 59, nasty 57, stingy 50
        if cfg.method.name != "kd":
            return None
        return 57.0 if "nasty" in cfg.method.teacher else 50.0 if cfg.method.transform == "stingy_sparse" else 59.0

    store = _fake_store(tmp_path, "smoke", value, seen)
    assert table1_frame(SMOKE, store).metric == "selected_accuracy"  # the smoke profile has a validation split
    # selected on validation: the fake records select their last epoch
    assert table1_frame(SMOKE, store).mean.loc[("student baseline", "baseline"), "shufflenetv2"] == 40.0
    table = table1_frame(SMOKE, store, "final_accuracy")
    mean = table.mean
    assert list(mean.columns) == ["teacher_accuracy", "shufflenetv2", "mobilenetv2", "resnet18", "teacher_self"]
    assert mean.index[0] == ("student baseline", "baseline")
    assert mean.loc[("student baseline", "baseline"), "shufflenetv2"] == 40.0
    # the teacher's accuracy as its students see it (their records' teacher_accuracy)
    assert mean.loc[("resnet50", "normal"), "teacher_accuracy"] == 59.0
    assert mean.loc[("resnet50", "nasty"), "teacher_accuracy"] == 57.0
    assert mean.loc[("resnet50", "stingy"), "teacher_accuracy"] == 50.0  # measured through the transform
    assert table.delta.loc[("resnet50", "stingy"), "shufflenetv2"] == -20.0
    assert table.delta.loc[("resnet50", "normal"), "teacher_self"] == 45.0 - 59.0
    assert table.std.loc[("resnet50", "normal"), "shufflenetv2"] == 0.0  # equal seeds
    one_seed = table1_frame(dataclasses.replace(SMOKE, seeds=(0,)), store, "final_accuracy")
    assert np.isnan(one_seed.std.loc[("resnet50", "normal"), "shufflenetv2"])
    formatted = one_seed.formatted()
    assert formatted.loc[("resnet50", "stingy"), "shufflenetv2"] == "20.00 (-20.00)"
    assert formatted.loc[("student baseline", "baseline"), "teacher_self"] == "—"


def test_seeds_give_mean_and_std(tmp_path):
    two_seeds = dataclasses.replace(SMOKE, seeds=(0, 1))
    table = table1_frame(two_seeds, _fake_store(tmp_path, two_seeds, lambda cfg: 40.0 + 2 * cfg.seed), "final_accuracy")
    cell = ("resnet18", "stingy"), "mobilenetv2"
    assert table.mean.loc[cell] == 41.0 and table.count.loc[cell] == 2
    assert table.std.loc[cell] == pytest.approx(np.sqrt(2.0))
    assert table.formatted().loc[cell].startswith("41.00 ± 1.41")


def test_missing_runs_are_nan(tmp_path):
    table = table2_frame(SMOKE, RunStore(tmp_path / "r", tmp_path / "c"))
    assert table.mean.isna().all().all()
    assert (table.formatted() == "—").all().all()


def test_figure_frame_curves(tmp_path):
    store = _fake_store(tmp_path, "smoke", lambda cfg: 1.0 + (getattr(cfg.method, "keep", None) or 0))
    frame = figure_frame(SMOKE, store, "final_accuracy")
    assert set(frame["curve"]) == {"stingy_sparse", "stingy_smooth", "reversed", "normal", "nasty", "baseline",
                                   "normal" + SECOND, "nasty" + SECOND, "stingy" + SECOND}
    sparse = frame[frame["curve"] == "stingy_sparse"].set_index("keep")
    assert list(sparse.index) == list(SMOKE.figure_keeps)
    # every seed at the recipe's N; the profile's sweep seeds elsewhere
    assert sparse.loc[SMOKE.table1.keep, "count"] == len(SMOKE.seeds)
    assert sparse.loc[1, "count"] == len(SMOKE.sweep_seeds)
    assert len({(c.row, c.column) for c in figure_cells(SMOKE)}) == len(frame)
    # the curves, normal KD and the nasty teacher share Table 1's τ; the second τ's points another one
    temps = {c.row[0]: c.run.method.temperature for c in figure_cells(SMOKE) if c.row[0] != "baseline"}
    assert temps["normal"] == temps["nasty"] == temps["stingy_sparse"] == SMOKE.table1.temperature
    assert temps["normal" + SECOND] == temps["stingy" + SECOND] == SMOKE.table1.second_temperature


def test_status_frame(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    runs = plan("smoke", "table2")
    store.write_record(fake_record(runs[0], 50.0))
    store.checkpoint_path(runs[1].run_id).parent.mkdir(parents=True)
    store.checkpoint_path(runs[1].run_id).write_bytes(b"")
    store.record_path(runs[2].run_id).write_text('{"run_id": "truncated')
    frame = status_frame("smoke", store, "table2").set_index("run_id")
    states = frame["state"]
    assert states[runs[0].run_id] == "done" and states[runs[1].run_id] == "interrupted"
    assert states[runs[2].run_id] == "corrupt"
    assert (states.drop([c.run_id for c in runs[:3]]) == "missing").all()
    assert (frame["weights"] == "no").all()


def test_table1_comparisons_are_paired_over_seeds(tmp_path):
    def value(cfg):  # baseline 40 + s, normal KD 45 + 2s, stingy 20, nasty 30 (s: the student seed)
        if cfg.method.name == "supervised":
            return 60.0 if cfg.model in SMOKE.teachers and cfg.train_per_class is None else 40.0 + cfg.seed
        if cfg.method.name in ("nasty", "dafl"):
            return 50.0
        return {"normal": 45.0 + 2 * cfg.seed, "stingy_sparse": 20.0}.get(cfg.method.transform, 30.0) \
            if "nasty" not in cfg.method.teacher else 30.0

    frame = table1_comparisons(SMOKE, _fake_store(tmp_path, "smoke", value), "final_accuracy")
    rows = frame.set_index(["teacher", "student", "comparison"])
    kd = rows.loc[("resnet50", "mobilenetv2", "normal KD − baseline")]
    # differences 5 (seed 0) and 6 (seed 1): mean 5.5, std 0.7071, half-width 12.706 · 0.7071 / √2 = 6.353
    assert kd["n"] == 2 and kd["mean"] == pytest.approx(5.5)
    assert (kd["low"], kd["high"]) == pytest.approx((5.5 - 6.3531, 5.5 + 6.3531), abs=1e-3)
    assert not kd["excludes_zero"]
    stingy = rows.loc[("resnet50", "mobilenetv2", "stingy − nasty")]
    assert stingy["mean"] == -10.0 and stingy["low"] == stingy["high"] == -10.0  # no spread
    # teacher self has no baseline: only the comparisons between teachers
    assert set(frame[frame["student"] == "teacher_self"]["comparison"]) == {"stingy − normal KD", "stingy − nasty",
                                                                           "clipped − stingy"}


# --- a new experiment, written here and registered: no library file is edited -----------------------------


class LabelSmoothingSweep(Experiment):
    """Test-only: the Table 1 students' baseline at two label-smoothing strengths (the first one, ε = 0,
    is Table 1's baseline itself: the same config, so the same run)."""

    name = "smoothing_sweep"
    title = "Label smoothing (a test-only experiment)"
    settings = ("table1", "students", "seeds")

    def cells(self, profile):
        return [Cell(("ε",), f"{eps:g}", seed, supervised_run(profile, profile.table1, "shufflenetv2", seed,
                                                              student=True, label_smoothing=eps), "student")
                for seed in profile.seeds for eps in (0.0, 0.2)]

    def table(self, profile, store, metric=None):
        long = cell_values(self.cells(profile), store, metric or profile.metric)
        return long.pivot_table(index="seed", columns="column", values="value")


@pytest.fixture
def sweep(monkeypatch, tmp_path):
    monkeypatch.setenv("STINGY_DATA_ROOT", str(tmp_path / "root"))  # a data root of its own
    register(LabelSmoothingSweep)
    yield EXPERIMENTS[LabelSmoothingSweep.name]
    unregister(LabelSmoothingSweep.name)
    assert LabelSmoothingSweep.name not in targets()


def test_a_new_experiment_registered_in_a_test_file_runs_through_run_status_and_table(sweep, capsys):
    from stingylib import cli

    assert targets()[-2:] == [sweep.name, "all"]
    runs = plan("smoke", sweep.name)
    assert len(runs) == 2 * len(SMOKE.seeds)
    baseline = next(c for c in table1_cells(SMOKE) if c.row == ("student baseline", "baseline")
                    and c.column == "shufflenetv2" and c.seed == 0).run
    assert baseline.run_id in {c.run_id for c in runs}  # shared with Table 1: one config, one run
    assert {c.run_id for c in runs} <= {c.run_id for c in plan("smoke", "all")}  # part of `all` while registered

    assert cli.main(["run", sweep.name, "--profile", "smoke"]) == 0
    assert f"{sweep.name} (smoke): {len(runs)} trained, 0 already done" in capsys.readouterr().out
    assert cli.main(["status", "--profile", "smoke", "--target", sweep.name]) == 0
    assert f"{len(runs)} done, 0 corrupt, 0 running, 0 interrupted, 0 missing" in capsys.readouterr().out
    assert cli.main(["table", sweep.name, "--profile", "smoke", "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0] == "seed,0,0.2" and len(csv) == 1 + len(SMOKE.seeds)
    assert all(0 <= float(v) <= 100 for line in csv[1:] for v in line.split(",")[1:])
    from stingylib import paper

    assert list(paper.profile_table("smoke", sweep.name).index)[:2] == ["table1.dataset", "table1.epochs"]


def test_the_registry_refuses_bad_experiments():
    class Nameless(Experiment):
        pass

    class Everything(Experiment):
        name = "all"

    class Twin(Experiment):
        name = "table1"

    for cls, message in ((Nameless, "name must be"), (Everything, "other than 'all'"), (Twin, "registered already")):
        with pytest.raises(ValueError, match=message):
            register(cls)
    assert type(EXPERIMENTS["table1"]).__name__ == "Table1"
