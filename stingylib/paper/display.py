"""The paper's look: row and column labels, compact HTML tables, what a results page states.

:func:`display_table` turns a Table 1 or Table 2 frame (a run's or the paper's) into the paper's
look: row labels such as ``ResNet-18 (stingy)`` and ``Student baseline``, column labels such as
``MobileNetV2``; :func:`style_table` renders such a frame as a compact HTML table for the book;
:func:`stack_tables` shows several such frames (a table at other metrics) as one table;
:func:`profile_summary` says which profile and recipe produced a results page. Nothing is read at
import.
"""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..experiments import BASELINE_ROW, SELF, ResultTable
from ..profiles import Profile
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


def _one_teacher(table: ResultTable) -> ResultTable:
    """The table without a spread on its teacher accuracy: every seed of a row sees the same one
    teacher network, so its std over the student seeds is 0 by construction, not a measurement."""
    if "teacher_accuracy" not in table.std.columns:
        return table
    std = table.std.copy()
    std["teacher_accuracy"] = np.nan
    return dataclasses.replace(table, std=std)


def display_table(table: ResultTable | pd.DataFrame, *, dafl_teacher: str = "resnet34") -> pd.DataFrame:
    """A Table 1 or Table 2 frame with the paper's row and column labels.

    Args:
        table: a :class:`~stingylib.experiments.reading.ResultTable` (formatted as ``acc ± std (+delta)`` by
            its :meth:`~stingylib.experiments.reading.ResultTable.formatted`; the teacher accuracy without
            ``± std``, since one teacher network serves every student seed) or any frame indexed by
            (teacher, variant) or (dataset, variant).
        dafl_teacher: the teacher architecture named in Table 2's row labels.

    Returns:
        The same cells with rows ``Student baseline`` / ``ResNet-18 (stingy)`` (Table 1) or
        ``CIFAR-10: ResNet-34 (stingy)`` (Table 2), and columns such as ``Teacher accuracy``.
    """
    if isinstance(table, ResultTable):
        frame = _one_teacher(table).formatted()
    else:
        frame = table.copy()
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


#: What each accuracy metric of a record (:data:`stingylib.experiments.reading.METRICS`) means, for the pages.
METRICS = {"selected_accuracy": "test accuracy at the epoch selected on the validation split",
           "final_accuracy": "test accuracy after the last epoch",
           "best_accuracy": "best test accuracy over all epochs (the paper's protocol; optimistic: the epoch "
                            "is chosen on the test split)"}


def other_metrics(metric: str, profile: Profile | None = None) -> list[str]:
    """The metrics of :data:`METRICS` other than ``metric``, in their order there; with ``profile``,
    only those its students measure (no ``best_accuracy`` where they test only where they report:
    ``Recipe.test_every_epoch``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    measured = profile is None or profile.table1.test_every_epoch
    return [m for m in METRICS if m != metric and (measured or m != "best_accuracy")]


def stack_tables(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Frames with the same columns shown one below the other in one table, each block headed by a
    row that holds its title in the label column (and empty cells elsewhere).

    Args:
        tables: title → frame (e.g. :func:`display_table` outputs); the frames' index name and
            columns are those of the first one.

    Returns:
        One frame with a one-level index of strings (titles and the frames' row labels), ready for
        :func:`style_table`.
    """
    if not tables:
        raise ValueError("stack_tables needs at least one frame")
    frames = list(tables.values())
    columns, name = frames[0].columns, frames[0].index.name
    blocks = []
    for title, frame in tables.items():
        if list(frame.columns) != list(columns):
            raise ValueError(f"every frame needs the columns {list(columns)}; {title!r} has {list(frame.columns)}")
        heading = pd.DataFrame([[""] * len(columns)], index=[str(title)], columns=columns)
        blocks += [heading, frame.astype(object).set_axis([str(i) for i in frame.index], axis=0)]
    out = pd.concat(blocks)
    out.index.name = name
    return out


def _text(value: object) -> str:
    """A profile setting as a table shows it: tuples as comma-separated lists, numbers with ``g``."""
    if isinstance(value, tuple):
        return ", ".join(_text(v) for v in value) if value else "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "None"
    return str(value)


def _wanted(name: str, prefixes: tuple[str, ...] | None) -> bool:
    if prefixes is None:
        return True
    return any(name == p or name.startswith((p + ".", p + "[")) for p in prefixes)


