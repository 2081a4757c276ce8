"""Weight-free lip sync that works on real footage: mouth signals vs speech-band envelope.

The SyncNet recipe (Chung & Zisserman 2016, "Out of time": a distance per candidate offset,
offset = its arg-min) with hand-made signals instead of learnt embeddings, on the 25 fps grid:

* **mouth darkness** (:func:`mouth_darkness`): 1 - mean luma of the centre of a mouth box
  placed with Face Mesh landmarks 78/308/13/14 (0.8 x 0.4 x the mouth-corner distance): an
  open mouth shows the dark oral cavity. Reads ``clip.frames``; the most reliable signal on
  real footage at 256 px, where inner-lip landmarks are noisy.
* **inner-lip aperture** (:func:`mouth_signal`): mean of 7 upper/lower inner-lip landmark
  distances over the outer-eye-corner distance (33-263). Landmarks only.
* **speech envelope** (:func:`speech_envelope`): log energy (dB) of the 800-2500 Hz band (the
  F2 region where lip area and acoustics covary most, Grant & Seitz 2000) in a one-frame
  window *centred* on each grid time, floored 40 dB under its 95th percentile.
* :func:`estimate_offset`: for every lag d in [-D, D] (``features.sync_max_offset``, 15) the
  Pearson correlation c(d) = corr(mouth[t], env[t + d]) in 2 s windows (50 frames, hop 12)
  placed so that every lag fits, averaged over windows; per mouth signal s the distance
  curve is dist_s(d) = 1 - c_s(d), and the clip's curve dist(d) is their mean weighted by
  each signal's own SyncNet confidence, w_s = max(0, median_d dist_s - min_d dist_s)
  (:func:`combine_curves`): a signal whose curve has no clear minimum (noisy inner-lip
  landmarks) cannot pull the offset to a chance dip of its own. Fewer than 2 valid
  windows (face gaps, clips under 2 D + 50 frames) -> one window over the whole overlap
  (less reliable under ~3 s). On a 6 s clip every window sits in its middle, so a
  desynchronised segment there sets the whole clip's offset; windows across the whole clip
  (``span``) and one whole-clip window are compared in reports/sync_offset_window.md and
  not used (they misread a real in-sync recording).

Sign convention (SyncNet's, the corpus's ``av_offset_frames``, ffmpeg ``adelay``): **d > 0
means the audio is delayed relative to the video**.

Outputs (``SYNC_FIELDS`` order: offset, distance, confidence):

* ``offset`` = argmin_d dist(d) (frames);
* ``distance`` = dist(0) = 1 - mean windowed correlation *at lag 0* (lower = more in sync);
* ``confidence`` = median_d dist(d) - dist(0) (higher = more in sync; can be negative).

**These are not SyncNet's LSE-D / LSE-C** (those names belong to SyncNet with its real
weights: extractor ``syncnet``). SyncNet's rule measures the distance and the median-minus-min
prominence at the *best* lag, wherever it is; on the 5 real in-sync recordings shifting the
audio by >= 5 frames moves that peak without shrinking it (10/30 pairs with the original
higher = chance), and foreign audio finds a chance peak as prominent as the real one. Measured
at lag 0 the same curve separates in-sync from shifted audio in 30/30 pairs and own from
foreign audio on 5/5 clips (reports/real_clips.md). The best-lag SyncNet-style pair is kept in
``context["sync_detail"]`` (``best_distance``, ``best_confidence``: how reliable the offset
estimate is) and in each cache file's meta.

All three are NaN when the clip has no (or silent) audio, no face, or a constant mouth.
The parameters (band, window, signals) were chosen on the 5 real recordings of
``../shared/realclips`` (benchmarks/real_clips.py): treat the figures as optimistic. The
confidence weighting (no parameter) was chosen on the sample corpus against the equal mean
(``benchmarks/sync_offset_window.py``: offset within 1 frame of the injected one 0.838 vs
0.829 of 240 videos, not lower on either half of the identities); on the real recordings,
measured afterwards, it reads every audio shift of 3-10 frames exactly (the equal mean read
recording 4's audio advanced by 3, 5, 10 frames as +15, +14, +9: its inner-lip curve's
chance dip 19 frames away).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.signal import butter, sosfiltfilt

from tqa.core.schema import SYNC_FIELDS
from tqa.features.extractors.base import Clip, ColumnExtractor, landmarks_from, register

log = logging.getLogger(__name__)

#: Face Mesh (468-point) upper/lower inner-lip landmark pairs: centre (13/14) and 3 per side.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = (
    (13, 14),
    (82, 87),
    (312, 317),
    (81, 178),
    (311, 402),
    (80, 88),
    (310, 318),
)
EYE_OUTER_L, EYE_OUTER_R = 33, 263
MOUTH_CORNER_L, MOUTH_CORNER_R = 78, 308
LIP_INNER_UP, LIP_INNER_LOW = 13, 14
MOUTH_BOX = (MOUTH_CORNER_L, MOUTH_CORNER_R, LIP_INNER_UP, LIP_INNER_LOW)
#: Speech band (Hz) of the envelope and its dynamic range (dB) under the 95th percentile.
BAND_HZ = (800.0, 2500.0)
FLOOR_DB = 40.0
#: Correlation windows: length and hop in grid frames (2 s, 0.48 s at 25 fps).
WINDOW, HOP = 50, 12
#: Share of a window's pairs that must be finite; fewer good windows -> one whole-clip window.
MIN_VALID, MIN_WINDOWS = 0.6, 2
#: Finite pairs the whole-clip window needs at every lag: no less evidence than the fewest
#: good windows the windowed reading accepts (MIN_WINDOWS x MIN_VALID x WINDOW = 60 pairs,
#: 2.4 s at 25 fps). Before 2026-12-07 it was 60 % of (T - 2 D) pairs alone, T the signal's
#: length: 72 on the 150-frame grid, but 6 on a 1.6 s clip decoded without the grid's
#: padding (`tqa metrics`), which then read offsets of +13 frames on in-sync speech.
MIN_FALLBACK_PAIRS = MIN_WINDOWS * int(np.ceil(MIN_VALID * WINDOW))
#: How the mouth signals' distance curves are combined (:func:`combine_curves`).
COMBINES: tuple[str, ...] = ("confidence", "mean")
COMBINE = "confidence"
#: Windows only where every lag fits (False), not across the whole clip (True): spanning
#: windows read a desynchronised segment less often on the sample corpus but read one real
#: in-sync recording -2 frames on its whole 6.1 s (reports/sync_offset_window.md).
SPAN = False


@dataclass(frozen=True)
class SyncEstimate:
    """Result of :func:`estimate_offset` (dist: the signals' 1 - mean windowed correlation at
    each lag, combined by :func:`combine_curves`).

    offset: lag (frames) of the minimum distance; > 0 = audio delayed; NaN when undefined.
    distance / confidence: in-sync scores at lag 0: dist(0) and median(dist) - dist(0).
    best_distance / best_confidence: SyncNet's rule at the best lag: min(dist) and
        median(dist) - min(dist) (offset-agnostic reliability of ``offset``).
    lags, curve: (2 D + 1,) lags and dist; n_windows: windows averaged (0 = undefined).
    """

    offset: float
    distance: float
    confidence: float
    best_distance: float
    best_confidence: float
    lags: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    n_windows: int = 0

    @property
    def offset_subframe(self) -> float:
        """The offset with sub-frame resolution (frames): the vertex of the parabola through
        the combined distance curve's minimum and its two neighbours (the classic sub-sample
        refinement of a correlation peak; no parameter), within half a frame of
        :attr:`offset`; the integer offset at the search range's edge or on a flat
        minimum, NaN when undefined. Why: real in-sync recordings lead by about a frame
        (reports/sync_offset_window.md: -1, +1, +1, 0, -1), so a 2-frame shift can read the
        same |offset| as its original; this reading tells them apart (docs/features.md).
        A ``tqa metrics`` column; the sync triple keeps the integer offset."""
        d = np.asarray(self.curve, np.float64)
        if not np.isfinite(self.offset) or not np.isfinite(d).any():
            return float("nan")
        k = int(np.nanargmin(d))
        if 0 < k < len(d) - 1:
            a, b, c = d[k - 1], d[k], d[k + 1]
            den = a - 2.0 * b + c
            if np.isfinite(den) and den > 0:
                return float(self.lags[k] + 0.5 * (a - c) / den)
        return float(self.lags[k])

    def triple(self) -> np.ndarray:
        """float32 (3,) in SYNC_FIELDS order (offset, distance, confidence)."""
        vals = {"offset": self.offset, "distance": self.distance, "confidence": self.confidence}
        return np.array([vals[f] for f in SYNC_FIELDS], np.float32)

    def detail(self) -> dict[str, float]:
        """JSON-able summary for cache meta and reports."""
        return {
            "offset": self.offset,
            "distance": self.distance,
            "confidence": self.confidence,
            "best_distance": self.best_distance,
            "best_confidence": self.best_confidence,
            "n_windows": self.n_windows,
        }


def _inter_ocular(lm: np.ndarray) -> np.ndarray:
    iod = np.linalg.norm(lm[:, EYE_OUTER_R, :2] - lm[:, EYE_OUTER_L, :2], axis=1)
    return np.where(iod > 0, iod, np.nan)


def mouth_signal(landmarks: np.ndarray) -> np.ndarray:
    """float64 (T,) inner-lip aperture / inter-ocular distance of (T, 468, 2|3) landmarks.

    NaN where there is no face."""
    lm = np.asarray(landmarks, np.float64)
    gaps = [np.linalg.norm(lm[:, a, :2] - lm[:, b, :2], axis=1) for a, b in INNER_LIP_PAIRS]
    with np.errstate(invalid="ignore"):
        return np.mean(gaps, axis=0) / _inter_ocular(lm)


def mouth_darkness(
    frames: np.ndarray, landmarks: np.ndarray, samples: tuple[int, int] = (32, 16)
) -> np.ndarray:
    """float64 (T,) darkness (1 - luma / 255) of the mouth centre; NaN where there is no face.

    frames: uint8 (T, H, W, 3) RGB; landmarks: (T, 468, 2|3) in pixels of ``frames``. The
    axis-aligned box is centred on the mean of points 78, 308, 13, 14, 0.8 x 0.4 x the
    mouth-corner distance, sampled bilinearly on a ``samples`` (nx, ny) grid of ITU-R 601 luma.
    """
    fr = np.asarray(frames)
    lm = np.asarray(landmarks, np.float64)
    out = np.full(len(fr), np.nan)
    nx, ny = samples
    gx = (np.arange(nx) + 0.5) / nx - 0.5
    gy = (np.arange(ny) + 0.5) / ny - 0.5
    luma = np.array([0.299, 0.587, 0.114])
    for i in range(len(fr)):
        p = lm[i, list(MOUTH_BOX), :2]
        if not np.all(np.isfinite(p)):
            continue
        cx, cy = p.mean(axis=0)
        mw = float(np.linalg.norm(p[0] - p[1]))
        if not mw > 1.0:
            continue
        ys, xs = np.meshgrid(cy + gy * 0.4 * mw, cx + gx * 0.8 * mw, indexing="ij")
        y0, y1 = int(max(0, np.floor(ys.min()) - 1)), int(np.ceil(ys.max()) + 2)
        x0, x1 = int(max(0, np.floor(xs.min()) - 1)), int(np.ceil(xs.max()) + 2)
        patch = fr[i, y0:y1, x0:x1].astype(np.float64)
        if patch.size == 0:
            continue
        grey = patch @ luma if patch.ndim == 3 else patch
        vals = map_coordinates(grey, [ys.ravel() - y0, xs.ravel() - x0], order=1, mode="nearest")
        out[i] = 1.0 - vals.mean() / 255.0
    return out


def speech_envelope(
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    n_frames: int,
    band: tuple[float, float] = BAND_HZ,
    floor_db: float = FLOOR_DB,
) -> np.ndarray:
    """float64 (T,) speech-band log energy (dB) per grid frame; all NaN for empty/silent audio.

    Frame k averages the band-passed (4th-order Butterworth, zero phase) power over
    [k / fps - 0.5 / fps, k / fps + 0.5 / fps): centring matters (a [k, k + 1) window biases
    the offset by half a frame). Floored at (95th percentile - ``floor_db``).
    """
    x = np.asarray(audio, np.float64).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)) or not np.any(x != 0):
        return np.full(n_frames, np.nan)
    hop = sample_rate / fps
    sos = butter(
        4, [band[0], min(band[1], 0.45 * sample_rate)], "band", fs=sample_rate, output="sos"
    )
    pad = int(np.ceil(hop))
    y = sosfiltfilt(sos, x) if x.size > 39 else x
    y2 = np.concatenate([np.zeros(pad), y * y, np.zeros(int(n_frames * hop) + 2 * pad)])
    csum = np.concatenate([[0.0], np.cumsum(y2)])
    centres = np.arange(n_frames) * hop + pad
    lo = np.clip(np.round(centres - hop / 2).astype(int), 0, len(y2))
    up = np.clip(np.round(centres + hop / 2).astype(int), 0, len(y2))
    db = 10.0 * np.log10((csum[up] - csum[lo]) / np.maximum(up - lo, 1) + 1e-20)
    ref = np.percentile(db, 95)
    if not np.isfinite(ref) or ref <= -190.0:
        return np.full(n_frames, np.nan)
    return np.maximum(db, ref - floor_db)


def _pearson(a: np.ndarray, b: np.ndarray, min_pairs: int) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_pairs:
        return np.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else np.nan


def lag_correlation(
    mouth: np.ndarray,
    envelope: np.ndarray,
    max_offset: int = 15,
    window: int | None = WINDOW,
    hop: int = HOP,
    min_valid: float = MIN_VALID,
    span: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Lags (2D+1,) and C (n_windows, 2D+1): corr(mouth[t], envelope[t + d]) per window.

    ``span=False``: windows start at D, D + hop, ... up to T - D - window, so every lag uses
    ``window`` pairs, and on a 6 s clip all windows sit in its middle. ``span=True``: windows
    start at 0, hop, ... up to T - window and cover the whole clip; at lag d a window uses its
    frames t whose partner t + d lies inside the clip (at least window - D pairs). When no
    window fits (or ``window`` is None) one window uses all overlapping pairs at each lag. NaN
    where fewer than ``min_valid`` of the pairs (of ``window`` - D with ``span``; of T - 2 D
    and at least :data:`MIN_FALLBACK_PAIRS` for the one window) are finite or a signal is
    constant.
    """
    m, e = np.asarray(mouth, np.float64), np.asarray(envelope, np.float64)
    t = min(len(m), len(e))
    m, e = m[:t], e[:t]
    lags = np.arange(-max_offset, max_offset + 1)
    starts: list[int] = []
    if window is not None:  # first start and the room left for the last one
        first, last = (0, t - window) if span else (max_offset, t - max_offset - window)
        starts = list(range(first, last + 1, max(1, hop)))
    if starts:
        pairs = window - max_offset if span else window
        need = max(3, int(np.ceil(min_valid * pairs)))
        rows = []
        for s in starts:
            row = []
            for d in lags:
                lo, hi = max(s, -d), min(s + window, t - d)  # frames whose partner is inside
                row.append(_pearson(m[lo:hi], e[lo + d : hi + d], need) if hi > lo else np.nan)
            rows.append(row)
    else:
        need = max(MIN_FALLBACK_PAIRS, int(np.ceil(min_valid * max(t - 2 * max_offset, 1))))
        rows = [
            [
                _pearson(m[max(0, -d) : t - max(0, d)], e[max(0, d) : t - max(0, -d)], need)
                for d in lags
            ]
        ]
    return lags, np.asarray(rows, np.float64)


