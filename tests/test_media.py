"""tqa.features.decode: decoding any video onto the 150-frame 25 fps grid, 16 kHz mono audio."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tqa.features.decode import MediaError, load_clip, write_video


# ----------------------------------------------------------- helpers (imported by other test files)
def face_image(size: int = 192) -> np.ndarray:
    """A real face photo (skimage astronaut), cropped around the face, (size, size, 3) uint8."""
    from skimage import data

    return cv2.resize(data.astronaut()[:260, 100:360], (size, size), interpolation=cv2.INTER_AREA)


def face_frames(n: int = 150, size: int = 192, jitter: int = 2) -> np.ndarray:
    """(n, size, size, 3) frames of the face shifted horizontally by a few pixels per frame."""
    img = face_image(size)
    return np.stack([np.roll(img, (i % (2 * jitter + 1)) - jitter, axis=1) for i in range(n)])


def tone(seconds: float, freq: float = 440.0, amp: float = 0.5, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def index_frames(n: int, size: int = 32) -> np.ndarray:
    """Frames whose grey level encodes their index: level(i) = (i % 50) * 5."""
    levels = (np.arange(n) % 50) * 5
    return (
        np.repeat(levels[:, None, None, None], size, 1)
        .repeat(size, 2)
        .repeat(3, 3)
        .astype(np.uint8)
    )


def level_index(frames: np.ndarray) -> np.ndarray:
    return np.round(frames.reshape(len(frames), -1).mean(1) / 5).astype(int)


# ---------------------------------------------------------------- tests
def test_regular_clip_shapes_and_audio_level(tmp_path: Path) -> None:
    p = tmp_path / "reg.mp4"
    write_video(p, face_frames(150, 96), 25, tone(6.0, 440, 0.5))
    clip = load_clip(p, "reg")
    assert clip.frames.shape == (150, 96, 96, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (96000,) and clip.audio.dtype == np.float32
    assert clip.has_audio and clip.meta["n_valid"] == 150 and clip.meta["valid_frames"].all()
    # RMS of a sine of amplitude A is A / sqrt(2) (closed form); AAC is lossy -> 5 %
    rms = np.sqrt(np.mean(clip.audio[8000:88000].astype(np.float64) ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    # dominant frequency survives the resampler
    spec = np.abs(np.fft.rfft(clip.audio[8000:88000]))
    assert np.fft.rfftfreq(80000, 1 / 16000)[spec.argmax()] == pytest.approx(440, abs=2)


def test_60fps_20s_video_is_trimmed_to_150_frames_by_nearest_timestamp(tmp_path: Path) -> None:
    p = tmp_path / "long.mp4"
    write_video(p, index_frames(60 * 20), 60)
    clip = load_clip(p)
    assert clip.frames.shape[0] == 150 and clip.source_fps == pytest.approx(60)
    assert clip.meta["valid_frames"].all()
    expected = np.round(np.arange(150) * 60 / 25).astype(int) % 50  # nearest source frame
    got = level_index(clip.frames)
    assert np.mean(got == expected) > 0.95  # lossy codec; ties at half frames may differ


def test_30fps_short_clip_padded_frames_marked_invalid(tmp_path: Path) -> None:
    p = tmp_path / "short30.mp4"
    write_video(p, index_frames(120), 30, tone(4.0))  # 4 s
    clip = load_clip(p)
    assert clip.frames.shape[0] == 150
    assert clip.meta["n_valid"] == 100  # 4 s at 25 fps
    assert not clip.meta["valid_frames"][100:].any()
    # audio after 4 s is zero padding
    assert np.abs(clip.audio[4 * 16000 + 800 :]).max() < 1e-3
    assert np.sqrt(np.mean(clip.audio[1600:60000] ** 2)) > 0.2


def test_audio_track_shorter_than_the_video_marks_the_frames_it_covers(tmp_path: Path) -> None:
    # 4 s of video at 25 fps, 2.5 s of audio: grid frames whose centre lies before 2.5 s
    # (frames 0-61: centre (k + 0.5) / 25 < 2.5) carry audio, the rest do not
    p = tmp_path / "short_audio.mp4"
    write_video(p, face_frames(100, 64), 25, tone(2.5))
    clip = load_clip(p)
    covered = clip.meta["audio_frames"]
    assert covered.shape == (150,) and covered.dtype == bool
    first_uncovered = int(np.flatnonzero(~covered)[0])
    assert 62 <= first_uncovered <= 64  # AAC pads the track to whole 1024-sample (64 ms) frames
    assert not covered[first_uncovered:].any()
    assert clip.meta["valid_frames"][:100].all()  # the video itself runs on to 4 s


def test_digital_silence_in_front_of_the_sound_is_outside_the_audio_frames(
    tmp_path: Path,
) -> None:
    """0.4 s of zeros in front of a tone (an audio delay's padding): those 10 grid frames
    are outside ``audio_frames`` (no sound), the tone's frames inside; a tone behind 0.4 s of
    a quiet noise floor (sd 1e-4, a recorded pause) keeps every frame."""
    delayed = np.r_[np.zeros(6400, np.float32), tone(1.6)]
    p = tmp_path / "delayed.mp4"
    write_video(p, index_frames(50), 25, delayed)
    clip = load_clip(p, "delayed", n_frames=50)
    audible = np.abs(clip.audio) > 0  # independent check on the decoded samples
    assert not audible[: 6400 - 640].any() and audible[6400 + 640 : 2 * 16000 - 640].all()
    frames = np.asarray(clip.meta["audio_frames"])
    assert not frames[:9].any() and frames[11:49].all()
    hiss = np.random.default_rng(0).normal(0, 1e-4, 6400).astype(np.float32)
    floor = np.r_[hiss, tone(1.6)]
    q = tmp_path / "floor.mp4"
    write_video(q, index_frames(50), 25, floor)
    assert np.asarray(load_clip(q, "floor", n_frames=50).meta["audio_frames"])[:49].all()


def test_one_frame_video(tmp_path: Path) -> None:
    p = tmp_path / "one.mp4"
    write_video(p, face_frames(1, 64), 25)
    clip = load_clip(p)
    assert clip.frames.shape == (150, 64, 64, 3)
    assert clip.meta["n_valid"] == 1 and clip.meta["valid_frames"][0]


def test_audio_less_video_gives_zeros_and_flag(tmp_path: Path) -> None:
    p = tmp_path / "mute.mp4"
    write_video(p, face_frames(30, 64), 25)
    clip = load_clip(p)
    assert not clip.has_audio
    assert clip.audio.shape == (96000,) and not clip.audio.any()


def test_truncated_and_garbage_files_raise_media_error_naming_file(tmp_path: Path) -> None:
    p = tmp_path / "trunc.mp4"
    write_video(p, face_frames(50, 64), 25, tone(2.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="trunc.mp4"):
        load_clip(p)
    g = tmp_path / "garbage.mp4"
    g.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="garbage.mp4"):
        load_clip(g)
    with pytest.raises(MediaError, match="file not found"):
        load_clip(tmp_path / "absent.mp4")


def test_large_frames_downscaled_to_cap(tmp_path: Path) -> None:
    p = tmp_path / "hd.mp4"
    frames = np.zeros((5, 360, 640, 3), np.uint8)
    frames[:, :, :320] = 200
    write_video(p, frames, 25)
    clip = load_clip(p, max_side=256)
    assert clip.frames.shape[1:] == (144, 256, 3)
    assert clip.meta["source_size"] == [360, 640]
    assert clip.frames[0, 72, 60].mean() > 150 and clip.frames[0, 72, 200].mean() < 50
    assert load_clip(p, max_side=None).frames.shape[1:] == (360, 640, 3)


def test_yuv420p_frames_decoded_with_integer_bt601(tmp_path: Path) -> None:
    """Unscaled limited-range yuv420p frames go through the integer BT.601 conversion (the
    same pixels on every CPU), which agrees with FFmpeg's libswscale to rounding; frames
    that must be scaled still go through libswscale."""
    import av

    from tqa.core.yuv import yuv420p_to_rgb

    p = tmp_path / "face.mp4"
    write_video(p, face_frames(10, 96), 25, tone(0.4))
    clip = load_clip(p, "face")
    with av.open(str(p)) as c:
        first = next(c.decode(video=0))
        assert first.format.name == "yuv420p"
        ours = yuv420p_to_rgb(first.to_ndarray(format="yuv420p"))
        ffmpeg = first.to_ndarray(format="rgb24")
    assert np.array_equal(clip.frames[0], ours)
    assert np.abs(ours.astype(int) - ffmpeg.astype(int)).max() <= 3
    small = load_clip(p, "face", max_side=48)  # scaled: libswscale's area filter
    assert small.frames.shape[1:3] == (48, 48)


def _rotated_video(path: Path, frames: np.ndarray, degrees: int) -> Path:
    """``frames`` encoded as stored, with a display matrix turning them ``degrees``
    counter-clockwise when shown (how phones store portrait recordings)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0"}
        stream.set_display_rotation(degrees)
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_display_rotation_is_applied_as_ffmpeg_shows_it(tmp_path: Path, degrees: int) -> None:
    """A stream with a display rotation decodes upright: as the ffmpeg command line shows it
    (its default autorotation, the oracle: rgb24 through libswscale, so within 3 levels of
    the integer BT.601 pixels), with the upright source size; a quarter turn swaps H and W."""
    import subprocess

    import imageio_ffmpeg

    stored = np.zeros((4, 64, 128, 3), np.uint8)
    stored[:, :32, :64] = (200, 60, 30)  # one bright quadrant: any turn or mirror moves it
    p = _rotated_video(tmp_path / f"r{degrees}.mp4", stored, degrees)
    clip = load_clip(p, max_side=None)
    h, w = (128, 64) if degrees % 180 else (64, 128)
    assert clip.frames.shape[1:] == (h, w, 3)
    assert clip.meta["source_size"] == [h, w]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(p), "-frames:v", "1",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    shown = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.uint8)
    shown = shown.reshape(h, w, 3)
    assert np.abs(clip.frames[0].astype(int) - shown.astype(int)).max() <= 3

    # and the turn is the counter-clockwise one numpy makes of the stored frame (quadrant
    # means: 4:2:0 chroma smears the quadrant's edge by a few pixels)
    def quadrants(img: np.ndarray) -> np.ndarray:
        a, b = img.shape[0] // 2, img.shape[1] // 2
        return np.array([q.mean() for q in (img[:a, :b], img[:a, b:], img[a:, :b], img[a:, b:])])

    turned = np.rot90(stored[0], degrees // 90)
    assert np.abs(quadrants(clip.frames[0]) - quadrants(turned)).max() <= 3
    assert np.argmax(quadrants(clip.frames[0])) == np.argmax(quadrants(turned))


def test_a_segment_from_start_s_reads_its_frames_and_its_audio(tmp_path: Path) -> None:
    """load_clip(start_s=4): grid frame k shows source frame 100 + k (25 fps), the audio starts
    there too (a tone that begins at 4 s is heard from the segment's first sample), the last
    segment of a 10 s file holds 150 - 4 x 25 ... frames of its own, and the meta says where
    the segment starts; start_s = 0 reads as before (no ``start_s`` in the meta)."""
    p = tmp_path / "ten.mp4"
    sr = 16000
    audio = np.concatenate([np.zeros(4 * sr, np.float32), tone(6.0, 440, 0.5)])
    write_video(p, index_frames(250), 25, audio)
    whole = load_clip(p)
    assert "start_s" not in whole.meta
    np.testing.assert_array_equal(level_index(whole.frames), np.arange(150) % 50)
    seg = load_clip(p, start_s=4.0)
    assert seg.meta["start_s"] == 4.0 and seg.meta["n_valid"] == 150
    assert np.mean(level_index(seg.frames) == (100 + np.arange(150)) % 50) > 0.95
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(seg.audio[: sr // 2]) > 0.25  # the tone from the first half second
    assert rms(whole.audio[sr : 3 * sr]) < 0.01  # the same seconds of the file are silent
    late = load_clip(p, start_s=7.0)  # 3 s left: padded, the rest invalid, not "truncated"
    assert late.meta["n_valid"] == 75 and "decode_warning" not in late.meta
    assert np.mean(level_index(late.frames[:75]) == (175 + np.arange(75)) % 50) > 0.95
    with pytest.raises(MediaError, match="from 12 s on"):
        load_clip(p, start_s=12.0)


def test_a_late_segment_seeks_and_reads_what_decoding_from_the_start_reads(
    tmp_path: Path, monkeypatch
) -> None:
    """A segment 12 s into a 20 s file is decoded from the key frame before 11 s (a seek), and
    its frames, audio and source frame numbers are those of decoding the file from its start
    and dropping the first 12 s (the seek turned off)."""
    import tqa.features.decode as dec

    p = tmp_path / "twenty.mp4"
    write_video(p, index_frames(500), 25, tone(20.0, 330, 0.3))
    seek = []
    real = dec._seek_before
    monkeypatch.setattr(dec, "_seek_before", lambda *a: seek.append(a[2]) or real(*a))
    sought = load_clip(p, start_s=12.0)
    assert seek == [12.0]
    monkeypatch.setattr(dec, "SEEK_LEAD_S", 1e9)  # no seek: decode from the start, drop
    dropped = load_clip(p, start_s=12.0)
    assert seek == [12.0]
    np.testing.assert_array_equal(sought.frames, dropped.frames)
    np.testing.assert_array_equal(sought.audio, dropped.audio)
    np.testing.assert_array_equal(sought.meta["source_index"], dropped.meta["source_index"])
    assert np.mean(level_index(sought.frames) == (300 + np.arange(150)) % 50) > 0.95
