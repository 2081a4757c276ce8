"""Names and shapes shared by every stage: tasks, modalities, the frame grid.

Chapter 3.1: every video is normalised to 150 frames at 25 fps (6 s); each frame gets
four feature streams and each video one lip-sync triple (SyncNet's outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The five quality dimensions, in the order every array and head uses.
TASKS: tuple[str, ...] = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")

#: The four per-frame modalities, in the order every array and embedding uses.
MODALITIES: tuple[str, ...] = ("visual", "audio", "landmarks", "au")

#: SyncNet-style outputs per video: offset (frames, + = audio lags video),
#: distance (lower is better), confidence (higher is better). Named LSE-D / LSE-C only when
#: SyncNet with its real weights produced them (the weight-free correlation measure is not).
SYNC_FIELDS: tuple[str, ...] = ("offset", "distance", "confidence")

#: Chapter's frame grid.
GRID_FPS: int = 25
GRID_FRAMES: int = 150

#: Label value meaning "not rated".
MISSING: float = -1.0

#: The 17 OpenFace AU intensity columns (FACS codes), chapter 3.1.1 (4).
AU_CODES: tuple[str, ...] = (
    "AU01",
    "AU02",
    "AU04",
    "AU05",
    "AU06",
    "AU07",
    "AU09",
    "AU10",
    "AU12",
    "AU14",
    "AU15",
    "AU17",
    "AU20",
    "AU23",
    "AU25",
    "AU26",
    "AU45",
)


@dataclass
class FeatureSet:
    """Features of N videos on the common grid.

    streams: modality -> float32 array (N, T, D_m); NaN marks frames that failed.
    sync: float32 (N, 3) in SYNC_FIELDS order (NaN when unavailable).
    names: modality -> list of D_m column names.
    video_ids: N ids, the row order of every array.
    meta: free-form provenance (extractor names and versions, source).
    """

    video_ids: list[str]
    streams: dict[str, np.ndarray]
    sync: np.ndarray
    names: dict[str, list[str]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.video_ids)
        for m, arr in self.streams.items():
            if arr.ndim != 3 or arr.shape[0] != n:
                raise ValueError(f"stream {m!r} has shape {arr.shape}, expected ({n}, T, D)")
        if self.sync.shape != (n, len(SYNC_FIELDS)):
            raise ValueError(
                f"sync has shape {self.sync.shape}, expected ({n}, {len(SYNC_FIELDS)})"
            )

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if m in self.streams]

    def subset(self, ids: list[str]) -> FeatureSet:
        """Rows for ``ids`` in that order (KeyError naming the first unknown id)."""
        pos = {v: i for i, v in enumerate(self.video_ids)}
        missing = [v for v in ids if v not in pos]
        if missing:
            raise KeyError(f"video ids not in feature set: {missing[:5]}")
        idx = np.array([pos[v] for v in ids], dtype=int)
        return FeatureSet(
            video_ids=list(ids),
            streams={m: a[idx] for m, a in self.streams.items()},
            sync=self.sync[idx],
            names=dict(self.names),
            meta=dict(self.meta),
        )


#: File beside a trained fit with its per-task training label counts
#: (``{"train_labels": {task: n}}``, written by ``tqa train``); a bundle of the fit records
#: the heads with n > 0 as ``trained_heads`` and scores the others NaN.
LABEL_COUNTS_FILE: str = "label_counts.json"
