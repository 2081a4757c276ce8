"""Stand-ins shared by the study tests (cross-validation, diagnosis, selection, protocol): what a
fit function returns, and the parts of small inputs rated on ``overall`` only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS, FeatureSet

OVERALL = TASKS.index("overall")


class FitResult:
    """What the studies read of a fit: ``history`` and ``predict`` (the given predictions,
    whatever the features); ``attrs`` (e.g. ``best_epoch``) become attributes."""

    def __init__(self, pred: np.ndarray, history: dict, **attrs) -> None:
        self.pred = pred
        self.history = pd.DataFrame(history)
        for name, value in attrs.items():
            setattr(self, name, value)

    def predict(self, fs) -> np.ndarray:
        return self.pred


def portrait_videos(n_groups: int) -> tuple[list[str], pd.DataFrame]:
    """Ids ``<portrait>_x_<generator>`` of ``n_groups`` portraits x generators a, b, c, and
    their metadata (``video_id, portrait, generator``)."""
    ids = [f"{g}_x_{m}" for g in range(n_groups) for m in ("a", "b", "c")]
    meta = pd.DataFrame(
        {
            "video_id": ids,
            "portrait": [i.split("_")[0] for i in ids],
            "generator": [i.split("_")[-1] for i in ids],
        }
    )
    return ids, meta


def visual_only(ids: list[str], visual: np.ndarray, sync: np.ndarray) -> FeatureSet:
    """One visual stream (columns ``visual__a``, ``visual__b``, ...) and the sync triple, as
    float32."""
    names = [f"visual__{chr(ord('a') + j)}" for j in range(visual.shape[2])]
    return FeatureSet(
        ids, {"visual": visual.astype(np.float32)}, sync.astype(np.float32), {"visual": names}
    )


def noise_inputs(ids: list[str], frames: int, columns: int) -> tuple[FeatureSet, np.ndarray]:
    """Random features (``frames`` x ``columns`` visual values and the sync triple per video)
    and an ``overall`` truth drawn uniformly in [1.5, 4.5] that they do not predict, from one
    generator seeded 0: inputs for a fake fit that makes its predictions from the truth."""
    rng = np.random.default_rng(0)
    n = len(ids)
    fs = visual_only(ids, rng.normal(size=(n, frames, columns)), rng.normal(size=(n, 3)))
    return fs, rng.uniform(1.5, 4.5, n)


def overall_labels(overall) -> np.ndarray:
    """Labels with only ``overall`` rated (every other task -1.0: not rated)."""
    labels = np.full((len(overall), len(TASKS)), -1.0)
    labels[:, OVERALL] = overall
    return labels
