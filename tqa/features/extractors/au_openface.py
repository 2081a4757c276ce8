"""OpenFace 2.x AU intensities ``AU01_r .. AU45_r`` (chapter 3.1.1 (4), Baltrusaitis et al. 2018).

Two sources, in this order:

1. ``features.openface_csv_dir``: a folder of OpenFace outputs named ``<video_id>.csv``
   (made by the user on a machine where OpenFace runs);
2. the OpenFace ``FeatureExtraction`` binary (``features.openface_bin``, found on PATH or a
   path), run as ``FeatureExtraction -f VIDEO -out_dir TMP -aus``.

The CSV rows (columns ``frame``, ``timestamp``, ``success``, ``AUxx_r``; OpenFace pads
names with spaces) are placed on the 25 fps grid by nearest timestamp (seconds from the
first row); rows with ``success == 0`` and grid frames farther than one source frame
from any row are NaN. Neither source available -> a clear :class:`RuntimeError`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tqa.core.schema import AU_CODES
from tqa.features.extractors.base import Clip, ColumnExtractor, register

log = logging.getLogger(__name__)


def read_openface_csv(path: str | Path, n_frames: int = 150, fps: float = 25.0) -> np.ndarray:
    """(n_frames, 17) AU intensities from an OpenFace CSV, on the fps grid (NaN where missing)."""
    df = pd.read_csv(path)
    df.columns = [c.strip() for c in df.columns]
    cols = [f"{c}_r" for c in AU_CODES]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: OpenFace CSV lacks columns {missing}")
    if "timestamp" in df.columns:
        ts = df["timestamp"].to_numpy(np.float64)
    else:
        ts = (df["frame"].to_numpy(np.float64) - 1) / fps
    ts = ts - ts.min()
    vals = df[cols].to_numpy(np.float32)
    if "success" in df.columns:
        vals[df["success"].to_numpy() == 0] = np.nan
    out = np.full((n_frames, len(cols)), np.nan, np.float32)
    if len(ts) == 0:
        return out
    order = np.argsort(ts)
    ts, vals = ts[order], vals[order]
    step = np.median(np.diff(ts)) if len(ts) > 1 else 1.0 / fps
    grid = np.arange(n_frames) / fps
    j = np.clip(np.searchsorted(ts, grid), 0, len(ts) - 1)
    jl = np.clip(j - 1, 0, len(ts) - 1)
    j = np.where(np.abs(ts[jl] - grid) <= np.abs(ts[j] - grid), jl, j)
    ok = np.abs(ts[j] - grid) <= step + 1e-6
    out[ok] = vals[j[ok]]
    return out


@register
class OpenFaceAU(ColumnExtractor):
    """OpenFace AU intensities from a CSV folder or the FeatureExtraction binary."""

    name = "openface"
    modality = "au"
    columns = AU_CODES
    column_name = "au__{}_r"

    def _csv_for(self, clip: Clip) -> Path | None:
        folder = self.params.get("openface_csv_dir")
        if folder:
            p = Path(folder) / f"{clip.video_id}.csv"
            if p.is_file():
                return p
        return None

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        csv = self._csv_for(clip)
        if csv is not None:
            return read_openface_csv(csv, clip.n_frames, clip.fps)
        exe = shutil.which(str(self.params.get("openface_bin") or "FeatureExtraction"))
        if exe is None:
            raise RuntimeError(
                f"{clip.path}: OpenFace AUs unavailable: no {clip.video_id}.csv in "
                f"features.openface_csv_dir "
                f"({self.params.get('openface_csv_dir')!r}) and no "
                f"{self.params.get('openface_bin')!r} binary on "
                "PATH; install OpenFace, supply its CSVs, or set features.au: geometry"
            )
        with tempfile.TemporaryDirectory(prefix="tqa_openface_") as tmp:
            cmd = [exe, "-f", str(clip.path), "-out_dir", tmp, "-aus"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            out = Path(tmp) / f"{Path(clip.path).stem}.csv"
            if res.returncode != 0 or not out.is_file():
                raise RuntimeError(
                    f"{clip.path}: OpenFace failed (rc {res.returncode}): {res.stderr[-500:]}"
                )
            return read_openface_csv(out, clip.n_frames, clip.fps)
