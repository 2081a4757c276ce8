"""tqa.study.defects: defect injections, AUC / Spearman orientation and the sample
corpus's presence rules, each against an independent oracle (plain index arithmetic, pair
counting, the corpus's own draw function). Seconds, no ../shared; the test that decodes a real
recording skips with a message when ../shared/realclips is absent."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tqa.core.params import ROOT
from tqa.data.corpus.profiles import FAMILIES as CORPUS_FAMILIES
from tqa.data.corpus.profiles import NEUTRAL, draw_degradations
from tqa.study.defects import corpus as C
from tqa.study.defects import detection as D
from tqa.study.defects import families as F
from tqa.study.defects import inject as inj
from tqa.study.defects import variant_features as V
from tqa.study.defects.cells import clean_json
from tqa.study.defects.report import from_saved

CLIPS = ROOT.parent / "shared" / "realclips"
SR, HOP = 16000, 640


def speechlike(n: int = 6 * SR, seed: int = 0) -> np.ndarray:
    """Noise bursts with pauses, in [-1, 1] (no codec or extractor in the loop)."""
    rng = np.random.default_rng(seed)
    env = (np.sin(2 * np.pi * 3 * np.arange(n) / SR) > 0).astype(np.float32)
    return (0.3 * rng.standard_normal(n) * env).astype(np.float32)


def pair_auc(clean, degraded) -> float:
    """Mann-Whitney AUC by counting pairs: P(degraded > clean) + 0.5 P(tie)."""
    c, d = np.asarray(clean, float), np.asarray(degraded, float)
    return float(((d[:, None] > c[None]) + 0.5 * (d[:, None] == c[None])).mean())


# ------------------------------------------------------------------------------ statistics
def test_auc_orientation_against_sklearn_and_pair_counting():
    clean, deg = [0.1, 0.2, 0.3, 0.3], [0.25, 0.4, 0.5, 0.3]
    got = D.detection_auc(clean, deg, "higher")
    assert got["auc"] == pytest.approx(pair_auc(clean, deg))
    assert got["auc"] == pytest.approx(roc_auc_score([0] * 4 + [1] * 4, clean + deg))
    # a feature that FALLS under the defect: declared "lower", the same planted numbers negated
    neg = D.detection_auc([-x for x in clean], [-x for x in deg], "lower")
    assert neg["auc"] == pytest.approx(got["auc"])
    # declared in the wrong direction: the complement (below chance)
    assert D.detection_auc(clean, deg, "lower")["auc"] == pytest.approx(1 - got["auc"])
    perfect = D.detection_auc([1, 2, 3], [4, 5, 6], "higher")
    assert perfect["auc"] == 1.0 and (perfect["n_clean"], perfect["n_degraded"]) == (3, 3)
    assert D.detection_auc([1, 1], [1, 1], "higher")["auc"] == 0.5


def test_auc_leaves_nan_out_and_counts_them():
    got = D.detection_auc([1.0, np.nan, 2.0], [3.0, np.nan], "higher")
    assert got == {"auc": 1.0, "n_clean": 2, "n_degraded": 1, "n_nan": 2}
    with pytest.raises(ValueError):
        D.detection_auc([1], [2], "up")


def test_spearman_sign_follows_the_declared_direction():
    sev = [0, 0, 1, 1, 2, 2, 3, 3]
    falls = [5.0, 5.1, 4.0, 4.2, 3.0, 3.1, 1.0, 1.5]  # e.g. DNSMOS under stronger noise
    assert D.level_spearman(sev, falls, "lower")["rho"] == pytest.approx(
        -np.corrcoef(pd.Series(sev).rank(), pd.Series(falls).rank())[0, 1]
    )
    assert D.level_spearman(sev, falls, "lower")["rho"] > 0.9
    assert D.level_spearman(sev, falls, "higher")["rho"] < -0.9
    assert math.isnan(D.level_spearman([0, 1, 2], [1, 1, 1], "higher")["rho"])


def test_feature_value_absolute_and_missing():
    row = {"sync__offset": -3.0, "sync__confidence": 0.2}
    assert F.feature_value(row, "abs(sync__offset)") == 3.0
    assert F.feature_value(row, "sync__confidence") == 0.2
    assert math.isnan(F.feature_value(row, "dnsmos_ovrl"))


def test_real_table_on_planted_records():
    recs = [{"clip": c, "family": "clean", "level": 0.0, "severity": 0, "x": 0.0} for c in "ab"]
    fam = F.Family("toy", "planted", "u", (1.0, 2.0), 1.0, "x", "higher", "audio")
    for c, base in zip("ab", (0.0, 0.5)):
        for rank, lev in enumerate(fam.levels, 1):
            recs.append({"clip": c, "family": "toy", "level": lev, "severity": rank,
                         "x": base + lev})  # fmt: skip
    rows = D.real_table(pd.DataFrame(recs), [fam])
    assert [(r["level"], r["middle"], r["auc"]) for r in rows] == [
        (1.0, True, 1.0),
        (2.0, False, 1.0),
    ]
    assert rows[0]["spearman"] > 0.9 and rows[0]["n_clean"] == rows[0]["n_degraded"] == 2


def test_paired_share_sees_what_the_recordings_own_levels_hide():
    # recording b already reads high when clean (a source that repeats frames): its mild
    # variant sits below a's original, so the unpaired AUC drops, but every variant is worse
    # than its own original
    clean = {"a": 0.0, "b": 2.0}
    deg = [("a", 0.5), ("b", 2.5), ("a", 1.0), ("b", 2.0)]  # the last one a tie: counts 1/2
    recs = [{"clip": c, "family": "clean", "level": 0.0, "severity": 0, "x": v}
            for c, v in clean.items()]  # fmt: skip
    recs += [{"clip": c, "family": "toy", "level": 1.0, "severity": 1, "x": v} for c, v in deg]
    fam = F.Family("toy", "planted", "u", (1.0,), 1.0, "x", "higher", "audio")
    (row,) = D.real_table(pd.DataFrame(recs), [fam])
    # oracle: the four pairs counted by hand (3 worse, 1 tie) and the 2 x 4 unpaired pairs
    assert row["paired"] == pytest.approx(3.5 / 4) and row["n_pairs"] == 4
    unpaired = sum((d > c) + 0.5 * (d == c) for c in clean.values() for _, d in deg) / 8
    assert row["auc"] == pytest.approx(unpaired) and row["auc"] < row["paired"]
    low = D.paired_share([0.0, 2.0], [-1.0, 1.0], "lower")  # lower = worse: both worse
    assert low["paired"] == 1.0
    nan = D.paired_share([0.0, np.nan], [1.0, 1.0], "higher")
    assert (nan["paired"], nan["n_pairs"], nan["n_pairs_nan"]) == (1.0, 1, 1)
    with pytest.raises(ValueError, match="pair them"):
        D.paired_share([0.0], [1.0, 2.0], "higher")


# ------------------------------------------------------------------------------ injections
@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, -1, -3, -10])
def test_offset_shifts_audio_by_exactly_k_frames(k):
    a = speechlike()
    n = len(a) - 7 * HOP  # a short clip: padding after its own audio
    a[n:] = 0
    out = inj.shift_audio(a, k, n)
    s = k * HOP
    expect = np.zeros_like(a)  # an independent plain index shift of the clip's own samples
    if s > 0:
        expect[s:n] = a[: n - s]
    else:
        expect[: n + s] = a[-s:n]
    np.testing.assert_array_equal(out, expect)
    assert len(out) == len(a)
    f, shifted = inj.inject("offset", abs(k), np.zeros((3, 2, 2, 3), np.uint8), a, n // HOP,
                          np.random.default_rng(0), sign=int(np.sign(k)))  # fmt: skip
    np.testing.assert_array_equal(shifted, expect)


@pytest.mark.parametrize("snr", [30, 20, 10, 5, 0])
def test_noise_hits_its_snr_within_a_tenth_of_a_db(snr):
    a = speechlike()
    n = len(a) - 1000
    out = inj.add_noise_snr(a, snr, np.random.default_rng(1), n)
    noise = out[:n].astype(np.float64) - a[:n]
    got = 10 * np.log10(np.mean(a[:n].astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(got - snr) < 0.1
    np.testing.assert_array_equal(out[n:], a[n:])  # the padding is left alone


def test_desync_segment_shifts_inside_only():
    a = speechlike()
    k, start, stop = 6, 2 * SR, 3 * SR + SR // 2
    out = inj.desync_segment(a, k, start, stop)
    inner = slice(start + inj.XFADE, stop - inj.XFADE)
    np.testing.assert_array_equal(out[inner], a[inner.start - k * HOP : inner.stop - k * HOP])
    np.testing.assert_array_equal(out[:start], a[:start])
    np.testing.assert_array_equal(out[stop:], a[stop:])


def test_dub_foreign_replaces_the_last_share_at_the_clip_rms():
    a, other = speechlike(seed=0), 0.05 * speechlike(2 * SR, seed=5)  # shorter, quieter
    n = len(a)
    out = inj.dub_foreign(a, other, 2 / 3, n)
    start = n - int(round(2 / 3 * n))
    np.testing.assert_array_equal(out[:start], a[:start])
    tail = out[start + inj.XFADE :]
    tiled = np.resize(other, n - start)[inj.XFADE :]
    ratio = tail / np.where(tiled == 0, np.nan, tiled)
    assert np.nanstd(ratio) < 1e-4  # the foreign track, tiled, one gain
    gain = np.sqrt(np.mean(a.astype(np.float64) ** 2) / np.mean(np.resize(other, n - start) ** 2))
    assert np.nanmedian(ratio) == pytest.approx(gain, rel=1e-4)


def test_clip_keeps_rms_and_flattens_the_peaks():
    a = speechlike()
    out = inj.clip_audio(a, 0.2)
    rms = lambda x: np.sqrt(np.mean(x.astype(np.float64) ** 2))  # noqa: E731
    assert rms(out) == pytest.approx(rms(a), rel=1e-5)
    top = np.abs(out).max()
    assert np.mean(np.abs(out) >= top * (1 - 1e-6)) > 0.05  # many samples at the rail
    assert np.abs(a).max() / rms(a) > 2 * top / rms(out)  # crest factor cut


def test_lowpass_removes_the_band_above_the_cutoff():
    rng = np.random.default_rng(2)
    a = (0.1 * rng.standard_normal(4 * SR)).astype(np.float32)
    out = inj.lowpass_audio(a, 1000)
    spec = np.abs(np.fft.rfft(out.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(out), 1 / SR)
    assert 10 * np.log10(spec[f > 3000].mean() / spec[f < 500].mean()) < -40


def test_mp3_roundtrip_keeps_length_and_alignment():
    pytest.importorskip("imageio_ffmpeg")
    a = np.zeros(3 * SR, np.float32)
    t = np.arange(SR // 2) / SR
    onset = SR + 123
    a[onset : onset + len(t)] = 0.5 * np.sin(2 * np.pi * 440 * t)  # a tone burst at a known time
    out = inj.mp3_roundtrip(a, 16)
    assert len(out) == len(a)
    env = np.abs(out)
    first = int(np.argmax(env > 0.1))
    assert abs(first - onset) <= 16  # within 1 ms of the burst's onset


def test_video_injections():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (40, 8, 8, 3), dtype=np.uint8)
    n = 30  # 10 padded frames after the clip's own
    f, _ = inj.inject("freeze", 0.4, frames, np.zeros(1), n, rng)  # 10 frames, centred in 30
    assert all(np.array_equal(f[i], frames[10]) for i in range(10, 20))
    np.testing.assert_array_equal(f[:10], frames[:10])
    np.testing.assert_array_equal(f[20:], frames[20:])
    g, _ = inj.inject("glitch", 0.16, frames, np.zeros(1), n, np.random.default_rng(4))
    np.testing.assert_array_equal(g[n:], frames[n:])
    src = [next(j for j in range(n) if np.array_equal(g[i], frames[j])) for i in range(n)]
    assert np.all(np.diff(src) >= 0) and np.any(np.diff(src) == 0) and np.any(np.diff(src) == 2)
    for fam, lev in (("blur", 1.5), ("compression", 25), ("flicker", 0.2)):
        v, _ = inj.inject(fam, lev, frames, np.zeros(1), n, np.random.default_rng(5))
        assert not np.array_equal(v[:n], frames[:n]), fam
        np.testing.assert_array_equal(v[n:], frames[n:])
    with pytest.raises(KeyError):
        inj.inject("nope", 1, frames, np.zeros(1), n, rng)


def test_families_declare_a_middle_level_and_a_direction():
    for fam in F.FAMILIES:
        assert len(fam.levels) >= 3 or fam.name == "foreign_speech", fam.name
        assert fam.middle in fam.levels, fam.name
        assert all(w in ("higher", "lower") for _, w in fam.features()), fam.name
        assert fam.corpus is None or fam.corpus in NEUTRAL, fam.name


# ------------------------------------------------------------------------------ sample corpus
def _draws(prob: float, n: int = 300) -> pd.DataFrame:
    traits = {"prob": dict.fromkeys(CORPUS_FAMILIES, prob),
              "severity": dict.fromkeys(CORPUS_FAMILIES, 1.0)}  # fmt: skip
    rows = [draw_degradations(traits, np.random.default_rng(i)) for i in range(n)]
    return pd.DataFrame(rows).assign(fps=25)


@pytest.mark.parametrize("fam", [f for f in F.FAMILIES if f.corpus], ids=lambda f: f.name)
def test_corpus_presence_matches_the_corpus_draws(fam):
    """Oracle: the corpus's own draw function with every family off, then every family on."""
    assert not C.corpus_present(_draws(0.0), fam).any()
    assert C.corpus_present(_draws(1.0), fam).all()