def profile_table(profile: str, target: str | None = None) -> pd.DataFrame:
    """The settings of a profile as a table (one row per setting: its value and what it means),
    generated from the profile's dataclasses (:func:`stingylib.profiles.profile_numbers`).

    Args:
        profile: ``smoke``, ``cpu`` or ``paper``.
        target: a registered experiment: only the settings it reads (its
            :attr:`~stingylib.experiments.base.Experiment.settings`); None: every setting.
    """
    from ..experiments import get_experiment
    from ..profiles import profile_numbers

    prefixes = None if target is None else get_experiment(target).settings
    rows = [(name, _text(value), meaning) for name, (value, meaning) in profile_numbers(profile).items()
            if name not in ("name", "description", "notes") and _wanted(name, prefixes)]
    frame = pd.DataFrame(rows, columns=["setting", "value", "meaning"]).set_index("setting")
    return frame


#: What the numbers of each smaller profile can and cannot say (the footer of every results page).
PROFILE_SCOPE = {
    "cpu": "The `cpu` profile is a small reproduction: it tests the paper's claims at Fashion-MNIST scale, with "
           "width-scaled models and a recipe calibrated on its controls; its numbers are not the paper's, which "
           "only the `paper` profile reproduces.",
    "smoke": "The `smoke` profile checks that the pipeline runs end to end, in minutes; its numbers say nothing "
             "about the paper's claims.",
}


def profile_summary(profile: str, target: str) -> str:
    """Markdown saying which profile produced a results page and with which settings: its description,
    then (folded) the table of every setting the page's experiment reads (:func:`profile_table`),
    generated from the profile itself.

    Args:
        profile: ``smoke``, ``cpu`` or ``paper``.
        target: the registered experiment the page shows (``table1``, ``table2``, ``figure``, ``attacks``, …).
    """
    from ..profiles import get_profile

    prof = get_profile(profile)
    table = profile_table(profile, target)
    rows = "".join(f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(row.value)}</td>"
                   f"<td>{html.escape(row.meaning)}</td></tr>" for name, row in table.iterrows())
    # One HTML block (no blank line inside), so that Markdown renders it as it is, folded.
    lines = [f"**Profile `{prof.name}`**: {prof.description}",
             f"<details><summary>Every setting of the <code>{prof.name}</code> profile this page uses "
             f"({len(table)}, from <code>stingylib.profiles</code>)</summary>"
             f'<table class="stingy-table"><thead><tr><th>setting</th><th>value</th><th>meaning</th></tr></thead>'
             f"<tbody>{rows}</tbody></table></details>"]
    if prof.name in PROFILE_SCOPE:
        lines.append(f"*{PROFILE_SCOPE[prof.name]}*")
    return "\n\n".join(lines)


_DELTA = re.compile(r"^(.*\S) \(([+\-−][^)]*)\)$")


def _nowrap_words(label: object) -> str:
    return " ".join(f'<span style="white-space: nowrap">{html.escape(w)}</span>' for w in str(label).split())


def style_table(frame: pd.DataFrame, precision: int = 2, split_delta: bool = True,
                formats: Mapping[str, str] | None = None):
    """A table ready for the book and for print: the row labels as a first, bold, left-aligned
    column (no separate header row for the index name), numbers to ``precision`` decimals, ``—``
    for missing ones, and its own compact CSS (padding, rules, zebra rows), so it looks the same in
    Jupyter, in the book and on paper.

    Args:
        frame: e.g. the output of :func:`display_table`.
        precision: decimals of numeric cells.
        split_delta: put the parenthesised difference of an ``"acc (+delta)"`` cell on a second,
            smaller line, which halves the table's width.
        formats: column → format string of its numeric cells where ``precision`` does not suit, e.g.
            ``{"ω": "{:g}"}``.

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

    def formatter(spec: str):
        def fmt(value: object) -> str:
            if isinstance(value, (float, np.floating)) and not np.isnan(value):
                return html.escape(spec.format(value))
            return cell(value)
        return fmt

    missing = sorted(set(formats or {}) - set(flat.columns[1:]))
    if missing:
        raise ValueError(f"formats names column(s) {missing} that the table lacks")
    line = "1px solid var(--pst-color-border, #d0d0d0)"
    styler = flat.style.hide(axis="index").format(cell, subset=list(flat.columns[1:]))
    for column, spec in (formats or {}).items():
        styler = styler.format(formatter(spec), subset=[column])
    return (styler
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
