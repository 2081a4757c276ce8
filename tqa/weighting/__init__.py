"""Task-weighting strategies, by name: ``get_weighting("gradnorm", 5, params)``.

fixed (constant weights), uncertainty (Kendall et al. 2018), gradnorm (Chen et al. 2018).
"""
from __future__ import annotations

from typing import Any

from tqa.weighting.base import WeightingStrategy
from tqa.weighting.fixed import FixedWeighting
from tqa.weighting.gradnorm import GradNormWeighting
from tqa.weighting.uncertainty import UncertaintyWeighting

_REGISTRY: dict[str, type[WeightingStrategy]] = {
    "fixed": FixedWeighting,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNormWeighting,
}


def available() -> list[str]:
    """Registered strategy names."""
    return list(_REGISTRY)


def get_weighting(name: str, n_tasks: int, params: dict[str, Any] | None = None) -> WeightingStrategy:
    """Build strategy ``name``. ``params``: the whole params dict, its ``weighting`` section,
    or the strategy's own sub-section (``weighting.<name>``)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown weighting strategy {name!r}; available: {available()}")
    params = params or {}
    if "weighting" in params:
        params = params["weighting"]
    section = params.get(name, params) if isinstance(params.get(name, None), dict) else params
    return _REGISTRY[name](n_tasks, section or {})


__all__ = ["WeightingStrategy", "available", "get_weighting"]
