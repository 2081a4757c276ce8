"""MP4 muxing (H.264 video + AAC audio) and decoding with PyAV (FFmpeg inside the wheel).

Frame timestamps use a 1/fps time base, so the video has exactly T frames at ``fps``.
The corpus stores its audio as 16-bit ALAC (lossless; ``corpus.audio_codec``); with AAC the
encoder adds a priming delay (1024 samples) that MP4 signals with an edit list, and
FFmpeg-based decoders honour it. ``read_mp4`` returns what a downstream
decoder sees, so tests measure offsets on decoded data, never on our own arrays.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tqa.core.yuv import rgb_to_yuv420p, yuv420p_to_rgb

__all__ = [
    "content_digests",
    "is_valid_mp4",
    "read_mp4",
    "rgb_to_yuv420p",
    "write_mp4",
    "yuv420p_to_rgb",
]


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray,
    sample_rate: int,
    crf: int = 20,
    audio_kbps: int = 64,
    preset: str = "veryfast",
    audio_codec: str = "aac",
) -> None:
    """Encode frames uint8 (T, H, W, 3) RGB at ``fps`` and mono audio float32 (S,) to ``path``.

    ``audio_codec``: ``aac`` (FFmpeg's native encoder at ``audio_kbps``) or ``alac`` (lossless,
    16-bit: decoding is integer arithmetic, so every machine decodes the same samples; FFmpeg's
    float AAC DECODER gave other samples when its SIMD was switched off)."""
    if audio_codec not in ("aac", "alac"):
        raise ValueError(f"audio_codec must be aac or alac, got {audio_codec!r}")
    t_len, h, w, _ = frames.shape
    with av.open(str(path), mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=int(fps))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.time_base = Fraction(1, int(fps))
        # Bit-identical output needs one x264 thread AND no macroblock-tree rate control:
        # with `codec_context.thread_count = 1` alone, or with mbtree on, the same frames of a
        # busy clip gave a different file on every encode (measured; tests/test_corpus.py).
        # cpu-independent: x264 picks the same algorithms whatever the CPU's SIMD (x264 docs);
        # the RGB -> YUV conversion is ours (rgb_to_yuv420p), not libswscale's.
        vs.options = {
            "crf": str(int(crf)),
            "preset": preset,
            "threads": "1",
            "x264-params": "mbtree=0:cpu-independent=1",
        }
        vs.codec_context.thread_count = 1
        aus = out.add_stream(audio_codec, rate=int(sample_rate))
        aus.layout = "mono"
        if audio_codec == "aac":
            aus.bit_rate = int(audio_kbps) * 1000
        for i in range(t_len):
            vf = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frames[i]), format="yuv420p")
            vf.pts = i
            for pkt in vs.encode(vf):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        pcm = np.clip(audio, -1, 1).astype(np.float32)
        fmt = "fltp"
        if audio_codec == "alac":
            pcm = np.round(pcm.astype(np.float64) * 32767.0).astype(np.int16)
            fmt = "s16p"
        n = aus.codec_context.frame_size or (4096 if audio_codec == "alac" else 1024)
        for start in range(0, len(pcm), n):
            chunk = pcm[start : start + n]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format=fmt, layout="mono")
            af.sample_rate = int(sample_rate)
            af.pts = start
            af.time_base = Fraction(1, int(sample_rate))
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode():
            out.mux(pkt)


def read_mp4(
    path: str | Path, audio_rate: int | None = None
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Decode ``path``: frames uint8 (T, H, W, 3), fps, mono audio float32 (S,), sample rate."""
    frames: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as cont:
        vstream = cont.streams.video[0]
        fps = float(vstream.average_rate)
        for f in cont.decode(video=0):
            if f.format.name == "yuv420p" and f.width % 2 == 0 and f.height % 2 == 0:
                frames.append(yuv420p_to_rgb(f.to_ndarray(format="yuv420p")))
            else:  # other pixel formats (not the corpus's): FFmpeg converts
                frames.append(f.to_ndarray(format="rgb24"))
    sr = 0
    with av.open(str(path)) as cont:
        if cont.streams.audio:
            astream = cont.streams.audio[0]
            sr = int(audio_rate or astream.rate)
            res = av.AudioResampler(format="flt", layout="mono", rate=sr)
            for f in cont.decode(audio=0):
                for g in res.resample(f):
                    chunks.append(g.to_ndarray().reshape(-1))
            for g in res.resample(None):
                chunks.append(g.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return np.stack(frames), fps, audio, sr


def is_valid_mp4(path: str | Path, n_frames: int | None = None) -> bool:
    """True when ``path`` opens, has one video and one audio stream (and ``n_frames`` frames)."""
    try:
        with av.open(str(path)) as cont:
            if not cont.streams.video or not cont.streams.audio:
                return False
            if n_frames is not None:
                frames = cont.streams.video[0].frames
                if frames and frames != n_frames:
                    return False
        return True
    except (av.error.FFmpegError, OSError):
        return False


def content_digests(path: str | Path) -> dict[str, str]:
    """SHA-256 digests of an mp4: the whole file, its H.264 packets, its AAC packets, and its
    decoded frames (H.264 decoding is bit-exact by the standard, so equal packets give equal
    frames anywhere). Used to check that a rebuild on another machine gives the same corpus."""
    out = {"file": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    for kind in ("video", "audio"):
        h = hashlib.sha256()
        with av.open(str(path)) as cont:
            for pkt in cont.demux(**{kind: 0}):
                if pkt.size:
                    h.update(bytes(pkt))
        out[f"{kind}_packets"] = h.hexdigest()
    h = hashlib.sha256()
    with av.open(str(path)) as cont:
        for f in cont.decode(video=0):
            for plane in f.to_ndarray(format="yuv420p"):
                h.update(plane.tobytes())
    out["decoded_yuv"] = h.hexdigest()
    return out
