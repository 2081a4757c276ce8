"""Importing a public MOS release: column detection, --name-pattern, --mos-range, warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tqa.core.params import load_params
from tqa.core.schema import TASKS
from tqa.data.labels import DataError, load_dataset
from tqa.data.mos_import import import_thqa, main_import_thqa
from tqa.data.name_patterns import fields_from_names, name_pattern_regex

PARAMS = load_params()


def test_image_column_is_detected_and_unknown_names_point_to_the_option(tmp_path: Path):
    src = tmp_path / "mos.csv"
    src.write_text("Image,Score\n1_voice_en_35042678_ahead,4.5\n2_voice_en_1_wav2lip,0.5\n")
    df = import_thqa(src, None, params=PARAMS)
    assert df["video_id"].tolist() == ["1_voice_en_35042678_ahead", "2_voice_en_1_wav2lip"]
    np.testing.assert_allclose(df["overall"], [1 + 4.5 * 0.8, 1 + 0.5 * 0.8])
    odd = tmp_path / "odd.csv"
    odd.write_text("clip_key,q\na,1\n")
    with pytest.raises(DataError, match="--name-col"):
        import_thqa(odd, None, params=PARAMS)


def test_name_pattern_template_splits_underscored_middle_field():
    ids = ["1_voice_en_35042678_ahead", "12_a_b_sad_talker"]
    got = fields_from_names(ids, "{group}_{audio}_{generator}")
    assert got.to_dict("list") == {
        "group": ["1", "12"],
        "audio": ["voice_en_35042678", "a_b_sad"],
        "generator": ["ahead", "talker"],
    }
    rx = fields_from_names(ids, r"(?P<portrait>\d+)_(?P<rest>.+)")
    assert rx["portrait"].tolist() == ["1", "12"]
    with pytest.raises(DataError, match=r"line 3 \[nounderscore\]"):
        fields_from_names(["a_b_c", "nounderscore"], "{group}_{audio}_{generator}")
    with pytest.raises(DataError, match="unique"):
        name_pattern_regex("{a}_{a}")
    with pytest.raises(DataError, match="placeholder"):
        name_pattern_regex("plain")


def test_cli_mos_range_name_pattern_and_split_warning(tmp_path: Path, capsys):
    src = tmp_path / "mos.csv"
    src.write_text("Image,Score\np1_a_x,10\np1_b_y,55\np2_a_x,100\n")
    out = tmp_path / "ds" / "labels.csv"
    rc = main_import_thqa([str(src), "--out", str(out), "--mos-range", "10", "100",
                           "--name-pattern", "{portrait}_{audio}_{generator}"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "mapped linearly from [10, 100] to [1, 5]" in text
    assert "split.method is 'group'" in text and "no 'group' column" in text
    ds = load_dataset(out, PARAMS, check_files=False)
    assert ds.ok
    np.testing.assert_allclose(ds.labels["overall"], [1.0, 1 + 45 * 4 / 90, 5.0], rtol=1e-6)
    assert ds.labels["portrait"].tolist() == ["p1", "p1", "p2"]  # extra columns are carried
    assert ds.labels["generator"].tolist() == ["x", "y", "x"]
    assert (ds.labels[list(TASKS[:-1])] == -1.0).all().all()
    rc = main_import_thqa([str(src), "--out", str(out), "--mos-range", "10", "100",
                           "--name-pattern", "{group}_{audio}_{generator}"])  # fmt: skip
    assert rc == 0 and "warning" not in capsys.readouterr().out
    assert main_import_thqa([str(src), "--out", str(out)]) == 1  # 55 and 100 are outside 0..5
    assert "outside" in capsys.readouterr().err


def test_validate_no_media_needs_no_video_files(tmp_path: Path, capsys):
    from tqa.data.validate import main_validate

    src = tmp_path / "mos.csv"
    src.write_text("Image,Score\np1_a_x,1\np1_b_y,2\np2_a_x,3\n")
    out = tmp_path / "ds" / "labels.csv"
    assert main_import_thqa([str(src), "--out", str(out), "--name-pattern", "{group}_{a}_{b}"]) == 0
    (tmp_path / "ds" / "videos").mkdir()  # a media folder without the files
    capsys.readouterr()
    assert main_validate([str(out)]) == 1  # with media expected: 3 missing files
    assert capsys.readouterr().out.count("video file not found") == 3
    assert main_validate([str(out), "--no-media"]) == 0
    text = capsys.readouterr().out
    assert "labels only (--no-media)" in text and "3 valid video(s), 0 problem(s)" in text
