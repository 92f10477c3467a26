"""The registered training methods (see :mod:`stingylib.methods.base` for what a method is).

Built in: ``supervised``, ``kd``, ``nasty``, ``dafl`` and ``skeptical`` (the Skeptical Student
attack). A new method is a subclass of :class:`~stingylib.methods.base.Method` (or of
:class:`~stingylib.methods.teacher.TeacherMethod`, for a method with a teacher) that declares its
loss terms, decorated with :func:`~stingylib.methods.base.register`, in any module (a test file is
enough). A module added to this package is imported (and so registered) with it: a new method is
one new file.
"""

from .base import METHODS, Method, get_method, register, run_tag
from .dafl import DAFL
from .kd import KD
from .nasty import Nasty
from .skeptical import Skeptical
from .supervised import Supervised
from .teacher import TeacherMethod

from .._discover import import_all

import_all(__name__, __path__)  # every other method module of this package registers itself

__all__ = ["DAFL", "KD", "METHODS", "Method", "Nasty", "Skeptical", "Supervised", "TeacherMethod", "get_method",
           "register", "run_tag"]
