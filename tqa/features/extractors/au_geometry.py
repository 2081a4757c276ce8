"""Landmark-geometry ESTIMATES of the 17 OpenFace AU intensities (weight-free fallback).

These are NOT OpenFace's AU regressors (Baltrusaitis et al. 2015/2018): each column is a
unitless geometric proxy from MediaPipe landmarks (``context["landmarks_px"]``) for the
facial movement its FACS code describes (Ekman & Friesen 1978), oriented so that a larger
value means more of that movement. Distances are divided by the inter-ocular distance
(IOD, outer eye corners 33-263) after removing in-plane rotation, so head size and roll
do not matter; no neutral-face baseline is subtracted (except AU45), so values carry
identity offsets, like OpenFace without its person-specific calibration. Columns are
named ``au__AU01_est`` ... ``au__AU45_est``.

Per AU (Face Mesh indices, l/r = image-left/right; y grows downwards):

===== ============================== ==========================================================
AU01  inner brow raiser              inner brow (107/336) height above inner eye corner (133/362)
AU02  outer brow raiser              outer brow (70/300) height above outer eye corner (33/263)
AU04  brow lowerer                   minus the gap between inner brows (107-336)
AU05  upper lid raiser               upper-lid (159/386) height above the eye-corner line
AU06  cheek raiser                   minus the cheek (205/425) to lower-lid (145/374) distance
AU07  lid tightener                  minus lower-lid (145/374) depth below the eye-corner line
AU09  nose wrinkler                  minus nose-ala (129/358) to inner-eye-corner distance
AU10  upper lip raiser               minus upper lip (0) to subnasale (2) distance
AU12  lip corner puller              corner (61/291) elevation above the lip centre + mouth width
AU14  dimpler                        corner depth: lip-centre z minus corner z (MediaPipe z)
AU15  lip corner depressor           corner (61/291) drop below the lip centre (13/14 mean)
AU17  chin raiser                    minus lower lip (17) to chin (152) distance
AU20  lip stretcher                  mouth width (61-291) over face width (234-454)
AU23  lip tightener                  minus lip thickness (0-13 plus 14-17)
AU25  lips part                      inner-lip gap (13-14)
AU26  jaw drop                       nose tip (1) to chin (152) distance
AU45  blink                          1 - eye aspect ratio / its clip 90th percentile
                                     (Soukupova & Cech 2016 EAR; 0 open ... ~1 closed)
===== ============================== ==========================================================
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from tqa.core.schema import AU_CODES
from tqa.features.extractors.base import (
    MEDIAPIPE_FIRST,
    Clip,
    ColumnExtractor,
    landmarks_from,
    register,
)

log = logging.getLogger(__name__)


def _rotate_upright(p: np.ndarray) -> np.ndarray:
    """(T, 468, 3) pixel landmarks with in-plane roll removed and the eye-line centre at 0."""
    c = (p[:, 33, :2] + p[:, 263, :2]) / 2
    d = p[:, 263, :2] - p[:, 33, :2]
    ang = np.arctan2(d[:, 1], d[:, 0])
    cos, sin = np.cos(-ang)[:, None], np.sin(-ang)[:, None]
    x = p[..., 0] - c[:, None, 0]
    y = p[..., 1] - c[:, None, 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y, p[..., 2]], axis=-1)


def au_estimates(lm_px: np.ndarray) -> np.ndarray:
    """(T, 17) AU estimates in AU_CODES order from (T, 468, 3) pixel landmarks (NaN rows stay
    NaN)."""
    p = _rotate_upright(lm_px.astype(np.float64))
    iod = np.linalg.norm(p[:, 263, :2] - p[:, 33, :2], axis=1)
    iod = np.where(iod > 0, iod, np.nan)

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(p[:, a, :2] - p[:, b, :2], axis=1) / iod

    def y(i: int) -> np.ndarray:
        return p[:, i, 1] / iod

    def above(a: int, b: int) -> np.ndarray:  # how far a is above b (image y grows down)
        return y(b) - y(a)

    def line_depth(pt: int, c0: int, c1: int) -> np.ndarray:  # pt below the c0-c1 line (+ = below)
        return y(pt) - (y(c0) + y(c1)) / 2

    ew = (dist(33, 133) + dist(263, 362)) / 2  # eye width / IOD
    lip_c = (p[:, 13] + p[:, 14]) / 2
    corner_y = (p[:, 61, 1] + p[:, 291, 1]) / 2 / iod
    mouth_w = dist(61, 291)
    ear = (
        (dist(159, 145) + dist(158, 153)) / (2 * dist(33, 133))
        + (dist(386, 374) + dist(385, 380)) / (2 * dist(263, 362))
    ) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ear_ref = np.nanpercentile(ear, 90) if np.isfinite(ear).any() else np.nan

    cols = {
        "AU01": (above(107, 133) + above(336, 362)) / 2,
        "AU02": (above(70, 33) + above(300, 263)) / 2,
        "AU04": -dist(107, 336),
        "AU05": -(line_depth(159, 33, 133) + line_depth(386, 263, 362)) / 2 / ew,
        "AU06": -(dist(205, 145) + dist(425, 374)) / 2,
        "AU07": -(line_depth(145, 33, 133) + line_depth(374, 263, 362)) / 2 / ew,
        "AU09": -(dist(129, 133) + dist(358, 362)) / 2,
        "AU10": -dist(0, 2),
        "AU12": (lip_c[:, 1] / iod - corner_y) + mouth_w,
        "AU14": (lip_c[:, 2] - (p[:, 61, 2] + p[:, 291, 2]) / 2) / iod,
        "AU15": corner_y - lip_c[:, 1] / iod,
        "AU17": -dist(17, 152),
        "AU20": mouth_w * iod / np.linalg.norm(p[:, 234, :2] - p[:, 454, :2], axis=1),
        "AU23": -(dist(0, 13) + dist(14, 17)),
        "AU25": dist(13, 14),
        "AU26": dist(1, 152),
        "AU45": 1.0 - ear / ear_ref,
    }
    return np.stack([cols[c] for c in AU_CODES], axis=1).astype(np.float32)


@register
class GeometryAU(ColumnExtractor):
    """17 AU intensity estimates from landmark geometry (needs the landmark context)."""

    name = "geometry"
    modality = "au"
    columns = AU_CODES
    column_name = "au__{}_est"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        return au_estimates(
            np.asarray(landmarks_from(clip, context, "geometry AUs need", MEDIAPIPE_FIRST))
        )
