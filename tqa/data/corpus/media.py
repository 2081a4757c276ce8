"""MP4 muxing (H.264 video + AAC audio) and decoding with PyAV (FFmpeg inside the wheel).

Frame timestamps use a 1/fps time base, so the video has exactly T frames at ``fps``.
The AAC encoder adds a priming delay (1024 samples) that MP4 signals with an edit
list; FFmpeg-based decoders honour it. ``read_mp4`` returns what a downstream
decoder sees, so tests measure offsets on decoded data, never on our own arrays.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray,
    sample_rate: int,
    crf: int = 20,
    audio_kbps: int = 64,
    preset: str = "veryfast",
) -> None:
    """Encode frames uint8 (T, H, W, 3) RGB at ``fps`` and mono audio float32 (S,) to ``path``."""
    t_len, h, w, _ = frames.shape
    with av.open(str(path), mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=int(fps))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.time_base = Fraction(1, int(fps))
        # Bit-identical output needs one x264 thread AND no macroblock-tree rate control:
        # with `codec_context.thread_count = 1` alone, or with mbtree on, the same frames of a
        # busy clip gave a different file on every encode (measured; tests/test_corpus.py).
        vs.options = {
            "crf": str(int(crf)),
            "preset": preset,
            "threads": "1",
            "x264-params": "mbtree=0",
        }
        vs.codec_context.thread_count = 1
        aus = out.add_stream("aac", rate=int(sample_rate))
        aus.layout = "mono"
        aus.bit_rate = int(audio_kbps) * 1000
        for i in range(t_len):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            vf.pts = i
            for pkt in vs.encode(vf):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        pcm = np.clip(audio, -1, 1).astype(np.float32)
        n = aus.codec_context.frame_size or 1024
        for start in range(0, len(pcm), n):
            chunk = pcm[start : start + n]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
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