def test_corpus_severity_orders_levels():
    deg = pd.DataFrame({"snr_db": [45.0, 30.0, 5.0], "lowpass_hz": [0.0, 4000.0, 700.0],
                        "av_offset_frames": [0, -12, 6], "fps": [25, 30, 25]})  # fmt: skip
    assert list(C.corpus_severity(deg, F.FAMILY["noise"]).rank()) == [1, 2, 3]
    assert list(C.corpus_severity(deg, F.FAMILY["band"]).rank()) == [1, 2, 3]
    assert list(C.corpus_severity(deg, F.FAMILY["offset"])) == [0, 10, 6]  # 12 at 30 fps


def test_corpus_table_on_planted_data():
    rng = np.random.default_rng(6)
    n = 60
    deg = pd.DataFrame({k: [v] * n for k, v in NEUTRAL.items()}).assign(fps=25)
    deg["snr_db"] = rng.uniform(38, 50, n)
    noisy = np.arange(n) % 2 == 1
    deg.loc[noisy, "snr_db"] = np.linspace(30, 2, noisy.sum())
    deg["audio__dnsmos_p808__mean"] = deg["snr_db"] / 10  # falls with the noise
    (row,) = [r for r in C.corpus_table(deg, [F.FAMILY["noise"]]) if r["declared"]]
    assert (row["n_present"], row["n_absent"]) == (30, 30)
    assert row["all_auc"] == 1.0 and row["spearman"] == pytest.approx(1.0)
    assert [b["bin"] for b in row["bins"]] == ["low", "middle", "high"]
    assert sum(b["n"] for b in row["bins"]) == 30