def combine_curves(curves: Sequence[np.ndarray], combine: str = COMBINE) -> np.ndarray:
    """One (2 D + 1,) distance curve from the per-signal curves ``curves`` (each finite).

    ``"confidence"``: weighted by each curve's own SyncNet confidence at its best lag,
    w_s = max(0, median(dist_s) - min(dist_s)) (Chung & Zisserman 2016's prominence, here
    a label-free reliability per signal), equal weights when every w_s is 0; ``"mean"``:
    equal weights (the rule before 2026-12-07, kept for reports/sync_offset_window.md)."""
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
    c = np.asarray(curves, np.float64)
    if combine == "confidence":
        w = np.maximum(np.median(c, axis=1) - c.min(axis=1), 0.0)
        if w.sum() > 0:
            return (w[:, None] * c).sum(axis=0) / w.sum()
    return c.mean(axis=0)


def estimate_offset(
    mouth: np.ndarray | Sequence[np.ndarray],
    envelope: np.ndarray,
    max_offset: int = 15,
    window: int | None = WINDOW,
    hop: int = HOP,
    min_windows: int = MIN_WINDOWS,
    span: bool = SPAN,
    combine: str = COMBINE,
) -> SyncEstimate:
    """Offset and in-sync scores from one (T,) mouth signal or a list of them, their distance
    curves combined by :func:`combine_curves` (``combine``).

    ``span``: windows across the whole clip or, the extractor's default, only where every
    lag fits (:func:`lag_correlation`)."""
    signals = (
        [np.asarray(mouth, np.float64)]
        if np.ndim(mouth) == 1
        else [np.asarray(s, np.float64) for s in mouth]
    )
    curves, n_win = [], 0
    for s in signals:
        lags, c = lag_correlation(s, envelope, max_offset, window, hop, span=span)
        good = np.all(np.isfinite(c), axis=1)
        if good.sum() < min_windows and window is not None:
            lags, c = lag_correlation(s, envelope, max_offset, None, hop)
            good = np.all(np.isfinite(c), axis=1)
        if good.any():
            curves.append(1.0 - c[good].mean(axis=0))
            n_win = max(n_win, int(good.sum()))
    lags = np.arange(-max_offset, max_offset + 1)
    if not curves:
        nan = float("nan")
        return SyncEstimate(nan, nan, nan, nan, nan, lags, np.full(len(lags), np.nan), 0)
    d = combine_curves(curves, combine)
    k = int(np.argmin(d))
    med = float(np.median(d))
    return SyncEstimate(
        offset=float(lags[k]),
        distance=float(d[max_offset]),
        confidence=med - float(d[max_offset]),
        best_distance=float(d[k]),
        best_confidence=med - float(d[k]),
        lags=lags,
        curve=d,
        n_windows=n_win,
    )


