"""Smoke tests of the book's figures (matplotlib's Agg backend, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stingylib import plots  # noqa: E402


def figure_frame(keeps=(1, 2, 5, 10, 20, 50, 100), with_std: bool = True, num_classes: int = 100) -> pd.DataFrame:
    """A frame shaped like experiments.figure_frame's (with several seeds only at N = 10, as a profile's
    recipe N, when ``with_std``)."""
    rows = []
    for curve, base in (("stingy_sparse", 40.0), ("stingy_smooth", 60.0)):
        for k in keeps:
            several = with_std and k == 10
            rows.append({"curve": curve, "keep": k, "mean": base + 0.3 * k, "std": 1.0 if several else np.nan,
                         "count": 3 if several else 1})
    rows += [{"curve": "reversed", "keep": num_classes, "mean": 30.0, "std": np.nan, "count": 1},
             {"curve": "normal", "keep": num_classes, "mean": 79.0, "std": 0.5 if with_std else np.nan, "count": 3},
             {"curve": "nasty", "keep": num_classes, "mean": 78.0,
              "std": 0.7 if with_std else np.nan, "count": 3},
             {"curve": "normal_second", "keep": num_classes, "mean": 70.0, "std": np.nan, "count": 3},
             {"curve": "baseline", "keep": 0, "mean": 77.4, "std": 0.4 if with_std else np.nan, "count": 3}]
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_plot_figure_draws_every_curve(tmp_path) -> None:
    fig = plots.plot_figure(figure_frame(), num_classes=100, title="CIFAR-100", highlight=10, temperature=20)
    ax = fig.axes[0]
    legend = _legend_texts(fig)
    texts = " | ".join(legend)
    for word in ("stingy-sparse", "stingy-smooth", "reversed", "baseline"):
        assert word in texts
    # normal KD and the nasty teacher are labelled lines naming the τ; the legend follows FIGURE_ORDER;
    # the second τ's points are not drawn (a table shows them)
    assert "normal KD, τ = 20: 79.0" in legend and "nasty teacher, τ = 20: 78.0" in legend
    assert not any("70.0" in t for t in legend)
    assert legend[0].startswith("stingy-sparse") and legend[-1].startswith("student baseline")
    normals = [line for line in ax.lines if line.get_label().startswith(("normal KD", "nasty"))]
    assert sorted(line.get_ydata()[0] for line in normals) == [78.0, 79.0]
    assert "%" in ax.get_ylabel() and "N" in ax.get_xlabel()
    assert ax.get_xscale() == "log"  # N from 1 to 100
    assert ax.get_title() == "CIFAR-100"
    # the two stingy curves differ in marker and line style, not only in colour
    lines = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar containers: (data line, caps, bars)
    sparse = next(v for k, v in lines.items() if k.startswith("stingy-sparse"))
    smooth = next(v for k, v in lines.items() if k.startswith("stingy-smooth"))
    assert len(sparse.get_xdata()) == 7
    assert sparse.get_marker() != smooth.get_marker() and sparse.get_linestyle() != smooth.get_linestyle()
    # error bars only where several seeds are behind a point (N = 10 here), bands likewise
    bars = next(c for c in ax.containers if c.get_label().startswith("stingy-sparse")).lines[2][0]
    drawn = [seg for seg in bars.get_segments() if len(seg) and np.isfinite(seg).all()]
    assert len(drawn) == 1 and drawn[0][0][0] == 10
    assert len(ax.patches) == 3  # ±1 std bands of normal KD, nasty and the baseline, not of reversed
    fig.savefig(tmp_path / "figure.png", dpi=80)
    assert (tmp_path / "figure.png").stat().st_size > 5_000


def test_figure_labels_name_the_temperature() -> None:
    labels = plots.figure_labels(20)
    assert list(labels) == list(plots.FIGURE_ORDER)
    assert labels["normal"] == "normal KD, τ = 20" and labels["nasty"] == "nasty teacher, τ = 20"
    assert "τ" not in plots.figure_labels()["normal"]


def test_plot_figure_single_seed_and_missing_points_and_given_axes() -> None:
    frame = figure_frame(keeps=tuple(range(1, 11)), with_std=False, num_classes=10)
    frame.loc[frame["keep"] == 3, "mean"] = np.nan  # a run not trained yet
    frame = frame[frame["curve"] != "reversed"]  # a reference line missing altogether
    fig, ax = plt.subplots()
    out = plots.plot_figure(frame, ax, num_classes=10)
    assert out is fig
    assert ax.get_xscale() == "linear"
    assert not any("reversed" in t for t in _legend_texts(fig))
    assert not ax.patches  # one seed everywhere: no band
    assert all(not c.has_yerr for c in ax.containers)  # and no error bar


def test_plot_figure_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="columns"):
        plots.plot_figure(pd.DataFrame({"curve": ["normal"]}), num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        plots.plot_figure(figure_frame(), num_classes=1)


def test_teacher_views_match_the_transforms() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0]])
    views = plots.teacher_views(logits, keep=2)
    assert np.isneginf(views["stingy_sparse"][0, [1, 3, 4]]).all()
    np.testing.assert_allclose(views["stingy_smooth"][0], [3.0, 0.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(views["reversed"][0], [3.0, 0.0, -1.0, 1.0, 2.0])
    np.testing.assert_allclose(views["normal"][0], logits[0].numpy())


def test_plot_teacher_outputs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 100)).tolist()  # like a record's sample_logits
    nasty = rng.normal(size=(8, 100))
    images = rng.integers(0, 255, size=(8, 3, 32, 32), dtype=np.uint8)
    fig = plots.plot_teacher_outputs(logits, keep=10, temperature=20.0, labels=list(range(8)), images=images,
                                     extra={"nasty": nasty}, num_images=2)
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert rows == ["normal", "stingy-sparse", "stingy-smooth", "reversed", "nasty\n(own network)"]
    assert len(fig.axes) == 6 * 2  # (image + 5 teachers) × 2 images
    assert fig.axes[0].get_title() == "true class: 0"
    # the stingy-sparse panel of the first image has exactly `keep` non-zero bars
    sparse_ax = fig.axes[2 * 2]
    heights = [p.get_height() for p in sparse_ax.patches]
    assert len(heights) == 100 and sum(h > 0 for h in heights) == 10
    fig.savefig(tmp_path / "outputs.png", dpi=60)


def test_plot_teacher_outputs_small_k_without_images() -> None:
    logits = torch.randn(3, 10)
    fig = plots.plot_teacher_outputs(logits, keep=2, temperature=4, labels=[0, 1, 2], num_images=5,
                                     class_names=[f"c{k}" for k in range(10)])
    assert len(fig.axes) == 4 * 3  # 4 transforms × 3 images (all there are)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0].startswith("c")


def test_plot_teacher_outputs_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="logits"):
        plots.plot_teacher_outputs([1.0, 2.0], keep=1, temperature=1.0)
    with pytest.raises(ValueError, match="temperature"):
        plots.plot_teacher_outputs(torch.randn(2, 5), keep=1, temperature=0.0)
    with pytest.raises(ValueError, match="class_names"):
        plots.plot_teacher_outputs(torch.randn(2, 5), keep=1, temperature=1.0, class_names=["a"])
    with pytest.raises(ValueError, match="extra"):
        plots.plot_teacher_outputs(torch.randn(2, 5), keep=1, temperature=1.0, extra={"nasty": torch.randn(2, 4)})
