"""Cross-modal Transformer with a dual path and five task heads (chapter 3.2.3).

Input: reduced streams ``{m: (B, T, D_m)}`` (T = 150 frames at 25 fps) and the lip-sync
triple ``(B, 3)``. Output: ``(B, 5)`` scores in [1, 5] in TASKS order.

- Modality embeddings: four parallel ``Linear(D_m, d_model) + LayerNorm``.
- Path B (interactive): frames are first mean-pooled in non-overlapping windows of
  ``token_stride`` frames (default 10 = 0.4 s, so 15 tokens per modality instead of 150:
  attention over 4 x 15 = 60 tokens is ~40x cheaper on CPU than over 600 and keeps the
  syllable-scale timing that lip sync needs; ``token_stride=1`` restores one token per
  frame). Each token = embedding + learnable time (positional) embedding + learnable
  modality-type embedding. All modality x time tokens go through one pre-norm
  ``nn.TransformerEncoder`` (multi-head self-attention across time AND modality), then a
  final LayerNorm and mean pooling over tokens.
- Path A (statistics concatenation): per modality mean, std, min and max over all frames
  of the reduced features, concatenated, LayerNorm, two-layer MLP to d_model.
- Fusion: concat [h_A, h_B, sync] (whichever are switched on) -> Linear -> GELU ->
  dropout; that Linear is ``last_shared_layer`` (GradNorm's W). The lip-sync triple is
  fed to the fusion (not only Path A) so that it survives the path ablations; ``use_sync``
  removes it.
- Heads: one ``Linear -> GELU -> Linear`` per task, squashed to [1, 5] by 1 + 4 * sigmoid.
- Task routing (``task_modalities``, not in the chapter): a routed task's head reads only its
  own statistics branch (mean/std/10th/90th percentile over time -> MLP, robust to one odd
  frame where Path A's min/max are not) over the listed modalities, never
  the shared fusion. ``{audio_quality: [audio]}`` makes the audio-quality score a function
  of the audio track alone, so the same audio under different videos gets the same score
  (the "swap test" of docs/real-videos.md); the shared fusion mixes in visual and sync
  features, which the synthetic corpus lets a model use as shortcuts. A routed task does not
  reach ``last_shared_layer``: GradNorm leaves its weight where it is (gradnorm.py).

Switches for ablations: ``path_a``, ``path_b`` (at least one), ``drop_modalities`` (the
stream is not read at all and its embedding is not built), ``use_sync``, and
``grad_checkpointing`` (encoder layers recomputed in the backward pass,
``torch.utils.checkpoint`` with ``use_reentrant=False``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from tqa.core.schema import MODALITIES, SYNC_FIELDS, TASKS

#: Constructor keywords that params.yaml's ``model:`` section may set.
MODEL_KEYS = (
    "d_model",
    "n_layers",
    "n_heads",
    "dim_feedforward",
    "dropout",
    "path_a",
    "path_b",
    "drop_modalities",
    "use_sync",
    "max_frames",
    "token_stride",
    "grad_checkpointing",
    "task_modalities",
)

SCORE_MIN, SCORE_MAX = 1.0, 5.0

#: Percentiles a routed task's branch uses in place of min / max over time.
_QUANTILES = torch.tensor([0.1, 0.9])


def _kept_modalities(
    input_dims: dict[str, int], drop_modalities: tuple[str, ...] | list[str]
) -> list[str]:
    """The modalities of ``input_dims`` not dropped, in MODALITIES order (error when none)."""
    unknown = [m for m in drop_modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(
            f"drop_modalities has unknown modalities {unknown}; known: {list(MODALITIES)}"
        )
    kept = [m for m in MODALITIES if m in input_dims and m not in set(drop_modalities)]
    if not kept:
        raise ValueError(
            f"no modality left (inputs {list(input_dims)}, dropped {list(drop_modalities)})"
        )
    return kept


def _task_routes(
    task_modalities: dict[str, list[str]] | None, kept: list[str], n_tasks: int
) -> dict[str, list[str]]:
    """Routed task -> its modalities among ``kept`` (MODALITIES order).

    Unknown task or modality names are an error. A task whose modalities were all dropped
    (a drop_modalities ablation) falls back to the shared fusion, so ablations still run.
    """
    routes: dict[str, list[str]] = {}
    for task, mods in (task_modalities or {}).items():
        if task not in TASKS[:n_tasks]:
            raise ValueError(f"task_modalities: unknown task {task!r}; known: {list(TASKS)}")
        mods = list(mods or [])
        unknown = [m for m in mods if m not in MODALITIES]
        if unknown:
            raise ValueError(
                f"task_modalities.{task}: unknown modalities {unknown}; known: {list(MODALITIES)}"
            )
        present = [m for m in kept if m in mods]
        if present:
            routes[task] = present
    return routes


class CrossModalTransformer(nn.Module):
    """Dual-path (statistics + interactive Transformer) multi-task regressor."""

    def __init__(
        self,
        input_dims: dict[str, int],
        n_sync: int = len(SYNC_FIELDS),
        *,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        path_a: bool = True,
        path_b: bool = True,
        drop_modalities: tuple[str, ...] | list[str] = (),
        use_sync: bool = True,
        max_frames: int = 150,
        token_stride: int = 10,
        grad_checkpointing: bool = False,
        task_modalities: dict[str, list[str]] | None = None,
        n_tasks: int = len(TASKS),
    ) -> None:
        super().__init__()
        if not (path_a or path_b):
            raise ValueError("at least one of path_a / path_b must be on")
        self.modalities = _kept_modalities(input_dims, drop_modalities)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        if token_stride < 1:
            raise ValueError(f"token_stride must be >= 1, got {token_stride}")
        self.input_dims = {m: int(input_dims[m]) for m in self.modalities}
        self.n_sync, self.use_sync = n_sync, use_sync
        self.path_a, self.path_b = path_a, path_b
        self.d_model, self.token_stride, self.max_frames = d_model, token_stride, max_frames
        self.grad_checkpointing = grad_checkpointing

        if path_b:
            self._build_interactive_path(n_layers, n_heads, dim_feedforward, dropout)
        if path_a:
            self.stats_mlp = self._stats_mlp(4 * sum(self.input_dims.values()), dropout)
        fuse_in = d_model * (int(path_a) + int(path_b)) + (n_sync if use_sync else 0)
        self.last_shared_layer = nn.Linear(fuse_in, d_model)
        self.fusion_dropout = nn.Dropout(dropout)
        hidden = max(d_model // 2, 8)
        self.heads = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, 1))
                for _ in range(n_tasks)
            ]
        )
        self.task_routes = _task_routes(task_modalities, self.modalities, n_tasks)
        self.task_branches = nn.ModuleDict(
            {
                task: self._stats_mlp(4 * sum(self.input_dims[m] for m in mods), dropout)
                for task, mods in self.task_routes.items()
            }
        )

    def _stats_mlp(self, stat_dim: int, dropout: float) -> nn.Sequential:
        """Path A's MLP: (B, stat_dim) statistics -> (B, d_model)."""
        return nn.Sequential(
            nn.LayerNorm(stat_dim),
            nn.Linear(stat_dim, self.d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(self.d_model, self.d_model),
        )

    def _build_interactive_path(
        self, n_layers: int, n_heads: int, dim_feedforward: int, dropout: float
    ) -> None:
        """Path B: per-modality token embeddings (+ time and modality embeddings) and the
        pre-norm Transformer encoder over all tokens."""
        d_model = self.d_model
        self.embed = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(d, d_model), nn.LayerNorm(d_model))
                for m, d in self.input_dims.items()
            }
        )
        n_time = math.ceil(self.max_frames / self.token_stride)
        self.time_embed = nn.Parameter(torch.zeros(1, n_time, d_model))
        self.modality_embed = nn.Parameter(torch.zeros(len(self.modalities), d_model))
        nn.init.trunc_normal_(self.time_embed, std=0.02)
        nn.init.trunc_normal_(self.modality_embed, std=0.02)
        self.embed_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [
                nn.TransformerEncoderLayer(
                    d_model,
                    n_heads,
                    dim_feedforward,
                    dropout,
                    activation="gelu",
                    batch_first=True,
                    norm_first=True,
                )
                for _ in range(n_layers)
            ]
        )
        self.final_norm = nn.LayerNorm(d_model)

    # ----------------------------------------------------------------- pieces
    def _check(self, streams: dict[str, Tensor], sync: Tensor) -> int:
        b = None
        for m in self.modalities:
            if m not in streams:
                raise KeyError(f"model expects modality {m!r}; got {list(streams)}")
            x = streams[m]
            if x.ndim != 3 or x.shape[-1] != self.input_dims[m]:
                raise ValueError(
                    f"stream {m!r}: expected (B, T, {self.input_dims[m]}), got {tuple(x.shape)}"
                )
            if x.shape[1] > self.max_frames:
                raise ValueError(
                    f"stream {m!r} has {x.shape[1]} frames > max_frames={self.max_frames}"
                )
            b = x.shape[0] if b is None else b
        if self.use_sync and tuple(sync.shape) != (b, self.n_sync):
            raise ValueError(f"sync: expected ({b}, {self.n_sync}), got {tuple(sync.shape)}")
        return b

    def _pool_time(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, ceil(T / stride), D) by mean over non-overlapping windows."""
        s = self.token_stride
        if s == 1:
            return x
        b, t, d = x.shape
        pad = (-t) % s
        if pad:  # repeat the last frame so every window is full
            x = torch.cat([x, x[:, -1:].expand(b, pad, d)], dim=1)
        return x.reshape(b, -1, s, d).mean(dim=2)

    def encode_path_b(self, streams: dict[str, Tensor]) -> Tensor:
        """Interactive path: (B, d_model)."""
        tokens = []
        for i, m in enumerate(self.modalities):
            x = self.embed[m](self._pool_time(streams[m]))  # (B, T', d)
            tokens.append(x + self.time_embed[:, : x.shape[1]] + self.modality_embed[i])
        h = self.embed_dropout(torch.cat(tokens, dim=1))  # (B, M*T', d)
        for layer in self.layers:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                h = checkpoint(layer, h, use_reentrant=False)
            else:
                h = layer(h)
        return self.final_norm(h).mean(dim=1)

    @staticmethod
    def _time_stats(
        streams: dict[str, Tensor], modalities: list[str], robust: bool = False
    ) -> Tensor:
        """Per modality mean, std, min, max over time, concatenated: (B, 4 * sum D_m).

        ``robust``: the 10th and 90th percentiles instead of min and max (routed branches).
        One extreme frame moves min/max; a shift of the audio by less than a frame (another
        video's start time) moved a min/max-fed audio_quality head by up to 0.4."""
        stats = []
        for m in modalities:
            x = streams[m]
            if robust:
                q = torch.quantile(x.float(), _QUANTILES.to(x.device), dim=1).to(x.dtype)
                lo, hi = q[0], q[1]
            else:
                lo, hi = x.amin(1), x.amax(1)
            stats += [x.mean(1), x.std(1, unbiased=False), lo, hi]
        return torch.cat(stats, dim=-1)

    def encode_path_a(self, streams: dict[str, Tensor]) -> Tensor:
        """Statistics path: per modality mean/std/min/max over time -> MLP, (B, d_model)."""
        return self.stats_mlp(self._time_stats(streams, self.modalities))

    def shared_representation(self, streams: dict[str, Tensor], sync: Tensor) -> Tensor:
        """Fused representation fed to every head, (B, d_model)."""
        self._check(streams, sync)
        parts = []
        if self.path_a:
            parts.append(self.encode_path_a(streams))
        if self.path_b:
            parts.append(self.encode_path_b(streams))
        if self.use_sync:
            parts.append(sync.to(parts[0].dtype))
        return self.fusion_dropout(F.gelu(self.last_shared_layer(torch.cat(parts, dim=-1))))

    def forward(self, streams: dict[str, Tensor], sync: Tensor) -> Tensor:
        """Scores (B, 5) in [1, 5]."""
        z = self.shared_representation(streams, sync)
        outs = []
        for i, head in enumerate(self.heads):
            task = TASKS[i]
            if task in self.task_routes:
                stats = self._time_stats(streams, self.task_routes[task], robust=True)
                zt = self.task_branches[task](stats)
                outs.append(head(F.gelu(zt)))
            else:
                outs.append(head(z))
        raw = torch.cat(outs, dim=-1)
        return SCORE_MIN + (SCORE_MAX - SCORE_MIN) * torch.sigmoid(raw.float())

    # --------------------------------------------------------------- summaries
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part: embeddings, path_b (encoder), path_a, fusion, head_<task>."""
        groups: dict[str, list[nn.Parameter]] = {}
        for name, p in self.named_parameters():
            if name.startswith("heads."):
                key = f"head_{TASKS[int(name.split('.')[1])]}"
            elif name.startswith("task_branches."):  # a routed task's own branch
                key = f"head_{name.split('.')[1]}"
            elif name.startswith(("embed.", "time_embed", "modality_embed")):
                key = "embeddings"
            elif name.startswith(("layers.", "final_norm")):
                key = "path_b_encoder"
            elif name.startswith("stats_mlp"):
                key = "path_a_stats_mlp"
            else:
                key = "fusion"
            groups.setdefault(key, []).append(p)
        return groups

    def parameter_counts(self) -> dict[str, int]:
        return {k: sum(p.numel() for p in ps) for k, ps in self.parameter_groups().items()}


def build_model(input_dims: dict[str, int], params_model: dict[str, Any]) -> CrossModalTransformer:
    """Model from the ``model:`` section of params.yaml (unknown keys are an error)."""
    unknown = set(params_model) - set(MODEL_KEYS)
    if unknown:
        raise KeyError(f"unknown model parameter(s) {sorted(unknown)}; known: {list(MODEL_KEYS)}")
    kw = dict(params_model)
    kw["drop_modalities"] = tuple(kw.get("drop_modalities") or ())
    # DVC writes an empty mapping value as null: {audio_quality: null} routes nothing
    kw["task_modalities"] = {t: m for t, m in (kw.get("task_modalities") or {}).items() if m}
    return CrossModalTransformer(input_dims, len(SYNC_FIELDS), **kw)
