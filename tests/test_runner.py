"""Executing graphs of runs: skipping, dependency checks, and the Ray executor (stingylib.runner)."""

from __future__ import annotations

import json

import pytest

from stingylib.experiments import plan
from stingylib.runner import execute
from stingylib.runs import RunStore

TIMING = {"images_per_s", "seconds"}


def _history(store: RunStore, run_id: str) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in store.load_record(run_id)["history"]]


def test_finished_runs_are_skipped_and_force_retrains(tmp_path, smoke_results):
    runs = plan("smoke", "table2")
    outcomes = execute(runs, smoke_results, threads=1)
    assert {o.status for o in outcomes} == {"skipped"}
    store = RunStore(tmp_path / "r", tmp_path / "c")
    first = execute(runs[:1], store, threads=1)
    assert [o.status for o in first] == ["trained"]
    again = execute(runs[:1], store, threads=1, force=True)
    assert [o.status for o in again] == ["trained"]
    assert _history(store, runs[0].run_id) == _history(smoke_results, runs[0].run_id)


def test_a_run_whose_dependency_is_neither_done_nor_planned_is_refused(tmp_path):
    student = [c for c in plan("smoke", "table2") if c.method == "dafl"][0]
    with pytest.raises(ValueError, match="needs .* which is neither finished nor planned"):
        execute([student], RunStore(tmp_path / "r", tmp_path / "c"))


def test_bad_executor_and_jobs(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    with pytest.raises(ValueError, match=r"executor must be one of \['local', 'ray'\]"):
        execute([], store, executor="slurm")
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        execute([], store, jobs=0)


@pytest.mark.slow
def test_ray_executor_gives_the_local_results(tmp_path, smoke_results):
    pytest.importorskip("ray")
    runs = plan("smoke", "all")
    store = RunStore(tmp_path / "ray_results", tmp_path / "ray_ckpt")
    outcomes = execute(runs, store, executor="ray", jobs=2, threads=1, log=lambda m: None)
    assert len(outcomes) == len(runs) and {o.status for o in outcomes} == {"trained"}
    for cfg in runs:
        assert _history(store, cfg.run_id) == _history(smoke_results, cfg.run_id), cfg.run_id
        ours, theirs = store.load_record(cfg.run_id), smoke_results.load_record(cfg.run_id)
        assert json.dumps(ours["sample_logits"]) == json.dumps(theirs["sample_logits"])
