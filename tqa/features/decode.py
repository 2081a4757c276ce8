"""Decode any video onto the chapter's common grid: 150 frames at 25 fps, 16 kHz mono audio.

Policy (chapter 3.1: every video is normalised to 6 s, 150 frames, 25 fps):

* **Frames** are resampled by *nearest source timestamp*: grid frame k (time k / 25 s,
  relative to the first decoded frame) takes the source frame whose presentation time is
  closest. Higher frame rates are thus decimated, lower ones repeat frames; no
  interpolation invents pixels.
* **Longer clips** are trimmed to their first 6 s (decoding stops there, so a 20 s file
  costs little more than a 6 s one), or to the 6 s from ``start_s`` on (``tqa score``
  reads a long file as 6 s segments: decoding starts at the key frame before ``start_s``,
  the frames before it are dropped, and the grid and the audio start at the first frame
  from ``start_s`` on).
* **Shorter clips** are padded by repeating the last decoded frame (so arrays keep their
  shape), but ``clip.meta["valid_frames"]`` (bool (T,)) is False for every grid frame
  later than the last source frame plus half a source frame period;
  :class:`tqa.features.pipeline.FeatureExtractor` sets every per-frame feature of those
  frames to NaN, so no fake data enters the model (the NaN are imputed later, chapter 3.2.3).
* **Frame size**: frames whose long side exceeds ``max_side`` pixels (params
  ``features.max_side``, 256 by default) are downscaled with area interpolation, keeping
  the aspect ratio. This bounds extraction cost on HD inputs; the weight-free quality
  features are then measured at that resolution (documented in the README).
* **Audio** is decoded, mixed to mono and resampled to 16 kHz by FFmpeg's resampler
  (through PyAV), aligned to the first video frame (audio that starts later is padded
  with leading zeros, earlier audio is dropped), trimmed / zero-padded to 6 s. A file
  without an audio stream gives zeros and ``has_audio=False``; audio features are then NaN.
  ``clip.meta["audio_frames"]`` (bool (T,)) is False for grid frames outside the decoded
  audio (a track shorter than the video, or starting later) and for frames of digital
  silence (every sample 0: padding a muxer or a delay put in): the audio stream is NaN
  there, so the same sound reads the same under videos of different lengths (the swap test)
  and behind a delay.
* **Rotation**: a file whose video stream carries a display rotation (the display matrix
  phones write for portrait recordings: frames stored sideways, shown upright) is turned as
  a player shows it, by multiples of 90 degrees, before anything reads it
  (:func:`upright`); ``clip.meta["source_size"]`` is the upright size.
* **Unreadable files** raise :class:`MediaError` naming the file. A **truncated** file (the
  decoder fails after some frames) keeps what decoded: ``clip.meta["truncated_after_s"]`` is
  the decoded duration and ``clip.meta["decode_warning"]`` says "<file>: truncated after X s";
  the frames after it are padding (``valid_frames`` False).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tqa.core.clip import Clip
from tqa.core.yuv import yuv420p_to_rgb

log = logging.getLogger(__name__)

#: Default long-side cap in pixels (``features.max_side``).
DEFAULT_MAX_SIDE = 256

#: Version of the decoding policy, part of the feature-cache key (config.hash_config):
#: bump it when decoded pixels or samples change, so cached features are re-extracted.
#: 2: unscaled limited-range yuv420p frames converted with integer BT.601 (tqa.core.yuv).
#: 3: ``meta["audio_frames"]``: frames outside the decoded audio get a NaN audio stream.
#: 4: frames turned upright by the stream's display rotation (:func:`upright`).
#: 5: frames of digital silence are outside ``meta["audio_frames"]`` (:func:`audio_frame_mask`).
DECODE_VERSION = 5


class MediaError(RuntimeError):
    """A video that cannot be decoded; ``path`` and ``reason`` name the file and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


