"""Runs you can trust: identity (:mod:`stingylib.runs.config`), records (:mod:`stingylib.runs.record`),
the store (:mod:`stingylib.runs.store`).

- :class:`~stingylib.runs.config.RunConfig`: a run is its config; its id survives the addition of defaulted fields.
- :class:`~stingylib.runs.record.RunRecord`: the typed result of a finished run, validated whenever it is read.
- :class:`~stingylib.runs.store.RunStore`: records, weights, checkpoints and per-run locks under one data root.
"""

from .config import ID_SCHEMA, RunConfig
from .frames import epoch_metrics, load_runs
from .record import ACCURACY_PROTOCOL, RECORD_SCHEMA, RecordError, RunRecord, SampleImages, parse_record, provenance
from .store import STATES, CorruptFileError, RunBusy, RunStore, atomic_write, atomic_write_json, records, sha256_file

__all__ = ["ACCURACY_PROTOCOL", "ID_SCHEMA", "RECORD_SCHEMA", "STATES", "CorruptFileError", "RecordError", "RunBusy",
           "RunConfig", "RunRecord", "RunStore", "SampleImages", "atomic_write", "atomic_write_json", "epoch_metrics",
           "load_runs", "parse_record", "provenance", "records", "sha256_file"]
