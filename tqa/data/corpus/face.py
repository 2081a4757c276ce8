"""Identities: documented morphs of one real photograph (``skimage.data.astronaut()``).

The corpus needs several speakers but no face data may be downloaded. The one real
face shipped inside an installed package (scikit-image's astronaut photo, Eileen
Collins, public domain NASA image) is turned into ``n`` identities by smooth geometric
warps (face width, eye spacing, jaw length), colour shifts (skin tone in CIELAB, hair /
background hue), mirroring and a different crop scale. Identity 0 is the unmodified
photo. They are morphs of ONE person, not distinct people: splits by ``group`` are
still leakage-free with respect to the morph, not to the underlying face.

MediaPipe Face Mesh (static mode) runs once per identity on the final image; its 468
landmarks (pixel coordinates) locate the mouth, jaw, eyes and brows for the renderer.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np
from skimage import data as skimage_data

from tqa.core.facemesh import face_mesh, quiet_native_stderr

log = logging.getLogger(__name__)

# MediaPipe Face Mesh indices used by the renderer.
LM_UPPER_LIP, LM_LOWER_LIP = 13, 14
LM_MOUTH_LEFT, LM_MOUTH_RIGHT = 61, 291
LM_CHIN, LM_FOREHEAD, LM_NOSE = 152, 10, 1
LM_EYE_L_TOP, LM_EYE_L_BOT, LM_EYE_L_OUT, LM_EYE_L_IN = 159, 145, 33, 133
LM_EYE_R_TOP, LM_EYE_R_BOT, LM_EYE_R_OUT, LM_EYE_R_IN = 386, 374, 263, 362
LM_BROW_L, LM_BROW_R = 105, 334
LM_CHEEK_L, LM_CHEEK_R = 234, 454


@dataclass(frozen=True)
class IdentitySpec:
    """Morph parameters of one identity (all dimensionless unless stated)."""

    identity: int
    face_width: float = 1.0      # horizontal scale of the face region
    eye_spacing: float = 0.0     # eye shift outward, fraction of inter-ocular distance
    jaw_length: float = 1.0      # vertical scale below the mouth
    skin_a: float = 0.0          # CIELAB a* shift on the face (8-bit units)
    skin_b: float = 0.0          # CIELAB b* shift on the face
    skin_l: float = 1.0          # CIELAB L* gain on the face
    hair_hue: float = 0.0        # HSV hue rotation outside the face (degrees)
    mirror: bool = False
    crop_scale: float = 2.1      # crop side / face height


@dataclass
class Identity:
    """A rendered identity at one frame size: image (S, S, 3) uint8 RGB + landmarks (468, 3) px."""

    spec: IdentitySpec
    image: np.ndarray
    landmarks: np.ndarray

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def identity_specs(n: int, seed: int) -> list[IdentitySpec]:
    """``n`` identity specs; identity 0 is the plain photo, the others are drawn from ``seed``."""
    specs = [IdentitySpec(identity=0)]
    for i in range(1, n):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919, i]))
        specs.append(IdentitySpec(
            identity=i,
            face_width=float(rng.uniform(0.88, 1.12)),
            eye_spacing=float(rng.uniform(-0.06, 0.06)),
            jaw_length=float(rng.uniform(0.88, 1.15)),
            skin_a=float(rng.uniform(-6, 10)),
            skin_b=float(rng.uniform(-8, 14)),
            skin_l=float(rng.uniform(0.8, 1.1)),
            hair_hue=float(rng.uniform(-25, 25)),
            mirror=bool(i % 2 == 1),
            crop_scale=float(rng.uniform(1.9, 2.4)),
        ))
    return specs


_MESH = None


def detect_landmarks(image: np.ndarray, static: bool = True) -> np.ndarray | None:
    """MediaPipe Face Mesh landmarks (468, 3) in pixels (z scaled like x), or None."""
    global _MESH
    if _MESH is None:
        _MESH = face_mesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
    with quiet_native_stderr():
        res = _MESH.process(np.ascontiguousarray(image))
    if not res.multi_face_landmarks:
        return None
    h, w = image.shape[:2]
    lm = np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark], dtype=np.float32)
    return lm


@lru_cache(maxsize=1)
def _source() -> tuple[np.ndarray, np.ndarray]:
    img = skimage_data.astronaut()
    lm = detect_landmarks(img)
    if lm is None:  # pragma: no cover - would mean a broken mediapipe install
        raise RuntimeError("MediaPipe found no face in skimage.data.astronaut(); check mediapipe==0.10.14")
    return img, lm


def _gauss(x: np.ndarray, c: float, s: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - c) / s) ** 2)


def _morph_geometry(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec) -> np.ndarray:
    """Backward-mapped smooth warps: face width, eye spacing, jaw length."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = lm[LM_NOSE, 0], lm[LM_NOSE, 1]
    face_h = lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1]
    face_w = lm[LM_CHEEK_R, 0] - lm[LM_CHEEK_L, 0]
    face_mask = _gauss(xx, cx, 0.7 * face_w) * _gauss(yy, cy, 0.75 * face_h)
    # face width: sample from x' = cx + (x - cx) / scale inside the face region
    dx = (xx - cx) * (1.0 / spec.face_width - 1.0) * face_mask
    dy = np.zeros_like(dx)
    # eye spacing: move each eye blob outward (sample from further inside)
    iod = lm[LM_EYE_R_OUT, 0] - lm[LM_EYE_L_OUT, 0]
    for out, inn, sign in ((LM_EYE_L_OUT, LM_EYE_L_IN, -1.0), (LM_EYE_R_OUT, LM_EYE_R_IN, 1.0)):
        ex, ey = (lm[out, 0] + lm[inn, 0]) / 2, (lm[out, 1] + lm[inn, 1]) / 2
        blob = _gauss(xx, ex, 0.22 * iod) * _gauss(yy, ey, 0.18 * iod)
        dx -= sign * spec.eye_spacing * iod * blob
    # jaw length: below the mouth, sample from y' = my + (y - my) / jaw
    my = lm[LM_LOWER_LIP, 1]
    below = 1.0 / (1.0 + np.exp(-(yy - my) / (0.04 * face_h)))
    jaw_mask = below * _gauss(xx, cx, 0.6 * face_w) * _gauss(yy, lm[LM_CHIN, 1], 0.5 * face_h)
    dy += (yy - my) * (1.0 / spec.jaw_length - 1.0) * jaw_mask
    return cv2.remap(img, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _morph_colour(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec) -> np.ndarray:
    """Skin tone shift (CIELAB) inside the face hull, hue rotation of the rest (hair, background)."""
    h, w = img.shape[:2]
    hull = cv2.convexHull(lm[:, :2].astype(np.int32))
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    k = int(0.08 * (lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1])) * 2 + 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= spec.skin_l
    lab[..., 1] += spec.skin_a
    lab[..., 2] += spec.skin_b
    skin = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + spec.hair_hue / 2.0, 180.0)  # OpenCV hue is degrees / 2
    rest = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = mask * skin + (1 - mask) * rest
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _crop(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec, size: int) -> np.ndarray:
    """Square crop around the face (side = crop_scale x face height), resized to ``size``."""
    face_h = lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1]
    side = spec.crop_scale * face_h
    cx = float(np.mean(lm[:, 0]))
    cy = float(np.mean(lm[:, 1])) + 0.05 * face_h
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def make_identity(spec: IdentitySpec, size: int) -> Identity:
    """Render identity ``spec`` at ``size`` x ``size`` px and locate its landmarks once."""
    src, lm = _source()
    img = _morph_geometry(src, lm, spec)
    img = _morph_colour(img, lm, spec)
    img = _crop(img, lm, spec, size)
    if spec.mirror:
        img = np.ascontiguousarray(img[:, ::-1])
    lm_id = detect_landmarks(img)
    if lm_id is None:
        raise RuntimeError(f"MediaPipe found no face in identity {asdict(spec)} at {size}px")
    return Identity(spec=spec, image=img, landmarks=lm_id)


@lru_cache(maxsize=64)
def cached_identity(spec: IdentitySpec, size: int) -> Identity:
    """Per-process cache: landmarks are computed once per (identity, size)."""
    return make_identity(spec, size)
