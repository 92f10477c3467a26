"""The paper's published numbers as tables shaped like this project's results.

:func:`paper_table1` and :func:`paper_table2` read ``data/paper/table1.csv`` and ``table2.csv``
(typed in from the poster, see ``data/paper/README.md``) into :class:`~stingylib.experiments.ResultTable`
objects with exactly the index and columns of :func:`stingylib.experiments.table1_frame` /
:func:`~stingylib.experiments.table2_frame`, so a run and the paper can be formatted, compared and
subtracted cell by cell. The poster's parenthesised deltas are not stored: they are recomputed here
by the rules of :mod:`stingylib.experiments` (students against the baseline row; a teacher's
accuracy and its "teacher self" student against the normal teacher; Table 2 against the normal
teacher's row).

Two printed deltas of the poster disagree with its own numbers, and the recomputed value is used:
Table 1, ResNet-50 (normal) → teacher self, 80.02 printed "(+1.96)" where 80.02 − 78.12 = +1.90;
Table 2, CIFAR-100 nasty teacher, 76.12 printed "(−0.79)" where 76.12 − 76.97 = −0.85.

:func:`display_table` turns any of these frames (run or paper) into the paper's look: row labels
such as ``ResNet-18 (stingy)`` and ``Student baseline``, column labels such as ``MobileNetV2``;
:func:`style_table` renders such a frame as a compact HTML table for the book.

What the results pages show beside the paper's numbers: :func:`profile_summary` (which profile and
recipe produced a page) and :func:`provenance` (git commit, versions, device, dates and training
time, summarised from the run records). Nothing is read at import.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import BASELINE_ROW, SELF, VARIANTS, ResultTable, table1_deltas, table2_deltas
from .paths import paper_dir

#: Table 1's columns, in the paper's order.
TABLE1_COLUMNS = ["teacher_accuracy", "shufflenetv2", "mobilenetv2", "resnet18", SELF]
TABLE1_STUDENTS = ["shufflenetv2", "mobilenetv2", "resnet18"]
#: Table 2's columns.
TABLE2_COLUMNS = ["teacher_accuracy", "dafl"]

#: How the paper writes model, dataset and column names.
LABELS: dict[str, str] = {
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnext29": "ResNeXt-29",
    "mobilenetv2": "MobileNetV2",
    "shufflenetv2": "ShuffleNetV2",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "fashion-mnist": "Fashion-MNIST",
    "digits": "digits",
    "teacher_accuracy": "Teacher accuracy",
    SELF: "Teacher self",
    "dafl": "DAFL student",
    "student baseline": "Student baseline",
}


def label(name: str) -> str:
    """The paper's spelling of a model, dataset or column name (the name itself when unknown)."""
    return LABELS.get(name, name)


def _read_csv(name: str, root: Path | None) -> pd.DataFrame:
    path = (paper_dir() if root is None else Path(root)) / name
    if not path.is_file():
        raise FileNotFoundError(f"the paper's numbers are missing: {path} (see data/paper/README.md)")
    return pd.read_csv(path)


