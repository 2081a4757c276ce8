"""The partial rule of ``tqa score``: garbage is never ranked first.

A file with no audio track, a face in too few of its frames, or too little real (decoded,
not padded) video gets NaN for the scores that depend on the missing input instead of a
score predicted from imputed features (``--impute`` keeps the imputed scores).
"""

from __future__ import annotations

from tqa.core.schema import TASKS

#: A scored file whose face was detected in fewer than this share of its frames is partial.
FACE_RATE_WARN = 0.5
#: A scored file with fewer seconds of real (decoded) frames than this is partial (all NaN).
MIN_REAL_SECONDS = 1.0
#: Scores that need each input (the partial rule sets them NaN when it is missing).
NEEDS_AUDIO: tuple[str, ...] = ("lip_sync", "audio_quality", "cross_modal", "overall")
NEEDS_FACE: tuple[str, ...] = ("lip_sync", "expression", "cross_modal", "overall")


def partial_rule(meta: dict) -> tuple[set[str], list[str]]:
    """Scores to set NaN for one file (from its cache meta) and the reasons.

    No audio track -> :data:`NEEDS_AUDIO`; face in < :data:`FACE_RATE_WARN` of the frames ->
    :data:`NEEDS_FACE`; < :data:`MIN_REAL_SECONDS` of real frames -> every score.
    """
    tasks: set[str] = set()
    reasons: list[str] = []
    fps = float(meta.get("grid_fps") or 25.0)
    n_valid = meta.get("n_valid_frames")
    if n_valid is not None and int(n_valid) / fps < MIN_REAL_SECONDS:
        tasks |= set(TASKS)
        reasons.append(
            f"only {int(n_valid) / fps:.2f} s of real frames (< {MIN_REAL_SECONDS:g} s): "
            "all scores NaN"
        )
    if meta.get("has_audio") is False:
        tasks |= set(NEEDS_AUDIO)
        reasons.append(f"no audio track: {'/'.join(NEEDS_AUDIO)} NaN")
    rate = meta.get("face_rate")
    if rate is None or float(rate) < FACE_RATE_WARN:
        tasks |= set(NEEDS_FACE)
        shown = "no" if rate is None else f"{float(rate):.0%}"
        reasons.append(
            f"face detected in {shown} of frames (< {FACE_RATE_WARN:.0%}): "
            f"{'/'.join(NEEDS_FACE)} NaN"
        )
    return tasks, reasons
