"""MFCC exactly as SyncNet was fed: ``python_speech_features.mfcc`` defaults, in numpy/scipy.

joonson/syncnet_python computes ``python_speech_features.mfcc(audio, 16000)`` on the int16
samples of a 16 kHz wav. The defaults reproduced here: 25 ms frames every 10 ms (100 Hz),
rectangular window, pre-emphasis 0.97, 512-point FFT power spectrum / 512, 26 triangular
mel filters over 0..8000 Hz (``floor((nfft + 1) * hz / sr)`` bin edges), natural log,
DCT-II (orthonormal), first 13 coefficients, sinusoidal lifter L = 22, and coefficient 0
replaced by the log frame energy. The last partial frame is zero-padded
(``1 + ceil((S - 400) / 160)`` frames).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

#: python_speech_features defaults (16 kHz).
WINLEN_S: float = 0.025
WINSTEP_S: float = 0.01
NUMCEP: int = 13
NFILT: int = 26
NFFT: int = 512
PREEMPH: float = 0.97
CEPLIFTER: int = 22
#: float audio in [-1, 1] -> the int16 scale syncnet_python's wav files have.
INT16_SCALE: float = 32768.0
EPS: float = float(np.finfo(float).eps)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray | float:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray | float:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(
    nfilt: int = NFILT,
    nfft: int = NFFT,
    sample_rate: int = 16000,
    low_hz: float = 0.0,
    high_hz: float | None = None,
) -> np.ndarray:
    """(nfilt, nfft // 2 + 1) triangular filters, python_speech_features' bin rounding."""
    high_hz = high_hz or sample_rate / 2
    mels = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), nfilt + 2)
    bins = np.floor((nfft + 1) * mel_to_hz(mels) / sample_rate).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        a, b, c = bins[j], bins[j + 1], bins[j + 2]
        for i in range(a, b):
            fb[j, i] = (i - a) / (b - a)
        for i in range(b, c):
            fb[j, i] = (c - i) / (c - b)
    return fb


def frame_signal(signal: np.ndarray, frame_len: int, frame_step: int) -> np.ndarray:
    """(n_frames, frame_len) frames, last one zero-padded; n = 1 + ceil((S - L) / step)."""
    s = len(signal)
    n = 1 if s <= frame_len else 1 + int(math.ceil((s - frame_len) / frame_step))
    padded = np.concatenate([signal, np.zeros((n - 1) * frame_step + frame_len - s)])
    idx = np.arange(frame_len)[None, :] + frame_step * np.arange(n)[:, None]
    return padded[idx]


def mfcc(audio: np.ndarray, sample_rate: int = 16000, int16_scale: bool = True) -> np.ndarray:
    """float64 (n_frames, 13) MFCC at 100 Hz of mono ``audio`` (float in [-1, 1]).

    ``int16_scale`` multiplies by 32768 first, as SyncNet's training audio was int16
    (this shifts only the log-energy coefficient 0, by log(32768^2)).
    """
    x = np.asarray(audio, np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("mfcc: empty audio")
    if int16_scale:
        x = x * INT16_SCALE
    x = np.append(x[0], x[1:] - PREEMPH * x[:-1])
    frames = frame_signal(
        x, _round_half_up(WINLEN_S * sample_rate), _round_half_up(WINSTEP_S * sample_rate)
    )
    pspec = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    energy = pspec.sum(axis=1)
    energy = np.where(energy == 0, EPS, energy)
    feat = pspec @ mel_filterbank(NFILT, NFFT, sample_rate).T
    feat = np.where(feat == 0, EPS, feat)
    cep = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :NUMCEP]
    lift = 1.0 + (CEPLIFTER / 2.0) * np.sin(np.pi * np.arange(NUMCEP) / CEPLIFTER)
    cep = cep * lift
    cep[:, 0] = np.log(energy)
    return cep
