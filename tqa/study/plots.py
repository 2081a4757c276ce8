"""Small matplotlib helpers for the study notebooks (each returns the Figure it draws).

Kept free of seaborn so that they work headless with only matplotlib (Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tqa.core.schema import TASKS  # noqa: E402
from tqa.study.agreement import bland_altman  # noqa: E402
from tqa.study.metrics import pearson, valid_pairs  # noqa: E402


def _tight(fig: Figure) -> Figure:
    """``fig`` laid out tight (no clipped titles or tick labels): how every figure here ends."""
    fig.tight_layout()
    return fig


def _grid(n: int, ncols: int = 5, size: float = 3.0):
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def scatter_pred_true(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    tasks: Sequence[str] = TASKS,
    lims: tuple[float, float] = (1.0, 5.0),
):
    """One panel per task: predicted vs true (valid pairs), identity line, Pearson in title."""
    fig, axes = _grid(len(tasks))
    for k, (ax, task) in enumerate(zip(axes, tasks)):
        t, p = valid_pairs(y_true[:, k], y_pred[:, k])
        ax.scatter(t, p, s=12, alpha=0.7)
        ax.plot(lims, lims, "k--", lw=0.8)
        ax.set(xlim=lims, ylim=lims, xlabel="true", ylabel="predicted")
        r = pearson(t, p)
        ax.set_title(
            f"{task}\nn={t.size}, r={r:.2f}" if np.isfinite(r) else f"{task}\nn={t.size}, r=n/a",
            fontsize=9,
        )
    return _tight(fig)


def residual_hist(res: pd.DataFrame, tasks: Sequence[str] = TASKS, bins: int = 20):
    """Histogram of residuals (pred - true) per task from :func:`tqa.study.evaluation.residuals`."""
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        r = res.loc[res["task"] == task, "residual"].to_numpy()
        if r.size:
            ax.hist(r, bins=bins, color="tab:blue", alpha=0.8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set(title=f"{task} (n={r.size})", xlabel="pred - true")
    return _tight(fig)


def confusion_grid(matrices: dict[str, np.ndarray], class_names: Sequence[str]):
    """3-class confusion matrices (rows true, columns predicted) as annotated heatmaps."""
    fig, axes = _grid(len(matrices))
    for ax, (task, cm) in zip(axes, matrices.items()):
        ax.imshow(cm, cmap="Blues")
        top = max(int(cm.max()), 1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if cm[i, j] > top / 2 else "black",
                )
        ax.set_xticks(range(len(class_names)), class_names, fontsize=7)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
        ax.set(title=task, xlabel="predicted", ylabel="true")
    return _tight(fig)


def bland_altman_grid(y_true: np.ndarray, y_pred: np.ndarray, tasks: Sequence[str] = TASKS):
    """Bland-Altman plots: difference (pred - true) vs mean, bias and ±1.96 SD lines."""
    fig, axes = _grid(len(tasks))
    for k, (ax, task) in enumerate(zip(axes, tasks)):
        t, p = valid_pairs(y_true[:, k], y_pred[:, k])
        ax.scatter((t + p) / 2, p - t, s=12, alpha=0.7)
        ba = bland_altman(t, p)
        for v, style in ((ba["bias"], "-"), (ba["loa_low"], "--"), (ba["loa_high"], "--")):
            if np.isfinite(v):
                ax.axhline(v, color="tab:red", ls=style, lw=0.9)
        ax.set(title=f"{task} (n={ba['n']})", xlabel="mean of pred and true", ylabel="pred - true")
    return _tight(fig)


def bar_with_error(
    summary: pd.DataFrame,
    metric: str,
    group: str = "config",
    tasks: Sequence[str] = TASKS,
    reference: dict[str, float] | None = None,
    apart: Sequence[str] = (),
):
    """Grouped bars (task on x, one bar per ``group`` value): mean over seeds, ± std only
    where a bar has at least two seeds (no error bar from one run).

    ``summary``: rows of :func:`tqa.study.studies.summarize` (columns group, task, metric,
    mean, std, n_seeds). ``reference``: optional task -> value drawn as black ticks (e.g. a
    baseline). ``apart``: near-constant tasks (chapter 3.1.2: lip_sync), drawn hatched to
    the right of a dotted line, so their unstable correlations are not read with the rest.
    """
    s = summary[summary["metric"] == metric]
    groups = list(dict.fromkeys(s[group]))
    present = [t for t in tasks if t in set(s["task"])]
    tasks = [t for t in present if t not in set(apart)] + [t for t in present if t in set(apart)]
    x = np.arange(len(tasks))
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(tasks) + 0.3 * len(groups)), 4.0))
    any_err = False
    for i, g in enumerate(groups):
        sg = s[s[group] == g].set_index("task").reindex(tasks)
        n = sg["n_seeds"] if "n_seeds" in sg else pd.Series(2, index=sg.index)
        err = sg["std"].where(n >= 2).to_numpy(float)
        any_err |= bool(np.isfinite(err).any())
        bars = ax.bar(
            x + (i - (len(groups) - 1) / 2) * width,
            sg["mean"].to_numpy(),
            width,
            yerr=np.nan_to_num(err) if np.isfinite(err).any() else None,
            capsize=2,
            label=str(g),
            color=f"C{i}",
        )
        for bar, t in zip(bars, tasks):
            if t in set(apart):
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    if reference:
        for j, t in enumerate(tasks):
            if t in reference and np.isfinite(reference[t]):
                ax.hlines(reference[t], j - 0.45, j + 0.45, colors="k", lw=1.2)
    n_apart = sum(t in set(apart) for t in tasks)
    if n_apart and n_apart < len(tasks):
        ax.axvline(len(tasks) - n_apart - 0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(x, [f"{t}\n(near-constant)" if t in set(apart) else t for t in tasks])
    ax.axhline(0, color="grey", lw=0.6)
    seeds = int(s["n_seeds"].max()) if "n_seeds" in s and len(s) else 0
    ax.set_ylabel(
        f"{metric}, mean ± std over seeds" if any_err else f"{metric} ({seeds} seed: no error bars)"
    )
    ax.legend(ncol=min(4, len(groups)), loc="best")
    return _tight(fig)


def offset_agreement(
    injected: np.ndarray, estimated: np.ndarray, confidence: np.ndarray, limit: float
):
    """Estimated vs injected audio-video offset (frames): one disc per distinct pair, its area
    proportional to the number of videos (stacked points stay visible, counts >= 5 written),
    its colour the mean confidence (with a colourbar)."""
    df = pd.DataFrame({"inj": injected, "est": estimated, "conf": confidence}).dropna(
        subset=["inj", "est"]
    )
    g = df.groupby(["inj", "est"])["conf"].agg(["size", "mean"]).reset_index()
    fig, ax = plt.subplots(figsize=(6.0, 5.0))
    sc = ax.scatter(
        g["inj"], g["est"], s=20 + 12 * g["size"], c=g["mean"], cmap="viridis", alpha=0.8
    )
    for r in g[g["size"] >= 5].itertuples():
        ax.annotate(
            str(r.size), (r.inj, r.est), xytext=(9, 9), textcoords="offset points", fontsize=9
        )
    ax.plot([-limit, limit], [-limit, limit], "k--", lw=0.8)
    fig.colorbar(sc, ax=ax, label="mean sync confidence")
    ax.set(
        xlabel="injected offset (frames, + = audio delayed)",
        ylabel="estimated offset (frames)",
        title=f"n={len(df)} videos; disc area = number of videos",
    )
    return _tight(fig)


def degradation_heatmap(
    table: pd.DataFrame,
    value: str,
    title: str = "",
    alpha: float = 0.05,
    tasks: Sequence[str] = TASKS,
):
    """Task x degradation-parameter heatmap of a Spearman column of ``table`` (long: task,
    parameter, ``value``, p_value, n): each cell its rho, ``*`` (p < alpha) or ``**``
    (p < alpha / 5); each row label its n; a colourbar for rho."""
    wide = table.pivot(index="task", columns="parameter", values=value)
    order = [t for t in tasks if t in wide.index]
    wide = wide.reindex(order)
    pv = table.pivot(index="task", columns="parameter", values="p_value").reindex(order)
    n = table.groupby("task")["n"].max().reindex(order)
    vals = wide.to_numpy(float)
    fig, ax = plt.subplots(
        figsize=(min(15.5, 1.0 * wide.shape[1] + 3.5), max(3.0, 0.55 * wide.shape[0] + 1.8))
    )
    im = ax.imshow(np.nan_to_num(vals), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            p = pv.iloc[i, j]
            mark = "**" if p < alpha / 5 else "*" if p < alpha else ""
            txt = "n/a" if not np.isfinite(vals[i, j]) else f"{vals[i, j]:.2f}{mark}"
            dark = np.isfinite(vals[i, j]) and abs(vals[i, j]) > 0.6
            ax.text(j, i, txt, ha="center", va="center", fontsize=9, color="w" if dark else "k")
    ax.set_xticks(range(wide.shape[1]), [str(c) for c in wide.columns], rotation=40, ha="right")
    ax.set_yticks(range(len(order)), [f"{t} (n={int(n[t])})" for t in order])
    fig.colorbar(im, ax=ax, label="Spearman rho", fraction=0.03)
    ax.set_title(f"{title} (* p<{alpha:g}, ** p<{alpha / 5:g}; uncorrected)".strip())
    return _tight(fig)


def heatmap(
    table: pd.DataFrame,
    title: str = "",
    fmt: str = "{:.2f}",
    cmap: str = "RdBu_r",
    vmin: float = -1.0,
    vmax: float = 1.0,
):
    """Annotated heatmap of a numeric (rows x columns) table, e.g. Spearman task x parameter."""
    vals = table.to_numpy(float)
    fig, ax = plt.subplots(
        figsize=(max(4.0, 0.9 * table.shape[1] + 2), max(2.5, 0.45 * table.shape[0] + 1))
    )
    ax.imshow(np.nan_to_num(vals), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(
                j,
                i,
                "n/a" if not np.isfinite(vals[i, j]) else fmt.format(vals[i, j]),
                ha="center",
                va="center",
                fontsize=7,
            )
    ax.set_xticks(
        range(table.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right", fontsize=7
    )
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=8)
    ax.set_title(title, fontsize=9)
    return _tight(fig)


def learning_curves(
    histories: Mapping[str, pd.DataFrame],
    best_epochs: Mapping[str, int] | None = None,
    title: str = "",
    tasks: Sequence[str] = TASKS,
):
    """A fit's history per epoch (``history.csv`` of :func:`tqa.model.training.fit`), one
    entry per run (e.g. ``{"seed 0": history}``), one colour per run.

    Left: train (solid) and validation (dashed) masked MSE of every run, a grey line at each
    run's best epoch (``best_epochs``). Right, when the history has ``weight_<task>`` columns:
    the task weights of the first run at the end of each epoch.
    """
    first = next(iter(histories.values()))
    weights = [f"weight_{t}" for t in tasks if f"weight_{t}" in first.columns]
    fig, axes = plt.subplots(1, 2 if weights else 1, figsize=(11 if weights else 5.5, 4))
    axes = np.atleast_1d(axes)
    for i, (name, h) in enumerate(histories.items()):  # one colour per run: train and val
        x = h["epoch"] if "epoch" in h.columns else np.arange(1, len(h) + 1)
        axes[0].plot(x, h["train_loss"], color=f"C{i}", label=f"train {name}")
        if "val_loss" in h.columns:
            axes[0].plot(x, h["val_loss"], color=f"C{i}", ls="--", label=f"val {name}")
        if best_epochs and name in best_epochs:
            axes[0].axvline(best_epochs[name], color=f"C{i}", lw=0.5, alpha=0.6)
    axes[0].set(xlabel="epoch", ylabel="masked MSE (mean over tasks)")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"{title}: learning curves" if title else "learning curves")
    if weights:
        name = next(iter(histories))
        x = first["epoch"] if "epoch" in first.columns else np.arange(1, len(first) + 1)
        for col in weights:
            axes[1].plot(x, first[col], label=col.removeprefix("weight_"))
        axes[1].set(xlabel="epoch", ylabel="task weight (end of epoch)")
        axes[1].legend(fontsize=7)
        axes[1].set_title(f"{title}: task weights, {name}" if title else f"task weights, {name}")
    return _tight(fig)
