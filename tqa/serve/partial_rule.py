"""The partial rule of ``tqa score``: garbage is never ranked first.

A file with no audio track (or a silent one), a face in too few of its frames, more than
one face in the picture, too little real (decoded, not padded) video, or no measurable
audio-visual sync gets NaN for the scores that depend on the missing input instead of a
score predicted from imputed features (``--impute`` keeps the imputed scores).
"""

from __future__ import annotations

import math

import numpy as np

from tqa.core.schema import TASKS

#: A scored file whose face was detected in fewer than this share of its frames is partial.
FACE_RATE_WARN = 0.5
#: A scored file with fewer seconds of real (decoded) frames than this is partial (all NaN).
MIN_REAL_SECONDS = 1.0
#: Scores that need each input (the partial rule sets them NaN when it is missing).
NEEDS_AUDIO: tuple[str, ...] = ("lip_sync", "audio_quality", "cross_modal", "overall")
NEEDS_FACE: tuple[str, ...] = ("lip_sync", "expression", "cross_modal", "overall")
#: Scores that need the audio-visual sync (the relation of the two): those needing both.
NEEDS_SYNC: tuple[str, ...] = tuple(t for t in NEEDS_AUDIO if t in NEEDS_FACE)


def partial_rule(meta: dict) -> tuple[set[str], list[str]]:
    """Scores to set NaN for one file (from its cache meta) and the reasons.

    No audio track -> :data:`NEEDS_AUDIO`; face in < :data:`FACE_RATE_WARN` of the frames ->
    :data:`NEEDS_FACE`; more than one face in the picture (``n_faces``, a side-by-side
    comparison: the face readings are of one of them, unnamed) -> :data:`NEEDS_FACE`;
    < :data:`MIN_REAL_SECONDS` of real frames -> every score.
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
    faces = meta.get("n_faces")
    if faces is not None and int(faces) > 1:
        tasks |= set(NEEDS_FACE)
        reasons.append(
            f"{int(faces)} faces in the picture (a side-by-side video?): tqa reads one of them, "
            f"so {'/'.join(NEEDS_FACE)} NaN; give each face its own file"
        )
    return tasks, reasons


def silent_rule(audio: np.ndarray | None, already: set[str]) -> tuple[set[str], list[str]]:
    """Scores to set NaN when a file's audio track holds no sound: its (T, D) audio stream
    has no finite value (every frame is digital silence or outside the video: the decoder's
    ``audio_frames``; None: the bundle reads no audio stream), and the reason; nothing when
    ``already`` (what :func:`partial_rule` set NaN) holds them.

    A silent track is no audio to judge: recording 2 muted with ffmpeg read audio_quality
    4.47 from the features of silence, above every recording's own (3.46-4.35), and its
    sync cannot be read (docs/scoring.md)."""
    if audio is None or set(NEEDS_AUDIO) <= already or np.isfinite(audio).any():
        return set(), []
    return set(NEEDS_AUDIO), [
        "no sound in the audio track (every sample 0, or none within the video): "
        f"{'/'.join(NEEDS_AUDIO)} NaN"
    ]


def sync_rule(sync_offset: float, already: set[str]) -> tuple[set[str], list[str]]:
    """Scores to set NaN when the sync estimate is missing (``sync_offset`` NaN) although the
    file has audio and a face (``already``: what :func:`partial_rule` set NaN; a file without
    audio or face has no sync for that reason, already said), and the reason.

    The weight-free sync needs a few seconds of speech with a moving mouth
    (``sync_correlation``: 2 s windows, +-``features.sync_max_offset`` frames of lag): on a
    shorter or silent clip it is NaN, and lip_sync predicted from imputed sync columns read
    3.83-4.38 on the first 2-2.5 s of three real recordings, each above its own full
    recording's (docs/scoring.md)."""
    if math.isfinite(float(sync_offset)) or set(NEEDS_SYNC) <= already:
        return set(), []
    return set(NEEDS_SYNC), [
        "no audio-visual sync measured (too little speech with a visible mouth, e.g. under "
        f"3 s or silent): {'/'.join(NEEDS_SYNC)} NaN"
    ]


def edge_note(sync_offset: float, max_offset: int) -> list[str]:
    """A warning (no score set NaN) when the sync offset sits at the edge of the lag search
    (|offset| = ``features.sync_max_offset``): the distance curve still falls there, so the
    true offset may lie beyond the search and the reading is a bound, not an estimate
    (recording 3, +1 frame in sync, reads +15 with its audio 15 frames late:
    ``reports/real_clips.md``; the first 6 s of LatentSync's 20 s demo 2 read +15 and its
    other segments 0, 0 and +2: docs/scoring.md)."""
    if not math.isfinite(float(sync_offset)) or abs(float(sync_offset)) < int(max_offset):
        return []
    return [
        f"sync offset {float(sync_offset):+.0f} frames: at the edge of the +-{int(max_offset)}"
        "-frame search, so the true offset may lie beyond it (a bound, not an estimate)"
    ]