# ------------------------------------------------------------------------------ real footage
@pytest.mark.skipif(
    not (CLIPS / "recordings").is_dir(),
    reason=f"real clips not found at {CLIPS} (../shared/realclips beside the repository)",
)
def test_memoised_extraction_equals_the_pipeline_on_a_real_recording():
    from tqa.core.params import load_params
    from tqa.features.decode import load_clip
    from tqa.features.pipeline import FeatureExtractor

    params = load_params()
    fx = FeatureExtractor(params)
    # 3.2 s: quick, and long enough for a sync offset (the whole-clip window needs 60 pairs
    # at every lag, sync_correlation.MIN_FALLBACK_PAIRS)
    clip = load_clip(CLIPS / "recordings" / "3.mp4", "rec3", n_frames=80)
    vx = V.VariantExtractor(fx)
    streams, sync, _ = vx.streams(clip)
    vf = fx.extract_clip(clip)
    for m, arr in vf.streams.items():
        np.testing.assert_array_equal(streams[m], arr, err_msg=m)
    np.testing.assert_array_equal(sync, vf.sync)
    # an audio-only defect re-runs the audio side and the sync, not Face Mesh
    shifted = dataclasses.replace(clip, audio=inj.shift_audio(clip.audio, 5))
    n_video = len(vx._video)
    row, _ = vx.pooled(shifted)
    assert len(vx._video) == n_video and len(vx._audio) == 2
    ref = fx.extract_clip(shifted)
    assert np.isfinite(ref.sync[0])
    assert row["sync__offset"] == pytest.approx(float(ref.sync[0]))
    # the au stream reads the audio too (avsync, avlocal): re-run for the shifted audio
    np.testing.assert_array_equal(vx.streams(shifted)[0]["au"], ref.streams["au"])
    # the sub-frame offset (a tqa metrics column) is read from the pipeline's own curve: its
    # vertex lies within half a frame of the integer offset, that curve's argmin (on 3.2 s
    # both can be far from the truth: the fractional-delay test is in test_features_cpu)
    ctx = vx.streams(shifted)[2]
    sub = vx.metrics(shifted, ctx, ["abs(sync_offset_subframe)"])["sync_offset_subframe"]
    clean = vx.metrics(clip, vx.streams(clip)[2], ["sync_offset_subframe"])["sync_offset_subframe"]
    assert abs(sub - float(ref.sync[0])) <= 0.5
    assert abs(clean - float(vf.sync[0])) <= 0.5 and sub != clean


