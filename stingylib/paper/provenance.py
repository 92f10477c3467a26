"""Where a run's numbers come from, shown beside the paper's: :func:`provenance` summarises the run
records of a profile (git commit, versions, device, machine, dates, training time) and
:func:`cost_summary` what a set of runs cost, per training session. Nothing is read at import.
"""

from __future__ import annotations

import pandas as pd

from ..experiments import plan
from ..profiles import get_profile
from ..runs import RunStore


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.1f} min"
    return f"{minutes / 60:.1f} h"


def _short_commit(commit: str | None) -> str:
    if not commit:
        return "unknown"
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _tally(values: list[str]) -> str:
    counts = pd.Series(values, dtype=object).fillna("unknown").value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return "; ".join(f"{value} ({n} runs)" for value, n in counts.items())


def _machine(machine: dict) -> str:
    return f"{machine.get('hostname', 'unknown')} ({machine.get('cpu_count', '?')} CPUs, {machine.get('platform', '?')})"


def provenance(profile: str, target: str = "all", store=None) -> pd.DataFrame:
    """Where the results of ``target`` of ``profile`` come from, summarised over their records.

    Args:
        profile: ``smoke``, ``cpu`` or ``paper``.
        target: ``table1``, ``table2``, ``figure`` or ``all`` (which runs to summarise).
        store: the :class:`~stingylib.runs.store.RunStore` to read (default: the profile's store under
            the data root).

    Returns:
        A one-column frame (column ``value``, one row per item): the profile and its description,
        how many of the planned runs are finished, the git commit(s), stingylib / torch / Python
        versions, device(s), machine(s), the date range of the runs' completion (UTC) and their
        total training wall time.
    """
    prof = get_profile(profile)
    store = RunStore.for_profile(prof.name) if store is None else store
    runs = plan(prof, target)
    records = [r for r in (store.try_record(c.run_id) for c in runs) if r is not None]
    items: dict[str, str] = {
        "profile": f"{prof.name}: {prof.description}",
        "runs finished": f"{len(records)} of {len(runs)} ({target})",
    }
    if records:
        prov = [r.provenance for r in records]
        finished = sorted(p.get("finished_at") or "" for p in prov)
        items.update({
            "git commit": _tally([_short_commit(p.get("git_commit")) for p in prov]),
            "stingylib": _tally([p.get("stingylib") for p in prov]),
            "torch": _tally([(p.get("versions") or {}).get("torch") for p in prov]),
            "python": _tally([(p.get("versions") or {}).get("python") for p in prov]),
            "device": _tally([p.get("device") for p in prov]),
            "machine": _tally([_machine(p.get("machine") or {}) for p in prov]),
            "finished (UTC)": f"{finished[0][:16].replace('T', ' ')} → {finished[-1][:16].replace('T', ' ')}",
            "training wall time": f"{_duration(sum(r.wall_seconds for r in records))} (sum over the runs)",
        })
        migrated = [r.migrated for r in records if r.migrated]
        if migrated:
            items["records migrated"] = (f"{len(migrated)} of {len(records)} by {migrated[0].get('script')} "
                                         f"(schema {migrated[0].get('from_schema')} → 2; measurements unchanged)")
    return pd.DataFrame({"value": pd.Series(items)})


#: An idle gap longer than this between runs splits them into separate training sessions.
SESSION_GAP = pd.Timedelta(hours=1)


def cost_summary(records) -> str:
    """What a set of finished runs cost, as Markdown: the number of runs, the sum of their training
    and evaluation time, and for each training session (runs separated by an idle gap longer than
    ``SESSION_GAP``, an hour, e.g. a later retraining of some of them) the span from its first run's start
    (its finishing time less its recorded seconds) to its last run's end."""
    records = list(records)
    if not records:
        return "No finished runs."
    ends = [pd.Timestamp(r.provenance["finished_at"]) for r in records]
    runs = sorted((e - pd.Timedelta(seconds=r.wall_seconds), e) for e, r in zip(ends, records))
    sessions: list[list[tuple[pd.Timestamp, pd.Timestamp]]] = []
    for start, end in runs:
        if sessions and start - max(e for _, e in sessions[-1]) <= SESSION_GAP:
            sessions[-1].append((start, end))
        else:
            sessions.append([(start, end)])
    total = sum(r.wall_seconds for r in records)
    machines = sorted({str(r.provenance.get("machine", {}).get("hostname", "?")) for r in records})
    cores = sorted({str(r.provenance.get("machine", {}).get("cpu_count", "?")) for r in records})

    def hm(seconds: float) -> str:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"

    def span(session) -> str:
        first, last = min(s for s, _ in session), max(e for _, e in session)
        return (f"{hm((last - first).total_seconds())} from the first run's start ({first:%Y-%m-%d %H:%M} UTC) to "
                f"the last run's end ({last:%Y-%m-%d %H:%M} UTC)")

    head = (f"{len(records)} runs; {hm(total)} of training and evaluation summed over the runs; "
            f"on {len(machines)} machine(s) with {', '.join(cores)} cores; ")
    if len(sessions) == 1:
        return head + span(sessions[0]) + "."
    return head + f"in {len(sessions)} sessions: " + "; ".join(
        f"{len(session)} runs, {span(session)}" for session in sessions) + "."
