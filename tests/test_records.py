"""Records are validated: a bad file is named, shown as corrupt, never used, moved aside and retrained."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from stingylib.experiments import plan, supervised_run
from stingylib.profiles import SMOKE
from stingylib.runs import RecordError, RunStore, parse_record

from .records import fake_record


def _valid(cfg=None):
    # a run that tests every epoch (the records with every check; the other kind: tests/test_recipe_options.py)
    cfg = cfg or supervised_run(SMOKE, SMOKE.table1, "shufflenetv2", 0).replace(test_every_epoch=True)
    return cfg, fake_record(cfg, 60.0).to_json()


@pytest.mark.parametrize(
    "edit,problem",
    [
        (lambda d: d.pop("history"), r"missing field\(s\) \['history'\]"),
        (lambda d: d.update(colour="red"), r"unknown field\(s\) \['colour'\]"),
        (lambda d: d.update(schema=1), "record schema 1, but this stingylib reads schema 2"),
        (lambda d: d.update(best_accuracy=99.0), "best_accuracy is not the best epoch's accuracy"),
        (lambda d: d.update(final_accuracy=101.0), r"final_accuracy must be a number in \[0, 100\]"),
        (lambda d: d["history"].pop(), rf"history must list one entry per epoch \({SMOKE.table1.epochs}\); "
                                       rf"got {SMOKE.table1.epochs - 1}"),
        (lambda d: d["history"][1].update(train_total=float("nan")), "non-numeric or non-finite values"),
        (lambda d: d["history"][0].update(train_hint=1.0), r"unknown key\(s\) \['train_hint'\]"),  # not a term of its
        (lambda d: d["history"][0].update(diag_kd=1.0), r"unknown key\(s\) \['diag_kd'\]"),  # method's
        (lambda d: d["config"].update(lr=0.2), "is not its config's id"),
        (lambda d: d["config"].update(model="vgg"), "invalid config: RunConfig.model must be one of"),
        (lambda d: d.update(sample_images={"shape": [1, 1, 2, 2], "uint8_base64": "AAA="}), "invalid sample_images"),
    ],
)
def test_parse_record_names_the_file_and_the_problem(tmp_path, edit, problem):
    cfg, data = _valid()
    edit(data)
    path = tmp_path / f"{cfg.run_id}.json"
    with pytest.raises(RecordError, match=problem) as err:
        parse_record(json.loads(json.dumps(data)), path)
    assert str(err.value).startswith(f"{path}: ")


def test_truncated_empty_and_foreign_files_are_refused_by_the_store(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    a, data_a = _valid()
    b, _ = _valid(supervised_run(SMOKE, SMOKE.table1, "mobilenetv2", 0))
    store.write_record(fake_record(a, 60.0))
    text = store.record_path(a.run_id).read_text()
    assert store.load_record(a.run_id).best_accuracy == 60.0 and store.state(a.run_id) == "done"
    cases = {"truncated": (text[: len(text) // 2], "not valid JSON"), "empty": ("", r"not valid JSON \(empty file\)"),
             "foreign": (text, f"run_id '{a.run_id}' does not match the file name .*a record of another run")}
    for name, (content, problem) in cases.items():
        store.record_path(b.run_id).write_text(content)
        with pytest.raises(RecordError, match=problem):
            store.load_record(b.run_id)
        assert store.state(b.run_id) == "corrupt" and not store.is_done(b.run_id), name
    with pytest.raises(FileNotFoundError, match="no record of run"):
        store.load_record("no-such-run")


@pytest.fixture
def damaged_root(tmp_path, smoke_results):
    """A data root holding a copy of the smoke records (no weights) with three bad files."""
    results = tmp_path / "results" / "smoke"
    shutil.copytree(smoke_results.results, results)
    runs = {m: supervised_run(SMOKE, SMOKE.table1, m, 0).run_id for m in ("shufflenetv2", "mobilenetv2", "resnet18")}
    path = {m: results / f"{rid}.json" for m, rid in runs.items()}
    good = path["shufflenetv2"].read_text()
    path["shufflenetv2"].write_text(good[:100])  # truncated
    path["mobilenetv2"].write_text("")  # empty
    path["resnet18"].write_text(good)  # another run's record under this name
    return tmp_path, runs


def _cli(root, *args):
    env = {**os.environ, "STINGY_DATA_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "stingylib", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_status_table_and_run_with_corrupt_records(damaged_root):
    root, runs = damaged_root
    status = _cli(root, "status", "--profile", "smoke")
    assert status.returncode == 0, status.stderr
    total = len(plan("smoke", "all"))
    assert f"{total - 3} done, 3 corrupt, 0 running, 0 interrupted, 0 missing" in status.stdout
    for rid in runs.values():
        assert any(rid in line and "corrupt" in line for line in status.stdout.splitlines())

    table = _cli(root, "table", "table1", "--profile", "smoke", "--format", "csv")
    assert table.returncode == 0, table.stderr  # one bad file does not block the table
    for rid in runs.values():
        assert f"shown as missing: {root / 'results' / 'smoke' / rid}.json" in table.stderr
    baseline = next(line for line in table.stdout.splitlines() if line.startswith("student baseline"))
    # teacher column and teacher self have no baseline; the students' seed-0 records are bad, so each
    # cell is its other seed's number alone (no ± std)
    assert baseline.count("—") == 2 and "±" not in baseline

    run = _cli(root, "run", "table1", "--profile", "smoke")
    assert run.returncode == 0, run.stderr
    assert "3 trained" in run.stdout
    for rid in runs.values():
        assert f"moved the corrupt record aside to {root / 'results' / 'smoke' / rid}.json.corrupt" in run.stdout
        path = root / "results" / "smoke" / f"{rid}.json"
        parse_record(json.loads(path.read_text()), path)  # the retrained record is valid
    assert f"{len(plan('smoke', 'all'))} done, 0 corrupt" in _cli(root, "status", "--profile", "smoke").stdout
