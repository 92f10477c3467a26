"""The grid's progress bar: runs done of the total, the runs in progress, and when the grid ends.

:class:`GridProgress` is one ``tqdm`` bar for a whole ``run`` (the per-run bars of the engine stay
beneath it when runs train in this process). Its unit is the *work* of a run, the images it trains
on (:func:`run_work`: epochs × images per epoch), so that a long teacher counts for more than a
short student; the ETA is the work left divided by the throughput measured so far (work done per
second of wall time since the grid started: tqdm with ``smoothing=0``). It assumes the runs left
process images at the rate of those done, so it is rough while few runs have finished, and it
shows ``?`` until the first one has.

It is quiet when its stream is not a terminal (tqdm's ``disable=None``) unless asked for, and
log lines go through :meth:`GridProgress.write`, which prints them above the bar.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

from tqdm import tqdm

from .data import DATASETS

if TYPE_CHECKING:
    from .runs import RunConfig

#: The layout of the bar, which reads e.g. ``runs 3/40 |####   | 21% · 02:01 elapsed · ETA 07:35, now: <run>``.
BAR_FORMAT = "{desc} |{bar}| {percentage:3.0f}% · {elapsed} elapsed · ETA {remaining}{postfix}"


def run_work(cfg: "RunConfig") -> int:
    """The images a run trains on, over all its epochs: the unit of the grid's progress and ETA."""
    info = DATASETS[cfg.dataset]
    if cfg.train_per_class is not None:
        images = cfg.train_per_class * info.num_classes
    else:
        images = info.train_size - (cfg.val_per_class or 0) * info.num_classes
    return cfg.epochs * cfg.method.images_per_epoch(cfg.spec, images)


class GridProgress:
    """A progress bar over a grid of runs (see the module's description).

    Args:
        runs: the configs of the runs to train.
        enabled: show the bar: True, False, or None (default) for "only on a terminal".
        file: the stream (default: standard error, like every tqdm bar).
        clock: tqdm's timer (tests pass a fake one).
    """

    def __init__(self, runs: Iterable["RunConfig"], *, enabled: bool | None = None, file: TextIO | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.work = {cfg.run_id: run_work(cfg) for cfg in runs}
        self.done: set[str] = set()
        self.running: list[str] = []
        self.bar = tqdm(total=sum(self.work.values()), desc=self._desc(), unit="img", unit_scale=True,
                        smoothing=0.0, bar_format=BAR_FORMAT, dynamic_ncols=True, position=0, leave=True,
                        file=file if file is not None else sys.stderr, disable=None if enabled is None else not enabled)
        if clock is not None:  # tqdm reads the time through its instance's ``_time``; restart on the new clock
            self.bar._time = clock
            self.bar.reset(total=self.bar.total)

    @property
    def enabled(self) -> bool:
        return not self.bar.disable

    def _desc(self) -> str:
        return f"runs {len(self.done)}/{len(self.work)}"

    def _show(self) -> None:
        if self.running:
            more = f" (+{len(self.running) - 1} more)" if len(self.running) > 1 else ""
            self.bar.set_postfix_str(f"now: {self.running[0]}{more}", refresh=False)
        else:
            self.bar.set_postfix_str("", refresh=False)
        self.bar.set_description_str(self._desc(), refresh=False)
        self.bar.refresh()

    def started(self, run_ids: Iterable[str]) -> None:
        """Runs that have started (shown as the runs in progress)."""
        self.running.extend(r for r in run_ids if r not in self.running)
        self._show()

    def finished(self, run_id: str) -> None:
        """A run that is done (trained here, or by another process): its work counts as done."""
        if run_id in self.running:
            self.running.remove(run_id)
        if run_id in self.work and run_id not in self.done:
            self.done.add(run_id)
            self.bar.update(self.work[run_id])
        self._show()

    def write(self, log: Callable[[str], None], message: str) -> None:
        """``log(message)`` with the bar cleared first and drawn again after (lines stay above it)."""
        if not self.enabled:
            log(message)
            return
        with tqdm.external_write_mode(file=self.bar.fp):
            log(message)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "GridProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
