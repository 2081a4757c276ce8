"""Cross-modal Transformer: shapes, range, ablation switches, checkpointing equivalence."""

import numpy as np
import pytest
import torch

from tqa.core.params import load_params
from tqa.model.transformer import CrossModalTransformer, build_model

pytestmark = pytest.mark.usefixtures("torch_one_thread")


DIMS = {"visual": 7, "audio": 5, "landmarks": 9, "au": 4}


def _batch(b=3, t=30, dims=DIMS, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, t, d, generator=g) for m, d in dims.items()}, torch.randn(
        b, 3, generator=g
    )


def _model(**kw):
    base = dict(
        d_model=16,
        n_layers=2,
        n_heads=2,
        dim_feedforward=32,
        dropout=0.0,
        max_frames=30,
        token_stride=5,
    )
    base.update(kw)
    torch.manual_seed(0)
    return CrossModalTransformer(DIMS, **base)


def test_forward_shape_and_range():
    x, s = _batch()
    y = _model()(x, s)
    assert y.shape == (3, 5)
    assert torch.all((y >= 1.0) & (y <= 5.0))
    big = {m: v * 1e4 for m, v in x.items()}  # saturating inputs still stay in range
    y2 = _model()(big, s * 1e4)
    assert torch.all((y2 >= 1.0) & (y2 <= 5.0))


def test_build_model_from_params():
    p = load_params()["model"]
    m = build_model(DIMS, p)
    assert m.d_model == p["d_model"]
    with pytest.raises(KeyError):
        build_model(DIMS, {**p, "d_modle": 3})


@pytest.mark.parametrize("kw", [dict(path_a=True, path_b=False), dict(path_a=False, path_b=True)])
def test_single_path(kw):
    x, s = _batch()
    m = _model(**kw)
    assert m(x, s).shape == (3, 5)
    assert hasattr(m, "layers") == kw["path_b"]
    assert hasattr(m, "stats_mlp") == kw["path_a"]


def test_no_path_raises():
    with pytest.raises(ValueError):
        _model(path_a=False, path_b=False)


@pytest.mark.parametrize("drop", ["visual", "audio", "landmarks", "au"])
def test_dropped_modality_is_not_used(drop):
    m = _model(drop_modalities=(drop,)).eval()
    x, s = _batch()
    y = m(x, s)
    x2 = dict(x)
    x2[drop] = torch.randn_like(x[drop]) * 100  # changing it must not change anything
    assert torch.equal(y, m(x2, s))
    del x2[drop]  # and it may be absent
    assert torch.equal(y, m(x2, s))
    assert drop not in m.modalities


def test_sync_switch():
    m = _model(use_sync=False).eval()
    x, s = _batch()
    assert torch.equal(m(x, s), m(x, s + 10))
    m2 = _model(use_sync=True).eval()
    assert not torch.equal(m2(x, s), m2(x, s + 10))


def test_time_pooling_matches_numpy_windows():
    m = _model(token_stride=4)
    x = torch.randn(2, 10, 3)
    got = m._pool_time(x).numpy()
    xp = np.concatenate(
        [x.numpy(), np.repeat(x.numpy()[:, -1:], 2, axis=1)], axis=1
    )  # pad 10 -> 12
    ref = xp.reshape(2, 3, 4, 3).mean(axis=2)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_checkpointing_same_outputs_and_gradients():
    x, s = _batch(b=4)
    a = _model(grad_checkpointing=False).train()  # dropout 0: train mode is deterministic
    b = _model(grad_checkpointing=True).train()
    b.load_state_dict(a.state_dict())
    ya, yb = a(x, s), b(x, s)
    torch.testing.assert_close(ya, yb)
    ya.sum().backward()
    yb.sum().backward()
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=na)


