"""`tqa metrics --ground-truth DIR`: each video against the real recording of the same name.

Pairs every measured video with the ground-truth video whose name matches it
(:func:`ground_truth_map`, by :func:`tqa.serve.metrics_paired.pair_key`: the file name
without extension and without the folder's own name, so ``wav2lip/p1_a2.mp4`` and
``real/p1_a2.mp4`` pair) and measures, segment by segment (the segments of
:mod:`tqa.serve.metrics_segments`, the same start in both files), the no-reference columns
plus the full-reference ones of :mod:`tqa.features.reference_metrics` (PSNR, SSIM, LMD).
Face Mesh runs once per clip: the generated clip's landmarks serve both its own columns and
the lip distance.
"""

from __future__ import annotations

from pathlib import Path

from tqa.features.decode import MediaError
from tqa.features.extractors.base import valid_frames
from tqa.features.extractors.landmarks_mediapipe import detect_landmarks
from tqa.features.reference_metrics import REFERENCE_METRICS, reference_metrics
from tqa.features.video_metrics import clip_metrics, metrics_clip
from tqa.serve.metrics_paired import pair_key
from tqa.serve.score_inputs import VIDEO_EXTENSIONS, find_videos


def ground_truth_map(folder: str | Path) -> dict[str, Path]:
    """Pair key -> ground-truth file of every video in ``folder`` (recursively).
    FileNotFoundError when it is not a folder or holds no video; ValueError naming the files
    when two of them share a pair key (which one a video is compared with would be a guess)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"--ground-truth {root}: not a folder")
    files = find_videos([root], VIDEO_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"--ground-truth {root}: no video files in it")
    out: dict[str, Path] = {}
    for f in files:
        key = pair_key(f.stem, root.name)
        if key in out:
            raise ValueError(
                f"--ground-truth {root}: {out[key]} and {f} have the same name once the "
                "folder's name is left out; keep one"
            )
        out[key] = f
    return out


def twin(video: Path, group: str, truth: dict[str, Path]) -> Path | None:
    """The ground-truth file of ``video`` (measured in folder ``group``), or None."""
    return truth.get(pair_key(video.stem, group))


def measure_against(
    path: str, fparams: dict, seconds: float, start_s: float, reference: str
) -> dict:
    """One segment of ``path``: the metrics row of :func:`~tqa.features.video_metrics.clip_metrics`
    plus :data:`~tqa.features.reference_metrics.REFERENCE_METRICS` against the same segment of
    ``reference`` and ``notes`` (a list of strings). A ground truth that does not decode leaves
    the reference columns NaN and says so; the generated file's own MediaError is raised."""
    clip = metrics_clip(path, fparams, seconds, start_s)
    frames = clip.frames[: int(valid_frames(clip).sum())]
    lm = detect_landmarks(frames)
    row = clip_metrics(clip, fparams, True, lm)
    try:
        ref = metrics_clip(reference, fparams, seconds, start_s)
    except MediaError as exc:
        return (
            row
            | dict.fromkeys(REFERENCE_METRICS, float("nan"))
            | {"notes": [f"ground truth not compared: {exc}"]}
        )
    ref_frames = ref.frames[: int(valid_frames(ref).sum())]
    values, notes = reference_metrics(frames, lm, ref_frames, detect_landmarks(ref_frames))
    return row | values | {"notes": [f"ground truth {reference}: {n}" for n in notes]}
