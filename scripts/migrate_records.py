"""Migrate result records of schema 1 to schema 2, once, in place.

    python scripts/migrate_records.py data/results/cpu [--profile cpu] [--dry-run]

Schema 1 (stingylib before "Runs you can trust") stored a flat config whose hash covered every
field, and the provenance at the top level of the record. Schema 2 (:mod:`stingylib.runs`) nests the
method's parameters, hashes only the fields that differ from their defaults, and labels students by
their teacher. A record's id therefore changes, and so do the ids its dependents name: records are
converted in dependency order with a map from old to new ids.

Nothing measured is changed: accuracies, history, timing, sample logits and provenance are copied.
One thing is added: ``sample_images``, the first test images the record's sample logits belong to,
re-read from the dataset (deterministic: the config's class-balanced test subset), so that the
book's figures need no dataset. Each migrated record says so in its ``migrated`` field.

With ``--profile``, every migrated config must be a run the profile plans (and the script says
which planned runs have no record). Old files are removed only after every new file is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stingylib.engine import SAMPLE_IMAGES
from stingylib.methods import get_method
from stingylib.runs import EpochMetrics, RunConfig, RunRecord, RunStore, SampleImages
from stingylib.training import load_data

COMMON = ("model", "dataset", "epochs", "lr", "milestones", "gamma", "width", "seed", "batch_size", "momentum",
          "weight_decay", "train_per_class", "test_per_class", "augment")
#: Schema-1 config field → schema-2 parameter name, per method (fields not listed were unused: None).
PARAMS = {
    "supervised": {},
    "kd": {"teacher": "teacher", "transform": "transform", "keep": "keep", "temperature": "temperature",
           "alpha": "alpha"},
    "nasty": {"adversary": "adversary", "temperature": "temperature", "omega": "omega"},
    "dafl": {"teacher": "teacher", "transform": "transform", "keep": "keep", "latent_dim": "latent_dim",
             "iterations_per_epoch": "iterations_per_epoch", "generator_lr": "generator_lr",
             "dafl_one_hot": "one_hot", "dafl_info_entropy": "info_entropy", "dafl_activation": "activation"},
}
ROLES = ("teacher", "adversary")
PROVENANCE = ("git_commit", "stingylib", "versions", "device", "machine", "finished_at")


def v1_config(old: dict[str, Any], new_ids: dict[str, str]) -> RunConfig:
    """The schema-2 config of a schema-1 config dict; run ids it names are mapped through ``new_ids``."""
    method = old["method"]
    used = PARAMS[method]
    unused = [k for k, v in old.items() if k not in COMMON and k != "method" and k not in used
              and v not in (None, "normal")]
    if unused:
        raise ValueError(f"schema-1 {method} config sets fields its method does not use: {unused}")
    params = {new: old[k] for k, new in used.items() if k in old}
    for role in ROLES:
        if role in params:
            params[role] = new_ids[params[role]]
    return RunConfig(method=get_method(method)(**params), **{k: old[k] for k in COMMON if k in old})


def v1_record(old: dict[str, Any], config: RunConfig, images: SampleImages | None, when: str) -> RunRecord:
    """The schema-2 record of a schema-1 record, with ``config`` already migrated."""
    return RunRecord(
        run_id=config.run_id, config=config, final_accuracy=old["final_accuracy"],
        best_accuracy=old["best_accuracy"], best_epoch=old["best_epoch"], teacher_accuracy=old["teacher_accuracy"],
        num_params=old["num_params"], wall_seconds=old["wall_seconds"], images_per_s=old["images_per_s"],
        history=tuple(EpochMetrics.from_json(h, epoch=i) for i, h in enumerate(old["history"], 1)),
        sample_logits=tuple(tuple(r) for r in old["sample_logits"]),
        sample_labels=tuple(old["sample_labels"]), sample_images=images,
        provenance={k: old.get(k) for k in PROVENANCE}, accuracy_protocol=old["accuracy_protocol"],
        migrated={"from_schema": 1, "from_run_id": old["run_id"], "script": "scripts/migrate_records.py",
                  "at": when, "added": ["sample_images"] if images is not None else []},
    )


def migrate(olds: list[dict[str, Any]], *, images: bool = True) -> dict[str, RunRecord]:
    """Schema-1 records → schema-2 records by old run id, dependencies converted first."""
    new_ids: dict[str, str] = {}
    out: dict[str, RunRecord] = {}
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    pending = {r["run_id"]: r for r in olds}
    while pending:
        ready = [r for r in pending.values()
                 if all(r["config"].get(role) in (None, *new_ids) for role in ROLES)]
        if not ready:
            raise ValueError(f"records depend on runs that have no record: {sorted(pending)}")
        for old in ready:
            cfg = v1_config(old["config"], new_ids)
            pictures = SampleImages.from_tensor(load_data(cfg).test_x[:SAMPLE_IMAGES]) if images else None
            out[old["run_id"]] = v1_record(old, cfg, pictures, when)
            new_ids[old["run_id"]] = cfg.run_id
            del pending[old["run_id"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a folder of schema-1 records (e.g. data/results/cpu)")
    parser.add_argument("--profile", help="check that every migrated run is one this profile plans")
    parser.add_argument("--dry-run", action="store_true", help="convert and check, write nothing")
    args = parser.parse_args(argv)

    paths = sorted(args.results.glob("*.json"))
    olds = [json.loads(p.read_text()) for p in paths]
    olds = [r for r in olds if r.get("schema") is None]  # schema 1 had no schema field
    if not olds:
        print(f"{args.results}: no schema-1 records")
        return 0
    migrated = migrate(olds)
    if args.profile:
        from stingylib.experiments import plan

        planned = {c.run_id: c for c in plan(args.profile, "all")}
        strangers = [r.run_id for r in migrated.values() if r.run_id not in planned]
        if strangers:
            print(f"error: migrated runs that profile {args.profile!r} does not plan: {strangers}", file=sys.stderr)
            return 1
        unrecorded = sorted(set(planned) - {r.run_id for r in migrated.values()})
        print(f"{len(migrated)} records are planned runs of {args.profile!r}; planned without a record: "
              f"{unrecorded or 'none'}")
    if args.dry_run:
        for old_id, record in migrated.items():
            print(f"{old_id} -> {record.run_id}")
        return 0
    store = RunStore(args.results, args.results / ".unused-checkpoints")
    for record in migrated.values():
        store.write_record(record)
    for path in paths:
        if path.stem in migrated and migrated[path.stem].run_id != path.stem:
            path.unlink()
    print(f"migrated {len(migrated)} records in {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