#: PyAV ``color_range`` of full-range ("JPEG") YUV, which the integer BT.601 path does not do.
_FULL_RANGE = 2


def _to_rgb(frame, max_side: int | None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PyAV frame, scaled by FFmpeg (area) so max(H, W) <= max_side.

    Limited-range yuv420p frames that need no scaling (the sample corpus, most generator
    outputs) are converted with integer arithmetic (:func:`tqa.core.yuv.yuv420p_to_rgb`, the
    BT.601 matrix libswscale assumes by default) so features are the same on every CPU;
    libswscale's SIMD paths give other pixels than its C path."""
    h, w = frame.height, frame.width
    if (
        frame.format.name == "yuv420p"
        and not (h % 2 or w % 2)
        and not (max_side and max(h, w) > max_side)
        and getattr(frame, "color_range", 0) != _FULL_RANGE
    ):
        return yuv420p_to_rgb(frame.to_ndarray(format="yuv420p"))
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        return frame.to_ndarray(
            width=max(2, round(w * scale)),
            height=max(2, round(h * scale)),
            format="rgb24",
            interpolation="AREA",
        )
    return frame.to_ndarray(format="rgb24")


def quarter_turns(rotation: float | None) -> int:
    """A display rotation in degrees (PyAV's ``VideoFrame.rotation``, counter-clockwise:
    FFmpeg's ``av_display_rotation_get``, what ``ffmpeg`` applies by default) as quarter turns
    0-3, rounded to the nearest."""
    return int(round(float(rotation or 0) / 90.0)) % 4


def upright(rgb: np.ndarray, rotation: float | None) -> np.ndarray:
    """``rgb`` (H, W, 3) turned counter-clockwise by ``rotation`` degrees (as a player shows
    the frame), rounded to a multiple of 90 degrees."""
    k = quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


#: A segment from ``start_s`` on is decoded from the key frame at or before ``start_s`` minus
#: this many seconds (:func:`_seek_before`), not from the file's start: decoding a 10 min
#: file from its start for each of its 100 segments would decode it 50 times.
SEEK_LEAD_S = 1.0


def _seek_before(container, stream, start_s: float) -> float | None:
    """The time (s) of the stream's first frame, after seeking to the key frame at or before
    ``start_s - SEEK_LEAD_S`` seconds after it; None (and back at the start, nothing skipped)
    when the first frame has no time stamp or the container cannot seek: the caller then
    decodes from the start and drops the frames before the segment, as without a seek."""
    try:
        frame = next(iter(container.decode(stream)), None)
        if frame is None or frame.time is None or not stream.time_base:
            container.seek(0, stream=stream, backward=True)
            return None
        first = float(frame.time)
        target = first + start_s - SEEK_LEAD_S
        container.seek(int(target / float(stream.time_base)), stream=stream, backward=True)
        return first
    except (av.error.FFmpegError, ValueError, StopIteration):
        container.seek(0, stream=stream, backward=True)
        return None


def _decode_video(
    container, stream, duration_s: float, max_side: int | None, path: str, start_s: float = 0.0
) -> tuple[list[np.ndarray], np.ndarray, float, float, str, int]:
    """Frames (list of (H, W, 3) uint8, upright: :func:`upright`), times (s, from the first
    frame kept), source fps, first pts kept (s), the decoder error that stopped decoding early
    ("" when none) and the first frame's display rotation in quarter turns. ``start_s``: the
    frames earlier than ``start_s`` after the stream's first frame (less half a source frame)
    are dropped, decoded from the key frame before them (:func:`_seek_before`)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    src_fps = float(rate) if rate else 25.0
    frames: list[np.ndarray] = []
    times: list[float] = []
    t0: float | None = None
    error, turns = "", 0
    first = _seek_before(container, stream, start_s) if start_s > SEEK_LEAD_S else None
    try:
        for i, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else i / src_fps
            if first is None:
                first = t
            if t - first < start_s - 0.5 / src_fps:  # before the segment: decoded, dropped
                continue
            if t0 is None:
                t0, turns = t, quarter_turns(getattr(frame, "rotation", 0))
            rel = t - t0
            if rel > duration_s + 1.0 / src_fps:  # past the 6 s window: stop decoding
                break
            frames.append(upright(_to_rgb(frame, max_side), getattr(frame, "rotation", 0)))
            times.append(rel)
    except (av.error.FFmpegError, ValueError) as exc:  # truncated / corrupt after some frames
        if not frames:
            raise
        error = str(exc)
    if not frames:
        reason = "no decodable video frames"
        raise MediaError(path, f"{reason} from {start_s:g} s on" if start_s > 0 else reason)
    return frames, np.asarray(times, dtype=np.float64), src_fps, (t0 or 0.0), error, turns


def _header_duration(container, stream) -> float | None:
    """Duration (s) the container/stream header announces, None when it does not say."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1e6
    return None


def header_seconds(path: str | os.PathLike) -> float | None:
    """Duration (s) a file's header announces for its first video stream (the container's
    when the stream does not say); None when neither says, or the file has no video stream or
    cannot be opened. Reads the header only: no frame is decoded."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            return _header_duration(container, container.streams.video[0])
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def _decode_audio(path: str, video_start: float, n_samples: int, sample_rate: int) -> np.ndarray:
    """Mono float32 (n_samples,) at sample_rate Hz, aligned to ``video_start`` seconds."""
    return _decode_audio_span(path, video_start, n_samples, sample_rate)[0]


def _decode_audio_span(
    path: str, video_start: float, n_samples: int, sample_rate: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`_decode_audio` and the span ``(begin, end)`` (samples of the returned array)
    that the stream's decoded samples fill; the rest is zero padding."""
    out: list[np.ndarray] = []
    a_start: float | None = None
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        limit = (n_samples / sample_rate) + video_start + 1.0
        try:
            for frame in container.decode(stream):
                if a_start is None:
                    a_start = frame.time if frame.time is not None else 0.0
                for rf in resampler.resample(frame):
                    out.append(rf.to_ndarray().reshape(-1))
                if frame.time is not None and frame.time > limit:
                    break
        except (av.error.FFmpegError, ValueError):  # truncated: keep the audio decoded so far
            if not out:
                raise
        for rf in resampler.resample(None):  # flush
            out.append(rf.to_ndarray().reshape(-1))
    audio = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
    shift = int(round(((a_start or 0.0) - video_start) * sample_rate))
    span = (min(max(shift, 0), n_samples), min(max(shift + audio.size, 0), n_samples))
    if shift > 0:
        audio = np.concatenate([np.zeros(shift, np.float32), audio])
    elif shift < 0:
        audio = audio[-shift:]
    audio = audio[:n_samples]
    if audio.size < n_samples:
        audio = np.pad(audio, (0, n_samples - audio.size))
    return np.clip(audio, -1.0, 1.0), span


def audio_frame_mask(
    span: tuple[int, int],
    n_frames: int,
    fps: float,
    sample_rate: int,
    audio: np.ndarray | None = None,
) -> np.ndarray:
    """bool (n_frames,): grid frames whose centre time lies inside the decoded audio
    ``span`` (samples): False where the audio track started later or ended earlier than the
    video, so that padding is not measured as silence. With ``audio`` (the clip's samples),
    also False for frames of **digital silence** (every sample of the frame's own 1 / fps
    interval exactly 0): zeros a muxer or an audio delay padded in are no sound either (a
    recorded pause holds its noise floor). Before, 0.4 s of zeros in front of real speech
    (ffmpeg ``adelay``) raised the learned audio_quality by 0.2-0.6."""
    centre = (np.arange(n_frames) + 0.5) / fps * sample_rate
    inside = (centre >= span[0]) & (centre < span[1])
    if audio is None:
        return inside
    edges = np.round(np.arange(n_frames + 1) / fps * sample_rate).astype(int)
    edges = np.clip(edges, 0, len(audio))
    loud = np.abs(np.asarray(audio)) > 0
    n_loud = np.add.reduceat(np.r_[loud, False].astype(np.int64), edges[:-1])
    n_loud[edges[:-1] == edges[1:]] = 0  # an empty interval (past the samples): no sound
    return inside & (n_loud > 0)


def load_clip(
    path: str | os.PathLike,
    video_id: str | None = None,
    fps: float = 25,
    n_frames: int = 150,
    sample_rate: int = 16000,
    max_side: int | None = DEFAULT_MAX_SIDE,
    start_s: float = 0.0,
) -> Clip:
    """Decode ``path`` onto the (n_frames at fps) grid; see the module docstring for the policy.
    ``start_s``: the grid starts at the first frame from this many seconds after the file's
    first frame on (a segment of a long file; ``meta["start_s"]``), the audio with it.

    Returns a :class:`Clip` with frames uint8 (n_frames, H, W, 3) RGB, audio float32
    (n_frames / fps * sample_rate,), and ``meta`` keys ``valid_frames`` (bool (T,)),
    ``n_valid``, ``source_size`` (H, W before downscaling), ``source_duration_s``,
    ``source_index`` (int (T,): the source frame each grid frame shows; equal neighbours are
    the grid repeating a frame of a source slower than ``fps``, not a duplicate in the file).
    """
    path = str(path)
    if not Path(path).is_file():
        raise MediaError(path, "file not found")
    video_id = video_id or Path(path).stem
    duration_s = n_frames / fps
    src = _decode_source(path, duration_s, max_side, float(start_s))
    idx, valid = _nearest_grid_frames(src.times, src.fps, n_frames, fps)
    shape0 = src.frames[0].shape
    if any(f.shape != shape0 for f in src.frames):
        raise MediaError(path, "frame size changes inside the stream")
    grid_frames = np.stack([src.frames[i] for i in idx])

    n_samples = int(round(duration_s * sample_rate))
    audio = np.zeros(n_samples, np.float32)
    span = (0, 0)
    if src.has_audio:
        try:
            audio, span = _decode_audio_span(path, src.start, n_samples, sample_rate)
        except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
            raise MediaError(path, f"cannot decode audio: {exc}") from exc

    return Clip(
        video_id=str(video_id),
        path=path,
        frames=grid_frames,
        audio=audio,
        fps=float(fps),
        sample_rate=int(sample_rate),
        has_audio=src.has_audio,
        source_fps=src.fps,
        source_frames=len(src.frames),
        meta={
            **_clip_meta(path, src, valid, duration_s),
            "source_index": np.asarray(idx),
            "audio_frames": audio_frame_mask(span, n_frames, fps, sample_rate, audio),
        },
    )


@dataclass
class _Source:
    """What decoding a file's video stream gave, before the grid."""

    frames: list[np.ndarray]  # (H, W, 3) uint8 each, in decode order
    times: np.ndarray  # (n,) s from the first frame
    fps: float  # source frame rate
    start: float  # pts of the first frame (s)
    size: tuple[int, int]  # (H, W) before downscaling
    header_s: float | None  # duration the header announces
    has_audio: bool
    error: str  # the decoder error that stopped decoding early ("" when none)
    start_s: float = 0.0  # where the decoded part starts in the file (s after its first frame)


def _decode_source(
    path: str, duration_s: float, max_side: int | None, start_s: float = 0.0
) -> _Source:
    """Open ``path`` and decode its first video stream for ``duration_s`` from ``start_s``."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            vstream = container.streams.video[0]
            vstream.thread_type = "AUTO"
            src_size = (vstream.codec_context.height, vstream.codec_context.width)
            header_s = _header_duration(container, vstream)
            has_audio = bool(container.streams.audio)
            frames, times, src_fps, v_start, trunc_error, turns = _decode_video(
                container, vstream, duration_s, max_side, path, start_s
            )
            if turns % 2:  # a quarter turn: the size as shown, upright
                src_size = (src_size[1], src_size[0])
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:  # truncated / corrupt container
        raise MediaError(path, f"cannot decode video: {exc}") from exc
    return _Source(
        frames, times, src_fps, v_start, src_size, header_s, has_audio, trunc_error, start_s
    )


def _nearest_grid_frames(
    times: np.ndarray, src_fps: float, n_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per grid frame, the index of the source frame with the nearest timestamp, and whether
    the grid frame lies within the source (bool (n_frames,): False past its last frame plus
    half a source frame period)."""
    grid_t = np.arange(n_frames) / fps
    # nearest source timestamp for each grid time (times are sorted for normal streams)
    order = np.argsort(times, kind="stable")
    st = times[order]
    j = (
        np.clip(np.searchsorted(st, grid_t), 1, len(st) - 1)
        if len(st) > 1
        else np.zeros(n_frames, int)
    )
    if len(st) > 1:
        left_closer = (grid_t - st[j - 1]) <= (st[j] - grid_t)
        j = np.where(left_closer, j - 1, j)
    last_t = float(st[-1])
    valid = grid_t <= last_t + 0.5 / src_fps + 1e-6
    return order[j], valid


def _clip_meta(path: str, src: _Source, valid: np.ndarray, duration_s: float) -> dict:
    """``Clip.meta``: valid frames, source size and duration, and the truncation warning
    (decoder error, or data ending > 0.5 s before what the header announces)."""
    last_t = float(np.max(src.times))
    meta = {
        "valid_frames": valid,
        "n_valid": int(valid.sum()),
        "source_size": [int(src.size[0]), int(src.size[1])],
        "source_duration_s": float(last_t + 1.0 / src.fps),
        "decoded_frames": len(src.frames),
    }
    trunc_error = src.error
    decoded_s = float(last_t + 1.0 / src.fps)
    header_s = None if src.header_s is None else src.header_s - src.start_s
    if src.start_s > 0:
        meta["start_s"] = float(src.start_s)
    if not trunc_error and header_s is not None and decoded_s < min(header_s, duration_s) - 0.5:
        trunc_error = f"the header says {header_s:.2f} s, the data ends at {decoded_s:.2f} s"
    if trunc_error:
        meta["truncated_after_s"] = round(float(last_t + 1.0 / src.fps), 2)
        meta["decode_warning"] = f"{path}: truncated after {meta['truncated_after_s']:.2f} s"
        log.warning("%s (decoder: %s)", meta["decode_warning"], trunc_error)
    return meta


def load_clip_params(
    path: str | os.PathLike, video_id: str | None, features: dict, start_s: float = 0.0
) -> Clip:
    """:func:`load_clip` with the grid read from the ``features`` params section."""
    return load_clip(
        path,
        video_id,
        fps=features.get("grid_fps", 25),
        n_frames=features.get("n_frames", 150),
        sample_rate=features.get("sample_rate", 16000),
        max_side=features.get("max_side", DEFAULT_MAX_SIDE),
        start_s=start_s,
    )


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float = 25,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    codec: str = "libx264",
) -> None:
    """Write uint8 (T, H, W, 3) RGB frames (+ optional mono float audio) to an mp4 with PyAV.

    Used by tests and benchmarks to make small real videos; H and W must be even for yuv420p.
    """
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        vs.width, vs.height = int(frames.shape[2]), int(frames.shape[1])
        vs.pix_fmt = "yuv420p"
        a_s = None
        if audio is not None:
            a_s = out.add_stream("aac", rate=sample_rate)
            a_s.layout = "mono"
        for f in frames:
            for pkt in vs.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            ):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if a_s is not None:
            samples = np.asarray(audio, np.float32).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = 0
            for pkt in a_s.encode(frame):
                out.mux(pkt)
            for pkt in a_s.encode():
                out.mux(pkt)
