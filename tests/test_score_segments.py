"""tqa.serve.score_segments: how a long file is cut into 6 s segments and how their scores are
pooled, against closed forms and planted tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tqa.core.schema import TASKS
from tqa.serve.score_segments import pool_segments, segment_starts, starts_by_key

GRID, FPS = 6.0, 25.0


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (None, [0.0]),
        (4.0, [0.0]),
        (6.0, [0.0]),
        (6.039, [0.0]),  # not a whole frame more than the grid
        (6.04, [0.0, 0.04]),  # one frame more: read too
        (10.0, [0.0, 4.0]),
        (12.0, [0.0, 6.0]),
        (12.04, [0.0, 3.0, 6.04]),
        (20.08, [0.0, 4.68, 9.40, 14.08]),
    ],
)
def test_segment_starts_cover_the_file_with_the_fewest_segments(seconds, expected) -> None:
    got = segment_starts(seconds, GRID, FPS)
    assert got == pytest.approx(expected, abs=1e-9)
    if seconds and len(got) > 1:
        frames = math.floor(seconds * FPS + 1e-6)
        read = set()
        for s in got:  # the 150 grid frames of each segment, as source frame numbers
            read |= set(range(round(s * FPS), round(s * FPS) + 150))
        assert read >= set(range(frames))  # every whole frame is read
        assert max(read) == frames - 1  # the last segment ends with the file
        assert (len(got) - 1) * 150 < frames  # one segment fewer could not cover it
        assert all(abs(s * FPS - round(s * FPS)) < 1e-9 for s in got)  # on the frame grid


def _segs(rows: list[dict]) -> pd.DataFrame:
    base = {t: math.nan for t in TASKS} | {
        "sync_offset": math.nan, "sync_confidence": math.nan, "sync_distance": math.nan,
        "status": "ok", "error": "", "warning": "", "path": "p", "_key": "k", "_seconds": 20.0,
    }  # fmt: skip
    return pd.DataFrame([base | r for r in rows])


def test_pooling_means_median_status_and_labelled_warnings() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(1, 5, (3, len(TASKS)))
    segs = _segs(
        [
            {
                "_file": 0,
                "video_id": "a",
                "start_s": s,
                **dict(zip(TASKS, scores[k])),
                "sync_offset": o,
                "sync_confidence": c,
                "warning": w,
            }
            for k, (s, o, c, w) in enumerate(
                [(0.0, 15.0, 0.1, "same; edge"), (4.0, 1.0, 0.3, "same"), (8.0, 2.0, 0.2, "same")]
            )
        ]  # fmt: skip
        + [{"_file": 1, "video_id": "b", "start_s": 0.0, "status": "failed", "error": "bad"}]
    )
    segs.loc[1, "lip_sync"] = math.nan  # one segment without lip_sync: the others' mean
    segs.loc[1, "status"] = "partial"
    out = pool_segments(segs, 2, GRID).set_index("video_id")
    a = out.loc["a"]
    assert a["segments"] == 3 and a["status"] == "partial"
    for k, t in enumerate(TASKS):
        expected = np.mean(scores[[0, 2], k]) if t == "lip_sync" else np.mean(scores[:, k])
        assert a[t] == pytest.approx(expected)
    assert a["sync_offset"] == 2.0 and a["sync_confidence"] == pytest.approx(0.2)  # median, mean
    assert a["warning"] == "same; [0.0-6.0 s] edge"  # a part every segment has, once
    b = out.loc["b"]
    assert (
        b["status"] == "failed"
        and b["error"] == "bad"
        and np.isnan(b[list(TASKS)].astype(float)).all()
    )


def test_a_failed_segment_among_scored_ones_is_said_and_left_out() -> None:
    segs = _segs(
        [
            {"_file": 0, "video_id": "a", "start_s": 0.0, "overall": 3.0},
            {"_file": 0, "video_id": "a", "start_s": 6.0, "status": "failed", "error": "decode: x"},
        ]
    )
    a = pool_segments(segs, 1, GRID).iloc[0]
    assert a["status"] == "ok" and a["overall"] == 3.0 and a["error"] == ""
    assert a["warning"] == "[6.0-12.0 s] not scored: decode: x"
    segs.loc[1, "status"] = "interrupted"
    cut = pool_segments(segs, 1, GRID).iloc[0]
    assert cut["status"] == "interrupted" and np.isnan(cut["overall"])


def test_starts_by_key_lists_the_later_segments_only() -> None:
    segs = pd.DataFrame({"_key": ["f", "f@4.00s", None], "start_s": [0.0, 4.0, 0.0]})
    assert starts_by_key(segs) == {"f@4.00s": 4.0}
