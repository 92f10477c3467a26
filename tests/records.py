"""Valid records with chosen numbers, for tests that need a store without training."""

from __future__ import annotations

from stingylib.runs import EpochMetrics, RunConfig, RunRecord


def fake_record(cfg: RunConfig, best: float, final: float | None = None,
                teacher_accuracy: float | None = 50.0, val: float | None = None) -> RunRecord:
    """A valid record of ``cfg`` whose best epoch scores ``best`` and whose last one ``final``
    (default ``best - 1``); every epoch before the last scores ``best`` at epoch 1. With a
    validation split, the last epoch is the one selected (``selected_accuracy`` = ``final``) with
    validation accuracy ``val``. A run that tests only where it reports (``test_every_epoch=False``)
    has the last epoch's test accuracy alone, and no best epoch."""
    final = best - 1 if final is None else final
    accuracies = [best] + [min(best, final)] * (cfg.epochs - 2) + [final] if cfg.epochs > 1 else [best]
    if cfg.epochs == 1:
        final = best
    selected = {}
    top = None
    if cfg.val_per_class is not None:  # validation accuracy rises every epoch: the last epoch is selected
        top = float(cfg.epochs) if val is None else val  # ... and scores ``val`` (default: the epoch count)
        selected = dict(selected_epoch=cfg.epochs, selected_accuracy=final, selected_val_accuracy=top)
    if not cfg.test_every_epoch:
        accuracies = [None] * (cfg.epochs - 1) + [final]
    history = tuple(EpochMetrics(epoch=i + 1, lr=cfg.lr, test_accuracy=a, train={"total": 1.0},
                                 val_accuracy=None if top is None else top - cfg.epochs + i + 1)
                    for i, a in enumerate(accuracies))
    best_epoch = 1 if cfg.test_every_epoch else None
    return RunRecord(run_id=cfg.run_id, config=cfg, final_accuracy=final, best_accuracy=best if best_epoch else None,
                     best_epoch=best_epoch, **selected,
                     teacher_accuracy=teacher_accuracy, num_params=1, wall_seconds=1.0, images_per_s=1.0,
                     history=history, sample_logits=((0.0, 1.0),), sample_labels=(1,), sample_images=None,
                     provenance={"device": "cpu", "git_commit": None, "finished_at": "2026-01-01T00:00:00+00:00"})
