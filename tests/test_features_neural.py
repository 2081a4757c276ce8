"""Neural extractors (resnet101, hubert, syncnet): shapes, weights, refusal, alignment, sync
search."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tqa.features.extractors.audio_hubert import HubertExtractor, pool_to_grid, receptive_field
from tqa.features.extractors.base import Clip, available, get_extractor
from tqa.features.extractors.neural import crop_resize, fill_boxes
from tqa.features.extractors.sync_syncnet import (
    SyncNetExtractor,
    n_windows,
    offset_distances,
    offset_search,
    syncnet_crop_box,
)
from tqa.features.extractors.visual_resnet import IMAGENET_MEAN, IMAGENET_STD, ResNet101Extractor
from tqa.features.nets import WeightsError

SR, FPS = 16000, 25


def make_clip(t: int, side: int = 96, audio: bool = True, seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    base = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.float64) % 256
    frames = np.stack([np.roll(base, 3 * i, axis=1) for i in range(t)]).astype(np.uint8)
    wav = (
        (0.1 * rng.standard_normal(t * SR // FPS)).astype(np.float32)
        if audio
        else np.zeros(t * SR // FPS, np.float32)
    )
    return Clip("v", "v.mp4", frames, wav, fps=FPS, sample_rate=SR, has_audio=audio)


def face_context(t: int, box=(30.0, 25.0, 70.0, 75.0)) -> dict:
    return {"face_box": np.tile(np.asarray(box, np.float32), (t, 1))}


def tiny_hubert_config(num_hidden_layers: int = 2):
    from transformers import HubertConfig

    return HubertConfig(
        hidden_size=32,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )


def test_neural_extractors_are_registered():
    got = available()
    assert "resnet101" in got["visual"] and "hubert" in got["audio"] and "syncnet" in got["sync"]
    for cls in (ResNet101Extractor, HubertExtractor, SyncNetExtractor):
        assert cls.needs_weights


# ---- crops -------------------------------------------------------------------------------
def test_crop_helpers():
    yy, xx = np.mgrid[0:80, 0:120]
    smooth = np.stack([xx * 2, yy * 3, xx + yy], axis=-1).astype(np.uint8)
    full = crop_resize(smooth, np.array([0, 0, 120, 80]), 64)
    ref = cv2.resize(smooth, (64, 64), interpolation=cv2.INTER_LINEAR)
    assert np.abs(full.astype(float) - ref).mean() < 1.0
    sub = crop_resize(smooth, np.array([20, 10, 60, 50]), 40)  # 1:1 crop = slicing
    assert np.abs(sub.astype(int) - smooth[10:50, 20:60]).max() <= 1
    boxes = np.full((6, 4), np.nan)
    boxes[1] = [0, 0, 10, 10]
    boxes[4] = [5, 5, 20, 20]
    held = fill_boxes(boxes, 6)
    assert np.array_equal(held[[0, 1, 2]], np.tile([0, 0, 10, 10], (3, 1)))
    assert np.array_equal(held[[3, 4, 5]], np.tile([5, 5, 20, 20], (3, 1)))
    assert fill_boxes(np.full((3, 4), np.nan), 3) is None


# ---- ResNet-101 ----------------------------------------------------------------------------
def test_resnet101_refuses_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        get_extractor("visual", "resnet101", {"weights": {"resnet101": None}})
    msg = str(err.value)
    assert "features.weights.resnet101" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    for name, modality in (("hubert", "audio"), ("syncnet", "sync")):
        with pytest.raises(WeightsError, match=f"features.weights.{name}"):
            get_extractor(modality, name, {"weights": {}})


def test_resnet101_loads_torch_home_weights_and_normalises_like_imagenet(resnet101_in_torch_home):
    net = resnet101_in_torch_home
    ext = get_extractor("visual", "resnet101", {"weights": {"resnet101": None}, "face_crop": False})
    assert not ext.random_init and ext.describe()["weights"] == "resnet101-cd907fc2.pth"
    clip = make_clip(2)
    feats = ext.extract(clip, {})
    # oracle: centre square of the full frame, resized, normalised here with numpy
    crops = np.stack(
        [cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR) for f in clip.frames]
    )
    x = (crops / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    with torch.no_grad():
        want = net.features(torch.tensor(x, dtype=torch.float32).permute(0, 3, 1, 2)).numpy()
    assert feats.shape == (2, 2048)
    np.testing.assert_allclose(feats, want, rtol=0.05, atol=0.05 * np.abs(want).mean())


def test_resnet101_random_init_face_crop_and_fallback():
    ext = ResNet101Extractor({"face_crop": True}, allow_random_init=True)
    assert ext.describe()["random_init"] is True
    clip = make_clip(3)
    ctx = face_context(3)
    out = ext.extract(clip, ctx)
    assert out.shape == (3, 2048) and out.dtype == np.float32 and np.isfinite(out).all()
    assert ctx["resnet101_region"] == "face"
    ctx2 = {"face_box": np.full((3, 4), np.nan, np.float32)}
    out2 = ext.extract(clip, ctx2)
    assert ctx2["resnet101_region"] == "full_frame" and not np.allclose(out, out2)


@pytest.mark.slow
def test_resnet101_full_150_frame_clip():
    ext = ResNet101Extractor({"face_crop": True, "batch_frames": 64}, allow_random_init=True)
    out = ext.extract(make_clip(150, side=64), face_context(150, (10, 10, 50, 54)))
    assert out.shape == (150, 2048) and np.isfinite(out).all()


# ---- HuBERT --------------------------------------------------------------------------------
def test_hubert_pooling_onto_the_grid_closed_form():
    rf, hop = receptive_field((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    assert (rf, hop) == (400, 320)  # HuBERT-Base: 25 ms window, 20 ms hop
    n_enc = (96000 - 400) // 320 + 1  # 299 encoder frames for 6 s
    hidden = np.arange(n_enc, dtype=np.float64)[:, None] * np.array([[1.0, -2.0]])
    grid = pool_to_grid(hidden, 150, 25, 16000, rf, hop)
    want = np.array([2 * t + 0.5 for t in range(149)] + [298.0])
    np.testing.assert_allclose(grid[:, 0], want)
    np.testing.assert_allclose(grid[:, 1], -2 * want)


def test_hubert_tiny_random_init_shape_and_no_audio():
    ext = HubertExtractor({"n_frames": 150}, allow_random_init=True, config=tiny_hubert_config())
    out = ext.extract(make_clip(150, side=8), {})
    assert out.shape == (150, 32) and np.isfinite(out).all()
    silent = ext.extract(make_clip(150, side=8, audio=False), {})
    assert silent.shape == (150, 32) and np.isnan(silent).all()


def test_hubert_local_dir_loads_and_mismatch_is_refused(tmp_path):
    from transformers import HubertModel

    torch.manual_seed(0)
    model = HubertModel(tiny_hubert_config()).eval()
    good = tmp_path / "hubert-tiny"
    model.save_pretrained(good)
    (good / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    ext = HubertExtractor({"weights": {"hubert": str(good)}, "n_frames": 50})
    clip = make_clip(50, side=8)
    out = ext.extract(clip, {})
    with torch.no_grad():
        hid = model(torch.tensor(clip.audio)[None]).last_hidden_state[0].numpy()
    want = np.stack([hid[2 * t : 2 * t + 2].mean(axis=0) for t in range(50)])  # frames 2t, 2t+1
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert not ext.random_init and ext.dim == 32

    bad = tmp_path / "hubert-mismatch"
    model.save_pretrained(bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["hidden_size"], cfg["intermediate_size"] = 48, 37
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="hubert-mismatch"):
        _ = HubertExtractor({"weights": {"hubert": str(bad)}}).model

    empty = tmp_path / "hubert-noweights"
    empty.mkdir()
    (empty / "config.json").write_text((good / "config.json").read_text())
    with pytest.raises(WeightsError, match="hubert-noweights"):
        _ = HubertExtractor({"weights": {"hubert": str(empty)}}).model


@pytest.mark.slow
def test_hubert_base_config_gives_768_on_the_grid():
    ext = HubertExtractor({"n_frames": 150}, allow_random_init=True)
    out = ext.extract(make_clip(150, side=8), {})
    assert out.shape == (150, 768) and np.isfinite(out).all()


# ---- SyncNet -------------------------------------------------------------------------------
def test_syncnet_geometry_and_window_count():
    np.testing.assert_allclose(
        syncnet_crop_box(np.array([100, 100, 200, 200])), [80, 100, 220, 240]
    )
    assert n_windows(150, 96000, 25, 16000) == 145  # syncnet_python: min(T, S // 640) - 5
    assert n_windows(150, 6400, 25, 16000) == 5
    assert n_windows(4, 96000, 25, 16000) == 0


def test_offset_distances_match_brute_force():
    rng = np.random.default_rng(0)
    v, a, m = rng.standard_normal((7, 4)), rng.standard_normal((7, 4)), 3
    d = offset_distances(v, a, m)
    for i in range(7):
        for k in range(2 * m + 1):
            j = i + k - m
            other = a[j] if 0 <= j < 7 else np.zeros(4)
            assert d[i, k] == pytest.approx(np.linalg.norm(v[i] - other + 1e-6), rel=1e-5)


@pytest.mark.parametrize("lag", [4, -6, 0])
def test_offset_search_recovers_an_injected_lag(lag):
    rng = np.random.default_rng(1)
    n, m = 80, 15
    base = rng.standard_normal((n + 40, 16))
    vid = base[20 : 20 + n]
    aud = base[20 - lag : 20 - lag + n]  # aud[i] = vid[i - lag]: audio delayed by `lag` frames
    offset, dist, conf, curve = offset_search(vid, aud, m)
    assert offset == lag
    assert curve.shape == (31,) and dist == pytest.approx(curve.min())
    assert conf == pytest.approx(np.median(curve) - curve.min()) and conf > 1.0


def test_syncnet_random_init_end_to_end_and_nan_cases():
    ext = SyncNetExtractor({"sync_max_offset": 2}, allow_random_init=True)
    clip = make_clip(8)
    out = ext.extract(clip, face_context(8))
    assert out.shape == (3,) and np.isfinite(out).all() and -2 <= out[0] <= 2
    assert np.isnan(ext.extract(make_clip(8, audio=False), face_context(8))).all()
    assert np.isnan(ext.extract(clip, {"face_box": np.full((8, 4), np.nan)})).all()


class _ToySync(SyncNetExtractor):
    """SyncNet with its networks replaced by transparent embeddings (no weights needed).

    lip window -> standardised mean brightness of its 5 frames; audio window -> standardised
    mean log energy (MFCC c0) of each group of 4 MFCC frames. Tests windowing and sign.
    """

    def forward_units(self, stream, x):
        if stream == "lip":  # uint8 (N, H, W, 3, 5)
            e = x.float().mean(dim=(1, 2, 3))
        else:  # (N, 1, 13, 20)
            e = x[:, 0, 0, :].reshape(x.shape[0], 5, 4).mean(dim=2)
        return (e - e.mean(1, keepdim=True)) / e.std(1, keepdim=True)


@pytest.mark.parametrize("delay", [3, -2])
def test_syncnet_pipeline_sign_convention(delay):
    rng = np.random.default_rng(7)
    t = 50
    b = rng.uniform(0, 1, t + 10)
    frames = (
        np.repeat((40 + 180 * b[5 : 5 + t])[:, None, None, None], 64, axis=1)
        .repeat(64, axis=2)
        .repeat(3, axis=3)
    )
    amp = 0.002 * np.exp(
        2.5 * b[5 - delay : 5 - delay + t]
    )  # audio of frame i = picture of frame i - delay
    wav = (np.repeat(amp, SR // FPS) * rng.standard_normal(t * SR // FPS)).astype(np.float32)
    clip = Clip("s", "s.mp4", frames.astype(np.uint8), wav, fps=FPS, sample_rate=SR)
    ext = _ToySync({"sync_max_offset": 6}, allow_random_init=True)
    out = ext.extract(clip, face_context(t, (8, 8, 56, 56)))
    assert out[0] == delay  # + = audio delayed relative to video
