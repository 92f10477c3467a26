"""The paper's numbers: loaded with the shapes of this project's tables, values as on the poster."""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stingylib import paper
from stingylib.experiments import table1_frame, table2_frame
from stingylib.profiles import CPU, SMOKE
from stingylib.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]

#: The poster's printed Table 1 deltas, typed in from the poster: (teacher, variant) → column → delta.
POSTER_TABLE1_DELTAS = {
    ("resnet18", "normal"): {"shufflenetv2": 3.07, "mobilenetv2": 3.99, "resnet18": 1.59, "teacher_self": 1.59},
    ("resnet18", "nasty"): {"teacher_accuracy": -0.02, "shufflenetv2": -6.68, "mobilenetv2": -65.67,
                            "resnet18": -2.63, "teacher_self": -2.63},
    ("resnet18", "stingy"): {"teacher_accuracy": 0.0, "shufflenetv2": -20.95, "mobilenetv2": -62.34,
                             "resnet18": -23.00, "teacher_self": -23.00},
    ("resnet50", "normal"): {"shufflenetv2": 2.83, "mobilenetv2": 3.69, "resnet18": 2.21, "teacher_self": 1.96},
    ("resnet50", "nasty"): {"teacher_accuracy": -0.98, "shufflenetv2": -8.01, "mobilenetv2": -65.76,
                            "resnet18": -5.50, "teacher_self": -3.09},
    ("resnet50", "stingy"): {"teacher_accuracy": 0.0, "shufflenetv2": -22.12, "mobilenetv2": -63.60,
                             "resnet18": -22.00, "teacher_self": -22.49},
    ("resnext29", "normal"): {"shufflenetv2": 3.33, "mobilenetv2": 3.31, "resnet18": 3.40, "teacher_self": 1.68},
    ("resnext29", "nasty"): {"teacher_accuracy": -1.59, "shufflenetv2": -12.18, "mobilenetv2": -67.57,
                             "resnet18": -8.92, "teacher_self": -6.77},
    ("resnext29", "stingy"): {"teacher_accuracy": 0.0, "shufflenetv2": -21.71, "mobilenetv2": -62.19,
                              "resnet18": -18.74, "teacher_self": -27.67},
}
#: The poster's own arithmetic slips (printed delta ≠ difference of its printed numbers).
POSTER_TABLE1_TYPOS = {(("resnet50", "normal"), "teacher_self")}  # 80.02 − 78.12 = 1.90, printed +1.96

POSTER_TABLE2_DELTAS = {
    ("cifar10", "nasty"): {"teacher_accuracy": -0.88, "dafl": -6.34},
    ("cifar10", "stingy"): {"teacher_accuracy": 0.0, "dafl": -2.23},
    ("cifar100", "nasty"): {"teacher_accuracy": -0.79, "dafl": -5.39},
    ("cifar100", "stingy"): {"teacher_accuracy": 0.0, "dafl": -2.04},
}
POSTER_TABLE2_TYPOS = {(("cifar100", "nasty"), "teacher_accuracy")}  # 76.12 − 76.97 = −0.85, printed −0.79


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    root = tmp_path_factory.mktemp("empty-store")
    return RunStore(root / "results", root / "checkpoints")


def test_table1_shape_matches_the_run_tables(empty_store: RunStore) -> None:
    ours = table1_frame("paper", empty_store).mean  # all NaN: nothing trained, but the layout
    theirs = paper.paper_table1().mean
    pd.testing.assert_index_equal(theirs.index, ours.index)
    pd.testing.assert_index_equal(theirs.columns, ours.columns)
    assert (theirs.dtypes == float).all()


def test_table2_shape_matches_the_run_tables(empty_store: RunStore) -> None:
    ours = table2_frame("paper", empty_store).mean
    theirs = paper.paper_table2().mean
    pd.testing.assert_index_equal(theirs.index, ours.index)
    pd.testing.assert_index_equal(theirs.columns, ours.columns)


