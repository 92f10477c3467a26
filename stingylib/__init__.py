"""stingylib: the Stingy Teacher paper's core.

Teacher output transforms (stingy-sparse, stingy-smooth, reversed, …), the losses of knowledge
distillation, the Nasty Teacher and DAFL as pure functions, and the model owner's wrappers. The
models (:mod:`stingylib.models`), data (:mod:`stingylib.data`), the methods
(:mod:`stingylib.methods`), runs (:mod:`stingylib.runs`) and the training engine
(:mod:`stingylib.engine`) are submodules. Importing the package registers the built-in methods, so
that any run config or record can be read by name.
"""

from . import methods as _methods  # noqa: F401 - registers the built-in methods (runs read them by name)
from ._version import __version__
from .losses import (
    cross_entropy_loss,
    dafl_generator_loss,
    dafl_student_loss,
    kd_loss,
    kl_batchmean,
    nasty_loss,
)
from .teachers import StingyTeacher, TransformedTeacher
from .transforms import (
    TRANSFORMS,
    get_transform,
    normal,
    reversed_logits,
    stingy_smooth,
    stingy_sparse,
    truncated_topn,
    uniform_topn,
)


__all__ = [
    "__version__",
    "TRANSFORMS",
    "StingyTeacher",
    "TransformedTeacher",
    "cross_entropy_loss",
    "dafl_generator_loss",
    "dafl_student_loss",
    "get_transform",
    "kd_loss",
    "kl_batchmean",
    "nasty_loss",
    "normal",
    "reversed_logits",
    "stingy_smooth",
    "stingy_sparse",
    "truncated_topn",
    "uniform_topn",
]
