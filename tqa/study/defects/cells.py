"""How the benchmark's numbers become text: table cells, levels, strict JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tqa.study.defects.families import Family


def fmt(x: Any, nd: int = 2) -> str:
    """A number with ``nd`` decimals; ``n/a`` for None, NaN and inf."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def level_str(fam: Family, lev: float) -> str:
    """A level as the tables show it (shares of the clip as 1/3, 2/3, all)."""
    if fam.name in ("foreign", "foreign_speech"):
        names = {1 / 3: "1/3", 2 / 3: "2/3", 1.0: "all"}
        return next((v for k, v in names.items() if abs(lev - k) < 1e-4), f"{lev:.2f}")
    return f"{lev:g}"


def esc(text: str) -> str:
    """A Markdown table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


def short(d: Any) -> str:
    """A target's measured values on one line (dicts as ``k: v; ...``, floats by :func:`fmt`)."""
    if isinstance(d, dict):
        return "; ".join(f"{k}: {short(v)}" for k, v in d.items())
    if isinstance(d, list):
        return "[" + ", ".join(short(v) for v in d) + "]"
    if isinstance(d, float):
        return fmt(d)
    return str(d)


def clean_json(o: Any) -> Any:
    """NaN/inf -> None (strict JSON), floats to 6 significant digits."""
    if isinstance(o, dict):
        return {str(k): clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_json(v) for v in o]
    if isinstance(o, (float, np.floating)):
        x = float(o)
        return float(f"{x:.6g}") if math.isfinite(x) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o