def test_table1_values_spot_checked_against_the_poster() -> None:
    mean = paper.paper_table1().mean
    assert mean.loc[("student baseline", "baseline"), "shufflenetv2"] == 71.17
    assert mean.loc[("student baseline", "baseline"), "resnet18"] == 77.44
    assert math.isnan(mean.loc[("student baseline", "baseline"), "teacher_accuracy"])
    assert math.isnan(mean.loc[("student baseline", "baseline"), "teacher_self"])
    assert mean.loc[("resnet18", "normal"), "mobilenetv2"] == 73.11
    assert mean.loc[("resnet18", "nasty"), "mobilenetv2"] == 3.45
    assert mean.loc[("resnet50", "stingy"), "teacher_self"] == 55.63
    assert mean.loc[("resnext29", "normal"), "teacher_accuracy"] == 81.85
    assert mean.loc[("resnext29", "nasty"), "shufflenetv2"] == 58.99
    assert mean.loc[("resnext29", "stingy"), "teacher_self"] == 54.18
    # The stingy teacher is the normal teacher: the same accuracy, exactly.
    for t in ("resnet18", "resnet50", "resnext29"):
        assert mean.loc[(t, "stingy"), "teacher_accuracy"] == mean.loc[(t, "normal"), "teacher_accuracy"]


def test_table1_deltas_reproduce_the_poster() -> None:
    delta = paper.paper_table1().delta
    for row, cells in POSTER_TABLE1_DELTAS.items():
        for column, printed in cells.items():
            ours = delta.loc[row, column]
            if (row, column) in POSTER_TABLE1_TYPOS:
                assert ours == pytest.approx(1.90, abs=1e-9) and printed != pytest.approx(ours, abs=0.005)
            else:
                assert ours == pytest.approx(printed, abs=0.005), (row, column)
    # No delta where the poster prints none.
    assert delta.loc[("student baseline", "baseline")].isna().all()
    for t in ("resnet18", "resnet50", "resnext29"):
        assert math.isnan(delta.loc[(t, "normal"), "teacher_accuracy"])


def test_table2_values_and_deltas() -> None:
    table = paper.paper_table2()
    assert table.mean.loc[("cifar10", "normal"), "teacher_accuracy"] == 95.42
    assert table.mean.loc[("cifar10", "stingy"), "dafl"] == 90.26
    assert table.mean.loc[("cifar100", "nasty"), "dafl"] == 65.67
    assert table.mean.loc[("cifar100", "normal"), "dafl"] == 71.06
    for row, cells in POSTER_TABLE2_DELTAS.items():
        for column, printed in cells.items():
            ours = table.delta.loc[row, column]
            if (row, column) in POSTER_TABLE2_TYPOS:
                assert ours == pytest.approx(-0.85, abs=1e-9)
            else:
                assert ours == pytest.approx(printed, abs=0.005), (row, column)
    assert table.delta.loc[[("cifar10", "normal"), ("cifar100", "normal")]].isna().all().all()


def test_deltas_follow_the_run_tables_rules(empty_store: RunStore) -> None:
    """paper.table1_deltas applied to a fake run table gives the deltas table1_frame computes."""
    smoke = table1_frame("smoke", empty_store)
    rng = np.random.default_rng(0)
    fake = pd.DataFrame(rng.uniform(0, 100, smoke.mean.shape), index=smoke.mean.index, columns=smoke.mean.columns)
    fake.loc[("student baseline", "baseline"), ["teacher_accuracy", "teacher_self"]] = np.nan
    delta = paper.table1_deltas(fake)
    assert delta.loc[("resnet50", "nasty"), "mobilenetv2"] == pytest.approx(
        fake.loc[("resnet50", "nasty"), "mobilenetv2"] - fake.loc[("student baseline", "baseline"), "mobilenetv2"])
    assert delta.loc[("resnet50", "nasty"), "teacher_self"] == pytest.approx(
        fake.loc[("resnet50", "nasty"), "teacher_self"] - fake.loc[("resnet50", "normal"), "teacher_accuracy"])
    assert delta.loc[("resnext29", "stingy"), "teacher_accuracy"] == pytest.approx(
        fake.loc[("resnext29", "stingy"), "teacher_accuracy"] - fake.loc[("resnext29", "normal"), "teacher_accuracy"])


