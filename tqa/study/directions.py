"""Is each ``tqa metrics`` column's declared direction what the data show?

For every column of :data:`tqa.features.video_metrics.METRICS` with a direction ("higher",
"lower", "|x| lower"; plus :data:`CANDIDATES`, "info" columns with a direction under test),
two kinds of pairs, each scored 1 when the first member is better in the declared
direction, 0 when worse, a tie when they differ by at most :data:`TIE` (2 %) of the larger
magnitude (ties are counted, not scored):

* **clean vs defect**: each real recording against its own injected-defect variants
  (:mod:`tqa.study.defects.inject`, and :func:`stabilize_head`), per defect family;
* **real vs generated**: each real recording against each generated clip (different people,
  framing and resolution: a weak check).

A family *supports* a direction when at least :data:`AGREE` of its untied pairs (>= MIN_PAIRS)
are in the declared direction, and *contradicts* it when at most 1 - AGREE are. Used by
``benchmarks/directions.py`` (``reports/directions.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np

from tqa.features.extractors.au_pose import STABLE
from tqa.features.video_metrics import METRICS

#: "info" columns whose candidate direction is checked too (viewers prefer more head motion;
#: expression_variety was declared "higher" until this check did not back it).
CANDIDATES: dict[str, str] = {"head_motion": "higher", "expression_variety": "higher"}
#: Share of untied pairs a family needs to support (>=) or contradict (<= 1 - AGREE).
AGREE = 0.8
MIN_PAIRS = 5
#: A pair whose values differ by at most this share of the larger magnitude is a tie: a
#: defect that moves a column by 1 % has not moved it.
TIE = 0.02


def directed_columns() -> dict[str, str]:
    """Column -> declared direction (plus :data:`CANDIDATES`), in table order."""
    out = {m: d.better for m, d in METRICS.items() if d.better != "info"}
    for m, d in CANDIDATES.items():
        out.setdefault(m, d)
    return {m: out[m] for m in METRICS if m in out}


def better(a: float | None, b: float | None, direction: str, tie: float = TIE) -> float | None:
    """1.0 when ``a`` is better than ``b`` in ``direction``, 0.0 when worse, 0.5 when they
    differ by at most ``tie`` x the larger magnitude, None when either is missing."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    if direction == "|x| lower":
        a, b, direction = abs(a), abs(b), "lower"
    if abs(a - b) <= tie * max(abs(a), abs(b)):
        return 0.5
    return float((a > b) == (direction == "higher"))


def score(pairs: Iterable[tuple[float | None, float | None]], direction: str) -> dict:
    """``n`` untied pairs, ``agree`` of them in the direction, ``ties``, ``share`` = agree/n."""
    s = [better(a, b, direction) for a, b in pairs]
    s = [x for x in s if x is not None]
    untied = [x for x in s if x != 0.5]
    n = len(untied)
    return {
        "n": n,
        "agree": int(sum(untied)),
        "ties": len(s) - n,
        "share": sum(untied) / n if n else math.nan,
    }


def defect_scores(records: list[dict], column: str, direction: str) -> dict[str, dict]:
    """Per defect family: :func:`score` of (clean recording, its variant) pairs."""
    clean = {r["clip"]: r.get(column) for r in records if r["family"] == "clean"}
    fams = sorted({r["family"] for r in records if r["family"] != "clean"})
    return {
        f: score(
            ((clean[r["clip"]], r.get(column)) for r in records if r["family"] == f), direction
        )
        for f in fams
    }


def verdict(by_family: dict[str, dict]) -> dict:
    """Families that support / contradict the direction and the resulting word: ``agrees``,
    ``contradicted``, ``mixed`` (both) or ``not moved`` (neither)."""
    ok = {f: s for f, s in by_family.items() if s["n"] >= MIN_PAIRS}
    sup = sorted(f for f, s in ok.items() if s["share"] >= AGREE)
    con = sorted(f for f, s in ok.items() if 1 - s["share"] >= AGREE)
    word = {(True, False): "agrees", (False, True): "contradicted", (True, True): "mixed"}
    return {
        "supported_by": sup,
        "contradicted_by": con,
        "verdict": word.get((bool(sup), bool(con)), "not moved"),
    }