def test_metric_columns_hear_the_level_tqa_metrics_hears():
    """The benchmark's DNSMOS columns of a quiet clip equal `tqa metrics`' own (which hears
    the audio at features.audio_level_dbfs): before, they read the file's level and the
    benchmark's consistency check moved from 0 to 0.035."""
    from tqa.core.clip import Clip
    from tqa.core.params import load_params
    from tqa.features.pipeline import FeatureExtractor
    from tqa.features.video_metrics import clip_metrics

    params = load_params()
    t = np.arange(3 * SR) / SR
    voice = np.sin(2 * np.pi * 180 * t) * (0.55 + 0.45 * np.sin(2 * np.pi * 3 * t))
    audio = 0.01 * voice + 1e-4 * np.random.default_rng(0).standard_normal(len(t))
    frames = np.full((75, 32, 32, 3), 128, np.uint8)
    clip = Clip("quiet", "quiet.mp4", frames, audio.astype(np.float32),
                meta={"valid_frames": np.ones(75, bool)})  # fmt: skip
    got = V.VariantExtractor(FeatureExtractor(params)).metrics(clip, {}, list(V.AUDIO_METRICS))
    want = clip_metrics(clip, params["features"], syncnet=False)
    for k in V.AUDIO_METRICS:
        assert np.isfinite(got[k]) and got[k] == pytest.approx(want[k], abs=1e-9), k


