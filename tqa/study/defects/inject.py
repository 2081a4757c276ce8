"""Defect injections on a decoded clip, in memory: audio (A/V offset, desynchronised segment,
foreign audio, noise at an exact SNR, low-pass, clipping, MP3 round trip) and video (freeze,
dropped/duplicated frames, blur, JPEG, flicker).

The corpus's numpy defects of :mod:`tqa.data.corpus.degrade` are reused where they fit; only
a clip's own samples and frames are changed (the padding of a short clip stays as it is), and
every audio splice is crossfaded so that a click at the seam does not give a defect away.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable

import numpy as np

from tqa.data.corpus import degrade as D
from tqa.study.defects.families import FAMILY, FPS, SR

#: Raised-cosine crossfade (samples, 10 ms) at every audio splice, so that a click at the
#: seam is not what gives a segment defect away.
XFADE = 160


def _n(x: np.ndarray, n: int | None) -> int:
    return len(x) if n is None else int(min(max(n, 0), len(x)))


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine 0 -> 1 over n samples."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def _splice(base: np.ndarray, other: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``base`` with ``other`` in [start, stop) (same length arrays), crossfaded over
    :data:`XFADE` samples inside the segment at each seam that is not an array end."""
    out = base.copy()
    out[start:stop] = other[start:stop]
    w = min(XFADE, (stop - start) // 2)
    if w > 0 and start > 0:
        r = _ramp(w)
        out[start : start + w] = (1 - r) * base[start : start + w] + r * other[start : start + w]
    if w > 0 and stop < len(base):
        r = _ramp(w)[::-1]
        out[stop - w : stop] = (1 - r) * base[stop - w : stop] + r * other[stop - w : stop]
    return out


def shift_audio(audio: np.ndarray, k: int, n_samples: int | None = None) -> np.ndarray:
    """Audio delayed by ``k`` video frames (k * HOP samples; k > 0: audio late, zeros in
    front; k < 0: early, zeros at the end) within its first ``n_samples`` (the clip's own
    audio; the padding after it stays zero). Same length."""
    n = _n(audio, n_samples)
    out = audio.copy()
    out[:n] = D.shift_audio(audio[:n], int(k), FPS, SR)
    return out


def desync_segment(
    audio: np.ndarray, k: int, start: int, stop: int, n_samples: int | None = None
) -> np.ndarray:
    """Samples [start, stop) replaced by the audio ``k`` frames earlier (k > 0: audio late in
    that segment) or later (k < 0), crossfaded at both seams; the rest unchanged."""
    shifted = shift_audio(audio, k, n_samples)
    return _splice(audio, shifted, int(start), int(stop))


def dub_foreign(
    audio: np.ndarray, foreign: np.ndarray, share: float, n_samples: int | None = None
) -> np.ndarray:
    """The last ``share`` of the clip's own audio replaced by ``foreign`` (from its start,
    tiled when shorter), scaled to the clip's RMS, crossfaded at the seam."""
    n = _n(audio, n_samples)
    start = n - int(round(float(share) * n))
    f = np.resize(np.asarray(foreign, np.float32), n - start)  # tiles a shorter foreign track
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1.0  # noqa: E731
    other = audio.copy()
    other[start:n] = f * (rms(audio[:n]) / rms(f))
    return _splice(audio, other, start, n)


def add_noise_snr(
    audio: np.ndarray, snr_db: float, rng: np.random.Generator, n_samples: int | None = None
) -> np.ndarray:
    """White Gaussian noise over the first ``n_samples``, scaled so that 10 log10(P_audio /
    P_noise) is exactly ``snr_db`` (P: mean square over those samples). Not clipped."""
    n = _n(audio, n_samples)
    x = audio.astype(np.float64)
    noise = rng.standard_normal(n)
    p_sig = float(np.mean(x[:n] ** 2))
    noise *= math.sqrt(p_sig / 10 ** (float(snr_db) / 10) / float(np.mean(noise**2)))
    x[:n] += noise
    return x.astype(np.float32)


def measured_snr(clean: np.ndarray, noisy: np.ndarray, n_samples: int | None = None) -> float:
    """10 log10 of the clean power over the power of (noisy - clean), first n samples."""
    n = _n(clean, n_samples)
    c = clean[:n].astype(np.float64)
    d = noisy[:n].astype(np.float64) - c
    return 10 * math.log10(float(np.mean(c**2)) / float(np.mean(d**2)))


def lowpass_audio(audio: np.ndarray, cutoff_hz: float, n_samples: int | None = None) -> np.ndarray:
    """:func:`tqa.data.corpus.degrade.lowpass` on the clip's own audio."""
    n = _n(audio, n_samples)
    out = audio.copy()
    out[:n] = D.lowpass(audio[:n].astype(np.float32), float(cutoff_hz), SR)
    return out


def clip_audio(audio: np.ndarray, level: float, n_samples: int | None = None) -> np.ndarray:
    """Hard clipping at ``level`` x the peak, then scaled back to the original RMS (so that
    loudness alone does not give it away)."""
    n = _n(audio, n_samples)
    x = audio[:n].astype(np.float64)
    peak = float(np.abs(x).max()) or 1.0
    y = np.clip(x, -level * peak, level * peak)
    ry = float(np.sqrt(np.mean(y**2))) or 1.0
    out = audio.copy()
    out[:n] = (y * (float(np.sqrt(np.mean(x**2))) / ry)).astype(np.float32)
    return out


def ffmpeg_exe() -> str:
    """The ffmpeg executable of ``imageio_ffmpeg`` (the MP3 round trip's encoder)."""
    import imageio_ffmpeg  # noqa: PLC0415 - optional: only the codec family needs it

    return imageio_ffmpeg.get_ffmpeg_exe()


def align_lag(ref: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """Lag L in [-max_lag, max_lag] maximising sum ref[t] x[t + L] (x is late by L)."""
    n = min(len(ref), len(x))
    r, y = ref[:n].astype(np.float64), x[:n].astype(np.float64)
    spec = np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(r, 2 * n))
    cc = np.fft.irfft(spec, 2 * n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(cc[lags])])


