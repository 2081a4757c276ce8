"""tqa.features.nets: ResNet-101 / SyncNet layouts against hand-written oracles, weight loading,
MFCC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tqa.features.nets import (
    ResNet101,
    SyncNet,
    WeightsError,
    build_resnet101,
    load_state_dict_checked,
    pooled_features,
    resolve_weights,
)
from tqa.features.nets.mfcc import mfcc
from tqa.features.nets.weights import read_state_dict

# torchvision's resnet101 (usually not installed here): parameter count including fc, and a few
# key shapes written down from the paper's Table 1 / torchvision's module tree.
TORCHVISION_RESNET101_PARAMS = 44_549_160
TORCHVISION_RESNET101_KEYS = 626  # 33 blocks x 18 + 4 downsample x 6 + conv1 + bn1 (5) + fc (2)
KNOWN_SHAPES = {
    "conv1.weight": (64, 3, 7, 7),
    "bn1.running_mean": (64,),
    "layer1.0.conv1.weight": (64, 64, 1, 1),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.0.downsample.1.running_var": (256,),
    "layer2.0.conv2.weight": (128, 128, 3, 3),
    "layer2.3.conv3.weight": (512, 128, 1, 1),
    "layer3.0.downsample.0.weight": (1024, 512, 1, 1),
    "layer3.22.conv3.weight": (1024, 256, 1, 1),
    "layer3.22.bn3.num_batches_tracked": (),
    "layer4.0.conv1.weight": (512, 1024, 1, 1),
    "layer4.2.bn3.weight": (2048,),
    "fc.weight": (1000, 2048),
    "fc.bias": (1000,),
}


@pytest.fixture(scope="module")
def resnet() -> ResNet101:
    torch.manual_seed(0)
    return ResNet101().eval()


def test_resnet101_matches_torchvision_layout(resnet):
    sd = resnet.state_dict()
    assert sum(p.numel() for p in resnet.parameters()) == TORCHVISION_RESNET101_PARAMS
    assert len(sd) == TORCHVISION_RESNET101_KEYS
    for key, shape in KNOWN_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    # 3, 4, 23, 3 bottlenecks; no block past the last
    for layer, n in (("layer1", 3), ("layer2", 4), ("layer3", 23), ("layer4", 3)):
        assert f"{layer}.{n - 1}.conv1.weight" in sd and f"{layer}.{n}.conv1.weight" not in sd
    assert "layer1.1.downsample.0.weight" not in sd  # only the first block of a stage projects
    # torchvision v1.5: the stride sits on the 3x3 conv
    assert resnet.layer2[0].conv2.stride == (2, 2) and resnet.layer2[0].conv1.stride == (1, 1)


def test_resnet101_pooled_features_shape(resnet):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        f = resnet.features(x)
        logits = resnet(x)
    assert f.shape == (3, 2048) and logits.shape == (3, 1000)
    assert torch.isfinite(f).all() and (f >= 0).all()  # average of post-ReLU activations


def test_saved_state_dict_loads_and_reproduces_outputs(resnet, tmp_path):
    path = tmp_path / "resnet101-test.pth"
    torch.save(resnet.state_dict(), path)
    fresh = ResNet101()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = fresh.eval()(x)
        load_state_dict_checked(fresh, path)
        after = fresh.eval()(x)
        want = resnet(x)
    assert not torch.allclose(before, want)
    assert torch.equal(after, want)


def test_checkpoint_wrappers_are_unwrapped(tmp_path):
    net = SyncNet()
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "wrapped.model"
    torch.save({"state_dict": sd}, path)
    assert set(read_state_dict(path)) == set(net.state_dict())


def test_resnet50_shaped_weights_are_refused_naming_the_file(tmp_path):
    r50 = ResNet101(layers=(3, 4, 6, 3))  # ResNet-50 layout
    path = tmp_path / "resnet50-0676ba61.pth"
    torch.save(r50.state_dict(), path)
    with pytest.raises(WeightsError) as err:
        load_state_dict_checked(ResNet101(), path)
    msg = str(err.value)
    assert str(path) in msg and "missing keys" in msg and "layer3.6." in msg


def test_truncated_and_reshaped_weights_are_refused(resnet, tmp_path):
    sd = dict(resnet.state_dict())
    sd.pop("layer4.2.bn3.weight")
    sd["fc.weight"] = torch.zeros(10, 2048)
    sd["fc.bias"] = torch.zeros(10)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError) as err:
        load_state_dict_checked(ResNet101(), path)
    msg = str(err.value)
    assert (
        "bad.pth" in msg
        and "layer4.2.bn3.weight" in msg
        and "fc.weight: file (10, 2048) vs model (1000, 2048)" in msg
    )


def test_unreadable_weights_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth"):
        read_state_dict(path)


def test_resolve_weights_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert resolve_weights("resnet101", {"weights": {"resnet101": None}}) is None
    ck = tmp_path / "th" / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "resnet101-63fe2227.pth").write_bytes(b"x")
    assert resolve_weights("resnet101", {"weights": {}}) == ck / "resnet101-63fe2227.pth"
    own = tmp_path / "mine.pth"
    own.write_bytes(b"x")
    assert (
        resolve_weights("resnet101", {"weights": {"resnet101": str(own)}}) == own
    )  # params path wins
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights("syncnet", {"weights": {"syncnet": str(tmp_path / "typo.model")}})
    assert resolve_weights("syncnet", {"weights": {"syncnet": None}}) is None  # no hub fallback


# ---- SyncNet ---------------------------------------------------------------------------
# Module indices of joonson/syncnet_python SyncNetModel.S (conv/bn/relu/pool order).
SYNCNET_SHAPES = {
    "netcnnaud.0.weight": (64, 1, 3, 3),
    "netcnnaud.4.weight": (192, 64, 3, 3),
    "netcnnaud.8.weight": (384, 192, 3, 3),
    "netcnnaud.18.weight": (512, 256, 5, 4),
    "netcnnaud.19.running_mean": (512,),
    "netfcaud.0.weight": (512, 512),
    "netfcaud.1.running_var": (512,),
    "netfcaud.3.weight": (1024, 512),
    "netcnnlip.0.weight": (96, 3, 5, 7, 7),
    "netcnnlip.4.weight": (256, 96, 1, 5, 5),
    "netcnnlip.18.weight": (512, 256, 1, 6, 6),
    "netfclip.3.bias": (1024,),
}


def test_syncnet_layout_and_forward_shapes():
    torch.manual_seed(0)
    net = SyncNet().eval()
    sd = net.state_dict()
    for key, shape in SYNCNET_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith(("netcnnaud.21", "netcnnlip.21")) for k in sd)
    with torch.no_grad():
        a = net.forward_aud(torch.randn(2, 1, 13, 20))
        v = net.forward_lip(torch.rand(2, 3, 5, 224, 224) * 255)
    assert a.shape == (2, 1024) and v.shape == (2, 1024)
    with pytest.raises(RuntimeError):  # the lip stream needs 224 x 224 crops (1x1 after the convs)
        with torch.no_grad():
            net.forward_lip(torch.rand(1, 3, 5, 112, 112))


# ---- MFCC (python_speech_features defaults) --------------------------------------------
def test_mfcc_frame_count_rate_and_energy_coefficient():
    sr = 16000
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(96000)).astype(np.float32)
    m = mfcc(x, sr)
    assert m.shape == (1 + math.ceil((96000 - 400) / 160), 13) == (599, 13)
    # Coefficient 0 = log energy of the 512-point power spectrum / 512; closed form by
    # Parseval: sum_{k=0}^{256} |X_k|^2 = (512 * sum x^2 + X_0^2 + X_256^2) / 2.
    s = x.astype(np.float64) * 32768.0
    pre = np.append(s[0], s[1:] - 0.97 * s[:-1])
    for i in (0, 10, 300):
        f = pre[160 * i : 160 * i + 400]
        x0, xn = f.sum(), (f * (-1.0) ** np.arange(400)).sum()
        energy = (512 * (f**2).sum() + x0**2 + xn**2) / 2 / 512
        assert m[i, 0] == pytest.approx(np.log(energy), rel=1e-9)


def test_mfcc_tracks_spectral_shape():
    sr = 16000
    t = np.arange(sr) / sr
    low = mfcc(0.3 * np.sin(2 * np.pi * 200 * t), sr)
    high = mfcc(0.3 * np.sin(2 * np.pi * 4000 * t), sr)
    # c1 weights low mel bands positively (cos over the first half): a low tone scores higher
    assert np.median(low[:, 1]) > np.median(high[:, 1])


# ----------------------------------------------------------------- torchvision or the own copy
def _fake_torchvision(monkeypatch, calls: list) -> None:
    """A stand-in ``torchvision`` package whose ``models.resnet101`` returns a plain module
    holding the layers of a ResNet101 (so it has no ``features`` method, like torchvision's)."""
    import sys
    import types

    def resnet101(weights=None, num_classes=1000):
        calls.append({"weights": weights, "num_classes": num_classes})
        torch.manual_seed(1)
        src = ResNet101(num_classes=num_classes)
        plain = torch.nn.Module()
        for name, child in src.named_children():
            plain.add_module(name, child)
        plain.__dict__["source"] = src  # the same layers, for the oracle (not a submodule)
        return plain

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(resnet101=resnet101)
    monkeypatch.setitem(sys.modules, "torchvision", tv)


def test_build_resnet101_falls_back_to_the_own_copy_without_torchvision(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` -> ImportError
    net = build_resnet101()
    assert type(net) is ResNet101


def test_build_resnet101_takes_torchvision_when_it_imports(monkeypatch):
    calls: list = []
    _fake_torchvision(monkeypatch, calls)
    net = build_resnet101(num_classes=10)
    assert calls == [{"weights": None, "num_classes": 10}]  # never a download
    assert not isinstance(net, ResNet101) and not hasattr(net, "features")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        got = pooled_features(net.eval(), x)
        want = net.source.eval().features(x)  # ResNet101's own forward, an independent path
    assert got.shape == (2, 2048)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_resnet101_extractor_loads_weights_into_torchvision_when_it_imports(
    resnet101_in_torch_home, monkeypatch
):
    from tqa.features.extractors.visual_resnet import ResNet101Extractor

    net = resnet101_in_torch_home
    calls: list = []
    _fake_torchvision(monkeypatch, calls)
    ext = ResNet101Extractor({"weights": {"resnet101": None}, "face_crop": False})
    assert not ext.random_init
    model = ext.model  # built by the (fake) torchvision, then loaded strictly from the file
    assert len(calls) == 1 and not isinstance(model, ResNet101)
    x = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        got = ext.forward_units("frames", x)
        want = net.features((x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
