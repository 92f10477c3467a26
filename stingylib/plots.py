"""The book's figures as pure functions: data in, a matplotlib Figure out.

- :func:`plot_figure`: the paper's sparse / smooth / reversed comparison, student accuracy against
  the number ``N`` of classes a teacher keeps, from :func:`stingylib.experiments.figure.figure_frame`, with
  normal KD at the curves' τ and at the recipe's KD τ as two reference lines (:func:`figure_labels`
  names them).
- :func:`plot_teacher_outputs`: what a normal, stingy-sparse, stingy-smooth and reversed teacher
  (and optionally other teachers, e.g. a nasty one) show a student on a few test images: softmax
  bars at temperature τ, from a record's ``sample_logits``.

- :func:`plot_diagnostics`: the attack chapter's mechanism figure, per-epoch diagnostics of KD
  students (logit range, KD term, KD gradient on kept and hidden classes).

All are drawn for print as well as screens: large fonts, and curves told apart by marker and line
style as well as by colour (the Okabe–Ito colour-blind-safe palette). Nothing is drawn, and no
backend is chosen, at import; the caller's backend is used (``Agg`` in tests and notebooks' papermill runs).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .transforms import get_transform

#: Okabe–Ito colours (safe for colour-blind readers; distinct in greyscale together with the styles).
COLORS = {"stingy_sparse": "#D55E00", "stingy_smooth": "#0072B2", "reversed": "#009E73",
          "normal": "#333333", "normal_kd_temperature": "#56B4E9", "baseline": "#777777", "nasty": "#CC79A7",
          "true": "#E69F00"}
#: How each curve of the figure is drawn and named.
CURVES = {
    "stingy_sparse": dict(label="stingy-sparse (top-N, −∞ elsewhere)", marker="o", linestyle="-"),
    "stingy_smooth": dict(label="stingy-smooth (top-N, flat tail)", marker="s", linestyle="--"),
}
#: The figure's horizontal reference lines (``normal_kd_temperature``:
#: :data:`stingylib.experiments.figure.NORMAL_KD_TEMPERATURE`, normal KD at Table 1's τ when the
#: curves' τ differs from it).
REFERENCES = {
    "normal": dict(label="normal KD (all K classes)", linestyle="-."),
    "normal_kd_temperature": dict(label="normal KD (all K classes)", linestyle=(0, (5, 2))),
    "nasty": dict(label="nasty teacher (all K classes)", linestyle=(0, (2, 2))),
    "reversed": dict(label="reversed logits", linestyle=":"),
    "baseline": dict(label="student baseline (no teacher)", linestyle=(0, (6, 2, 1, 2, 1, 2))),
}
#: Every curve and point of the figure, in the order of its legend and tables.
FIGURE_ORDER = (*CURVES, *REFERENCES)
#: Panel titles of the teacher transforms.
TRANSFORM_TITLES = {"normal": "normal", "stingy_sparse": "stingy-sparse", "stingy_smooth": "stingy-smooth",
                    "reversed": "reversed", "uniform_topn": "uniform top-N"}
FONT = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
        "ytick.labelsize": 11, "legend.fontsize": 10.5}


def _new_axes(ax, figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def figure_labels(temperature: float | None = None, kd_temperature: float | None = None) -> dict[str, str]:
    """The name of each curve and point of the figure (:data:`FIGURE_ORDER`), with the τ of the KD
    points when given: ``normal`` at the curves' τ (``temperature``), ``normal_kd_temperature`` and
    ``nasty`` at Table 1's (``kd_temperature``, default: the curves' τ)."""
    labels = {name: style["label"] for name, style in {**CURVES, **REFERENCES}.items()}
    kd_temperature = temperature if kd_temperature is None else kd_temperature
    if temperature is not None:
        labels["normal"] = f"normal KD, τ = {temperature:g}"
    if kd_temperature is not None:
        labels["normal_kd_temperature"] = f"normal KD, τ = {kd_temperature:g}"
        labels["nasty"] = f"nasty teacher, τ = {kd_temperature:g}"
    return labels


def _spread(part: pd.DataFrame) -> np.ndarray | None:
    """±1 std per point where more than one seed is behind it (NaN elsewhere: no error bar); None
    when no point has one."""
    if "std" not in part.columns:
        return None
    std = part["std"].to_numpy(dtype=float)
    if "count" in part.columns:
        std = np.where(part["count"].to_numpy() > 1, std, np.nan)
    return std if np.isfinite(std).any() else None


def plot_figure(frame: pd.DataFrame, ax=None, *, num_classes: int, title: str | None = None,
                highlight: int | None = None, temperature: float | None = None,
                kd_temperature: float | None = None):
    """Student accuracy against the number ``N`` of classes the teacher keeps.

    Args:
        frame: :func:`stingylib.experiments.figure.figure_frame` output: columns ``curve``
            (``stingy_sparse``, ``stingy_smooth``, ``reversed``, ``normal``, ``normal_kd_temperature``,
            ``nasty``, ``baseline``; other curves, e.g. the second τ's points, are not drawn),
            ``keep``, ``mean`` (accuracy in %), optional ``std`` and ``count`` (seeds behind a
            point). Missing points (NaN) are left out.
        ax: axes to draw into (default: a new figure).
        num_classes: K, the dataset's class count (N = K is normal KD).
        title: axes title.
        highlight: an N to mark with a vertical line (e.g. the N of Table 1).
        temperature: τ of the curves, the reversed point and ``normal``, for the legend.
        kd_temperature: τ of ``normal_kd_temperature`` and ``nasty`` (Table 1's), for the legend
            (default: ``temperature``).

    Returns:
        The matplotlib Figure. The stingy curves are lines with markers; reversed logits, normal KD,
        the nasty teacher and the baseline are labelled horizontal lines. Error bars (bands for the
        lines) are ±1 std, where more than one seed is behind a point (``count`` > 1, or a finite
        ``std`` when there is no ``count``).
    """
    import matplotlib.pyplot as plt

    needed = {"curve", "keep", "mean"}
    if not needed <= set(frame.columns):
        raise ValueError(f"frame needs columns {sorted(needed)}; got {list(frame.columns)}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    labels = figure_labels(temperature, kd_temperature)

    with plt.rc_context(FONT):
        fig, ax = _new_axes(ax, (8.0, 6.0))
        keeps = sorted({int(k) for k in frame.loc[frame["curve"].isin(list(CURVES)), "keep"]})
        handles = []  # legend entries in the order of FIGURE_ORDER
        for curve, style in CURVES.items():
            part = frame[(frame["curve"] == curve) & frame["mean"].notna()].sort_values("keep")
            if part.empty:
                continue
            yerr = _spread(part)
            handles.append(ax.errorbar(part["keep"], part["mean"], yerr=yerr, color=COLORS[curve], linewidth=2.2,
                        markersize=7, capsize=4 if yerr is not None else 0, zorder=3,
                        **{**style, "label": labels[curve]}))
        for curve, style in REFERENCES.items():
            part = frame[(frame["curve"] == curve) & frame["mean"].notna()]
            if part.empty:
                continue
            mean = float(part["mean"].iloc[0])
            handles.append(ax.axhline(mean, color=COLORS[curve], linewidth=1.8, zorder=2,
                                      label=f"{labels[curve]}: {mean:.1f}", linestyle=style["linestyle"]))
            spread = _spread(part.iloc[:1])
            if spread is not None and spread[0] > 0:
                std = float(spread[0])
                ax.axhspan(mean - std, mean + std, color=COLORS[curve], alpha=0.12, linewidth=0, zorder=1)
        if highlight is not None:
            ax.axvline(highlight, color="#444444", linewidth=1, linestyle=(0, (1, 3)), zorder=1)
            ax.annotate(f"N = {highlight}\n(Table 1)", xy=(highlight, 0.5), xycoords=("data", "axes fraction"),
                        xytext=(5, 0), textcoords="offset points", va="center", fontsize=10, color="#444444",
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
        if keeps and max(keeps) / min(keeps) > 20:
            ax.set_xscale("log")
        if keeps:
            ax.set_xticks(keeps)
            ax.set_xticklabels([str(k) for k in keeps])
            ax.minorticks_off()
        top = ax.secondary_xaxis("top", functions=(lambda n: np.asarray(n) / num_classes,
                                                   lambda r: np.asarray(r) * num_classes))
        top.set_xlabel(f"sparse ratio r = N / K  (K = {num_classes})")
        ax.set_xlabel(f"N, classes the teacher keeps (of K = {num_classes})")
        ax.set_ylabel("student test accuracy (%)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        if title:
            ax.set_title(title, pad=10)
    return fig


def _as_array(logits) -> np.ndarray:
    array = np.asarray(logits.detach().cpu() if isinstance(logits, torch.Tensor) else logits, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"logits must be a (B, K) array with K >= 2; got shape {array.shape}")
    return array


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(z)  # exp(-inf) = 0: masked classes get exactly 0
    return e / e.sum(axis=1, keepdims=True)


def teacher_views(logits, *, keep: int, transforms: Sequence[str] = ("normal", "stingy_sparse", "stingy_smooth",
                                                                    "reversed")) -> dict[str, np.ndarray]:
    """The logits each teacher transform shows for a (B, K) batch of raw teacher logits."""
    z = torch.as_tensor(_as_array(logits), dtype=torch.float64)
    views = {}
    for name in transforms:
        fn = get_transform(name, keep if name in ("stingy_sparse", "stingy_smooth", "uniform_topn") else None)
        views[name] = fn(z).numpy()
    return views


def plot_teacher_outputs(logits, *, keep: int, temperature: float, labels: Sequence[int] | None = None,
                         images=None, extra: Mapping[str, object] | None = None,
                         transforms: Sequence[str] = ("normal", "stingy_sparse", "stingy_smooth", "reversed"),
                         num_images: int = 3, class_names: Sequence[str] | None = None):
    """What each kind of teacher shows a student: softmax bars at temperature τ, one column per image
    and one row per teacher (below the image itself, when given).

    Classes are ordered by the normal teacher's logits (rank 1 = its top class), so the panels of an
    image share one x-axis: the normal teacher decays, stingy-sparse stops after rank ``keep``,
    stingy-smooth has a flat tail, reversed rises again after rank 1. The true class's bar is
    hatched and coloured; the dotted line is the uniform level 1/K. The panels of one image share
    their y-scale.

    Args:
        logits: (B, K) raw logits of the normal teacher (e.g. a record's ``sample_logits``).
        keep: N, the classes kept by the stingy transforms.
        temperature: τ of the softmax (the KD temperature is what the student sees).
        labels: the images' true classes (e.g. a record's ``sample_labels``).
        images: optional (B, C, H, W) or (B, H, W) images shown in a first row.
        extra: further teachers shown as they are, e.g. ``{"nasty": nasty_record["sample_logits"]}``
            (each (B, K), same images), drawn after the transforms in the same class order.
        transforms: transform names applied to ``logits`` (see :data:`stingylib.transforms.TRANSFORMS`).
        num_images: how many of the B images to show.
        class_names: names of the K classes for the tick labels (K ≤ 20) and titles.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    z = _as_array(logits)
    batch, num_classes = z.shape
    if not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be an integer >= 1; got {num_images!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be a number > 0; got {temperature!r}")
    columns = min(num_images, batch)
    panels: dict[str, np.ndarray] = teacher_views(z, keep=keep, transforms=transforms)
    for name, other in (extra or {}).items():
        other = _as_array(other)
        if other.shape[1] != num_classes or other.shape[0] < columns:
            raise ValueError(f"extra[{name!r}] must be ({columns}+, {num_classes}); got {other.shape}")
        panels[name] = other
    probs = {name: _softmax(v[:columns], temperature) for name, v in panels.items()}
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"class_names must name all {num_classes} classes; got {len(names)}")
    show_images = images is not None
    rows = len(probs) + int(show_images)

    with plt.rc_context({**FONT, "axes.titlesize": 12}):
        fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns + 0.6, 1.85 * rows + 0.7), squeeze=False,
                                 layout="constrained",
                                 gridspec_kw={"height_ratios": ([1.3] if show_images else []) + [1] * len(probs)})
        ranks = np.arange(1, num_classes + 1)
        for col in range(columns):
            order = np.argsort(-z[col], kind="stable")  # class of rank 1, 2, … under the normal teacher
            true = int(labels[col]) if labels is not None else None
            top = max(1.15 * max(float(p[col].max()) for p in probs.values()), 1.5 / num_classes)
            if show_images:
                _show_image(axes[0, col], images[col], None if true is None else f"true class: {names[true]}")
            for row, (name, p) in enumerate(probs.items(), start=int(show_images)):
                ax = axes[row, col]
                heights = p[col][order]
                colors = [COLORS["true"] if c == true else COLORS.get(name, "#0072B2") for c in order]
                bars = ax.bar(ranks, heights, width=0.85, color=colors, edgecolor="black",
                              linewidth=0.4 if num_classes <= 20 else 0)
                if true is not None:  # hatched, and a marker above it (thin bars when K is large)
                    at = int(np.where(order == true)[0][0])
                    bars[at].set_hatch("///")
                    ax.plot(at + 1, heights[at] + 0.04 * top, marker="v", markersize=7, color=COLORS["true"],
                            markeredgecolor="black", markeredgewidth=0.6, linestyle="none")
                ax.axhline(1.0 / num_classes, color="#555555", linewidth=0.9, linestyle=":")
                ax.set_ylim(0, top)
                ax.set_xlim(0.3, num_classes + 0.7)
                if num_classes <= 20:
                    ax.set_xticks(ranks)
                    ax.set_xticklabels([names[c] for c in order], fontsize=9)
                if col == 0:
                    ax.set_ylabel(TRANSFORM_TITLES.get(name, f"{name}\n(own network)"))
                if row == rows - 1:
                    ax.set_xlabel("class, by normal rank" if num_classes <= 20 else "rank under the normal teacher")
                ax.grid(True, axis="y", alpha=0.3)
        handles = [Patch(facecolor=COLORS["true"], edgecolor="black", hatch="///", label="true class (▼)"),
                   Line2D([], [], color="#555555", linestyle=":", label=f"uniform 1/K (K = {num_classes})")]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        fig.suptitle(f"softmax of what each teacher shows, τ = {temperature:g}")
    return fig