def test_formatted_like_the_poster() -> None:
    table = paper.formatted_paper_table1()
    assert table.loc["ResNet-18 (normal)", "ShuffleNetV2"] == "74.24 (+3.07)"
    assert table.loc["ResNet-18 (stingy)", "MobileNetV2"] == "6.78 (-62.34)"
    assert table.loc["ResNeXt-29 (nasty)", "Teacher accuracy"] == "80.26 (-1.59)"
    assert table.loc["ResNet-50 (normal)", "Teacher accuracy"] == "78.12"
    assert table.loc["Student baseline", "ResNet-18"] == "77.44"
    assert table.loc["Student baseline", "Teacher accuracy"] == "—"
    assert list(table.columns) == ["Teacher accuracy", "ShuffleNetV2", "MobileNetV2", "ResNet-18", "Teacher self"]
    assert list(table.index)[:4] == ["Student baseline", "ResNet-18 (normal)", "ResNet-18 (nasty)",
                                     "ResNet-18 (stingy)"]
    t2 = paper.formatted_paper_table2()
    assert t2.loc["CIFAR-10: ResNet-34 (stingy)", "DAFL student"] == "90.26 (-2.23)"
    assert t2.loc["CIFAR-100: ResNet-34 (normal)", "Teacher accuracy"] == "76.97"


def test_missing_or_malformed_csv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="table1.csv"):
        paper.paper_table1(tmp_path)
    (tmp_path / "table2.csv").write_text("dataset,variant,teacher_accuracy\ncifar10,normal,95.0\n")
    with pytest.raises(ValueError, match="dafl_student_accuracy"):
        paper.paper_table2(tmp_path)
    with pytest.raises(ValueError, match="two-level"):
        paper.display_table(pd.DataFrame({"a": [1.0]}))


def test_the_numbers_ship_inside_the_package(tmp_path: Path) -> None:
    shipped = resources.files("stingylib.paper")
    for name in ("table1.csv", "table2.csv", "README.md"):
        assert shipped.joinpath(name).is_file(), name
    assert not (ROOT / "data" / "paper").exists(), "data/paper/ moved into stingylib/paper/"
    # An explicit folder (str or Path) is still read instead of the shipped files.
    for name in ("table1.csv", "table2.csv"):
        (tmp_path / name).write_bytes(shipped.joinpath(name).read_bytes())
    pd.testing.assert_frame_equal(paper.paper_table1(tmp_path).mean, paper.paper_table1().mean)
    pd.testing.assert_frame_equal(paper.paper_table2(str(tmp_path)).delta, paper.paper_table2().delta)
    (tmp_path / "table1.csv").write_text((tmp_path / "table1.csv").read_text().replace("74.24", "99.99"))
    assert paper.paper_table1(tmp_path).mean.loc[("resnet18", "normal"), "shufflenetv2"] == 99.99


def test_every_name_the_notebooks_and_tests_use_is_in_the_package() -> None:
    """``stingylib.paper`` is a package now: every ``paper.<name>`` used in notebooks and tests still works."""
    used = {"BASELINE_ROW", "SELF", "VARIANTS", "ResultTable", "table1_deltas", "table2_deltas",
            "TABLE1_COLUMNS", "TABLE1_STUDENTS", "TABLE2_COLUMNS", "LABELS", "METRICS"}  # the old module's
    sources = [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "tests").glob("*.py"), *(ROOT / "book").glob("*.py")]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bpaper\.([A-Za-z_]\w*)", text))
        for names in re.findall(r"from stingylib\.paper import \(?([\w, \n]+)", text):
            used |= {n.strip() for n in names.split(",") if n.strip()}
    assert {"paper_table1", "style_table", "provenance", "METRICS"} <= used  # the scan found the notebooks' uses
    missing = sorted(n for n in used if not hasattr(paper, n))
    assert not missing, f"stingylib.paper lacks {missing}"
    assert set(paper.__all__) <= set(dir(paper))
    assert callable(paper.provenance) and paper.METRICS is paper.display.METRICS


