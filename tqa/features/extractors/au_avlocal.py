"""Local lip sync: where in the clip the mouth stops following the audio (``au``, weight-free).

The ``correlation`` sync extractor and ``avsync`` read one offset and one score per clip, so
a desynchronised stretch of 1-2 s, or a mouth that freezes while the speech runs on, moves
them little (issue 26: the ``seg_desync`` and ``mouth_freeze`` defects, which carry much of
the lip_sync label). This extractor reads the same two mouth signals and speech envelope as
:mod:`~tqa.features.extractors.sync_correlation` (mouth darkness and inner-lip aperture;
800-2500 Hz log energy) in short windows, 3 float32 columns ``au__avlocal_<label>``:

* ``deficit``: per 1 s window (:data:`WINDOW` frames, hop :data:`HOP`), the correlation of
  mouth and envelope at the window's best lag minus at lag 0 (both signals averaged): ~0 in
  sync, large where the mouth follows shifted audio; per frame the largest of the windows
  that cover it;
* ``offset_dev``: per window |best lag - the clip's offset| (frames; the clip's offset is the
  best lag of all windows averaged, as the sync extractor's): where the clip's own lag
  changes; per frame the largest of the covering windows;
* ``still_voiced``: on frames in the louder half of the clip's speech envelope, 1 where the
  inner-lip aperture moves slower than :data:`STILL_RATIO` x its median speed over those
  frames (a mouth held still while the voice runs on), else 0; NaN on the quieter half.

Frames no window covers (the first and last ``features.sync_max_offset`` frames), frames
without a face and padding are NaN; no audio (or silence): NaN throughout. The window (1 s,
hop 0.2 s) and :data:`STILL_RATIO` (0.25) were fixed before any benchmark run. What it
cannot see: a shift shorter than about half a window, and a frozen mouth during silence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.features.extractors.base import (
    Clip,
    ColumnExtractor,
    landmarks_from,
    register,
    valid_frames,
)
from tqa.features.extractors.sync_correlation import (
    lag_correlation,
    mouth_darkness,
    mouth_signal,
    speech_envelope,
)

#: Local correlation windows (grid frames): 1 s, hop 0.2 s at 25 fps.
WINDOW, HOP = 25, 5
#: A voiced frame's mouth is "still" below this share of the median voiced aperture speed.
STILL_RATIO = 0.25


def local_sync(
    mouths: list[np.ndarray], envelope: np.ndarray, max_offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """(T,) ``deficit`` and ``offset_dev`` of the module docstring from (T,) mouth signals
    (averaged per window and lag, NaN-aware) and the (T,) envelope; NaN where no window with
    a full curve covers a frame."""
    t = len(envelope)
    curves = []
    for m in mouths:
        lags, c = lag_correlation(m, envelope, max_offset, WINDOW, HOP)
        if c.shape[0] > 1 or t - 2 * max_offset >= WINDOW:
            curves.append(c)
    deficit, dev = np.full(t, np.nan), np.full(t, np.nan)
    if not curves:
        return deficit, dev
    with np.errstate(invalid="ignore"):
        stack = np.stack(curves)  # (signals, windows, lags)
        n_ok = np.isfinite(stack).sum(axis=0)
        c = np.where(n_ok > 0, np.nansum(stack, axis=0) / np.maximum(n_ok, 1), np.nan)
    good = np.all(np.isfinite(c), axis=1)
    if not good.any():
        return deficit, dev
    lags = np.arange(-max_offset, max_offset + 1)
    clip_offset = lags[int(np.argmax(c[good].mean(axis=0)))]
    starts = range(max_offset, t - max_offset - WINDOW + 1, HOP)
    for s, row, ok in zip(starts, c, good, strict=True):
        if not ok:
            continue
        best = int(np.argmax(row))
        d_w, o_w = float(row[best] - row[max_offset]), float(abs(lags[best] - clip_offset))
        span = slice(s, s + WINDOW)
        deficit[span] = np.fmax(deficit[span], d_w)
        dev[span] = np.fmax(dev[span], o_w)
    return deficit, dev


def still_voiced(aperture: np.ndarray, envelope: np.ndarray, fps: float) -> np.ndarray:
    """(T,) ``still_voiced`` of the module docstring: 1 / 0 on voiced frames, NaN elsewhere."""
    a = np.asarray(aperture, np.float64)
    speed = np.full(len(a), np.nan)
    if len(a) >= 3:
        speed[1:-1] = np.abs(a[2:] - a[:-2]) / 2.0 * fps
    env = np.asarray(envelope, np.float64)
    out = np.full(len(a), np.nan)
    ok = np.isfinite(env) & np.isfinite(speed)
    if ok.sum() < 3:
        return out
    voiced = ok & (env >= np.median(env[ok]))
    ref = float(np.median(speed[voiced])) if voiced.any() else 0.0
    if not ref > 0:
        return out
    out[voiced] = (speed[voiced] < STILL_RATIO * ref).astype(np.float64)
    return out


@register
class LocalSyncAU(ColumnExtractor):
    """Windowed lip sync (deficit at lag 0, drift of the best lag) and a still mouth while
    the voice runs on."""

    name = "avlocal"
    modality = "au"
    columns = ("deficit", "offset_dev", "still_voiced")
    column_name = "au__avlocal_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = landmarks_from(clip, context, "avlocal needs", " (features.landmarks runs first)")
        if not clip.has_audio:
            return self.no_output(clip)
        lm = np.asarray(lm, np.float64)
        valid = valid_frames(clip)
        dark = mouth_darkness(clip.frames, lm)
        inner = mouth_signal(lm)
        env = speech_envelope(clip.audio, clip.sample_rate, clip.fps, clip.n_frames)
        dark[~valid], inner[~valid], env[~valid] = np.nan, np.nan, np.nan
        deficit, dev = local_sync([dark, inner], env, int(self.params.get("sync_max_offset", 15)))
        out = np.c_[deficit, dev, still_voiced(inner, env, clip.fps)].astype(np.float32)
        face = np.all(np.isfinite(lm[:, :, :2]), axis=(1, 2))
        out[~(face & valid)] = np.nan
        return out

    def options(self) -> dict[str, Any]:
        return {
            "max_offset": int(self.params.get("sync_max_offset", 15)),
            "window": WINDOW,
            "hop": HOP,
            "still_ratio": STILL_RATIO,
            "signals": ["mouth_darkness", "inner_lip_aperture"],
        }
