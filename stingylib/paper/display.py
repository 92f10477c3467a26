"""The paper's look: row and column labels, compact HTML tables, what a results page states.

:func:`display_table` turns a Table 1 or Table 2 frame (a run's or the paper's) into the paper's
look: row labels such as ``ResNet-18 (stingy)`` and ``Student baseline``, column labels such as
``MobileNetV2``; :func:`style_table` renders such a frame as a compact HTML table for the book;
:func:`profile_summary` says which profile and recipe produced a results page. Nothing is read at
import.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments import BASELINE_ROW, SELF, ResultTable
from .numbers import paper_table1, paper_table2

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
    from ..data import DATASETS
    from ..profiles import get_profile

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