def sync_signals(
    frames: np.ndarray,
    landmarks_px: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T,) float64 mouth darkness, inner-lip aperture and speech envelope of one clip: frames
    uint8 (T, H, W, 3), landmarks_px (T, 468, 3) pixels, mono audio aligned to frame 0;
    ``valid`` bool (T,) masks padded frames (mouth and audio: the zeros after a short clip's
    end are padding, not silence), which read NaN."""
    dark = mouth_darkness(frames, landmarks_px)
    inner = mouth_signal(landmarks_px)
    env = speech_envelope(audio, sample_rate, fps, len(frames))
    if valid is not None:  # padding after the last source frame: no video, no audio
        v = np.asarray(valid, bool)
        dark[~v], inner[~v], env[~v] = np.nan, np.nan, np.nan
    return dark, inner, env


def clip_sync(
    frames: np.ndarray,
    landmarks_px: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    max_offset: int = 15,
    valid: np.ndarray | None = None,
) -> SyncEstimate:
    """Sync of one decoded clip (arguments as :func:`sync_signals`)."""
    dark, inner, env = sync_signals(frames, landmarks_px, audio, sample_rate, fps, valid)
    return estimate_offset([dark, inner], env, max_offset)


@register
class CorrelationSync(ColumnExtractor):
    """Offset + lag-0 in-sync distance/confidence from mouth darkness/aperture vs speech band."""

    name = "correlation"
    modality = "sync"
    version = "4"  # 3: the signals' curves weighted by their confidence; 4: the whole-clip
    # window needs MIN_FALLBACK_PAIRS (2026-12-07; the same values on the 150-frame grid)
    columns = SYNC_FIELDS
    column_name = "sync__{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = landmarks_from(clip, context, "correlation sync needs")
        if not clip.has_audio:
            return self.no_output(clip)
        est = clip_sync(
            clip.frames,
            lm,
            clip.audio,
            clip.sample_rate,
            clip.fps,
            int(self.params.get("sync_max_offset", 15)),
            clip.meta.get("valid_frames"),
        )
        context["sync_detail"] = est.detail()
        return est.triple()

    def options(self) -> dict[str, Any]:
        return {
            "max_offset": int(self.params.get("sync_max_offset", 15)),
            "signals": ["mouth_darkness", "inner_lip_aperture"],
            "band_hz": list(BAND_HZ),
            "window": WINDOW,
            "hop": HOP,
            "combine": COMBINE,
            "scores_at": "lag 0",
        }


def offset_agreement(predicted: np.ndarray, injected: np.ndarray) -> dict[str, float]:
    """Exact-match rate, MAE (frames), within-1 rate of predicted vs injected offsets (NaN out)."""
    p, t = np.asarray(predicted, np.float64), np.asarray(injected, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    if not ok.any():
        return {
            "n": 0,
            "exact_match": float("nan"),
            "within_1": float("nan"),
            "mae_frames": float("nan"),
        }
    d = np.abs(p[ok] - t[ok])
    return {
        "n": int(ok.sum()),
        "exact_match": float(np.mean(d == 0)),
        "within_1": float(np.mean(d <= 1)),
        "mae_frames": float(d.mean()),
    }
