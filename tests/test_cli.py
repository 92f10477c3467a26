"""The command line (python -m stingylib)."""

from __future__ import annotations

import os
import subprocess
import sys

from stingylib.experiments import plan


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stingylib", *args], capture_output=True, text=True, timeout=600)


def test_run_again_trains_nothing(smoke_results):
    out = cli("run", "all", "--profile", "smoke")
    assert out.returncode == 0, out.stderr
    runs = len(plan("smoke", "all"))
    assert f"all (smoke): 0 trained, {runs} already done" in out.stdout


def test_status_and_tables(smoke_results):
    status = cli("status", "--profile", "smoke")
    runs = len(plan("smoke", "all"))
    assert status.returncode == 0 and f"{runs} done, 0 corrupt, 0 running, 0 interrupted, 0 missing" in status.stdout
    table = cli("table", "table1", "--profile", "smoke", "--format", "markdown")
    assert table.returncode == 0
    assert "student baseline" in table.stdout and "resnext29" in table.stdout
    assert "(+" in table.stdout or "(-" in table.stdout
    csv = cli("table", "table2", "--profile", "smoke", "--format", "csv", "--metric", "final")
    assert csv.stdout.splitlines()[0] == "dataset,variant,teacher_accuracy,dafl"
    figure = cli("table", "figure", "--profile", "smoke")
    assert "stingy_smooth" in figure.stdout
    attacks = cli("table", "attacks", "--profile", "smoke", "--format", "markdown")
    assert attacks.returncode == 0, attacks.stderr
    assert "tail fill" in attacks.stdout and "recovered" in attacks.stdout and "skeptical student" in attacks.stdout
    again = cli("run", "attacks", "--profile", "smoke")
    assert again.returncode == 0 and f"attacks (smoke): 0 trained, {len(plan('smoke', 'attacks'))} already done" \
        in again.stdout


def test_unknown_names_list_the_valid_ones():
    for args, valid in [(("run", "table3"), "table1"), (("run", "all", "--profile", "gpu"), "smoke"),
                        (("run", "all", "--executor", "slurm"), "ray"), (("table", "table1", "--format", "xml"), "csv")]:
        out = cli(*args)
        assert out.returncode == 2 and "invalid choice" in out.stderr and valid in out.stderr


def test_usage_errors_name_the_problem(tmp_path):
    for flag, value in (("--jobs", "0"), ("--threads", "two")):
        out = cli("run", "all", flag, value)
        assert out.returncode == 2 and f"argument {flag}: must be an integer >= 1; got '{value}'" in out.stderr
    blocker = tmp_path / "root"
    blocker.write_text("a file")
    out = subprocess.run([sys.executable, "-m", "stingylib", "run", "table2", "--profile", "smoke"],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "STINGY_DATA_ROOT": str(blocker)})
    assert out.returncode == 1 and f"error: data root problem: {blocker} is a file" in out.stderr
    assert "Traceback" not in out.stderr
