"""Typed, validated, frozen dataclasses: the base of run configs and method parameters.

A :class:`Validated` dataclass checks every field against its type hint when it is built (a float
field takes ``1`` and stores ``1.0``; an int field refuses ``1.5`` and ``True``; ``None`` only where
the hint allows it) and then runs the field's own check, declared once beside the field:

    lr: float = field(metadata=check(positive))

Errors are ``ValueError`` naming the class, the field and what is allowed. :func:`canonical` and
:func:`non_default` give the normalised form used for identities: numbers normalised (``1`` ≡
``1.0``), tuples as lists, and only the fields that differ from their defaults, so that adding a
defaulted field never changes an existing identity.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Callable, Iterable, Mapping

Check = Callable[[Any], str | None]  # returns a description of what is allowed when the value is bad


def check(*checks: Check) -> dict[str, tuple[Check, ...]]:
    """Field metadata carrying value checks: ``field(default=..., metadata=check(positive))``."""
    return {"checks": checks}


def doc(text: str) -> dict[str, str]:
    """Field metadata carrying what a field means, for generated documentation (e.g. the book's table of
    a profile's settings): ``field(default=..., metadata=doc("..."))``."""
    return {"doc": " ".join(text.split())}


# --- value checks: each returns None when fine, else what is allowed --------------------------------


def positive(value: float | int | None) -> str | None:
    """A finite number > 0 (None passes: optional fields are checked by their type hint)."""
    if value is None or (math.isfinite(value) and value > 0):
        return None
    return "a finite number > 0"


def nonnegative(value: float | int | None) -> str | None:
    """A finite number ≥ 0."""
    if value is None or (math.isfinite(value) and value >= 0):
        return None
    return "a finite number >= 0"


def unit_interval(value: float | None) -> str | None:
    """A number in [0, 1]."""
    if value is None or 0.0 <= value <= 1.0:
        return None
    return "a number in [0, 1]"


def below_one(value: float | None) -> str | None:
    """A number in [0, 1)."""
    if value is None or 0.0 <= value < 1.0:
        return None
    return "a number in [0, 1)"


def at_least(minimum: int) -> Check:
    """An integer ≥ ``minimum``."""

    def check_min(value: int | None) -> str | None:
        return None if value is None or value >= minimum else f"an integer >= {minimum}"

    return check_min


def one_of(choices: Callable[[], Iterable[str]]) -> Check:
    """A name among ``choices()`` (a callable, so registries can be filled after the class is made)."""

    def check_choice(value: str | None) -> str | None:
        allowed = sorted(choices())
        return None if value is None or value in allowed else f"one of {allowed}"

    return check_choice


def increasing_positive(value: tuple[int, ...]) -> str | None:
    """Strictly increasing integers ≥ 1 (e.g. learning-rate milestones, in epochs)."""
    if all(v >= 1 for v in value) and all(a < b for a, b in zip(value, value[1:])):
        return None
    return "strictly increasing integers >= 1"


# --- type coercion from hints ------------------------------------------------------------------------


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint`` (float ← int; tuple ← list), or ValueError naming ``where``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where} must be {_describe(hint)}; got {value!r}")
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{where} must be {_describe(hint)}; got {value!r}")
        return tuple(_coerce(v, item, where) for v in value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number; got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer; got {value!r}")
        return int(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false; got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string; got {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ValueError(f"{where} must be a {hint.__name__}; got {value!r}")
    return value


def _describe(hint: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string", type(None): "None"}
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe(args[0])}s"
    if args:
        return " or ".join(_describe(a) for a in args)
    return names.get(hint, getattr(hint, "__name__", str(hint)))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a class's fields (resolved once per class)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Validated:
    """Base of frozen dataclasses whose fields are coerced to their hints and checked when built."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        owner = type(self).__name__
        for f in dataclasses.fields(self):
            where = f"{owner}.{f.name}"
            value = _coerce(getattr(self, f.name), hints[f.name], where)
            for rule in f.metadata.get("checks", ()):
                allowed = rule(value) if value is not None else None
                if allowed is not None:
                    raise ValueError(f"{where} must be {allowed}; got {getattr(self, f.name)!r}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_names(cls) -> list[str]:
        """The names of the fields, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, values: Mapping[str, Any], what: str | None = None):
        """Build from a mapping, refusing unknown keys with a message that names them and the allowed ones."""
        allowed = cls.field_names()
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"{what or cls.__name__} does not take {unknown}; allowed: {allowed or 'none'}")
        return cls(**values)


# --- identities --------------------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """A JSON-ready normal form: integral floats as ints (``1.0`` → ``1``), ``-0.0`` as ``0``, tuples as
    lists, mappings with their values normalised. Two values that mean the same number compare equal."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot normalise the non-finite number {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    raise ValueError(f"cannot normalise a {type(value).__name__} for an identity")


def default_of(f: Any) -> Any:
    """A dataclass field's default value: its ``default``, or what its ``default_factory`` makes;
    ``dataclasses.MISSING`` for a required field."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def non_default(obj: Validated, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of ``obj`` that differ from their defaults (required fields always), normalised;
    fields named in ``exclude`` are left out. A field with a ``default_factory`` is compared with the
    value its factory makes, so adding such a field never changes an identity either."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in exclude:
            continue
        value = canonical(getattr(obj, f.name))
        default = default_of(f)
        if default is not dataclasses.MISSING and value == canonical(default):
            continue
        out[f.name] = value
    return out


def as_dict(obj: Validated, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every field of ``obj`` (but those in ``exclude``) as JSON-ready values (tuples become lists)."""
    return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in exclude}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value

