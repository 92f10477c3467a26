"""Making sure an experiment's results exist: what a notebook calls first.

:func:`ensure_results` trains what is missing only when allowed (``train``; by default only for the
``smoke`` profile), so a page of the ``cpu`` or ``paper`` profile never starts hours of training
by surprise: it stops with :class:`MissingResultsError`, which lists the missing runs and the
command that makes them. ``train`` comes from papermill as often as from Python, so the strings a
user types there (``-p train false``) are parsed strictly (:func:`parse_train`).
"""

from __future__ import annotations

from ..profiles import get_profile
from ..runner import execute
from ..runs import RunStore
from .base import ALL, plan

#: The strings ``train`` accepts (papermill's ``-p train false`` passes the string "false"), case-insensitive.
TRAIN_WORDS = {"true": True, "false": False, "none": None, "": None}


class MissingResultsError(RuntimeError):
    """Results a page needs are missing and training was not allowed; the message lists them."""


def parse_train(value: object) -> bool | None:
    """``train`` as None, True or False: those values themselves, or the strings papermill users type
    (``true``/``false``/``none``, any case, or empty). Anything else is an error.

    Raises:
        ValueError: naming the parameter, what it got and what it takes.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRAIN_WORDS:
        return TRAIN_WORDS[value.strip().lower()]
    raise ValueError(f"train must be None, True or False (or the strings {sorted(w for w in TRAIN_WORDS if w)}); "
                     f"got {value!r}")


def ensure_results(profile: str, target: str = ALL, *, train: bool | str | None = None, executor: str = "local",
                   force: bool = False, **options: object) -> list:
    """Make sure every run of ``target`` (a registered experiment, or ``all``) of ``profile`` has its
    result in the profile's store under the data root.

    Args:
        profile: ``smoke``, ``cpu`` or ``paper``.
        target: which experiment's runs.
        train: train what is missing. None (default): only for the ``smoke`` profile, so that a
            page of the ``cpu`` or ``paper`` profile never starts hours of training by surprise
            (see :func:`parse_train` for the strings it also takes).
        executor, force, options: as for :func:`stingylib.runner.execute`; runs use the profile's
            thread count unless ``threads`` is given.

    Returns:
        One :class:`~stingylib.engine.locked.Outcome` per run.

    Raises:
        MissingResultsError: results are missing and ``train`` is false; the message lists them and
            gives the command that makes them.
        ValueError: a bad ``train``, ``profile`` or ``target``, or ``force`` without ``train``.
    """
    prof = get_profile(profile)
    train = parse_train(train)
    train = prof.name == "smoke" if train is None else train
    runs = plan(prof, target)
    store = RunStore.for_profile(prof.name)
    if not train:
        if force:
            raise ValueError("force=True retrains runs: it needs train=True")
        store.check_readable()
        missing = [c.run_id for c in runs if not store.is_done(c.run_id)]
        if missing:
            listed = "\n  ".join(missing[:20]) + (f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else "")
            raise MissingResultsError(
                f"{len(missing)} of the {len(runs)} runs of {target!r} (profile {prof.name!r}) have no result in "
                f"{store.results}:\n  {listed}\nMake them with:\n  python -m stingylib run {target} --profile "
                f"{prof.name} --jobs 2\n(or `make results PROFILE={prof.name} FORCE=`), or pass train=True.")
    if options.get("threads") is None:
        options["threads"] = prof.threads
    return execute(runs, store, executor=executor, force=force, catalogue=plan(prof, ALL), **options)
