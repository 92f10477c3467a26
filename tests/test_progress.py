"""The grid's progress bar (stingylib.progress): runs done of the total, the runs in progress, an ETA
from the throughput measured so far; quiet off a terminal; driven by the local runner."""

from __future__ import annotations

import functools
import io
import re

import pytest

from stingylib import runner
from stingylib.engine import Outcome
from stingylib.methods import DAFL, KD, Supervised
from stingylib.progress import GridProgress, run_work
from stingylib.runner import execute
from stingylib.runs import RunConfig, RunStore

TINY = dict(dataset="digits", width=0.125, batch_size=50, lr=0.05, epochs=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _runs(n: int, **changes) -> list[RunConfig]:
    return [RunConfig(method=Supervised(), model="resnet18", seed=i, train_per_class=20, **{**TINY, **changes})
            for i in range(n)]


def _last_line(stream: io.StringIO) -> str:
    """The bar as last drawn (tqdm redraws in place with carriage returns)."""
    return re.split(r"[\r\n]", stream.getvalue().rstrip("\r\n"))[-1]


def test_run_work_counts_the_images_each_run_trains_on():
    teacher, = _runs(1)
    assert run_work(teacher) == 2 * 20 * 10  # epochs × train_per_class × classes
    whole = teacher.replace(train_per_class=None, val_per_class=5)
    assert run_work(whole) == 2 * (1347 - 5 * 10)  # the digits train split minus the validation images
    dafl = RunConfig(method=DAFL(teacher=teacher.run_id, latent_dim=8, iterations_per_epoch=3, generator_lr=0.01,
                                 one_hot=1.0, info_entropy=5.0, activation=0.1), model="resnet18", **TINY)
    assert run_work(dafl) == 2 * 3 * 50  # generated images: iterations × batch, no training image


def test_digits_train_size_is_the_loaded_split():
    from stingylib.data import DATASETS, load_dataset

    assert load_dataset("digits").train_x.shape[0] == DATASETS["digits"].train_size


def test_the_bar_shows_runs_done_the_run_in_progress_and_an_eta_from_the_throughput():
    clock, out = FakeClock(), io.StringIO()
    runs = _runs(4)
    grid = GridProgress(runs, enabled=True, file=out, clock=clock)
    assert "runs 0/4" in _last_line(out) and "ETA ?" in _last_line(out)  # nothing measured yet
    grid.started([runs[0].run_id, runs[1].run_id])
    line = _last_line(out)
    assert f"now: {runs[0].run_id} (+1 more)" in line
    clock.now += 10.0
    grid.finished(runs[0].run_id)  # a quarter of the work in 10 s: three quarters left → 30 s
    line = _last_line(out)
    assert "runs 1/4" in line and " 25%" in line and "ETA 00:30" in line and "00:10 elapsed" in line, line
    assert f"now: {runs[1].run_id}" in line and "more" not in line
    clock.now += 20.0
    grid.finished(runs[1].run_id)
    grid.finished(runs[1].run_id)  # counted once
    line = _last_line(out)
    assert "runs 2/4" in line and "ETA 00:30" in line, line  # half the work in 30 s: 30 s left
    grid.close()


def test_the_eta_weighs_runs_by_their_work():
    clock, out = FakeClock(), io.StringIO()
    short, = _runs(1)
    long = short.replace(epochs=6, seed=9)  # three times the work
    grid = GridProgress([short, long], enabled=True, file=out, clock=clock)
    clock.now += 5.0
    grid.finished(short.run_id)  # 1/4 of the work in 5 s: 15 s left, not 5
    assert "ETA 00:15" in _last_line(out), _last_line(out)


def test_the_bar_is_quiet_off_a_terminal():
    out = io.StringIO()  # not a tty
    grid = GridProgress(_runs(2), file=out)
    assert not grid.enabled
    lines = []
    grid.write(lines.append, "a log line")
    grid.finished(_runs(2)[0].run_id)
    grid.close()
    assert out.getvalue() == "" and lines == ["a log line"]


def test_the_local_runner_drives_the_bar(monkeypatch, tmp_path):
    """A fake runner: every unit "trains" in 4 s of a fake clock; the bar's text follows the grid."""
    clock, out = FakeClock(), io.StringIO()
    monkeypatch.setattr(runner, "GridProgress", functools.partial(GridProgress, file=out, clock=clock))

    def fake_train(unit, store, **options):
        clock.now += 4.0
        return [Outcome(t.run_id, "trained", 4.0, 50.0) for t in unit.tasks]

    monkeypatch.setattr(runner.Unit, "train", fake_train)
    teacher, *_ = _runs(1)
    students = [RunConfig(method=KD(teacher=teacher.run_id, transform="normal", temperature=4.0, alpha=0.9),
                          model="shufflenetv2", seed=s, train_per_class=20, **TINY) for s in range(3)]
    logged = []
    outcomes = execute([teacher, *students], RunStore(tmp_path / "r", tmp_path / "c"), cohort_size=1,
                       progress=True, log=logged.append)
    assert [o.status for o in outcomes] == ["trained"] * 4
    text = out.getvalue()
    assert "runs 0/4" in text and f"now: {teacher.run_id}" in text
    assert "runs 1/4" in text and "ETA 00:12" in text  # one of four equal runs in 4 s
    assert "runs 4/4" in _last_line(out) and "100%" in _last_line(out)
    assert sum(line.startswith("[done") for line in logged) == 4  # the log lines are all there too


@pytest.mark.parametrize("enabled", [None, False])
def test_a_grid_without_a_terminal_writes_nothing(monkeypatch, tmp_path, enabled, capsys):
    monkeypatch.setattr(runner.Unit, "train",
                        lambda unit, store, **o: [Outcome(t.run_id, "trained", 0.0, 50.0) for t in unit.tasks])
    execute(_runs(2), RunStore(tmp_path / "r", tmp_path / "c"), progress=enabled, log=lambda m: None)
    assert "runs " not in capsys.readouterr().err
