"""Figures that tell the truth: readable size, provenance footer, no error bars from one run,
colourbars where colour means something, stacked points visible, near-constant tasks apart;
and the headline metrics they summarise."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from tqa.core.params import load_params  # noqa: E402
from tqa.core.schema import TASKS  # noqa: E402
from tqa.study import evaluation as E  # noqa: E402
from tqa.study import plots  # noqa: E402
from tqa.study.reporting import MAX_WIDTH_PX, MIN_FONT_PT, provenance, save_figure  # noqa: E402


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


def test_save_figure_caps_width_raises_small_type_and_adds_the_footer(tmp_path) -> None:
    fig, ax = plt.subplots(figsize=(27.1, 3.75))  # the old 2710 px error_vs_degradation
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([0, 1], ["a", "b"], fontsize=5)
    caption = "Some figure. " + provenance(load_params())
    out = save_figure(fig, "wide", caption, tmp_path)
    width, height = _png_size(out)
    assert 800 < width <= MAX_WIDTH_PX and height > 50
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= MIN_FONT_PT
    footer = [t.get_text() for t in fig.texts]
    assert any("data: data/sample" in t and "extractors:" in t for t in footer), footer
    assert (tmp_path / "figures" / "wide.txt").read_text().strip() == caption.strip()


def _summary(seeds: int, flat_std: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        [
            {"config": c, "seed": s, "task": t, "pearson": rng.normal(0.5, 0.1)}
            for c in ("a", "b")
            for s in range(seeds)
            for t in TASKS
        ]
    )
    from tqa.study.studies import summarize

    return rows, summarize(rows, ["pearson"])


def _error_bars(ax) -> list:
    return [c for c in ax.containers if getattr(c, "errorbar", None) is not None]


def test_no_error_bars_from_one_seed() -> None:
    _, one = _summary(seeds=1)
    fig = plots.bar_with_error(one, "pearson")
    ax = fig.axes[0]
    assert not _error_bars(ax) and "no error bars" in ax.get_ylabel()
    rows, three = _summary(seeds=3)
    ax = plots.bar_with_error(three, "pearson").axes[0]
    bars = _error_bars(ax)
    assert bars and "mean ± std" in ax.get_ylabel()
    # the error bar of config a, first task = sample std over its seeds (independent oracle)
    want = rows[(rows.config == "a") & (rows.task == TASKS[0])]["pearson"].std(ddof=1)
    segs = bars[0].errorbar.lines[2][0].get_segments()
    assert (segs[0][1][1] - segs[0][0][1]) / 2 == pytest.approx(want)


def test_near_constant_tasks_are_drawn_apart() -> None:
    _, three = _summary(seeds=3)
    ax = plots.bar_with_error(three, "pearson", apart=["lip_sync"]).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[-1] == "lip_sync\n(near-constant)" and "lip_sync" not in labels[:-1]
    assert any(p.get_hatch() == "//" for p in ax.patches)
    # which tasks are near-constant: sample std of present labels below the threshold
    rng = np.random.default_rng(1)
    y = rng.uniform(1, 5, size=(40, len(TASKS)))
    y[:, 0] = 4.76 + rng.normal(0, 0.02, 40)
    y[::3, 2] = -1.0  # missing labels do not count
    flagged = E.near_constant_tasks(y, 0.1)
    oracle = [
        t for k, t in enumerate(TASKS) if np.std(y[y[:, k] != -1.0, k], ddof=1) < 0.1
    ]  # fmt: skip
    assert flagged == oracle == ["lip_sync"]


def test_stacked_offsets_are_counted_and_colour_has_a_colourbar() -> None:
    others = np.r_[-3:0, 1:4]
    inj = np.r_[np.zeros(207), others]
    est = np.r_[np.zeros(207), others]
    conf = np.r_[np.full(207, 0.8), np.full(others.size, 0.2)]
    fig = plots.offset_agreement(inj, est, conf, limit=5)
    assert len(fig.axes) == 2 and "confidence" in fig.axes[1].get_ylabel()
    ax = fig.axes[0]
    sizes = ax.collections[0].get_sizes()
    assert sorted(sizes)[-1] == pytest.approx(20 + 12 * 207)  # one disc for the 207 stacked
    assert "207" in [t.get_text() for t in ax.texts]


def test_degradation_heatmap_marks_significance_and_n() -> None:
    rng = np.random.default_rng(2)
    n = 30
    deg = pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(n)],
            "blur_sigma": np.linspace(0, 3, n),
            "pitch": rng.normal(size=n),  # a descriptor, not a degradation
        }
    )
    rows = []
    for t in TASKS[:2]:
        for i in range(n):
            err = deg["blur_sigma"][i] + rng.normal(0, 0.2) if t == TASKS[0] else rng.normal()
            rows.append({"video_id": f"v{i}", "task": t, "abs_error": abs(err)})
    res = pd.DataFrame(rows)
    used = E.select_degradations(deg, {"degradation_params": ["blur_sigma", "snr_db"]})
    assert list(used.columns) == ["video_id", "blur_sigma"]
    table = E.error_vs_degradation(res, used)
    rho, p = stats.spearmanr(deg["blur_sigma"], res[res.task == TASKS[0]]["abs_error"])
    got = table[(table.task == TASKS[0]) & (table.parameter == "blur_sigma")].iloc[0]
    assert got["spearman_abs_error"] == pytest.approx(rho) and p < 0.01
    fig = plots.degradation_heatmap(table, "spearman_abs_error", "test")
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert f"{rho:.2f}**" in cells
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == f"{TASKS[0]} (n={n})"
    assert len(fig.axes) == 2  # the colourbar


def test_headline_metrics_pick_the_best_baseline_and_round(tmp_path) -> None:
    summary = pd.DataFrame(
        [
            {"config": "uncertainty", "task": t, "metric": "pearson", "mean": 0.123456 + k / 10}
            for k, t in enumerate(TASKS)
        ]
    )
    base = pd.DataFrame(
        [
            {"config": c, "task": t, "pearson": v}
            for t in TASKS
            for c, v in (("mean", np.nan), ("ridge", 0.3), ("random_forest", 0.41))
        ]
    )
    ci = pd.DataFrame({"pearson_lo": 0.01, "pearson_hi": 0.9}, index=list(TASKS))
    head = E.headline_metrics(summary, base, "uncertainty", ci)
    assert head["overall"] == {
        "tqa_r": round(0.123456 + 0.4, 2),
        "ci_lo": 0.01,
        "ci_hi": 0.9,
        "base_r": 0.41,
        "base": "random_forest",
    }
    paths = E.write_headline_metrics(head, tmp_path)
    assert len(paths) == len(TASKS)
    blob = json.loads(paths[0].read_text())
    assert len(blob) == len(E.HEADLINE_KEYS) <= 5


def test_dvc_metrics_show_fits_80_columns(tmp_path) -> None:
    """Worst case: negative values, the longest task and baseline names."""
    import shutil
    import subprocess
    import sys

    pytest.importorskip("dvc")
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    head = {t: {"tqa_r": -0.123, "ci_lo": -0.987, "ci_hi": -0.5, "base_r": -0.456,
                "base": "random_forest"} for t in TASKS}  # fmt: skip
    head = {t: {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}
            for t, r in head.items()}  # fmt: skip
    E.write_headline_metrics(head, tmp_path / "metrics")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: 'true'\n    metrics:\n    - metrics:\n        cache: false\n"
    )
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "show"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 + len(TASKS) and "random_forest" in proc.stdout
    assert max(map(len, lines)) <= 80, proc.stdout
