"""Task-weighting strategy interface (LibMTL-style: one class per method, one file each).

A strategy turns the per-task masked losses (T,) and label counts (T,) of a batch into
the scalar that is back-propagated. The training loop calls, per micro-batch,
``total = strategy.combine(losses, counts, shared)`` then ``total.backward()``, and after
each optimizer step ``strategy.step()``; when mixed precision SKIPS an optimizer step (inf/NaN
gradients), ``strategy.skip()`` instead, so nothing of the skipped step is carried into the
next one. ``shared`` is the model (anything with a
``last_shared_layer`` attribute) or the last shared weight tensor itself; only
gradient-based methods (GradNorm) use it. Learnable loss parameters that the main
optimizer should update (uncertainty's log-variances) come from ``optim_parameters()``;
they form their own param group with lr ``optim_lr`` (None = the model's lr), inside the
warm-up/cosine schedule only when ``scheduled``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from tqa.core.registry import Registry

#: name -> strategy class; one module per strategy in this package registers itself.
#: Plug-ins: entry-point group ``tqa.weightings``.
WEIGHTINGS: Registry[type[WeightingStrategy]] = Registry(
    "weighting strategy", package="tqa.model.weighting", entry_point_group="tqa.weightings"
)


class WeightingStrategy(nn.Module):
    """Base class: combine per-task losses into one scalar."""

    name: str = "base"
    #: lr of the param group of ``optim_parameters()`` (None = ``train.lr``)
    optim_lr: float | None = None
    #: whether that group follows the warm-up/cosine schedule
    scheduled: bool = True

    def __init__(self, n_tasks: int, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
        self.n_tasks = n_tasks
        self.params = dict(params or {})

    @property
    def weights(self) -> Tensor:
        """Current multiplier of each task loss, (T,), detached (for logging)."""
        raise NotImplementedError

    def combine(
        self, losses: Tensor, counts: Tensor, shared: nn.Module | Tensor | None = None
    ) -> Tensor:
        """Scalar training loss from per-task ``losses`` (T,) and label ``counts`` (T,)."""
        raise NotImplementedError

    def step(self) -> None:
        """Called after every optimizer step (GradNorm updates its weights here)."""

    def skip(self) -> None:
        """Called instead of :meth:`step` when the optimizer step was skipped (AMP inf/NaN):
        drop whatever was accumulated for it."""

    def optim_parameters(self) -> list[nn.Parameter]:
        """Parameters the main optimizer should train (none by default)."""
        return []

    def _check(self, losses: Tensor, counts: Tensor) -> None:
        if losses.shape != (self.n_tasks,) or counts.shape != (self.n_tasks,):
            raise ValueError(
                f"{self.name}: losses {tuple(losses.shape)} and counts {tuple(counts.shape)}"
                f" must be ({self.n_tasks},)"
            )


def shared_weight(shared: nn.Module | Tensor | None) -> Tensor:
    """The last shared layer's weight: a tensor, or ``model.last_shared_layer.weight``."""
    if isinstance(shared, Tensor):
        return shared
    layer = getattr(shared, "last_shared_layer", None)
    if layer is None or not hasattr(layer, "weight"):
        raise TypeError(
            "GradNorm needs the model (with .last_shared_layer) or the last shared weight tensor"
        )
    return layer.weight


def present_mask(counts: Tensor) -> Tensor:
    """(T,) bool: tasks with at least one label in the batch."""
    return counts.detach() > 0


__all__ = ["WeightingStrategy", "shared_weight", "present_mask"]
