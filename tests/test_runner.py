"""Executing graphs of runs: planning, order, locks, concurrency, dead parents, Ray (stingylib.runner)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stingylib.experiments import plan
from stingylib.methods import KD, Supervised
from stingylib.runner import execute, plan_tasks
from stingylib.runs import RunConfig, RunStore

TIMING = {"images_per_s", "seconds"}
TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50, lr=0.05,
            milestones=(1,), gamma=0.1, epochs=2)


def _history(store: RunStore, run_id: str) -> list[dict]:
    return [{k: v for k, v in h.to_json().items() if k not in TIMING} for h in store.load_record(run_id).history]


def _pair(seed: int = 0) -> tuple[RunConfig, RunConfig]:
    teacher = RunConfig(method=Supervised(), model="resnet18", **TINY)
    student = RunConfig(method=KD(teacher=teacher.run_id, transform="stingy_sparse", keep=2, temperature=4.0,
                                  alpha=0.9), model="shufflenetv2", seed=seed, **TINY)
    return teacher, student


def _quiet(msg: str) -> None:
    pass


# --- the two concurrent `run all` of the session fixture ------------------------------------------------

DONE = re.compile(r"^\[done \d+/\d+\] (\S+): (trained in [\d.]+ s|done by another process), test accuracy ([\d.]+) %$")


def test_two_concurrent_run_all_train_every_run_once(concurrent_smoke_runs, smoke_results):
    planned = {c.run_id for c in plan("smoke", "all")}
    trained, reported, totals = [], [], []
    for proc in concurrent_smoke_runs:
        assert proc.returncode == 0, proc.stderr
        lines = [DONE.match(line) for line in proc.stdout.splitlines()]
        mine = {m[1] for m in lines if m and m[2].startswith("trained")}
        trained.append(mine)
        reported.append({m[1]: m[3] for m in lines if m})
        summary = re.search(r"all \(smoke\): (\d+) trained, (\d+) already done", proc.stdout)
        assert summary and int(summary[1]) == len(mine), proc.stdout  # each counts only its own
        totals.append(int(summary[1]) + int(summary[2]))
    assert not trained[0] & trained[1], "a run was trained by both processes"
    assert trained[0] | trained[1] == planned and totals == [len(planned)] * 2
    assert all(trained), "one process did all the work: they did not run concurrently"
    # both end with the same numbers for every run (each reports all of them)
    assert reported[0] == reported[1] and set(reported[0]) == planned
    assert all(smoke_results.is_usable(rid) or smoke_results.is_done(rid) for rid in planned)


# --- planning and order -----------------------------------------------------------------------------------


def test_finished_runs_are_skipped_and_force_retrains(tmp_path, smoke_results):
    runs = plan("smoke", "table2")
    outcomes = execute(runs, smoke_results, threads=1, log=_quiet)
    assert {o.status for o in outcomes} == {"skipped"}
    store = RunStore(tmp_path / "r", tmp_path / "c")
    first = execute(runs[:1], store, threads=1, log=_quiet)
    assert [o.status for o in first] == ["trained"]
    again = execute(runs[:1], store, threads=1, force=True, log=_quiet)
    assert [o.status for o in again] == ["trained"]
    assert _history(store, runs[0].run_id) == _history(smoke_results, runs[0].run_id)


def test_execute_sorts_the_graph_itself(tmp_path):
    teacher, student = _pair()
    store = RunStore(tmp_path / "r", tmp_path / "c")
    outcomes = execute([student, teacher], store, jobs=1, threads=1, log=_quiet)  # student first: fine
    assert [o.run_id for o in outcomes] == [teacher.run_id, student.run_id]
    assert {o.status for o in outcomes} == {"trained"}


def test_a_run_whose_dependency_is_neither_done_nor_planned_is_refused(tmp_path):
    _, student = _pair()
    with pytest.raises(ValueError, match="needs .* which is neither finished nor planned"):
        execute([student], RunStore(tmp_path / "r", tmp_path / "c"))


def test_unknown_executor_options_and_bad_counts_are_errors(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    with pytest.raises(ValueError, match=r"executor must be one of \['local', 'ray'\]"):
        execute([], store, executor="slurm")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['job'\] for the 'local' executor; allowed: "):
        execute([], store, job=4)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['address'\] for the 'local' executor"):
        execute([], store, address="ray://head:10001")
    execute([], store, address=None)  # None means "the default": accepted for any known option
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
            execute([], store, jobs=bad)
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            execute([], store, threads=bad)


def test_a_data_root_that_is_a_file_or_not_writable_is_reported_before_training(tmp_path):
    teacher, _ = _pair()
    blocker = tmp_path / "root"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=f"{blocker} is a file"):
        execute([teacher], RunStore(blocker / "results" / "smoke", blocker / "checkpoints" / "smoke"))
    with pytest.raises(ValueError, match="cannot write in /proc/stingy"):  # read-only even for root
        execute([teacher], RunStore(Path("/proc/stingy/results"), Path("/proc/stingy/checkpoints")))


# --- done means usable ------------------------------------------------------------------------------------


def test_a_teacher_without_weights_is_trained_again_for_a_new_student(tmp_path):
    teacher, student = _pair()
    store = RunStore(tmp_path / "r", tmp_path / "c")
    execute([teacher, student], store, threads=1, log=_quiet)
    store.weights_path(teacher.run_id).unlink()  # as in the committed results: records, no weights
    before = store.load_record(teacher.run_id)

    tasks, skipped = plan_tasks([student], store)
    assert tasks == [] and [o.status for o in skipped] == ["skipped"]  # its students are done: not needed
    _, new_student = _pair(seed=1)
    tasks, _ = plan_tasks([new_student], store)
    assert [(t.run_id, t.need_weights) for t in tasks] == [(teacher.run_id, True), (new_student.run_id, False)]

    outcomes = execute([new_student], store, threads=1, log=_quiet)
    assert [(o.run_id, o.status) for o in outcomes] == [(teacher.run_id, "trained"), (new_student.run_id, "trained")]
    assert store.is_usable(teacher.run_id)
    assert _history(store, teacher.run_id) == [{k: v for k, v in h.to_json().items() if k not in TIMING}
                                               for h in before.history]  # the same teacher, retrained

    weights = store.weights_path(teacher.run_id)  # truncated weights are as good as none
    weights.write_bytes(weights.read_bytes()[:1000])
    _, third = _pair(seed=2)
    notes = []
    outcomes = execute([third], store, threads=1, log=notes.append)
    assert [(o.run_id, o.status) for o in outcomes] == [(teacher.run_id, "trained"), (third.run_id, "trained")]
    assert any(f"moved the unreadable or mismatched weights aside to {weights}.corrupt" in n for n in notes)


# --- a dead parent leaves no orphan -----------------------------------------------------------------------

SCRIPT = """
from pathlib import Path
from stingylib.methods import Supervised
from stingylib.runner import execute
from stingylib.runs import RunConfig, RunStore
runs = [RunConfig(method=Supervised(), model="shufflenetv2", dataset="digits", epochs={epochs}, lr=0.05,
                  width=0.125, batch_size=50, train_per_class=5, test_per_class=5, seed=s) for s in (0, 1)]
