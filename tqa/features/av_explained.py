"""How much of the mouth's motion the audio explains: cross-validated ridge R2 per A/V lag.

Weight-free and fitted *within one clip* (no cross-clip learning, nothing tuned to a speaker):

* **mouth trajectory** (:func:`mouth_trajectory`, (T, K)): Face Mesh mouth points after a
  per-frame 2-D similarity alignment (Procrustes; Gower 1975) of rigid anchor points (eye
  corners, nose bridge) to the clip's median anchor shape, so head translation, roll and
  scale do not read as mouth motion; :data:`MEASURES`: inner and outer aperture, outer and
  inner width, upper and lower lip heights, lip-corner height, and the darkness of the
  mouth centre (``sync_correlation.mouth_darkness``: the visible oral cavity). The
  regression predicts one of :data:`MOUTH_SETS`: the mouth's ``opening`` (both apertures
  and the darkness; the default) or its whole ``shape`` (all eight);
* **audio** (:func:`audio_bands`, (T, B)): log10 power of ``B`` HTK-mel bands from a
  1024-sample Hann window *centred* on each grid time k / fps (the filterbank and framing of
  :mod:`~tqa.features.extractors.audio_spectral`), stacked with +-``context`` neighbouring
  frames (:func:`context_stack`), so the natural lead of visible over audible speech (tens of
  ms; Chandrasekaran et al. 2009, Schwartz & Savariaux 2014) is absorbed by the regression
  at lag 0 rather than pushed into the offset;
* both detrended by a centred 1 s moving mean (speech mouth motion and the acoustic envelope
  covary at 2-7 Hz, Chandrasekaran et al. 2009; slower drifts are pose, not speech) and z-scored
  per clip;
* for each lag d in [-D, D]: ridge regression mouth(t) ~ audio(t + d +- context), scored by
  blocked cross-validation (``n_blocks`` (5) contiguous blocks, training frames within
  ``context + 1`` frames of the test block left out: h-block CV, Burman, Chow & Nolan 1994),
  R2(d) = 1 - PRESS / total sum of squares about the training means, pooled over the K columns
  (Allen 1974 PRESS; "Q2"): can be negative when the audio predicts nothing. Every lag is
  scored on the same frames (those whose audio exists at every lag).

Outputs (:class:`AVExplained`): ``explained`` = R2(0); ``offset`` = the centre of the top of the
curve (:func:`peak_offset`; frames, > 0 = audio delayed, the convention of
:mod:`~tqa.features.extractors.sync_correlation`); ``margin`` = R2(0) minus
the median of R2 over lags (confidence that lag 0 is the right alignment); ``residual``
(T,) = the lag-0 cross-validated squared prediction error per frame, mean over the K columns
(z units; NaN where not predicted).

Settings (:class:`Settings`) were chosen by leave-one-recording-out cross-validation over
:data:`CANDIDATES` on the 5 real recordings of ``../shared/realclips`` (``benchmarks/
av_explained.py``; one-standard-error rule towards fewer coefficients and more shrinkage,
Hastie et al. 2009 sec. 7.10): every fold and all five chose the :data:`DEFAULT` (mouth
opening, 8 bands, +-1 frame, alpha = 10 per training frame), and each recording's reported
figures come from the choice made without it. The a-priori candidate (whole mouth shape, 16
bands, +-2 frames, alpha 1) read offsets of +-12 frames on two in-sync recordings: at 256 px
the mouth width and lip heights move with expression more than with speech (the candidate
list was drawn up after that failure: the CV guards the choice, not the list). Blocks (5), lags
(``features.sync_max_offset``) and the 1 s detrending were fixed a priori.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from tqa.features.extractors.audio_spectral import N_FFT, frame_audio, mel_filterbank
from tqa.features.extractors.sync_correlation import INNER_LIP_PAIRS, mouth_darkness

#: Rigid Face Mesh anchors of the similarity alignment: eye corners, nose bridge and dorsum.
ANCHORS: tuple[int, ...] = (33, 133, 263, 362, 168, 6, 197, 195)
#: Outer lip top / bottom, outer and inner corners, inner lip top / bottom.
OUTER_UP, OUTER_LOW, CORNER_L, CORNER_R = 0, 17, 61, 291
INNER_L, INNER_R, INNER_UP, INNER_LOW = 78, 308, 13, 14
#: Mouth measures of :func:`mouth_trajectory` (``darkness`` needs the frames).
MEASURES: tuple[str, ...] = (
    "inner_aperture", "outer_aperture", "outer_width", "inner_width", "upper_lip",
    "lower_lip", "corner_height", "darkness",
)  # fmt: skip
#: Named sets of measures the regression predicts: the opening of the mouth (aperture and
#: the dark oral cavity) or its whole shape.
MOUTH_SETS: dict[str, tuple[str, ...]] = {
    "opening": ("inner_aperture", "outer_aperture", "darkness"),
    "shape": MEASURES,
}
#: Moving-mean window (frames, 1 s) of the detrending; fewest frames the curve is scored on
#: (fewer -> the lag range shrinks, then NaN).
DETREND, MIN_FRAMES = 25, 50


@dataclass(frozen=True)
class Settings:
    """The measure's options: mouth set (:data:`MOUTH_SETS`), mel bands, context (+- frames),
    ridge alpha per training frame, CV blocks, lag range D (frames)."""

    mouth: str = "opening"
    n_bands: int = 8
    context: int = 1
    alpha: float = 10.0
    n_blocks: int = 5
    max_offset: int = 15

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: The candidates the leave-one-recording-out selection of ``benchmarks/av_explained.py``
#: chooses among (mouth set x bands x context x alpha per frame; blocks and lags fixed).
CANDIDATES: tuple[Settings, ...] = tuple(
    Settings(m, b, c, a)
    for m in MOUTH_SETS
    for b in (8, 16)
    for c in (1, 2)
    for a in (1.0, 3.0, 10.0)
)
#: The shipped settings: chosen on all 5 recordings, and in each of the 5 leave-one-out folds.
DEFAULT = Settings()


@dataclass(frozen=True)
class AVExplained:
    """Result of :func:`av_explained` (NaN scalars when undefined).

    explained: R2 at lag 0; offset: centre of the top of R2 (frames, > 0 = audio late);
    margin: R2(0) - median R2; lags, curve: (2 D + 1,) lags and R2; residual: (T,)
    lag-0 CV squared error per frame (z units); n_frames: frames the curve was scored on.
    """

    explained: float
    offset: float
    margin: float
    lags: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    residual: np.ndarray = field(repr=False)
    n_frames: int = 0


def align_mouth(landmarks: np.ndarray) -> np.ndarray:
    """(T, 468, 3) landmarks with each frame's x, y mapped by the similarity that best fits
    its :data:`ANCHORS` to the clip's median anchor shape (unit RMS radius; 2-D Procrustes
    in complex form, Gower 1975); z scaled by the same factor. NaN rows stay NaN."""
    p = np.asarray(landmarks, np.float64)
    z = p[..., 0] + 1j * p[..., 1]
    a = z[:, list(ANCHORS)]
    mu = a.mean(axis=1, keepdims=True)
    ac = a - mu
    ok = np.all(np.isfinite(ac), axis=1)
    out = np.full(p.shape, np.nan)
    if not ok.any():
        return out
    ref = np.median(ac[ok].real, axis=0) + 1j * np.median(ac[ok].imag, axis=0)
    ref = ref / np.sqrt(np.mean(np.abs(ref) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (np.conj(ac) * ref).sum(axis=1) / (np.abs(ac) ** 2).sum(axis=1)  # z' = s (z - mu)
    q = (z - mu) * s[:, None]
    out[..., 0], out[..., 1] = q.real, q.imag
    out[..., 2] = p[..., 2] * np.abs(s)[:, None]
    return out


def mouth_trajectory(
    landmarks: np.ndarray, frames: np.ndarray | None = None, labels: tuple[str, ...] | None = None
) -> np.ndarray:
    """float64 (T, len(labels)) mouth measures of :data:`MEASURES` in anchor-normalised units
    (``darkness``: 1 - luma / 255, needs frames uint8 (T, H, W, 3)); NaN rows where no face.
    ``labels`` None: every measure the inputs allow."""
    if labels is None:
        labels = tuple(k for k in MEASURES if frames is not None or k != "darkness")
    q = align_mouth(landmarks)
    d = lambda a, b: np.linalg.norm(q[:, a, :2] - q[:, b, :2], axis=1)  # noqa: E731
    y = lambda i: q[:, i, 1]  # noqa: E731 - image y grows downwards
    make = {
        "inner_aperture": lambda: np.mean([d(a, b) for a, b in INNER_LIP_PAIRS], axis=0),
        "outer_aperture": lambda: d(OUTER_UP, OUTER_LOW),
        "outer_width": lambda: d(CORNER_L, CORNER_R),
        "inner_width": lambda: d(INNER_L, INNER_R),
        "upper_lip": lambda: d(OUTER_UP, INNER_UP),
        "lower_lip": lambda: d(INNER_LOW, OUTER_LOW),
        "corner_height": lambda: (y(INNER_UP) + y(INNER_LOW) - y(CORNER_L) - y(CORNER_R)) / 2,
        "darkness": lambda: mouth_darkness(frames, landmarks),
    }
    if "darkness" in labels and frames is None:
        raise ValueError("the darkness measure needs the frames")
    return np.stack([make[k]() for k in labels], axis=1)


def audio_bands(
    audio: np.ndarray, sample_rate: int, fps: float, n_frames: int, n_bands: int = 8
) -> np.ndarray:
    """float64 (T, n_bands) log10 mel-band power in a Hann window centred on k / fps, floored
    60 dB under the clip's mean band power; all NaN for empty, non-finite or silent audio."""
    x = np.asarray(audio, np.float32).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)) or not np.any(x != 0):
        return np.full((n_frames, n_bands), np.nan)
    hop = int(round(sample_rate / fps))
    # frame_audio centres window k on (k + 1/2) hop: half a hop of zeros in front centres it on k
    x = np.concatenate([np.zeros(hop // 2, np.float32), x])
    win = frame_audio(x, n_frames, hop) * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(win, axis=1)) ** 2
    bands = power.astype(np.float64) @ mel_filterbank(n_bands, N_FFT, sample_rate).T
    return np.log10(bands + 1e-6 * max(float(bands.mean()), 1e-30))


def detrend(x: np.ndarray, window: int = DETREND) -> np.ndarray:
    """(T, K) minus its centred moving mean over ``window`` frames (NaN-aware: the mean of
    the finite values in the window); NaN stays NaN."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    h = window // 2
    pad = lambda a: np.pad(a, ((h + 1, h), (0, 0)))  # noqa: E731
    cs, cn = np.cumsum(pad(v), axis=0), np.cumsum(pad(ok.astype(float)), axis=0)
    s, n = cs[window:] - cs[:-window], cn[window:] - cn[:-window]
    return np.where(ok, x - s / np.maximum(n, 1), np.nan)


def zscore(x: np.ndarray) -> np.ndarray:
    """(T, K) columns standardised over their finite rows (a constant column -> 0)."""
    with warnings.catch_warnings():  # an all-NaN column (silence, no face) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    return (x - mu) / np.where(sd > 1e-12, sd, np.inf)


def context_stack(x: np.ndarray, width: int) -> np.ndarray:
    """(T, B (2 width + 1)): row t holds x[t - width] ... x[t + width]; NaN out of range."""
    t, b = x.shape
    pad = np.full((t + 2 * width, b), np.nan)
    pad[width : width + t] = x
    return np.concatenate([pad[j : j + t] for j in range(2 * width + 1)], axis=1)


def block_folds(n: int, n_blocks: int, gap: int) -> list:
    """(train, test) index arrays of ``n`` consecutive samples cut into ``n_blocks`` contiguous
    test blocks; training leaves out ``gap`` samples on each side of the test block."""
    edges = np.linspace(0, n, n_blocks + 1).round().astype(int)
    idx = np.arange(n)
    return [
        (idx[(idx < a - gap) | (idx >= b + gap)], idx[a:b])
        for a, b in zip(edges[:-1], edges[1:])
        if b > a
    ]


def cv_ridge(x: np.ndarray, y: np.ndarray, folds: list, alpha_per_frame: float) -> np.ndarray:
    """(n, K) held-out ridge predictions of y (n, K) from x (n, P): each fold fitted on its
    training rows (centred on their means; alpha = alpha_per_frame x training rows)."""
    pred = np.zeros_like(y)
    eye = np.eye(x.shape[1])
    for tr, te in folds:
        mx, my = x[tr].mean(axis=0), y[tr].mean(axis=0)
        xt = x[tr] - mx
        w = np.linalg.solve(xt.T @ xt + alpha_per_frame * len(tr) * eye, xt.T @ (y[tr] - my))
        pred[te] = (x[te] - mx) @ w + my
    return pred


def _null_baseline(y: np.ndarray, folds: list) -> np.ndarray:
    """(n, K) the training-mean prediction of each fold (the R2 = 0 reference)."""
    base = np.zeros_like(y)
    for tr, te in folds:
        base[te] = y[tr].mean(axis=0)
    return base


def peak_offset(lags: np.ndarray, curve: np.ndarray) -> float:
    """Centre of the curve's top: the lags of the contiguous run around the maximum whose R2
    is above half-way between the median and the maximum, weighted by their height above that
    level (frames). A context of +-c frames makes R2 flat over 2 c + 1 lags around the true
    one, so the arg-max alone would wander over that plateau. NaN for an all-NaN curve."""
    if not np.isfinite(curve).any():
        return float("nan")
    c = np.where(np.isfinite(curve), curve, -np.inf)
    k = int(np.argmax(c))
    thr = (c[k] + float(np.nanmedian(curve))) / 2
    lo, hi = k, k
    while lo > 0 and c[lo - 1] > thr:
        lo -= 1
    while hi < len(c) - 1 and c[hi + 1] > thr:
        hi += 1
    w = c[lo : hi + 1] - thr
    if not np.sum(w) > 0:
        return float(lags[k])
    return float(np.sum(w * lags[lo : hi + 1]) / np.sum(w))


def _support(m_ok: np.ndarray, a_ok: np.ndarray, max_offset: int) -> tuple[int, np.ndarray]:
    """(D, frames t) with the largest D <= max_offset for which at least :data:`MIN_FRAMES`
    frames have a mouth and audio at every lag in [-D, D]; (-1, empty) when none."""
    t = np.arange(len(m_ok))
    for d_max in range(max_offset, -1, -1):
        ok = m_ok.copy()
        for d in range(-d_max, d_max + 1):
            ok &= a_ok[np.clip(t + d, 0, len(t) - 1)] & (t + d >= 0) & (t + d < len(t))
        if ok.sum() >= MIN_FRAMES:
            return d_max, t[ok]
    return -1, t[:0]


def _r2(y: np.ndarray, pred: np.ndarray, base: np.ndarray) -> float:
    den = float(np.sum((y - base) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / den if den > 1e-12 else float("nan")


def av_explained(
    mouth: np.ndarray,
    bands: np.ndarray,
    settings: Settings = DEFAULT,
    valid: np.ndarray | None = None,
) -> AVExplained:
    """R2 curve over lags of mouth (T, K) predicted from audio bands (T, B); see the module
    docstring. ``valid`` bool (T,) masks padded frames (no video, no audio there)."""
    st, m, a = settings, np.array(mouth, np.float64), np.array(bands, np.float64)
    if valid is not None:
        m[~np.asarray(valid, bool)], a[~np.asarray(valid, bool)] = np.nan, np.nan
    m, a = zscore(detrend(m)), zscore(detrend(a))
    ctx = context_stack(a, st.context)
    m_ok, a_ok = np.all(np.isfinite(m), axis=1), np.all(np.isfinite(ctx), axis=1)
    residual = np.full(len(m), np.nan)
    d_max, sup = _support(m_ok, a_ok, st.max_offset)
    if d_max < 0 or not np.isfinite(a).any():
        lags, nan = np.arange(-st.max_offset, st.max_offset + 1), float("nan")
        return AVExplained(nan, nan, nan, lags, np.full(len(lags), nan), residual, 0)
    lags, y = np.arange(-d_max, d_max + 1), m[sup]
    folds = block_folds(len(sup), st.n_blocks, st.context + 1)
    base = _null_baseline(y, folds)
    curve = np.array([_r2(y, cv_ridge(ctx[sup + d], y, folds, st.alpha), base) for d in lags])
    full = np.flatnonzero(m_ok & a_ok)  # lag 0 alone: every frame with a mouth and audio
    f0 = block_folds(len(full), st.n_blocks, st.context + 1)
    residual[full] = np.mean((m[full] - cv_ridge(ctx[full], m[full], f0, st.alpha)) ** 2, 1)
    r0 = float(curve[d_max])
    return AVExplained(
        explained=r0,
        offset=peak_offset(lags, curve),
        margin=r0 - float(np.median(curve)),
        lags=lags,
        curve=curve,
        residual=residual,
        n_frames=len(sup),
    )


def clip_av_explained(
    landmarks_px: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    frames: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    settings: Settings = DEFAULT,
) -> AVExplained:
    """:func:`av_explained` of one decoded clip: landmarks_px (T, 468, 3) pixels, mono audio
    aligned to frame 0, frames uint8 (T, H, W, 3) (the darkness measure; without them it is
    left out) and ``valid`` bool (T,) (padding after a short clip's end)."""
    labels = tuple(k for k in MOUTH_SETS[settings.mouth] if frames is not None or k != "darkness")
    mouth = mouth_trajectory(landmarks_px, frames, labels)
    bands = audio_bands(audio, sample_rate, fps, len(mouth), settings.n_bands)
    return av_explained(mouth, bands, settings, valid)