def mp3_roundtrip(
    audio: np.ndarray, kbps: int, n_samples: int | None = None, ffmpeg: str | None = None
) -> np.ndarray:
    """Encode the clip's own audio to MP3 at ``kbps`` (libmp3lame, 16 kHz mono) and decode it
    back, through pipes (no file); the codec's delay is removed by cross-correlation (within
    +-4096 samples) so the round trip keeps the A/V alignment."""
    n = _n(audio, n_samples)
    exe = ffmpeg or ffmpeg_exe()
    pcm = ["-f", "f32le", "-ar", str(SR), "-ac", "1"]
    enc = subprocess.run(
        [exe, "-v", "error", *pcm, "-i", "pipe:0", "-c:a", "libmp3lame", "-b:a", f"{kbps}k",
         "-f", "mp3", "pipe:1"],
        input=np.ascontiguousarray(audio[:n], np.float32).tobytes(), capture_output=True,
        check=True,
    )  # fmt: skip
    dec = subprocess.run(
        [exe, "-v", "error", "-f", "mp3", "-i", "pipe:0", *pcm, "pipe:1"],
        input=enc.stdout, capture_output=True, check=True,
    )  # fmt: skip
    y = np.frombuffer(dec.stdout, np.float32)
    lag = align_lag(audio[:n], y, 4096)
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), y])
    out = audio.copy()
    out[:n] = 0.0
    m = min(n, len(y))
    out[:m] = y[:m]
    return out


def freeze_frames(frames: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frames [start, start + length) all replaced by frame ``start``."""
    out = frames.copy()
    stop = min(len(frames), int(start) + int(length))
    out[int(start) : stop] = frames[int(start)]
    return out


def glitch_frames(
    frames: np.ndarray, rate: float, rng: np.random.Generator, n_valid: int | None = None
) -> np.ndarray:
    """:func:`tqa.data.corpus.degrade.glitch_index` on the clip's own frames (duplicate, then
    a few frames later a drop: length and overall alignment kept)."""
    n = _n(frames, n_valid)
    out = frames.copy()
    out[:n] = frames[:n][D.glitch_index(n, float(rate), rng)]
    return out


def _on_valid(
    frames: np.ndarray, n_valid: int, fn: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``fn`` on the clip's own frames; the padding of a short clip unchanged."""
    out = frames.copy()
    out[:n_valid] = fn(frames[:n_valid])
    return out


def middle_segment(n: int, length: int) -> tuple[int, int]:
    """[start, stop) of a segment of ``length`` centred in ``n`` (clipped to it)."""
    length = min(int(length), n)
    start = max(0, (n - length) // 2)
    return start, start + length


def inject(
    family: str,
    level: float,
    frames: np.ndarray,
    audio: np.ndarray,
    n_valid: int,
    rng: np.random.Generator,
    sign: int = 1,
    foreign: np.ndarray | None = None,
    ffmpeg: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, audio) of a decoded clip with one defect of ``family`` at ``level``; the
    unchanged modality is returned as the same object. ``n_valid``: the clip's own frames
    (the padding of a short clip stays as it is)."""
    ns = min(len(audio), int(round(n_valid / FPS * SR)))
    if family == "offset":
        return frames, shift_audio(audio, sign * int(level), ns)
    if family == "seg_desync":
        a, b = middle_segment(ns, int(1.5 * SR))
        return frames, desync_segment(audio, sign * int(level), a, b, ns)
    if family == "freeze":
        a, b = middle_segment(n_valid, int(round(level * FPS)))
        return freeze_frames(frames, a, b - a), audio
    if family == "glitch":
        return glitch_frames(frames, level, rng, n_valid), audio
    if family in ("foreign", "foreign_speech"):
        if foreign is None:
            raise ValueError("the foreign family needs a foreign audio track")
        return frames, dub_foreign(audio, foreign, level, ns)
    if family == "noise":
        return frames, add_noise_snr(audio, level, rng, ns)
    if family == "band":
        return frames, lowpass_audio(audio, level, ns)
    if family == "clip":
        return frames, clip_audio(audio, level, ns)
    if family == "codec":
        return frames, mp3_roundtrip(audio, int(level), ns, ffmpeg)
    if family == "blur":
        return _on_valid(frames, n_valid, lambda f: D.blur(f, float(level))), audio
    if family == "compression":
        return _on_valid(frames, n_valid, lambda f: D.jpeg(f, int(level))), audio
    if family == "flicker":
        return _on_valid(frames, n_valid, lambda f: D.flicker(f, float(level), rng)), audio
    raise KeyError(f"unknown defect family {family!r} (known: {list(FAMILY)})")