# ------------------------------------------------------------------------------ report
def test_saved_result_comes_back_in_written_order():
    """A JSON round trip sorts keys; from_saved restores clip order and numeric shifts."""
    assert clean_json({"a": [np.float64(1 / 3), math.nan], 2: np.int64(3)}) == {
        "a": [0.333333, None],
        "2": 3,
    }
    clips = [f"../x/recordings/{i}.mp4" for i in (2, 10)]
    real = {"clips": clips, "table": [],
            "sources": {"recordings/10.mp4": 1, "recordings/2.mp4": 2},
            "offset": {"originals": {"recordings/10.mp4": 0, "recordings/2.mp4": 1},
                       "by_shift": {"+10": [], "+2": [], "-1": []}}}  # fmt: skip
    got = from_saved({"real": real, "corpus": {"error": "none"}})
    assert list(got["real"]["sources"]) == ["recordings/2.mp4", "recordings/10.mp4"]
    assert list(got["real"]["offset"]["originals"]) == ["recordings/2.mp4", "recordings/10.mp4"]
    assert list(got["real"]["offset"]["by_shift"]) == ["-1", "+2", "+10"]
    assert list(got["targets"]) == ["real"]


def test_offset_candidates_table_lists_every_feature_at_every_level():
    """The per-|k| AUC table of the offset family: real_table's AUCs (sklearn's, tested above)
    for the declared feature first, then each candidate, one column per level."""
    from tqa.study.defects.report import offset_candidates

    fam = F.FAMILY["offset"]
    feats = [f for f, _ in fam.features()]
    planted = {f: 0.1 * i for i, f in enumerate(feats)}
    table = [{"family": "offset", "feature": f, "level": lev, "auc": planted[f] + lev / 100,
              "middle": lev == 3.0} for f in reversed(feats) for lev in (2.0, 3.0)]  # fmt: skip
    table.append({"family": "glitch", "feature": feats[0], "level": 2.0, "auc": 9.0})
    lines = offset_candidates({"table": table})
    body = [ln for ln in lines if ln.startswith("| `")]
    assert [ln.split("`")[1] for ln in body] == feats  # declared first, in the family's order
    assert "| 2 | 3 |" in "\n".join(lines)
    for ln, f in zip(body, feats):
        cells = [c.strip() for c in ln.split("|")[2:4]]
        assert cells == [f"{planted[f] + 0.02:.2f}", f"{planted[f] + 0.03:.2f}"]


