"""Shared test settings."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_cpu_thread():
    # One intra-op thread: results do not depend on the machine's core count or load, and on a
    # shared 2-core machine small models run far faster than with two competing OpenMP threads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
