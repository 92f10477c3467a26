"""Methods that learn from a teacher: a finished run seen through one of the registered logit transforms.

:class:`TeacherMethod` is shared by the methods with a ``teacher`` role (:mod:`.kd`, :mod:`.dafl`,
:mod:`.skeptical`): the fields ``teacher`` (a run id), ``transform`` (a name of
:data:`stingylib.transforms.TRANSFORMS`) and ``keep`` (N, for the top-N transforms), their checks,
the teacher's view (the transform) and their part of the run's label.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from torch import Tensor

from ..fields import at_least, check, one_of
from ..transforms import TRANSFORMS, get_transform
from .base import Method, run_tag

if TYPE_CHECKING:
    from ..data import DatasetInfo
    from ..runs.spec import TrainSpec


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeacherMethod(Method):
    """A method with a ``teacher`` role seen through ``transform`` (with ``keep`` = N when it takes one)."""

    teacher: str
    transform: str = dataclasses.field(default="normal", metadata=check(one_of(lambda: TRANSFORMS)))
    keep: int | None = dataclasses.field(default=None, metadata=check(at_least(1)))

    roles = ("teacher",)

    def __post_init__(self) -> None:
        super().__post_init__()
        takes_n = TRANSFORMS[self.transform].takes_n
        if takes_n != (self.keep is not None):
            raise ValueError(f"{type(self).__name__}.keep must be "
                             f"{'an integer N >= 1' if takes_n else 'None'} for transform {self.transform!r}; "
                             f"got {self.keep!r}")

    def check(self, spec: "TrainSpec", info: "DatasetInfo") -> None:
        if self.keep is not None and self.keep > info.num_classes:
            raise ValueError(f"{type(self).__name__}.keep must be in [1, {info.num_classes}] (the number of "
                             f"classes of {info.name!r}); got {self.keep}")

    def view(self, role: str) -> Callable[[Tensor], Tensor]:
        return get_transform(self.transform, self.keep)

    def label_parts(self) -> list[str]:
        return [run_tag(self.teacher), self.shown_as()]

    def shown_as(self) -> str:
        """The transform and its N, e.g. ``stingy_sparse2`` or ``normal``."""
        return self.transform + ("" if self.keep is None else str(self.keep))