# ------------------------------------------------ where the sync offset is read (offset_reading)
def _smooth(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(np.convolve(rng.normal(size=n + 10), np.ones(5) / 5, mode="same")[5:-5])


def _delayed_signals(k: int, seed: int, segment=None) -> np.ndarray:
    """(3, 150) mouth, mouth, envelope: the audio delayed by ``k`` frames, and inside
    ``segment`` = (start, stop, k2) by ``k2`` instead (a desynchronised segment)."""
    t, pad = 150, 30
    m = _smooth(t + 2 * pad, seed)
    env = m[pad - k : pad - k + t].copy()
    if segment is not None:
        a, b, k2 = segment
        env[a:b] = m[pad - k2 + a : pad - k2 + b]
    mouth = m[pad : pad + t]
    return np.stack([mouth, mouth, env])


@pytest.mark.parametrize("k", [-7, 0, 4])
def test_both_offset_readings_recover_a_whole_clip_delay(k):
    from tqa.study.defects.offset_reading import READINGS, read_offset

    sig = _delayed_signals(k, seed=3)
    assert [read_offset(sig, r) for r in READINGS] == [k] * len(READINGS)


def test_a_middle_segment_pulls_the_inside_offset_but_not_the_spanning_or_whole_clip_one():
    """Audio late by 2 frames, except frames 60-100 (of 150) early by 10: the extractor's windows
    (every lag inside) all cover the middle and read the segment's -10; windows across the
    whole clip and one window over the whole clip read the clip's +2 (the injected offsets
    are the oracle)."""
    from tqa.study.defects.offset_reading import read_offset

    for seed in range(4):
        sig = _delayed_signals(2, seed, segment=(60, 100, -10))
        assert read_offset(sig, "inside") == -10
        assert read_offset(sig, "span") == 2
        assert read_offset(sig, "whole") == 2
    with pytest.raises(ValueError, match="reading must be one of"):
        read_offset(sig, "median")


def test_spanning_windows_pair_only_frames_inside_the_clip():
    """lag_correlation(span=True) against a brute-force oracle: for every window start
    0, hop, ... and lag d, numpy's corrcoef of mouth[t] and env[t + d] over the window's frames
    t whose partner t + d lies in the clip."""
    from tqa.features.extractors.sync_correlation import lag_correlation

    rng = np.random.default_rng(5)
    t, w, hop, d_max = 100, 50, 12, 15
    mouth, env = rng.normal(size=t), rng.normal(size=t)
    lags, c = lag_correlation(mouth, env, d_max, w, hop, span=True)
    starts = list(range(0, t - w + 1, hop))
    assert c.shape == (len(starts), 2 * d_max + 1) and starts[-1] + w > t - hop
    for i, s in enumerate(starts):
        for j, d in enumerate(lags):
            frames = [f for f in range(s, s + w) if 0 <= f + d < t]
            want = np.corrcoef(mouth[frames], env[[f + d for f in frames]])[0, 1]
            assert c[i, j] == pytest.approx(want, abs=1e-12)
    # the extractor's placement: every window fits every lag (starts D .. T - D - W)
    _, inside = lag_correlation(mouth, env, d_max, w, hop)
    starts = list(range(d_max, t - d_max - w + 1, hop))
    assert inside.shape == (len(starts), 2 * d_max + 1)
    for i, s in enumerate(starts):
        for j, d in enumerate(lags):
            want = np.corrcoef(mouth[s : s + w], env[s + d : s + d + w])[0, 1]
            assert inside[i, j] == pytest.approx(want, abs=1e-12)


def test_offset_reading_summaries_count_what_they_say():
    from tqa.study.defects.offset_reading import corpus_summary, real_summary

    corpus = pd.DataFrame(
        {
            "offset_inside": [0, 5, -3, 1, 9],
            "offset_span": [0, 4, 0, 1, 9],
            "offset_whole": [0, 4, 0, 2, 0],
            "offset_inside_mean": [3, 4, 0, 1, 0],
            "av_offset_frames": [0, 4, 0, 0, 0],
            "identity": [0, 1, 2, 3, 4],
            "seg_desync_frames": [0, 0, 6, 0, 0],
            "swapped_audio": [0, 0, 0, 0, 1],
        }
    )
    w, sp, h, eq = corpus_summary(corpus)
    assert eq["reading"] == "inside_mean" and eq["within 1: all"] == pytest.approx(4 / 5)
    assert w["within 1: all"] == pytest.approx(3 / 5)  # 0, 5 (vs 4) and 1 (vs 0)
    assert h["within 1: all"] == pytest.approx(4 / 5)  # 2 (vs 0) misses
    assert w["within 1: even identities"] == pytest.approx(1 / 3)  # videos 0, 2, 4
    assert h["within 1: with a desynchronised segment"] == 1.0
    # own audio, no segment: videos 0, 1, 3 (inside reads 0, 5 vs 4, 1 vs 0: all within 1)
    assert w["n: own audio, no segment"] == 3 and w["within 1: own audio, no segment"] == 1.0
    assert eq["within 1: own audio, no segment"] == pytest.approx(2 / 3)  # 3 (vs 0) misses
    assert (w["n: in-sync"], w["in-sync abs(offset) <= 1"]) == (2, 1.0)  # videos 0 and 3
    assert h["in-sync abs(offset) <= 1"] == pytest.approx(1 / 2)
    assert sp["within 1: all"] == pytest.approx(4 / 5)  # 9 (vs 0) misses
    assert sp["reading"] == "span" and sp["in-sync abs(offset) <= 1"] == 1.0
    real = pd.DataFrame(
        {
            "clip": ["a"] * 3 + ["b"] * 3,
            "shift": [0, -2, 2] * 2,
            "offset_inside": [1, -1, 3, 0, -2, 2],
            "offset_span": [1, -1, 3, 0, -2, 2],
            "offset_whole": [1, -1, 2, 0, -2, 2],
            "offset_inside_mean": [1, -1, 3, 0, 9, 2],
        }
    )
    w, sp, h, eq = real_summary(real, shifts=(2,))
    assert eq["tracked 2"] == pytest.approx(3 / 4)  # b's -2 read +9
    assert w["originals"] == [1, 0] and w["originals abs(offset) <= 1"] == 2
    assert w["tracked 2"] == 1.0 and h["tracked 2"] == pytest.approx(3 / 4)
    assert sp["tracked 2"] == w["tracked 2"] and sp["originals"] == w["originals"]
    # |offset|: clean {1, 0}, shifted {1, 3, 2, 2}: 7 of 8 pairs higher, the tie 1 vs 1 one half
    assert w["AUC 2"] == pytest.approx(7.5 / 8)
    assert w["paired 2"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)


def test_recording_files_in_natural_order_whatever_their_names(tmp_path):
    """The real-footage benchmarks run on the folder as it is: 10.mp4 after 2.mp4 (not before,
    as a string sort puts it), other names and video extensions after the numbered ones, no
    crash on a name that is not a number (the old key was ``int(stem)``), no non-video file."""
    from tqa.study.defects.real import recording_files

    for name in ("10.mp4", "2.mp4", "1.mp4", "b_take.mov", "a.mp4", "notes.txt", ".hidden"):
        (tmp_path / name).write_bytes(b"")
    got = [p.name for p in recording_files(tmp_path)]
    assert got == ["1.mp4", "2.mp4", "10.mp4", "a.mp4", "b_take.mov"]
