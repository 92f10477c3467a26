"""The experiments: each table and figure is one registered unit, a graph of runs plus its table.

- :mod:`.base`: what an experiment is (:class:`~stingylib.experiments.base.Experiment`,
  :class:`~stingylib.experiments.base.Cell`), the registry (:data:`~stingylib.experiments.base.EXPERIMENTS`,
  :func:`~stingylib.experiments.base.register`), :func:`~stingylib.experiments.base.plan` (the runs of
  a target, dependencies first, each once) and :func:`~stingylib.experiments.base.status_frame`;
- :mod:`.builders`: the run configs the experiments share (teachers, baselines, KD and DAFL
  students), so that a shared run has one id;
- :mod:`.reading`: the records read back into cells, tables
  (:class:`~stingylib.experiments.reading.ResultTable`) and per-seed values;
- one module per experiment, each declaring its runs, its table and its verdicts:
  :mod:`.teachers`, :mod:`.table1` (standard KD), :mod:`.figure` (sparse, smooth and reversed
  logits), :mod:`.table2` (data-free KD) and :mod:`.attacks` (can a student undo a stingy teacher?);
- :mod:`.ensure`: :func:`~stingylib.experiments.ensure.ensure_results`, what a notebook calls first;
  :mod:`.calibration`: whether a profile's recipe can test the paper (its control targets and calibration runs).

Adding a table is one module in this package that defines an
:class:`~stingylib.experiments.base.Experiment` subclass decorated with
:func:`~stingylib.experiments.base.register` (every module here is imported with the package; one
defined elsewhere registers when imported), one notebook, and one line of ``_toc.yml``: the command
line, ``status``, :func:`~stingylib.experiments.ensure.ensure_results` and the book pick it up from
the registry.
"""

from .base import ALL, EXPERIMENTS, Cell, Experiment, get_experiment, plan, register, status_frame, targets, unregister
from .builders import (VARIANTS, common_fields, dafl_run, kd_run, nasty_run, supervised_run, teacher_runs,
                       teacher_setting)
from .reading import METRICS, ResultTable, aggregate, by_seed, cell_values, check_metric, read_record, teacher_accuracy

# The built-in experiments, in the order their verdicts are listed (each registers itself on import).
from . import teachers as teachers  # noqa: E402  (isort: skip)
from . import table1 as table1  # noqa: E402
from . import figure as figure  # noqa: E402
from . import table2 as table2  # noqa: E402
from . import attacks as attacks  # noqa: E402

from .._discover import import_all  # noqa: E402

import_all(__name__, __path__)  # any other experiment module of this package registers itself, after the built-ins

from .ensure import MissingResultsError, ensure_results, parse_train  # noqa: E402
from .figure import (NORMAL_KD_TEMPERATURE, SECOND, figure_cells, figure_comparisons, figure_frame,  # noqa: E402
                     figure_temperatures)
from .table1 import (BASELINE_ROW, CLAIMS, COMPARISONS, SELF, claim_counts, table1_cells, table1_columns,  # noqa: E402
                     table1_comparisons, table1_deltas, table1_frame)
from .table2 import table2_cells, table2_deltas, table2_frame  # noqa: E402

__all__ = [
    "ALL", "BASELINE_ROW", "CLAIMS", "COMPARISONS", "EXPERIMENTS", "METRICS", "NORMAL_KD_TEMPERATURE", "SECOND",
    "SELF",
    "VARIANTS", "Cell", "Experiment", "MissingResultsError", "ResultTable", "aggregate", "by_seed", "cell_values",
    "check_metric", "claim_counts", "common_fields", "dafl_run", "ensure_results", "figure_cells",
    "figure_comparisons", "figure_frame", "figure_temperatures", "get_experiment", "kd_run", "nasty_run",
    "parse_train", "plan",
    "read_record", "register", "status_frame", "supervised_run", "table1_cells", "table1_columns",
    "table1_comparisons", "table1_deltas", "table1_frame", "table2_cells", "table2_deltas", "table2_frame",
    "targets", "teacher_accuracy", "teacher_runs", "teacher_setting", "unregister",
]