def test_style_table_renders_the_labels_and_splits_deltas() -> None:
    html = paper.style_table(paper.formatted_paper_table1()).to_html()
    assert html.count("<table") == 1 and "ResNeXt-29 (stingy)" in html and "Student baseline" in html
    assert '74.24<span class="delta">(+3.07)</span>' in html
    flat = paper.style_table(paper.formatted_paper_table1(), split_delta=False).to_html()
    assert "74.24 (+3.07)" in flat
    numbers = pd.DataFrame({"a": [1.23456, np.nan], "b": ["x<y", "ok"]}, index=pd.Index(["r1", "r2"], name="row"))
    html = paper.style_table(numbers, precision=3).to_html()
    assert "1.235" in html and "—" in html and "x&lt;y" in html
    nested = pd.concat({"this run": numbers[["a"]], "paper": numbers[["a"]]}, axis=1)  # two header rows
    html = paper.style_table(nested).to_html()
    assert '<span style="white-space: nowrap">run</span>' in html and html.count("1.23") == 2


def test_provenance_and_profile_summary(tmp_path: Path) -> None:
    empty = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    frame = paper.provenance("smoke", "table2", store=empty)
    assert frame.loc["runs finished", "value"].startswith("0 of ")
    assert "smoke" in frame.loc["profile", "value"]
    text = paper.profile_summary("paper", "table1")
    assert "CIFAR-100" in text and "<td><code>table1.keep</code></td><td>10</td>" in text
    assert "<td><code>table1.dataset</code></td><td>cifar100</td>" in text and "table2[0]" not in text  # Table 1's only
    assert "not the paper's" not in text and "\n\n" not in text.split("<details>")[1]  # one HTML block
    table2 = paper.profile_summary("smoke", "table2")
    assert "say nothing about the paper's claims" in table2
    assert "<td><code>table2[0].iterations_per_epoch</code></td><td>5</td>" in table2
    assert "tests the paper's claims at Fashion-MNIST scale" in paper.profile_summary("cpu", "table1")
    with pytest.raises(ValueError, match="experiment must be one of"):
        paper.profile_summary("smoke", "all")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_the_profile_table_is_the_profile(profile) -> None:
    """Every setting shown is generated from the profile's dataclasses, with what it means: change a
    recipe and the table changes with it (nothing is typed twice)."""
    import dataclasses

    from stingylib.profiles import get_profile, profile_numbers

    prof = get_profile(profile)
    numbers = profile_numbers(prof)
    assert all(meaning for _, meaning in numbers.values()), [k for k, (_, m) in numbers.items() if not m]
    assert numbers["table1.epochs"][0] == prof.table1.epochs and numbers["seeds"][0] == prof.seeds
    for i, dafl in enumerate(prof.table2):  # a Table 2 teacher recipe that is Table 1's is named, not repeated
        assert (numbers.get(f"table2[{i}].teacher", (None,))[0] == "table1") == (dafl.teacher == prof.table1)
    assert {k.split(".")[1] for k in numbers if k.startswith("widths.")} == {m for m, _ in prof.widths}
    changed = dataclasses.replace(prof, table1=dataclasses.replace(prof.table1, epochs=prof.table1.epochs + 7))
    assert profile_numbers(changed)["table1.epochs"][0] == prof.table1.epochs + 7
    table = paper.profile_table(profile)
    assert list(table.columns) == ["value", "meaning"] and len(table) == len(numbers) - 3  # name, description, notes


@pytest.mark.slow
def test_provenance_of_the_smoke_results(smoke_results: RunStore) -> None:
    import torch

    frame = paper.provenance("smoke", "all", store=smoke_results)["value"]
    done, planned = frame["runs finished"].split(" (")[0].split(" of ")
    assert done == planned
    assert frame["torch"] == torch.__version__ and frame["device"] == "cpu"
    assert "→" in frame["finished (UTC)"] and frame["training wall time"].endswith("(sum over the runs)")


# ---------------------------------------------------------------------------------------------
# Metrics, stacked tables, comparisons and nasty teachers (no training: fake records)
# ---------------------------------------------------------------------------------------------


