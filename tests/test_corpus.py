"""Tests of the synthetic corpus (tqa.data.corpus): determinism, label statistics, decoded media.

Oracles are independent of the generator: the chapter's label facts (chapter 3.1.2),
MediaPipe on decoded frames, PyAV decoding, scipy spectra, closed-form SNR.
"""

from __future__ import annotations

import av
import numpy as np
import pandas as pd
import pytest
from scipy import signal, stats

from tqa.core.params import load_params
from tqa.core.schema import TASKS
from tqa.data.corpus import degrade as D
from tqa.data.corpus.build import build_corpus, render_video
from tqa.data.corpus.media import write_mp4
from tqa.data.corpus.profiles import GENERATORS, NEUTRAL, clean_row, plan_corpus
from tqa.data.corpus.ratings import (
    icc2k,
    rater_reliability,
    simulate_labels,
    simulate_ratings,
    split_half,
    true_scores,
)

PARAMS = load_params()
CFG = PARAMS["corpus"]
SEED = int(PARAMS["seed"])


def _decode(path):
    """Frames (T, H, W, 3), fps, mono audio and its rate, decoded with PyAV directly."""
    with av.open(str(path)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        sr = c.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
    return frames, fps, audio.astype(np.float64), sr


# --- plan and labels (no rendering: cheap) ---------------------------------------------


def test_plan_and_labels_are_deterministic():
    a, b = plan_corpus(60, CFG, SEED), plan_corpus(60, CFG, SEED)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(simulate_labels(a, CFG, SEED), simulate_labels(b, CFG, SEED))
    c = plan_corpus(60, CFG, SEED + 1)
    assert not a.drop(columns=["video_id", "index"]).equals(c.drop(columns=["video_id", "index"]))
    assert not simulate_labels(a, CFG, SEED)[list(TASKS)].equals(
        simulate_labels(c, CFG, SEED + 1)[list(TASKS)]
    )


CHAPTER_PRESENCE = {
    "lip_sync": 1.0,
    "expression": 0.728,
    "audio_quality": 0.778,
    "cross_modal": 0.726,
    "overall": 0.726,
}


def test_label_statistics():
    """Presence rates of chapter 3.1.2 exactly; every task informative (std 0.4-0.8, lip_sync
    too by default); the chapter-like near-constant lip_sync (mean 4.763, std ~0) on request."""
    plan = plan_corpus(2000, CFG, SEED)
    lab = simulate_labels(plan, CFG, SEED)
    for t, p in CHAPTER_PRESENCE.items():
        assert float((lab[t] != -1.0).mean()) == pytest.approx(p, abs=0.001), t
    for t in TASKS:
        v = lab.loc[lab[t] != -1.0, t]
        assert 0.4 < v.std() < 0.8, (t, v.std())
    scores = lab[list(TASKS)].to_numpy()
    assert np.all((scores == -1.0) | ((scores >= 1.0) & (scores <= 5.0)))
    assert set(lab["generator"]) == set(GENERATORS)
    assert lab["group"].nunique() == CFG["n_identities"] >= 20
    chapter = simulate_labels(plan, dict(CFG, informative_lip_sync=False), SEED)["lip_sync"]
    assert chapter.mean() == pytest.approx(4.763, abs=0.01) and chapter.std() < 0.05


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def test_generator_lookup_explains_little_the_defects_explain_much():
    """The label varies mostly WITHIN a simulated generator: the mean label per generator (the
    generator_mean baseline's lookup, here fitted in-sample, its best case) explains < 10 % of
    the variance, while a linear model on the ground-truth defect columns explains > 50 %."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import cross_val_predict

    plan = plan_corpus(1500, CFG, SEED)
    lab = simulate_labels(plan, dict(CFG, presence={t: 1.0 for t in TASKS}), SEED)
    x = plan[list(NEUTRAL)].astype(float).to_numpy()
    x = np.hstack([x, np.abs(x)])  # |offset| matters, not its sign
    for t in TASKS:
        y = lab[t].to_numpy()
        by_gen = lab.groupby("generator")[t].transform("mean").to_numpy()
        assert _r2(y, by_gen) < 0.1, t
        assert _r2(y, cross_val_predict(LinearRegression(), x, y, cv=5)) > 0.5, t


def test_defects_co_occur_at_continuous_levels():
    plan = plan_corpus(600, CFG, SEED)
    bg = {"blur_sigma", "snr_db"}  # carry a mild background level in every clip
    cols = [c for c in NEUTRAL if c not in bg and not c.endswith("start_s")]
    active = np.stack([plan[c].astype(float) != float(NEUTRAL[c]) for c in cols], axis=1)
    assert active.sum(1).mean() >= 2.5  # several defects per video on average
    assert (active.sum(1) >= 2).mean() > 0.5
    for c in ("av_offset_frames", "mouth_freeze_dur_s", "snr_db", "frame_glitch_rate"):
        assert plan[c].nunique() > 20, c  # continuous levels, not a few profiles
    for c in ("seg_desync_frames", "mouth_freeze_dur_s", "flicker_burst_amp", "frame_glitch_rate"):
        assert (plan[c] != NEUTRAL[c]).mean() > 0.1, c  # localised defects are common
    seg = plan[plan["mouth_freeze_dur_s"] > 0]
    end = seg["mouth_freeze_start_s"] + seg["mouth_freeze_dur_s"]
    assert (seg["mouth_freeze_start_s"] > 0).all() and (end <= seg["n_frames"] / seg["fps"]).all()


def test_identities_have_their_own_voice_and_sentences():
    """Group split = face + voice + sentences: no sentence is spoken by two identities."""
    plan = plan_corpus(600, CFG, SEED)
    texts = plan.groupby("text_id")["identity"].nunique()
    assert (texts == 1).all()
    swaps = plan.groupby("swap_text_id")["identity"].nunique()
    assert (swaps == 1).all()
    assert (plan.groupby("identity")["voice"].nunique() == 1).all()
    assert (plan.groupby("identity")["pitch"].nunique() == 1).all()
    assert (plan["text_id"] != plan["swap_text_id"]).all()


def test_labels_track_the_injected_degradations():
    """Each defect lowers its own dimension (Spearman of the level vs the score, every label
    present), including the segment-level ones."""
    cfg = dict(CFG, presence={t: 1.0 for t in TASKS})
    plan = plan_corpus(1500, cfg, SEED)
    lab = simulate_labels(plan, cfg, SEED)
    cases = [
        (plan["av_offset_frames"].abs(), "lip_sync", -0.2),
        (plan["seg_desync_frames"].abs() * plan["seg_desync_dur_s"], "lip_sync", -0.15),
        (plan["mouth_freeze_dur_s"], "lip_sync", -0.15),
        (-plan["snr_db"], "audio_quality", -0.2),
        (1 - plan["expr_gain"], "expression", -0.2),
        (plan["swapped_audio"], "cross_modal", -0.15),
        (plan["blur_sigma"], "overall", -0.15),
        (plan["frame_glitch_rate"], "overall", -0.1),
    ]
    for level, task, bound in cases:
        rho = stats.spearmanr(level, lab[task]).statistic
        assert rho < bound, (level.name, task, rho)


# --- raters ---------------------------------------------------------------------------


def test_label_is_the_raters_mean_and_raw_ratings_are_kept():
    plan = plan_corpus(200, CFG, SEED)
    lab, raw = simulate_ratings(plan, CFG, SEED)
    k = int(CFG["raters"]["n"])
    assert set(raw.columns) == {"video_id", "task", "rater", "score"}
    for t in TASKS:
        present = lab.loc[lab[t] != -1.0, ["video_id", t]].set_index("video_id")[t]
        r = raw[raw["task"] == t]
        assert len(r) == k * len(present)  # missing labels have no ratings
        mean = r.groupby("video_id")["score"].mean().loc[present.index]
        np.testing.assert_allclose(present.to_numpy(), mean.round(2).to_numpy(), atol=1e-9)
    if CFG["raters"]["decimals"] == 0:
        assert set(np.unique(raw["score"][raw["task"] != "lip_sync"])) <= {1, 2, 3, 4, 5}


def test_icc2k_matches_shrout_fleiss_table():
    """Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; published ICC(2,4) = 0.62."""
    x = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
        float,
    )
    assert icc2k(x) == pytest.approx(0.62, abs=0.005)
    assert icc2k(np.tile(np.arange(5.0)[:, None], (1, 3))) == pytest.approx(1.0)


def test_split_half_closed_form_for_two_raters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 1)) + 0.7 * rng.normal(size=(30, 2))
    r = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert split_half(x) == pytest.approx(2 * r / (1 + r))


def test_rater_reliability_recovers_the_simulated_ceiling():
    """Raters = truth + bias + noise (no rounding): ICC(2,k) ~ var(T) / (var(T) + (b^2 + e^2)/k)
    (the bias is a rater main effect: absolute agreement counts it)."""
    cfg = dict(
        CFG,
        presence={t: 1.0 for t in TASKS},
        raters={"n": 4, "bias_std": 0.3, "noise_std": 0.5, "decimals": None},
    )
    plan = plan_corpus(1500, cfg, SEED)
    truth = true_scores(plan, cfg)
    _, raw = simulate_ratings(plan, cfg, SEED)
    rel = rater_reliability(raw).set_index("task")
    for t in ("expression", "audio_quality", "overall"):
        vt = float(np.var(np.clip(truth[t], 1, 5)))
        expected_consistency = vt / (vt + 0.5**2 / 4)
        # the realised biases of 4 raters differ from their sd: bound instead of equality
        assert rel.loc[t, "split_half"] == pytest.approx(expected_consistency, abs=0.05), t
        assert rel.loc[t, "icc2k"] <= rel.loc[t, "split_half"] + 0.02
        assert rel.loc[t, "n_raters"] == 4


def test_off_format_fraction_and_balance():
    plan = plan_corpus(180, CFG, SEED)
    assert int(plan["off_format"].sum()) == round(CFG["off_format_fraction"] * 180)
    off = plan[plan["off_format"]]
    assert (
        (off["fps"] != 25)
        | (off["height"] != CFG["size"])
        | (off["width"] != CFG["size"])
        | (off["n_frames"] != 150)
    ).all()
    on = plan[~plan["off_format"]]
    assert (on["fps"] == 25).all() and (on["n_frames"] == 150).all()
    assert plan["generator"].value_counts().max() - plan["generator"].value_counts().min() <= 1
    assert plan["identity"].value_counts().max() - plan["identity"].value_counts().min() <= 1


# --- degradations against closed forms ------------------------------------------------


def test_audio_degradations():
    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    y = D.add_noise(x, 10.0, rng)
    snr = 10 * np.log10(np.mean(x.astype(float) ** 2) / np.mean((y - x).astype(float) ** 2))
    assert snr == pytest.approx(10.0, abs=0.3)
    f, p_in = signal.welch(x, sr, nperseg=1024)
    _, p_lp = signal.welch(D.lowpass(x, 1500, sr), sr, nperseg=1024)
    k = np.argmin(np.abs(f - 5000))
    assert p_lp[k] < 1e-4 * p_in[k]
    assert p_lp[np.argmin(np.abs(f - 440))] == pytest.approx(
        p_in[np.argmin(np.abs(f - 440))], rel=0.05
    )
    clipped = D.hard_clip(x, 0.2)
    assert np.mean(np.isclose(np.abs(clipped), np.abs(clipped).max())) > 0.3  # flat tops
    s = D.shift_audio(x, 3, 25, sr)
    assert np.all(s[: 3 * 640] == 0) and np.array_equal(s[3 * 640 :], x[: -3 * 640])


def test_codec_artefacts_band_limit_and_grow_with_lower_bitrate():
    """Simulated codec: no energy above 250 * kbps Hz; error vs the input grows as kbps falls;
    the 64-kbps reference is the identity."""
    sr = 16000
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(sr * 2)).astype(np.float32)
    assert D.codec_artefacts(x, 64, sr) is x
    f, p_in = signal.welch(x, sr, nperseg=1024)
    errs = []
    for kbps in (24, 12, 6):
        y = D.codec_artefacts(x, kbps, sr)
        assert y.shape == x.shape
        _, p_out = signal.welch(y, sr, nperseg=1024)
        above = f > 250 * kbps + 200
        if above.any():
            assert p_out[above].mean() < 1e-3 * p_in[above].mean()
        errs.append(float(np.mean((y - x) ** 2)))
    assert errs[0] < errs[1] < errs[2]


def test_yuv_conversions_round_trip_and_match_ffmpeg():
    """Our integer BT.601 conversions invert each other within chroma subsampling error, and
    agree with FFmpeg's (libswscale) conversion of uniform colours within a few levels."""
    import av

    from tqa.data.corpus.media import rgb_to_yuv420p, yuv420p_to_rgb

    rng = np.random.default_rng(0)
    flat = np.repeat(np.repeat(rng.integers(20, 235, (8, 8, 3)), 4, 0), 4, 1).astype(np.uint8)
    back = yuv420p_to_rgb(rgb_to_yuv420p(flat))
    assert np.abs(back.astype(int) - flat).max() <= 3  # 2x2-constant chroma: rounding only
    # FFmpeg filters chroma across 2x2 blocks differently: compare on uniform colours
    for colour in ([200, 30, 40], [20, 180, 90], [60, 70, 220], [128, 128, 128]):
        img = np.tile(np.array(colour, np.uint8), (16, 16, 1))
        ff = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        ours = rgb_to_yuv420p(img)
        assert np.abs(ff.to_ndarray().astype(int) - ours).max() <= 2, colour
        rgb_ff = av.VideoFrame.from_ndarray(ours, format="yuv420p").to_ndarray(format="rgb24")
        assert np.abs(rgb_ff.astype(int) - yuv420p_to_rgb(ours)).max() <= 3, colour


def test_video_degradations():
    rng = np.random.default_rng(1)
    img = (rng.random((4, 64, 64, 3)) * 255).astype(np.uint8)
    lap = lambda a: float(np.var(np.diff(a.astype(float), axis=1)))  # noqa: E731
    assert lap(D.blur(img, 2.0)) < 0.2 * lap(img)
    assert np.abs(D.jpeg(img, 10).astype(float) - img).mean() > 5
    fl = D.flicker(np.full((50, 8, 8, 3), 128, np.uint8), 0.1, rng)
    assert fl.reshape(50, -1).mean(1).std() == pytest.approx(12.8, rel=0.35)


def test_localised_defects_closed_forms():
    """Segment desync / frozen mouth / flicker burst touch only their segment; glitches keep
    the length, repeat and skip source frames in equal numbers (alignment kept)."""
    m = np.linspace(0, 1, 50)
    seg = D.segment_frames(0.4, 0.4, 25, 50)
    assert (seg.start, seg.stop) == (10, 20)
    d = D.desync_segment(m, 3, seg)
    np.testing.assert_array_equal(d[:10], m[:10]) and np.testing.assert_array_equal(d[20:], m[20:])
    np.testing.assert_array_equal(d[10:20], m[7:17])
    f = D.freeze_segment(m, seg)
    assert (f[10:20] == m[10]).all() and np.array_equal(f[20:], m[20:])
    rng = np.random.default_rng(0)
    frames = np.full((50, 4, 4, 3), 100, np.uint8)
    b = D.flicker_burst(frames, 0.3, seg, rng)
    assert np.array_equal(b[:10], frames[:10]) and np.array_equal(b[20:], frames[20:])
    assert b[10:20].reshape(10, -1).mean(1).std() > 10
    idx = D.glitch_index(150, 0.1, np.random.default_rng(1))
    steps = np.diff(idx)
    assert len(idx) == 150 and idx[0] == 0 and set(np.unique(steps)) <= {0, 1, 2}
    assert (steps == 0).sum() >= 5 and abs(int((steps == 0).sum()) - int((steps == 2).sum())) <= 1
    assert abs(int(idx[-1]) - 149) <= 1


# --- the built tiny corpus (decoded media) -------------------------------------------


def test_tiny_corpus_passes_the_data_contract(tiny_corpus):
    from tqa.data.labels import load_dataset

    ds = load_dataset(tiny_corpus)
    assert len(ds.problems) == 0, ds.problems
    assert len(ds) == 8
    lab = pd.read_csv(tiny_corpus / "labels.csv")
    deg = pd.read_csv(tiny_corpus / "degradations.csv")
    assert list(lab["video_id"]) == list(deg["video_id"])
    assert set(lab["generator"]) <= set(GENERATORS) and lab["generator"].nunique() >= 6
    raw = pd.read_csv(tiny_corpus / "ratings_raw.csv")
    assert set(raw["video_id"]) == set(lab["video_id"])


def test_face_detected_in_decoded_frames(tiny_corpus):
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    hits = total = 0
    for path in sorted((tiny_corpus / "videos").glob("*.mp4")):
        frames, _, _, _ = _decode(path)
        for f in frames[::6]:
            hits += mesh.process(f).multi_face_landmarks is not None
            total += 1
    assert total >= 8 * 20
    assert hits / total >= 0.95


def test_off_format_clip_has_its_format(tiny_corpus):
    deg = pd.read_csv(tiny_corpus / "degradations.csv")
    off = deg[deg["off_format"]]
    assert len(off) >= 1
    for _, r in off.iterrows():
        frames, fps, audio, sr = _decode(tiny_corpus / "videos" / f"{r.video_id}.mp4")
        assert fps == pytest.approx(r.fps) and fps != 25
        assert frames.shape[1:3] == (r.height, r.width)
        assert len(frames) == r.n_frames
        assert len(audio) / sr == pytest.approx(r.n_frames / r.fps, abs=0.1)
    for _, r in deg[~deg["off_format"]].head(2).iterrows():
        frames, fps, _, _ = _decode(tiny_corpus / "videos" / f"{r.video_id}.mp4")
        assert frames.shape == (150, CFG["size"], CFG["size"], 3) and fps == 25


def _lip_gap_and_envelope(path):
    """MediaPipe lip gap (T,) and decoded-audio RMS per video frame (T,)."""
    import mediapipe as mp

    frames, fps, audio, sr = _decode(path)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
    gap = np.zeros(len(frames))
    for i, f in enumerate(frames):
        r = mesh.process(f)
        if r.multi_face_landmarks:
            lm = r.multi_face_landmarks[0].landmark
            gap[i] = lm[14].y - lm[13].y
    hop = sr / fps
    env = np.array(
        [
            np.sqrt(np.mean(audio[int(i * hop) : int((i + 1) * hop)] ** 2) + 1e-12)
            for i in range(len(frames))
        ]
    )
    return gap, env


def _best_lag(video_sig, audio_sig, max_lag=15):
    """Lag L maximising corr(video[t], audio[t + L]); L > 0 = audio later than video."""
    v = (video_sig - video_sig.mean()) / (video_sig.std() + 1e-12)
    a = (audio_sig - audio_sig.mean()) / (audio_sig.std() + 1e-12)
    lags = range(-max_lag, max_lag + 1)
    cc = [
        np.mean(v[max(0, -L) : len(v) - max(0, L)] * a[max(0, L) : len(a) - max(0, -L)])
        for L in lags
    ]
    return list(lags)[int(np.argmax(cc))]


def test_injected_av_offset_is_in_the_file(tiny_corpus, tmp_path):
    """Mouth motion (MediaPipe on decoded frames) vs decoded audio: peak lag = av_offset_frames."""
    deg = pd.read_csv(tiny_corpus / "degradations.csv")
    row = clean_row(deg[~deg["off_format"]].iloc[0].to_dict())
    lags = {}
    for off in (0, 6, -4):
        r = dict(row, av_offset_frames=off)
        frames, audio = render_video(r, CFG, SEED)
        path = tmp_path / f"off{off}.mp4"
        write_mp4(path, frames, int(r["fps"]), audio, CFG["sample_rate"])
        lags[off] = _best_lag(*_lip_gap_and_envelope(path))
    assert lags[0] in (-1, 0, 1)
    assert lags[6] - lags[0] == 6
    assert lags[-4] - lags[0] == -4


def test_build_is_resumable_and_labels_reproducible(tiny_corpus):
    videos = sorted((tiny_corpus / "videos").glob("*.mp4"))
    mtimes = {p: p.stat().st_mtime_ns for p in videos}
    before = pd.read_csv(tiny_corpus / "labels.csv")
    cfg = dict(CFG, workers=1, off_format_fraction=max(CFG["off_format_fraction"], 1 / 8))
    build_corpus(tiny_corpus, cfg, SEED, n=8, progress=False)
    assert {p: p.stat().st_mtime_ns for p in videos} == mtimes
    pd.testing.assert_frame_equal(before, pd.read_csv(tiny_corpus / "labels.csv"))


def test_speech_and_video_are_deterministic(tmp_path):
    """eSpeak keeps state between calls; we reload it per utterance so output is repeatable."""
    from tqa.data.corpus.speech import TEXTS, Voice, synthesize

    a = synthesize(TEXTS[1], Voice("en+f2", 150, 40))
    synthesize(TEXTS[2], Voice("en+m7", 170, 60))
    b = synthesize(TEXTS[1], Voice("en+f2", 150, 40))
    assert np.array_equal(a, b)
    assert 2.0 < len(a) / 16000 < 6.0 and np.sqrt(np.mean(a**2)) > 0.05
    row = plan_corpus(3, CFG, SEED).iloc[2].to_dict()
    (f1, a1), (f2, a2) = render_video(row, CFG, SEED), render_video(row, CFG, SEED)
    assert np.array_equal(f1, f2) and np.array_equal(a1, a2)
    for name in ("x.mp4", "y.mp4"):
        write_mp4(tmp_path / name, f1, int(row["fps"]), a1, CFG["sample_rate"])
    assert (tmp_path / "x.mp4").read_bytes() == (tmp_path / "y.mp4").read_bytes()
    # a jittery clip (busy motion) is where a multi-threaded x264 made each encode differ
    plan = plan_corpus(16, CFG, SEED)
    jit = plan[plan["expr_jitter"] > 0.2].iloc[0].to_dict()
    fj, aj = render_video(jit, CFG, SEED)
    encodes = []
    for i in range(3):
        write_mp4(tmp_path / f"j{i}.mp4", fj, int(jit["fps"]), aj, CFG["sample_rate"])
        encodes.append((tmp_path / f"j{i}.mp4").read_bytes())
    assert encodes[0] == encodes[1] == encodes[2]


def test_cli_builds_a_corpus(tmp_path):
    from tqa.cli import main

    assert (
        main(
            ["corpus", "--out", str(tmp_path / "c"), "--n", "2", "--workers", "1", "--reports", ""]
        )
        == 0
    )
    lab = pd.read_csv(tmp_path / "c" / "labels.csv")
    assert list(lab.columns) == ["video_id", *TASKS, "group", "generator"]
    assert len(list((tmp_path / "c" / "videos").glob("*.mp4"))) == 2


def test_rebuilt_videos_match_the_committed_checksums(tmp_path):
    """Cross-machine reproducibility: three videos of the default corpus rebuilt here have the
    digests committed in tests/data/corpus_checksums.json (written by tests/corpus_checksums.py
    on the machine that built the committed dvc.lock). Reports which layer differs first."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from corpus_checksums import CHECKSUMS, rebuild

    expected = json.loads(CHECKSUMS.read_text(encoding="utf-8"))
    got = rebuild(tmp_path)
    assert set(got) == set(expected)
    for vid, digests in expected.items():
        for layer in ("decoded_yuv", "video_packets", "audio_packets", "file"):
            assert got[vid][layer] == digests[layer], f"{vid}: {layer} differs"


def test_a_video_renders_the_same_bytes_with_avx512_switched_off(tmp_path):
    """Another CPU without AVX-512 (issue 23), emulated: numpy's, OpenCV's, OpenBLAS's and
    torch's SIMD dispatch stopped at AVX2 (benchmarks/avx2_cpu_env.sh) in a subprocess. syn0022
    is a video whose mouth aperture (numpy's SVML ``pow``) differed in the last bit that way
    and moved pixels, before the renderer's signals went through ``tqa.core.scalar_math``."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from numpy._core._multiarray_umath import __cpu_features__

    if not __cpu_features__.get("AVX512_SKX"):
        pytest.skip("this CPU has no AVX-512: nothing to switch off")
    root = Path(__file__).resolve().parents[1]
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, 'tests');"
        "from corpus_checksums import rebuild_ids;"
        "print(json.dumps(rebuild_ids(Path(sys.argv[1]), ['syn0022'])))"
    )
    runs = []
    for wrapper, sub in (([], "native"), (["bash", "benchmarks/avx2_cpu_env.sh"], "avx2")):
        (tmp_path / sub).mkdir()
        out = subprocess.run(
            [*wrapper, sys.executable, "-c", code, str(tmp_path / sub)],
            cwd=root, capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["syn0022"]["decoded_yuv"] == runs[1]["syn0022"]["decoded_yuv"]
    assert runs[0] == runs[1]
