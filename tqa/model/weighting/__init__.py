"""Task-weighting strategies, one file each, by name: ``get_weighting("gradnorm", 5, params)``.

fixed (constant weights), uncertainty (Kendall et al. 2018), gradnorm (Chen et al. 2018).
A new strategy is one module here that subclasses :class:`WeightingStrategy` and is
decorated with ``@WEIGHTINGS.register()``.
"""

from __future__ import annotations

from typing import Any

from tqa.model.weighting.base import WEIGHTINGS, WeightingStrategy


def available() -> list[str]:
    """Registered strategy names."""
    return WEIGHTINGS.names()


def get_weighting(
    name: str, n_tasks: int, params: dict[str, Any] | None = None
) -> WeightingStrategy:
    """Build strategy ``name``. ``params``: the whole params dict, its ``weighting`` section,
    or the strategy's own sub-section (``weighting.<name>``)."""
    cls = WEIGHTINGS.get(name)
    params = params or {}
    if "weighting" in params:
        params = params["weighting"]
    section = params.get(name, params) if isinstance(params.get(name, None), dict) else params
    return cls(n_tasks, section or {})


__all__ = ["WEIGHTINGS", "WeightingStrategy", "available", "get_weighting"]