execute(runs, RunStore(Path({results!r}), Path({checkpoints!r})), jobs=2, threads=1,
        log=lambda m: print(m, flush=True))
"""


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_the_parent_of_jobs_2_stops_its_workers_and_the_runs_resume(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    script = SCRIPT.format(epochs=40, results=str(store.results), checkpoints=str(store.checkpoints))
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(store.checkpoints.glob("*/checkpoint.pt"))) < 2:  # both workers are training
        assert parent.poll() is None, parent.stderr.read().decode()
        assert time.monotonic() < deadline, "the workers wrote no checkpoint in 120 s"
        time.sleep(0.1)
    workers = _children(parent.pid)
    assert len(workers) >= 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers kept training after their parent died"
    assert not list(store.results.glob("*.json"))
    # nothing is lost: a new runner takes the locks at once and resumes both runs from their checkpoints
    ids = [p.parent.name for p in store.checkpoints.glob("*/checkpoint.pt")]
    assert all(store.state(rid) == "interrupted" for rid in ids)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert all(store.is_usable(rid) for rid in ids)


# --- the command line's --only ----------------------------------------------------------------------------


def test_run_only_trains_one_run_and_what_it_needs(tmp_path):
    dafl = next(c for c in plan("smoke", "table2") if c.method.name == "dafl" and c.method.transform != "normal")
    env = {**os.environ, "STINGY_DATA_ROOT": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "stingylib", "run", "all", "--profile", "smoke", "--only",
                          dafl.run_id], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"{dafl.run_id} (smoke): 2 trained, 0 already done" in out.stdout  # the student and its teacher
    assert sorted(p.stem for p in (tmp_path / "results" / "smoke").glob("*.json")) == \
        sorted([dafl.run_id, dafl.dependencies()[0]])
    typo = subprocess.run([sys.executable, "-m", "stingylib", "run", "all", "--profile", "smoke", "--only",
                           dafl.run_id[:-1]], capture_output=True, text=True, env=env, timeout=600)
    assert typo.returncode == 1 and "did you mean" in typo.stderr and dafl.run_id in typo.stderr


@pytest.mark.slow
def test_ray_executor_gives_the_local_results_in_any_order(tmp_path, smoke_results):
    pytest.importorskip("ray")
    # every method (supervised, nasty, KD from a stingy teacher, DAFL), dependents listed first
    table1 = plan("smoke", "table1")
    stingy_kd = next(c for c in table1 if c.method.name == "kd" and c.method.transform == "stingy_sparse")
    teacher = next(c for c in table1 if c.run_id == stingy_kd.method.teacher)
    runs = list(reversed(plan("smoke", "table2"))) + [stingy_kd, teacher]
    store = RunStore(tmp_path / "ray_results", tmp_path / "ray_ckpt")
    outcomes = execute(runs, store, executor="ray", jobs=2, threads=1, log=_quiet)
    assert len(outcomes) == len(runs) and {o.status for o in outcomes} == {"trained"}
    for cfg in runs:
        assert _history(store, cfg.run_id) == _history(smoke_results, cfg.run_id), cfg.run_id
        ours, theirs = store.load_record(cfg.run_id), smoke_results.load_record(cfg.run_id)
        assert ours.sample_logits == theirs.sample_logits



def test_runs_others_wait_for_start_first(tmp_path, monkeypatch):
    # ready at once: two baselines (nobody waits for them) and a teacher (a student waits for it),
    # listed last; the teacher starts first, so its student is not left for the end
    teacher, student = _pair()
    baselines = [RunConfig(method=Supervised(), model="shufflenetv2", seed=s, **TINY) for s in (1, 2)]
    from stingylib import runner
    from stingylib.engine import Outcome

    started = []

    def fake_train(unit, store, **options):
        started.extend(unit.run_ids)
        return [Outcome(rid, "trained", 0.0, 50.0) for rid in unit.run_ids]

    monkeypatch.setattr(runner.Unit, "train", fake_train)
    tasks, _ = plan_tasks([*baselines, teacher, student], RunStore(tmp_path / "r", tmp_path / "c"))
    runner.run_local(tasks, RunStore(tmp_path / "r", tmp_path / "c"), jobs=1, log=_quiet)
    assert started[0] == teacher.run_id
    assert set(started[1:]) == {b.run_id for b in baselines} | {student.run_id}