def test_metric_labels_cover_every_metric() -> None:
    from stingylib.experiments import METRICS

    assert list(paper.METRICS) == list(METRICS)
    assert "validation" in paper.METRICS["selected_accuracy"]
    assert "paper's protocol" in paper.METRICS["best_accuracy"] and "optimistic" in paper.METRICS["best_accuracy"]
    assert paper.other_metrics("selected_accuracy") == ["final_accuracy", "best_accuracy"]
    assert paper.other_metrics("best_accuracy") == ["selected_accuracy", "final_accuracy"]
    # a profile whose students test only where they report has no best epoch to show
    assert paper.other_metrics("selected_accuracy", SMOKE) == ["final_accuracy"]
    assert paper.other_metrics("selected_accuracy", CPU) == ["final_accuracy", "best_accuracy"]
    with pytest.raises(ValueError, match="metric"):
        paper.other_metrics("best")


def test_stack_tables_heads_each_block_and_keeps_the_layout() -> None:
    table = paper.formatted_paper_table1()
    stacked = paper.stack_tables({"final_accuracy:": table, "best_accuracy:": table})
    assert list(stacked.columns) == list(table.columns) and stacked.index.name == table.index.name
    assert len(stacked) == 2 * (len(table) + 1)
    assert list(stacked.index[:2]) == ["final_accuracy:", "Student baseline"]
    assert (stacked.loc["best_accuracy:"] == "").all()
    html = paper.style_table(stacked).to_html()
    assert html.count("<table") == 1 and "best_accuracy:" in html
    with pytest.raises(ValueError, match="columns"):
        paper.stack_tables({"a": table, "b": table.iloc[:, :2]})


def test_style_table_formats_columns() -> None:
    frame = pd.DataFrame({"KL": [0.012345, np.nan], "ω": [0.04, 0.005]}, index=pd.Index(["a", "b"], name="x"))
    html = paper.style_table(frame, formats={"KL": "{:.3g}", "ω": "{:g}"}).to_html()
    assert "0.0123" in html and "0.005" in html and "0.04" in html and "—" in html
    with pytest.raises(ValueError, match="formats"):
        paper.style_table(frame, formats={"nope": "{:g}"})


def test_display_table_shows_no_spread_on_the_one_teacher() -> None:
    from stingylib.experiments import ResultTable

    mean = paper.paper_table1().mean
    std = pd.DataFrame(0.5, index=mean.index, columns=mean.columns)
    table = ResultTable(mean, std, mean.notna().astype(int) * 3, paper.table1_deltas(mean), "selected_accuracy")
    shown = paper.display_table(table)
    assert shown.loc["ResNet-18 (normal)", "Teacher accuracy"] == "77.44"
    assert shown.loc["ResNet-18 (nasty)", "Teacher accuracy"] == "77.42 (-0.02)"
    assert shown.loc["ResNet-18 (normal)", "ShuffleNetV2"] == "74.24 ± 0.50 (+3.07)"


def _comparisons() -> pd.DataFrame:
    """A table1_comparisons-shaped frame: two pairs, one with teacher self."""
    rows = []
    for student, values in (("mobilenetv2", {"normal KD − baseline": (2.0, 0.5, 3.5, 3),
                                             "stingy − normal KD": (-5.0, -8.0, -2.0, 3),
                                             "stingy − nasty": (1.0, -4.0, 6.0, 3)}),
                            ("teacher_self", {"stingy − normal KD": (-3.0, np.nan, np.nan, 1),
                                              "stingy − nasty": (np.nan, np.nan, np.nan, 0)})):
        for comparison, (m, lo, hi, n) in values.items():
            rows.append({"teacher": "resnet18", "student": student, "comparison": comparison, "mean": m, "low": lo,
                         "high": hi, "n": n, "excludes_zero": bool(n >= 2 and (lo > 0 or hi < 0))})
    return pd.DataFrame(rows)


