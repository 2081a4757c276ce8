"""`tqa metrics` measures a long file whole (tqa.serve.metrics_segments): the segment plan,
the pooling rules against numpy, a segment lost among measured ones, and a file whose
defect lies after its first segment."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_media import face_frames

from tqa.features.decode import MediaError, write_video
from tqa.features.reference_metrics import REFERENCE_METRICS
from tqa.features.video_metrics import METRICS, video_metrics
from tqa.serve.metrics_report import main
from tqa.serve.metrics_segments import POOLING, POOLINGS, file_metrics, plan, pool_metrics


def test_every_metric_has_a_pooling_rule() -> None:
    assert list(POOLING) == [*METRICS, *REFERENCE_METRICS]
    assert set(POOLING.values()) <= set(POOLINGS)


@pytest.mark.parametrize(
    ("seconds", "max_seconds", "expected"),
    [
        (None, None, (10.0, [0.0])),  # length unknown: the first segment
        (8.0, None, (10.0, [0.0])),  # shorter than a segment: one, from 0 s (as before)
        (20.0, None, (10.0, [0.0, 10.0])),
        (20.08, None, (10.0, [0.0, 5.04, 10.08])),  # 502 frames: 3 overlapping segments
        (30.0, 10.0, (10.0, [0.0])),  # --max-seconds 10: the first 10 s (the old row)
        (30.0, 6.0, (6.0, [0.0])),  # a cap under the segment length shortens the segment
        (25.0, 15.0, (10.0, [0.0, 5.0])),  # the first 15 s, in 2 segments
        (None, 15.0, (10.0, [0.0, 5.0])),
    ],
)
def test_plan_covers_the_span_read(seconds, max_seconds, expected) -> None:
    assert plan(seconds, max_seconds, 10.0, 25.0) == expected


def _seg(start: float, dur: float, **values) -> dict:
    return {"start_s": start, "duration_s": dur} | values


def test_pool_metrics_against_numpy() -> None:
    segs = [
        _seg(0.0, 10.0, sync_offset=1.0, sync_confidence=0.2, longest_still_s=0.0, faces=1,
             fps=30.0, width=640, has_audio=True, face_rate=1.0),
        _seg(10.0, 10.0, sync_offset=15.0, sync_confidence=float("nan"), longest_still_s=2.4,
             faces=2, fps=30.0, width=640, has_audio=True, face_rate=0.5),
        _seg(15.0, 7.5, sync_offset=3.0, sync_confidence=0.5, longest_still_s=0.3, faces=1,
             fps=30.0, width=640, has_audio=True, face_rate=0.0),
    ]  # fmt: skip
    row = pool_metrics(segs)
    assert row["sync_offset"] == np.median([1.0, 15.0, 3.0]) == 3.0
    # weighted by the seconds of the segments that have the column
    assert row["sync_confidence"] == pytest.approx((0.2 * 10 + 0.5 * 7.5) / 17.5)
    assert row["face_rate"] == pytest.approx(np.average([1.0, 0.5, 0.0], weights=[10, 10, 7.5]))
    assert row["longest_still_s"] == 2.4 and row["faces"] == 2.0
    assert row["duration_s"] == 22.5  # the last segment's end: overlap not counted twice
    assert row["fps"] == 30.0 and row["width"] == 640 and row["has_audio"] is True
    assert math.isnan(row["lse_c"])  # no segment has it


def test_a_lost_segment_is_said_and_the_others_pooled(tmp_path, monkeypatch) -> None:
    import tqa.serve.metrics_segments as ms

    monkeypatch.setattr(ms, "header_seconds", lambda path: 30.0)

    def measure(path, fparams, seconds, start):
        if start == 10.0:
            raise MediaError(path, "cannot decode video: broken packet")
        return {"duration_s": seconds, "sync_offset": start / 10, "truncated_after_s": None}

    row, segs = file_metrics("v.mp4", {}, measure, None, 10.0)
    assert [s["start_s"] for s in segs] == [0.0, 20.0] and row["segments"] == 2
    assert row["sync_offset"] == 1.0  # median of 0 and 2
    assert row["notes"] == ["[10.0-20.0 s] not measured: v.mp4: cannot decode video: broken packet"]

    def first_fails(path, fparams, seconds, start):
        raise MediaError(path, "no video stream")

    with pytest.raises(MediaError, match="no video stream"):
        file_metrics("v.mp4", {}, first_fails, None, 10.0)


@pytest.fixture(scope="module")
def late_freeze(tmp_path_factory):
    """12 s of a talking face whose picture freezes for its last 4 s (the audio runs on)."""
    sr, n = 16000, 300
    t = np.arange(n * sr // 25) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    frames = face_frames(n, 128)
    frames[200:] = frames[199]
    path = tmp_path_factory.mktemp("segments") / "late_freeze.mp4"
    write_video(path, frames, audio=tone.astype(np.float32))
    return path


def test_a_freeze_after_the_first_segment_is_measured(late_freeze, tmp_path) -> None:
    """Whole file in 4 s segments: the freeze (the last 4 s) is seen; the first 4 s alone
    (--max-seconds 4, the old reading) never see it. Each row of segments.csv is
    video_metrics on that segment, called here on its own."""
    whole, first = tmp_path / "whole", tmp_path / "first"
    assert main([str(late_freeze), "--out", str(whole), "--segment-seconds", "4", "--quiet",
                 "--no-plot"]) == 0  # fmt: skip
    assert main([str(late_freeze), "--out", str(first), "--segment-seconds", "4",
                 "--max-seconds", "4", "--quiet", "--no-plot"]) == 0  # fmt: skip
    w = pd.read_csv(whole / "metrics.csv").iloc[0]
    f = pd.read_csv(first / "metrics.csv").iloc[0]
    assert w["segments"] == 3 and f["segments"] == 1 and not (first / "segments.csv").exists()
    # the encoder's key frame inside the freeze splits its run (cadence's rule): >= 1.5 s
    assert w["longest_still_s"] >= 1.5 and f["longest_still_s"] < 0.5
    assert w["repeated_frames"] >= 0.25 and f["repeated_frames"] < 0.05
    assert w["duration_s"] == pytest.approx(12.0) and f["duration_s"] == pytest.approx(4.0)
    segs = pd.read_csv(whole / "segments.csv")
    assert list(segs["start_s"]) == [0.0, 4.0, 8.0] and list(segs["end_s"]) == [4.0, 8.0, 12.0]
    from tqa.core.params import load_params

    fp = load_params()["features"]
    for _, s in segs.iterrows():
        ref = video_metrics(str(late_freeze), fp, 4.0, start_s=float(s["start_s"]))
        for m in ("longest_still_s", "repeated_frames", "sharpness_face", "face_rate"):
            assert s[m] == pytest.approx(ref[m], rel=1e-5, abs=1e-9), (s["start_s"], m)
    wt = segs["duration_s"].to_numpy()
    pooled = np.average(segs["repeated_frames"], weights=wt)  # the CSVs keep 6 digits
    assert w["repeated_frames"] == pytest.approx(pooled, rel=1e-5)
    assert w["longest_still_s"] == pytest.approx(segs["longest_still_s"].max(), rel=1e-5)


def test_a_length_that_is_not_positive_is_refused(late_freeze, tmp_path, capsys) -> None:
    assert main([str(late_freeze), "--out", str(tmp_path), "--segment-seconds", "0"]) == 2
    assert "--segment-seconds must be a positive number of seconds" in capsys.readouterr().err


def test_an_interrupted_long_file_resumes_at_its_unfinished_segment(tmp_path, monkeypatch):
    """Ctrl-C during the third of three segments: a re-run measures only that one (the first
    two come from their own cache entries); once the file's row is written, the segment
    entries are gone."""
    import tqa.serve.metrics_report as mr
    import tqa.serve.metrics_segments as ms

    monkeypatch.setattr(ms, "header_seconds", lambda path: 30.0)
    calls, stop = [], {"at": 20.0}

    def fake(path, fparams, seconds, start_s):
        if start_s == stop["at"]:
            stop["at"] = None
            raise KeyboardInterrupt
        calls.append(start_s)
        return {"duration_s": seconds, "repeated_frames": start_s / 100}

    monkeypatch.setattr(mr, "_measure", fake)
    video = tmp_path / "long.mp4"
    video.write_bytes(b"x")
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        mr.one_video(str(video), {}, None, str(cache), 10.0)
    assert calls == [0.0, 10.0] and len(list(cache.glob("*@*.json"))) == 2
    row = mr.one_video(str(video), {}, None, str(cache), 10.0)
    assert calls == [0.0, 10.0, 20.0]  # only the unfinished segment measured again
    assert row["segments"] == 3 and row["repeated_frames"] == pytest.approx(0.1)
    assert not list(cache.glob("*@*.json")) and len(list(cache.glob("*.json"))) == 1
