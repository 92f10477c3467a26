"""Where a run's numbers come from, shown beside the paper's: :func:`provenance` summarises the run
records of a profile (git commit, versions, device, machine, dates, training time). Nothing is read
at import.
"""

from __future__ import annotations

import pandas as pd


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
    from ..experiments import plan
    from ..profiles import get_profile
    from ..runs import RunStore

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

