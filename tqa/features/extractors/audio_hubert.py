"""``hubert``: HuBERT last hidden state pooled onto the 25 fps grid (chapter 3.1.1 (2)).

HuBERT (Hsu et al. 2021; ``transformers.HubertModel``) maps the 16 kHz waveform to one
``hidden_size``-d vector (768 for HuBERT-Base) every 20 ms (50 Hz; conv feature encoder of
stride 320 samples and a 400-sample receptive field). Alignment: HuBERT frame ``k`` covers
samples ``[320 k, 320 k + 400)``, centred at ``(320 k + 200) / 16000`` s; grid frame ``t``
(25 fps) is the mean of the HuBERT frames whose centres fall in ``[t / 25, (t + 1) / 25)``
-- frames ``2t`` and ``2t + 1`` -- so 6 s of audio (299 HuBERT frames) give 150 rows
(the last grid frame averages the single frame 298). A grid frame no centre falls in
(shorter audio) takes the nearest HuBERT frame. Receptive field and stride are read from
the model config, so other conv layouts align correctly too.

Weights: ``features.weights.hubert`` = a local directory loadable by
``HubertModel.from_pretrained(dir, local_files_only=True)`` (``config.json`` + weights,
optionally ``preprocessor_config.json``: its ``do_normalize`` decides whether the waveform
is standardised per clip first, as ``Wav2Vec2FeatureExtractor`` does; absent -> raw
waveform). Missing or wrongly shaped weights raise :class:`~tqa.features.nets.weights.WeightsError`
naming the directory. Clips without an audio track give NaN rows.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tqa.features.extractors.base import Clip, register
from tqa.features.extractors.neural import NeuralExtractor
from tqa.features.nets.weights import SHOW_KEYS, WeightsError

log = logging.getLogger(__name__)

#: Keys a HubertModel may lack in a checkpoint without harm (used only for masked training).
OPTIONAL_KEYS: tuple[str, ...] = ("masked_spec_embed",)
#: Per-clip standardisation epsilon (Wav2Vec2FeatureExtractor's 1e-7).
NORM_EPS: float = 1e-7


def receptive_field(kernels: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int]:
    """(receptive field, hop) in samples of a stack of 1-D convolutions."""
    rf, hop = 1, 1
    for k, s in zip(kernels, strides):
        rf += (k - 1) * hop
        hop *= s
    return rf, hop


def pool_to_grid(
    hidden: np.ndarray, n_frames: int, fps: float, sample_rate: int, rf: int, hop: int
) -> np.ndarray:
    """Mean of the (F, D) encoder frames whose centres fall in each grid frame -> (n_frames, D)."""
    f = hidden.shape[0]
    if f == 0:
        return np.full((n_frames, hidden.shape[1]), np.nan, np.float32)
    centres = (np.arange(f) * hop + rf / 2.0) / sample_rate  # seconds
    grid = np.floor(centres * fps + 1e-9).astype(int)  # grid frame of each encoder frame
    out = np.zeros((n_frames, hidden.shape[1]), np.float64)
    counts = np.zeros(n_frames)
    keep = (grid >= 0) & (grid < n_frames)
    np.add.at(out, grid[keep], hidden[keep])
    np.add.at(counts, grid[keep], 1)
    empty = counts == 0
    if empty.any():  # nearest encoder frame to the grid frame centre
        gc = (np.flatnonzero(empty) + 0.5) / fps
        nearest = np.abs(centres[None, :] - gc[:, None]).argmin(axis=1)
        out[empty] = hidden[nearest]
        counts[empty] = 1
    return (out / counts[:, None]).astype(np.float32)


@register
class HubertExtractor(NeuralExtractor):
    """HuBERT embeddings per grid frame (audio modality)."""

    name = "hubert"
    modality = "audio"
    weights_kind = "hubert"

    def __init__(self, params: dict | None = None, *, config: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        from transformers import HubertConfig  # noqa: PLC0415 (heavy; only this extractor)

        if self._model is not None:
            config = self._model.config
        elif self.weights_path is not None:
            try:
                config = HubertConfig.from_pretrained(str(self.weights_path), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise WeightsError(
                    f"features.weights.hubert = {self.weights_path}: no readable HuBERT "
                    f"config.json ({type(exc).__name__}: {exc})"
                ) from exc
        self.config = config if config is not None else HubertConfig()
        self.rf, self.hop = receptive_field(
            tuple(self.config.conv_kernel), tuple(self.config.conv_stride)
        )
        self.do_normalize = self._read_do_normalize()

    def _read_do_normalize(self) -> bool:
        if self.weights_path is None:
            return False
        pre = Path(self.weights_path) / "preprocessor_config.json"
        if not pre.exists():
            return False
        return bool(json.loads(pre.read_text()).get("do_normalize", False))

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    def build_model(self) -> nn.Module:
        from transformers import HubertModel  # noqa: PLC0415 (heavy; only this extractor)

        return HubertModel(self.config)

    def load_weights(self, path: Path) -> nn.Module:
        from transformers import HubertModel  # noqa: PLC0415 (heavy; only this extractor)

        try:
            model, info = HubertModel.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise WeightsError(
                f"cannot load HuBERT weights from {path}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        missing = [k for k in info.get("missing_keys", []) if k not in OPTIONAL_KEYS]
        mismatched = list(info.get("mismatched_keys", []))
        if missing or mismatched:
            raise WeightsError(
                f"HuBERT weights in {path} do not fit the config: "
                f"{len(missing)} missing keys (first: {missing[:SHOW_KEYS]}), "
                f"{len(mismatched)} mismatched (first: {mismatched[:SHOW_KEYS]})"
            )
        if info.get("unexpected_keys"):
            log.info(
                "HuBERT %s: ignoring %d unexpected keys (e.g. %s)",
                path,
                len(info["unexpected_keys"]),
                list(info["unexpected_keys"])[:SHOW_KEYS],
            )
        return model

    def unit_frames(self, stream: str) -> int:
        return int(self.params.get("n_frames", 150))

    def prepare(self, clip: Clip, context: dict[str, Any]) -> dict[str, np.ndarray]:
        if not clip.has_audio or clip.audio.size < self.rf:
            return {}
        wav = clip.audio.astype(np.float32)
        if self.do_normalize:
            wav = (wav - wav.mean()) / np.sqrt(wav.var() + NORM_EPS)
        return {"wave": wav[None, :]}

    def forward_units(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        """float (N, S) waveforms of equal length -> (N, F, hidden) last hidden states."""
        return self.model(input_values=x.float()).last_hidden_state

    def finish(
        self, clip: Clip, context: dict[str, Any], outputs: dict[str, np.ndarray]
    ) -> np.ndarray:
        if "wave" not in outputs or outputs["wave"].size == 0:
            return self.no_output(clip)
        hidden = outputs["wave"][0]  # (F, D)
        return pool_to_grid(hidden, clip.n_frames, clip.fps, clip.sample_rate, self.rf, self.hop)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "hidden_size": self.dim,
            "encoder_hz": self.params.get("sample_rate", 16000) / self.hop,
            "pooling": "mean of encoder frames centred in each grid frame",
            "do_normalize": self.do_normalize,
        }
