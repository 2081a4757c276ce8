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
* ``still_voiced``: how still the mouth is while the voice runs on, in [0, 1]. Per 1 s
  window (the same windows, across the whole clip) the ratio of the inner-lip aperture's
  std to the speech envelope's std (mouth motion per unit of speech modulation), divided
  by the median ratio of the clip's *voiced* windows (mean envelope at or above the clip's
  median: speech, not pauses); per frame 1 - min(1, the smallest ratio of the voiced
  windows that cover it): ~0 where the mouth moves as much as usual for the speech it
  hears, 1 where it holds still while the speech modulates (a frozen mouth); NaN on frames
  no voiced window covers.

Frames no window covers (for ``deficit`` and ``offset_dev`` the first and last
``features.sync_max_offset`` frames), frames without a face and padding are NaN; no audio
(or silence): NaN throughout. The window (1 s, hop 0.2 s) was fixed before any benchmark
run. ``still_voiced`` version 2 (issue 26) replaced a per-frame test (aperture speed under
0.25 x its voiced median: on the sample corpus Pearson 0.34 of an extra-trees model on the
detector columns with the frozen-mouth impairment, grouped 5-fold, and no single column
above 0.44); among 10 variants (window 0.6 / 1 / 1.5 s, median-smoothed aperture, stricter
or looser "voiced" rules, with or without dividing by the envelope's std) a grouped 5-fold
choice on the corpus's ``mouth_freeze_dur_s`` (each fold's training identities pick, its
test identities measure) picked this one in 5 of 5 folds: held-out Pearson of its clip
minimum with the impairment -0.60 (per fold -0.71 to -0.39), the old column's best 0.44.
What it cannot see: a shift shorter than about half a window, a frozen mouth during
silence, and a mouth frozen through most of the speech (the clip's median is then still).
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
#: ``still_voiced``: a window is read when at least this share of its frames has both a
#: face and speech energy (the sync extractor's ``MIN_VALID`` is 0.6 for its longer windows).
STILL_MIN_VALID = 0.8


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
    """(T,) ``still_voiced`` of the module docstring in [0, 1]; NaN where no voiced window
    covers a frame. ``aperture``: (T,) inner-lip aperture / inter-ocular distance;
    ``envelope``: (T,) speech-band log energy (dB); ``fps`` unused (windows are in frames)."""
    a = np.asarray(aperture, np.float64)
    env = np.asarray(envelope, np.float64)
    t = min(len(a), len(env))
    out = np.full(len(a), np.nan)
    finite = np.isfinite(env[:t])
    if finite.sum() < WINDOW:
        return out
    loud = float(np.median(env[:t][finite]))
    need = int(np.ceil(STILL_MIN_VALID * WINDOW))
    starts, ratios = [], []
    for s in range(0, t - WINDOW + 1, HOP):
        aw, ew = a[s : s + WINDOW], env[s : s + WINDOW]
        ok = np.isfinite(aw) & np.isfinite(ew)
        if ok.sum() < need or float(ew[ok].mean()) < loud:
            continue  # too few frames, or a pause: not a voiced window
        spread = float(ew[ok].std())
        if spread > 0:
            starts.append(s)
            ratios.append(float(aw[ok].std()) / spread)
    if len(ratios) < 2:
        return out
    ref = float(np.median(ratios))
    if not ref > 0:
        return out
    low = np.full(len(a), np.inf)
    for s, r in zip(starts, ratios, strict=True):
        low[s : s + WINDOW] = np.minimum(low[s : s + WINDOW], r / ref)
    covered = np.isfinite(low)
    out[covered] = 1.0 - np.minimum(low[covered], 1.0)
    return out


@register
class LocalSyncAU(ColumnExtractor):
    """Windowed lip sync (deficit at lag 0, drift of the best lag) and a still mouth while
    the voice runs on."""

    name = "avlocal"
    modality = "au"
    version = "2"  # 2: still_voiced from windowed motion per unit of speech modulation
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
            "still_min_valid": STILL_MIN_VALID,
            "signals": ["mouth_darkness", "inner_lip_aperture"],
        }
