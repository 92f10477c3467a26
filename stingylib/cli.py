"""Command line: ``python -m stingylib {run,status,table,ship,fetch} …`` (also installed as ``stingylib``).

    python -m stingylib run TARGET --profile P [--executor local|ray] [--address A] [--jobs J]
                                   [--threads T] [--device D] [--force] [--only RUN_ID] [--no-cohorts]
                                   [--compile]
    python -m stingylib status --profile P [--target TARGET]
    python -m stingylib table EXPERIMENT --profile P [--format text|markdown|csv] [--metric selected|final|best]
    python -m stingylib ship --profile P       # copy the teachers' weights to weights/P/ (to commit)
    python -m stingylib fetch --profile P      # make the profile's datasets available

EXPERIMENT is a registered experiment (:data:`stingylib.experiments.base.EXPERIMENTS`: ``teachers``,
``table1``, ``figure``, ``table2``, ``attacks`` and any registered later); TARGET is one of them or
``all``. Errors a user can act on are one line on stderr (exit 1; Ctrl-C exits 130), never a
traceback: a missing result, a bad data root, a corrupt file, a full disk, a worker that died.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import signal
import sys
import threading
import time
import warnings
from typing import Sequence

from .experiments import ensure_results, get_experiment, plan, status_frame, targets
from .experiments.ensure import MissingResultsError
from .profiles import PROFILES, get_profile
from .runner import WorkerDied, execute
from .runs import STATES, CorruptFileError, RunStore


def _store(profile: str) -> RunStore:
    return RunStore.for_profile(profile)


def cmd_run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    options = dict(executor=args.executor, force=args.force, jobs=args.jobs, threads=args.threads,
                   device=args.device, address=args.address, cohort_size=1 if args.no_cohorts else None,
                   compile=args.compile or None)
    if args.only is None:
        outcomes = ensure_results(args.profile, args.target, train=True, **options)
        what = args.target
    else:
        catalogue = plan(args.profile, "all")
        chosen = [c for c in catalogue if c.run_id == args.only]
        if not chosen:
            close = difflib.get_close_matches(args.only, [c.run_id for c in catalogue], n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else "; `status` lists them"
            raise ValueError(f"--only: {args.only!r} is not a run of profile {args.profile!r}{hint}")
        if options["threads"] is None:
            options["threads"] = get_profile(args.profile).threads
        outcomes = execute(chosen, _store(args.profile), catalogue=catalogue, **options)
        what = args.only
    trained = sum(o.status == "trained" for o in outcomes)  # by this process; the rest were done
    print(f"{what} ({args.profile}): {trained} trained, {len(outcomes) - trained} already done, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    frame = status_frame(args.profile, _store(args.profile), args.target)
    counts = frame["state"].value_counts().to_dict()
    print(frame.to_string(index=False))
    print(", ".join(f"{counts.get(s, 0)} {s}" for s in STATES))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    metric = None if args.metric is None else f"{args.metric}_accuracy"  # None: the profile's own
    frame = get_experiment(args.name).table(get_profile(args.profile), _store(args.profile), metric)
    if args.format == "csv":
        sys.stdout.write(frame.to_csv())
    elif args.format == "markdown":
        print(frame.to_markdown())
    else:
        print(frame.to_string())
    return 0


def cmd_ship(args: argparse.Namespace) -> int:
    store = _store(args.profile)
    catalogue = plan(args.profile, "all")
    needed = sorted({d for cfg in catalogue for d in cfg.dependencies()})
    total = 0
    for run_id in needed:
        if store.weights_path(run_id).is_file():
            path = store.ship(run_id)
        else:  # nothing of its own: what is shipped already must check out
            path = store.shipped_path(run_id)
            if not path.is_file():
                raise ValueError(f"run {run_id!r} has neither final weights nor shipped weights; train it first "
                                 f"(python -m stingylib run all --profile {args.profile} --only {run_id})")
            store.check_weights(run_id, path)
        size = path.stat().st_size
        total += size
        print(f"{run_id}: {size / 1e6:.2f} MB, sha256 {store.load_record(run_id).weights_sha256}")
    print(f"{len(needed)} runs' weights shipped in {store.shipped}: {total / 1e6:.2f} MB in all")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from .data import ensure_dataset

    profile = get_profile(args.profile)
    for dataset in sorted({profile.table1.dataset, *(d.teacher.dataset for d in profile.table2)}):
        ensure_dataset(dataset)
        print(f"{dataset}: available")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stingylib", description="Stingy Teacher experiments.")
    sub = parser.add_subparsers(dest="command", required=True)
    profile = dict(choices=sorted(PROFILES), default="smoke", help="experiment profile (default: smoke)")

    run = sub.add_parser("run", help="train every run an experiment needs (finished runs are skipped)")
    run.add_argument("target", choices=targets())
    run.add_argument("--profile", **profile)
    run.add_argument("--executor", choices=["local", "ray"], default="local")
    run.add_argument("--address", default=None, help="address of an existing Ray cluster (ray executor)")
    run.add_argument("--jobs", type=_positive_int, default=1,
                     help="runs in parallel (local processes or local Ray CPUs)")
    run.add_argument("--threads", type=_positive_int, default=None,
                     help="torch CPU threads per run (default: the profile's; smoke and cpu use 1)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    run.add_argument("--force", action="store_true",
                     help="retrain runs that already have a result (with --only: that run alone)")
    run.add_argument("--only", metavar="RUN_ID", default=None,
                     help="train just this run of the profile (and the runs it needs that are not usable)")
    run.add_argument("--no-cohorts", action="store_true",
                     help="train one run at a time (default: runs sharing a teacher train as a cohort, "
                          "with one teacher pass per batch)")
    run.add_argument("--compile", action="store_true",
                     help="torch.compile the forward passes: for GPUs (on a CPU it costs minutes for ~1.2x)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="which runs are done, corrupt, running, interrupted or missing")
    status.add_argument("--profile", **profile)
    status.add_argument("--target", choices=targets(), default="all")
    status.set_defaults(func=cmd_status)

    table = sub.add_parser("table", help="print an experiment's results table in the paper's format")
    table.add_argument("name", choices=targets()[:-1])
    table.add_argument("--profile", **profile)
    table.add_argument("--format", choices=["text", "markdown", "csv"], default="text")
    table.add_argument("--metric", choices=["selected", "final", "best"], default=None,
                       help="test accuracy at the epoch selected on validation (the default of profiles with a "
                            "validation split), at the final epoch, or at the best epoch on the test split (the "
                            "paper's protocol, optimistic; the default of the paper profile)")
    table.set_defaults(func=cmd_table)

    ship = sub.add_parser("ship", help="copy the weights of every run others build on (teachers, adversaries) "
                                       "into the data root's weights/<profile>/, to be committed")
    ship.add_argument("--profile", **profile)
    ship.set_defaults(func=cmd_ship)

    fetch = sub.add_parser("fetch", help="make the profile's datasets available offline")
    fetch.add_argument("--profile", **profile)
    fetch.set_defaults(func=cmd_fetch)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


#: What a full disk (or a file-size limit) looks like: the OSError's errno, or the words of torch's error
#: when it could not write a checkpoint ("PytorchStreamWriter failed writing file …: file write failed").
_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large",
                errno.EDQUOT: "disk quota exceeded"}
_FULL_WORDS = ("No space left on device", "file write failed", "File too large")

RESUMES = "finished runs are kept and no file is half-written: rerun the same command to resume from the last epoch"


def _disk_full(err: BaseException) -> str | None:
    """Why ``err`` (or an error it was raised while handling: torch's writer reports a full disk as an
    "enforce fail" raised over the OSError) means that a file could not be written for lack of space;
    None when it does not."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return _FULL_ERRNOS[err.errno] + (f" writing {err.filename}" if err.filename else "")
        if isinstance(err, (OSError, RuntimeError)) and any(words in str(err) for words in _FULL_WORDS):
            return "a file could not be written (is the disk full?)"
        err = err.__cause__ or err.__context__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m stingylib``: errors the user can act on are one line on stderr, with
    what happened and what to do (exit 1; Ctrl-C: exit 130)."""
    args = build_parser().parse_args(argv)
    received: list[int] = []

    def interrupted(signum: int, frame: object) -> None:
        received.append(signum)
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as Python's own handler

    # Ctrl-C is remembered as well as raised: Python cannot raise it inside a finaliser (it prints
    # "Exception ignored" and goes on), and a command that then ends normally was still interrupted.
    # (only where Python's own handler is in place: a process started with Ctrl-C ignored keeps ignoring it)
    previous = (signal.signal(signal.SIGINT, interrupted)
                if threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _warn
            code = args.func(args)
        if received:
            raise KeyboardInterrupt
        return code
    except KeyboardInterrupt:
        print(f"interrupted: {RESUMES}", file=sys.stderr)
        return 130
    except (ValueError, MissingResultsError, FileNotFoundError, CorruptFileError, WorkerDied) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as err:
        reason = _disk_full(err)
        if reason is None:
            raise
        print(f"error: {reason}: free some disk space; {RESUMES}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)
