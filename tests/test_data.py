"""Data contract: the validator on real bad inputs (tiny real mp4s) and the THQA importer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from tqa.core.schema import TASKS
from tqa.data.labels import DataError, load_dataset
from tqa.data.mos_import import import_thqa, main_import_thqa, rescale_mos, video_id_from_name
from tqa.data.validate import main_validate
from tqa.data.videos import check_video

PARAMS = {
    "data": {
        "labels": "labels.csv",
        "videos_dir": "videos",
        "score_min": 1.0,
        "score_max": 5.0,
        "missing_value": -1.0,
        "check_media": True,
        "require_audio": True,
    }
}


def write_video(
    path: Path, n_frames: int = 3, audio: bool = True, size: int = 16, fps: int = 25
) -> Path:
    """A tiny real H.264 mp4 (with an AAC mono track when ``audio``) written with PyAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width = v.height = size
        v.pix_fmt = "yuv420p"
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(n_frames):
            img = np.full((size, size, 3), (i * 40) % 256, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(16000 * n_frames / fps)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate = 16000
            for p in a.encode(frame):
                c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def write_labels(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    p = root / "labels.csv"
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


HEADER = "video_id,lip_sync,expression,audio_quality,cross_modal,overall,group\n"


@pytest.fixture
def good_root(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    for vid in ("a", "b", "c"):
        write_video(root / "videos" / f"{vid}.mp4")
    write_labels(
        root, HEADER + "a,4.5,3.0,-1.0,2.5,3.25,s1\nb,5,1,5,-1,-1,s2\nc,1.0,2.0,3.0,4.0,5.0,s1\n"
    )
    return root


def test_valid_dataset_loads_typed(good_root: Path) -> None:
    ds = load_dataset(good_root, PARAMS)
    assert ds.ok and ds.problems.empty
    ds.raise_if_problems()  # no-op
    lab = ds.labels
    assert list(lab.columns) == ["video_id", "path", *TASKS, "group"]
    assert lab["video_id"].tolist() == ["a", "b", "c"]
    for t in TASKS:
        assert lab[t].dtype == np.float64
    assert lab.loc[0, "audio_quality"] == -1.0 and lab.loc[0, "overall"] == 3.25
    for vid, p in zip(lab["video_id"], lab["path"]):
        assert Path(p).is_absolute() and Path(p) == (good_root / "videos" / f"{vid}.mp4").resolve()
    np.testing.assert_array_equal(ds.scores()[1], [5, 1, 5, -1, -1])


def test_bad_rows_are_reported_with_line_and_dropped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    v = root / "videos"
    for vid in ("ok1", "ok2", "range", "dup", "nonnum", "empty", "nan", "neg", "zero"):
        write_video(v / f"{vid}.mp4")
    write_video(v / "silent.mp4", audio=False)
    (v / "garbage.mp4").write_bytes(b"this is not a video" * 20)
    whole = write_video(tmp_path / "whole.mp4", n_frames=10).read_bytes()
    (v / "trunc.mp4").write_bytes(whole[: len(whole) // 3])
    write_labels(
        root,
        HEADER
        + "\n".join(
            [
                "ok1,4,4,4,4,4,s1",  # line 2
                "range,4,5.5,4,4,4,s1",  # 3: out of range
                "dup,4,4,4,4,4,s2",  # 4: duplicate (with line 6)
                "nonnum,4,4,abc,4,4,s2",  # 5: non-numeric cell
                "dup,3,3,3,3,3,s2",  # 6: duplicate
                "empty,4,,4,4,4,s3",  # 7: empty cell
                "missingfile,4,4,4,4,4,s3",  # 8: no video file
                "garbage,4,4,4,4,4,s3",  # 9: not a video
                "trunc,4,4,4,4,4,s3",  # 10: truncated mp4
                "silent,4,4,4,4,4,s4",  # 11: no audio track
                "nan,4,4,4,nan,4,s4",  # 12: NaN is not the missing code
                "neg,-2,4,4,4,4,s4",  # 13: negative but not -1
                "zero,0,4,4,4,4,s4",  # 14: below score_min
                "ok2,-1.0,-1,-1,-1,-1,s4",  # 15: all missing is allowed
            ]
        )
        + "\n",
    )
    ds = load_dataset(root, PARAMS)
    assert ds.labels["video_id"].tolist() == ["ok1", "ok2"]
    prob = ds.problems
    by_line = {int(r.row): r for r in prob.itertuples()}

    def reason(line: int) -> str:
        return " | ".join(prob.loc[prob["row"] == line, "reason"])

    assert "'expression'" in reason(3) and "5.5" in reason(3) and "outside" in reason(3)
    assert "duplicate" in reason(4) and "6" in reason(4)
    assert "duplicate" in reason(6) and "4" in reason(6)
    assert "'audio_quality'" in reason(5) and "non-numeric" in reason(5) and "abc" in reason(5)
    assert "'expression'" in reason(7) and "empty" in reason(7)
    assert "not found" in reason(8) and "missingfile" in by_line[8].file
    assert "unreadable" in reason(9) and by_line[9].file.endswith("garbage.mp4")
    assert "unreadable" in reason(10) or "no decodable" in reason(10)
    assert reason(11) == "no audio track" and by_line[11].file.endswith("silent.mp4")
    assert "'cross_modal'" in reason(12) and "NaN" in reason(12)
    assert "'lip_sync'" in reason(13) and "outside" in reason(13)
    assert "'lip_sync'" in reason(14) and "outside" in reason(14)
    assert set(prob["row"].astype(int)) == set(range(3, 15))
    with pytest.raises(DataError) as err:
        ds.raise_if_problems()
    msg = str(err.value)
    for needle in ("line 3", "line 8", "garbage.mp4", "silent.mp4", "duplicate", "non-numeric"):
        assert needle in msg


def test_audio_optional_and_media_check_off(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_video(root / "videos" / "s.mp4", audio=False)
    (root / "videos" / "g.mp4").write_bytes(b"\x00" * 100)
    write_labels(root, HEADER + "s,4,4,4,4,4,x\ng,4,4,4,4,4,y\n")
    ds = load_dataset(root, PARAMS, require_audio=False)
    assert ds.labels["video_id"].tolist() == ["s"]  # garbage still caught
    ds2 = load_dataset(root, PARAMS, check_media=False)
    assert ds2.ok and len(ds2) == 2
    assert check_video(root / "videos" / "s.mp4", require_audio=True) == "no audio track"
    assert check_video(root / "videos" / "s.mp4", require_audio=False) is None


def test_structural_faults_raise(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="labels file not found"):
        load_dataset(tmp_path / "nowhere", PARAMS)
    root = tmp_path / "ds"
    write_labels(root, "video_id,lip_sync,expression,audio_quality,overall\na,4,4,4,4\n")
    with pytest.raises(DataError, match="cross_modal"):
        load_dataset(root, PARAMS)


def test_malformed_lines_and_bom(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for vid in ("a", "b"):
        write_video(root / "videos" / f"{vid}.mp4")
    (root / "labels.csv").write_bytes(
        (
            "\ufeff" + HEADER + "a,4,4,4,4,4,g\n\nbad,4,4\nx,4,4,4,4,4,g,extra\nb,2,2,2,2,2,g\n"
        ).encode("utf-8")
    )
    ds = load_dataset(root, PARAMS)
    assert ds.labels["video_id"].tolist() == ["a", "b"]
    assert ds.problems["row"].astype(int).tolist() == [4, 5]  # physical lines; blank line 3 skipped
    assert ds.problems["reason"].tolist() == [
        "expected 7 fields, got 3",
        "expected 7 fields, got 8",
    ]


def test_file_column_and_split_values(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_video(root / "clips" / "x1.mov")
    write_video(root / "videos" / "y.mp4")
    write_labels(
        root,
        "video_id,lip_sync,expression,audio_quality,cross_modal,overall,split,file\n"
        "x,4,4,4,4,4,train,clips/x1.mov\ny,4,4,4,4,4,holdout,\n",
    )
    ds = load_dataset(root, PARAMS)
    assert ds.labels["video_id"].tolist() == ["x"]
    assert ds.labels.loc[0, "path"] == str((root / "clips" / "x1.mov").resolve())
    assert ds.labels.loc[0, "split"] == "train"
    assert "holdout" in ds.problems.loc[0, "reason"] and int(ds.problems.loc[0, "row"]) == 3


def test_labels_only_without_files(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_labels(root, HEADER + "a,4,4,4,4,4,g\n")
    ds = load_dataset(root, PARAMS, check_files=False)
    assert ds.ok and ds.labels.loc[0, "path"].endswith("a.mp4")


def test_validate_cli_exit_codes(
    good_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main_validate([str(good_root)]) == 0
    assert "3 valid video(s), 0 problem(s)" in capsys.readouterr().out
    (good_root / "videos" / "b.mp4").unlink()
    assert main_validate([str(good_root)]) == 1
    out = capsys.readouterr().out
    assert "line 3" in out and "video file not found" in out and "[b]" in out
    assert main_validate([str(tmp_path / "missing")]) == 1


# ---------------------------------------------------------------- THQA import


def test_rescale_mos_closed_form() -> None:
    mos = np.array([0.0, 1.0, 2.5, 3.7, 5.0])
    np.testing.assert_allclose(rescale_mos(mos), 1.0 + 4.0 * mos / 5.0)
    np.testing.assert_allclose(rescale_mos([1.0, 100.0], (1, 100)), [1.0, 5.0])
    with pytest.raises(ValueError):
        rescale_mos(1.0, (5, 0))


def test_import_thqa_detects_columns_and_rescales(tmp_path: Path) -> None:
    src = tmp_path / "thqa.csv"
    src.write_text(
        "Name,MOS,generator\nsub/v1.mp4,0,wav2lip\nv2.mp4,2.5,sadtalker\nv3.avi,4.2,geneface\nclip.v4,5,x\n"
    )
    out = tmp_path / "out" / "labels.csv"
    df = import_thqa(src, out, params=PARAMS)
    assert df["video_id"].tolist() == ["v1", "v2", "v3", "clip.v4"]
    np.testing.assert_allclose(df["overall"], 1 + np.array([0, 2.5, 4.2, 5]) * 4 / 5)
    for t in TASKS[:-1]:
        assert (df[t] == -1.0).all()
    assert df["generator"].tolist() == ["wav2lip", "sadtalker", "geneface", "x"]
    back = load_dataset(out, PARAMS, check_files=False)  # the written file meets the contract
    assert back.ok and len(back) == 4
    np.testing.assert_allclose(back.labels["overall"], df["overall"], rtol=1e-6)


def test_import_thqa_explicit_columns_scale_and_errors(tmp_path: Path) -> None:
    src = tmp_path / "m.csv"
    src.write_text("clipname,q,other\na.mp4,10,1\nb.mp4,55,2\n")
    with pytest.raises(DataError, match="which column"):
        import_thqa(src, None, params=PARAMS)
    df = import_thqa(
        src, None, name_col="clipname", mos_col="q", mos_scale=(10, 100), params=PARAMS
    )
    np.testing.assert_allclose(df["overall"], [1.0, 1 + 45 * 4 / 90])
    bad = tmp_path / "bad.csv"
    bad.write_text("name,mos\na.mp4,6\nb.mp4,x\na.mov,3\n")
    with pytest.raises(DataError) as err:
        import_thqa(bad, None, params=PARAMS)
    msg = str(err.value)
    assert (
        "line 2" in msg
        and "outside" in msg
        and "line 3" in msg
        and "non-numeric" in msg
        and "duplicate" in msg
    )


def test_import_thqa_with_videos_validates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    vids = tmp_path / "thqa_videos"
    write_video(vids / "p1.mp4")
    write_video(vids / "p2.mp4")
    src = tmp_path / "mos.csv"
    src.write_text("video,score\np1.mp4,3\np2,4\n")
    out = tmp_path / "ds" / "labels.csv"
    assert main_import_thqa([str(src), "--out", str(out), "--videos", str(vids)]) == 0
    ds = load_dataset(out.parent, PARAMS)
    assert ds.ok, ds.problems
    assert [Path(p).name for p in ds.labels["path"]] == ["p1.mp4", "p2.mp4"]
    np.testing.assert_allclose(ds.labels["overall"], [1 + 3 * 0.8, 1 + 4 * 0.8])


def test_video_id_from_name() -> None:
    assert video_id_from_name("a/b/c.MP4") == "c"
    assert video_id_from_name(r"dir\x.webm") == "x"
    assert video_id_from_name("name.with.dots") == "name.with.dots"


def test_configured_missing_code_is_stored_as_schema_missing(tmp_path: Path) -> None:
    """A file using missing_value 0.0 loads with -1.0 (tqa.core.schema.MISSING) in the table."""
    root = tmp_path / "ds"
    write_labels(root, HEADER + "a,0,3,0.0,2,5,g\n")
    params = {"data": {**PARAMS["data"], "missing_value": 0.0}}
    ds = load_dataset(root, params, check_files=False)
    assert ds.ok
    row = ds.labels.iloc[0]
    assert row["lip_sync"] == -1.0 and row["audio_quality"] == -1.0
    assert row["expression"] == 3.0 and row["cross_modal"] == 2.0 and row["overall"] == 5.0
    np.testing.assert_array_equal(ds.scores()[0], [-1.0, 3.0, -1.0, 2.0, 5.0])
