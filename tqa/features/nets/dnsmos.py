"""DNSMOS (Microsoft) from the ``speechmos`` wheel: speech quality models trained on human ratings.

``speechmos==0.0.1.1`` (MIT, Microsoft) ships two ONNX graphs, loaded from the installed
wheel (offline, never downloaded):

* ``sig_bak_ovr.onnx`` -- **DNSMOS P.835** (Reddy, Gopal & Cutler, ICASSP 2022,
  doi:10.1109/ICASSP43922.2022.9746108): SIG (speech signal), BAK (background noise), OVRL
  (overall), trained on human ITU-T P.835 ratings;
* ``model_v8.onnx`` -- **DNSMOS P.808** (Reddy, Gopal & Cutler, ICASSP 2021, arXiv:2010.15258):
  one MOS trained on human ITU-T P.808 (crowdsourced ACR) ratings.

All on the MOS scale 1-5, higher = better. Both graphs take exactly 9.01 s of 16 kHz audio;
shorter audio is *tiled* (repeated cyclically) to that length, as ``speechmos.dnsmos.run``
does. This module does not import ``speechmos.dnsmos`` (it imports librosa, whose numba JIT
costs ~20 s per fresh environment): it locates the ONNX files and computes the P.808 log-mel
front end in numpy (equal to librosa's to ~1e-6; tests compare with ``speechmos.dnsmos.run``
when librosa is installed). The P.835 calibration polynomials are speechmos's
``DNSMOS.get_polyfit_val`` (MIT). Sessions use one onnxruntime thread (process parallelism).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
#: DNSMOS input length in seconds / samples (fixed by the ONNX graphs).
INPUT_LENGTH_S = 9.01
P835_SAMPLES = int(INPUT_LENGTH_S * SAMPLE_RATE)  # 144160
P808_SAMPLES = P835_SAMPLES - 160  # 144000 -> 900 mel frames

# P.835 calibration polynomials (speechmos.dnsmos.DNSMOS.get_polyfit_val, non-personalised).
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])

# Mel front end of the P.808 model (speechmos.dnsmos.DNSMOS.audio_melspec defaults).
_N_FFT = 321
_HOP = 160
_N_MELS = 120


def speechmos_model_dir() -> Path:
    """Folder of the DNSMOS ONNX files inside the installed ``speechmos`` wheel (no import)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("speechmos is not installed (pip install speechmos==0.0.1.1)")
    return Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models"


