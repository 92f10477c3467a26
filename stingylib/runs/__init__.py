"""Runs you can trust: identity (:mod:`stingylib.runs.config`), records (:mod:`stingylib.runs.record`),
the store (:mod:`stingylib.runs.store`).

- :class:`~stingylib.runs.config.RunConfig`: a run is its config, a
  :class:`~stingylib.runs.spec.TrainSpec` plus a method (:class:`~stingylib.runs.method.MethodSpec`,
  registered by name); its id survives the addition of defaulted fields.
- :class:`~stingylib.runs.record.RunRecord`: the typed result of a finished run, validated whenever it
  is read, with one :class:`~stingylib.runs.metrics.EpochMetrics` per epoch.
- :class:`~stingylib.runs.store.RunStore`: records, weights, checkpoints and per-run locks under one data root.
"""

from .config import ID_SCHEMA, RunConfig
from .frames import epoch_metrics, load_runs
from .method import LABEL_TERM, METHODS, OTHER_TERM, TEACHER_TERM, MethodSpec, get_method
from .metrics import DIAG_PREFIX, TRAIN_PREFIX, EpochMetrics, best_epoch, diagnostic_names, selected_epoch
from .record import ACCURACY_PROTOCOL, RECORD_SCHEMA, RecordError, RunRecord, SampleImages, parse_record, provenance
from .spec import TrainSpec
from .store import STATES, CorruptFileError, RunBusy, RunStore, atomic_write, atomic_write_json, records, sha256_file

__all__ = ["ACCURACY_PROTOCOL", "DIAG_PREFIX", "ID_SCHEMA", "TRAIN_PREFIX", "LABEL_TERM", "METHODS", "OTHER_TERM", "RECORD_SCHEMA", "STATES",
           "TEACHER_TERM", "CorruptFileError", "EpochMetrics", "MethodSpec", "RecordError", "RunBusy", "RunConfig",
           "RunRecord", "RunStore", "SampleImages", "TrainSpec", "atomic_write", "atomic_write_json", "best_epoch",
           "diagnostic_names", "epoch_metrics", "get_method", "load_runs", "parse_record", "provenance", "records",
           "selected_epoch", "sha256_file"]
