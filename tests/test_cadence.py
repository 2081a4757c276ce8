"""Frame-cadence (``cadence``) and audio-clipping (``clipping``) extractors (issue 26).

Oracles: the sample corpus's own glitch generator (``degrade.glitch_index``: which output
frames repeat their predecessor), frozen stretches of known length, a real encoded video at
20 fps (the grid repeats one source frame in five), closed forms of a sine (crest factor
sqrt 2; share of a period above 0.9 of the peak: 1 - 2 asin(0.9) / pi) and a direct count of
the samples a hard clip flattens.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tqa.core.clip import Clip
from tqa.data.corpus.degrade import glitch_index
from tqa.features.decode import load_clip, write_video
from tqa.features.extractors.audio_clipping import NEAR_PEAK, ClippingAudio, clipping_columns
from tqa.features.extractors.base import get_extractor
from tqa.features.extractors.visual_cadence import CadenceVisual

T, FPS = 150, 25.0
MOTION, DUP, STILL, JUMP = range(4)


def _moving(n: int = T, size: int = 64, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: a smooth random texture (so a change grows with the shift)
    drifting one pixel per frame (steady motion)."""
    rng = np.random.default_rng(seed)
    tex = gaussian_filter(rng.normal(0, 1, (size, size + n)), 4.0)
    tex = np.clip(128 + 40 * tex / tex.std(), 0, 255).astype(np.uint8)
    frames = np.stack([tex[:, t : t + size] for t in range(n)])
    return np.repeat(frames[..., None], 3, axis=3)


def _clip(frames: np.ndarray, audio: np.ndarray | None = None, **meta) -> Clip:
    audio = np.zeros(int(len(frames) / FPS * 16000), np.float32) if audio is None else audio
    return Clip("v", "v.mp4", frames, audio, FPS, meta=dict(meta))


def test_duplicates_match_the_corpus_glitch_generator():
    """Every frame the corpus's glitch generator repeats is flagged, and no other one."""
    idx = glitch_index(T, 0.1, np.random.default_rng(3))
    out = CadenceVisual().extract(_clip(_moving()[idx]), {})
    want = np.r_[False, idx[1:] == idx[:-1]]
    assert want.sum() >= 5  # the generator did make repeats
    np.testing.assert_array_equal(out[:, DUP] == 1, want)
    # a drop (two source steps in one frame) reads ~2x the clip's typical change
    drops = np.flatnonzero(np.r_[False, np.diff(idx) == 2])
    assert drops.size and np.all(out[drops, MOTION] > 1.8)


def test_clean_motion_has_no_duplicates():
    out = CadenceVisual().extract(_clip(_moving()), {})
    assert out.dtype == np.float32 and out.shape == (T, 4)
    assert np.all(out[:, DUP] == 0) and np.all(out[:, STILL] == 0)
    np.testing.assert_allclose(out[1:, MOTION], 1.0, rtol=0.25)


def test_a_frozen_stretch_reads_its_duration():
    frames = _moving()
    frames[60:85] = frames[60]  # 25 identical frames: 24 repeats
    out = CadenceVisual().extract(_clip(frames), {})
    assert out[:, DUP].sum() == 24
    np.testing.assert_allclose(out[61:85, STILL], 24 / FPS)
    assert np.all(out[:61, STILL] == 0) and np.all(out[85:, STILL] == 0)


def test_a_still_picture_is_frozen_throughout():
    frames = np.repeat(_moving()[:1], T, axis=0)
    out = CadenceVisual().extract(_clip(frames), {})
    assert np.all(out[1:, DUP] == 1)
    np.testing.assert_allclose(out[1:, STILL], (T - 1) / FPS)


