"""The paper's published numbers as tables shaped like this project's results, and their display.

:func:`paper_table1` and :func:`paper_table2` read ``table1.csv`` and ``table2.csv``, typed in from
the poster and shipped inside this package (``stingylib/paper/``, with a ``README.md`` describing
them; package data, so they are there after a plain ``pip install`` too), into
:class:`~stingylib.experiments.reading.ResultTable` objects with exactly the index and columns of
:func:`stingylib.experiments.table1.table1_frame` / :func:`~stingylib.experiments.table2.table2_frame`, so a run
and the paper can be formatted, compared and subtracted cell by cell. Either also reads the files
from an explicit folder (``root``). The poster's parenthesised deltas are not stored: they are
recomputed here by the rules of :mod:`stingylib.experiments` (students against the baseline row; a
teacher's accuracy and its "teacher self" student against the normal teacher; Table 2 against the
normal teacher's row).

Two printed deltas of the poster disagree with its own numbers, and the recomputed value is used:
Table 1, ResNet-50 (normal) → teacher self, 80.02 printed "(+1.96)" where 80.02 − 78.12 = +1.90;
Table 2, CIFAR-100 nasty teacher, 76.12 printed "(−0.79)" where 76.12 − 76.97 = −0.85.

:func:`display_table` turns any of these frames (run or paper) into the paper's look: row labels
such as ``ResNet-18 (stingy)`` and ``Student baseline``, column labels such as ``MobileNetV2``;
:func:`style_table` renders such a frame as a compact HTML table for the book.

What the results pages show beside the paper's numbers: :func:`profile_summary` and
:func:`profile_table` (which profile and recipe produced a page: every number of the profile,
generated from its dataclasses), :func:`provenance` (git commit, versions, device, dates and
training time, summarised from the run records) and :func:`cost_summary` (what the runs cost, per
training session), Table 1's paired comparisons made readable
(:func:`format_comparisons`) and counted (:func:`claim_counts`, beside the paper's own
:func:`mean_differences`), and the nasty teachers' numbers (:func:`nasty_teachers`,
:func:`teacher_epochs`). Nothing is read at import.

The package's modules: ``numbers`` (the two tables), ``display`` (labels, display and styling,
profile summaries), ``summaries`` (comparisons, counts, teachers) and ``provenance``; everything
public is importable from ``stingylib.paper`` itself, which is the API (note that
``stingylib.paper.provenance`` is the function; its module is
``sys.modules["stingylib.paper.provenance"]``).
"""

from __future__ import annotations

from ..experiments import (BASELINE_ROW, SELF, VARIANTS, ResultTable, claim_counts, table1_deltas,  # noqa: F401
                           table2_deltas)
from ..experiments import table1 as _table1
from ..experiments.teachers import adversarial_kl
from . import display as _display
from . import numbers as _numbers
from .display import (display_table, formatted_paper_table1, formatted_paper_table2, label, other_metrics,
                      profile_summary, profile_table, stack_tables, style_table)
from .numbers import TABLE1_STUDENTS, paper_table1, paper_table2
from .provenance import cost_summary, provenance
from .summaries import difference_texts, format_comparisons, mean_differences, nasty_teachers, teacher_epochs

# Re-bound here (the same objects) so that the API page documents them under stingylib.paper.
#: Table 1's columns, in the paper's order.
TABLE1_COLUMNS = _numbers.TABLE1_COLUMNS
#: Table 2's columns.
TABLE2_COLUMNS = _numbers.TABLE2_COLUMNS
#: How the paper writes model, dataset and column names.
LABELS = _display.LABELS
#: What each accuracy metric of a record means (selected on validation, final, best on test).
METRICS = _display.METRICS
#: The comparisons whose direction the Table 1 page counts.
CLAIMS = _table1.CLAIMS

# The API (and the API page, in this order). Also available, as before the split: BASELINE_ROW,
# SELF, VARIANTS, ResultTable, table1_deltas and table2_deltas of stingylib.experiments.
__all__ = [
    "TABLE1_COLUMNS",
    "TABLE1_STUDENTS",
    "TABLE2_COLUMNS",
    "LABELS",
    "label",
    "paper_table1",
    "paper_table2",
    "display_table",
    "formatted_paper_table1",
    "formatted_paper_table2",
    "provenance",
    "cost_summary",
    "METRICS",
    "other_metrics",
    "profile_summary",
    "profile_table",
    "style_table",
    "stack_tables",
    "CLAIMS",
    "difference_texts",
    "format_comparisons",
    "mean_differences",
    "claim_counts",
    "nasty_teachers",
    "teacher_epochs",
    "adversarial_kl",
]