def direction_table(records: list[dict], generated: list[dict]) -> dict[str, dict]:
    """Column -> declared direction, per-family scores, verdict and real-vs-generated score."""
    real = [r for r in records if r["family"] == "clean"]
    out = {}
    for col, direction in directed_columns().items():
        fams = defect_scores(records, col, direction)
        rvg = score(((r.get(col), g.get(col)) for r in real for g in generated), direction)
        out[col] = {
            "declared": METRICS[col].better,
            "direction": direction,
            "families": fams,
            **verdict(fams),
            "real_vs_generated": rvg,
        }
    return out


def stabilize_head(frames: np.ndarray, lm_px: np.ndarray, n_valid: int) -> np.ndarray:
    """Frames with the head held still in the image plane: each valid frame with a face is
    warped by the similarity (cv2.estimateAffinePartial2D, LMedS) that puts its rigid
    upper-face landmarks (au_pose STABLE) on their clip median. Translation, roll and size
    changes are removed; turns and nods (yaw, pitch) cannot be, and the background moves."""
    out = frames.copy()
    pts = np.asarray(lm_px, np.float64)[:n_valid][:, list(STABLE), :2]
    ok = np.isfinite(pts).all(axis=(1, 2))
    if not ok.any():
        return out
    target = np.median(pts[ok], axis=0).astype(np.float32)
    h, w = frames.shape[1:3]
    for t in np.flatnonzero(ok):
        m, _ = cv2.estimateAffinePartial2D(pts[t].astype(np.float32), target, method=cv2.LMEDS)
        if m is not None:
            out[t] = cv2.warpAffine(frames[t], m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return out


def _cell(s: dict) -> str:
    return "-" if not s["n"] else f"{s['agree']}/{s['n']}"


def _pooled(fams: dict[str, dict]) -> dict:
    n = sum(s["n"] for s in fams.values())
    agree = sum(s["agree"] for s in fams.values())
    return {"n": n, "agree": agree, "share": agree / n if n else math.nan}


def summary_lines(table: dict[str, dict]) -> list[str]:
    """The summary table: each column's verdict on the defects and real vs generated."""
    lines = [
        "| column | declared | defects: verdict | supported by | contradicted by "
        "| all defect pairs | real > generated |",
        "|---|---|---|---|---|---|---|",
    ]
    for col, t in table.items():
        pooled, rvg = _pooled(t["families"]), t["real_vs_generated"]
        declared = t["declared"].replace("|", "\\|")
        if t["declared"] != t["direction"]:
            declared += f" (tested: {t['direction']})"
        lines.append(
            f"| `{col}` | {declared} | **{t['verdict']}** | {', '.join(t['supported_by']) or '-'} "
            f"| {', '.join(t['contradicted_by']) or '-'} | {_cell(pooled)} "
            f"| {_cell(rvg)} |"
        )
    return lines


def matrix_lines(table: dict[str, dict]) -> list[str]:
    """Column x family: untied clean-vs-defect pairs in the declared direction."""
    fams = sorted({f for t in table.values() for f in t["families"]})
    lines = ["| column | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    for col, t in table.items():
        cells = []
        for f in fams:
            s = t["families"].get(f, {"n": 0})
            mark = ""
            if s["n"] >= MIN_PAIRS:
                mark = " ✓" if s["share"] >= AGREE else " ✗" if 1 - s["share"] >= AGREE else ""
            cells.append(_cell(s) + mark)
        lines.append(f"| `{col}` | " + " | ".join(cells) + " |")
    return lines


def contradiction_lines(table: dict[str, dict]) -> list[str]:
    """One line per column that some defect family contradicts, naming both sides."""
    out = []
    for col, t in table.items():
        if not t["contradicted_by"]:
            continue
        sup = ", ".join(t["supported_by"]) or "no family"
        out.append(
            f"- `{col}` ({t['direction']}): contradicted by {', '.join(t['contradicted_by'])}; "
            f"supported by {sup}; real > generated {_cell(t['real_vs_generated'])}."
        )
    return out
