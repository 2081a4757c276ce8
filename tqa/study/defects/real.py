"""The real-footage run's plan and summaries: which variants each recording gets, the
records kept in the JSON, the A/V offset estimates against the injected shifts, and the
check that the memoised extraction is the pipeline's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.clip import Clip
from tqa.data.videos import VIDEO_EXTS
from tqa.features.pipeline import FeatureExtractor
from tqa.features.video_metrics import video_metrics
from tqa.study.defects.families import FAMILIES, Family, column_of
from tqa.study.defects.variant_features import (
    AUDIO_METRICS,
    SYNC_METRICS,
    VIDEO_METRICS,
    VariantExtractor,
)


def recording_files(folder: Path) -> list[Path]:
    """The video files of ``folder`` (``realclips/recordings`` or ``generated``) in natural
    order: numbered names by number (2 before 10), any other name after them by name, so a
    folder with more or other recordings than the five of development runs as it is."""

    def order(p: Path) -> tuple[bool, int, str]:
        return (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0, p.name)

    return sorted(
        (p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTS),
        key=order,
    )


def variants(n_foreign_speech: int) -> list[tuple[Family, float, int, int, int]]:
    """(family, level, sign, severity rank, source) of every degraded variant of one clip."""
    out = []
    for fam in FAMILIES:
        for rank, lev in enumerate(fam.levels, start=1):
            for sign in fam.signs:
                sources = range(n_foreign_speech) if fam.name == "foreign_speech" else [0]
                out += [(fam, float(lev), sign, rank, s) for s in sources]
    return out


def slim_records(df: pd.DataFrame) -> list[dict]:
    """The records as the JSON keeps them: each variant with its family's feature columns
    only (the clean originals with all of them)."""
    cols = {f.name: sorted({column_of(x) for x, _ in f.features()}) for f in FAMILIES}
    cols["clean"] = sorted({c for v in cols.values() for c in v})
    return [
        {k: r[k] for k in ("clip", "family", "level", "sign", *cols[r["family"]])}
        for r in df.to_dict("records")
    ]


def offset_summary(df: pd.DataFrame) -> dict:
    """The A/V offset estimate (``sync__offset``) of the originals and against every injected
    shift: within one frame, by shift, and the misses."""
    off = df[df["family"] == "offset"]
    injected = off["sign"] * off["level"]
    return {
        "originals": {
            r["clip"]: r["sync__offset"] for _, r in df[df["family"] == "clean"].iterrows()
        },
        "within_1": int((abs(off["sync__offset"] - injected) <= 1).sum()),
        "n": len(off),
        "by_shift": {
            f"{int(k):+d}": off.loc[injected == k, "sync__offset"].tolist()
            for k in sorted(injected.unique())
        },
        "misses": [
            {"clip": r["clip"], "injected": int(k), "estimated": r["sync__offset"]}
            for (_, r), k in zip(off.iterrows(), injected)
            if abs(r["sync__offset"] - k) > 1
        ],
    }


def consistency_checks(
    fx: FeatureExtractor, vx: VariantExtractor, clip: Clip, path: Path, params: dict, row: dict
) -> dict:
    """On one clean recording: the memoised extraction equals ``extract_clip``; the metric
    columns equal :func:`video_metrics` on the file (6 s, the grid's length)."""
    vf = fx.extract_clip(clip)
    streams, sync, _ = vx.streams(clip)
    same = all(
        np.array_equal(streams[m], vf.streams[m], equal_nan=True) for m in vf.streams
    ) and np.array_equal(sync, vf.sync, equal_nan=True)
    vm = video_metrics(str(path), params["features"], max_seconds=6.0, syncnet=False)
    cols = [*AUDIO_METRICS, *VIDEO_METRICS, *SYNC_METRICS]
    diff = {c: abs(float(vm[c]) - float(row[c])) for c in cols}
    return {
        "clip": f"recordings/{path.name}",
        "memoised_equals_extract_clip": bool(same),
        "metrics_max_abs_diff_vs_video_metrics": max(diff.values()),
        "metrics_abs_diff": diff,
    }