@functools.lru_cache(maxsize=4)
def _dnsmos_sessions(threads: int = 1):
    """(P.835 session, P.808 session), created once per process with ``threads`` intra-op threads.

    Sets ``ORT_DISABLE_TELEMETRY=1`` (unless already set) before onnxruntime is first imported:
    onnxruntime 1.32 otherwise creates ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``
    (``deviceid``, ``onnxruntime.db``, its 1DS telemetry store) on the first session.  This only
    works if nothing imported onnxruntime earlier in the process.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    # local: ORT_DISABLE_TELEMETRY must be set before onnxruntime is first imported
    import onnxruntime as ort  # noqa: PLC0415

    d = speechmos_model_dir()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    prov = ["CPUExecutionProvider"]
    p835 = ort.InferenceSession(str(d / "sig_bak_ovr.onnx"), so, providers=prov)
    p808 = ort.InferenceSession(str(d / "model_v8.onnx"), so, providers=prov)
    return p835, p808


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa ``hz_to_mel(htk=False)``)."""
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels
    )


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel` (librosa ``mel_to_hz(htk=False)``)."""
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(120, 161) float32 Slaney mel filterbank.

    Equal to ``librosa.filters.mel(sr=16000, n_fft=321, n_mels=120)``."""
    fftfreqs = np.fft.rfftfreq(_N_FFT, d=1.0 / SAMPLE_RATE)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2.0), _N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((_N_MELS, len(fftfreqs)), dtype=np.float32)
    for i in range(_N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : _N_MELS + 2] - mel_f[:_N_MELS])
    weights *= enorm[:, None]
    return weights


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    """Periodic Hann window of length 321 (scipy ``get_window('hann', 321, fftbins=True)``)."""
    n = np.arange(_N_FFT)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / _N_FFT)


def p808_melspec(segment: np.ndarray) -> np.ndarray:
    """P.808 model input (n_frames, 120) float32 of a 16 kHz float32 segment.

    Same as ``speechmos.dnsmos.DNSMOS.audio_melspec``: centred STFT (zero padding of 160
    samples each side, n_fft=321, hop=160, periodic Hann), power spectrum, Slaney mel
    filterbank, ``(power_to_db(S, ref=max, amin=1e-10, top_db=80) + 40) / 40``, transposed.
    For the 144000-sample DNSMOS segment this gives 900 frames.
    """
    y = np.asarray(segment, dtype=np.float32)
    pad = _N_FFT // 2
    yp = np.pad(y, (pad, pad))
    n_frames = 1 + (len(yp) - _N_FFT) // _HOP
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, _N_FFT), strides=(yp.strides[0] * _HOP, yp.strides[0]), writeable=False
    )
    spec = np.fft.rfft(frames * _hann(), axis=1).astype(np.complex64)  # (T, 161)
    power = spec.real**2 + spec.imag**2
    mel = power @ mel_filterbank().T  # (T, 120) float32
    log_spec = 10.0 * np.log10(np.maximum(1e-10, mel))
    log_spec -= 10.0 * np.log10(np.maximum(1e-10, mel.max()))
    log_spec = np.maximum(log_spec, log_spec.max() - 80.0)
    return ((log_spec + 40.0) / 40.0).astype(np.float32)


def _prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"DNSMOS needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    if a.size == 0:
        raise ValueError("empty audio")
    return np.clip(a, -1.0, 1.0)


def _tile(segment: np.ndarray, n: int) -> np.ndarray:
    """First ``n`` samples of the cyclic repetition of ``segment`` (= speechmos's doubling loop)."""
    return segment if segment.size >= n else np.resize(segment, n)


def _score_window(window: np.ndarray, p835: bool = True, threads: int = 1) -> np.ndarray:
    """[sig, bak, ovrl, p808] of one 144160-sample window (P.835 columns NaN if not ``p835``)."""
    s835, s808 = _dnsmos_sessions(threads)
    w = window[:P835_SAMPLES].astype(np.float32)
    mel = p808_melspec(w[:-160])[None]
    p808 = float(s808.run(None, {"input_1": mel})[0][0][0])
    if not p835:
        return np.array([np.nan, np.nan, np.nan, p808])
    sig, bak, ovr = s835.run(None, {"input_1": w[None]})[0][0]
    return np.array([_POLY_SIG(sig), _POLY_BAK(bak), _POLY_OVR(ovr), p808], dtype=np.float64)


def dnsmos_scores(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    n_windows: int | None = 1,
    threads: int = 1,
    valid_samples: int | None = None,
) -> dict[str, float]:
    """Clip-level DNSMOS: ``{"sig", "bak", "ovrl", "p808"}`` (MOS scale 1-5, higher = better).

    ``audio`` is (N,) float 16 kHz mono in [-1, 1] (values outside are clipped).  As in
    ``speechmos.dnsmos.run``: the audio is tiled to >= 9.01 s (cyclic repetition), windows of
    9.01 s start every 1 s, and the per-window P.835 (polynomial-calibrated) and P.808 scores
    are averaged.  ``n_windows=None`` uses all those windows (identical to
    ``speechmos.dnsmos.run``: 3 windows for a 6 s clip, ~1.2 s on one core); the default
    ``n_windows=1`` uses only the first window (the clip, then its start repeated up to 9.01 s),
    ~0.4 s on one core.  ``threads`` sets onnxruntime's intra-op threads (1 by default).
    ``valid_samples``: if given, only ``audio[:valid_samples]`` is scored (drop the decoder's
    zero padding of short clips, so that the tiling repeats speech, not silence).
    """
    a = _prepare(audio, sample_rate)
    if valid_samples is not None:
        a = a[: max(1, int(valid_samples))]
    fs = SAMPLE_RATE
    while len(a) < P835_SAMPLES:  # speechmos's tiling (doubling)
        a = np.append(a, a)
    num_hops = int(np.floor(len(a) / fs) - INPUT_LENGTH_S) + 1
    if n_windows is not None:
        num_hops = max(1, min(num_hops, int(n_windows)))
    rows = []
    for idx in range(num_hops):
        seg = a[idx * fs : int((idx + INPUT_LENGTH_S) * fs)]
        if len(seg) < P835_SAMPLES:
            continue
        rows.append(_score_window(seg, True, threads))
    m = np.mean(rows, axis=0)
    return {"sig": float(m[0]), "bak": float(m[1]), "ovrl": float(m[2]), "p808": float(m[3])}


def dnsmos_windows(
    n_samples: int, sample_rate: int = SAMPLE_RATE, window_s: float = 3.0, hop_s: float = 1.5
) -> list[tuple[int, int]]:
    """(start, stop) sample ranges of the sliding windows used by :func:`dnsmos_frames`.

    Windows start at 0, hop_s, 2 hop_s, ... while they fit in the clip; if the last one does not
    reach the end, one more window ending at the clip end is added.  A clip shorter than
    ``window_s`` gives one window covering it.
    """
    w = int(round(window_s * sample_rate))
    h = max(1, int(round(hop_s * sample_rate)))
    if n_samples <= w:
        return [(0, n_samples)]
    starts = list(range(0, n_samples - w + 1, h))
    if starts[-1] + w < n_samples:
        starts.append(n_samples - w)
    return [(s, s + w) for s in starts]


def dnsmos_frames(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    fps: float = 25,
    n_frames: int = 150,
    window_s: float = 3.0,
    hop_s: float = 1.5,
    p835: bool = False,
    threads: int = 1,
    valid_samples: int | None = None,
) -> np.ndarray:
    """Per-frame DNSMOS, (n_frames, 4) float64 columns [sig, bak, ovrl, p808].

    Sliding windows of ``window_s`` seconds every ``hop_s`` seconds (:func:`dnsmos_windows`);
    each window is tiled (cyclically repeated) to the models' fixed 9.01 s input -- the same
    way ``speechmos.dnsmos`` treats any clip shorter than 9.01 s -- and scored.  Frame ``i``
    (time ``i / fps`` s) takes the value of the window whose centre is nearest (ties: the
    earlier window).  Defaults (3 s / 1.5 s) give 3 windows on a 6 s clip (centres 1.5, 3.0,
    4.5 s; each window repeated 3x to fill 9.01 s); 2 s / 1 s gives 5 windows (repeated 4.5x).

    Cost on one core: P.808 ~23 ms per window (mel 8 ms + model 15 ms); P.835 ~0.38 s per window.
    So by default
    (``p835=False``) only the P.808 column is computed and the sig/bak/ovrl columns are NaN
    (use :func:`dnsmos_scores` for the clip-level P.835 values); ``p835=True`` fills them.
    Caveat: the models were trained on 9 s clips; a 2 s window repeated 4.5 times is
    in the spirit of the library's own handling of short clips but is not how they were
    calibrated, so treat per-frame values as a relative time course.
    ``valid_samples``: if given, windows cover only ``audio[:valid_samples]`` (frames past it
    take the last window's value; the caller masks invalid frames).
    """
    a = _prepare(audio, sample_rate)
    if valid_samples is not None:
        a = a[: max(1, int(valid_samples))]
    wins = dnsmos_windows(len(a), sample_rate, window_s, hop_s)
    vals = np.stack([_score_window(_tile(a[s:e], P835_SAMPLES), p835, threads) for s, e in wins])
    centres = np.array([(s + e) / 2.0 / sample_rate for s, e in wins])
    t = np.arange(n_frames) / float(fps)
    nearest = np.argmin(np.abs(t[:, None] - centres[None, :]), axis=1)
    return vals[nearest]
