"""Other processes, for tests of what happens between processes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Iterator

from stingylib.runs import RunStore


@contextlib.contextmanager
def lock_held_elsewhere(store: RunStore, run_id: str) -> Iterator[subprocess.Popen]:
    """Another process holds ``run_id``'s lock of ``store`` while the block runs (it is killed after)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from pathlib import Path; from stingylib.runs import RunStore; "
        f"s = RunStore(Path({str(store.results)!r}), Path({str(store.checkpoints)!r})); "
        f"cm = s.lock({run_id!r}); cm.__enter__(); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()
