"""The registered training methods (see :mod:`stingylib.methods.base` for what a method is).

Built in: ``supervised``, ``kd``, ``nasty``, ``dafl`` and ``skeptical`` (the Skeptical Student attack). A new method is a subclass of
:class:`~stingylib.methods.base.Method` decorated with
:func:`~stingylib.methods.base.register`, in any module (a test file is enough).
"""

from .base import METHODS, Method, get_method, register, run_tag
from .dafl import DAFL
from .kd import KD
from .nasty import Nasty
from .skeptical import Skeptical
from .supervised import Supervised
from .view import TeacherView

__all__ = ["DAFL", "KD", "METHODS", "Method", "Nasty", "Skeptical", "Supervised", "TeacherView", "get_method", "register",
           "run_tag"]
