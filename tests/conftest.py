"""Shared test settings.

Data root: every test session runs in a data root of its own, set (as ``STINGY_DATA_ROOT``) before
any test runs, so the tests, the notebooks nbmake runs and the book build never touch the checkout's
``data/`` or a user's data, and the smoke grid is trained at most once per session (fixture
``smoke_results``). The opt-in ``STINGY_TEST_KEEP_DATA_ROOT`` (set = any non-empty value) decides
which folder that is and whether it outlives the session:

- unset (the default): a fresh temporary folder ``stingy-test-root-*`` (about 50 MB once the smoke
  grid is trained), removed when the session ends (``pytest_unconfigure``), whatever the outcome;
- set, with ``STINGY_DATA_ROOT`` also set: the tests use that folder and leave it in place, e.g. to
  reuse trained smoke results across sessions::

      STINGY_DATA_ROOT=/tmp/stingy-tests STINGY_TEST_KEEP_DATA_ROOT=1 pytest

- set, without ``STINGY_DATA_ROOT``: a fresh temporary folder as by default, kept after the session
  to be inspected.

The data root in use, and whether it is kept, is printed in pytest's header.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

KEEP_VAR = "STINGY_TEST_KEEP_DATA_ROOT"
ROOT_VAR = "STINGY_DATA_ROOT"
_TEMP_PREFIX = "stingy-test-root-"
#: (data root, whether this session made it and removes it at the end, the previous $STINGY_DATA_ROOT)
_DATA_ROOT = pytest.StashKey[tuple]()


def pytest_configure(config: pytest.Config) -> None:
    previous = os.environ.get(ROOT_VAR)
    keep = bool(os.environ.get(KEEP_VAR))
    if keep and previous:
        root, owned = Path(previous).expanduser().resolve(), False
    else:
        root, owned = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX)).resolve(), not keep
        os.environ[ROOT_VAR] = str(root)
    config.stash[_DATA_ROOT] = (root, owned, previous)


def pytest_report_header(config: pytest.Config) -> str | None:
    if _DATA_ROOT not in config.stash:
        return None
    root, owned, _ = config.stash[_DATA_ROOT]
    fate = f"removed at the end of the session; {KEEP_VAR}=1 keeps it" if owned else "kept"
    return f"stingy data root: {root} ({fate})"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _DATA_ROOT not in config.stash:
        return
    root, owned, previous = config.stash[_DATA_ROOT]
    if owned and root.name.startswith(_TEMP_PREFIX):  # only the folder this session made
        shutil.rmtree(root, ignore_errors=True)
    if previous is None:
        os.environ.pop(ROOT_VAR, None)
    else:
        os.environ[ROOT_VAR] = previous


@pytest.fixture(autouse=True, scope="session")
def _one_cpu_thread():
    # One intra-op thread: results do not depend on the machine's core count or load, and on a
    # shared 2-core machine small models run far faster than with two competing OpenMP threads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def concurrent_smoke_runs(tmp_path_factory) -> list[subprocess.CompletedProcess]:
    """The whole smoke grid, made by two ``python -m stingylib run all --profile smoke`` processes
    started together on this session's data root (each trains what the other has not taken)."""
    cmd = [sys.executable, "-m", "stingylib", "run", "all", "--profile", "smoke", "--jobs", "1"]
    logs = tmp_path_factory.mktemp("concurrent")
    procs = []
    for i in range(2):
        with open(logs / f"{i}.out", "w") as out, open(logs / f"{i}.err", "w") as err:
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=err, text=True))
    for proc in procs:
        proc.wait(timeout=1500)
    return [subprocess.CompletedProcess(cmd, p.returncode, (logs / f"{i}.out").read_text(),
                                        (logs / f"{i}.err").read_text()) for i, p in enumerate(procs)]


@pytest.fixture(scope="session")
def smoke_results(concurrent_smoke_runs):
    """The whole smoke grid trained once into this session's data root; returns its RunStore."""
    from stingylib.runs import RunStore

    for proc in concurrent_smoke_runs:
        assert proc.returncode == 0, proc.stderr
    return RunStore.for_profile("smoke")


@pytest.fixture(scope="module")
def module_store(tmp_path_factory):
    """An empty run store shared by the tests of one module."""
    from stingylib.runs import RunStore

    root = tmp_path_factory.mktemp("store")
    return RunStore(root / "results", root / "checkpoints")