def test_format_comparisons_pivots_readably() -> None:
    table = paper.format_comparisons(_comparisons())
    assert list(table.index) == ["ResNet-18 → MobileNetV2", "ResNet-18 → ResNet-18 (teacher self)"]
    assert list(table.columns) == ["normal KD − baseline", "stingy − normal KD", "stingy − nasty", "seeds (n)"]
    row = table.loc["ResNet-18 → MobileNetV2"]
    assert row["normal KD − baseline"] == "+2.00 [+0.50, +3.50] *"
    assert row["stingy − nasty"] == "+1.00 [-4.00, +6.00]" and row["seeds (n)"] == "3"
    self_row = table.loc["ResNet-18 → ResNet-18 (teacher self)"]
    assert self_row["normal KD − baseline"] == "—" and self_row["stingy − nasty"] == "—"
    assert "one seed" in self_row["stingy − normal KD"] and self_row["seeds (n)"] == "0–1"
    assert paper.style_table(table).to_html().count("<table") == 1
    with pytest.raises(ValueError, match="table1_comparisons"):
        paper.format_comparisons(pd.DataFrame({"mean": [1.0]}))


def test_claim_counts_and_the_papers_differences() -> None:
    comparisons = _comparisons()
    theirs = paper.mean_differences(paper.paper_table1(), comparisons)
    mean = paper.paper_table1().mean
    first = theirs.iloc[0]  # resnet18 → mobilenetv2, normal KD − baseline
    assert first["mean"] == pytest.approx(mean.loc[("resnet18", "normal"), "mobilenetv2"]
                                          - mean.loc[paper.BASELINE_ROW, "mobilenetv2"])
    assert first["n"] == 1 and not first["excludes_zero"]
    counts = paper.claim_counts(comparisons, theirs, reference_name="paper")
    assert list(counts.index) == [d for d, _ in paper.CLAIMS.values()]
    normal = counts.loc["normal KD above the baseline"]
    assert (normal["cells"], normal["in that direction"], normal["interval excludes 0"]) == (1, 1, 1)
    stingy = counts.loc["stingy below normal KD"]
    assert (stingy["cells"], stingy["in that direction"], stingy["interval excludes 0"]) == (2, 2, 1)
    nasty = counts.loc["stingy below nasty"]
    assert (nasty["cells"], nasty["in that direction"]) == (1, 0)  # the NaN cell is not counted
    # the paper: stingy 6.78 vs nasty 3.45 (MobileNetV2), 54.44 vs 74.81 (teacher self)
    assert (nasty["paper: cells"], nasty["paper: in that direction"]) == (2, 1)
    assert "reference cells" not in counts.columns


def test_adversarial_kl_and_nasty_teachers(tmp_path: Path) -> None:
    import dataclasses

    from stingylib.experiments import teacher_runs
    from stingylib.profiles import get_profile

    from .records import fake_record

    prof = get_profile("smoke")
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    for model in prof.teachers:
        runs = teacher_runs(prof, prof.table1, model)
        store.write_record(fake_record(runs["normal"], 90.0, 88.0))
        nasty = fake_record(runs["nasty"], 87.0, 85.0)
        scale = runs["nasty"].method.omega * runs["nasty"].method.temperature ** 2
        history = tuple(dataclasses.replace(h, train={**h.train, "adversarial": scale * 0.1 * h.epoch})
                        for h in nasty.history)
        store.write_record(dataclasses.replace(nasty, history=history))
    record = store.load_record(teacher_runs(prof, prof.table1, "resnet18")["nasty"].run_id)
    assert paper.adversarial_kl(record) == pytest.approx(0.1 * len(record.history))
    assert paper.adversarial_kl(record, 1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="epoch"):
        paper.adversarial_kl(record, 0)
    table = paper.nasty_teachers(prof, store)
    assert list(table.index) == [paper.label(t) for t in prof.teachers]
    row = table.loc["ResNet-18"]
    assert (row["normal"], row["nasty"], row["nasty − normal"]) == (88.0, 85.0, -3.0)  # the selected epoch's
    assert row["KL, epoch students see"] == pytest.approx(0.1 * record.selected_epoch)
    assert (row["ω"], row["τ_A"]) == (prof.table1.nasty_omega, prof.table1.nasty_temperature)
    line = paper.teacher_epochs(prof, store)
    assert f"seed {prof.teacher_seed}" in line and "selected on validation" in line
    assert f"ResNet-18 normal {record.selected_epoch}/{len(record.history)}" in line