def _check_columns(frame: pd.DataFrame, needed: list[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def _result_table(mean: pd.DataFrame, delta: pd.DataFrame) -> ResultTable:
    std = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)  # one number each
    count = mean.notna().astype(int)
    return ResultTable(mean=mean, std=std, count=count, delta=delta, metric="best_accuracy")


def paper_table1(root: Path | str | None = None) -> ResultTable:
    """The paper's Table 1 (CIFAR-100, standard KD) with the index and columns of
    :func:`stingylib.experiments.table1_frame`: index (teacher, variant), baseline row first, then
    ResNet-18, ResNet-50, ResNeXt-29 × (normal, nasty, stingy); columns ``teacher_accuracy``,
    ``shufflenetv2``, ``mobilenetv2``, ``resnet18``, ``teacher_self``. Accuracies in percent
    (best epoch, the paper's protocol); std NaN (one run each); deltas recomputed.

    Args:
        root: folder holding ``table1.csv`` (default :func:`stingylib.paths.paper_dir`).
    """
    raw = _read_csv("table1.csv", None if root is None else Path(root))
    _check_columns(raw, ["teacher", "variant", *TABLE1_COLUMNS], "table1.csv")
    mean = raw.set_index(["teacher", "variant"])[TABLE1_COLUMNS].astype(float)
    teachers = list(dict.fromkeys(t for t, v in mean.index if (t, v) != BASELINE_ROW))
    order = [BASELINE_ROW] + [(t, v) for t in teachers for v in VARIANTS]
    mean = mean.reindex(pd.MultiIndex.from_tuples(order, names=["teacher", "variant"]))
    mean.columns.name = "column"  # as in experiments.table*_frame
    return _result_table(mean, table1_deltas(mean))


def paper_table2(root: Path | str | None = None) -> ResultTable:
    """The paper's Table 2 (DAFL, ResNet-34 → ResNet-18) with the index and columns of
    :func:`stingylib.experiments.table2_frame`: index (dataset, variant) for CIFAR-10 and
    CIFAR-100 × (normal, nasty, stingy); columns ``teacher_accuracy`` and ``dafl``.

    Args:
        root: folder holding ``table2.csv`` (default :func:`stingylib.paths.paper_dir`).
    """
    raw = _read_csv("table2.csv", None if root is None else Path(root))
    _check_columns(raw, ["dataset", "variant", "teacher_accuracy", "dafl_student_accuracy"], "table2.csv")
    mean = (raw.rename(columns={"dafl_student_accuracy": "dafl"})
            .set_index(["dataset", "variant"])[TABLE2_COLUMNS].astype(float))
    datasets = list(dict.fromkeys(d for d, _ in mean.index))
    order = [(d, v) for d in datasets for v in VARIANTS]
    mean = mean.reindex(pd.MultiIndex.from_tuples(order, names=["dataset", "variant"]))
    mean.columns.name = "column"  # as in experiments.table*_frame
    return _result_table(mean, table2_deltas(mean))


def display_table(table: ResultTable | pd.DataFrame, *, dafl_teacher: str = "resnet34") -> pd.DataFrame:
    """A Table 1 or Table 2 frame with the paper's row and column labels.

    Args:
        table: a :class:`~stingylib.experiments.ResultTable` (formatted as ``acc (+delta)`` by its
            :meth:`~stingylib.experiments.ResultTable.formatted`) or any frame indexed by
            (teacher, variant) or (dataset, variant).
        dafl_teacher: the teacher architecture named in Table 2's row labels.

    Returns:
        The same cells with rows ``Student baseline`` / ``ResNet-18 (stingy)`` (Table 1) or
        ``CIFAR-10: ResNet-34 (stingy)`` (Table 2), and columns such as ``Teacher accuracy``.
    """
    frame = table.formatted() if isinstance(table, ResultTable) else table.copy()
    if frame.index.nlevels != 2:
        raise ValueError(f"expected a two-level (teacher or dataset, variant) index; got {frame.index.names}")
    is_table2 = frame.index.names[0] == "dataset"
    rows = []
    for first, variant in frame.index:
        if (first, variant) == BASELINE_ROW:
            rows.append(label(first))
        elif is_table2:
            rows.append(f"{label(first)}: {label(dafl_teacher)} ({variant})")
        else:
            rows.append(f"{label(first)} ({variant})")
    frame.index = pd.Index(rows, name="Dataset: teacher" if is_table2 else "Teacher network")
    frame.columns = [label(c) for c in frame.columns]
    return frame


def formatted_paper_table1(root: Path | str | None = None) -> pd.DataFrame:
    """The paper's Table 1 as printed: ``74.24 (+3.07)`` cells with the paper's labels."""
    return display_table(paper_table1(root))


def formatted_paper_table2(root: Path | str | None = None) -> pd.DataFrame:
    """The paper's Table 2 as printed: ``90.26 (-2.23)`` cells with the paper's labels."""
    return display_table(paper_table2(root))


# ---------------------------------------------------------------------------------------------
# Where a run's numbers come from (shown beside the paper's)
# ---------------------------------------------------------------------------------------------


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
        store: the :class:`~stingylib.runs.RunStore` to read (default: the profile's store under
            the data root).

    Returns:
        A one-column frame (column ``value``, one row per item): the profile and its description,
        how many of the planned runs are finished, the git commit(s), stingylib / torch / Python
        versions, device(s), machine(s), the date range of the runs' completion (UTC) and their
        total training wall time.
    """
    from .experiments import plan
    from .profiles import get_profile
    from .runs import RunStore

    prof = get_profile(profile)
    store = RunStore.for_profile(prof.name) if store is None else store
    runs = plan(prof, target)
    records = [store.load_record(c.run_id) for c in runs if store.is_done(c.run_id)]
    items: dict[str, str] = {
        "profile": f"{prof.name}: {prof.description}",
        "runs finished": f"{len(records)} of {len(runs)} ({target})",
    }
    if records:
        finished = sorted(r.get("finished_at") or "" for r in records)
        items.update({
            "git commit": _tally([_short_commit(r.get("git_commit")) for r in records]),
            "stingylib": _tally([r.get("stingylib") for r in records]),
            "torch": _tally([r.get("versions", {}).get("torch") for r in records]),
            "python": _tally([r.get("versions", {}).get("python") for r in records]),
            "device": _tally([r.get("device") for r in records]),
            "machine": _tally([_machine(r.get("machine") or {}) for r in records]),
            "finished (UTC)": f"{finished[0][:16].replace('T', ' ')} → {finished[-1][:16].replace('T', ' ')}",
            "training wall time": f"{_duration(sum(r.get('wall_seconds', 0.0) for r in records))} "
                                  "(sum over the runs)",
        })
    return pd.DataFrame({"value": pd.Series(items)})


#: What the two accuracy metrics of a record mean.
METRICS = {"best_accuracy": "best test accuracy over all epochs (the paper's protocol)",
           "final_accuracy": "test accuracy after the last epoch"}


def profile_summary(profile: str, target: str) -> str:
    """Markdown saying which profile produced a results page and with which recipe.

    Args:
        profile: ``smoke``, ``cpu`` or ``paper``.
        target: ``table1`` or ``figure`` (standard KD: the profile's Table 1 recipe) or ``table2``
            (DAFL recipes).
    """
    from .data import DATASETS
    from .profiles import get_profile

    prof = get_profile(profile)
    lines = [f"**Profile `{prof.name}`**: {prof.description}"]
    if target in ("table1", "figure"):
        r = prof.table1
        widths = ", ".join(f"{label(m)} ×{w:g}" for m, w in prof.widths) or "full width"
        lines.append(
            f"Dataset {label(r.dataset)} (K = {DATASETS[r.dataset].num_classes} classes); {r.epochs} epochs, "
            f"lr {r.lr:g} (×{r.gamma:g} at epochs {', '.join(map(str, r.milestones))}), batch {r.batch_size}; "
            f"KD α = {r.alpha:g}, τ = {r.kd_temperature:g} from normal and nasty teachers and "
            f"τ = {r.stingy_temperature:g} from stingy and reversed ones; stingy teachers keep N = {r.keep}; "
            f"nasty teachers ω = {r.nasty_omega:g}, τ_A = {r.nasty_temperature:g}; widths: {widths}; "
            f"seeds {', '.join(map(str, prof.seeds))}.")
    elif target == "table2":
        for d in prof.table2:
            lines.append(
                f"DAFL on {label(d.teacher.dataset)}: {label(d.teacher_model)} teacher → {label(d.student_model)} "
                f"student, {d.epochs} epochs × {d.iterations_per_epoch} iterations, batch {d.batch_size}, "
                f"generator lr {d.generator_lr:g}, student lr {d.lr:g}; loss weights one-hot {d.one_hot:g}, "
                f"information entropy {d.info_entropy:g}, activation {d.activation:g}; stingy teachers keep "
                f"N = {d.teacher.keep}.")
    else:
        raise ValueError(f"target must be 'table1', 'table2' or 'figure'; got {target!r}")
    if prof.name != "paper":
        lines.append(f"*These numbers check the pipeline at the `{prof.name}` profile's scale; they are not "
                     "comparable with the paper's, which only the `paper` profile reproduces.*")
    return "\n\n".join(lines)


_DELTA = re.compile(r"^(.*\S) \(([+\-−][^)]*)\)$")


def _nowrap_words(label: object) -> str:
    return " ".join(f'<span style="white-space: nowrap">{html.escape(w)}</span>' for w in str(label).split())


def style_table(frame: pd.DataFrame, precision: int = 2, split_delta: bool = True):
    """A table ready for the book and for print: the row labels as a first, bold, left-aligned
    column (no separate header row for the index name), numbers to ``precision`` decimals, ``—``
    for missing ones, and its own compact CSS (padding, rules, zebra rows), so it looks the same in
    Jupyter, in the book and on paper.

    Args:
        frame: e.g. the output of :func:`display_table`.
        precision: decimals of numeric cells.
        split_delta: put the parenthesised difference of an ``"acc (+delta)"`` cell on a second,
            smaller line, which halves the table's width.

    Returns:
        A :class:`pandas.io.formats.style.Styler` (rendered as HTML by Jupyter and the book).
    """
    flat = frame.reset_index()

    def cell(value: object) -> str:
        if isinstance(value, str):
            text = html.escape(value)
            match = _DELTA.match(text) if split_delta else None
            return f'{match[1]}<span class="delta">({match[2]})</span>' if match else text
        if isinstance(value, float) and np.isnan(value):
            return "—"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{precision}f}"
        return html.escape(str(value))

    line = "1px solid var(--pst-color-border, #d0d0d0)"
    return (flat.style.hide(axis="index")
            .format(cell, subset=list(flat.columns[1:]))
            .format(lambda v: html.escape(str(v)), subset=[flat.columns[0]])
            .format_index(_nowrap_words, axis=1)  # headers wrap between words, never at "ResNet-|18"
            .set_table_attributes('class="stingy-table"')
            .set_table_styles([
                {"selector": "", "props": [("border-collapse", "collapse"), ("font-size", "0.9em"),
                                           ("margin", "0.25em 0 1.5em 0")]},
                {"selector": "th", "props": [("padding", "0.3em 0.6em"), ("text-align", "center"),
                                             ("vertical-align", "bottom"), ("border-bottom", "2px solid")]},
                {"selector": "td", "props": [("padding", "0.25em 0.6em"), ("text-align", "right"),
                                             ("white-space", "nowrap"), ("border-bottom", line)]},
                {"selector": "td.col0", "props": [("text-align", "left"), ("font-weight", "bold")]},
                {"selector": "span.delta", "props": [("display", "block"), ("font-size", "0.85em"),
                                                     ("opacity", "0.75")]},
            ]))
