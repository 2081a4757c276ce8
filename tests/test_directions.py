"""The direction check (tqa.study.directions): pair scoring by hand, verdicts, the head
held still by stabilize_head, and the report rendered from a saved JSON."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from tqa.features.extractors.au_pose import STABLE
from tqa.features.video_metrics import METRICS
from tqa.study import directions as D


def test_better_follows_each_direction() -> None:
    assert D.better(2.0, 1.0, "higher") == 1.0 and D.better(2.0, 1.0, "lower") == 0.0
    assert D.better(-1.0, 3.0, "|x| lower") == 1.0 and D.better(-4.0, 3.0, "|x| lower") == 0.0
    assert D.better(1.0, 1.0, "higher") == 0.5
    assert D.better(None, 1.0, "higher") is None and D.better(math.nan, 1.0, "lower") is None


def test_score_counts_ties_apart() -> None:
    s = D.score([(2, 1), (1, 2), (3, 1), (1, 1), (None, 1)], "higher")
    assert s == {"n": 3, "agree": 2, "ties": 1, "share": pytest.approx(2 / 3)}
    assert math.isnan(D.score([(1, 1)], "lower")["share"])


def test_directed_columns_are_the_declared_ones_plus_candidates() -> None:
    cols = D.directed_columns()
    assert set(cols) == {m for m, d in METRICS.items() if d.better != "info"} | set(D.CANDIDATES)
    assert all(cols[m] == METRICS[m].better for m in cols if m not in D.CANDIDATES)


def _records(values: dict[str, list[float]]) -> list[dict]:
    """Clean value 1.0 for clips a..f; each family's variants take the listed values."""
    clips = "abcdef"
    out = [{"clip": c, "family": "clean", "sharpness_face": 1.0} for c in clips]
    for fam, vals in values.items():
        out += [{"clip": c, "family": fam, "sharpness_face": v} for c, v in zip(clips, vals)]
    return out


def test_verdicts_from_planted_families() -> None:
    rec = _records({"blur": [0.5] * 6, "noise": [1.0] * 6, "flicker": [2.0] * 6})
    gen = [{"sharpness_face": 0.2}, {"sharpness_face": 3.0}]
    t = D.direction_table(rec, gen)["sharpness_face"]
    assert t["families"]["blur"] == {"n": 6, "agree": 6, "ties": 0, "share": 1.0}
    assert t["families"]["noise"]["ties"] == 6 and t["families"]["flicker"]["agree"] == 0
    assert (t["supported_by"], t["contradicted_by"], t["verdict"]) == (
        ["blur"],
        ["flicker"],
        "mixed",
    )
    assert t["real_vs_generated"] == {"n": 12, "agree": 6, "ties": 0, "share": 0.5}
    assert D.direction_table(_records({"blur": [0.5] * 6}), gen)["sharpness_face"]["verdict"] == (
        "agrees"
    )
    few = D.direction_table(_records({"blur": [0.5] * 4}), gen)["sharpness_face"]
    assert few["verdict"] == "not moved"  # fewer than MIN_PAIRS untied pairs
    lines = D.matrix_lines(D.direction_table(rec, gen))
    row = next(x for x in lines if x.startswith("| `sharpness_face`"))
    assert "6/6 ✓" in row and "0/6 ✗" in row


def test_stabilize_head_holds_a_moving_head_still() -> None:
    """A textured frame translated and rotated with its landmarks: after stabilisation every
    frame matches the others (inside a margin)."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (5, 5), 1.5)
    pts = np.zeros((468, 3))
    pts[list(STABLE), :2] = rng.uniform(30, 66, (len(STABLE), 2))
    frames, lms = [], []
    for t in range(6):
        m = cv2.getRotationMatrix2D((48, 48), 3.0 * t - 6, 1.0)
        m[:, 2] += [2.0 * t - 5, 5 - 1.5 * t]
        frames.append(cv2.warpAffine(base, m, (96, 96), borderMode=cv2.BORDER_REFLECT))
        lm = pts.copy()
        lm[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
        lms.append(lm)
    frames, lms = np.stack(frames), np.stack(lms)
    out = D.stabilize_head(frames, lms, 6)
    inner = (slice(None), slice(25, 71), slice(25, 71))
    before = np.abs(np.diff(frames[inner].astype(float), axis=0)).mean()
    after = np.abs(np.diff(out[inner].astype(float), axis=0)).mean()
    assert after < 0.25 * before
    assert D.stabilize_head(frames, np.full_like(lms, np.nan), 6) is not frames
