"""Video files of a dataset: which suffixes are videos, where a row's video is, whether it decodes.

Shared by the data contract (:mod:`tqa.data.labels`: ``videos/<video_id>.<ext>`` or the
``file`` column), the MOS-table import (:mod:`tqa.data.mos_import`: the ``file`` column of
``--videos``) and scoring (:mod:`tqa.serve.scoring`: the video files of a folder).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Video file extensions, tried in order for ``videos/<video_id>.<ext>`` (scoring adds a few).
VIDEO_EXTS: tuple[str, ...] = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".flv",
)


def locate_video(root: Path, videos_dir: Path, video_id: str, file: str) -> Path | None:
    """A row's video: the ``file`` column (relative to root or videos/), else videos/<id>.<ext>."""
    if file:
        for base in (root, videos_dir):
            cand = (base / file).expanduser()
            if cand.is_file():
                return cand.resolve()
        return None
    if not video_id:
        return None
    for ext in VIDEO_EXTS:
        for e in (ext, ext.upper()):
            cand = videos_dir / f"{video_id}{e}"
            if cand.is_file():
                return cand.resolve()
    return None


def check_video(path: str | os.PathLike, require_audio: bool = True) -> str | None:
    """Fast media check (container header + first decoded video frame + audio stream).

    Returns None when the file is usable, else the reason ("unreadable video: ...",
    "no video stream", "no decodable video frame", "no audio track").
    """
    import av  # noqa: PLC0415 - local: importing PyAV costs ~0.1 s and only this check needs it

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream"
            has_audio = bool(container.streams.audio)
            try:
                next(container.decode(video=0))
            except StopIteration:
                return "no decodable video frame"
    except (av.FFmpegError, OSError, ValueError, StopIteration, RuntimeError) as exc:
        return f"unreadable video: {type(exc).__name__}: {exc}"
    if require_audio and not has_audio:
        return "no audio track"
    return None