def _show_image(ax, image, title: str | None) -> None:
    array = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)  # (C, H, W) → (H, W[, C])
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


#: The panels of :func:`plot_diagnostics`, history key → (title, log scale).
DIAGNOSTIC_PANELS = {
    "diag_logit_range": ("student logit range, max − min", True),
    "diag_kd": ("KD term (weighted)", True),
    "diag_kd_grad_hidden": ("‖KD gradient‖ on hidden classes", True),
    "diag_kd_grad_kept": ("‖KD gradient‖ on kept classes", True),
}
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 2)), (0, (6, 2, 1, 2)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)))
_PALETTE = ("#333333", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#777777")


def plot_diagnostics(frame: pd.DataFrame, *, title: str | None = None,
                     panels: Mapping[str, tuple[str, bool]] | None = None):
    """How the optimisation of each student evolves over epochs: one panel per diagnostic, one line
    per curve (mean over seeds, band ±1 std where there are several).

    Args:
        frame: one row per (curve, seed, epoch) with a ``curve`` label column, ``epoch`` and the
            diagnostics' columns (:func:`stingylib.experiments.attacks.attack_diagnostics`, one student,
            with a ``curve`` column added); curves are drawn in the order they first appear.
        title: the figure's title.
        panels: history key → (panel title, log scale); default :data:`DIAGNOSTIC_PANELS`.
    """
    import matplotlib.pyplot as plt

    panels = DIAGNOSTIC_PANELS if panels is None else panels
    curves = list(dict.fromkeys(frame["curve"]))
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), layout="constrained",
                                 squeeze=False)
        for ax, (key, (panel_title, log)) in zip(axes[0], panels.items()):
            for i, curve in enumerate(curves):
                part = frame[frame["curve"] == curve].groupby("epoch")[key].agg(["mean", "std", "count"])
                style = dict(color=_PALETTE[i % len(_PALETTE)], linestyle=_LINESTYLES[i % len(_LINESTYLES)])
                ax.plot(part.index, part["mean"], marker="o", markersize=4, label=curve, **style)
                spread = part["std"].where(part["count"] > 1)
                if spread.notna().any():
                    ax.fill_between(part.index, part["mean"] - spread, part["mean"] + spread, alpha=0.15,
                                    color=style["color"])
            ax.set_title(panel_title)
            ax.set_xlabel("epoch")
            if log:
                ax.set_yscale("symlog", linthresh=1e-2)
            ax.grid(alpha=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(curves)), frameon=False)
        if title:
            fig.suptitle(title)
    return fig
