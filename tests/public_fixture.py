"""A generated MOS release in the public layout (for `tqa cv` tests and docs/your-data.md).

Layout of a public talking-head MOS release: a MOS table with columns ``Image`` (video
name ``<portrait>_<audio>_<method>``) and ``Score`` (MOS on 0-5), and a per-frame feature
table (``video_id, frame, visual__*, audio__*, au__*, sync__*``). No video files. The
numbers are synthetic with a planted signal: the MOS is a per-method level plus a
per-video quality that the ``visual__sharpness`` feature carries (with noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("ahead", "wav2lip", "sadtalker")
METHOD_LEVEL = {"ahead": 3.2, "wav2lip": 2.2, "sadtalker": 2.8}


def write_public_release(
    folder: Path, n_portraits: int = 10, n_audio: int = 2, n_frames: int = 20, seed: int = 0
) -> tuple[Path, Path, pd.DataFrame]:
    """Write ``mos.csv`` and ``frames.csv`` into ``folder``; ``(mos, frames, truth)``.

    truth: ``Image, portrait, audio, method, Score, quality`` per video.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, frames = [], []
    for p in range(1, n_portraits + 1):
        for a in range(n_audio):
            audio = f"voice_en_{35042678 + a}"
            for m in METHODS:
                q = rng.normal(0.0, 0.6)
                score = float(np.clip(METHOD_LEVEL[m] + q + rng.normal(0, 0.1), 0.0, 5.0))
                name = f"{p}_{audio}_{m}"
                rows.append(
                    {
                        "Image": name,
                        "portrait": str(p),
                        "audio": audio,
                        "method": m,
                        "Score": round(score, 3),
                        "quality": q,
                    }
                )
                for f in range(n_frames):
                    frames.append(
                        {
                            "video_id": name,
                            "frame": f,
                            "visual__sharpness": q + 0.2 * rng.normal(),
                            "visual__noise": rng.normal(),
                            "audio__loudness": rng.normal(),
                            "au__AU12": 0.5 * q + 0.3 * rng.normal(),
                            "sync__offset": 0.0,
                            "sync__distance": 8.0,
                            "sync__confidence": float(METHODS.index(m)),
                        }
                    )
    truth = pd.DataFrame(rows)
    mos = folder / "mos.csv"
    truth[["Image", "Score"]].to_csv(mos, index=False)
    table = folder / "frames.csv"
    pd.DataFrame(frames).to_csv(table, index=False, float_format="%.5f")
    return mos, table, truth


if __name__ == "__main__":  # python tests/public_fixture.py FOLDER: the docs' worked example
    import sys

    mos_path, frames_path, _ = write_public_release(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    print(f"wrote {mos_path} and {frames_path}")
