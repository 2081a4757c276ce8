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


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> (H * 3 // 2, W) planar yuv420p, BT.601 limited range, integers
    only (the formulas of ITU-R BT.601 in 8-bit fixed point, as FFmpeg's C path).

    Why not let FFmpeg (libswscale) convert: its x86 SIMD paths round differently from its C
    path, so the same RGB frames gave other H.264 bytes on a machine with other CPU features
    (measured here by forcing FFmpeg's CPU flags off). Even sizes only (the corpus's are)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"rgb_to_yuv420p needs even sizes, got {w}x{h}")
    x = frame.astype(np.int32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    # chroma from the 2x2 mean of RGB (sum of 4, kept exact), rounded once
    r4 = r[0::2, 0::2] + r[1::2, 0::2] + r[0::2, 1::2] + r[1::2, 1::2]
    g4 = g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]
    b4 = b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]
    u = ((-38 * r4 - 74 * g4 + 112 * b4 + 512) >> 10) + 128
    v = ((112 * r4 - 94 * g4 - 18 * b4 + 512) >> 10) + 128
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(y, 0, 255)
    out[h : h + h // 4] = np.clip(u, 0, 255).reshape(h // 4, w)
    out[h + h // 4 :] = np.clip(v, 0, 255).reshape(h // 4, w)
    return out


def yuv420p_to_rgb(planes: np.ndarray) -> np.ndarray:
    """(H * 3 // 2, W) planar yuv420p (BT.601 limited range) -> uint8 (H, W, 3) RGB, integer
    arithmetic only; chroma repeated over each 2 x 2 block.

    The inverse of :func:`rgb_to_yuv420p` up to rounding. Why not libswscale
    (``to_ndarray(format="rgb24")``): with FFmpeg's SIMD switched off it returned other RGB
    frames from the same (bit-exact) decoded YUV planes, so anything computed from decoded
    frames differed between machines."""
    h = planes.shape[0] * 2 // 3
    w = planes.shape[1]
    y = planes[:h].astype(np.int32) - 16
    u = planes[h : h + h // 4].reshape(h // 2, w // 2).astype(np.int32) - 128
    v = planes[h + h // 4 :].reshape(h // 2, w // 2).astype(np.int32) - 128
    u = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)
    r = (298 * y + 409 * v + 128) >> 8
    g = (298 * y - 100 * u - 208 * v + 128) >> 8
    b = (298 * y + 516 * u + 128) >> 8
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


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