def test_input_validation():
    m = _model()
    x, s = _batch()
    with pytest.raises(ValueError):
        m({**x, "audio": torch.randn(3, 30, 6)}, s)
    with pytest.raises(KeyError):
        m({k: v for k, v in x.items() if k != "au"}, s)
    with pytest.raises(ValueError):
        m(x, torch.randn(3, 2))


def test_parameter_counts_cover_all_parameters():
    m = _model()
    counts = m.parameter_counts()
    assert sum(counts.values()) == sum(p.numel() for p in m.parameters())
    assert {f"head_{t}" for t in ("lip_sync", "overall")} <= set(counts)


def test_routed_task_reads_only_its_modalities():
    """task_modalities={audio_quality: [audio]}: changing video, landmarks, AU and sync moves
    the other scores but leaves audio_quality bit-identical; changing the audio moves it."""
    m = _model(task_modalities={"audio_quality": ["audio"]}).eval()
    x, s = _batch()
    y = m(x, s)
    other = {**x, **{k: torch.randn_like(x[k]) * 3 for k in ("visual", "landmarks", "au")}}
    y2 = m(other, s + 5)
    assert torch.equal(y[:, 2], y2[:, 2])
    assert not torch.allclose(y[:, [0, 1, 3, 4]], y2[:, [0, 1, 3, 4]])
    y3 = m({**x, "audio": torch.randn_like(x["audio"]) * 3}, s)
    assert not torch.allclose(y[:, 2], y3[:, 2])
    # the chapter's model (no routing) lets the visual stream move audio_quality
    c = _model().eval()
    assert not torch.allclose(c(x, s)[:, 2], c(other, s + 5)[:, 2])


def test_routing_validation_and_ablation_fallback():
    with pytest.raises(ValueError, match="unknown task"):
        _model(task_modalities={"audio_qualty": ["audio"]})
    with pytest.raises(ValueError, match="unknown modalities"):
        _model(task_modalities={"audio_quality": ["sound"]})
    # audio dropped by an ablation: the task falls back to the shared fusion
    m = _model(task_modalities={"audio_quality": ["audio"]}, drop_modalities=("audio",))
    assert m.task_routes == {}
    x, s = _batch()
    assert m(x, s).shape == (3, 5)
    # DVC writes an empty value as null: build_model reads it as "not routed"
    p = {**load_params()["model"], "task_modalities": {"audio_quality": None}}
    assert build_model(DIMS, p).task_routes == {}


def test_routed_branch_counts_as_its_head():
    m = _model(task_modalities={"audio_quality": ["audio"]})
    counts = m.parameter_counts()
    assert sum(counts.values()) == sum(p.numel() for p in m.parameters())
    plain = _model().parameter_counts()
    assert counts["head_audio_quality"] > plain["head_audio_quality"]
    assert counts["head_overall"] == plain["head_overall"]


def test_routed_statistics_are_mean_std_and_percentiles():
    """The routed branch's statistics: mean, population std and the 10th / 90th percentiles
    over time (numpy's linear percentiles as the oracle), so one extreme frame does not move
    them the way it moves Path A's min / max."""
    x, _ = _batch(b=2, t=30)
    got = CrossModalTransformer._time_stats(x, ["audio"], robust=True).numpy()
    a = x["audio"].numpy()
    ref = np.concatenate(
        [a.mean(1), a.std(1), np.percentile(a, 10, axis=1), np.percentile(a, 90, axis=1)], -1
    )
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    spiked = {"audio": x["audio"].clone()}
    spiked["audio"][:, 7] = 1e3  # one absurd frame
    rob = CrossModalTransformer._time_stats(spiked, ["audio"], robust=True)
    raw = CrossModalTransformer._time_stats(spiked, ["audio"], robust=False)
    d = DIMS["audio"]
    # the percentiles stay inside the unspiked data's range; the max is the spike
    assert (rob[:, 3 * d :] <= x["audio"].amax(1)).all()
    assert raw[:, 3 * d :].min() == 1e3  # max over time is the spike
