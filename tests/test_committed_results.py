"""The committed results: valid records of exactly the runs their profile plans, and the migration
script that moved them to the current identity rule (scripts/migrate_records.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from stingylib.experiments import plan
from stingylib.methods import KD, Nasty, Supervised
from stingylib.runs import RunConfig, records

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "results"


def _profiles() -> list[str]:
    return sorted(p.name for p in COMMITTED.iterdir() if p.is_dir())


@pytest.mark.parametrize("profile", _profiles())
def test_every_committed_record_is_valid_and_a_planned_run(profile):
    good, bad = records(COMMITTED / profile)
    assert not bad, [str(e) for e in bad]
    planned = {c.run_id: c for c in plan(profile, "all")}
    ids = {r.run_id for r in good}
    assert ids == set(planned), f"not planned: {sorted(ids - set(planned))}; no record: {sorted(set(planned) - ids)}"
    for record in good:
        assert record.config == planned[record.run_id]
        assert record.sample_images is not None  # the teachers page needs no dataset


CALIBRATION = ROOT / "data" / "calibration"


@pytest.mark.parametrize("folder", sorted({p.parent for p in CALIBRATION.rglob("*.json")}), ids=str)
def test_every_calibration_record_is_valid_and_a_control_or_a_nasty_teacher_alone(folder):
    """A recipe is calibrated on controls only (baselines, normal teachers, normal-KD students of a
    normal teacher) and on a nasty teacher alone (its ω, no student of it): never on a treatment."""
    good, bad = records(folder)
    assert good and not bad, [str(e) for e in bad]
    for record in good:
        method = record.config.method
        assert method.name in ("supervised", "nasty", "dafl", "kd"), record.run_id
        if method.name in ("kd", "dafl"):
            assert method.transform == "normal" and method.teacher.startswith("supervised-"), record.run_id
        if method.name == "kd":
            assert method.control(), record.run_id


def _migration():
    spec = importlib.util.spec_from_file_location("migrate_records", ROOT / "scripts" / "migrate_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


V1_COMMON = dict(model="resnet18", dataset="fashion-mnist", epochs=10, lr=0.1, milestones=[5, 8], gamma=0.1,
                 width=0.125, seed=0, batch_size=128, momentum=0.9, weight_decay=0.0005, train_per_class=400,
                 test_per_class=200, augment=True, teacher=None, transform="normal", keep=None, adversary=None,
                 temperature=None, alpha=None, omega=None, latent_dim=None, iterations_per_epoch=None,
                 generator_lr=None, dafl_one_hot=None, dafl_info_entropy=None, dafl_activation=None)


def _v1_record(run_id: str, **config) -> dict:
    history = [{"epoch": i + 1, "lr": 0.1, "test_accuracy": 50.0 + i, "train_total": 1.0} for i in range(10)]
    return {"run_id": run_id, "config": {**V1_COMMON, **config}, "final_accuracy": 59.0, "best_accuracy": 59.0,
            "best_epoch": 10, "accuracy_protocol": {}, "teacher_accuracy": None, "num_params": 1,
            "wall_seconds": 1.0, "images_per_s": 1.0, "history": history, "sample_logits": [[0.0, 1.0]],
            "sample_labels": [1], "git_commit": "abc", "stingylib": "0.1.0", "versions": {}, "device": "cpu",
            "machine": {}, "finished_at": "2026-11-26T11:41:37+00:00"}


def test_the_migration_maps_schema_1_records_onto_the_planned_runs():
    teacher = _v1_record("supervised-resnet18-w0.125-fashion-mnist-s0-old1", method="supervised")
    nasty = _v1_record("nasty-resnet18-w0.125-fashion-mnist-s0-old2", method="nasty", adversary=teacher["run_id"],
                       temperature=4.0, omega=0.04)
    student = _v1_record("kd-shufflenetv2-w0.125-normal-fashion-mnist-s0-old3", method="kd", model="shufflenetv2",
                         teacher=nasty["run_id"], temperature=4.0, alpha=0.9)
    migrated = _migration().migrate([student, nasty, teacher], images=False)  # any order

    # the first cpu profile's runs (before the validation split), as version 2 configs
    common = dict(dataset="fashion-mnist", epochs=10, lr=0.1, milestones=(5, 8), gamma=0.1, width=0.125,
                  train_per_class=400, test_per_class=200)
    expected_teacher = RunConfig(method=Supervised(), model="resnet18", **common)
    expected_nasty = RunConfig(method=Nasty(adversary=expected_teacher.run_id, temperature=4.0, omega=0.04),
                               model="resnet18", **common)
    assert migrated[teacher["run_id"]].config == expected_teacher
    assert migrated[nasty["run_id"]].config == expected_nasty
    assert migrated[student["run_id"]].config == RunConfig(
        method=KD(teacher=expected_nasty.run_id, transform="normal", temperature=4.0, alpha=0.9),
        model="shufflenetv2", **common)
    new = migrated[student["run_id"]]
    assert new.best_accuracy == 59.0 and new.provenance["git_commit"] == "abc"  # measurements copied
    assert new.migrated["from_run_id"] == student["run_id"] and new.migrated["from_schema"] == 1


def test_the_migration_refuses_a_v1_config_with_a_parameter_its_method_does_not_use():
    odd = _v1_record("supervised-x-old", method="supervised", temperature=4.0)
    with pytest.raises(ValueError, match=r"sets fields its method does not use: \['temperature'\]"):
        _migration().migrate([odd], images=False)


STARTUP = """
import stingylib.data as _data

def _no_dataset(*args, **kwargs):
    raise RuntimeError("this page must not need the dataset")

_data.load_dataset = _no_dataset
"""


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["teachers", "table1", "attacks"])
def test_the_cpu_pages_use_the_committed_results_without_training_or_the_dataset(notebook, tmp_path):
    # teachers: the page that used to read the dataset for its images; table1: the main result; attacks:
    # the skeptical reader's chapter.
    # (`make book` executes all pages the same way; every planned cpu run has a valid record above.)
    papermill = pytest.importorskip("papermill")
    root = tmp_path / "root"
    shutil.copytree(COMMITTED / "cpu", root / "results" / "cpu")
    ipython = tmp_path / "ipython"  # a kernel startup file makes any dataset access fail
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (ipython / "profile_default" / "startup" / "00-no-dataset.py").write_text(STARTUP)
    env = {"STINGY_DATA_ROOT": str(root), "IPYTHONDIR": str(ipython)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        out = papermill.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                                         parameters={"profile": "cpu"}, kernel_name="python3", cwd=str(ROOT),
                                         progress_bar=False)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert re.search(r"(\d+) runs: 0 trained now, \1 already finished", json.dumps(out))
    assert not (root / "checkpoints").exists()  # nothing was trained


def test_a_cpu_page_with_a_missing_result_stops_and_names_the_command(tmp_path, monkeypatch):
    from stingylib.experiments import MissingResultsError, ensure_results

    root = tmp_path / "root"
    shutil.copytree(COMMITTED / "cpu", root / "results" / "cpu")
    victim = next((root / "results" / "cpu").glob("kd-*.json"))
    victim.unlink()
    monkeypatch.setenv("STINGY_DATA_ROOT", str(root))
    runs = len(plan("cpu", "all"))
    with pytest.raises(MissingResultsError, match=rf"1 of the {runs} runs of 'all' .*\n  {victim.stem}\n"
                                                  r"Make them with:\n  python -m stingylib run all --profile cpu"):
        ensure_results("cpu", "all")
    assert not (root / "checkpoints").exists()  # nothing was trained
