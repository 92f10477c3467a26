"""Shared test settings.

Every test session gets its own data root (``STINGY_DATA_ROOT``), set before any test runs, so the
tests, the notebooks nbmake runs and the book build never touch the checkout's ``data/`` and the
smoke grid is trained at most once per session (fixture ``smoke_results``).
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    if "STINGY_TEST_KEEP_DATA_ROOT" not in os.environ:
        os.environ["STINGY_DATA_ROOT"] = tempfile.mkdtemp(prefix="stingy-test-root-")


@pytest.fixture(autouse=True, scope="session")
def _one_cpu_thread():
    # One intra-op thread: results do not depend on the machine's core count or load, and on a
    # shared 2-core machine small models run far faster than with two competing OpenMP threads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smoke_results():
    """The whole smoke grid trained once into this session's data root; returns its RunStore."""
    from stingylib.runner import ensure_results
    from stingylib.runs import RunStore

    ensure_results("smoke", "all", jobs=2, threads=1, log=lambda msg: None)
    return RunStore.for_profile("smoke")
