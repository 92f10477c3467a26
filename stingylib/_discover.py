"""Importing every module of a package of registered units, so that a new unit is one new file.

The methods (:mod:`stingylib.methods`) and the experiments (:mod:`stingylib.experiments`) register
themselves with a decorator when their module is imported; each package calls :func:`import_all` on
itself, so a module added to it needs no import written anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_all(package: str, path: list[str]) -> list[str]:
    """Import every module of ``package`` (its ``__name__``; ``path``: its ``__path__``) not imported
    yet, in name order; return their names."""
    names = [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_")]
    for name in names:
        importlib.import_module(name)
    return names
