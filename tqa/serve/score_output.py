"""The scores table of ``tqa score``: its columns, the file it is written to (CSV or JSON,
atomically) and the short table printed on the terminal."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv, write_json
from tqa.core.schema import TASKS

#: Output columns, in order.
SYNC_COLUMNS: tuple[str, ...] = ("sync_offset", "sync_confidence", "sync_distance")
COLUMNS: tuple[str, ...] = (
    "video_id", "path", *TASKS, *SYNC_COLUMNS, "status", "error", "warning", "segments",
)  # fmt: skip
OUT_FORMATS: tuple[str, ...] = (".csv", ".json")
#: Start of the ``warning`` note on scores of heads that never saw a training label.
UNTRAINED_PREFIX = "no training labels for "


def out_path(out: str | Path | None) -> Path | None:
    """``--out`` as a Path, refused before any work when its suffix is not a known format."""
    out = Path(out) if out is not None else None
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise ValueError(f"--out {out}: unknown format {out.suffix!r}; use one of {OUT_FORMATS}")
    return out


def write_scores(df: pd.DataFrame, out: str | Path) -> Path:
    """Write the score table as CSV or JSON (records; NaN -> null), atomically, by suffix."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        write_csv(out, df, float_format="%.6g")
    elif suffix == ".json":
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")
        ]
        write_json(out, records)
    else:
        raise ValueError(f"{out}: unknown format {out.suffix!r}; use one of {OUT_FORMATS}")
    return out


def format_table(df: pd.DataFrame, max_rows: int = 50) -> str:
    """Short fixed-width table of the scores for the terminal."""
    show = df[["video_id", *TASKS, "sync_offset", "status"]].head(max_rows).copy()
    for c in (*TASKS, "sync_offset"):
        fmt = "{:+.0f}" if c == "sync_offset" else "{:.2f}"
        vals = pd.to_numeric(show[c], errors="coerce").astype(float)
        show[c] = ["" if np.isnan(v) else fmt.format(v) for v in vals]
    warn = (
        df["warning"].fillna("").astype(str)
        if "warning" in df.columns
        else pd.Series("", index=df.index)
    )
    shared = sorted(
        {p for w in warn for p in w.split("; ") if p.startswith(UNTRAINED_PREFIX)}
    )  # the same for every row of one bundle: printed once below, not per row
    warn = warn.map(lambda w: "; ".join(p for p in w.split("; ") if p not in shared))
    flagged = (df["status"] == "ok") & (warn != "")
    show.loc[flagged.head(max_rows), "status"] = "ok (warning)"
    text = show.to_string(index=False)
    bad = df[~df["status"].isin(["ok", "partial"])]
    if len(bad):
        text += "\n\nfailed:\n" + "\n".join(f"  {r.video_id}: {r.error}" for r in bad.itertuples())
    part = df[df["status"] == "partial"]
    if len(part):
        text += "\n\npartial (scores that need a missing input are NaN; --impute to impute):\n"
        text += "\n".join(f"  {r.video_id}: {r.warning}" for r in part.itertuples())
    if flagged.any():
        text += (
            "\n\nwarnings (the scores stand; with --impute, from imputed inputs):\n"
            + "\n".join(f"  {v}: {w}" for v, w in zip(df.loc[flagged, "video_id"], warn[flagged]))
        )
    if len(df) > max_rows:
        text += f"\n... {len(df) - max_rows} more rows (see --out)"
    for note in [*shared, *df.attrs.get("notes", [])]:
        text += f"\n\nnote: {note}"
    return text
