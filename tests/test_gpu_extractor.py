"""GPUOptimizedExtractor: the features and cache files of FeatureExtractor, batched over videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from test_features_neural import tiny_hubert_config
from torch import nn

from tqa.core.params import load_params
from tqa.features import cache as fcache
from tqa.features.batching import forward_across
from tqa.features.extractors.audio_hubert import HubertExtractor
from tqa.features.extractors.base import Clip
from tqa.features.extractors.neural import NeuralExtractor, random_init_allowed
from tqa.features.gpu import GPUOptimizedExtractor, make_extractor
from tqa.features.pipeline import FeatureExtractor

T, SR, FPS = 6, 16000, 25  # 6 frames: SyncNet's minimum (one 5-frame window + 1)


def face_frames(t: int, shift: int, side: int = 128) -> np.ndarray:
    img = data.astronaut()[::4, ::4][:side, :side]  # a real face, 128 x 128
    return np.stack([np.roll(img, shift + i, axis=1) for i in range(t)]).astype(np.uint8)


def make_clip(vid: str, shift: int, seed: int) -> Clip:
    wav = (0.1 * np.random.default_rng(seed).standard_normal(T * SR // FPS)).astype(np.float32)
    return Clip(
        vid,
        f"{vid}.mp4",
        face_frames(T, shift),
        wav,
        fps=FPS,
        sample_rate=SR,
        meta={"valid_frames": np.arange(T) < T - 1},
    )  # last frame padded: NaN in both paths


def tiny_params(**over) -> dict:
    base = {
        "features.n_frames": T,
        "features.visual": "resnet101",
        "features.audio": "spectral",
        "features.sync": "syncnet",
        "features.sync_max_offset": 2,
        "features.batch_frames": 4,
        "features.device": "cpu",
        "features.workers": 1,
    }
    base.update({f"features.{k}": v for k, v in over.items()})
    return load_params(overrides=base)


def tiny_hubert(params: dict, model=None) -> HubertExtractor:
    cfg = tiny_hubert_config(num_hidden_layers=1)
    return HubertExtractor(params["features"], allow_random_init=True, config=cfg, model=model)


def write_face_videos(folder, prefix: str, step: int, n: int = 3) -> list[tuple[str, str]]:
    """``n`` mp4s ``<prefix><i>.mp4`` of the moving face (shifted ``step * i``) with noise audio
    (seed i) in ``folder``; ``(video_id, path)`` each."""
    from tqa.features.decode import write_video

    videos = []
    for i in range(n):
        path = folder / f"{prefix}{i}.mp4"
        wav = (0.1 * np.random.default_rng(i).standard_normal(T * SR // FPS)).astype(np.float32)
        write_video(path, face_frames(T, step * i), fps=FPS, audio=wav, sample_rate=SR)
        videos.append((f"{prefix}{i}", str(path)))
    return videos


# ---- batching across clips -----------------------------------------------------------------
class _Lin(NeuralExtractor):
    name, modality, weights_kind = "lin_test", "visual", "resnet101"
    dim = 3

    def __init__(self):
        super().__init__({"device": "cpu"}, allow_random_init=True)
        self.calls = []

    def build_model(self) -> nn.Module:
        return nn.Linear(4, 3)

    def prepare(self, clip, context):
        return {}

    def forward_units(self, stream, x):
        self.calls.append(tuple(x.shape))
        return self.model(x.reshape(x.shape[0], -1, 4).mean(1))

    def finish(self, clip, context, outputs):
        return outputs


def test_forward_across_batches_span_clips_and_keep_order():
    ext = _Lin()
    rng = np.random.default_rng(0)
    arrays = [
        rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (0, 4), (7, 4), (3, 8), (3, 4))
    ]
    # clip 3 has units of another shape: they never share a batch with the others
    outs = forward_across(ext, "s", arrays, batch_units=4, dtype=None, pin=False)
    with torch.no_grad():
        for a, o in zip(arrays, outs):
            if len(a):
                want = ext.model(
                    torch.tensor(a, dtype=torch.float32).reshape(len(a), -1, 4).mean(1)
                ).numpy()
                np.testing.assert_allclose(o, want, rtol=1e-6, atol=1e-6)
            else:
                assert o.size == 0
    # 15 units of shape (4,) in batches of 4 across clip boundaries, then 3 units of shape (8,)
    assert ext.calls == [(4, 4), (4, 4), (4, 4), (3, 4), (3, 8)]


# ---- same features as FeatureExtractor -------------------------------------------------------
def test_gpu_extractor_equals_feature_extractor_on_cpu():
    params = tiny_params()
    with random_init_allowed():
        simple = FeatureExtractor(params)
    fast = GPUOptimizedExtractor(params, allow_random_init=True, channels_last=True)
    # HuBERT with a tiny config, the very same model object in both
    simple.extractors["audio"] = tiny_hubert(params)
    fast.extractors["audio"] = tiny_hubert(params, model=simple.extractors["audio"].model)
    fast.neural["audio"] = fast.extractors["audio"]
    assert fast.config_hash == simple.config_hash
    clips = [make_clip("a", 0, 1), make_clip("b", 9, 2)]
    got = fast.extract_clips(clips)  # 2 x 6 frames in forwards of 4: a batch straddles the clips
    for clip, g in zip(clips, got):
        want = simple.extract_clip(clip)
        assert set(g.streams) == set(want.streams) == {"landmarks", "visual", "audio", "au"}
        for m, w in want.streams.items():
            assert np.array_equal(np.isnan(g.streams[m]), np.isnan(w)), m
            scale = np.nanmax(np.abs(w)) or 1.0
            np.testing.assert_allclose(g.streams[m], w, rtol=1e-4, atol=1e-4 * scale, err_msg=m)
        assert np.isnan(g.streams["visual"][T - 1]).all()  # padded frame
        np.testing.assert_allclose(g.sync, want.sync, rtol=1e-4, atol=1e-4)
        assert g.meta["config_hash"] == want.meta["config_hash"]
        assert (
            g.meta["names"] == want.meta["names"] and g.meta["face_rate"] == want.meta["face_rate"]
        )
        assert g.meta["extractors"]["visual"]["random_init"] is True
        assert g.meta["engine"]["extractor"] == "GPUOptimizedExtractor"
    assert fast.extractors["visual"]._model is not None  # one model per extractor, built once


def test_run_writes_the_same_cache_resumes_and_logs_failures(tmp_path):
    params = tiny_params(visual="nss")
    videos = write_face_videos(tmp_path, "v", 5)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes((tmp_path / "v0.mp4").read_bytes()[:300])  # truncated
    videos.insert(1, ("broken", str(bad)))

    with random_init_allowed():
        table_simple = FeatureExtractor(params).run(
            videos, tmp_path / "simple", workers=1, progress=False
        )
    fast = GPUOptimizedExtractor(params, allow_random_init=True, clips_per_step=2, prefetch=2)
    table = fast.run(videos, tmp_path / "fast", progress=False)
    assert list(table["video_id"]) == [v for v, _ in videos]
    assert (
        list(table["status"])
        == list(table_simple["status"])
        == ["extracted", "failed", "extracted", "extracted"]
    )
    assert table.loc[table.video_id == "broken", "stage"].item() == "decode"
    fails = (tmp_path / "fast" / "failures.csv").read_text()
    assert "broken" in fails and "decode" in fails
    for vid, _ in videos:
        if vid == "broken":
            assert not fcache.cache_file(tmp_path / "fast", vid).exists()
            continue
        s_streams, s_sync, s_meta = fcache.read_features(
            fcache.cache_file(tmp_path / "simple", vid)
        )
        f_streams, f_sync, f_meta = fcache.read_features(fcache.cache_file(tmp_path / "fast", vid))
        assert f_meta["config_hash"] == s_meta["config_hash"]
        for m in s_streams:
            np.testing.assert_allclose(f_streams[m], s_streams[m], rtol=1e-4, atol=1e-4, err_msg=m)
        np.testing.assert_allclose(f_sync, s_sync, rtol=1e-4, atol=1e-4)
    again = fast.run(videos, tmp_path / "fast", progress=False)  # resume: nothing recomputed
    assert list(again["status"]) == ["cached", "failed", "cached", "cached"]
    # the simple extractor accepts the GPU-written cache as its own
    with random_init_allowed():
        resumed = FeatureExtractor(params).run(videos, tmp_path / "fast", workers=1, progress=False)
    assert (resumed.set_index("video_id").drop(index="broken")["status"] == "cached").all()


@pytest.mark.slow
def test_run_with_cpu_stage_in_worker_processes(tmp_path):
    params = tiny_params(visual="nss")
    videos = write_face_videos(tmp_path, "w", 4)
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    videos.append(("bad", str(tmp_path / "bad.mp4")))
    fast = GPUOptimizedExtractor(params, allow_random_init=True, clips_per_step=2)
    table = fast.run(videos, tmp_path / "pool", workers=2, progress=False)
    assert list(table["status"]) == ["extracted", "extracted", "extracted", "failed"]
    single = fast.run(videos, tmp_path / "single", workers=1, progress=False)
    for vid, _ in videos[:3]:
        a, sa, _ = fcache.read_features(fcache.cache_file(tmp_path / "pool", vid))
        b, sb, _ = fcache.read_features(fcache.cache_file(tmp_path / "single", vid))
        for m in a:
            np.testing.assert_allclose(a[m], b[m], rtol=1e-4, atol=1e-4, err_msg=m)
        np.testing.assert_allclose(sa, sb, rtol=1e-4, atol=1e-4)
    assert single["status"].tolist() == table["status"].tolist()


def test_make_extractor_picks_the_simple_path_on_cpu():
    params = tiny_params(visual="nss", sync="correlation")
    assert type(make_extractor(params)) is FeatureExtractor
    assert isinstance(make_extractor(params, optimized=True), GPUOptimizedExtractor)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_matches_cpu_fp32():
    params = tiny_params(sync="correlation")
    with random_init_allowed():
        simple = FeatureExtractor(params)
    fast = GPUOptimizedExtractor(params, device="cuda", allow_random_init=True)
    assert fast.dtype in (torch.bfloat16, torch.float16)
    clips = [make_clip("a", 0, 1), make_clip("b", 9, 2), make_clip("c", 4, 3)]
    got = fast.extract_clips(clips)
    for clip, g in zip(clips, got):
        w = simple.extract_clip(clip).streams["visual"]
        ok = ~np.isnan(w).any(axis=1)
        a, b = g.streams["visual"][ok], w[ok]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cos.min() > 0.99
