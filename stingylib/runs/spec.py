"""What training reads of a run: the :class:`TrainSpec`, a run's config without its method.

A :class:`~stingylib.runs.config.RunConfig` is a ``TrainSpec`` plus a registered method (the config
subclasses this class, so every field and default below is declared once). A method, and the
training building blocks, receive only the narrow ``TrainSpec`` (``RunConfig.spec``): the model,
the data and the optimisation, never the run's identity or the other runs it names.

The defaults are the optimisation settings every recipe of the paper shares (SGD with momentum 0.9
and weight decay 5e-4, batch 128, as in the authors' code); each experiment profile
(:mod:`stingylib.profiles`) sets the rest.
"""

from __future__ import annotations

import dataclasses

from ..fields import Validated, at_least, below_one, check, increasing_positive, nonnegative, one_of, positive


def _models():
    from ..models import MODELS

    return MODELS


def _datasets():
    from ..data import DATASETS

    return DATASETS


def _precisions():
    from ..fastpath import PRECISIONS

    return PRECISIONS


#: Learning-rate schedules (:func:`stingylib.training.learning_rate`): ``step`` multiplies the rate
#: by ``gamma`` at each milestone (the authors' code); ``cosine`` decays it from ``lr`` towards 0
#: along half a cosine over the run's epochs (no milestones).
SCHEDULES = ("step", "cosine")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSpec(Validated):
    """The network, the data and the optimisation of one run (everything but its method)."""

    model: str = dataclasses.field(metadata=check(one_of(_models)))
    dataset: str = dataclasses.field(metadata=check(one_of(_datasets)))
    epochs: int = dataclasses.field(metadata=check(at_least(1)))
    lr: float = dataclasses.field(metadata=check(positive))
    milestones: tuple[int, ...] = dataclasses.field(default=(), metadata=check(increasing_positive))
    gamma: float = dataclasses.field(default=0.1, metadata=check(positive))  # lr factor at each milestone
    schedule: str = dataclasses.field(default="step", metadata=check(one_of(lambda: SCHEDULES)))
    width: float = dataclasses.field(default=1.0, metadata=check(positive))
    seed: int = dataclasses.field(default=0, metadata=check(at_least(0)))
    batch_size: int = dataclasses.field(default=128, metadata=check(at_least(1)))
    momentum: float = dataclasses.field(default=0.9, metadata=check(below_one))
    weight_decay: float = dataclasses.field(default=5e-4, metadata=check(nonnegative))
    train_per_class: int | None = dataclasses.field(default=None, metadata=check(at_least(1)))  # None: all
    # The seed that draws the class-balanced training subset (train_per_class): a student seed with a
    # transfer set of its own sets it to its seed. The test subset (test_per_class) and the validation
    # split never depend on it: every run of a dataset is scored on the same images.
    subset_seed: int = dataclasses.field(default=0, metadata=check(at_least(0)))
    test_per_class: int | None = dataclasses.field(default=None, metadata=check(at_least(1)))
    # Images per class held out of the training split for validation (stingylib.data.split_validation):
    # the same images for every run of the dataset; model selection (the reported epoch, a teacher's
    # weights) reads them, never the test split. None: no validation split (the paper's protocol).
    val_per_class: int | None = dataclasses.field(default=None, metadata=check(at_least(1)))
    augment: bool = True
    # Arithmetic of this run's forward passes: "fp32", or "bf16" autocast (stingylib.fastpath). Part
    # of the identity: the two give (slightly) different numbers. A frozen network (a teacher) runs in
    # frozen_precision, when set, else in the precision of its own run.
    precision: str = dataclasses.field(default="fp32", metadata=check(one_of(_precisions)))
    # Arithmetic of the frozen networks this run reads (its teacher, a nasty teacher's adversary):
    # None runs each in the precision of its own run; "fp32" or "bf16" runs them all in that one (e.g.
    # fp32 on a CPU that has no native bf16, where a bf16 teacher would run emulated, ~10x slower).
    frozen_precision: str | None = dataclasses.field(default=None, metadata=check(one_of(_precisions)))
    # When the test split is evaluated. True: after every epoch (the history has every epoch's test
    # accuracy, and the record the paper's best-epoch numbers). False: only where a reported number
    # needs it, after the last epoch and once on the weights selected on validation (so it needs a
    # validation split); a small student spends about a quarter of its time on the test split otherwise.
    test_every_epoch: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schedule == "cosine" and self.milestones:
            raise ValueError(f"{type(self).__name__}.milestones must be () with schedule='cosine' (the cosine "
                             f"schedule has no milestones); got {self.milestones!r}")
        if not self.test_every_epoch and self.val_per_class is None:
            raise ValueError(f"{type(self).__name__}.test_every_epoch=False needs a validation split (val_per_class): "
                             "without one, the reported epoch is chosen on the test split, every epoch")

    @classmethod
    def of(cls, other: "TrainSpec") -> "TrainSpec":
        """The training fields of ``other`` (e.g. a whole run config) as a plain ``TrainSpec``."""
        return cls(**{f.name: getattr(other, f.name) for f in dataclasses.fields(cls)})

    def data_key(self) -> tuple:
        """What fixes the batches of an epoch: runs with equal keys draw the same images in the same
        order with the same augmentation (they can share batches in a cohort)."""
        return (self.dataset, self.train_per_class, self.subset_seed, self.test_per_class, self.val_per_class,
                self.seed, self.batch_size, self.augment)