def test_a_still_run_stops_at_the_clip_end_not_at_the_padding():
    """A 2 s still picture decoded onto a 6 s grid (the decoder pads with the last source
    frame: ``source_index`` repeats it, ``valid_frames`` False): the still run is the clip's
    49 repeats (1.96 s), not 149 (5.96 s, which the padding's grid repeats gave before), and
    tqa metrics' longest_still_s says the same."""
    from tqa.features.video_metrics import cadence_metrics

    n = 50
    frames = np.repeat(_moving()[:1], T, axis=0)
    source_index = np.minimum(np.arange(T), n - 1)  # padding repeats the last source frame
    valid = np.arange(T) < n
    clip = _clip(frames, source_index=source_index, valid_frames=valid)
    out = CadenceVisual().extract(clip, {})
    assert np.all(np.isnan(out[n:]))
    np.testing.assert_allclose(out[1:n, STILL], (n - 1) / FPS)
    assert cadence_metrics(clip)["longest_still_s"] == pytest.approx((n - 1) / FPS)
    # a slower source inside the clip (each source frame shown twice) keeps its grid repeats
    # in the run: padded, it reads what the same clip reads without any padding
    inner = np.repeat(np.arange(n // 2), 2)
    src = np.r_[inner, np.full(T - n, inner[-1])]
    out = CadenceVisual().extract(_clip(frames, source_index=src, valid_frames=valid), {})
    alone = CadenceVisual().extract(_clip(frames[:n], source_index=inner), {})
    np.testing.assert_array_equal(out[:n], alone)
    assert np.nanmax(alone[:, STILL]) > 1.5  # one run over the clip (no split at repeats)


def test_brightness_flicker_is_not_motion():
    """A per-frame gain (flicker) leaves the cadence of a drifting texture as it was."""
    frames = _moving()
    gain = 1.0 + 0.1 * np.random.default_rng(1).standard_normal(T)
    flick = np.clip(frames * gain[:, None, None, None] + 0.5, 0, 255).astype(np.uint8)
    a = CadenceVisual().extract(_clip(frames), {})
    b = CadenceVisual().extract(_clip(flick), {})
    np.testing.assert_array_equal(a[:, DUP], b[:, DUP])
    np.testing.assert_allclose(b[1:, MOTION], a[1:, MOTION], rtol=0.15)


def test_grid_repeats_of_a_slower_source_are_not_duplicates(tmp_path):
    """A 20 fps file on the 25 fps grid repeats every fifth source frame: NaN, not ``dup``."""
    path = tmp_path / "slow.mp4"
    write_video(path, _moving(120, size=64), fps=20)
    clip = load_clip(path)
    src = clip.meta["source_index"]
    repeat = np.r_[False, src[1:] == src[:-1]]
    assert repeat.sum() >= 25
    out = CadenceVisual().extract(clip, {})
    assert np.all(np.isnan(out[repeat])) and np.all(out[~repeat][1:, DUP] == 0)


def test_padding_is_nan():
    valid = np.r_[np.ones(100, bool), np.zeros(T - 100, bool)]
    out = CadenceVisual().extract(_clip(_moving(), valid_frames=valid), {})
    assert np.all(np.isnan(out[100:])) and np.all(np.isfinite(out[:100]))


def test_stacked_visual_stream_names():
    ext = get_extractor("visual", "nss+brisque+cadence", {})
    names = ext.feature_names()
    assert names[-4:] == [f"visual__cadence_{c}" for c in ("motion", "dup", "still_s", "jump")]
    assert ext.dim == len(names)


# --- clipping ------------------------------------------------------------------------------


def test_sine_crest_and_peak_share_match_closed_forms():
    sr, hop = 16000, 640
    t = np.arange(6 * sr) / sr
    x = 0.5 * np.sin(2 * math.pi * 100 * t)  # 100 Hz: whole periods in every 40 ms frame
    out = clipping_columns(x, T, hop)
    np.testing.assert_allclose(out[:, 1], 20 * math.log10(math.sqrt(2)), atol=1e-3)
    want = 1 - 2 * math.asin(NEAR_PEAK) / math.pi
    np.testing.assert_allclose(out[:, 0], want, atol=0.01)


def test_hard_clipping_piles_samples_at_the_peak():
    """Oracle: the samples a clip at c x peak flattens are those whose original |x| is at or
    above 0.9 c x peak; clean Laplacian 'speech' has almost none near its own peak."""
    rng = np.random.default_rng(0)
    x = rng.laplace(0, 0.1, 96000)
    clean = clipping_columns(x, T, 640)
    c = 0.2 * np.abs(x).max()
    clipped = clipping_columns(np.clip(x, -c, c), T, 640)
    want = (np.abs(x) >= NEAR_PEAK * c).mean()
    assert clipped[:, 0].astype(np.float64).mean() == pytest.approx(want, rel=1e-6)
    assert clean[:, 0].mean() < 1e-3 < want
    assert clipped[0, 1] < clean[0, 1] - 6  # the crest factor falls by > 6 dB


def test_clipping_extractor_nan_cases():
    ext = ClippingAudio()
    frames = _moving(T, size=16)
    silent = _clip(frames)
    assert np.all(np.isnan(ext.extract(silent, {})))
    mute = Clip("v", "v.mp4", frames, np.zeros(96000, np.float32), FPS, has_audio=False)
    assert np.all(np.isnan(ext.extract(mute, {})))
    audio = np.random.default_rng(2).laplace(0, 0.1, 96000).astype(np.float32)
    valid = np.r_[np.ones(100, bool), np.zeros(T - 100, bool)]
    out = ext.extract(_clip(frames, audio, valid_frames=valid), {})
    assert out.shape == (T, 2) and np.all(np.isnan(out[100:])) and np.all(np.isfinite(out[:100]))


def test_metrics_columns_read_a_frozen_stretch_and_clipped_audio():
    """``tqa metrics``' cadence columns: a 1 s freeze is the longest still run (24 repeats at
    25 fps), and the clipped share is the share the oracle counts."""
    from tqa.features.video_metrics import METRICS, cadence_metrics

    frames = _moving()
    frames[60:85] = frames[60]
    x = np.random.default_rng(4).laplace(0, 0.1, 96000)
    c = 0.3 * np.abs(x).max()
    m = cadence_metrics(_clip(frames, np.clip(x, -c, c).astype(np.float32)))
    assert m["longest_still_s"] == pytest.approx(24 / FPS)
    assert m["repeated_frames"] == pytest.approx(24 / T)  # frame 0 counts as not repeated
    assert m["clipped_samples"] == pytest.approx((np.abs(x) >= NEAR_PEAK * c).mean(), rel=1e-5)
    assert {METRICS[k].better for k in m} == {"lower"}


def test_metrics_run_on_one_blas_thread_whatever_the_caller_set(monkeypatch):
    """``tqa metrics`` pins BLAS to one thread, as the feature cache does: its BRISQUE columns
    moved in their 13th digit between core counts. The caller's setting is given back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import tqa.features.video_metrics as VM

    seen: list[list[int]] = []

    def probe(frames, boxes, *args):
        seen.append([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"])
        return np.full((len(frames), 2), np.nan)

    monkeypatch.setattr(VM, "brisque_frames", probe)
    no_face = np.full((T, 468, 3), np.nan)
    with threadpool_limits(4, user_api="blas"):
        outer = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        if not outer or max(outer) < 2:
            pytest.skip("no BLAS library that takes a thread count here")
        clip = _clip(_moving(), valid_frames=np.ones(T, bool))
        row = VM.clip_metrics(clip, {}, syncnet=False, landmarks=no_face)
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert seen == [[1] * len(outer)] and after == outer
    assert row["face_rate"] == 0.0 and math.isnan(row["brisque_face"])
